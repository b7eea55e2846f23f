// tests/nexmark/test_stateful_queries.cpp — q3-q12 jobs against their COST loops.
#include <algorithm>
#include <filesystem>
#include <catch2/catch.hpp>
#include <memory>
#include <sluice/sluice.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cost.hpp"
#include "cost_stateful.hpp"
#include "hand_made.hpp"
#include "queries.hpp"
#include "support/temp_dir.hpp"

using namespace sluice::nexmark;
using namespace sluice::nexmark::hand_made;

namespace {

// Events of the generated stream per engine run: the default run keeps the whole file near a
// minute on two cores; the slow set runs the million on both backends.
#ifdef SLUICE_SLOW_TESTS
constexpr int64_t heap_events = 1'000'000;
constexpr int64_t rocksdb_events = 1'000'000;
#else
constexpr int64_t heap_events = 300'000;
constexpr int64_t rocksdb_events = 300'000;
#endif

std::vector<std::string> sorted_values(const sluice::CollectSink<std::string>& sink) {
  std::vector<std::string> rows = sink.collected()->values();
  std::sort(rows.begin(), rows.end());
  return rows;
}

std::vector<std::string> engine_rows(Query query, int64_t events, const EngineOptions& engine) {
  SourceOptions source;
  source.stream.max_events = events;
  sluice::CollectSink<std::string> sink;
  run_query(query, source, engine, sink);
  return sorted_values(sink);
}

// The engine's rows for `query` over the generated stream equal the COST loop's, at
// parallelism 1 and 4, on the heap and on the RocksDB backend.
void check_against_cost(Query query) {
  test_support::TempDir dir;
  struct Backend {
    const char* name;
    sluice::StateBackendKind kind;
    int64_t events;
  };
  const Backend backends[] = {{"heap", sluice::StateBackendKind::heap, heap_events},
                              {"rocksdb", sluice::StateBackendKind::rocksdb, rocksdb_events}};
  for (const Backend& backend : backends) {
    GeneratorConfig stream;
    stream.max_events = backend.events;
    const std::vector<std::string> expected = run_cost(query, stream);
    REQUIRE_FALSE(expected.empty());
    for (const int parallelism : {1, 4}) {
      INFO(query_name(query) << " over " << backend.events << " events, " << backend.name
                             << " state, parallelism " << parallelism);
      EngineOptions engine;
      engine.parallelism = parallelism;
      engine.state_backend = backend.kind;
      engine.state_dir = dir.file("state");
      const std::vector<std::string> rows = engine_rows(query, backend.events, engine);
      CHECK(rows.size() == expected.size());
      CHECK(rows == expected);
    }
  }
}

// Runs `query` over hand-made `events` at `parallelism`: timestamps from the events' dateTime,
// watermarks bounded by an hour of out-of-orderness (no event of these tests is late), the
// processing time fixed by `clock`.
std::vector<std::string> engine_rows_on(Query query, const std::vector<Event>& events,
                                        int parallelism,
                                        std::shared_ptr<const sluice::ProcessingClock> clock) {
  sluice::StreamEnvironment env;
  env.set_parallelism(parallelism);
  env.config().clock = std::move(clock);
  auto stream = env.from_collection(events).assign_timestamps_and_watermarks(
      sluice::WatermarkStrategy<Event>::for_bounded_out_of_orderness(std::chrono::hours(1))
          .with_timestamp_assigner([](const Event& event, int64_t) { return event_time(event); }));
  sluice::CollectSink<std::string> sink;
  add_query(query, stream).sink_to(sink);
  env.execute("hand-made " + std::string(query_name(query)));
  return sorted_values(sink);
}

// The engine's rows for hand-made `events`, in order and reversed, at parallelism 1 and 2,
// equal `expected` (the COST loop's).
void check_hand_made(Query query, const std::vector<Event>& events,
                     const std::vector<std::string>& expected) {
  REQUIRE_FALSE(expected.empty());
  const auto clock = std::make_shared<sluice::ManualClock>(base);
  for (const auto& input : {events, reversed(events)}) {
    for (const int parallelism : {1, 2}) {
      INFO(query_name(query) << " at parallelism " << parallelism
                             << (&input == &events ? "" : ", reversed"));
      CHECK(engine_rows_on(query, input, parallelism, clock) == expected);
    }
  }
}

}  // namespace

TEST_CASE("q3 on the engine equals its COST loop", "[nexmark][stateful][job]") {
  check_against_cost(Query::q3);
}

TEST_CASE("q4 on the engine equals its COST loop", "[nexmark][stateful][job]") {
  check_against_cost(Query::q4);
}

TEST_CASE("q5 on the engine equals its COST loop", "[nexmark][stateful][job]") {
  check_against_cost(Query::q5);
}

TEST_CASE("q7 on the engine equals its COST loop", "[nexmark][stateful][job]") {
  check_against_cost(Query::q7);
}

TEST_CASE("q8 on the engine equals its COST loop", "[nexmark][stateful][job]") {
  check_against_cost(Query::q8);
}

TEST_CASE("q11 on the engine equals its COST loop", "[nexmark][stateful][job]") {
  check_against_cost(Query::q11);
}

TEST_CASE("q12 on the engine equals its COST loop with the stepped clock",
          "[nexmark][stateful][job]") {
  check_against_cost(Query::q12);
}

// Issue 15: the same queries in BATCH mode, every exchange blocking (partition files) and
// each task starting once its producers finished. q12 is refused (its stepped clock needs the
// source and the windows running at once).
TEST_CASE("BATCH: q0-q5, q7, q8 and q11 run stage by stage with their COST loops' rows", "[nexmark][batch][job]") {
  test_support::TempDir dir;
  GeneratorConfig stream;
  stream.max_events = heap_events;
  for (Query query : all_queries()) {
    if (query == Query::q12) continue;
    const std::vector<std::string> expected = run_cost(query, stream);
    REQUIRE_FALSE(expected.empty());
    for (const int parallelism : {1, 4}) {
      INFO(query_name(query) << " over " << heap_events << " events in BATCH at parallelism " << parallelism);
      EngineOptions engine;
      engine.parallelism = parallelism;
      engine.execution_mode = sluice::ExecutionMode::batch;
      engine.state_dir = dir.file("state");
      const std::vector<std::string> rows = engine_rows(query, heap_events, engine);
      CHECK(rows.size() == expected.size());
      CHECK(rows == expected);
    }
  }
  // Every job's partition directory went with it.
  size_t left = 0;
  if (std::filesystem::exists(dir.file("state")))
    for (const auto& e : std::filesystem::directory_iterator(dir.file("state")))
      left += e.path().filename().string().rfind("sluice-batch-", 0) == 0;
  CHECK(left == 0);
  EngineOptions engine;
  engine.execution_mode = sluice::ExecutionMode::batch;
  CHECK_THROWS_WITH(engine_rows(Query::q12, 1000, engine), Catch::Contains("q12 runs in streaming mode only"));
}

TEST_CASE("the stateful jobs handle the COST loops' hand-made edge cases",
          "[nexmark][stateful][job]") {
  check_hand_made(Query::q3, q3_events(), cost_q3(q3_events()));
  check_hand_made(Query::q4, q4_events(), cost_q4(q4_events()));
  check_hand_made(Query::q5, q5_alignment_events(), cost_q5(q5_alignment_events()));
  check_hand_made(Query::q7, q7_events(), cost_q7(q7_events()));
  check_hand_made(Query::q8, q8_events(), cost_q8(q8_events()));
  check_hand_made(Query::q11, q11_events(), cost_q11(q11_events()));
}

TEST_CASE("q12 windows by the job's processing-time clock", "[nexmark][stateful][job]") {
  // A clock that stands still puts every bid into one window, whatever its dateTime.
  const std::vector<Event> events = q11_events();
  const auto clock = std::make_shared<sluice::ManualClock>(base + 4321);
  const std::vector<std::string> expected =
      cost_q12(events, [](const Event&) { return base + 4321; });
  for (const int parallelism : {1, 2}) {
    CHECK(engine_rows_on(Query::q12, events, parallelism, clock) == expected);
  }
}

TEST_CASE("the stepped clock moves only when every reader waits and the job caught up",
          "[nexmark][stateful]") {
  const auto counts_bids = [](const Event& event) { return event.kind == Event::Kind::bid; };
  SteppedClock clock(10'000, counts_bids);
  clock.join(0, 2);
  CHECK_FALSE(clock.admit(0, base + 5));  // reader 1 has not joined
  clock.join(1, 2);
  CHECK_FALSE(clock.admit(1, base + 12'000));  // reader 0 waits at base, reader 1 at base + 10 s
  CHECK(clock.admit(0, base + 5));
  CHECK(clock.now() == base);
  clock.emitted(0, bid(1, 1, 1, base + 5));
  clock.emitted(0, person(1, "P", "c", "OR", base + 6));  // not counted
  clock.emitted(1, bid(2, 1, 1, base + 7));
  CHECK(clock.admit(0, base + 9999));
  CHECK_FALSE(clock.admit(0, base + 10'000));  // both wait, but two bids are not taken yet
  CHECK_FALSE(clock.admit(1, base + 12'000));
  std::thread([&] { clock.taken(); }).join();  // taken on other threads (the window subtasks)
  CHECK_FALSE(clock.admit(1, base + 12'000));  // one bid is still not taken
  std::thread([&] { clock.taken(); }).join();
  CHECK(clock.admit(1, base + 12'000));
  CHECK(clock.now() == base + 10'000);
  CHECK(clock.admit(0, base + 10'000));
  CHECK(clock.admit(0, base + 3));  // behind the clock: let through
  clock.ended(0);
  CHECK(clock.now() == base + 10'000);
  CHECK(clock.admit(1, base + 30'000));  // the only reader left: the clock skips the empty step
  CHECK(clock.now() == base + 30'000);
}
