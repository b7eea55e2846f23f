// actors/partition.hpp — the sender side of an edge: per-channel staging, explicit output queues, credits, sequence numbers.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "actors/frame.hpp"
#include "actors/lazy_queue.hpp"
#include "sluice/config.hpp"
#include "sluice/probe.hpp"
#include "sluice/detail/record_io.hpp"

namespace sluice::runtime {

/// Counts the reasons a task cannot take more input right now; shared by its partitions
/// and operators. Zero means the task may consume.
struct Availability {
  int full_partitions = 0;
  int unavailable_operators = 0;
  bool ok() const { return full_partitions == 0 && unavailable_operators == 0; }
};

/// One subtask's output for one exchange. Records are staged per channel and cut into
/// frames of at most `buffer_size` encoded bytes; frames wait in the channel's output queue
/// until the consumer grants a credit. Each channel may queue `output_queue_buffers` frames,
/// and beyond them take from `output_floating_buffers` shared by all channels; a channel at
/// its own limit when none of those are left is full, and so is the partition: its task stops
/// consuming (backpressure).
class ResultPartition final : public detail::RecordPartition {
 public:
  /// Sends a frame to the consumer of a channel; `backlog` is what stays queued behind it.
  using SendFn = std::function<void(const ChannelId&, uint32_t backlog, FrameBuffer&&)>;

  ResultPartition(uint32_t edge, int producer, std::vector<int> consumers,
                  const ExecutionConfig& config, Availability& availability, SendFn send);

  // RecordPartition (called by the typed network writer)
  int channel_count() const override { return int(ch_.size()); }
  std::vector<uint8_t>& begin_record(int channel) override;
  void end_record(int channel, int64_t timestamp) override;
  void watermark(int64_t wm) override;
  void end_of_data() override;
  void stream_status(bool idle) override;

  // Checkpoint barriers (docs/checkpoints.md).
  /// Queues barrier `id` behind everything staged and queued, on every channel (aligned);
  /// `aligned_only` for a savepoint's, which receivers align in every mode.
  void barrier(int64_t id, bool aligned_only = false);
  /// Sends barrier `id` on every channel at once, ahead of queued frames and without
  /// credit (unaligned); appends the records it overtook, staged ones included, to `out`.
  void priority_barrier(int64_t id, std::vector<ChannelRecords>& out);
  /// Turns barrier `id`, where still queued, into a priority barrier (alignment timeout);
  /// appends the records queued ahead of it to `out`. The queued one is sent later and
  /// ignored by the receiver, which has seen the barrier by then.
  void overtake_barrier(int64_t id, std::vector<ChannelRecords>& out);
  /// Whether barrier `id` still waits in some channel's queue.
  bool barrier_queued(int64_t id) const;
  /// Restore: stages records persisted by an unaligned checkpoint ahead of any new output.
  void replay(const ChannelRecords& in);

  /// Closes every channel with EndOfPartition (after the task's operators closed).
  void end_partition();
  /// Turns partly filled buffers into frames (buffer timeout).
  void flush_all();
  /// The consumer of channel `ch` granted `credits` buffers.
  void on_credit(int ch, uint32_t credits);
  /// Every frame, EndOfPartition included, has been sent.
  bool all_sent() const;

  /// Sees each record's bytes as it is staged, with its channel (-1: every channel) and
  /// timestamp: the console's trace of a source. Empty: none (the default).
  using Tap = std::function<void(int channel, const uint8_t* bytes, size_t size, int64_t timestamp)>;
  void set_tap(Tap tap) { tap_ = std::move(tap); }

  const ChannelId& channel_id(int ch) const { return ch_[size_t(ch)].id; }
  uint64_t records_out() const { return records_out_; }
  uint64_t bytes_out() const { return bytes_out_; }
  uint64_t queued_buffers() const;
  uint64_t queued_bytes() const { return queued_bytes_; }
  uint64_t max_queued_bytes() const { return max_queued_bytes_; }
  uint64_t credits() const;
  /// Channel `ch` as the console shows it: credits, queued frames and bytes, the next sequence
  /// number, full (the task cannot emit) and closed. The peer fields are left to the caller.
  ChannelProbe channel_probe(int ch) const;

 private:
  Tap tap_;
  struct Channel {
    ChannelId id;
    RecordBatch staging;
    LazyQueue<FrameBuffer> queue;
    uint32_t credits = 0;
    uint64_t next_sequence = 0;
    bool closed = false;
    int64_t barrier_id = -1;    // an in-band barrier still in `queue`
    size_t barrier_index = 0;   // its position there
  };
  int find_channel(const ChannelId& id) const;
  void stage(int ch, const uint8_t* bytes, size_t n, int64_t ts);
  /// Channel `ch`'s staging grew from `before` bytes (encoded bound): lists and accounts it,
  /// and frames it once it fills the buffer.
  void staged(int ch, size_t before);
  /// Lists `ch` for flush_all (which then walks only the channels holding staged records).
  void list_staged(int ch) {
    if (!listed_[size_t(ch)]) listed_[size_t(ch)] = true, staged_.push_back(ch);
  }
  void flush(int ch);
  /// Flushes every channel and queues an event frame behind its records.
  void broadcast_element(FrameKind kind, int64_t value);
  void enqueue(int ch, FrameBuffer&& frame);
  void send_ready(int ch);
  void account(int64_t delta);

  std::vector<Channel> ch_;
  std::vector<int> staged_;         // channels whose staging may hold records, each once
  std::vector<bool> listed_;        // by channel: in staged_
  uint32_t buffer_size_;
  /// Queue lengths moved: recounts whether the partition is full.
  void track(size_t before, size_t after);

  uint32_t queue_limit_;
  uint32_t floating_;
  int64_t at_limit_ = 0;       // channels whose queue holds queue_limit_ frames or more
  int64_t floating_used_ = 0;  // frames queued beyond queue_limit_, over all channels
  bool full_ = false;
  Availability* availability_;
  SendFn send_;
  std::vector<uint8_t> broadcast_scratch_;
  size_t record_start_ = 0;
  uint64_t records_out_ = 0;
  uint64_t bytes_out_ = 0;
  uint64_t queued_bytes_ = 0;
  uint64_t max_queued_bytes_ = 0;
};

}  // namespace sluice::runtime
