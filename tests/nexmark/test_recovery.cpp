// tests/nexmark/test_recovery.cpp — `nexmark run --output` killed, failed, corrupted and restored writes what an uninterrupted run (or the COST loop) writes.
//
// Runs the built `nexmark` binary as a child process (NEXMARK_BINARY), kills it once a
// checkpoint is on disk, restores with `--restore latest`, kills again after a newer
// checkpoint and lets the last run finish. Every wait is on the file system or the child's
// exit, never on elapsed time: a run that ends before it could be killed still has to write
// the same file.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cost.hpp"
#include "support/temp_dir.hpp"
#include "support/process.hpp"


namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

/// The ids of the complete checkpoints (with a `_metadata`, written last) in `dir`, oldest first.
std::vector<int64_t> complete_checkpoints(const fs::path& dir) {
  std::vector<int64_t> ids;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with("chk-") || name.size() == 4 || name.find_first_not_of("0123456789", 4) != std::string::npos)
      continue;
    std::error_code missing;
    if (fs::is_regular_file(it->path() / "_metadata", missing)) ids.push_back(std::stoll(name.substr(4)));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

/// The highest complete checkpoint in `dir`, or 0.
int64_t newest_complete_checkpoint(const fs::path& dir) {
  const auto ids = complete_checkpoints(dir);
  return ids.empty() ? 0 : ids.back();
}

/// One `nexmark` child process; its standard output and error go to `log`.
class Child : public test_support::Process {
 public:
  Child(const std::vector<std::string>& args, const fs::path& log) : Process(with_binary(args), log) {}

 private:
  static std::vector<std::string> with_binary(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {NEXMARK_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
};

/// A guard against a hung child, not a timing assertion: far beyond any run's length.
constexpr auto hang_limit = std::chrono::minutes(10);

/// Waits until `ready()` holds or the child ends. Returns true when the child still runs.
template <class Ready>
bool wait_while_running(Child& child, Ready ready) {
  const auto give_up = std::chrono::steady_clock::now() + hang_limit;
  while (!child.poll()) {
    if (ready()) return true;
    if (std::chrono::steady_clock::now() > give_up) {
      child.kill();
      FAIL("the nexmark run neither reached the awaited state nor ended");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

/// Runs a child to its end and checks it succeeded.
void run_to_end(const std::vector<std::string>& args, const fs::path& log) {
  Child child(args, log);
  wait_while_running(child, [] { return false; });
  const int status = *child.poll();
  INFO(slurp(log));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

std::vector<std::string> q5_args(const std::string& events, const std::string& output) {
  return {"run", "--query", "q5", "--events", events, "--parallelism", "2", "--output", output};
}

}  // namespace

// Each backend's stream lasts seconds in a Release build on two cores (q5 on RocksDB reads and
// writes a window count per bid and slide, an order of magnitude slower than on the heap)
// and longer in Debug or sanitizer builds, against checkpoints every 200 ms: both kills land
// mid-stream. Slow tests run streams several times longer, with more checkpoints to restore.
#ifdef SLUICE_SLOW_TESTS
const std::vector<std::pair<std::string, std::string>> backends = {{"heap", "3000000"},
                                                                   {"rocksdb", "600000"}};
#else
const std::vector<std::pair<std::string, std::string>> backends = {{"heap", "800000"},
                                                                   {"rocksdb", "150000"}};
#endif

TEST_CASE("nexmark run killed twice and restored writes the uninterrupted run's CSV",
          "[nexmark][recovery][checkpoint]") {
  for (const auto& [backend, events] : backends) {
    INFO(backend << " state, " << events << " events");
    test_support::TempDir dir;
    const fs::path expected = dir.path() / "expected.csv";
    run_to_end(q5_args(events, expected.string()), dir.path() / "expected.log");
    const std::string reference = slurp(expected);
    REQUIRE(reference.size() > std::string("auction,num\n").size());

    const fs::path checkpoints = dir.path() / "checkpoints";
    const fs::path output = dir.path() / "q5.csv";
    std::vector<std::string> args = q5_args(events, output.string());
    args.insert(args.end(),
                {"--state-backend", backend, "--state-dir", (dir.path() / "state").string(),
                 "--checkpoint-interval", "200ms", "--checkpoint-dir", checkpoints.string()});
    std::vector<std::string> restore = args;
    restore.insert(restore.end(), {"--restore", "latest"});
    int kills = 0;

    // First run: killed once its first checkpoint is complete.
    {
      Child child(args, dir.path() / "run-1.log");
      if (wait_while_running(child, [&] { return newest_complete_checkpoint(checkpoints) > 0; })) {
        child.kill();
        ++kills;
      }
      const int status = *child.poll();
      INFO(slurp(dir.path() / "run-1.log"));
      REQUIRE((WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0)));
    }
    // Second run, restored: killed once it has completed a checkpoint of its own.
    {
      const int64_t restored = newest_complete_checkpoint(checkpoints);
      Child child(restore, dir.path() / "run-2.log");
      if (wait_while_running(child,
                             [&] { return newest_complete_checkpoint(checkpoints) > restored; })) {
        child.kill();
        ++kills;
      }
      const int status = *child.poll();
      INFO(slurp(dir.path() / "run-2.log"));
      REQUIRE((WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0)));
    }
    // Third run, restored again: runs to its end.
    run_to_end(restore, dir.path() / "run-3.log");

    if (kills < 2) WARN("only " << kills << " of 2 kills landed before the run ended");
    const std::string written = slurp(output);
    CHECK(written.size() == reference.size());
    CHECK(written == reference);
  }
}

// Issue 10, item 1, as a user met it: `--restore latest` fell back past a corrupt newest
// checkpoint, but the rows that checkpoint had committed stayed in the output, twice.
TEST_CASE("regression 1: a restore that falls back past a corrupt newest checkpoint writes the uninterrupted run's CSV",
          "[nexmark][recovery][checkpoint][regression]") {
  const auto& [backend, events] = backends.front();
  test_support::TempDir dir;
  const fs::path expected = dir.path() / "expected.csv";
  run_to_end(q5_args(events, expected.string()), dir.path() / "expected.log");
  const std::string reference = slurp(expected);

  const fs::path checkpoints = dir.path() / "checkpoints";
  const fs::path output = dir.path() / "q5.csv";
  const fs::path parts = dir.path() / "q5.csv.parts";
  std::vector<std::string> args = q5_args(events, output.string());
  args.insert(args.end(), {"--state-backend", backend, "--checkpoint-interval", "100ms", "--checkpoint-dir",
                           checkpoints.string()});
  // Killed once its third checkpoint has committed rows.
  auto committed = [&](int64_t id) {
    std::error_code ec;
    for (fs::directory_iterator it(parts, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      const auto dash = name.find('-', 5);
      if (name.starts_with("part-") && dash != std::string::npos && name.substr(dash + 1) == std::to_string(id))
        return true;
    }
    return false;
  };
  int64_t newest = 0;
  {
    Child child(args, dir.path() / "run-1.log");
    const bool killed = wait_while_running(child, [&] {
      newest = newest_complete_checkpoint(checkpoints);
      return newest >= 3 && committed(newest);
    });
    if (!killed) {
      WARN("the run ended before it could be killed; the fallback is not exercised");
      return;
    }
    child.kill();
  }
  {  // flip a byte of the newest checkpoint's metadata
    const fs::path meta = checkpoints / ("chk-" + std::to_string(newest)) / "_metadata";
    std::fstream f(meta, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(fs::file_size(meta) / 2));
    f.put('\x5a');
  }
  std::vector<std::string> restore = args;
  restore.insert(restore.end(), {"--restore", "latest", "--log-level", "info"});
  run_to_end(restore, dir.path() / "run-2.log");
  const std::string log = slurp(dir.path() / "run-2.log");
  CHECK_THAT(log, Catch::Contains("chk-" + std::to_string(newest) + "/_metadata") &&
                      Catch::Contains("using an older checkpoint"));
  CHECK_THAT(log, Catch::Contains("restores checkpoint " + std::to_string(newest - 1)));
  const std::string written = slurp(output);
  CHECK(written.size() == reference.size());
  CHECK(written == reference);
}

#ifdef SLUICE_SLOW_TESTS
namespace {

/// The names in `dir`, sorted, on one line.
std::string listing(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    names.push_back(it->path().filename().string());
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += n + " ";
  return out;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

/// What the randomized suite did, for its report.
struct Tally {
  int runs = 0, kills = 0, task_failures = 0, full_disk_checkpoints = 0, corrupted = 0, older = 0, outside = 0;
};

/// The rows (header dropped) of a CSV file, sorted.
std::vector<std::string> csv_rows(const fs::path& path) {
  std::vector<std::string> rows;
  std::ifstream in(path);
  std::string line;
  for (bool header = true; std::getline(in, line); header = false)
    if (!header) rows.push_back(line);
  std::sort(rows.begin(), rows.end());
  return rows;
}

}  // namespace

// Issue 10: seeded faults of every kind on the stateful queries, both backends and both
// checkpointing modes; the committed CSV must equal the COST loop's rows every time.
TEST_CASE("randomized recovery: seeded kills, task failures, a full disk, corrupt checkpoints and restores from "
          "older or outside checkpoints give the COST loop's rows",
          "[nexmark][recovery][checkpoint][slow]") {
  // Paced to the wall clock (--realtime): every run lasts about two seconds whatever the
  // machine, so kills land mid-stream; the rows do not depend on the pacing.
  const int64_t events = 40'000, rate = 20'000;
  Tally tally;
  uint32_t seed = 0;
  for (int round = 0; round < 2; ++round)
  for (const std::string query : {"q3", "q5", "q8", "q11"})
    for (const std::string backend : {"heap", "rocksdb"})
      for (const std::string mode : {"aligned", "unaligned"}) {
        ++seed;
        // SLUICE_RECOVERY_SEED=N runs configuration N alone (to reproduce a failure).
        if (const char* only = std::getenv("SLUICE_RECOVERY_SEED"); only && std::to_string(seed) != only) continue;
        INFO(query << ", " << backend << ", " << mode << ", seed " << seed);
        std::mt19937 rng(seed);
        auto chance = [&](int percent) { return int(rng() % 100) < percent; };
        test_support::TempDir dir;
        fs::path checkpoints = dir.path() / "chk";
        const fs::path output = dir.path() / "out.csv";
        auto args_for = [&](const fs::path& chk) {
          return std::vector<std::string>{
              "run", "--query", query, "--events", std::to_string(events), "--rate", std::to_string(rate),
              "--realtime", "--parallelism", "2", "--output", output.string(), "--state-backend", backend,
              "--state-dir", (dir.path() / "state").string(), "--checkpoint-interval", "50ms",
              "--checkpoint-mode", mode, "--checkpoint-dir", chk.string(), "--restart-strategy",
              "fixed-delay:100:10ms"};
        };
        const int kills = 1 + int(rng() % 3);
        std::string history;  // every run's arguments and log, for a failure's report
        bool ended = false;
        std::set<fs::path> corrupted;  // never chosen by path: a restore of one is refused
        auto usable = [&] {
          std::vector<int64_t> ids;
          for (auto id : complete_checkpoints(checkpoints))
            if (!corrupted.count(checkpoints / ("chk-" + std::to_string(id)))) ids.push_back(id);
          return ids;
        };
        for (int run = 0; run <= kills && !ended; ++run) {
          auto args = args_for(checkpoints);
          if (run > 0) {  // how this run resumes
            auto complete = usable();
            const int how = int(rng() % 10);
            if (how < 6 || complete.size() < 2) {
              auto newest = complete_checkpoints(checkpoints);
              if (chance(30) && !newest.empty() && !complete.empty() && newest.back() == complete.back()) {
                // the newest no longer verifies
                corrupted.insert(checkpoints / ("chk-" + std::to_string(complete.back())));
                const fs::path meta = checkpoints / ("chk-" + std::to_string(complete.back())) / "_metadata";
                std::fstream f(meta, std::ios::in | std::ios::out | std::ios::binary);
                f.seekp(std::streamoff(fs::file_size(meta) / 2));
                f.put('\x5a');
                ++tally.corrupted;
              }
              args.insert(args.end(), {"--restore", "latest"});
            } else if (how < 8) {  // an older checkpoint, newer ones staying in the directory
              args.insert(args.end(), {"--restore", (checkpoints / ("chk-" + std::to_string(complete.front()))).string()});
              ++tally.older;
            } else {  // a copy elsewhere, into a checkpoint directory of its own
              const fs::path copy = dir.path() / ("copy-" + std::to_string(run));
              fs::copy(checkpoints, copy, fs::copy_options::recursive);
              fs::remove(copy / ".lock");
              checkpoints = dir.path() / ("chk-after-" + std::to_string(run));
              args = args_for(checkpoints);
              args.insert(args.end(), {"--restore", (copy / ("chk-" + std::to_string(complete.back()))).string()});
              ++tally.outside;
            }
          }
          if (chance(50)) args.insert(args.end(), {"--inject-task-failures", std::to_string(1 + rng() % 2)});
          if (chance(35)) {
            auto complete = complete_checkpoints(checkpoints);
            const int64_t from = (complete.empty() ? 1 : complete.back() + 1) + int64_t(rng() % 3);
            args.insert(args.end(), {"--inject-disk-full", std::to_string(from) + ":" + std::to_string(1 + rng() % 2)});
          }
          const fs::path log = dir.path() / ("run-" + std::to_string(run) + ".log");
          ++tally.runs;
          {
            Child child(args, log);
            if (run < kills) {
              const int64_t before = newest_complete_checkpoint(checkpoints);
              const int64_t wait_for = 1 + int64_t(rng() % 3);
              if (wait_while_running(child, [&] {
                    auto c = complete_checkpoints(checkpoints);
                    return !c.empty() && c.back() >= before + wait_for;
                  })) {
                child.kill();
                ++tally.kills;
              } else {
                ended = true;
              }
            } else {
              wait_while_running(child, [] { return false; });
              ended = true;
            }
            if (ended) {
              const int status = *child.poll();
              INFO(slurp(log));
              INFO("parts: " << listing(output.string() + ".parts") << "\nset aside: "
                             << listing(output.string() + ".parts/.rolled-back") << "\nearlier runs:\n"
                             << history);
              REQUIRE(WIFEXITED(status));
              REQUIRE(WEXITSTATUS(status) == 0);
            }
          }
          const std::string text = slurp(log);
          history += "run " + std::to_string(run) + " (then " + listing(checkpoints) + "):";
          for (const auto& a : args) history += " " + a;
          history += "\n" + text;
          tally.task_failures += int(occurrences(text, "injected task failure"));
          tally.full_disk_checkpoints += int(occurrences(text, "No space left on device"));
        }
        sluice::nexmark::GeneratorConfig whole;
        whole.max_events = events;
        whole.first_event_rate = whole.next_event_rate = int32_t(rate);
        auto expected = sluice::nexmark::run_cost(*sluice::nexmark::parse_query(query), whole);
        std::sort(expected.begin(), expected.end());
        const auto written = csv_rows(output);
        CHECK(written.size() == expected.size());
        CHECK(written == expected);
      }
  std::printf("randomized recovery: 16 configurations twice, %d runs, %d kills, %d task failures, %d checkpoint writes on "
              "a full disk, %d corrupted newest checkpoints, %d restores from an older and %d from an outside "
              "checkpoint\n",
              tally.runs, tally.kills, tally.task_failures, tally.full_disk_checkpoints, tally.corrupted, tally.older,
              tally.outside);
  if (!std::getenv("SLUICE_RECOVERY_SEED")) {  // over all configurations, every kind of fault happened
    CHECK(tally.kills > 0);
    CHECK(tally.task_failures > 0);
    CHECK(tally.full_disk_checkpoints > 0);
  }
}
#endif
