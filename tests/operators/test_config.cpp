// tests/operators/test_config.cpp — durations, sizes, checkpointing modes, restart strategies as the CLI writes them; graph sentences.
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

TEST_CASE("checkpointing modes parse, a timeout with its alignment timeout", "[config]") {
  CheckpointConfig c;
  CHECK(c.mode == CheckpointingMode::aligned);
  parse_checkpointing_mode("unaligned", c);
  CHECK(c.mode == CheckpointingMode::unaligned);
  parse_checkpointing_mode("at-least-once", c);
  CHECK(c.mode == CheckpointingMode::at_least_once);
  parse_checkpointing_mode("timeout:300ms", c);
  CHECK(c.mode == CheckpointingMode::aligned_with_timeout);
  CHECK(c.alignment_timeout == 300ms);
  parse_checkpointing_mode("timeout:2s", c);
  CHECK(c.alignment_timeout == 2000ms);
  parse_checkpointing_mode("aligned", c);
  CHECK(c.mode == CheckpointingMode::aligned);
}

TEST_CASE("a bad checkpointing mode is refused with a sentence naming it, the config unchanged",
          "[config]") {
  CheckpointConfig c;
  CHECK_THROWS_WITH(parse_checkpointing_mode("exactly-once", c),
                    "'exactly-once' is not a checkpointing mode (use aligned, unaligned, "
                    "timeout:DURATION or at-least-once)");
  CHECK_THROWS_WITH(parse_checkpointing_mode("", c),
                    Catch::StartsWith("'' is not a checkpointing mode"));
  CHECK_THROWS_WITH(parse_checkpointing_mode("Aligned", c), Catch::Contains("'Aligned'"));
  CHECK_THROWS_WITH(parse_checkpointing_mode("timeout:soon", c),
                    "'timeout:soon' is not a checkpointing mode: 'soon' is not a duration (write e.g. "
                    "300ms, 2s, 5m)");
  CHECK_THROWS_WITH(parse_checkpointing_mode("timeout:", c),
                    Catch::StartsWith("'timeout:' is not a checkpointing mode"));
  CHECK_THROWS_WITH(parse_checkpointing_mode("timeout:3weeks", c),
                    Catch::StartsWith("'timeout:3weeks' is not a checkpointing mode") &&
                        Catch::Contains("unit 'weeks'"));
  CHECK(c.mode == CheckpointingMode::aligned);
  CHECK(c.alignment_timeout == 0ms);
}

TEST_CASE("restart strategies parse with their numbers", "[config]") {
  RestartStrategy defaults;
  CHECK(defaults.kind == RestartStrategy::Kind::fixed_delay);

  CHECK(parse_restart_strategy("none").kind == RestartStrategy::Kind::none);

  auto r = parse_restart_strategy("fixed-delay:5:2s");
  CHECK(r.kind == RestartStrategy::Kind::fixed_delay);
  CHECK(r.limit == 5);
  CHECK(r.delay == 2000ms);

  r = parse_restart_strategy("exponential-delay:100ms:1m");
  CHECK(r.kind == RestartStrategy::Kind::exponential_delay);
  CHECK(r.delay == 100ms);
  CHECK(r.max_delay == 60000ms);
  CHECK(parse_restart_strategy("exponential:100ms:1m").kind == RestartStrategy::Kind::exponential_delay);  // old spelling

  r = parse_restart_strategy("failure-rate:4:5m:10s");
  CHECK(r.kind == RestartStrategy::Kind::failure_rate);
  CHECK(r.limit == 4);
  CHECK(r.interval == 300000ms);
  CHECK(r.delay == 10000ms);

  r = parse_restart_strategy("fixed-delay:0:0");
  CHECK(r.limit == 0);
  CHECK(r.delay == 0ms);
}

TEST_CASE("a bad restart strategy is refused with a sentence naming it", "[config]") {
  const std::string usage =
      "' is not a restart strategy (use none, fixed-delay:RESTARTS:DELAY, "
      "exponential-delay:DELAY:MAX_DELAY or failure-rate:FAILURES:INTERVAL:DELAY)";
  CHECK_THROWS_WITH(parse_restart_strategy("always"), "'always" + usage);
  CHECK_THROWS_WITH(parse_restart_strategy(""), "'" + usage);
  CHECK_THROWS_WITH(parse_restart_strategy("none:1"), "'none:1" + usage);
  CHECK_THROWS_WITH(parse_restart_strategy("fixed-delay:3"), "'fixed-delay:3" + usage);
  CHECK_THROWS_WITH(parse_restart_strategy("failure-rate:3:1m:1s:9"),
                    "'failure-rate:3:1m:1s:9" + usage);
  CHECK_THROWS_WITH(parse_restart_strategy("fixed-delay:three:1s"),
                    "'fixed-delay:three:1s' is not a restart strategy: 'three' is not a count");
  CHECK_THROWS_WITH(parse_restart_strategy("fixed-delay:-1:1s"),
                    "'fixed-delay:-1:1s' is not a restart strategy: '-1' is not a count");
  CHECK_THROWS_WITH(parse_restart_strategy("fixed-delay:3x:1s"),
                    "'fixed-delay:3x:1s' is not a restart strategy: '3x' is not a count");
  CHECK_THROWS_WITH(parse_restart_strategy("fixed-delay:3:soon"),
                    "'fixed-delay:3:soon' is not a restart strategy: 'soon' is not a duration "
                    "(write e.g. 300ms, 2s, 5m)");
  CHECK_THROWS_WITH(parse_restart_strategy("failure-rate:3:1fortnight:1s"),
                    Catch::StartsWith("'failure-rate:3:1fortnight:1s' is not a restart strategy: "
                                      "'1fortnight' has an unknown duration unit"));
  CHECK_THROWS_WITH(parse_restart_strategy("exponential:10s:1s"),
                    "'exponential:10s:1s' is not a restart strategy: the delay 10s is longer than "
                    "the maximum 1s");
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
