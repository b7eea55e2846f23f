// tests/operators/test_config.cpp — durations and sizes as the CLI writes them; graph validation sentences.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

using namespace sluice;
using namespace std::chrono_literals;

TEST_CASE("durations parse with units, a bare number is milliseconds", "[config]") {
  CHECK(parse_duration("300ms") == 300ms);
  CHECK(parse_duration("2s") == 2000ms);
  CHECK(parse_duration("5m") == 300000ms);
  CHECK(parse_duration("250") == 250ms);
  CHECK_THROWS_WITH(parse_duration("fast"), Catch::Contains("'fast'"));
  CHECK_THROWS_WITH(parse_duration("3 weeks"), Catch::Contains("unit"));
}

TEST_CASE("sizes parse with units", "[config]") {
  CHECK(parse_size("64kb") == 64 * 1024);
  CHECK(parse_size("32MB") == 32u << 20);
  CHECK(parse_size("100") == 100);
  CHECK_THROWS_AS(parse_size("kb"), std::invalid_argument);
}

TEST_CASE("a forward edge between different parallelisms is refused with the operator names", "[graph]") {
  StreamEnvironment env;
  env.set_parallelism(2);
  env.from_collection(std::vector<int>{1, 2, 3})
      .name("numbers")
      .forward()
      .map([](int x) { return x + 1; }, "plus one")
      .set_parallelism(3)
      .sink_to(DiscardSink<int>());
  CHECK_THROWS_WITH(env.execute("bad"), Catch::Contains("'numbers'") && Catch::Contains("'plus one'"));
}

TEST_CASE("a keyed operator above the max parallelism is refused", "[graph]") {
  StreamEnvironment env;
  env.set_parallelism(4).set_max_parallelism(2);
  env.from_collection(std::vector<int>{1})
      .key_by([](int x) { return x; })
      .sum()
      .sink_to(DiscardSink<int>());
  CHECK_THROWS_WITH(env.execute("bad"), Catch::Contains("max parallelism"));
}
