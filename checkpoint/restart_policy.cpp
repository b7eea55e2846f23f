// checkpoint/restart_policy.cpp — the restart strategies' decisions.
#include "restart_policy.hpp"

#include <algorithm>

namespace sluice::checkpoint {

std::optional<std::chrono::milliseconds> RestartPolicy::next(int64_t now_ms) {
  using K = RestartStrategy::Kind;
  switch (s_.kind) {
    case K::none: return std::nullopt;
    case K::fixed_delay:
      if (restarts_ >= s_.attempts) return std::nullopt;
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
      if (int(failures_.size()) > s_.attempts) return std::nullopt;
      ++restarts_;
      return s_.delay;
  }
  return std::nullopt;
}

}  // namespace sluice::checkpoint
