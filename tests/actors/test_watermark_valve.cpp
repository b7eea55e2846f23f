// tests/actors/test_watermark_valve.cpp — an input's watermark is the minimum over active, unfinished channels.
#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <random>
#include <vector>

#include "actors/watermark_valve.hpp"

using sluice::max_watermark;
using sluice::min_watermark;
using sluice::runtime::WatermarkValve;

TEST_CASE("the watermark advances only when the slowest channel does", "[watermark]") {
  WatermarkValve v(3);
  CHECK_FALSE(v.on_watermark(0, 10));
  CHECK_FALSE(v.on_watermark(1, 20));
  CHECK(v.on_watermark(2, 5) == 5);
  CHECK_FALSE(v.on_watermark(2, 4));  // never goes back
  CHECK(v.on_watermark(2, 30) == 10);
  CHECK(v.current() == 10);
}

TEST_CASE("an idle channel does not hold the watermark back, and an active one does again", "[watermark]") {
  WatermarkValve v(2);
  v.on_watermark(0, 100);
  CHECK(v.on_status(1, true) == 100);
  CHECK_FALSE(v.on_status(1, false));  // active again at its old watermark: no regression
  CHECK_FALSE(v.on_watermark(1, 150));
  CHECK(v.current() == 100);
}

TEST_CASE("ended channels stop counting", "[watermark]") {
  WatermarkValve v(2);
  v.on_watermark(0, 7);
  v.on_watermark(1, 3);
  CHECK(v.current() == 3);
  CHECK(v.on_end(1) == 7);
}

// Issue 10, item 10: the valve no longer scans every channel per watermark; it must still
// emit exactly what the minimum over active, unfinished channels says.
TEST_CASE("regression 10: the valve emits what a scan of all channels emits, over random events", "[watermark][regression]") {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    const int n = 1 + int(rng() % 8);
    WatermarkValve valve(n);
    struct C { int64_t wm = min_watermark; bool idle = false, ended = false; };
    std::vector<C> oracle(static_cast<size_t>(n));
    int64_t current = min_watermark;
    for (int step = 0; step < 200; ++step) {
      int ch = int(rng() % uint32_t(n));
      auto& c = oracle[size_t(ch)];
      std::optional<int64_t> got;
      switch (rng() % 6) {
        case 0: got = valve.on_status(ch, c.idle = !c.idle); break;
        case 1: if (rng() % 4 == 0) { c.ended = true; got = valve.on_end(ch); break; } [[fallthrough]];
        default: {
          int64_t wm = int64_t(rng() % 100);
          c.wm = std::max(c.wm, wm);
          got = valve.on_watermark(ch, wm);
        }
      }
      int64_t m = max_watermark;
      bool any = false;
      for (const auto& o : oracle)
        if (!o.idle && !o.ended) any = true, m = std::min(m, o.wm);
      std::optional<int64_t> want;
      if (any && m > current) want = current = m;
      REQUIRE(got == want);
      REQUIRE(valve.current() == current);
    }
  }
}
