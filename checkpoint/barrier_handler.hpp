// checkpoint/barrier_handler.hpp — decides what checkpoint barriers do to a task's input channels: aligned, unaligned, aligned with timeout, at-least-once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sluice/config.hpp"

namespace sluice::checkpoint {

/// What the task must do after an event, in this order.
struct BarrierActions {
  /// Channels to stop consuming (no floating buffers for them either), and to resume.
  std::vector<int> block;
  std::vector<int> unblock;
  /// Take the snapshot of checkpoint `snapshot` and send its barrier downstream ahead of
  /// queued output when `overtake` (unaligned), behind it otherwise.
  std::optional<int64_t> snapshot;
  bool overtake = false;
  /// With `snapshot`: its barriers are a savepoint's (aligned whatever the mode), and the time
  /// the checkpoint began here (its first barrier or announcement): alignment took till now.
  bool savepoint = false;
  int64_t started = 0;
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
/// state machine: no I/O, time passed in, decisions returned. Every barrier decision of a
/// task is made here; the task keeps no barrier state of its own. Time is in one unit the
/// caller picks (the task passes nanoseconds), the alignment timeout in the same unit.
class BarrierHandler {
 public:
  /// `alignment_timeout` matters for aligned_with_timeout only.
  BarrierHandler(int channels, CheckpointingMode mode, int64_t alignment_timeout = 0);

  /// Barrier of checkpoint `id` was reached on channel `ch` at `now` (consumed in band, or a
  /// priority barrier as it arrives). A `priority` barrier overtook its channel's data
  /// because its sender's alignment timed out: with aligned_with_timeout the checkpoint goes
  /// unaligned here too. A barrier marked `aligned_only` (a savepoint's) is aligned whatever
  /// the mode, except that at-least-once stays at-least-once.
  BarrierActions on_barrier(int ch, int64_t id, int64_t now, bool priority = false, bool aligned_only = false);
  /// An in-band barrier of `id` was received on `ch` and is queued behind data. Once the
  /// checkpoint is unaligned it counts from its arrival (what is queued behind it is after
  /// it); with aligned_with_timeout its arrival starts the alignment clock.
  BarrierActions on_arrival(int ch, int64_t id, int64_t now, bool aligned_only);
  /// Whether a priority barrier of `id` on `ch` is taken: then the records queued on `ch`
  /// before it belong to the checkpoint's channel state. Not when its checkpoint is over here,
  /// the channel delivered it already, or records it since the checkpoint went unaligned.
  bool takes_priority_barrier(int ch, int64_t id) const {
    return id > last_done_ && !(pending_ == id && ch_[size_t(ch)].arrived) && !ch_[size_t(ch)].recording;
  }
  /// A barrier of checkpoint `id` is known to be on its way (queued behind data): the
  /// alignment clock of aligned_with_timeout starts.
  BarrierActions on_announcement(int64_t id, int64_t now);
  /// Time passed without a barrier (aligned_with_timeout switches here when due).
  BarrierActions on_time(int64_t now);
  /// The coordinator gave up checkpoint `id`.
  BarrierActions on_abort(int64_t id);
  /// The coordinator triggered checkpoint `id` at this task directly (its inputs ended, so it
  /// is at the running frontier): the task snapshots now, and barriers of `id` that still
  /// arrive (sent before the inputs ended) are late. An older pending checkpoint is given up.
  BarrierActions on_trigger(int64_t id);
  /// Channel `ch` closed (EndOfPartition): it no longer has barriers to deliver.
  BarrierActions on_end_of_partition(int ch, int64_t now);

  /// The checkpoint being aligned or recorded, if any.
  std::optional<int64_t> pending() const { return pending_; }
  bool blocked(int ch) const { return ch_[size_t(ch)].blocked; }
  bool arrived(int ch) const { return ch_[size_t(ch)].arrived; }
  bool closed(int ch) const { return ch_[size_t(ch)].closed; }
  /// When the pending checkpoint began here (its first barrier or trigger), in the clock passed in.
  int64_t started() const { return started_; }
  /// Highest checkpoint completed or given up here; its barriers are ignored.
  int64_t last_done() const { return last_done_; }
  bool recording(int ch) const { return ch_[size_t(ch)].recording; }
  /// Whether the pending checkpoint went unaligned (always for unaligned mode).
  bool unaligned_now() const { return unaligned_; }

 private:
  struct Channel {
    bool arrived = false;  // delivered the pending checkpoint's barrier
    bool blocked = false;
    bool recording = false;
    bool closed = false;
  };
  void begin(int64_t id, int64_t now, bool aligned_only = false);
  void snapshot_now(bool overtake, BarrierActions& out);
  void go_unaligned(BarrierActions& out);
  void maybe_complete(BarrierActions& out);
  void reset(BarrierActions& out);

  std::vector<Channel> ch_;
  size_t settled_ = 0;  // channels arrived or closed: the pending checkpoint completes at all
  size_t closed_ = 0;   // channels closed
  CheckpointingMode mode_;
  CheckpointingMode active_mode_;  // the pending checkpoint's: aligned for a savepoint
  int64_t timeout_;
  std::optional<int64_t> pending_;
  int64_t last_done_ = -1;  // highest checkpoint completed or aborted here
  int64_t started_ = 0;
  bool aligned_only_ = false;  // the pending checkpoint's barriers are a savepoint's
  bool unaligned_ = false;
  bool snapshotted_ = false;
};

}  // namespace sluice::checkpoint
