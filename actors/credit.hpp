// actors/credit.hpp — the receiver's credit state machine of one input gate: exclusive and floating buffers, backlog, blocking.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice::runtime {

/// Credits to announce to the sender of one channel.
struct Grant {
  int channel;
  uint32_t credits;
};

/// Buffer accounting of an input gate, as Flink's credit-based flow control: each channel
/// owns `exclusive` buffers, and the gate lends its `floating` buffers to channels whose
/// senders announce a backlog. Every buffer a channel owns is either holding a received
/// frame (queued) or granted to the sender as a credit (outstanding), so a sender can never
/// send more than the receiver can hold. No CAF, no I/O: decisions come back as grants.
class InputCredit {
 public:
  InputCredit(int channels, uint32_t exclusive, uint32_t floating);

  /// The initial credits: every channel's exclusive buffers.
  std::vector<Grant> start();
  /// A frame arrived on `ch`; the sender has `backlog` more frames queued for it.
  /// Returns false (and changes nothing) when the sender had no credit: a protocol breach.
  bool on_frame(int ch, uint32_t backlog, std::vector<Grant>& out);
  /// A frame of `ch` was consumed and its buffer is free again.
  void on_consumed(int ch, std::vector<Grant>& out);
  /// Stops lending floating buffers to `ch` (aligned checkpoint: the channel is not being
  /// consumed). Its sender stops once its outstanding credits are used.
  void block(int ch);
  void unblock(int ch, std::vector<Grant>& out);

  int channels() const { return int(ch_.size()); }
  uint32_t queued(int ch) const { return ch_[size_t(ch)].queued; }
  uint32_t outstanding(int ch) const { return ch_[size_t(ch)].outstanding; }
  uint32_t floating_held(int ch) const { return ch_[size_t(ch)].floating; }
  /// Frames the sender of `ch` last announced it has queued.
  uint32_t backlog(int ch) const { return ch_[size_t(ch)].backlog; }
  bool blocked(int ch) const { return ch_[size_t(ch)].blocked; }
  uint32_t floating_available() const { return pool_; }
  /// Buffers the gate can hold at most: channels x exclusive + floating.
  uint32_t capacity() const { return uint32_t(ch_.size()) * exclusive_ + floating_total_; }
  uint64_t total_outstanding() const;
  uint64_t total_queued() const;
  /// Checks the invariants (each channel within its buffers; floating buffers conserved);
  /// returns a description of the first breach, empty when all hold.
  std::string check() const;

 private:
  struct Channel {
    uint32_t queued = 0;
    uint32_t outstanding = 0;
    uint32_t floating = 0;
    uint32_t backlog = 0;
    bool blocked = false;
  };
  /// Lends floating buffers to channels whose backlog exceeds what they hold.
  void lend(std::vector<Grant>& out);
  void lend_to(int ch, std::vector<Grant>& out);

  std::vector<Channel> ch_;
  uint32_t exclusive_;
  uint32_t floating_total_;
  uint32_t pool_;
  size_t next_ = 0;  // round-robin start for lending
};

}  // namespace sluice::runtime
