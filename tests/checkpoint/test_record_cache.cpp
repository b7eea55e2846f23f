// tests/checkpoint/test_record_cache.cpp — the record cache in front of RocksDB: reads see every write, the store gets every write that matters, and bounded memory.
#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <random>
#include <string>

#include "checkpoint/record_cache.hpp"

using sluice::checkpoint::RecordCache;

namespace {

/// A byte store as a map of (space, key), with the cache in front of it as the RocksDB
/// backend uses it: a miss reads the store and caches what it found.
struct Cached {
  std::map<std::pair<int, std::string>, std::string> store;
  size_t writes = 0;
  RecordCache cache;
  explicit Cached(size_t budget)
      : cache(budget, [this](int space, std::string_view key, const RecordCache::Entry& e) {
          ++writes;
          if (e.present) store[{space, std::string(key)}] = e.value;
          else store.erase({space, std::string(key)});
        }) {}
  std::optional<std::string> get(int space, const std::string& key) {
    if (const auto* e = cache.find(space, key)) return e->present ? std::optional(e->value) : std::nullopt;
    auto it = store.find({space, key});
    cache.set(space, key, it == store.end() ? "" : it->second, it != store.end(), false);
    return it == store.end() ? std::nullopt : std::optional(it->second);
  }
};

}  // namespace

TEST_CASE("the record cache reads what was last written, and after a flush the store holds exactly that",
          "[state][rocksdb]") {
  // Against a plain map, over many more keys than fit: hot keys (a few) and cold ones, gets,
  // puts, deletes, drops (what an append does first) and flushes (what a scan or checkpoint
  // does first), with evictions all along.
  std::mt19937 rng(11);
  Cached c(4096);
  std::map<std::pair<int, std::string>, std::string> model;
  bool same = true;
  for (int step = 0; step < 200'000 && same; ++step) {
    int space = int(rng() % 3);
    auto key = "k" + std::to_string(rng() % 4 == 0 ? rng() % 5 : rng() % 2000);
    auto r = rng() % 100;
    if (r < 40) {
      auto it = model.find({space, key});
      same = c.get(space, key) == (it == model.end() ? std::nullopt : std::optional(it->second));
    } else if (r < 75) {
      auto v = std::string(rng() % 40, char('a' + rng() % 26));
      c.cache.set(space, key, v, true, true);
      model[{space, key}] = v;
    } else if (r < 95) {
      c.cache.set(space, key, {}, false, true);
      model.erase({space, key});
    } else if (r < 99) {
      c.cache.drop(space, key);
      auto it = model.find({space, key});
      auto s = c.store.find({space, key});
      same = (it == model.end()) == (s == c.store.end()) && (s == c.store.end() || s->second == it->second);
    } else {
      c.cache.flush();
      same = c.store == model;
    }
    same = same && c.cache.records() < 4096 / 96;  // bounded by the budget
  }
  CHECK(same);
  c.cache.flush();
  CHECK(c.store == model);
}

TEST_CASE("a record created and deleted while cached never reaches the store, and one that was stored is deleted there",
          "[state][rocksdb]") {
  Cached c(1 << 20);
  c.store[{0, "old"}] = "x";
  CHECK_FALSE(c.get(0, "new"));  // read first, as window state is: the store surely lacks it
  c.cache.set(0, "new", "1", true, true);
  c.cache.set(0, "new", {}, false, true);
  c.cache.set(0, "blind", "2", true, true);  // written without a read: the store may hold it
  c.cache.set(0, "blind", {}, false, true);
  CHECK(c.get(0, "old") == "x");
  c.cache.set(0, "old", {}, false, true);
  c.cache.flush();
  CHECK(c.writes == 2);  // the deletes of "blind" and "old"
  CHECK(c.store.empty());
  c.cache.flush();
  CHECK(c.writes == 2);  // nothing dirty is left
}
