// tests/operators/test_state.cpp — every state kind and TTL, against every backend.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include "operators/state_backends.hpp"

using namespace sluice;
using namespace std::chrono_literals;

namespace {
struct Fixture {
  int64_t now = 1000;
  std::unique_ptr<KeyedStateBackend> b;
  explicit Fixture(const test_support::BackendCase& c) : b(c.make([this] { return now; })) {}
  void key(const std::string& k) {
    auto bytes = encode_to_bytes(k);
    std::string_view kb(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    b->set_current_key(kb, key_group_of(kb, 128));
  }
};

struct SumAvg final : AggregateFunction<int64_t, std::pair<int64_t, int64_t>, double> {
  std::pair<int64_t, int64_t> create_accumulator() const override { return {0, 0}; }
  void add(const int64_t& v, std::pair<int64_t, int64_t>& acc) const override {
    acc.first += v;
    ++acc.second;
  }
  double get_result(const std::pair<int64_t, int64_t>& acc) const override {
    return double(acc.first) / double(acc.second);
  }
  std::pair<int64_t, int64_t> merge(std::pair<int64_t, int64_t> a,
                                    const std::pair<int64_t, int64_t>& b) const override {
    return {a.first + b.first, a.second + b.second};
  }
};
}  // namespace

TEST_CASE("state kinds keep one entry per key", "[state]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      Fixture f(backend);
      auto& value = detail::open_state(*f.b, ValueStateDescriptor<std::string>{"value"});
      auto& list = detail::open_state(*f.b, ListStateDescriptor<int>{"list"});
      auto& map = detail::open_state(*f.b, MapStateDescriptor<std::string, int64_t>{"map"});
      auto& sum = detail::open_state(*f.b, ReducingStateDescriptor<int64_t>{"sum", [](int64_t a, int64_t b) { return a + b; }});
      auto& avg = detail::open_state(
          *f.b, AggregatingStateDescriptor<int64_t, std::pair<int64_t, int64_t>, double>{"avg", std::make_shared<SumAvg>()});

      f.key("a");
      CHECK_FALSE(value.value());
      value.update("alpha");
      list.add(1);
      list.add(2);
      map.put("x", 10);
      map.put("w", 5);
      sum.add(3);
      sum.add(4);
      avg.add(2);
      avg.add(5);

      f.key("b");
      CHECK_FALSE(value.value());
      CHECK(list.get().empty());
      CHECK(map.entries().empty());
      CHECK_FALSE(sum.get());
      value.update("beta");
      map.put("y", 1);

      f.key("a");
      CHECK(value.value() == "alpha");
      CHECK(list.get() == std::vector<int>{1, 2});
      list.update({7});
      CHECK(list.get() == std::vector<int>{7});
      CHECK(map.get("x") == 10);
      CHECK(map.contains("w"));
      CHECK_FALSE(map.contains("y"));
      auto entries = map.entries();
      REQUIRE(entries.size() == 2);
      CHECK(entries[0].first == "w");  // entries come in key-byte order
      map.remove("w");
      CHECK(map.entries().size() == 1);
      CHECK(sum.get() == 7);
      CHECK(avg.get() == Approx(3.5));
      value.clear();
      list.clear();
      map.clear();
      sum.clear();
      avg.clear();
      CHECK_FALSE(value.value());
      CHECK(list.get().empty());
      CHECK(map.empty());
      CHECK_FALSE(sum.get());
      CHECK_FALSE(avg.get());

      f.key("b");
      CHECK(value.value() == "beta");
      CHECK(map.get("y") == 1);
    }
  }
}

TEST_CASE("opening one state name as two kinds is refused", "[state]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      Fixture f(backend);
      detail::open_state(*f.b, ValueStateDescriptor<int>{"s"});
      CHECK_THROWS_AS(detail::open_state(*f.b, ListStateDescriptor<int>{"s"}), JobError);
    }
  }
}

TEST_CASE("expired state is never visible; reads refresh only when asked to", "[state][ttl]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      Fixture f(backend);
      auto& written = detail::open_state(*f.b, ValueStateDescriptor<int>{"w", StateTtl::after_write(100ms)});
      auto& read = detail::open_state(*f.b, ValueStateDescriptor<int>{"r", StateTtl::after_read_or_write(100ms)});
      auto& list = detail::open_state(*f.b, ListStateDescriptor<int>{"l", StateTtl::after_write(100ms)});
      auto& map = detail::open_state(*f.b, MapStateDescriptor<int, int>{"m", StateTtl::after_write(100ms)});
      auto& sum = detail::open_state(
          *f.b, ReducingStateDescriptor<int>{"s", [](int a, int b) { return a + b; }, StateTtl::after_write(100ms)});
      f.key("k");
      written.update(1);
      read.update(1);
      list.add(1);
      map.put(1, 1);
      sum.add(1);
      f.now += 60;
      list.add(2);  // each list element expires on its own
      map.put(2, 2);
      CHECK(read.value() == 1);  // refreshed: now lives until 1160
      f.now += 50;              // 1110: the first writes are 110 ms old
      CHECK_FALSE(written.value());
      CHECK(read.value() == 1);
      CHECK(list.get() == std::vector<int>{2});
      CHECK(map.entries() == std::vector<std::pair<int, int>>{{2, 2}});
      CHECK_FALSE(map.contains(1));
      CHECK_FALSE(sum.get());
      sum.add(5);  // an expired reduce starts over
      CHECK(sum.get() == 5);
      f.now += 99;  // 1209: read's last refresh was at 1110
      CHECK(read.value() == 1);
      f.now += 100;  // 1309: 199 ms since
      CHECK_FALSE(read.value());
      CHECK(list.get().empty());
      CHECK(map.empty());
    }
  }
}
