// actors/credit.cpp — the input gate's credit state machine.
#include "credit.hpp"

namespace sluice::runtime {

InputCredit::InputCredit(int channels, uint32_t exclusive, uint32_t floating)
    : ch_(size_t(channels)), exclusive_(exclusive), floating_total_(floating), pool_(floating) {}

std::vector<Grant> InputCredit::start() {
  std::vector<Grant> out;
  for (size_t i = 0; i < ch_.size(); ++i) {
    ch_[i].outstanding = exclusive_;
    out.push_back({int(i), exclusive_});
  }
  return out;
}

bool InputCredit::on_frame(int ch, uint32_t backlog, std::vector<Grant>& out) {
  auto& c = ch_[size_t(ch)];
  if (c.outstanding == 0) return false;
  --c.outstanding;
  ++c.queued;
  c.backlog = backlog;
  lend_to(ch, out);
  return true;
}

void InputCredit::on_consumed(int ch, std::vector<Grant>& out) {
  auto& c = ch_[size_t(ch)];
  --c.queued;
  // The freed buffer goes back to the gate when it was a floating one the channel no longer
  // needs (or the channel is blocked); otherwise it is granted to the sender again.
  if (c.floating > 0 && (c.blocked || c.floating > c.backlog)) {
    --c.floating;
    ++pool_;
    lend(out);
  } else {
    ++c.outstanding;
    out.push_back({ch, 1});
  }
}

void InputCredit::block(int ch) { ch_[size_t(ch)].blocked = true; }

void InputCredit::unblock(int ch, std::vector<Grant>& out) {
  ch_[size_t(ch)].blocked = false;
  lend_to(ch, out);
}

void InputCredit::lend_to(int ch, std::vector<Grant>& out) {
  auto& c = ch_[size_t(ch)];
  uint32_t n = 0;
  while (!c.blocked && pool_ > 0 && c.floating < c.backlog) {
    --pool_;
    ++c.floating;
    ++c.outstanding;
    ++n;
  }
  if (n) out.push_back({ch, n});
}

void InputCredit::lend(std::vector<Grant>& out) {
  for (size_t k = 0; k < ch_.size() && pool_ > 0; ++k) {
    auto i = (next_ + k) % ch_.size();
    lend_to(int(i), out);
  }
  next_ = ch_.empty() ? 0 : (next_ + 1) % ch_.size();
}

uint64_t InputCredit::total_outstanding() const {
  uint64_t n = 0;
  for (const auto& c : ch_) n += c.outstanding;
  return n;
}

uint64_t InputCredit::total_queued() const {
  uint64_t n = 0;
  for (const auto& c : ch_) n += c.queued;
  return n;
}

std::string InputCredit::check() const {
  uint32_t lent = 0;
  for (size_t i = 0; i < ch_.size(); ++i) {
    const auto& c = ch_[i];
    lent += c.floating;
    if (c.queued + c.outstanding != exclusive_ + c.floating)
      return "channel " + std::to_string(i) + " holds " + std::to_string(c.queued) +
             " queued + " + std::to_string(c.outstanding) + " outstanding buffers but owns " +
             std::to_string(exclusive_ + c.floating);
  }
  if (lent + pool_ != floating_total_)
    return "floating buffers not conserved: " + std::to_string(lent) + " lent + " +
           std::to_string(pool_) + " pooled != " + std::to_string(floating_total_);
  return {};
}

}  // namespace sluice::runtime

