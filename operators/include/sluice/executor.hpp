// operators/include/sluice/executor.hpp — how a built job graph gets run: the executor interface and job handles.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sluice/graph.hpp"
#include "sluice/probe.hpp"

namespace sluice {

/// How a job ended.
struct JobResult {
  std::string job_name;
  bool succeeded = false;
  /// One sentence naming job, operator and subtask; empty on success.
  std::string error;
  std::chrono::milliseconds duration{0};
  /// Restarts from a checkpoint after a task failed (restart strategy).
  int restarts = 0;
  /// The last completed checkpoint, 0 if none.
  int64_t last_checkpoint = 0;
  /// The job never started because of bad input (a UsageError): `error` says which.
  bool usage_error = false;
};

/// What rescaling a running job did: the savepoint it stopped at and restarted from, the
/// parallelism before and after, and how long records stood still (from the stop request to
/// records flowing again at the new parallelism), of which taking the savepoint.
struct RescaleResult {
  int64_t savepoint = 0;
  int from = 0;
  int to = 0;
  int64_t downtime_ms = 0;
  int64_t savepoint_ms = 0;
  /// Operators that kept their parallelism: sources (their positions cannot move between
  /// subtasks) and operators given one explicitly.
  std::vector<std::string> fixed;
};

/// A running job, as the executor sees it.
class JobHandle {
 public:
  virtual ~JobHandle() = default;
  /// The job's id in this process (16 hex digits, new for every submission) and its name.
  virtual const std::string& id() const = 0;
  virtual const std::string& name() const = 0;
  /// The job has ended (its result is ready).
  virtual bool done() const = 0;
  /// Blocks the calling thread (never an actor's) until the job ends.
  virtual JobResult wait() = 0;
  virtual void cancel() = 0;
  virtual std::vector<TaskProbe> probes() const = 0;
  /// Every checkpoint so far, oldest first.
  virtual std::vector<CheckpointInfo> checkpoints() const = 0;
  /// The job's tasks and exchanges (empty when the job never started).
  virtual JobShape shape() const { return {}; }
  /// When the job was submitted, in milliseconds since the Unix epoch.
  virtual int64_t submitted_ms() const { return 0; }
  /// Restarts from a checkpoint so far (restart strategy).
  virtual int restarts() const { return 0; }
  /// Asks the job's subtasks `q` while the job runs (docs/rest.md: state, state/keys, trace,
  /// log); each answers between two messages, so the job does not pause. Returns JSON:
  /// - state: {"operator", "key", "key_group", "subtask", "states": {name: value or null}} from
  ///   the subtask owning the key's key group;
  /// - keys: {"operator", "keys": [key], "truncated"}, keys of every subtask, sorted;
  /// - trace: {"task", "subtask", "records": [{"direction", "edge", "channel", "timestamp",
  ///   "record"}], "seconds"}, a sample taken at most 100 records a second for at most 5 s;
  /// - log: {"task", "subtask", "lines": [text]}, oldest first.
  /// Throws JobError with one sentence (no such operator, state, task or subtask; a key that
  /// does not fit the key type; no answer in time).
  virtual std::string query(const TaskQuery& q) {
    (void)q;
    throw JobError("job '" + name() + "' cannot answer queries about its subtasks");
  }
  /// Stops the job with a savepoint and starts it again from that savepoint with `parallelism`
  /// as its default parallelism, under the same id and handle (exactly once: the restart
  /// resumes from the savepoint). Blocks until records flow again. Throws UsageError for a
  /// graph that cannot run at that parallelism (before anything stops) and JobError when the
  /// savepoint fails (the job then runs on as it was).
  virtual RescaleResult rescale(int parallelism) {
    (void)parallelism;
    throw JobError("job '" + name() + "' cannot be rescaled while it runs");
  }
  /// Triggers a checkpoint now (a savepoint when `savepoint`); returns its id once complete,
  /// or throws JobError saying why it could not complete. Blocks the calling thread.
  virtual int64_t trigger_checkpoint(bool savepoint) = 0;
  /// Stops the job with a savepoint and returns its id. With `drain`, sources end first and
  /// everything in flight is processed (windows fire, timers at end of input run), and the
  /// savepoint is the final checkpoint; without, the savepoint is taken where the job is and
  /// the job stops right after it. The job then ends as succeeded.
  virtual int64_t stop_with_savepoint(bool drain) = 0;
};

/// Runs job graphs. The runtime registers the embedded one when libsluice loads.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual std::shared_ptr<JobHandle> submit(JobGraph graph) = 0;
};

void register_executor(std::unique_ptr<Executor> executor);
/// The executor jobs submitted from this thread go to: the one set by with_thread_executor,
/// else the registered one.
Executor& default_executor();
/// Runs `fn` with `executor` as this thread's executor (restored afterwards, also when `fn`
/// throws). A cluster runs a job library's main so: the master to run the job's graphs on its
/// agents, an agent to rebuild a graph it was sent subtasks of.
void with_thread_executor(Executor& executor, const std::function<void()>& fn);

/// The jobs of this process: executors register each job they start, and introspection (the
/// console) lists those not yet done whose handle someone still holds.
void register_job(const std::shared_ptr<JobHandle>& job);
std::vector<std::shared_ptr<JobHandle>> running_jobs();

/// A submitted job: wait for it, cancel it, read its probes while it runs.
class JobClient {
 public:
  explicit JobClient(std::shared_ptr<JobHandle> h) : handle_(std::move(h)) {}
  const std::string& id() const { return handle_->id(); }
  /// Waits for the end; throws JobError with the failure sentence if the job failed.
  JobResult wait();
  /// Waits for the end and returns the result, whether the job succeeded or not.
  JobResult result() { return handle_->wait(); }
  void cancel() { handle_->cancel(); }
  /// One probe snapshot per subtask, as last published by each task.
  std::vector<TaskProbe> probes() const { return handle_->probes(); }
  std::vector<CheckpointInfo> checkpoints() const { return handle_->checkpoints(); }
  /// Takes a savepoint now and returns its id (the directory is `chk-<id>` in the
  /// checkpoint directory, kept until deleted).
  int64_t savepoint() { return handle_->trigger_checkpoint(true); }
  int64_t checkpoint() { return handle_->trigger_checkpoint(false); }
  int64_t stop_with_savepoint(bool drain = false) { return handle_->stop_with_savepoint(drain); }

 private:
  std::shared_ptr<JobHandle> handle_;
};

}  // namespace sluice
