// scheduler/restart_strategy.cpp — the restart strategies' decisions: fixed delay, exponential delay, failure rate.
#include "restart_strategy.hpp"

#include <algorithm>

namespace sluice::scheduler {

std::optional<std::chrono::milliseconds> RestartStrategyState::next(int64_t now_ms) {
  using K = RestartStrategy::Kind;
  switch (s_.kind) {
    case K::none: return std::nullopt;
    case K::fixed_delay:
      if (restarts_ >= s_.limit) return std::nullopt;
      ++restarts_;
      return s_.delay;
    case K::exponential_delay: {
      auto d = s_.delay * (int64_t(1) << std::min(restarts_, 30));
      ++restarts_;
      return std::min(d, s_.max_delay);
    }
    case K::failure_rate:
      failures_.push_back(now_ms);
      while (!failures_.empty() && now_ms - failures_.front() > s_.interval.count()) failures_.pop_front();
      if (int(failures_.size()) > s_.limit) return std::nullopt;
      ++restarts_;
      return s_.delay;
  }
  return std::nullopt;
}

}  // namespace sluice::scheduler
