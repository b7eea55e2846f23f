// tests/operators/test_sources.cpp — source readers resume exactly from their position (what checkpoints keep).
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

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

TEST_CASE("a malformed position or a source without positions is a clear error", "[source]") {
  GeneratorSource<int64_t> g(10, [](int64_t i) { return i; });
  CHECK_THROWS_WITH(g.resume_reader(0, 1, "abc"), Catch::Contains("position of 3 bytes"));
  TextFileSource f("/tmp/x");
  CHECK_THROWS_WITH(f.resume_reader(0, 1, ""), Catch::Contains("cannot resume"));
}
