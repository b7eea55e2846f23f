// tests/scheduler/test_plan.cpp — chaining rules, exchanges and chaining-independent operator ids.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include "scheduler/plan.hpp"

using namespace sluice;

namespace {
JobGraph word_count_graph(bool chaining, int sink_parallelism) {
  StreamEnvironment env;
  env.set_parallelism(2);
  if (!chaining) env.disable_chaining();
  env.from_collection(std::vector<std::string>{"a b"})
      .flat_map<std::string>([](std::string s, Collector<std::string>& out) { out.collect(s); }, "split")
      .map([](std::string s) { return std::make_pair(s, int64_t(1)); }, "pair")
      .key_by([](const std::pair<std::string, int64_t>& p) { return p.first; })
      .sum("count")
      .sink_to(DiscardSink<std::pair<std::string, int64_t>>())
      .set_parallelism(sink_parallelism);
  return env.graph();
}
}  // namespace

TEST_CASE("forward edges of equal parallelism chain, and key_by and parallelism changes do not", "[plan]") {
  auto g = word_count_graph(true, 1);
  auto p = scheduler::plan(g);
  REQUIRE(p.tasks.size() == 3);
  CHECK(p.tasks[0].name == "Collection Source -> split -> pair");
  CHECK(p.tasks[1].name == "count");
  CHECK(p.tasks[2].name == "Discard Sink");
  REQUIRE(p.exchanges.size() == 2);
  CHECK(p.exchanges[0].partitioning == detail::Partitioning::hash);
  CHECK(p.exchanges[1].partitioning == detail::Partitioning::rebalance);  // 2 -> 1
  CHECK(p.exchanges[1].channels_per_producer() == 1);
  CHECK(p.exchanges[1].channels_per_consumer() == 2);
}

TEST_CASE("equal parallelism forward sink chains onto the keyed operator", "[plan]") {
  auto p = scheduler::plan(word_count_graph(true, 2));
  REQUIRE(p.tasks.size() == 2);
  CHECK(p.tasks[1].name == "count -> Discard Sink");
}

TEST_CASE("disable_chaining gives one task per operator, with the same operator ids", "[plan]") {
  auto chained = scheduler::plan(word_count_graph(true, 2));
  auto unchained = scheduler::plan(word_count_graph(false, 2));
  CHECK(unchained.tasks.size() == 5);
  CHECK(chained.operator_ids == unchained.operator_ids);
  CHECK(unchained.exchanges[0].pointwise());
}

TEST_CASE("a uid fixes the operator id whatever the graph around it", "[plan]") {
  StreamEnvironment a, b;
  a.from_collection(std::vector<int>{1}).map([](int x) { return x; }).uid("m").sink_to(DiscardSink<int>());
  b.from_collection(std::vector<int>{1})
      .filter([](int) { return true; })
      .map([](int x) { return x; })
      .uid("m")
      .sink_to(DiscardSink<int>());
  CHECK(a.graph().operator_ids()[1] == b.graph().operator_ids()[2]);
  CHECK(a.graph().operator_ids()[0] == b.graph().operator_ids()[0]);
  CHECK(a.graph().operator_ids()[2] != b.graph().operator_ids()[3]);
}

TEST_CASE("pipelined regions are the tasks joined by exchanges: one for a connected job, one per independent pipeline",
          "[plan]") {
  auto one = scheduler::plan(word_count_graph(false, 1));
  CHECK(one.regions() == 1);
  CHECK(one.region_of_task == std::vector<int>(one.tasks.size(), 0));

  StreamEnvironment env;
  env.set_parallelism(2);
  env.disable_chaining();
  auto pipeline = [&](const std::string& name) {
    env.from_collection(std::vector<int64_t>{1, 2})
        .name(name)
        .key_by([](int64_t v) { return v; })
        .sum(name + " sum")
        .sink_to(DiscardSink<int64_t>());
  };
  pipeline("a");
  pipeline("b");
  auto two = scheduler::plan(env.graph());
  REQUIRE(two.tasks.size() == 6);
  CHECK(two.regions() == 2);
  // Tasks come in node order: a's three, then b's.
  CHECK(two.region_of_task == std::vector<int>{0, 0, 0, 1, 1, 1});
  CHECK(two.tasks_of_region(1) == std::vector<int>{3, 4, 5});
}

TEST_CASE("BATCH plans blocking exchanges and one region per task, and AUTOMATIC picks it when every source is bounded",
          "[plan][batch]") {
  auto graph_of = [](ExecutionMode mode, int64_t count) {
    StreamEnvironment env;
    env.set_parallelism(2);
    env.config().execution_mode = mode;
    env.from_source<int64_t>(GeneratorSource<int64_t>(count, [](int64_t i) { return i; }), "numbers")
        .key_by([](int64_t v) { return v % 7; })
        .reduce([](int64_t a, int64_t b) { return a + b; }, "sum")
        .sink_to(DiscardSink<int64_t>())
        .set_parallelism(1);
    return env.graph();
  };
  auto streaming = scheduler::plan(graph_of(ExecutionMode::streaming, 100));
  CHECK_FALSE(streaming.batch);
  CHECK(streaming.regions() == 1);
  for (auto mode : {ExecutionMode::batch, ExecutionMode::automatic}) {
    auto g = graph_of(mode, 100);
    g.validate();
    auto p = scheduler::plan(g);
    CHECK(p.batch);
    REQUIRE(p.exchanges.size() == 2);
    for (const auto& x : p.exchanges) CHECK(x.blocking);
    CHECK(p.regions() == int(p.tasks.size()));
  }
  CHECK_FALSE(scheduler::plan(graph_of(ExecutionMode::automatic, -1)).batch);  // an unbounded source
  CHECK_THROWS_WITH(graph_of(ExecutionMode::batch, -1).validate(),
                    Catch::Contains("cannot run in BATCH mode: source 'numbers' is unbounded"));
  CHECK_THROWS_WITH(parse_execution_mode("batchy"), Catch::Contains("'batchy' is not an execution mode"));
}
