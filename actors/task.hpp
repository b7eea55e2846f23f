// actors/task.hpp — one subtask of a task: its operator chain, input gates and result partitions, as a state machine without CAF.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/control.hpp"
#include "actors/frame.hpp"
#include "checkpoint/restore.hpp"
#include "checkpoint/storage.hpp"
#include "sluice/graph.hpp"
#include "sluice/logging.hpp"
#include "sluice/probe.hpp"

namespace sluice::scheduler {
struct ExecutionPlan;
}

namespace sluice::runtime {

// The snapshot and restore formats belong to the checkpoint module; the runtime uses them as its own.
using checkpoint::decode_snapshot;
using checkpoint::encode_snapshot;
using checkpoint::from_scratch;
using checkpoint::OperatorSnapshot;
using checkpoint::read_restore_state;
using checkpoint::RestoredOperator;
using checkpoint::RestoreState;
using checkpoint::SubtaskSnapshot;

/// What a task asks of the world around it. The task actor implements it with messages;
/// tests implement it in memory. Every call returns at once.
class TaskTransport {
 public:
  virtual ~TaskTransport() = default;
  /// Sends a frame to the consumer of `ch`; `backlog` frames stay queued behind it.
  virtual void send_frame(const ChannelId& ch, uint32_t backlog, FrameBuffer&& frame) = 0;
  /// Grants `credits` buffers to the producer of `ch`.
  virtual void send_credit(const ChannelId& ch, uint32_t credits) = 0;
  /// Calls on_resume() soon, after messages already waiting.
  virtual void request_resume() = 0;
  /// Calls on_wakeup(op) after `delay`; op -1 polls the source again.
  virtual void request_wakeup(int op, std::chrono::milliseconds delay) = 0;
  /// Runs `job` off the actor threads, then calls on_io_done with its error (empty if none).
  virtual void submit_io(std::function<void()> job) = 0;
  /// Where print sinks write (IoService::standard_output); empty: this process's stdout.
  virtual std::function<void(const std::string&)> standard_output() { return {}; }
  /// Where sinks whose records belong to the job's main send their batches, with the sink's
  /// node (OperatorContext::result_channel); empty: the main is in this process.
  virtual std::function<void(int node, std::string&&)> results() { return {}; }
  /// BATCH: the producer of `ch` wrote its partition file on another agent, which serves it
  /// (send_file_credit); false: the file is in TaskSpec::batch_dir, read here.
  virtual bool file_elsewhere(const ChannelId& ch) const {
    (void)ch;
    return false;
  }
  /// BATCH: grants `credits` buffers to the agent serving channel `file_channel` of the
  /// partition file of `ch`'s producer; its frames come back as send_frame's do.
  virtual void send_file_credit(const ChannelId& ch, int file_channel, uint32_t credits) {
    (void)ch, (void)file_channel, (void)credits;
  }
  /// Monotonic time in nanoseconds.
  virtual int64_t now_ns() = 0;
  /// Reports a checkpoint to the coordinator: an acknowledgement, or (ack null) a decline
  /// with its reason. The function may be called from any thread (the I/O executor) and
  /// outlive the task.
  using CheckpointReporter =
      std::function<void(int64_t id, std::shared_ptr<const CheckpointAck> ack, const std::string& decline_reason)>;
  virtual CheckpointReporter reporter() = 0;
  /// All input ended, after the task snapshotted `last_checkpoint`; with checkpoints on, the
  /// task closes once a later checkpoint completes (FLIP-147).
  virtual void input_ended(int64_t last_checkpoint) = 0;
};

/// Which task and subtask to run, in which job.
struct TaskSpec {
  std::shared_ptr<const JobGraph> graph;
  std::shared_ptr<const scheduler::ExecutionPlan> plan;
  int task = 0;
  int subtask = 0;
  /// Where checkpoints go; null when the job does not checkpoint.
  std::shared_ptr<checkpoint::CheckpointWriter> writer;
  /// The checkpoint the job starts from; null for a fresh start.
  std::shared_ptr<const RestoreState> restore;
  /// The job's id, for probes (from the deployment).
  std::string job_id;
  /// BATCH: the job's directory of blocking partition files (edge-<e>/producer-<p>).
  std::string batch_dir;
};

/// Where a job's BATCH partitions and spill files go when nothing more particular is given:
/// ExecutionConfig::batch_dir, else state_dir, else the system's temporary directory.
std::string batch_base(const ExecutionConfig& config);

enum class TaskState { created, running, closing, finished, failed, canceled };
const char* task_state_name(TaskState s);

/// The whole behaviour of one subtask. Processing happens in steps of at most
/// `step_records` records, each started by on_resume(); between steps the actor handles
/// credits and control messages. A step stops early when any output channel is full, an
/// operator is unavailable, or too much I/O is outstanding (backpressure).
class TaskRuntime {
 public:
  TaskRuntime(TaskSpec spec, TaskTransport& transport);
  ~TaskRuntime();
  TaskRuntime(const TaskRuntime&) = delete;
  TaskRuntime& operator=(const TaskRuntime&) = delete;

  /// Opens the operators and grants the initial credits.
  void start();
  void on_frame(uint32_t backlog, FrameBuffer&& frame);
  void on_credit(const ChannelId& ch, uint32_t credits);
  void on_resume();
  void on_flush_timer();
  void on_wakeup(int op);
  void on_io_done(const std::string& error);
  void cancel();
  /// The coordinator starts checkpoint `id` here (a source, or a task whose inputs finished).
  /// A savepoint is aligned whatever the checkpointing mode.
  void trigger_checkpoint(int64_t id, bool savepoint = false);
  void on_checkpoint_complete(int64_t id);
  void on_checkpoint_aborted(int64_t id);
  /// A source ends its input now, as a bounded one would (stop-with-savepoint with drain).
  void drain();

  TaskState state() const;
  /// The failure sentence (empty unless failed).
  const std::string& error() const;
  /// The task failed because its restored state does not fit the job (a JobError or a
  /// DecodeError while restoring: another stream, another layout): no restart can help. I/O
  /// errors while restoring are not counted here; they may pass.
  bool failed_restoring() const;
  /// "task 'Source -> Map' (subtask 1/2)".
  std::string describe() const;
  TaskProbe probe() const;
  /// Answers a console's query (TaskQuery): a state lookup (the report's `owner` says
  /// whether this subtask holds the key's key group), a key listing or the last log lines
  /// now; a trace starts here and answers through traced() (nothing now, unless refused).
  std::optional<TaskReport> answer(const TaskQuery& q);
  /// A running trace's answer, once it has its records or its time (5 s) is up.
  std::optional<TaskReport> traced();
  /// The lines this subtask logged lately: the actor keeps it current (log::LogScope) while
  /// it handles a message.
  log::LogRing& log_ring();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::runtime
