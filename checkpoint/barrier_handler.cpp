// checkpoint/barrier_handler.cpp — the barrier state machine.
#include "barrier_handler.hpp"

namespace sluice::checkpoint {

BarrierHandler::BarrierHandler(int channels, CheckpointingMode mode, int64_t alignment_timeout)
    : ch_(size_t(channels)), mode_(mode), active_mode_(mode), timeout_(alignment_timeout) {}

BarrierActions BarrierHandler::on_announcement(int64_t id, int64_t now) {
  BarrierActions out;
  if (id <= last_done_ || (pending_ && id <= *pending_)) return out;
  if (pending_) {
    out.aborted = pending_;
    last_done_ = *pending_;
    reset(out);
  }
  begin(id, now);
  return out;
}

BarrierActions BarrierHandler::on_barrier(int ch, int64_t id, int64_t now, bool priority, bool aligned_only) {
  BarrierActions out;
  if (id <= last_done_) return out;  // a late barrier of a checkpoint already over here
  if (pending_ && id > *pending_) {
    // A newer checkpoint overtook the pending one before all its barriers came: give it up
    // (as Flink does) and start the new one.
    out.aborted = pending_;
    last_done_ = *pending_;
    reset(out);
  }
  if (!pending_) begin(id, now, aligned_only);
  if (id < *pending_) return out;  // stale: the older one was already given up
  auto& c = ch_[size_t(ch)];
  if (c.arrived) return out;
  c.arrived = true;
  if (!c.closed) ++settled_;
  if (c.recording) {
    c.recording = false;
    out.stop_recording.push_back(ch);
  }
  if (!unaligned_ && (active_mode_ == CheckpointingMode::unaligned ||
                      (priority && active_mode_ == CheckpointingMode::aligned_with_timeout))) {
    go_unaligned(out);  // the first barrier: snapshot and overtake at once
  } else if (!unaligned_ && (active_mode_ == CheckpointingMode::aligned ||
                             active_mode_ == CheckpointingMode::aligned_with_timeout)) {
    c.blocked = true;
    out.block.push_back(ch);
  }
  if (active_mode_ == CheckpointingMode::aligned_with_timeout && !unaligned_ && now - started_ >= timeout_)
    go_unaligned(out);
  maybe_complete(out);
  return out;
}

BarrierActions BarrierHandler::on_time(int64_t now) {
  BarrierActions out;
  if (pending_ && active_mode_ == CheckpointingMode::aligned_with_timeout && !unaligned_ &&
      now - started_ >= timeout_)
    go_unaligned(out);
  return out;
}

BarrierActions BarrierHandler::on_abort(int64_t id) {
  BarrierActions out;
  if (!pending_ || *pending_ != id) {
    if (id > last_done_) last_done_ = id;  // never start it later
    return out;
  }
  last_done_ = id;
  reset(out);
  return out;
}

BarrierActions BarrierHandler::on_trigger(int64_t id) {
  BarrierActions out;
  if (pending_ && *pending_ < id) out.aborted = pending_;
  if (pending_ && *pending_ <= id) reset(out);
  if (id > last_done_) last_done_ = id;
  return out;
}

BarrierActions BarrierHandler::on_end_of_partition(int ch, int64_t) {
  BarrierActions out;
  auto& c = ch_[size_t(ch)];
  if (!c.closed) {
    ++closed_;
    if (!c.arrived) ++settled_;
  }
  c.closed = true;
  if (c.recording) {
    c.recording = false;
    out.stop_recording.push_back(ch);
  }
  if (pending_) maybe_complete(out);
  return out;
}

void BarrierHandler::begin(int64_t id, int64_t now, bool aligned_only) {
  pending_ = id;
  active_mode_ = aligned_only && mode_ != CheckpointingMode::at_least_once ? CheckpointingMode::aligned : mode_;
  started_ = now;
  aligned_only_ = aligned_only;
  snapshotted_ = false;
  unaligned_ = false;
}

void BarrierHandler::go_unaligned(BarrierActions& out) {
  unaligned_ = true;
  // The snapshot is taken now and the barrier overtakes queued output; channels that have
  // not delivered the barrier record their data until they do, blocked ones resume.
  snapshot_now(true, out);
  for (size_t i = 0; i < ch_.size(); ++i) {
    auto& c = ch_[i];
    if (c.blocked) {
      c.blocked = false;
      out.unblock.push_back(int(i));
    }
    if (!c.arrived && !c.closed && !c.recording) {
      c.recording = true;
      out.start_recording.push_back(int(i));
    }
  }
}

void BarrierHandler::snapshot_now(bool overtake, BarrierActions& out) {
  snapshotted_ = true;
  out.snapshot = pending_;
  out.overtake = overtake;
  out.savepoint = aligned_only_;
  out.started = started_;
}

BarrierActions BarrierHandler::on_arrival(int ch, int64_t id, int64_t now, bool aligned_only) {
  if (unaligned_ && pending_ == id) return on_barrier(ch, id, now);
  if (mode_ == CheckpointingMode::aligned_with_timeout && !aligned_only) return on_announcement(id, now);
  return {};
}

void BarrierHandler::maybe_complete(BarrierActions& out) {
  if (settled_ < ch_.size()) return;  // a count, not a scan: this runs on every barrier
  if (!snapshotted_) snapshot_now(false, out);
  out.completed = pending_;
  last_done_ = *pending_;
  reset(out);
}

void BarrierHandler::reset(BarrierActions& out) {
  for (size_t i = 0; i < ch_.size(); ++i) {
    auto& c = ch_[i];
    if (c.blocked) out.unblock.push_back(int(i));
    if (c.recording) out.stop_recording.push_back(int(i));
    c.arrived = c.blocked = c.recording = false;
  }
  settled_ = closed_;
  pending_.reset();
  unaligned_ = false;
  snapshotted_ = false;
}

}  // namespace sluice::checkpoint
