// actors/task_checkpoint.hpp — one subtask's part of checkpoints: barriers through the BarrierHandler, the pending snapshot, channel-state recording, the asynchronous write and the acknowledgement.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/control.hpp"
#include "actors/input_gate.hpp"
#include "actors/task.hpp"
#include "checkpoint/snapshot.hpp"
#include "checkpoint/barrier_handler.hpp"
#include "sluice/probe.hpp"
#include "sluice/state.hpp"

namespace sluice::runtime {


/// Keyed state whose snapshot finishes on the I/O executor, by operator index.
using DeferredSnapshots = std::vector<std::pair<size_t, CheckpointableBackend::DeferredSnapshot>>;

/// What a checkpoint needs of the rest of its subtask: the operators' state, the output
/// partitions, the I/O executor.
class CheckpointedTask {
 public:
  virtual ~CheckpointedTask() = default;
  /// The synchronous part of checkpoint `id`: every operator's state into `snap`, keyed state
  /// as far as the backend does it synchronously (the rest into `deferred`).
  virtual void snapshot_operators(int64_t id, bool savepoint, SubtaskSnapshot& snap, DeferredSnapshots& deferred) = 0;
  /// Sends barrier `id` into every output partition: ahead of the queued output when
  /// `overtake` (the records it passes go to `overtaken`), behind it otherwise.
  virtual void emit_barrier(int64_t id, bool overtake, bool savepoint, std::vector<ChannelRecords>& overtaken) = 0;
  /// Barrier `id` still waits in some output queue.
  virtual bool barrier_queued(int64_t id) const = 0;
  /// Barrier `id` overtakes the output queues it still waits in; returns whether it did.
  virtual bool overtake_barrier(int64_t id, std::vector<ChannelRecords>& overtaken) = 0;
  /// Runs `job` on the I/O executor (the task counts it as outstanding I/O).
  virtual void submit(std::function<void()> job) = 0;
  /// The task may go on processing (channels were released, a snapshot was taken).
  virtual void resume() = 0;
  /// "task 'Map' (subtask 1/2)".
  virtual std::string describe() const = 0;
};

/// The checkpoint choreography of one subtask, driven by input events, the coordinator's
/// messages and time. The BarrierHandler makes every barrier decision; this class carries
/// them out on the input gates, the pending snapshot and the checkpoint writer.
class TaskCheckpoint {
 public:
  TaskCheckpoint(CheckpointedTask& task, InputGates& inputs, TaskTransport& transport,
                 std::shared_ptr<checkpoint::CheckpointWriter> writer, const CheckpointConfig& config,
                 int task_id, int subtask);

  /// A frame was queued on `c`: records that arrive while `c` records are channel state; a
  /// barrier may count from its arrival.
  void on_arrival(InputChannel& c, const FrameView& v);
  /// A priority (unaligned) barrier arrived on `c`, overtaking the records queued there.
  void on_priority_barrier(InputChannel& c, int64_t id);
  /// An in-band barrier was read on `c`.
  void on_barrier(InputChannel& c, int64_t id, bool aligned_only);
  /// `c` closed: it has no barrier left to deliver.
  void on_end_of_partition(InputChannel& c);
  /// The coordinator triggered checkpoint `id` here (a source, or a task whose inputs ended).
  void trigger(int64_t id, bool savepoint);
  /// The coordinator gave checkpoint `id` up.
  void on_abort(int64_t id);
  /// With an alignment timeout: barriers waiting too long, at an input or in an output queue,
  /// turn unaligned.
  void on_time();
  /// Output credit came: a barrier may have left the output queues, so the ack may go.
  void on_output_credit();

  /// The last checkpoint this subtask snapshotted.
  int64_t last_snapshot() const { return last_snapshot_; }
  bool pending() const { return pending_.has_value(); }
  /// An aligned checkpoint this subtask waits for barriers of: its id, when its first barrier
  /// came (ns), and the flat input channels whose barrier has not.
  struct Alignment {
    int64_t id = 0;
    int64_t started_ns = 0;
    std::vector<int> missing;
  };
  std::optional<Alignment> alignment() const;
  /// The checkpoint fields of a probe.
  void fill(TaskProbe& p) const;

 private:
  struct Pending {
    int64_t id = 0;
    std::shared_ptr<SubtaskSnapshot> snap;
    std::vector<ChannelRecords> recorded;  // by flat channel
    DeferredSnapshots deferred;
    int64_t snapshot_ns = 0;
    double alignment_ms = 0, sync_ms = 0;
    bool unaligned = false;
    bool inputs_done = false;
    bool savepoint = false;  // aligned whatever the mode; never turned unaligned
  };
  /// What the I/O executor learns once a snapshot is written: its duration and size.
  struct Written {
    std::atomic<double> async_ms{0};
    std::atomic<uint64_t> bytes{0};
  };

  void apply(const checkpoint::BarrierActions& a, const std::function<void()>& before_complete = {});
  void take_snapshot(int64_t id, bool overtake, bool savepoint, int64_t started_ns);
  void maybe_ack();
  void decline(int64_t id, const std::string& why);
  /// Appends the unconsumed records queued on `c` up to barrier `id`; true if that barrier
  /// is queued there.
  bool record_queued(const InputChannel& c, int64_t id, ChannelRecords& out) const;

  CheckpointedTask& task_;
  InputGates& inputs_;
  TaskTransport& transport_;
  std::shared_ptr<checkpoint::CheckpointWriter> writer_;
  CheckpointingMode mode_;
  int64_t alignment_timeout_ns_;
  int task_id_, subtask_;
  checkpoint::BarrierHandler barriers_;
  std::optional<Pending> pending_;
  int64_t last_snapshot_ = 0;
  TaskProbe stats_;  // checkpoint fields only
  std::shared_ptr<Written> written_ = std::make_shared<Written>();
};

}  // namespace sluice::runtime
