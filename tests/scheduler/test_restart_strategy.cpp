// tests/scheduler/test_restart_strategy.cpp — the restart strategies' decisions, time passed in.
#include <catch2/catch.hpp>

#include <chrono>

#include "scheduler/restart_strategy.hpp"

using namespace sluice;
using namespace sluice::scheduler;

TEST_CASE("restart strategies: none, fixed delay, exponential back-off, failure rate", "[restart]") {
  using sluice::parse_restart_strategy;
  using std::chrono::milliseconds;
  RestartStrategyState none(parse_restart_strategy("none"));
  CHECK_FALSE(none.next(0));

  RestartStrategyState fixed(parse_restart_strategy("fixed-delay:2:30ms"));
  CHECK(fixed.next(0) == milliseconds(30));
  CHECK(fixed.next(10) == milliseconds(30));
  CHECK_FALSE(fixed.next(20));
  CHECK(fixed.restarts() == 2);

  RestartStrategyState exponential(parse_restart_strategy("exponential-delay:10ms:50ms"));
  CHECK(exponential.next(0) == milliseconds(10));
  CHECK(exponential.next(0) == milliseconds(20));
  CHECK(exponential.next(0) == milliseconds(40));
  CHECK(exponential.next(0) == milliseconds(50));  // capped
  CHECK(exponential.restarts() == 4);

  RestartStrategyState rate(parse_restart_strategy("failure-rate:2:1s:5ms"));
  CHECK(rate.next(0) == milliseconds(5));
  CHECK(rate.next(400) == milliseconds(5));
  CHECK_FALSE(rate.next(900));  // a third failure within one second
  RestartStrategyState spread(parse_restart_strategy("failure-rate:2:1s:5ms"));
  for (int64_t t = 0; t < 10000; t += 600) CHECK(spread.next(t) == milliseconds(5));  // never two within 1 s of a third
}
