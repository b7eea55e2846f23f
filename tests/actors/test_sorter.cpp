// tests/actors/test_sorter.cpp — the BATCH external sort: order (key, timestamp, arrival) equal to a stable in-memory sort, spilling and multi-pass merges within the memory budget, spill files gone after the end and after a failure, and short spill files named.
#include <catch2/catch.hpp>

#include "actors/sorter.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "sluice/error.hpp"
#include "support/temp_dir.hpp"

using namespace sluice;
using namespace sluice::runtime;
namespace fs = std::filesystem;

namespace {

struct Row {
  std::string key;
  int64_t timestamp;
  std::string payload;
  bool operator==(const Row&) const = default;
};

/// `n` rows over `keys` keys with few distinct timestamps, so that equal (key, timestamp)
/// pairs are common; each payload names its arrival.
std::vector<Row> rows(int n, int keys, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Row> out;
  for (int i = 0; i < n; ++i) {
    auto k = rng() % uint32_t(keys);
    // Keys of different lengths sharing 8-byte prefixes, and bytes above 0x7f.
    std::string key = (k % 3 == 0 ? "prefix--" : "p") + std::to_string(k);
    if (k % 5 == 0) key.push_back(char(0xf0));
    out.push_back({key, int64_t(rng() % 4), "arrival-" + std::to_string(i) + std::string(rng() % 40, 'x')});
  }
  return out;
}

std::vector<Row> expected(std::vector<Row> in) {
  std::stable_sort(in.begin(), in.end(), [](const Row& a, const Row& b) {
    return std::tie(a.key, a.timestamp) < std::tie(b.key, b.timestamp);  // std::string compares as unsigned bytes
  });
  return in;
}

std::vector<Row> sorted(Sorter& s, const std::vector<Row>& in) {
  for (const auto& r : in) s.add(r.key, r.timestamp, r.payload);
  s.finish();
  std::vector<Row> out;
  Sorter::Record r;
  while (s.next(r)) out.push_back({std::string(r.key), r.timestamp, std::string(r.payload)});
  return out;
}

size_t files_under(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

}  // namespace

TEST_CASE("the sort orders by key, timestamp and arrival in memory when the input fits", "[sorter]") {
  test_support::TempDir dir;
  auto in = rows(5'000, 300, 1);
  Sorter s({dir.path(), 64 << 20, 64});
  CHECK(sorted(s, in) == expected(in));
  CHECK(s.stats().runs == 0);
  CHECK(s.spill_directory().empty());
  CHECK(files_under(dir.path()) == 0);
}

TEST_CASE("the sort spills runs under its budget and merges them, in several passes when there are many", "[sorter]") {
  test_support::TempDir dir;
  auto in = rows(200'000, 20'000, 2);
  size_t input_bytes = 0;
  for (const auto& r : in) input_bytes += r.key.size() + r.payload.size() + 16;
  // Three runs at once: several merge passes. As many as the budget has read buffers for
  // (32 KiB each): one final merge.
  auto [fan_in, budget] = GENERATE(std::pair<size_t, size_t>{3, 256 << 10}, std::pair<size_t, size_t>{64, 2 << 20});
  INFO("fan-in " << fan_in << ", budget " << budget);
  Sorter s({dir.path(), budget, fan_in});
  CHECK(sorted(s, in) == expected(in));
  CHECK(input_bytes > 4 * budget);
  CHECK(s.stats().records == in.size());
  CHECK(s.stats().runs > 4);
  if (fan_in == 3) {
    CHECK(s.stats().merge_passes > 1);
  } else {
    CHECK(s.stats().merge_passes == 0);
    CHECK(s.stats().spilled_bytes < input_bytes);  // the last buffer joined the merge from memory
  }
  CHECK(s.stats().peak_memory <= budget);
  CHECK(fs::exists(s.spill_directory()));
}

TEST_CASE("spill files are removed at the end and when the sort is abandoned midway", "[sorter]") {
  test_support::TempDir dir;
  auto in = rows(50'000, 1'000, 3);
  fs::path spills;
  {
    Sorter s({dir.path(), 128 << 10, 4});
    for (const auto& r : in) s.add(r.key, r.timestamp, r.payload);
    spills = s.spill_directory();
    REQUIRE(files_under(spills) > 1);
    bool abandon = GENERATE(true, false);
    if (!abandon) {
      s.finish();
      Sorter::Record r;
      for (int i = 0; i < 10; ++i) REQUIRE(s.next(r));  // files open mid-read
    }
  }  // a failed task destroys its sorter the same way
  CHECK_FALSE(fs::exists(spills));
  CHECK(files_under(dir.path()) == 0);
}

TEST_CASE("a spill file that reads back short fails the sort naming the file", "[sorter]") {
  test_support::TempDir dir;
  auto in = rows(50'000, 1'000, 4);
  Sorter s({dir.path(), 128 << 10, 64});
  for (const auto& r : in) s.add(r.key, r.timestamp, r.payload);
  auto run = s.spill_directory() / "run-0";
  REQUIRE(fs::exists(run));
  fs::resize_file(run, fs::file_size(run) / 2);
  Sorter::Record r;
  CHECK_THROWS_WITH(([&] {
                      s.finish();
                      while (s.next(r)) {}
                    }()),
                    Catch::Contains("spill file '" + run.string() + "' ends after") && Catch::Contains("of its"));
}

TEST_CASE("the sort refuses a spill directory it cannot create and use out of order", "[sorter]") {
  test_support::TempDir dir;
  std::ofstream(dir.file("not-a-dir")) << "x";
  Sorter s({dir.path() / "not-a-dir", 128 << 10, 64});
  auto in = rows(50'000, 1'000, 5);
  CHECK_THROWS_WITH(([&] { for (const auto& r : in) s.add(r.key, r.timestamp, r.payload); }()),
                    Catch::Contains("could not create its base directory") && Catch::Contains("not-a-dir"));
  Sorter t({dir.path(), 1 << 20, 64});
  Sorter::Record r;
  CHECK_THROWS_WITH(t.next(r), Catch::Contains("read before its input ended"));
  t.finish();
  CHECK_FALSE(t.next(r));
  CHECK_THROWS_WITH(t.add("k", 0, "v"), Catch::Contains("after its input ended"));
}

TEST_CASE("a sort that spills removes the spill directories of processes that no longer run", "[sorter]") {
  test_support::TempDir dir;
  pid_t dead = ::fork();  // a process that ended: its pid names no running process
  if (dead == 0) ::_exit(0);
  REQUIRE(dead > 0);
  ::waitpid(dead, nullptr, 0);
  auto left = dir.path() / ("sluice-sort-" + std::to_string(dead) + "-7");
  auto own = dir.path() / ("sluice-sort-" + std::to_string(::getpid()) + "-999");
  auto running = dir.path() / "sluice-sort-1-0";  // init runs
  auto other = dir.path() / ("sluice-sort-" + std::to_string(dead) + "-report");  // not of this shape
  for (const auto& d : {left, own, running, other}) {
    std::filesystem::create_directories(d);
    std::ofstream(d / "run-0") << "spilled";
  }
  auto file = dir.path() / ("sluice-sort-" + std::to_string(dead) + "-8");  // a file, not a directory
  std::ofstream(file) << "someone's";
  {
    Sorter s({dir.path(), 128 << 10, 64});
    for (const auto& r : rows(50'000, 1'000, 5)) s.add(r.key, r.timestamp, r.payload);
    REQUIRE(s.stats().runs > 0);
    CHECK_FALSE(std::filesystem::exists(left));
  }
  CHECK(std::filesystem::exists(own));
  CHECK(std::filesystem::exists(running));
  CHECK(std::filesystem::exists(other));
  CHECK(std::filesystem::exists(file));
}
