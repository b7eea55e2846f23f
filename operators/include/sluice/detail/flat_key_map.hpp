// operators/include/sluice/detail/flat_key_map.hpp — the heap backend's tables: an open-addressing hash map from key bytes to values (one key group), and one key's map entries in order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::detail {

/// A key's bytes in 16 bytes: up to 15 of them in place, longer keys in an allocation of
/// their own. Half a std::string, which keeps 15 in place too but takes 32 for it.
class KeyBytes {
 public:
  KeyBytes() { raw_[last] = 0; }
  explicit KeyBytes(std::string_view k) { set(k); }
  KeyBytes(const KeyBytes& o) { set(o.view()); }
  KeyBytes(KeyBytes&& o) noexcept {
    std::memcpy(raw_, o.raw_, sizeof raw_);
    o.raw_[last] = 0;
  }
  KeyBytes& operator=(const KeyBytes& o) {
    if (this != &o) *this = KeyBytes(o);  // allocates before it lets go of its own
    return *this;
  }
  KeyBytes& operator=(KeyBytes&& o) noexcept {
    if (this != &o) {
      release();
      std::memcpy(raw_, o.raw_, sizeof raw_);
      o.raw_[last] = 0;
    }
    return *this;
  }
  ~KeyBytes() { release(); }

  std::string_view view() const {
    if (!outside()) return {raw_, size_t(uint8_t(raw_[last]))};
    char* p;
    uint32_t n;
    std::memcpy(&p, raw_, sizeof p);
    std::memcpy(&n, raw_ + sizeof p, sizeof n);
    return {p, n};
  }
  /// Empties it, giving back an allocation.
  void reset() {
    release();
    raw_[last] = 0;
  }

 private:
  static constexpr size_t last = 15;          // inline: the length; outside: `outside_mark`
  static constexpr uint8_t outside_mark = 0xff;
  bool outside() const { return uint8_t(raw_[last]) == outside_mark; }
  void set(std::string_view k) {
    if (k.size() <= last) {
      std::memcpy(raw_, k.data(), k.size());
      raw_[last] = char(k.size());
      return;
    }
    char* p = new char[k.size()];
    std::memcpy(p, k.data(), k.size());
    auto n = uint32_t(k.size());
    std::memcpy(raw_, &p, sizeof p);
    std::memcpy(raw_ + sizeof p, &n, sizeof n);
    raw_[last] = char(outside_mark);
  }
  void release() {
    if (!outside()) return;
    char* p;
    std::memcpy(&p, raw_, sizeof p);
    delete[] p;
  }
  alignas(8) char raw_[16];
};

/// Keys (encoded bytes) to V in one array: linear probing kept at most 7/8 full, each slot
/// holding 32 bits of its key's hash, the key (KeyBytes: short keys in place) and the value,
/// so a lookup usually touches one slot where a node-based std::unordered_map touches a
/// bucket and then a node (two cache misses per lookup of a large keyed state). A key's home
/// slot is its hash scaled to the capacity, which grows by half (not doubling), so a table
/// that only grew is between 58 % and 88 % full (it does not shrink when entries go). Erasing shifts the entries that
/// follow back, so no tombstones pile up. Values move when the map grows or an entry is
/// erased: a pointer to one lasts until the next insertion or erasure.
template <class V>
class FlatKeyMap {
 public:
  V* find(std::string_view key) {
    if (slots_.empty()) return nullptr;
    auto h = hash(key);
    for (size_t i = home(h);; i = next(i)) {
      auto& s = slots_[i];
      if (s.hash == 0) return nullptr;
      if (s.hash == h && s.key.view() == key) return &s.value;
    }
  }
  const V* find(std::string_view key) const { return const_cast<FlatKeyMap*>(this)->find(key); }
  size_t count(std::string_view key) const { return find(key) ? 1 : 0; }
  /// The value of `key`, made (V{}) when missing.
  V& operator[](std::string_view key) {
    if ((size_ + 1) * 8 > slots_.size() * 7) grow();
    auto h = hash(key);
    size_t i = home(h);
    for (;; i = next(i)) {
      auto& s = slots_[i];
      if (s.hash == 0) break;
      if (s.hash == h && s.key.view() == key) return s.value;
    }
    auto& s = slots_[i];
    s.key = KeyBytes(key);  // may throw: the slot stays free until it has its key
    s.hash = h;
    ++size_;
    return s.value;
  }
  size_t erase(std::string_view key) {
    if (slots_.empty()) return 0;
    auto h = hash(key);
    size_t hole = home(h);
    for (;; hole = next(hole)) {
      auto& s = slots_[hole];
      if (s.hash == 0) return 0;
      if (s.hash == h && s.key.view() == key) break;
    }
    // Backward shift: an entry further along moves into the hole when the hole lies between
    // its home slot and where it sits (cyclically), so every probe still finds it.
    for (size_t j = next(hole);; j = next(j)) {
      auto& s = slots_[j];
      if (s.hash == 0) break;
      if (distance(home(s.hash), j) >= distance(hole, j)) {
        slots_[hole] = std::move(s);
        hole = j;
      }
    }
    auto& s = slots_[hole];
    s.hash = 0;
    s.key.reset();
    s.value = V{};
    --size_;
    return 1;
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// Removes every entry, keeping the slots' memory for the entries to come.
  void clear() {
    for (auto& s : slots_)
      if (s.hash != 0) s = Slot{};
    size_ = 0;
  }
  /// Calls `f(key, value)` on every entry (key: a std::string_view), in no particular order.
  template <class F>
  void for_each(F&& f) const {
    for (const auto& s : slots_)
      if (s.hash != 0) f(s.key.view(), s.value);
  }
  /// The same, with values to change in place.
  template <class F>
  void for_each(F&& f) {
    for (auto& s : slots_)
      if (s.hash != 0) f(s.key.view(), s.value);
  }
  /// Memory of one slot (the array holds up to 8 slots for every 7 entries).
  static constexpr size_t slot_bytes() { return sizeof(Slot); }

 private:
  struct Slot {
    KeyBytes key;
    uint32_t hash = 0;  // 0: the slot is free (a key's hash is never 0)
    V value{};
  };
  /// The slot a hash starts probing at: the hash scaled to the capacity.
  size_t home(uint32_t h) const { return size_t((uint64_t(h) * slots_.size()) >> 32); }
  size_t next(size_t i) const { return i + 1 == slots_.size() ? 0 : i + 1; }
  /// Steps from slot `from` forward to slot `to`, wrapping around.
  size_t distance(size_t from, size_t to) const { return to >= from ? to - from : to + slots_.size() - from; }
  static uint32_t hash(std::string_view key) {
    uint64_t x = std::hash<std::string_view>()(key);
    x ^= x >> 32;
    x *= 0x9E3779B97F4A7C15ull;
    return uint32_t(x >> 32) | 1;
  }
  void grow() {
    std::vector<Slot> old(slots_.empty() ? 16 : slots_.size() + slots_.size() / 2);
    old.swap(slots_);
    for (auto& s : old) {
      if (s.hash == 0) continue;
      size_t i = home(s.hash);
      while (slots_[i].hash != 0) i = next(i);
      slots_[i] = std::move(s);
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

/// One key's map-state entries (user key bytes to V), in user-key byte order: a sorted array
/// of (KeyBytes, V) while there are few (40 bytes an entry of 8-byte keys and values, read
/// with a binary search), a std::map once there are `large` (a node each, but an insertion
/// does not move the entries after it).
template <class V>
class SortedEntries {
 public:
  static constexpr size_t large = 128;

  SortedEntries() = default;
  SortedEntries(const SortedEntries& o) : small_(o.small_), large_(o.large_ ? std::make_unique<Large>(*o.large_) : nullptr) {}
  SortedEntries& operator=(const SortedEntries& o) {
    if (this != &o) *this = SortedEntries(o);
    return *this;
  }
  SortedEntries(SortedEntries&&) noexcept = default;
  SortedEntries& operator=(SortedEntries&&) noexcept = default;

  V* find(std::string_view uk) {
    if (large_) {
      auto it = large_->find(uk);
      return it == large_->end() ? nullptr : &it->second;
    }
    auto it = lower(uk);
    return it != small_.end() && it->first.view() == uk ? &it->second : nullptr;
  }
  const V* find(std::string_view uk) const { return const_cast<SortedEntries*>(this)->find(uk); }
  /// The value of `uk`, made (V{}) when missing.
  V& operator[](std::string_view uk) {
    if (large_) return large_->try_emplace(std::string(uk)).first->second;
    auto it = lower(uk);
    if (it != small_.end() && it->first.view() == uk) return it->second;
    if (small_.size() < large) return small_.insert(it, {KeyBytes(uk), V{}})->second;
    auto map = std::make_unique<Large>();  // filled before it replaces the array: a throw loses nothing
    for (const auto& [k, v] : small_) map->emplace_hint(map->end(), std::string(k.view()), v);
    large_ = std::move(map);
    small_ = {};
    return (*this)[uk];
  }
  size_t erase(std::string_view uk) {
    if (large_) {
      auto it = large_->find(uk);
      if (it == large_->end()) return 0;
      large_->erase(it);
      return 1;
    }
    auto it = lower(uk);
    if (it == small_.end() || it->first.view() != uk) return 0;
    small_.erase(it);
    return 1;
  }
  size_t size() const { return large_ ? large_->size() : small_.size(); }
  bool empty() const { return size() == 0; }
  /// Calls `f(user key, value)` on every entry in user-key order (user key: a std::string_view).
  template <class F>
  void for_each(F&& f) const {
    if (large_)
      for (const auto& [k, v] : *large_) f(std::string_view(k), v);
    else
      for (const auto& [k, v] : small_) f(k.view(), v);
  }
  /// The same, with values to change in place; an entry goes when `f` returns true.
  template <class F>
  void erase_if(F&& f) {
    if (large_) {
      for (auto it = large_->begin(); it != large_->end();) {
        if (f(std::string_view(it->first), it->second)) it = large_->erase(it);
        else ++it;
      }
      return;
    }
    // In order, and whole if `f` throws: the entries kept so far close up, the rest stay.
    size_t kept = 0, i = 0;
    try {
      for (; i < small_.size(); ++i) {
        if (f(small_[i].first.view(), small_[i].second)) continue;
        if (kept != i) small_[kept] = std::move(small_[i]);
        ++kept;
      }
    } catch (...) {
      for (; i < small_.size(); ++i, ++kept)
        if (kept != i) small_[kept] = std::move(small_[i]);
      small_.resize(kept);
      throw;
    }
    small_.resize(kept);
  }
  /// Memory of one entry held in the array.
  static constexpr size_t entry_bytes() { return sizeof(Entry); }

 private:
  using Entry = std::pair<KeyBytes, V>;
  using Large = std::map<std::string, V, std::less<>>;
  typename std::vector<Entry>::iterator lower(std::string_view uk) {
    return std::lower_bound(small_.begin(), small_.end(), uk,
                            [](const Entry& e, std::string_view k) { return e.first.view() < k; });
  }

  std::vector<Entry> small_;
  std::unique_ptr<Large> large_;
};

}  // namespace sluice::detail
