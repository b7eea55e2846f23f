// actors/watermark_valve.hpp — merges the watermarks of an input's channels: the minimum over active, unfinished channels.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "sluice/element.hpp"

namespace sluice::runtime {

/// An input's watermark is the minimum over its channels that are active and have not
/// ended; an idle channel does not hold it back. Emits only increases.
class WatermarkValve {
 public:
  explicit WatermarkValve(int channels) : ch_(size_t(channels)) { recount(); }

  /// A watermark arrived on `ch`; returns the input's new watermark if it advanced.
  /// Amortized O(1): the channels are scanned again only when the last one holding the
  /// minimum moves on (once a round when every channel advances), not on every watermark.
  std::optional<int64_t> on_watermark(int ch, int64_t wm) {
    auto& c = ch_[size_t(ch)];
    if (wm <= c.watermark) return std::nullopt;
    bool held_min = active(c) && c.watermark == min_;
    c.watermark = wm;
    if (held_min && --at_min_ == 0) recount();
    return emit();
  }
  /// The channel went idle (true) or active again (false).
  std::optional<int64_t> on_status(int ch, bool idle) {
    ch_[size_t(ch)].idle = idle;
    recount();
    return emit();
  }
  /// The channel ended: it no longer holds the watermark back.
  std::optional<int64_t> on_end(int ch) {
    auto& c = ch_[size_t(ch)];
    if (c.ended) return std::nullopt;
    bool was_active = active(c);
    c.ended = true;
    if (!was_active) return std::nullopt;
    --active_;
    if (c.watermark == min_ && --at_min_ == 0) recount();
    return emit();
  }
  int64_t current() const { return current_; }

 private:
  struct Channel {
    int64_t watermark = min_watermark;
    bool idle = false;
    bool ended = false;
  };
  static bool active(const Channel& c) { return !c.idle && !c.ended; }
  /// The minimum over active channels, how many hold it, and how many are active.
  void recount() {
    min_ = max_watermark;
    at_min_ = 0;
    active_ = 0;
    for (const auto& c : ch_) {
      if (!active(c)) continue;
      ++active_;
      if (c.watermark < min_) min_ = c.watermark, at_min_ = 0;
      if (c.watermark == min_) ++at_min_;
    }
  }
  std::optional<int64_t> emit() {
    if (active_ == 0 || min_ <= current_) return std::nullopt;
    current_ = min_;
    return min_;
  }
  std::vector<Channel> ch_;
  int64_t min_ = max_watermark;
  size_t at_min_ = 0;
  size_t active_ = 0;
  int64_t current_ = min_watermark;
};

}  // namespace sluice::runtime
