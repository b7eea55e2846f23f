// actors/partition.cpp — staging, framing and credit-gated sending of one subtask's output.
#include "partition.hpp"

#include <cstring>

namespace sluice::runtime {

namespace {
size_t staged_bytes(const RecordBatch& b) {
  return b.empty() ? 0 : RecordBatch::encoded_bound(b.size(), b.data.size(), b.marks.size());
}
}  // namespace

ResultPartition::ResultPartition(uint32_t edge, int producer, std::vector<int> consumers,
                                 const ExecutionConfig& config, Availability& availability,
                                 SendFn send)
    : ch_(consumers.size()), listed_(consumers.size()), buffer_size_(config.buffer_size),
      queue_limit_(config.output_queue_buffers), floating_(config.output_floating_buffers),
      availability_(&availability), send_(std::move(send)) {
  for (size_t i = 0; i < consumers.size(); ++i)
    ch_[i].id = ChannelId{edge, uint32_t(producer), uint32_t(consumers[i])};
}

std::vector<uint8_t>& ResultPartition::begin_record(int channel) {
  if (channel < 0) {
    broadcast_scratch_.clear();
    return broadcast_scratch_;
  }
  auto& data = ch_[size_t(channel)].staging.data;
  record_start_ = data.size();
  return data;
}

void ResultPartition::end_record(int channel, int64_t ts) {
  ++records_out_;
  if (tap_) [[unlikely]] {
    const auto& data = channel < 0 ? broadcast_scratch_ : ch_[size_t(channel)].staging.data;
    size_t from = channel < 0 ? 0 : record_start_;
    tap_(channel, data.data() + from, data.size() - from, ts);
  }
  if (channel < 0) {
    for (size_t c = 0; c < ch_.size(); ++c)
      stage(int(c), broadcast_scratch_.data(), broadcast_scratch_.size(), ts);
    return;
  }
  auto& b = ch_[size_t(channel)].staging;
  // What this channel's staging was accounted at before the record's bytes were appended.
  size_t before = b.empty() ? 0 : RecordBatch::encoded_bound(b.size(), record_start_, b.marks.size());
  if (!b.empty() && RecordBatch::encoded_bound(b.size() + 1, b.data.size(), b.marks.size()) > buffer_size_) {
    // The record does not fit: frame what came before it, then stage it alone.
    std::vector<uint8_t> rec(b.data.begin() + long(record_start_), b.data.end());
    b.data.resize(record_start_);
    flush(channel);
    before = 0;
    b.data = std::move(rec);
  }
  b.ends.push_back(uint32_t(b.data.size()));
  b.timestamps.push_back(ts);
  staged(channel, before);
}

void ResultPartition::stage(int ch, const uint8_t* bytes, size_t n, int64_t ts) {
  auto& b = ch_[size_t(ch)].staging;
  if (!b.empty() && RecordBatch::encoded_bound(b.size() + 1, b.data.size() + n, b.marks.size()) > buffer_size_)
    flush(ch);
  auto before = staged_bytes(b);
  b.data.insert(b.data.end(), bytes, bytes + n);
  b.ends.push_back(uint32_t(b.data.size()));
  b.timestamps.push_back(ts);
  staged(ch, before);
}

void ResultPartition::staged(int ch, size_t before) {
  list_staged(ch);
  auto now = staged_bytes(ch_[size_t(ch)].staging);
  account(int64_t(now) - int64_t(before));
  if (now >= buffer_size_) flush(ch);
}

void ResultPartition::flush(int ch) {
  auto& c = ch_[size_t(ch)];
  if (c.staging.empty()) return;
  account(-int64_t(staged_bytes(c.staging)));
  auto frame = encode_records(c.id, c.next_sequence++, c.staging);
  c.staging.clear();
  enqueue(ch, std::move(frame));
}

void ResultPartition::enqueue(int ch, FrameBuffer&& frame) {
  auto& c = ch_[size_t(ch)];
  account(int64_t(frame.size() * 8));
  c.queue.push_back(std::move(frame));
  track(c.queue.size() - 1, c.queue.size());
  send_ready(ch);
}

void ResultPartition::track(size_t before, size_t after) {
  auto over = [&](size_t n) { return n > queue_limit_ ? int64_t(n - queue_limit_) : 0; };
  at_limit_ += int64_t(after >= queue_limit_) - int64_t(before >= queue_limit_);
  floating_used_ += over(after) - over(before);
  bool full = at_limit_ > 0 && floating_used_ >= int64_t(floating_);
  if (full != full_) availability_->full_partitions += full ? 1 : -1;
  full_ = full;
}

void ResultPartition::send_ready(int ch) {
  auto& c = ch_[size_t(ch)];
  while (c.credits > 0 && !c.queue.empty()) {
    auto frame = std::move(c.queue.front());
    c.queue.pop_front();
    --c.credits;
    if (c.barrier_id >= 0 && c.barrier_index-- == 0) c.barrier_id = -1;
    track(c.queue.size() + 1, c.queue.size());
    auto bytes = frame.size() * 8;
    account(-int64_t(bytes));
    bytes_out_ += bytes;
    send_(c.id, uint32_t(c.queue.size()), std::move(frame));
  }
}

void ResultPartition::account(int64_t delta) {
  queued_bytes_ = uint64_t(int64_t(queued_bytes_) + delta);
  if (queued_bytes_ > max_queued_bytes_) max_queued_bytes_ = queued_bytes_;
}

void ResultPartition::broadcast_element(FrameKind kind, int64_t value) {
  for (size_t c = 0; c < ch_.size(); ++c) {
    flush(int(c));
    auto& ch = ch_[c];
    enqueue(int(c), encode_element(ch.id, ch.next_sequence++, kind, value));
  }
}

/// Staged behind the channel's records, not flushed: it goes with them when the buffer is full
/// or the buffer timeout passes (as in Flink), instead of costing a frame and a credit.
void ResultPartition::watermark(int64_t wm) {
  for (size_t c = 0; c < ch_.size(); ++c) {
    if (ch_[c].closed) continue;  // staged after EndOfPartition it would never be sent
    auto& b = ch_[c].staging;
    auto before = staged_bytes(b);
    b.mark_watermark(wm);
    staged(int(c), before);
  }
}
void ResultPartition::stream_status(bool idle) { broadcast_element(FrameKind::status, idle ? 1 : 0); }
void ResultPartition::end_of_data() { broadcast_element(FrameKind::end_of_data, 0); }

void ResultPartition::barrier(int64_t id, bool aligned_only) {
  for (size_t c = 0; c < ch_.size(); ++c) {
    flush(int(c));
    auto& ch = ch_[c];
    if (ch.closed) continue;
    ch.barrier_id = id;
    ch.barrier_index = ch.queue.size();
    enqueue(int(c), encode_barrier(ch.id, ch.next_sequence++, id, aligned_only));
  }
}

void ResultPartition::priority_barrier(int64_t id, std::vector<ChannelRecords>& out) {
  for (size_t c = 0; c < ch_.size(); ++c) {
    flush(int(c));
    auto& ch = ch_[c];
    if (ch.closed) continue;
    ChannelRecords taken{ch.id, {}};
    for (const auto& f : ch.queue) append_records(FrameView(f), 0, taken);
    if (!taken.records.empty()) out.push_back(std::move(taken));
    send_(ch.id, uint32_t(ch.queue.size()), encode_priority_barrier(ch.id, id));
  }
}

void ResultPartition::overtake_barrier(int64_t id, std::vector<ChannelRecords>& out) {
  for (auto& ch : ch_) {
    if (ch.barrier_id != id) continue;
    ChannelRecords taken{ch.id, {}};
    for (size_t i = 0; i < ch.barrier_index; ++i) append_records(FrameView(ch.queue[i]), 0, taken);
    if (!taken.records.empty()) out.push_back(std::move(taken));
    ch.barrier_id = -1;
    send_(ch.id, uint32_t(ch.queue.size()), encode_priority_barrier(ch.id, id));
  }
}

bool ResultPartition::barrier_queued(int64_t id) const {
  for (const auto& ch : ch_)
    if (ch.barrier_id == id) return true;
  return false;
}

int ResultPartition::find_channel(const ChannelId& id) const {
  for (size_t c = 0; c < ch_.size(); ++c)
    if (ch_[c].id == id) return int(c);
  return -1;
}

void ResultPartition::replay(const ChannelRecords& in) {
  int c = find_channel(in.channel);
  if (c < 0) throw FrameError("restored in-flight data of " + in.channel.describe() + " has no such output channel");
  for (const auto& [ts, bytes] : in.records)
    stage(c, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), ts);
}

void ResultPartition::end_partition() {
  for (size_t c = 0; c < ch_.size(); ++c) {
    auto& ch = ch_[c];
    if (ch.closed) continue;
    flush(int(c));
    ch.closed = true;
    enqueue(int(c), encode_element(ch.id, ch.next_sequence++, FrameKind::end_of_partition));
  }
}

void ResultPartition::flush_all() {
  for (int c : staged_) {
    flush(c);
    listed_[size_t(c)] = false;
  }
  staged_.clear();
}

void ResultPartition::on_credit(int ch, uint32_t credits) {
  ch_[size_t(ch)].credits += credits;
  send_ready(ch);
}

bool ResultPartition::all_sent() const {
  for (const auto& c : ch_)
    if (!c.closed || !c.queue.empty() || !c.staging.empty()) return false;
  return true;
}

uint64_t ResultPartition::queued_buffers() const {
  uint64_t n = 0;
  for (const auto& c : ch_) n += c.queue.size() + (c.staging.empty() ? 0 : 1);
  return n;
}

ChannelProbe ResultPartition::channel_probe(int ch) const {
  const auto& c = ch_[size_t(ch)];
  ChannelProbe p;
  p.edge = int(c.id.edge);
  p.peer_subtask = int(c.id.consumer);
  p.credits = c.credits;
  p.queued_buffers = uint32_t(c.queue.size()) + (c.staging.empty() ? 0 : 1);
  for (const auto& f : c.queue) p.queued_bytes += f.size() * 8;
  p.sequence = c.next_sequence;
  p.blocked = full_ && c.queue.size() >= queue_limit_;
  p.closed = c.closed;
  return p;
}

uint64_t ResultPartition::credits() const {
  uint64_t n = 0;
  for (const auto& c : ch_) n += c.credits;
  return n;
}

}  // namespace sluice::runtime
