// tests/actors/test_partition_file.cpp — the blocking partition file: every channel reads back its frames in order across regions, the pool stays bounded, only sealed files are read, and damage is named.
#include <catch2/catch.hpp>

#include "actors/partition_file.hpp"

#include <fstream>
#include <random>

#include "sluice/error.hpp"
#include "support/temp_dir.hpp"

using namespace sluice;
using namespace sluice::runtime;
namespace fs = std::filesystem;

namespace {
/// A frame whose words say which channel and which frame of it it is.
FrameBuffer frame(int channel, uint64_t n, size_t words) {
  FrameBuffer f(words);
  for (size_t i = 0; i < words; ++i) f[i] = (uint64_t(channel) << 48) ^ (n << 16) ^ i;
  return f;
}

std::vector<FrameBuffer> read_all(const fs::path& p, int channel) {
  PartitionFileReader r(p, channel);
  std::vector<FrameBuffer> out;
  FrameBuffer f;
  while (r.next(f)) out.push_back(f);
  CHECK(out.size() == r.frames());
  return out;
}
}  // namespace

TEST_CASE("a partition file gives each channel its frames in order, across regions of a bounded pool", "[partition-file]") {
  test_support::TempDir dir;
  auto path = dir.path() / "p" / "edge-1-producer-0";
  constexpr int channels = 7;
  constexpr size_t pool = 64 << 10;
  std::vector<std::vector<FrameBuffer>> sent(channels);
  std::mt19937 rng(7);
  {
    PartitionFileWriter w(path, channels, pool);
    for (int i = 0; i < 5'000; ++i) {
      int ch = int(rng() % channels);
      if (ch == 3) continue;  // a channel without frames
      auto f = frame(ch, sent[size_t(ch)].size(), 1 + rng() % 300);
      sent[size_t(ch)].push_back(f);
      w.add(ch, std::move(f));
    }
    CHECK_FALSE(fs::exists(path));  // not sealed yet: consumers cannot see it
    w.finish();
    CHECK(w.regions() > 10);
    CHECK(w.peak_pool_bytes() <= pool);
  }
  REQUIRE(fs::exists(path));
  for (int ch = 0; ch < channels; ++ch) {
    INFO("channel " << ch);
    CHECK(read_all(path, ch) == sent[size_t(ch)]);
  }
}

TEST_CASE("an empty partition seals, and a producer that fails leaves no file", "[partition-file]") {
  test_support::TempDir dir;
  {
    PartitionFileWriter w(dir.path() / "empty", 2, 1 << 20);
    w.finish();
  }
  CHECK(read_all(dir.path() / "empty", 1).empty());
  {
    PartitionFileWriter w(dir.path() / "failed", 2, 1 << 20);
    w.add(0, frame(0, 0, 10));
  }  // destroyed unsealed, as when its task fails
  for (const auto& e : fs::directory_iterator(dir.path()))  // nor its part file
    CHECK(e.path().filename().string().rfind("failed", 0) != 0);
  CHECK_THROWS_WITH(PartitionFileReader(dir.path() / "failed", 0),
                    Catch::Contains("is not complete: its producer has not finished"));
}

TEST_CASE("a damaged partition file or a wrong channel is refused naming the file", "[partition-file]") {
  test_support::TempDir dir;
  auto path = dir.path() / "part";
  {
    PartitionFileWriter w(path, 3, 4 << 10);
    for (uint64_t i = 0; i < 200; ++i) w.add(int(i % 3), frame(int(i % 3), i, 50));
    w.finish();
  }
  CHECK_THROWS_WITH(PartitionFileReader(path, 3), Catch::Contains("has 3 channels, not channel 3"));
  auto bytes = fs::file_size(path);
  auto damage = [&](uint64_t at, char byte) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(at));
    f.put(byte);
  };
  SECTION("the index") {
    damage(bytes - 40 - 8, 0x55);
    CHECK_THROWS_WITH(PartitionFileReader(path, 0), Catch::Contains("'" + path.string() + "' is corrupt") &&
                                                        Catch::Contains("checksum"));
  }
  SECTION("a frame's length") {
    damage(0, 0x7f);
    CHECK_THROWS_WITH(read_all(path, 0), Catch::Contains("is corrupt: a frame is longer than its region"));
  }
  SECTION("truncated") {
    fs::resize_file(path, bytes / 2);
    CHECK_THROWS_WITH(PartitionFileReader(path, 0), Catch::Contains("is corrupt"));
  }
  SECTION("not a partition file") {
    std::ofstream(path, std::ios::trunc) << std::string(100, 'x');
    CHECK_THROWS_WITH(PartitionFileReader(path, 0), Catch::Contains("is corrupt: it is not a partition file"));
  }
}
