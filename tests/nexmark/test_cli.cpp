// tests/nexmark/test_cli.cpp — `nexmark`: exit statuses, one-line errors, the files it writes.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "cost.hpp"
#include "csv.hpp"
#include "queries.hpp"
#include "support/temp_dir.hpp"

namespace {

struct Run {
  int status;
  std::string out, err;
};

Run nexmark(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const int status = sluice::nexmark::cli_main(args, out, err);
  return {status, out.str(), err.str()};
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream file(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);
  return lines;
}

// One line, ending in a line break: the "one sentence" the CLI promises.
void check_one_line(const std::string& err) {
  CHECK(!err.empty());
  CHECK(err.find('\n') == err.size() - 1);
}

}  // namespace

TEST_CASE("nexmark run refuses an unknown query with status 2", "[nexmark][cli]") {
  const Run r = nexmark({"run", "--query", "q99", "--events", "1000"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("unknown query 'q99'"));
  check_one_line(r.err);
}

TEST_CASE("bad numbers, unknown commands and missing options are usage errors", "[nexmark][cli]") {
  const std::vector<std::vector<std::string>> cases = {
      {"run", "--query", "q0", "--events", "many"},
      {"run", "--query", "q0", "--events", "0"},
      {"run", "--query", "q0", "--events", "99999999999999999999999"},
      {"run", "--query", "q0", "--parallelism", "0"},
      {"run", "--query", "q0", "--rate", "-5"},
      {"run", "--query", "q0", "--num-event-generators", "1.5"},
      {"run"},
      {"run", "--query", "q0", "--no-such-option"},
      {"generate", "--events", "10"},
      {"bench", "--queries", "q0,q6"},
      {"run", "--query", "q4", "--state-backend", "paper"},
      {"bench", "--state-backend", "disk"},
      {"fly"},
      {},
  };
  for (const auto& args : cases) {
    std::string line;
    for (const auto& a : args) line += a + " ";
    INFO(line);
    const Run r = nexmark(args);
    CHECK(r.status == 2);
    check_one_line(r.err);
  }
  CHECK_THAT(nexmark({"run", "--query", "q0", "--events", "many"}).err,
             Catch::Contains("'many' is not a whole number"));
  CHECK_THAT(nexmark({"fly"}).err, Catch::Contains("unknown command 'fly'"));
}

TEST_CASE("nexmark run takes the checkpoint options of sluice run", "[nexmark][cli][checkpoint]") {
  const Run help = nexmark({"run", "--help"});
  CHECK(help.status == 0);
  for (const char* option :
       {"--checkpoint-interval", "--checkpoint-dir", "--checkpoint-mode", "--checkpoint-timeout",
        "--min-pause", "--tolerable-failed-checkpoints", "--retained-checkpoints", "--restore",
        "--allow-non-restored-state", "--restart-strategy"}) {
    CHECK_THAT(help.out, Catch::Contains(option));
  }
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--checkpoint-interval", "often"}, "--checkpoint-interval: 'often' is not a duration"},
      {{"--checkpoint-mode", "exactly-once"},
       "--checkpoint-mode: 'exactly-once' is not a checkpointing mode"},
      {{"--restart-strategy", "fixed-delay:x:1s"},
       "--restart-strategy: 'fixed-delay:x:1s' is not a restart strategy: 'x' is not a count"},
      {{"--retained-checkpoints", "none"}, "--retained-checkpoints: 'none' is not a whole number"},
  };
  for (const auto& [option, message] : cases) {
    std::vector<std::string> args = {"run", "--query", "q0", "--events", "1000"};
    args.insert(args.end(), option.begin(), option.end());
    INFO(option[0] << " " << option[1]);
    const Run r = nexmark(args);
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::StartsWith("nexmark run: " + message));
    check_one_line(r.err);
  }
  // What `run` hands the engine: the checkpoint settings reach the job's ExecutionConfig.
  sluice::nexmark::EngineOptions engine;
  engine.checkpoint.interval = std::chrono::milliseconds(250);
  engine.checkpoint.dir = "ckpts";
  CHECK(sluice::nexmark::execution_config(engine).checkpoint.interval.count() == 250);
  CHECK(sluice::nexmark::execution_config(engine).checkpoint.dir == "ckpts");
}

TEST_CASE("nexmark run --output writes the COST loop's rows under one header", "[nexmark][cli]") {
  test_support::TempDir dir;
  const std::string path = dir.file("q1.csv");
  const Run r = nexmark(
      {"run", "--query", "q1", "--events", "20000", "--parallelism", "3", "--output", path});
  INFO(r.err);
  REQUIRE(r.status == 0);
  sluice::nexmark::GeneratorConfig whole;
  whole.max_events = 20'000;
  std::vector<std::string> expected = {"auction,bidder,price,dateTime,extra"};
  for (const auto& row : sluice::nexmark::run_cost(sluice::nexmark::Query::q1, whole)) {
    expected.push_back(row);
  }
  CHECK(lines_of(path) == expected);
}

TEST_CASE("nexmark run writes a stateful query's COST rows on either state backend",
          "[nexmark][cli]") {
  test_support::TempDir dir;
  sluice::nexmark::GeneratorConfig whole;
  whole.max_events = 20'000;
  std::vector<std::string> expected = {"id,final"};
  for (const auto& row : sluice::nexmark::run_cost(sluice::nexmark::Query::q4, whole)) {
    expected.push_back(row);
  }
  for (const std::string backend : {"heap", "rocksdb"}) {
    INFO(backend);
    const std::string path = dir.file("q4-" + backend + ".csv");
    const Run r =
        nexmark({"run", "--query", "q4", "--events", "20000", "--parallelism", "2",
                 "--state-backend", backend, "--state-dir", dir.file("state"), "--output", path});
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK_THAT(r.out, Catch::Contains("(" + backend + " state)"));
    CHECK(lines_of(path) == expected);
  }
}

TEST_CASE("nexmark run --output with checkpoints assembles the CSV from committed rows",
          "[nexmark][cli][checkpoint]") {
  test_support::TempDir dir;
  const std::string path = dir.file("q5.csv");
  sluice::nexmark::GeneratorConfig whole;
  whole.max_events = 30'000;
  std::vector<std::string> expected = {"auction,num"};
  for (const auto& row : sluice::nexmark::run_cost(sluice::nexmark::Query::q5, whole)) {
    expected.push_back(row);
  }
  std::vector<std::string> args = {"run",   "--query",       "q5", "--events",
                                   "30000", "--parallelism", "2"};
  args.insert(args.end(), {"--output", path, "--checkpoint-interval", "50ms", "--checkpoint-dir",
                           dir.file("checkpoints")});
  const Run first = nexmark(args);
  INFO(first.err);
  REQUIRE(first.status == 0);
  CHECK(lines_of(path) == expected);
  CHECK(std::filesystem::is_directory(path + ".parts"));

  // A restore of the final checkpoint has nothing left to run and writes the same file.
  std::vector<std::string> restore = args;
  restore.insert(restore.end(), {"--restore", "latest"});
  std::filesystem::remove(path);
  const Run again = nexmark(restore);
  INFO(again.err);
  REQUIRE(again.status == 0);
  CHECK(lines_of(path) == expected);

  // A run from scratch into the same checkpoint directory is refused: it would delete them.
  const Run refused = nexmark(args);
  CHECK(refused.status == 2);
  CHECK_THAT(refused.err, Catch::Contains("holds checkpoints of an earlier run") && Catch::Contains("--restore latest"));
  check_one_line(refused.err);
  CHECK(lines_of(path) == expected);

  // A run from scratch over the same output (with a checkpoint directory of its own) drops the
  // earlier run's parts.
  std::vector<std::string> fresh_args = args;
  std::replace(fresh_args.begin(), fresh_args.end(), dir.file("checkpoints"), dir.file("checkpoints-2"));
  const Run fresh = nexmark(fresh_args);
  INFO(fresh.err);
  REQUIRE(fresh.status == 0);
  CHECK(lines_of(path) == expected);
}

// Issue 10, item 3: a second run, refused as "in use", had already deleted FILE.parts/, so the
// first run failed.
TEST_CASE("regression 3: a second nexmark run on the same output and checkpoint directory is refused and touches "
          "nothing", "[nexmark][cli][checkpoint][regression]") {
  test_support::TempDir dir;
  const std::string path = dir.file("q5.csv");
  // Paced to the wall clock: the first run lasts about eight seconds, whatever the machine.
  std::vector<std::string> args = {"run", "--query", "q5", "--events", "16000", "--rate", "2000", "--realtime",
                                   "--parallelism", "2", "--output", path, "--checkpoint-interval", "50ms",
                                   "--checkpoint-dir", dir.file("checkpoints")};
  Run first;
  std::thread running([&] { first = nexmark(args); });
  // A bound for a stuck run, not a timing check.
  bool committed = false;
  for (int i = 0; i < 6000 && !committed; ++i) {
    std::error_code ec;
    for (std::filesystem::directory_iterator it(path + ".parts", ec), end; !ec && it != end; it.increment(ec))
      committed |= it->path().filename().string().rfind("part-", 0) == 0;
    if (!committed) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(committed);
  for (const auto& second_args : {args, [&] {
         auto restore = args;
         restore.insert(restore.end(), {"--restore", "latest"});
         return restore;
       }()}) {
    const Run second = nexmark(second_args);
    CHECK(second.status == 2);
    CHECK_THAT(second.err, Catch::Contains("is in use by another process"));
    CHECK(std::filesystem::is_directory(path + ".parts"));
  }
  running.join();
  INFO(first.err);
  REQUIRE(first.status == 0);
  sluice::nexmark::GeneratorConfig whole;
  whole.max_events = 16'000;
  whole.first_event_rate = whole.next_event_rate = 2000;
  std::vector<std::string> expected = {"auction,num"};
  for (const auto& row : sluice::nexmark::run_cost(sluice::nexmark::Query::q5, whole)) expected.push_back(row);
  CHECK(lines_of(path) == expected);
}

// Issue 10, item 11: --output naming a directory was found out only when the job wrote.
TEST_CASE("regression 11: nexmark run --output naming a directory is refused before the job runs",
          "[nexmark][cli][regression]") {
  test_support::TempDir dir;
  for (const char* interval : {"0", "50ms"}) {
    const Run r = nexmark({"run", "--query", "q0", "--events", "1000", "--output", dir.path().string(),
                           "--checkpoint-interval", interval, "--checkpoint-dir", dir.file("checkpoints")});
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Contains("--output '" + dir.path().string() + "' is a directory"));
    check_one_line(r.err);
    CHECK_FALSE(std::filesystem::exists(dir.file("checkpoints")));
  }
}

TEST_CASE("nexmark run --restore of a missing checkpoint fails naming the path",
          "[nexmark][cli][checkpoint]") {
  const Run r = nexmark({"run", "--query", "q0", "--events", "1000", "--checkpoint-interval", "1s",
                         "--restore", "/nonexistent"});
  CHECK(r.status != 0);
  CHECK_THAT(r.err, Catch::Contains("'/nonexistent'"));
  check_one_line(r.err);
}

TEST_CASE("nexmark run refuses to checkpoint q12", "[nexmark][cli][checkpoint]") {
  test_support::TempDir dir;
  const Run r = nexmark({"run", "--query", "q12", "--events", "1000", "--checkpoint-interval", "1s",
                         "--checkpoint-dir", dir.file("checkpoints")});
  CHECK(r.status != 0);
  CHECK_THAT(r.err, Catch::Contains("q12 cannot checkpoint"));
  check_one_line(r.err);
}

TEST_CASE("nexmark run reports a failed job with status 1", "[nexmark][cli]") {
  test_support::TempDir dir;
  const std::string blocker = dir.file("file");
  std::ofstream(blocker) << "x";
  const Run r =
      nexmark({"run", "--query", "q2", "--events", "1000", "--output", blocker + "/q2.csv"});
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("failed"));
  check_one_line(r.err);
}

TEST_CASE("nexmark generate writes the stream as event CSV", "[nexmark][cli]") {
  test_support::TempDir dir;
  const std::string path = dir.file("events.csv");
  const Run r =
      nexmark({"generate", "--events", "1000", "--num-event-generators", "1", "--output", path});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto lines = lines_of(path);
  REQUIRE(lines.size() == 1001);
  CHECK(lines[0] == sluice::nexmark::event_csv_header());
  sluice::nexmark::GeneratorConfig whole;
  whole.max_events = 1'000;
  whole.num_event_generators = 1;
  sluice::nexmark::SplitReader reader(whole);
  for (size_t i = 1; i < lines.size(); ++i) {
    CHECK(lines[i] == sluice::nexmark::event_csv_row(reader.next().event));
  }
}

TEST_CASE("nexmark bench prints a table and a CSV", "[nexmark][cli][bench]") {
  const Run r = nexmark({"bench", "--events", "20000", "--queries", "q2,q0,q5"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("p1/COST"));
  CHECK_THAT(r.out, Catch::Contains("query,events,cores,generator_eps,cost_eps"));
  CHECK_THAT(r.out, Catch::Contains("\nq2,20000,"));
  CHECK_THAT(r.out, Catch::Contains("\nq0,20000,"));
  CHECK_THAT(r.out, Catch::Contains("\nq5,20000,"));
  CHECK_THAT(r.err, Catch::Contains("q0 engine at parallelism 1"));
}

TEST_CASE("nexmark bench runs the engine on the RocksDB backend", "[nexmark][cli][bench]") {
  test_support::TempDir dir;
  const Run r = nexmark({"bench", "--events", "20000", "--queries", "q11", "--state-backend",
                         "rocksdb", "--state-dir", dir.file("state"), "--rocksdb-memory", "64mb"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("rocksdb state"));
  CHECK_THAT(r.out, Catch::Contains("\nq11,20000,"));
}
