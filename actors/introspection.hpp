// actors/introspection.hpp — the console's data as pure code: subtask probes sampled over time, rates over a window, the bottleneck, and the JSON documents and Prometheus text built from them.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/executor.hpp"
#include "sluice/json.hpp"
#include "sluice/probe.hpp"

namespace sluice::runtime {

/// An agent as the master's registry sees it.
struct AgentView {
  std::string name;
  std::string address;  ///< host:port of its data plane
  int slots = 0;
  int slots_used = 0;
  int64_t last_heartbeat_ms_ago = 0;
  int64_t uptime_ms = 0;  ///< since it registered
};

/// What introspection reads: the agents (none for an embedded run) and the jobs of the
/// process. Both are called from the service's threads, never a task's.
struct IntrospectionSource {
  std::function<std::vector<AgentView>()> agents;
  std::function<std::vector<std::shared_ptr<JobHandle>>()> jobs;
};

/// One subtask's rates over a window: the differences of its cumulative probe counters between
/// the window's first and last sample, per second.
struct SubtaskRates {
  TaskProbe probe;  ///< the newest sample
  double window_s = 0;  ///< 0 when the window held one sample only (every rate is then 0)
  double busy_ms_per_s = 0;
  double backpressured_ms_per_s = 0;
  double idle_ms_per_s = 0;
  double records_in_per_s = 0;
  double records_out_per_s = 0;
  double bytes_in_per_s = 0;
  double bytes_out_per_s = 0;
};

/// The probes of a job's subtasks, sampled over time (the last `keep_ms`), so that rates can be
/// read over any window up to it. Time is passed in: tests drive it.
class ProbeHistory {
 public:
  explicit ProbeHistory(int64_t keep_ms = 120'000) : keep_ms_(keep_ms) {}
  /// A sample taken at `now_ms` (monotonic). Samples closer than `min_gap_ms` to the previous one
  /// replace it, so that frequent queries do not crowd out the window. A sample whose tasks
  /// differ from the previous one's (another run of the job, rescaled) starts the history over.
  void add(const std::string& job, int64_t now_ms, std::vector<TaskProbe> probes, int64_t min_gap_ms = 200);
  /// Rates of each subtask of `job` over the last `window_ms` before its newest sample: from the
  /// newest sample back to the latest one at least `window_ms` older (or the oldest one kept).
  /// Subtasks are keyed by (task, subtask); a subtask whose counters went down (a restart)
  /// counts from zero. Empty for a job never sampled.
  std::vector<SubtaskRates> rates(const std::string& job, int64_t window_ms) const;
  /// Forgets jobs that are not in `keep`.
  void retain(const std::vector<std::string>& keep);

 private:
  struct Sample {
    int64_t at_ms;
    std::vector<TaskProbe> probes;
  };
  int64_t keep_ms_;
  std::map<std::string, std::deque<Sample>> samples_;
};

/// Flink's levels of back-pressure: the share of time a subtask waited for credit.
enum class PressureLevel { ok, low, high };
PressureLevel pressure_level(double backpressured_ms_per_s);
const char* pressure_word(PressureLevel l);

/// A task's figures over its subtasks: averages, and the largest busy and back-pressured times.
struct TaskRates {
  int task = 0;
  double busy_ms_per_s = 0, max_busy_ms_per_s = 0;
  double backpressured_ms_per_s = 0, max_backpressured_ms_per_s = 0;
  double idle_ms_per_s = 0;
  double records_in_per_s = 0, records_out_per_s = 0;  ///< sums
  int64_t watermark = INT64_MIN;                      ///< the lowest of its subtasks'
};
std::vector<TaskRates> task_rates(const JobShape& shape, const std::vector<SubtaskRates>& subtasks);

/// The bottleneck of a back-pressured job: the busiest task that is not back-pressured itself
/// while a task upstream of it is (the subtask of it that is busiest). None when no task is
/// back-pressured, or when the busy one cannot be told apart (every candidate idle).
struct Bottleneck {
  int task = 0;
  int subtask = 0;
  double busy_ms_per_s = 0;
};
std::optional<Bottleneck> find_bottleneck(const JobShape& shape, const std::vector<SubtaskRates>& subtasks);

/// The JSON documents of the REST API (docs/rest.md), as text. `now_ms` is wall-clock time
/// (Unix epoch) for uptimes and watermark lags.
namespace rest {
std::string agents(const std::vector<AgentView>& agents);
std::string jobs(const std::vector<std::shared_ptr<JobHandle>>& jobs, int64_t now_ms);
std::string job(const JobHandle& job, const std::vector<SubtaskRates>& rates, int64_t now_ms);
/// `task` < 0: every task's subtasks.
std::string actors(const JobHandle& job, const std::vector<SubtaskRates>& rates, int task);
/// `by`: busy, backpressure, mailbox or state. Throws std::invalid_argument for another word.
std::string top(const JobHandle& job, const std::vector<SubtaskRates>& rates, const std::string& by, int limit);
std::string backpressure(const JobHandle& job, const std::vector<SubtaskRates>& rates);
/// What one subtask waits for, and its channels. Throw std::out_of_range when the job has no
/// such subtask.
std::string why(const JobHandle& job, const std::vector<SubtaskRates>& rates, int task, int subtask);
std::string channels(const JobHandle& job, const std::vector<SubtaskRates>& rates, int task, int subtask);
std::string checkpoints(const JobHandle& job);
/// What a rescale did: {"job", "command": "rescale", "savepoint", "from", "to", "downtime_ms",
/// "savepoint_ms", "fixed": [operator names]}.
std::string rescale_result(const JobHandle& job, const RescaleResult& r);
/// A state lookup's answer with `found` added: whether any state holds a value for the key.
std::string state_answer(const std::string& answer);
/// What a savepoint, stop or cancel did: {"job", "command", "checkpoint"} (0 for cancel).
std::string command_result(const JobHandle& job, const std::string& command, int64_t checkpoint);
/// {"error": sentence}
std::string error(const std::string& sentence);
}  // namespace rest

/// Prometheus' text exposition (version 0.0.4) of every job's subtask and checkpoint metrics,
/// with Flink's metric names under the `sluice_` prefix.
std::string prometheus_text(const std::vector<std::pair<std::shared_ptr<JobHandle>, std::vector<SubtaskRates>>>& jobs);

/// A key as a user typed it, parsed: JSON when it is JSON (a number, a quoted string, an array,
/// an object), else the text itself as a string.
JsonValue parse_key_text(const std::string& text);

/// A job's state word: RUNNING, FINISHED or FAILED.
std::string job_state(JobHandle& job);

}  // namespace sluice::runtime
