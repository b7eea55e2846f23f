// checkpoint/barrier_handler.hpp — decides what checkpoint barriers do to a task's input channels: aligned, unaligned, aligned with timeout, at-least-once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::checkpoint {

/// How a task treats barriers (DESIGN.md §7, Flink's FLIP-76).
enum class CheckpointMode {
  aligned,               ///< hold back channels that delivered barrier n until all did
  unaligned,             ///< forward at once; persist the in-flight data the barrier overtook
  aligned_with_timeout,  ///< start aligned; switch to unaligned when alignment takes too long
  at_least_once,         ///< never hold back; snapshot when every channel delivered barrier n
};
const char* checkpoint_mode_name(CheckpointMode m);

/// What the task must do after an event, in this order.
struct BarrierActions {
  /// Channels to stop consuming (no floating buffers for them either), and to resume.
  std::vector<int> block;
  std::vector<int> unblock;
  /// Take the snapshot of checkpoint `snapshot` and send its barrier downstream ahead of
  /// queued output when `overtake` (unaligned), behind it otherwise.
  std::optional<int64_t> snapshot;
  bool overtake = false;
  /// Channels whose data, from now until their barrier, belongs to the checkpoint's
  /// channel state (unaligned), and channels whose recording ends.
  std::vector<int> start_recording;
  std::vector<int> stop_recording;
  /// Every channel delivered barrier `completed`: the task's part is done (acknowledge once
  /// its snapshot is written).
  std::optional<int64_t> completed;
  /// Checkpoint `aborted` is given up here (a newer barrier overtook it, or it was canceled);
  /// tell the coordinator.
  std::optional<int64_t> aborted;
};

/// The barrier protocol of one task over its input channels (all gates together), as a pure
/// state machine: no I/O, time passed in, decisions returned.
class BarrierHandler {
 public:
  /// `alignment_timeout_ms` matters for aligned_with_timeout only.
  BarrierHandler(int channels, CheckpointMode mode, int64_t alignment_timeout_ms = 0);

  /// Barrier of checkpoint `id` arrived on channel `ch` at `now_ms`. A `priority` barrier
  /// overtook its channel's data because its sender's alignment timed out: with
  /// aligned_with_timeout the checkpoint goes unaligned here too.
  /// A barrier marked `aligned_only` (a savepoint's) is aligned whatever the mode, except
  /// that at-least-once stays at-least-once.
  BarrierActions on_barrier(int ch, int64_t id, int64_t now_ms, bool priority = false, bool aligned_only = false);
  /// A barrier of checkpoint `id` is known to be on its way (queued behind data): the
  /// alignment clock of aligned_with_timeout starts.
  BarrierActions on_announcement(int64_t id, int64_t now_ms);
  /// Time passed without a barrier (aligned_with_timeout switches here when due).
  BarrierActions on_time(int64_t now_ms);
  /// The coordinator gave up checkpoint `id`.
  BarrierActions on_abort(int64_t id);
  /// The coordinator triggered checkpoint `id` at this task directly (its inputs ended, so it
  /// is at the running frontier): the task snapshots now, and barriers of `id` that still
  /// arrive (sent before the inputs ended) are late. An older pending checkpoint is given up.
  BarrierActions on_trigger(int64_t id);
  /// Channel `ch` closed (EndOfPartition): it no longer has barriers to deliver.
  BarrierActions on_end_of_partition(int ch, int64_t now_ms);

  /// The checkpoint being aligned or recorded, if any.
  std::optional<int64_t> pending() const { return pending_; }
  bool blocked(int ch) const { return ch_[size_t(ch)].blocked; }
  bool arrived(int ch) const { return ch_[size_t(ch)].arrived; }
  /// Highest checkpoint completed or given up here; its barriers are ignored.
  int64_t last_done() const { return last_done_; }
  bool recording(int ch) const { return ch_[size_t(ch)].recording; }
  /// Whether the pending checkpoint went unaligned (always for unaligned mode).
  bool unaligned_now() const { return unaligned_; }
  /// The mode of the pending checkpoint (a savepoint's is aligned).
  CheckpointMode mode() const { return active_mode_; }

 private:
  struct Channel {
    bool arrived = false;  // delivered the pending checkpoint's barrier
    bool blocked = false;
    bool recording = false;
    bool closed = false;
  };
  void begin(int64_t id, int64_t now_ms, bool aligned_only = false);
  void go_unaligned(BarrierActions& out);
  void maybe_complete(BarrierActions& out);
  void reset(BarrierActions& out);

  std::vector<Channel> ch_;
  size_t settled_ = 0;  // channels arrived or closed: the pending checkpoint completes at all
  size_t closed_ = 0;   // channels closed
  CheckpointMode mode_;
  CheckpointMode active_mode_;
  int64_t timeout_ms_;
  std::optional<int64_t> pending_;
  int64_t last_done_ = -1;  // highest checkpoint completed or aborted here
  int64_t started_ms_ = 0;
  bool unaligned_ = false;
  bool snapshotted_ = false;
};

}  // namespace sluice::checkpoint
