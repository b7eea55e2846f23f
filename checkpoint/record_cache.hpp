// checkpoint/record_cache.hpp — a bounded write-back cache of a byte store's records: hot keys' reads and writes stay in memory, and writes reach the store in batches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/detail/flat_key_map.hpp"

namespace sluice::checkpoint {

/// Records of a byte store (key bytes per keyspace) as last read or written, in front of the
/// store, as Kafka Streams' record cache sits in front of RocksDB. A read that finds its key
/// here costs one hash lookup; a write only marks the record dirty. Dirty records reach the
/// store through `write` when they are evicted and when the owner flushes (before anything
/// reads the store directly: a scan, a checkpoint). Bounded by `budget` bytes (keys, values
/// and a per-record overhead) in two generations: records are added to the young one, and a
/// hit in the old one moves the record back there; when the young one holds half the
/// budget, the old one is written out and dropped and the young one becomes old. A key used
/// again within about half the budget's worth of other records is thus never evicted. A
/// record that was created and deleted while cached (a window's state, cleared when it
/// fires) never reaches the store at all, and leaves the cache at once.
/// Not thread-safe: one subtask's thread uses it.
class RecordCache {
 public:
  /// Whether the store holds a value of a key: known from a read or a write, or not known
  /// (a write of a key never read).
  enum class Stored : uint8_t { no, yes, maybe };
  struct Entry {
    std::string value;
    bool present = false;  ///< false: the key has no value (deleted, or never stored)
    bool dirty = false;    ///< changed since the store last saw it
    Stored stored = Stored::maybe;
  };
  /// Writes one dirty record to the store (a put, or a delete when !present).
  using Write = std::function<void(int space, std::string_view key, const Entry&)>;

  RecordCache(size_t budget, Write write) : budget_(budget), write_(std::move(write)) {}

  /// The record of `key` in `space`, when cached; valid until the next call.
  const Entry* find(int space, std::string_view key) {
    const auto& k = compose(space, key);
    if (auto* e = young_.find(k)) return e;
    auto* e = old_.find(k);
    if (!e) return nullptr;
    Entry moved = std::move(*e);
    old_.erase(k);
    return &insert(k, std::move(moved));
  }
  /// Caches `key`'s record: its value (`present`), or that it has none; `dirty` when the
  /// store does not hold it yet, else as just read from the store.
  void set(int space, std::string_view key, std::string_view value, bool present, bool dirty) {
    const auto& k = compose(space, key);
    Entry next{std::string(value), present, dirty, present ? Stored::yes : Stored::no};
    auto* young = young_.find(k);
    auto* e = young ? young : old_.find(k);
    bool was_dirty = e && e->dirty;
    if (dirty) next.stored = e ? e->stored : Stored::maybe;
    if (young) young_bytes_ -= cost(k, *young);
    if (dirty && !present && next.stored == Stored::no) {  // deleting what the store lacks: nothing to keep
      young_.erase(k);
      old_.erase(k);
      return;
    }
    if (young) {
      young_bytes_ += cost(k, next);
      *young = std::move(next);
    } else {
      old_.erase(k);  // overwritten
      insert(k, std::move(next));
    }
    if (dirty && !was_dirty) dirty_.push_back(k);
  }
  /// Forgets `key`'s record, writing it first when dirty (before the store changes it itself).
  void drop(int space, std::string_view key) {
    const auto& k = compose(space, key);
    for (auto* gen : {&young_, &old_}) {
      auto* e = gen->find(k);
      if (!e) continue;
      write_out(k, *e);
      if (gen == &young_) young_bytes_ -= cost(k, *e);
      gen->erase(k);
    }
  }
  /// Writes every dirty record, keeping them cached as clean. Costs what turned dirty since
  /// the last flush, not the whole cache: scans flush, and some run on every window fire.
  void flush() {
    for (const auto& k : dirty_) {
      auto* e = young_.find(k);
      if (!e) e = old_.find(k);
      if (e) write_out(k, *e);
    }
    dirty_.clear();
  }
  /// Forgets everything without writing (the store was replaced).
  void clear() {
    young_ = {};
    old_ = {};
    young_bytes_ = 0;
    dirty_.clear();
  }
  size_t records() const { return young_.size() + old_.size(); }
  /// What the store may not hold yet: records it lacks or may lack (counted as new), and the
  /// bytes of every value written since it last saw them.
  std::pair<uint64_t, uint64_t> unwritten() const {
    uint64_t records = 0, bytes = 0;
    for (const auto* gen : {&young_, &old_})
      gen->for_each([&](std::string_view k, const Entry& e) {
        if (!e.dirty || !e.present) return;
        records += e.stored != Stored::yes;
        bytes += k.size() - 2 + e.value.size();
      });
    return {records, bytes};
  }

 private:
  static size_t cost(std::string_view k, const Entry& e) { return k.size() + e.value.size() + 96; }
  static int space_of(std::string_view k) { return (uint8_t(k[0]) << 8) | uint8_t(k[1]); }
  static std::string_view key_of(std::string_view k) { return k.substr(2); }
  /// Writes `e` to the store when dirty, unless it deletes what the store surely lacks.
  void write_out(std::string_view k, Entry& e) {
    if (!e.dirty) return;
    if (e.present || e.stored != Stored::no) write_(space_of(k), key_of(k), e);
    e.dirty = false;
    e.stored = e.present ? Stored::yes : Stored::no;
  }
  /// The map key: the keyspace (2 bytes) and the key.
  const std::string& compose(int space, std::string_view key) {
    scratch_.assign({char(uint16_t(space) >> 8), char(uint16_t(space) & 0xff)});
    scratch_.append(key);
    return scratch_;
  }
  /// Adds a record not cached yet to the young generation, rotating first when it is full.
  /// The list of dirty keys keeps keys written out or dropped since until the next flush;
  /// past twice the records it is rebuilt, so that it stays bounded without flushes.
  Entry& insert(const std::string& k, Entry e) {
    if (young_bytes_ >= budget_ / 2) {
      old_.for_each([&](std::string_view ok, Entry& oe) { write_out(ok, oe); });
      old_.clear();
      std::swap(old_, young_);  // the young generation refills the old one's slots
      young_bytes_ = 0;
      if (dirty_.size() > 2 * old_.size() + 64) {
        dirty_.clear();
        old_.for_each([&](std::string_view ok, const Entry& oe) {
          if (oe.dirty) dirty_.emplace_back(ok);
        });
        if (e.dirty) dirty_.push_back(k);  // the record coming in, out of both generations now
      }
    }
    young_bytes_ += cost(k, e);
    auto& slot = young_[k];
    slot = std::move(e);
    return slot;
  }

  size_t budget_;
  Write write_;
  detail::FlatKeyMap<Entry> young_, old_;
  size_t young_bytes_ = 0;
  std::vector<std::string> dirty_;  // keys that turned dirty since the last flush (some since clean or gone)
  std::string scratch_;
};

}  // namespace sluice::checkpoint
