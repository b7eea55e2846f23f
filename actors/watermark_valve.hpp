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
  explicit WatermarkValve(int channels) : ch_(size_t(channels)) {}

  /// A watermark arrived on `ch`; returns the input's new watermark if it advanced.
  std::optional<int64_t> on_watermark(int ch, int64_t wm) {
    auto& c = ch_[size_t(ch)];
    if (wm > c.watermark) c.watermark = wm;
    return advance();
  }
  /// The channel went idle (true) or active again (false).
  std::optional<int64_t> on_status(int ch, bool idle) {
    ch_[size_t(ch)].idle = idle;
    return advance();
  }
  /// The channel ended: it no longer holds the watermark back.
  std::optional<int64_t> on_end(int ch) {
    ch_[size_t(ch)].ended = true;
    return advance();
  }
  int64_t current() const { return current_; }

 private:
  struct Channel {
    int64_t watermark = min_watermark;
    bool idle = false;
    bool ended = false;
  };
  std::optional<int64_t> advance() {
    int64_t m = max_watermark;
    bool any = false;
    for (const auto& c : ch_) {
      if (c.idle || c.ended) continue;
      any = true;
      if (c.watermark < m) m = c.watermark;
    }
    if (!any || m <= current_) return std::nullopt;
    current_ = m;
    return m;
  }
  std::vector<Channel> ch_;
  int64_t current_ = min_watermark;
};

}  // namespace sluice::runtime
