// actors/input_gate.hpp — the receiving side of a subtask: an InputGate per incoming exchange, its InputChannels and credits, and the turn order in which channels are read.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "actors/credit.hpp"
#include "actors/frame.hpp"
#include "actors/lazy_queue.hpp"
#include "sluice/probe.hpp"

namespace sluice::detail {
class RecordDecoder;
}
namespace sluice::scheduler {
struct Exchange;
}

namespace sluice::runtime {

/// A frame received on a channel, read in place; records before `cursor` are consumed.
struct InFrame {
  FrameBuffer buffer;
  std::unique_ptr<FrameView> view;
  size_t cursor = 0;  // the next record to read
  size_t mark = 0;    // the next watermark to deliver
};

/// One input channel: the frames of one producer subtask, checked for order and credit,
/// waiting to be read. It knows its producer only by ChannelId; the TaskTransport carries its
/// credits to an actor in this process or to another process, so a channel fed over the
/// network is this same class with frames arriving from there.
class InputChannel {
 public:
  InputChannel(ChannelId id, int index, int flat, int valve_index)
      : id_(id), index_(index), flat_(flat), valve_index_(valve_index) {}

  const ChannelId& id() const { return id_; }
  /// Index within its gate, over all gates of the subtask, and in its input's watermark valve.
  int index() const { return index_; }
  int flat() const { return flat_; }
  int valve_index() const { return valve_index_; }

  LazyQueue<InFrame>& queue() { return queue_; }
  const LazyQueue<InFrame>& queue() const { return queue_; }
  uint64_t queued_bytes() const { return queued_bytes_; }
  /// Held back: an aligned checkpoint's barrier came here and waits for the others.
  bool blocked() const { return blocked_; }
  /// EndOfData came (no more records), and EndOfPartition (nothing more at all).
  bool end_of_data() const { return end_of_data_; }
  bool closed() const { return closed_; }
  /// Marks EndOfData; false when it was marked before.
  bool mark_end_of_data() { return !std::exchange(end_of_data_, true); }
  void mark_closed() { closed_ = true; }

 private:
  friend class InputGates;
  ChannelId id_;
  int index_, flat_, valve_index_;
  LazyQueue<InFrame> queue_;
  uint64_t expected_sequence_ = 0;
  uint64_t queued_bytes_ = 0;
  bool blocked_ = false;
  bool end_of_data_ = false;
  bool closed_ = false;
};

/// The channels of one incoming exchange, their credits and the decoder of their records.
struct InputGate {
  const scheduler::Exchange* exchange = nullptr;
  std::vector<InputChannel> channels;
  std::unique_ptr<InputCredit> credit;
  std::unique_ptr<detail::RecordDecoder> reader;
  int input = 0;   ///< the head operator's input this gate feeds
  int offset = 0;  ///< flat index of channel 0
};

/// Every input gate of one subtask. Frames are checked (channel, order, credit) and queued;
/// channels with a readable frame take turns in a ready list, so picking the next input costs
/// the same at any parallelism. Credits go out through `send_credit` as buffers free up.
class InputGates {
 public:
  using SendCredit = std::function<void(const ChannelId&, uint32_t)>;
  InputGates(int subtask, uint32_t exclusive_buffers, uint32_t floating_buffers, SendCredit send_credit)
      : subtask_(subtask), exclusive_(exclusive_buffers), floating_(floating_buffers), send_(std::move(send_credit)) {}
  InputGates(const InputGates&) = delete;
  InputGates& operator=(const InputGates&) = delete;

  /// Adds the gate of exchange `x` (into this subtask) feeding head input `input`, whose
  /// watermark valve numbers its channels from `valve_offset`.
  InputGate& add(const scheduler::Exchange& x, int input, int valve_offset, std::unique_ptr<detail::RecordDecoder> reader);
  /// Grants every channel its exclusive buffers.
  void start();

  /// A frame from the network or another actor. Returns its channel with the frame queued,
  /// or, for a priority frame (an unaligned barrier, which needs no credit and is not queued),
  /// the channel and nothing queued. Throws FrameError naming the channel when the frame does
  /// not belong here: unknown channel or producer, after EndOfPartition, out of sequence,
  /// without credit, a priority frame that is not a barrier.
  /// `view` reads `buffer`; both are kept with the queued frame.
  std::pair<InputGate*, InputChannel*> accept(uint32_t backlog, std::unique_ptr<FrameView> view, FrameBuffer&& buffer);
  /// The next channel with a readable frame, round robin; a frame partly read comes first (its
  /// channel stays at the front until consume_front).
  std::pair<InputGate*, InputChannel*> next();
  /// Drops the front frame of `c` (read to the end): its buffer goes back as a credit.
  void consume_front(InputGate& gate, InputChannel& c);
  /// Channel `flat` as the console shows it (the peer task is left to the caller).
  ChannelProbe channel_probe(int flat) const;
  /// Holds channel `flat` back (no floating buffers either), and lets it go again.
  void block(int flat);
  void unblock(int flat);

  std::pair<InputGate*, InputChannel*> channel(int flat) { return flat_[size_t(flat)]; }
  InputGate* gate_of_edge(int edge);
  std::deque<InputGate>& gates() { return gates_; }
  const std::deque<InputGate>& gates() const { return gates_; }
  int channels() const { return int(flat_.size()); }
  /// A frame waits on a channel that may be read.
  bool readable() const { return !ready_.empty(); }

  uint64_t bytes_received() const { return bytes_in_; }
  uint64_t queued_bytes() const { return queued_bytes_; }
  uint64_t max_queued_bytes() const { return max_queued_bytes_; }
  uint64_t queued_buffers() const { return queued_buffers_; }

 private:
  void send(const InputGate& gate, const std::vector<Grant>& gs);
  void make_ready(InputChannel& c);

  int subtask_;
  uint32_t exclusive_, floating_;
  SendCredit send_;
  std::deque<InputGate> gates_;  // a deque: channels point into it as gates are added
  std::vector<int> gate_by_edge_;  // by edge id; -1: none
  std::vector<std::pair<InputGate*, InputChannel*>> flat_;
  std::deque<int> ready_;     // flat indices of channels with a queued frame, each once
  std::vector<bool> in_ready_;
  std::vector<Grant> grants_;  // scratch
  uint64_t bytes_in_ = 0, queued_bytes_ = 0, max_queued_bytes_ = 0, queued_buffers_ = 0;
};

}  // namespace sluice::runtime
