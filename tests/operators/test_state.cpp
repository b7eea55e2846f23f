// tests/operators/test_state.cpp — every state kind and TTL, against every backend.
#include <catch2/catch.hpp>

#include "checkpoint/rocksdb_backend.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <unordered_map>

#include <sluice/sluice.hpp>

#include "operators/state_backends.hpp"

using namespace sluice;
using namespace std::chrono_literals;

namespace {
struct Fixture {
  int64_t now = 1000;
  std::unique_ptr<CheckpointableBackend> b;
  explicit Fixture(const test_support::BackendCase& c) : b(c.make([this] { return now; })) {}
  void key(const std::string& k) {
    auto bytes = encode_to_bytes(k);
    std::string_view kb(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    b->set_current_key(kb, key_group_of(kb, 128));
  }
  /// Writes `bytes` as the stored value of the current key in state `name`, bypassing the
  /// codecs; false on backends without a byte store.
  bool corrupt(const std::string& name, const std::string& bytes, const std::string& user_key = {}) {
    auto* s = b->byte_store();
    if (!s) return false;
    std::string k;
    detail::compose_key(k, *b);
    s->put(s->keyspace(name), k + user_key, bytes);
    return true;
  }
};

std::string bytes_of(const std::string& s) {
  auto b = encode_to_bytes(s);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

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

TEST_CASE("expired state is never visible, and reads refresh only when asked to", "[state][ttl]") {
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

TEST_CASE("many keys across key groups keep their own entries", "[state]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      Fixture f(backend);
      auto& value = detail::open_state(*f.b, ValueStateDescriptor<int64_t>{"value"});
      auto& map = detail::open_state(*f.b, MapStateDescriptor<int, int64_t>{"map"});
      constexpr int n = 10'000;
      std::set<int> groups;
      for (int i = 0; i < n; ++i) {
        f.key("key-" + std::to_string(i));
        groups.insert(f.b->current_key_group());
        value.update(i * 3);
        map.put(i % 7, i);
      }
      CHECK(groups.size() == 128);
      for (int i = 0; i < n; i += 2) {
        f.key("key-" + std::to_string(i));
        if (i % 4 == 0) value.clear();
        else value.update(-i);
      }
      bool all_right = true;  // one CHECK, not 20 000
      for (int i = 0; i < n; ++i) {
        f.key("key-" + std::to_string(i));
        int64_t expected = i % 4 == 0 ? -1 : i % 2 ? i * 3 : -i;  // -1: cleared
        all_right = all_right && value.value().value_or(-1) == expected &&
                    map.entries() == std::vector<std::pair<int, int64_t>>{{i % 7, i}};
      }
      CHECK(all_right);
    }
  }
}

TEST_CASE("map entries come in the order of their keys' encoded bytes", "[state]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      Fixture f(backend);
      auto& ints = detail::open_state(*f.b, MapStateDescriptor<int32_t, int>{"ints"});
      auto& strings = detail::open_state(*f.b, MapStateDescriptor<std::string, int>{"strings"});
      f.key("k");
      for (int32_t k : {2, -1, 256, 1}) ints.put(k, k);
      for (const char* k : {"b", "aa", "", "\xff", "a"}) strings.put(k, 0);
      // Little-endian ints: 256 is 00 01 00 00, -1 is ff ff ff ff.
      std::vector<int32_t> int_keys;
      for (auto& [k, v] : ints.entries()) int_keys.push_back(k);
      CHECK(int_keys == std::vector<int32_t>{256, 1, 2, -1});
      // Strings carry their length first, and bytes compare unsigned.
      std::vector<std::string> string_keys;
      for (auto& [k, v] : strings.entries()) string_keys.push_back(k);
      CHECK(string_keys == std::vector<std::string>{"", "a", "b", "\xff", "aa"});
    }
  }
}

TEST_CASE("keys and values with NUL and 0xff bytes stay apart and round-trip", "[state]") {
  using namespace std::string_literals;
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      Fixture f(backend);
      auto& value = detail::open_state(*f.b, ValueStateDescriptor<std::string>{"value"});
      auto& map = detail::open_state(*f.b, MapStateDescriptor<std::string, std::string>{"map"});
      std::string all_bytes;
      for (int c = 0; c < 256; ++c) all_bytes.push_back(char(c));
      // Raw key bytes where one key is a prefix of another, in the same key group.
      const std::vector<std::string> keys = {"\0"s, "\0\0"s, "a"s, "a\0"s, "a\0b"s, "\xff"s, "\xff\0"s};
      for (const auto& k : keys) {
        f.b->set_current_key(k, 127);
        value.update(k + "\0value\0"s + all_bytes);
        map.put(k, "\0"s + k);
        map.put(k + "\0"s, k + "\xff"s);
      }
      for (const auto& k : keys) {
        f.b->set_current_key(k, 127);
        CHECK(value.value() == k + "\0value\0"s + all_bytes);
        CHECK(map.entries() == std::vector<std::pair<std::string, std::string>>{
                                   {k, "\0"s + k}, {k + "\0"s, k + "\xff"s}});
      }
      f.b->set_current_key("\0"s, 127);
      map.clear();
      f.b->set_current_key("\0\0"s, 127);
      CHECK(map.entries().size() == 2);
    }
  }
}

TEST_CASE("a corrupt stored value fails with a DecodeError naming the state", "[state]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      Fixture f(backend);
      auto& count = detail::open_state(*f.b, ValueStateDescriptor<int64_t>{"count"});
      auto& map = detail::open_state(*f.b, MapStateDescriptor<std::string, int>{"by name"});
      f.key("k");
      count.update(1);
      map.put("x", 1);
      if (!f.corrupt("count", "\x01\x02")) {
        SUCCEED("the heap backend keeps objects, not bytes");
        continue;
      }
      CHECK_THROWS_AS(count.value(), DecodeError);
      CHECK_THROWS_WITH(count.value(), Catch::Contains("state 'count'") && Catch::Contains("end early"));
      count.clear();  // clearing needs no decode
      CHECK_FALSE(count.value());

      std::string entry = bytes_of("x");
      f.corrupt("by name", "garbage that is too long for an entry", entry);
      CHECK_THROWS_AS(map.entries(), DecodeError);
      CHECK_THROWS_WITH(map.get("x"), Catch::Contains("state 'by name'"));
    }
  }
}

TEST_CASE("each RocksDB backend works in its own directory and removes it", "[state][rocksdb]") {
  auto base = std::filesystem::path(test_support::rocksdb_base_dir()) / "own-directories";
  {
    int64_t now = 0;
    auto a = checkpoint::make_rocksdb_backend(base.string(), [&] { return now; });
    auto b = checkpoint::make_rocksdb_backend(base.string(), [&] { return now; });
    auto& va = detail::open_state(*a, ValueStateDescriptor<int>{"default"});
    auto& vb = detail::open_state(*b, ValueStateDescriptor<int>{"default"});
    a->set_current_key("k", 3);
    b->set_current_key("k", 3);
    va.update(1);
    CHECK_FALSE(vb.value());
    CHECK(std::distance(std::filesystem::directory_iterator(base), {}) == 2);
  }
  CHECK(std::filesystem::is_empty(base));

  auto file = std::filesystem::path(test_support::rocksdb_base_dir()) / "a-file";
  std::ofstream(file) << "not a directory";
  CHECK_THROWS_WITH(checkpoint::make_rocksdb_backend(file.string(), [] { return int64_t(0); }),
                    Catch::Contains(file.string()));
}

TEST_CASE("a RocksDB memory budget sizes the block cache and charges every store's memtables to it", "[state][rocksdb]") {
  // Process-wide: the default cache is 64 MiB, so the tests after this one keep that size.
  const uint64_t budget = 64 << 20;
  checkpoint::set_rocksdb_memory(budget);
  auto m = checkpoint::rocksdb_memory();
  CHECK(m.budget == budget);
  CHECK(m.cache_capacity == budget);
  CHECK(m.memtable_limit == budget / 2);
  // Three stores of two states each write 120 MB. The budget is soft, as Flink's: past half of
  // it a write flushes its store's largest memtable, and flushes still running may pass it.
  auto base = std::filesystem::path(test_support::rocksdb_base_dir()) / "budget";
  int64_t now = 0;
  std::vector<std::unique_ptr<CheckpointableBackend>> stores;
  std::vector<ValueState<std::string>*> states;
  for (int i = 0; i < 3; ++i) {
    stores.push_back(checkpoint::make_rocksdb_backend(base.string(), [&] { return now; }));
    for (const char* name : {"a", "b"}) states.push_back(&detail::open_state(*stores.back(), ValueStateDescriptor<std::string>{name}));
  }
  const std::string value(1000, 'v');
  uint64_t highest = 0;
  for (int key = 0; key < 20'000; ++key) {
    for (size_t s = 0; s < states.size(); ++s) {
      stores[s / 2]->set_current_key("key-" + std::to_string(key), key % 128);
      states[s]->update(value);
    }
    if (key % 500 == 0) highest = std::max(highest, checkpoint::rocksdb_memory().memtable_usage);
  }
  m = checkpoint::rocksdb_memory();
  highest = std::max(highest, m.memtable_usage);
  INFO("highest memtable usage " << highest << " of " << m.memtable_limit);
  CHECK(highest > 0);                        // every store's memtables are counted
  CHECK(m.cache_usage >= m.memtable_usage);  // and charged to the block cache
  stores[1]->set_current_key("key-19999", 19999 % 128);
  CHECK(states[2]->value() == value);
}

TEST_CASE("a checkpoint sees the state as it was at its synchronous part while writes go on", "[state][snapshot]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      Fixture f(backend);
      auto& value = detail::open_state(*f.b, ValueStateDescriptor<int64_t>{"value"});
      auto& list = detail::open_state(*f.b, ListStateDescriptor<int64_t>{"list"});
      auto& map = detail::open_state(*f.b, MapStateDescriptor<int, int64_t>{"map"});
      constexpr int n = 2'000;
      auto key = [&](int i) { f.key("key-" + std::to_string(i)); };
      for (int i = 0; i < n; ++i) {
        key(i);
        value.update(i);
        list.add(i);
        map.put(i % 5, i);
      }
      auto sorted = [](KeyedStateSnapshot s) {
        std::sort(s.entries.begin(), s.entries.end(), [](const auto& a, const auto& b) {
          return std::tie(a.state, a.key_group, a.key, a.user_key) < std::tie(b.state, b.key_group, b.key, b.user_key);
        });
        return s.entries;
      };
      auto before = sorted(f.b->snapshot(128));
      SnapshotRequest request;
      request.checkpoint_id = 1;
      auto finish = f.b->snapshot_deferred(request);
      // Every kind of write, on every key group, before the snapshot is encoded.
      for (int i = 0; i < n; ++i) {
        key(i);
        if (i % 3 == 0) value.clear();
        else value.update(-i);
        list.add(n + i);
        map.put(i % 5, -i);
        map.remove((i + 1) % 5);
        (void)value.value();
      }
      for (int i = n; i < n + 100; ++i) {
        key(i);
        value.update(i);
      }
      auto after = finish();
      for (auto& e : after.encoded.entries()) after.entries.push_back(std::move(e));
      CHECK(sorted(after) == before);
      bool live = true;  // the writes stand
      for (int i = 0; i < n; ++i) {
        key(i);
        live = live && value.value() == (i % 3 == 0 ? std::nullopt : std::optional<int64_t>(-i)) &&
               list.get() == std::vector<int64_t>{i, n + i} && map.get(i % 5) == -i;
      }
      CHECK(live);
    }
  }
}

TEST_CASE("list appends never read the list on RocksDB: thousands keep their order through a snapshot, and a "
          "corrupt list fails naming the state when read",
          "[state][rocksdb]") {
  const auto backends = test_support::state_backends();
  for (const auto& backend : backends) {
    DYNAMIC_SECTION(backend.name) {
      Fixture f(backend);
      auto& list = detail::open_state(*f.b, ListStateDescriptor<int>{"list"});
      constexpr int n = 5'000;
      std::vector<int> expected(n);
      std::iota(expected.begin(), expected.end(), 0);
      f.key("a");
      for (int i = 0; i < n / 2; ++i) list.add(i);
      CHECK(list.get() == std::vector<int>(expected.begin(), expected.begin() + n / 2));
      for (int i = n / 2; i < n; ++i) list.add(i);
      CHECK(list.get() == expected);

      // Into the other backend, through the backend-independent form.
      Fixture g(backend.name == backends.front().name ? backends.back() : backends.front());
      g.b->restore(BackendSnapshot(f.b->snapshot(128)), KeyGroupRange{0, 128}, KeyGroupRange{0, 128});
      auto& restored = detail::open_state(*g.b, ListStateDescriptor<int>{"list"});
      g.key("a");
      CHECK(restored.get() == expected);

      f.key("b");
      if (!f.corrupt("list", "\x05\x01")) {
        SUCCEED("the heap backend keeps objects, not bytes");
        continue;
      }
      list.add(7);  // blind: the corrupt list is not read
      CHECK_THROWS_WITH(list.get(), Catch::Contains("'list'"));
    }
  }
}

TEST_CASE("a key's map entries on the heap keep user-key byte order as a std::map does, small and large",
          "[state]") {
  std::mt19937 rng(11);
  for (int distinct : {60, 400}) {  // below and above SortedEntries::large
    detail::SortedEntries<int> entries;
    std::map<std::string, int> oracle;
    bool same = true;
    auto ordered = [&](const detail::SortedEntries<int>& e, const std::map<std::string, int>& o) {
      std::vector<std::pair<std::string, int>> got;
      e.for_each([&](std::string_view k, int v) { got.emplace_back(std::string(k), v); });
      return got == std::vector<std::pair<std::string, int>>(o.begin(), o.end());
    };
    for (int i = 0; i < 20'000; ++i) {
      auto n = rng() % unsigned(distinct);
      // Bytes above 0x7f order after ASCII, as unsigned bytes do; lengths cross the 15 in place.
      auto key = std::string(1, char(0x30 + (n * 37) % 200)) + std::string(n % 19, char(n));
      switch (rng() % 4) {
        case 0:
        case 1: entries[key] = i, oracle[key] = i; break;
        case 2: same = same && entries.erase(key) == oracle.erase(key); break;
        default: {
          auto* v = entries.find(key);
          auto it = oracle.find(key);
          same = same && (v ? it != oracle.end() && *v == it->second : it == oracle.end());
        }
      }
      same = same && entries.size() == oracle.size();
      if (i % 1000 == 0) same = same && ordered(entries, oracle);
      if (i == 10'000) {  // a copy owns its entries
        auto copy = entries;
        auto frozen = oracle;
        entries.erase_if([](std::string_view, int& v) { return v % 3 == 0; });
        std::erase_if(oracle, [](const auto& e) { return e.second % 3 == 0; });
        same = same && ordered(copy, frozen);
      }
    }
    CHECK(same);
    CHECK(ordered(entries, oracle));
  }
  // A visitor that throws midway leaves the entries whole and in order: the ones it erased
  // before are gone, the rest stay.
  detail::SortedEntries<int> few;
  for (int i = 0; i < 10; ++i) few[std::string(1, char('a' + i))] = i;
  int calls = 0;
  CHECK_THROWS(few.erase_if([&](std::string_view, int& v) {
    if (++calls == 5) throw std::runtime_error("visitor failed");
    return v % 2 == 0;
  }));
  std::string left;
  few.for_each([&](std::string_view k, int) { left += k; });
  CHECK(left == "bdefghij");
}

TEST_CASE("the heap's flat key map finds, inserts and erases as a hash map does, through growth and collisions",
          "[state]") {
  detail::FlatKeyMap<int> flat;
  std::unordered_map<std::string, int> oracle;
  std::mt19937 rng(7);
  bool same = true;
  for (int i = 0; i < 200'000; ++i) {
    // Few keys, so that inserts, erases and probing runs meet; of every length up to 15 (in
    // place), 16 and some long (outside), and the empty key.
    auto n = rng() % 3000;
    auto key = n == 0 ? std::string() : std::to_string(n) + std::string(n % 17, 'y') + (n % 5 == 0 ? std::string(40, 'x') : std::string());
    switch (rng() % 3) {
      case 0: flat[key] = i, oracle[key] = i; break;
      case 1: same = same && flat.erase(key) == oracle.erase(key); break;
      default: {
        auto* v = flat.find(key);
        auto it = oracle.find(key);
        same = same && (v ? it != oracle.end() && *v == it->second : it == oracle.end());
      }
    }
    same = same && flat.size() == oracle.size();
    if (i == 100'000) {  // a copy (a snapshot's copy-on-write) owns its keys: the original changes on
      auto copy = flat;
      auto frozen = oracle;
      for (int j = 0; j < 2000; ++j) flat.erase(std::to_string(j) + std::string(j % 17, 'y'));
      for (const auto& [k, v] : frozen) same = same && copy.find(k) && *copy.find(k) == v;
      same = same && copy.size() == frozen.size();
      for (auto it = oracle.begin(); it != oracle.end();) {
        auto n = it->first.empty() ? 0 : std::stoul(it->first);
        if (n != 0 && n < 2000 && it->first.size() == std::to_string(n).size() + n % 17) it = oracle.erase(it);
        else ++it;
      }
    }
  }
  CHECK(same);
  size_t seen = 0;
  flat.for_each([&](std::string_view k, int v) {
    ++seen;
    same = same && oracle.count(std::string(k)) && oracle.at(std::string(k)) == v;
  });
  CHECK(same);
  CHECK(seen == oracle.size());
}
