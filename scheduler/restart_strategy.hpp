// scheduler/restart_strategy.hpp — a job's restart strategy as a state machine: whether and when a failed job runs again, time passed in.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>

#include "sluice/config.hpp"

namespace sluice::scheduler {

/// One job's restart strategy (the setting, RestartStrategy) applied to its failures.
class RestartStrategyState {
 public:
  explicit RestartStrategyState(RestartStrategy s) : s_(s) {}
  /// An attempt failed at `now_ms`: the delay before the next attempt, or nothing when the job fails.
  std::optional<std::chrono::milliseconds> next(int64_t now_ms);
  /// Restarts granted so far.
  int restarts() const { return restarts_; }

 private:
  RestartStrategy s_;
  int restarts_ = 0;
  std::deque<int64_t> failures_;  // failure-rate: failures within the interval
};

}  // namespace sluice::scheduler
