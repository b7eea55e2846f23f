// actors/input_gate.cpp — checking and queueing received frames, credits back to the producers, channels taking turns.
#include "actors/input_gate.hpp"

#include "scheduler/plan.hpp"
#include "sluice/detail/record_io.hpp"

namespace sluice::runtime {

InputGate& InputGates::add(const scheduler::Exchange& x, int input, int valve_offset,
                           std::unique_ptr<detail::RecordDecoder> reader) {
  auto& gate = gates_.emplace_back();
  gate.exchange = &x;
  gate.input = input;
  gate.offset = int(flat_.size());
  int n = x.channels_per_consumer();
  gate.channels.reserve(size_t(n));
  for (int ch = 0; ch < n; ++ch)
    gate.channels.emplace_back(ChannelId{uint32_t(x.edge), uint32_t(x.producer_of(subtask_, ch)), uint32_t(subtask_)},
                               ch, gate.offset + ch, valve_offset + ch);
  gate.credit = std::make_unique<InputCredit>(n, exclusive_, floating_);
  gate.reader = std::move(reader);
  for (auto& c : gate.channels) flat_.emplace_back(&gate, &c);
  in_ready_.resize(flat_.size(), false);
  if (gate_by_edge_.size() <= size_t(x.edge)) gate_by_edge_.resize(size_t(x.edge) + 1, -1);
  gate_by_edge_[size_t(x.edge)] = int(gates_.size() - 1);
  return gate;
}

void InputGates::start() {
  for (auto& gate : gates_) send(gate, gate.credit->start());
}

InputGate* InputGates::gate_of_edge(int edge) {
  if (edge < 0 || size_t(edge) >= gate_by_edge_.size() || gate_by_edge_[size_t(edge)] < 0) return nullptr;
  return &gates_[size_t(gate_by_edge_[size_t(edge)])];
}

void InputGates::send(const InputGate& gate, const std::vector<Grant>& gs) {
  for (const auto& g : gs) send_(gate.channels[size_t(g.channel)].id(), g.credits);
}

std::pair<InputGate*, InputChannel*> InputGates::accept(uint32_t backlog, std::unique_ptr<FrameView> view,
                                                        FrameBuffer&& buffer) {
  const auto& v = *view;
  auto id = v.channel();
  auto* gate = gate_of_edge(int(id.edge));
  if (!gate || id.consumer != uint32_t(subtask_))
    throw FrameError("frame for " + id.describe() + " reached subtask " + std::to_string(subtask_ + 1) +
                     ", which has no such input channel");
  if (id.producer >= uint32_t(gate->exchange->producers))
    throw FrameError("frame from unknown producer on " + id.describe());
  auto& c = gate->channels[size_t(gate->exchange->input_channel(int(id.producer)))];
  if (c.closed_) throw FrameError("frame after EndOfPartition on " + id.describe());
  if (v.priority()) {
    if (v.kind() != FrameKind::barrier)
      throw FrameError("priority frame of kind " + std::string(frame_kind_name(v.kind())) + " on " + id.describe());
    return {gate, &c};
  }
  if (v.sequence() != c.expected_sequence_)
    throw FrameError("frame out of order on " + id.describe() + ": expected sequence " +
                     std::to_string(c.expected_sequence_) + ", got " + std::to_string(v.sequence()));
  grants_.clear();
  if (!gate->credit->on_frame(c.index(), backlog, grants_)) throw FrameError("frame without credit on " + id.describe());
  ++c.expected_sequence_;
  send(*gate, grants_);
  auto bytes = buffer.size() * 8;
  c.queued_bytes_ += bytes;
  queued_bytes_ += bytes;
  bytes_in_ += bytes;
  if (queued_bytes_ > max_queued_bytes_) max_queued_bytes_ = queued_bytes_;
  ++queued_buffers_;
  InFrame f;
  f.view = std::move(view);  // reads the buffer's heap storage, which moving keeps in place
  f.buffer = std::move(buffer);
  c.queue_.push_back(std::move(f));
  make_ready(c);
  return {gate, &c};
}

void InputGates::make_ready(InputChannel& c) {
  if (in_ready_[size_t(c.flat())] || c.blocked_ || c.queue_.empty()) return;
  in_ready_[size_t(c.flat())] = true;
  ready_.push_back(c.flat());
}

std::pair<InputGate*, InputChannel*> InputGates::next() {
  while (!ready_.empty()) {
    auto [gate, c] = flat_[size_t(ready_.front())];
    if (!c->blocked_ && !c->queue_.empty()) return {gate, c};
    in_ready_[size_t(ready_.front())] = false;  // blocked since: back in turn once unblocked
    ready_.pop_front();
  }
  return {nullptr, nullptr};
}

void InputGates::consume_front(InputGate& gate, InputChannel& c) {
  auto f = std::move(c.queue_.front());
  c.queue_.pop_front();
  auto bytes = f.buffer.size() * 8;
  c.queued_bytes_ -= bytes;
  queued_bytes_ -= bytes;
  --queued_buffers_;
  f.view.reset();
  BufferPool::instance().release(std::move(f.buffer));
  grants_.clear();
  gate.credit->on_consumed(c.index(), grants_);
  send(gate, grants_);
  // Channels take turns frame by frame: this one goes to the back (next() returned it from
  // the front).
  if (!ready_.empty() && ready_.front() == c.flat()) {
    ready_.pop_front();
    in_ready_[size_t(c.flat())] = false;
  }
  make_ready(c);
}

ChannelProbe InputGates::channel_probe(int flat) const {
  const auto& [gate, c] = flat_[size_t(flat)];
  ChannelProbe p;
  p.input = true;
  p.edge = int(c->id().edge);
  p.peer_subtask = int(c->id().producer);
  p.credits = gate->credit->outstanding(c->index());
  p.backlog = gate->credit->backlog(c->index());
  p.queued_buffers = uint32_t(c->queue().size());
  p.queued_bytes = c->queued_bytes();
  p.sequence = c->expected_sequence_;
  p.blocked = c->blocked();
  p.closed = c->closed();
  return p;
}

void InputGates::block(int flat) {
  auto [gate, c] = flat_[size_t(flat)];
  c->blocked_ = true;
  gate->credit->block(c->index());
}

void InputGates::unblock(int flat) {
  auto [gate, c] = flat_[size_t(flat)];
  c->blocked_ = false;
  make_ready(*c);
  grants_.clear();
  gate->credit->unblock(c->index(), grants_);
  send(*gate, grants_);
}

}  // namespace sluice::runtime
