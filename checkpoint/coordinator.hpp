// checkpoint/coordinator.hpp — decides when checkpoints start, which subtasks get the trigger, and when one completes, expires or fails.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace sluice::checkpoint {

/// How a job checkpoints. Every field states its default.
struct CoordinatorConfig {
  /// Time between checkpoint triggers; 0 (the default) disables periodic checkpoints.
  int64_t interval_ms = 0;
  /// A checkpoint not complete after this long is aborted. Default 10 minutes.
  int64_t timeout_ms = 10 * 60 * 1000;
  /// Least time between the end of one checkpoint and the start of the next. Default 0.
  int64_t min_pause_ms = 0;
  /// Failed checkpoints in a row the job survives; one more fails it. Default 0.
  int tolerable_failures = 0;
  /// Id of the first checkpoint (after a restore: one past the restored one). Default 1.
  int64_t first_id = 1;
};

/// One subtask, as the coordinator sees it: which subtasks feed it.
struct SubtaskNode {
  int id = 0;
  std::vector<int> inputs;  ///< ids of the subtasks it reads from (empty: a source)
};

/// What the coordinator decided after an event.
struct CoordinatorActions {
  /// Start checkpoint `trigger` at these subtasks (the running frontier).
  std::optional<int64_t> trigger;
  std::vector<int> trigger_at;
  /// The pending checkpoint also goes to these subtasks: their inputs finished before the
  /// barrier passed them, so they are the frontier now.
  std::vector<int> extend_to;
  /// Checkpoint `completed`: write its metadata, then notify every function and sink.
  std::optional<int64_t> completed;
  /// Checkpoints given up, with why.
  std::vector<std::pair<int64_t, std::string>> aborted;
  /// Too many failures in a row: fail the job with this sentence.
  std::optional<std::string> fail_job;
};

/// The checkpoint coordinator (one per job) as a pure state machine: time is passed in,
/// decisions come back. One checkpoint at a time. With FLIP-147's semantics, triggers go to
/// the running frontier — unfinished subtasks all of whose inputs are finished (sources
/// first) — and finished subtasks are neither triggered nor waited for.
class CheckpointCoordinator {
 public:
  CheckpointCoordinator(CoordinatorConfig config, std::vector<SubtaskNode> subtasks);

  /// Periodic work: trigger when due, expire a pending checkpoint past its timeout.
  CoordinatorActions on_time(int64_t now_ms);
  /// The job drains (stop --drain): no periodic checkpoint starts any more, only the final
  /// one, which is the drain's savepoint. One started after a source had ended but before
  /// its report arrived would be the last checkpoint the tasks wait for without being taken
  /// as final, and the drain would end without its savepoint.
  void drain() { draining_ = true; }
  /// A checkpoint on demand (a savepoint, or the final one once all data ended); none is
  /// started while another is pending.
  CoordinatorActions trigger_now(int64_t now_ms);
  CoordinatorActions on_ack(int64_t id, int subtask, int64_t now_ms);
  CoordinatorActions on_decline(int64_t id, int subtask, const std::string& reason, int64_t now_ms);
  /// The job failed and restarts: the pending checkpoint is given up (not counted as a failed
  /// checkpoint, the job's failure is already handled).
  CoordinatorActions on_job_failure(const std::string& why);
  /// Subtasks `subtasks` restart (a pipelined region failed over, or the whole job): they are
  /// no longer finished nor at the end of their input, and the run of failed checkpoints
  /// starts again. Call after on_job_failure.
  void restart(const std::vector<int>& subtasks);
  /// Subtask `subtask` finished (after its final checkpoint). It is recorded as finished.
  CoordinatorActions on_task_finished(int subtask, int64_t now_ms);
  /// Subtask `subtask`'s input ended after it had snapshotted checkpoint `after` (FLIP-147): it
  /// closes once a later checkpoint completes. When every subtask's input has ended, periodic
  /// checkpoints stop and the final checkpoint is triggered at once, not an interval later.
  CoordinatorActions on_input_ended(int subtask, int64_t after, int64_t now_ms);
  /// Checkpoint `id`'s metadata is written and its completion announced. Until then no
  /// periodic checkpoint starts, so that the next one builds on this one (an incremental
  /// snapshot reuses the files of the last checkpoint its backend heard completed).
  /// Only then does the run of failed checkpoints end: a checkpoint whose metadata cannot be
  /// written was never complete.
  void on_committed(int64_t id) {
    committing_.erase(id);
    failures_in_row_ = 0;
  }
  /// Writing checkpoint `id`'s metadata failed: it did not complete after all, and counts as
  /// a failed checkpoint.
  CoordinatorActions on_commit_failed(int64_t id, const std::string& why, int64_t now_ms);

  /// Every subtask's input has ended.
  bool all_ended() const { return ended_.size() == subtasks_.size(); }
  /// Checkpoint `id` is the final one: every subtask's input ended before it, so every task
  /// closes once it completes.
  bool is_final(int64_t id) const { return all_ended() && id > ended_after_; }
  /// The final checkpoint is still to be triggered (it was aborted, or the job just ended):
  /// none is pending and subtasks wait for one to complete before they close.
  bool final_due() const {
    return all_ended() && !pending_ && last_completed_ <= ended_after_ && finished_.size() < subtasks_.size();
  }
  /// The final checkpoint is due and may start now: at once the first time (or after a
  /// checkpoint that completed before all input ended), but after a failed attempt only once
  /// the interval and the min pause have passed, like any other checkpoint. on_time starts it
  /// then; a retry never runs in a tight loop.
  bool final_now(int64_t now_ms) const {
    return final_due() && committing_.empty() && (failures_in_row_ == 0 || paced(now_ms));
  }
  /// Failed checkpoints since the last one that completed.
  int failures_in_row() const { return failures_in_row_; }

  std::optional<int64_t> pending() const { return pending_; }
  int64_t last_completed() const { return last_completed_; }
  const std::set<int>& finished() const { return finished_; }
  /// The subtasks a trigger goes to now.
  std::vector<int> frontier() const;

 private:
  void start(int64_t now_ms, CoordinatorActions& out);
  void complete(int64_t now_ms, CoordinatorActions& out);
  void fail_pending(const std::string& why, int64_t now_ms, CoordinatorActions& out);
  void count_failure(const std::string& why, CoordinatorActions& out);
  /// The interval since the last trigger and the min pause since the last end have passed.
  bool paced(int64_t now_ms) const {
    return now_ms - last_end_ms_ >= config_.min_pause_ms && now_ms - pending_since_ >= config_.interval_ms;
  }

  CoordinatorConfig config_;
  std::vector<SubtaskNode> subtasks_;
  std::vector<std::vector<size_t>> consumers_;  // by index in subtasks_: the subtasks reading from it (once per input)
  std::vector<size_t> open_inputs_;              // by index in subtasks_: inputs not finished yet
  std::map<int, size_t> index_;                  // subtask id -> index in subtasks_
  std::set<int> finished_;
  int64_t next_id_ = 1;
  std::optional<int64_t> pending_;
  std::set<int> awaiting_;
  std::set<int> triggered_;
  int64_t pending_since_ = 0;
  int64_t last_end_ms_ = INT64_MIN / 2;
  int64_t last_completed_ = 0;
  int64_t completed_before_ = 0;  // last_completed_ before the newest completion
  std::set<int64_t> committing_;  // completed, metadata not yet written
  int failures_in_row_ = 0;
  std::set<int> ended_;           // subtasks whose input ended
  int64_t ended_after_ = 0;       // the highest checkpoint a subtask had snapshotted when its input ended
  bool draining_ = false;
};

}  // namespace sluice::checkpoint
