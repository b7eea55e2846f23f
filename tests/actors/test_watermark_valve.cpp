// tests/actors/test_watermark_valve.cpp — an input's watermark is the minimum over active, unfinished channels.
#include <catch2/catch.hpp>

#include "actors/watermark_valve.hpp"

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

TEST_CASE("an idle channel does not hold the watermark back; an active one does again", "[watermark]") {
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
