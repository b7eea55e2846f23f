// tests/nexmark/test_queries.cpp — q0-q2 jobs against the COST loops; the sinks ending them.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sluice/sluice.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cost.hpp"
#include "queries.hpp"
#include "sinks.hpp"
#include "support/temp_dir.hpp"

using namespace sluice::nexmark;

namespace {

#ifdef SLUICE_SLOW_TESTS
constexpr int64_t test_events = 2'000'000;
#else
constexpr int64_t test_events = 200'000;
#endif

SourceOptions stream_of(int64_t events) {
  SourceOptions options;
  options.stream.max_events = events;
  return options;
}

std::vector<std::string> engine_rows(Query query, const SourceOptions& source, int parallelism) {
  sluice::CollectSink<std::string> sink;
  const auto collected = sink.collected();
  run_query(query, source, parallelism, sink);
  std::vector<std::string> rows = collected->values();
  std::sort(rows.begin(), rows.end());
  return rows;
}

std::string slurp(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string csv_file_text(Query query, const std::vector<std::string>& rows) {
  std::string text(header(query));
  text += '\n';
  for (const std::string& row : rows) text += row + '\n';
  return text;
}

}  // namespace

TEST_CASE("engine q0, q1 and q2 equal their COST loops at parallelism 1 and 4",
          "[nexmark][queries][job]") {
  const SourceOptions source = stream_of(test_events);
  for (const Query query : all_queries()) {
    const std::vector<std::string> expected = run_cost(query, source.stream);
    REQUIRE(!expected.empty());
    for (int parallelism : {1, 4}) {
      INFO(query_name(query) << " at parallelism " << parallelism);
      const std::vector<std::string> rows = engine_rows(query, source, parallelism);
      CHECK(rows.size() == expected.size());
      CHECK(rows == expected);
    }
  }
}

TEST_CASE("the counting sink counts what the COST loop measures", "[nexmark][queries][job]") {
  const SourceOptions source = stream_of(50'000);
  for (const Query query : all_queries()) {
    const CostThroughput cost = measure_cost(query, source.stream);
    CountingSink sink;
    const auto count = sink.count();
    run_query(query, source, 2, sink);
    CHECK(count->rows.load() == cost.rows);
    CHECK(count->bytes.load() == cost.bytes);
    CHECK(cost.rows == run_cost(query, source.stream).size());
  }
}

TEST_CASE("the sorted CSV sink writes one sorted file with a header, atomically",
          "[nexmark][queries][sink]") {
  test_support::TempDir dir;
  const std::string path = dir.file("out/q2.csv");
  const SourceOptions source = stream_of(100'000);
  run_query(Query::q2, source, 4, SortedCsvSink(path, std::string(header(Query::q2))), 1);
  CHECK(slurp(path) == csv_file_text(Query::q2, run_cost(Query::q2, source.stream)));
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

  SECTION("a parallel sorted CSV sink fails the job and writes nothing") {
    const std::string other = dir.file("q0.csv");
    try {
      run_query(Query::q0, source, 2, SortedCsvSink(other, std::string(header(Query::q0))));
      FAIL("the job should have failed");
    } catch (const sluice::JobError& e) {
      CHECK_THAT(e.what(), Catch::Contains("runs at parallelism 1, not 2"));
    }
    CHECK_FALSE(std::filesystem::exists(other));
    CHECK_FALSE(std::filesystem::exists(other + ".tmp"));
  }
}

TEST_CASE("an unwritable output fails the job naming the file", "[nexmark][queries][sink]") {
  test_support::TempDir dir;
  const std::string blocker = dir.file("not-a-directory");
  std::ofstream(blocker) << "x";
  const std::string path = blocker + "/q2.csv";
  CHECK_THROWS_WITH(
      run_query(Query::q2, stream_of(10'000), 1, SortedCsvSink(path, "auction,price"), 1),
      Catch::Contains("q2.csv.tmp"));
}
