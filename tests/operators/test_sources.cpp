// tests/operators/test_sources.cpp — source readers resume exactly from their position (what checkpoints keep).
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>
#include <sluice/testing/harness.hpp>

#include <fstream>

#include "support/temp_dir.hpp"

using namespace sluice;

namespace {
template <class T>
struct Capture final : Output<T> {
  void push(T&& v, int64_t) override { values.push_back(std::move(v)); }
  void watermark(int64_t) override {}
  void end_input() override {}
  std::vector<T> values;
};

/// Reads a reader dry, a few records a poll.
template <class T>
void drain(SourceReader<T>& r, Capture<T>& out) {
  while (r.poll(out, 3) == SourceStatus::more) {
  }
}

/// Polls a reader (whose I/O runs inline) `polls` times, or until it finishes when -1.
template <class T>
void read(SourceReader<T>& r, Capture<T>& out, int polls) {
  for (int i = 0; polls < 0 || i < polls; ++i)
    if (r.poll(out, 3) == SourceStatus::finished) return;
}

template <class T>
void check_resume(const Source<T>& source) {
  for (int p : {1, 3}) {
    for (int s = 0; s < p; ++s) {
      Capture<T> whole, first, rest;
      auto full = source.create_reader(s, p);
      drain(*full, whole);
      auto r = source.create_reader(s, p);
      r->poll(first, 4);
      auto resumed = source.resume_reader(s, p, r->position());
      drain(*resumed, rest);
      first.values.insert(first.values.end(), rest.values.begin(), rest.values.end());
      CHECK(first.values == whole.values);
    }
  }
}
}  // namespace

TEST_CASE("collection and generator readers resume exactly from their position", "[source]") {
  std::vector<std::string> items;
  for (int i = 0; i < 50; ++i) items.push_back("item " + std::to_string(i));
  check_resume<std::string>(CollectionSource<std::string>(items));
  check_resume<int64_t>(GeneratorSource<int64_t>(100, [](int64_t i) { return i * i; }));
}

TEST_CASE("text file readers resume at the line after the last one they emitted", "[source]") {
  test_support::TempDir dir;
  auto path = dir.file("lines.txt");
  std::vector<std::string> lines;
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 30'000; ++i) {  // about 1.5 MiB: more than one read chunk
      lines.push_back("line " + std::to_string(i) + std::string(size_t(i % 70), 'x'));
      out << lines.back() << (i % 5 == 0 ? "\r\n" : "\n");
    }
    out << "last line without a break";
    lines.push_back("last line without a break");
  }
  TextFileSource source(path);
  for (int p : {1, 3}) {
    std::vector<std::string> all;
    for (int s = 0; s < p; ++s) {
      testing::InlineContext ctx("test", s, p);
      Capture<std::string> whole;
      auto full = source.create_reader(s, p);
      full->open(ctx);
      read(*full, whole, -1);
      all.insert(all.end(), whole.values.begin(), whole.values.end());
      for (int polls : {0, 1, 2, 777, 3000}) {  // before the first line, at its start, mid-chunk, past a chunk
        INFO("parallelism " << p << ", subtask " << s << ", resumed after " << polls << " polls");
        Capture<std::string> first, rest;
        auto r = source.create_reader(s, p);
        r->open(ctx);
        read(*r, first, polls);
        auto resumed = source.resume_reader(s, p, r->position());
        resumed->open(ctx);
        read(*resumed, rest, -1);
        first.values.insert(first.values.end(), rest.values.begin(), rest.values.end());
        CHECK(first.values == whole.values);
      }
    }
    CHECK(all == lines);
  }
  // A restored reader checkpointed before its first read keeps the position it was given.
  {
    testing::InlineContext ctx("test", 0, 1);
    Capture<std::string> first, rest;
    auto r = source.create_reader(0, 1);
    r->open(ctx);
    read(*r, first, 5);
    auto resumed = source.resume_reader(0, 1, r->position());
    CHECK(resumed->position() == r->position());  // not opened, nothing read yet
    auto again = source.resume_reader(0, 1, resumed->position());
    again->open(ctx);
    read(*again, rest, -1);
    first.values.insert(first.values.end(), rest.values.begin(), rest.values.end());
    CHECK(first.values == lines);
  }
  // A file that changed since the checkpoint is refused, naming it.
  testing::InlineContext ctx("test", 0, 1);
  Capture<std::string> some;
  auto r = source.create_reader(0, 1);
  r->open(ctx);
  read(*r, some, 10);
  auto position = r->position();
  std::ofstream(path, std::ios::app) << "\nappended";
  auto resumed = source.resume_reader(0, 1, position);
  CHECK_THROWS_WITH(resumed->open(ctx), Catch::Contains(path) && Catch::Contains("changed since the checkpoint"));
}

TEST_CASE("a malformed position or a source without positions is a clear error", "[source]") {
  GeneratorSource<int64_t> g(10, [](int64_t i) { return i; });
  CHECK_THROWS_WITH(g.resume_reader(0, 1, "abc"), Catch::Contains("position of 3 bytes"));
  TextFileSource f("/tmp/x");
  CHECK_THROWS_WITH(f.resume_reader(0, 1, "abc"), Catch::Contains("Text File Source (/tmp/x)"));
}

// Issue 10, item 11: a text file that shrank while it was read gave a short count, no error.
TEST_CASE("regression 11: a text file that shrinks while it is read is an error naming it", "[source][regression]") {
  test_support::TempDir dir;
  auto path = dir.file("shrinking.txt");
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 100'000; ++i) out << "line " << i << " of a file larger than two read chunks\n";
  }
  TextFileSource source(path);
  testing::InlineContext ctx("test", 0, 1);
  Capture<std::string> some;
  auto r = source.create_reader(0, 1);
  r->open(ctx);  // the first chunk is read
  read(*r, some, 10);
  std::filesystem::resize_file(path, 1'500'000);
  CHECK_THROWS_WITH(read(*r, some, -1), Catch::Contains(path) && Catch::Contains("shrank while it was read"));
}
