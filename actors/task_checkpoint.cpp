// actors/task_checkpoint.cpp — carrying out barrier decisions: blocking and releasing channels, recording channel state, snapshotting, writing and acknowledging.
#include "actors/task_checkpoint.hpp"

#include <chrono>

#include "actors/task.hpp"
#include "checkpoint/storage.hpp"

namespace sluice::runtime {

TaskCheckpoint::TaskCheckpoint(CheckpointedTask& task, InputGates& inputs, TaskTransport& transport,
                               std::shared_ptr<checkpoint::CheckpointWriter> writer, const CheckpointConfig& config,
                               int task_id, int subtask)
    : task_(task),
      inputs_(inputs),
      transport_(transport),
      writer_(std::move(writer)),
      mode_(config.mode),
      alignment_timeout_ns_(config.alignment_timeout.count() * 1000000),
      task_id_(task_id),
      subtask_(subtask),
      barriers_(inputs.channels(), config.mode, alignment_timeout_ns_) {}

void TaskCheckpoint::decline(int64_t id, const std::string& why) { transport_.reporter()(id, nullptr, why); }

void TaskCheckpoint::on_arrival(InputChannel& c, const FrameView& v) {
  if (v.kind() == FrameKind::records) {
    if (pending_ && barriers_.recording(c.flat())) append_records(v, 0, pending_->recorded[size_t(c.flat())]);
  } else if (v.kind() == FrameKind::barrier) {
    apply(barriers_.on_arrival(c.flat(), v.value(), transport_.now_ns(), v.aligned_only()));
  }
}

void TaskCheckpoint::on_priority_barrier(InputChannel& c, int64_t id) {
  bool taken = barriers_.takes_priority_barrier(c.flat(), id);
  ChannelRecords ahead;
  if (taken) record_queued(c, id, ahead);
  apply(barriers_.on_barrier(c.flat(), id, transport_.now_ns(), true), [&] {
    if (!taken || !pending_ || pending_->id != id) return;
    auto& rec = pending_->recorded[size_t(c.flat())].records;
    rec.insert(rec.end(), std::make_move_iterator(ahead.records.begin()), std::make_move_iterator(ahead.records.end()));
  });
}

void TaskCheckpoint::on_barrier(InputChannel& c, int64_t id, bool aligned_only) {
  apply(barriers_.on_barrier(c.flat(), id, transport_.now_ns(), false, aligned_only));
}

void TaskCheckpoint::on_end_of_partition(InputChannel& c) {
  apply(barriers_.on_end_of_partition(c.flat(), transport_.now_ns()));
}

bool TaskCheckpoint::record_queued(const InputChannel& c, int64_t id, ChannelRecords& out) const {
  const auto& q = c.queue();
  for (size_t i = 0; i < q.size(); ++i) {
    const auto& f = q[i];
    if (f.view->kind() == FrameKind::barrier && f.view->value() == id) return true;
    append_records(*f.view, f.cursor, out);
  }
  return false;
}

void TaskCheckpoint::apply(const checkpoint::BarrierActions& a, const std::function<void()>& before_complete) {
  for (int ch : a.block) inputs_.block(ch);
  for (int ch : a.unblock) inputs_.unblock(ch);
  if (a.snapshot) take_snapshot(*a.snapshot, a.overtake, a.savepoint, a.started);
  // Channels that start recording: what is queued on them is channel state already.
  std::vector<int> found;
  for (int ch : a.start_recording)
    if (pending_ && record_queued(*inputs_.channel(ch).second, pending_->id, pending_->recorded[size_t(ch)]))
      found.push_back(ch);
  if (before_complete) before_complete();
  if (a.completed && pending_ && pending_->id == *a.completed) {
    pending_->inputs_done = true;
    maybe_ack();
  }
  if (a.aborted) {
    if (pending_ && pending_->id == *a.aborted) pending_.reset();
    decline(*a.aborted, task_.describe() + " gave up checkpoint " + std::to_string(*a.aborted) +
                            ": a newer checkpoint's barrier overtook it");
  }
  // Barriers already queued on channels that now record count as arrived.
  int64_t id = pending_ ? pending_->id : -1;
  for (int ch : found)
    if (barriers_.pending() == id) apply(barriers_.on_barrier(ch, id, transport_.now_ns()));
  if (a.snapshot || a.completed || !a.unblock.empty()) task_.resume();
}

void TaskCheckpoint::take_snapshot(int64_t id, bool overtake, bool savepoint, int64_t started_ns) {
  auto t0 = transport_.now_ns();
  if (pending_) {
    decline(pending_->id, task_.describe() + " gave up checkpoint " + std::to_string(pending_->id) +
                              " for checkpoint " + std::to_string(id));
    pending_.reset();
  }
  Pending p;
  p.id = id;
  p.snap = std::make_shared<SubtaskSnapshot>();
  task_.snapshot_operators(id, savepoint, *p.snap, p.deferred);
  task_.emit_barrier(id, overtake, savepoint, p.snap->outputs);
  p.savepoint = savepoint;
  p.recorded.resize(size_t(inputs_.channels()));
  for (int ch = 0; ch < inputs_.channels(); ++ch) p.recorded[size_t(ch)].channel = inputs_.channel(ch).second->id();
  p.unaligned = overtake;
  p.snapshot_ns = transport_.now_ns();
  p.sync_ms = double(p.snapshot_ns - t0) / 1e6;
  p.alignment_ms = started_ns >= 0 ? double(t0 - started_ns) / 1e6 : 0;
  pending_ = std::move(p);
  last_snapshot_ = id;
}

void TaskCheckpoint::maybe_ack() {
  if (!pending_ || !pending_->inputs_done) return;
  // With an alignment timeout the barrier must have left the output queues (or overtaken them).
  if (mode_ == CheckpointingMode::aligned_with_timeout && !pending_->savepoint && task_.barrier_queued(pending_->id))
    return;
  auto snap = pending_->snap;
  for (auto& rec : pending_->recorded)
    if (!rec.records.empty()) snap->inputs.push_back(std::move(rec));
  uint64_t inflight = 0;
  for (const auto* list : {&snap->inputs, &snap->outputs})
    for (const auto& ch : *list)
      for (const auto& r : ch.records) inflight += r.second.size();
  auto ack = std::make_shared<CheckpointAck>();
  ack->checkpoint_id = pending_->id;
  ack->task = task_id_;
  ack->subtask = subtask_;
  ack->unaligned = pending_->unaligned || !snap->outputs.empty() || !snap->inputs.empty();
  ack->alignment_ms = pending_->alignment_ms;
  ack->sync_ms = pending_->sync_ms;
  ack->inflight_bytes = inflight;
  stats_.checkpoint_id = ack->checkpoint_id;
  stats_.checkpoint_unaligned = ack->unaligned;
  stats_.checkpoint_alignment_ms = ack->alignment_ms;
  stats_.checkpoint_sync_ms = ack->sync_ms;
  stats_.checkpoint_inflight_bytes = inflight;
  auto writer = writer_;
  auto report = transport_.reporter();
  auto name = "task-" + std::to_string(task_id_) + "-" + std::to_string(subtask_);
  auto who = task_.describe();
  int64_t id = pending_->id;
  auto deferred = std::make_shared<DeferredSnapshots>(std::move(pending_->deferred));
  pending_.reset();
  auto written = written_;
  task_.submit([writer, report, name, who, id, snap, ack, deferred, written] {
    auto t0 = std::chrono::steady_clock::now();
    try {
      for (auto& [op, finish] : *deferred) snap->operators[op].keyed_state = finish();
      deferred->clear();
      ack->file = writer->write_file(uint64_t(id), name, encode_snapshot(*snap));
      ack->file.subtask = uint32_t(ack->subtask);
      uint64_t bytes = ack->file.size;  // what this checkpoint wrote: its file and newly shared ones
      for (const auto& op : snap->operators) {
        for (const auto& [state, codec] : op.keyed_state.fingerprints)
          ack->states.emplace_back(op.operator_id, checkpoint::StateFingerprint{state, codec});
        for (const auto& f : op.keyed_state.files) {
          if (f.shared.empty()) continue;
          ack->shared.emplace_back(op.operator_id,
                                   checkpoint::FileRef{checkpoint::layout::shared_ref(f.shared), f.size,
                                                       f.checksum, uint32_t(ack->subtask), 0, 0});
          if (f.fresh) bytes += f.size;
        }
      }
      ack->bytes = bytes;
      ack->async_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      written->async_ms.store(ack->async_ms);
      written->bytes.store(bytes);
      report(id, ack, {});
    } catch (const std::exception& e) {
      report(id, nullptr, who + " could not write checkpoint " + std::to_string(id) + ": " + e.what());
    }
  });
}

void TaskCheckpoint::trigger(int64_t id, bool savepoint) {
  // The extended frontier can race the barrier: it may have snapshotted this one already.
  if (id <= last_snapshot_) return;
  apply(barriers_.on_trigger(id));
  take_snapshot(id, mode_ == CheckpointingMode::unaligned && !savepoint, savepoint, -1);
  pending_->inputs_done = true;
  maybe_ack();
}

void TaskCheckpoint::on_abort(int64_t id) {
  if (pending_ && pending_->id == id) pending_.reset();
  apply(barriers_.on_abort(id));
}

void TaskCheckpoint::on_time() {
  if (mode_ != CheckpointingMode::aligned_with_timeout) return;
  apply(barriers_.on_time(transport_.now_ns()));
  if (!pending_ || pending_->savepoint) return;
  if (transport_.now_ns() - pending_->snapshot_ns < alignment_timeout_ns_) return;
  if (task_.overtake_barrier(pending_->id, pending_->snap->outputs)) pending_->unaligned = true;
  maybe_ack();
}

void TaskCheckpoint::on_output_credit() {
  if (pending_) maybe_ack();
}

std::optional<TaskCheckpoint::Alignment> TaskCheckpoint::alignment() const {
  auto id = barriers_.pending();
  if (!id || pending_) return std::nullopt;  // none, or snapshotted already
  Alignment a{*id, barriers_.started(), {}};
  for (int ch = 0; ch < inputs_.channels(); ++ch)
    if (!barriers_.arrived(ch) && !barriers_.closed(ch)) a.missing.push_back(ch);
  if (a.missing.empty()) return std::nullopt;
  return a;
}

void TaskCheckpoint::fill(TaskProbe& p) const {
  p.checkpoint_id = stats_.checkpoint_id;
  p.checkpoint_unaligned = stats_.checkpoint_unaligned;
  p.checkpoint_alignment_ms = stats_.checkpoint_alignment_ms;
  p.checkpoint_sync_ms = stats_.checkpoint_sync_ms;
  p.checkpoint_async_ms = written_->async_ms.load();
  p.checkpoint_bytes = written_->bytes.load();
  p.checkpoint_inflight_bytes = stats_.checkpoint_inflight_bytes;
}

}  // namespace sluice::runtime
