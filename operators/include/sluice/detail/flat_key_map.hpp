// operators/include/sluice/detail/flat_key_map.hpp — an open-addressing hash map from key bytes to values: the heap backend's table of one key group.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::detail {

/// Keys (encoded bytes) to V in one array: linear probing over a power-of-two capacity kept
/// at most 7/8 full, each slot holding its key's hash and the key itself (short keys inline),
/// so a lookup usually touches one slot where a node-based std::unordered_map touches a
/// bucket and then a node (two cache misses per lookup of a large keyed state). Erasing
/// shifts the entries that follow back, so no tombstones pile up. Values move when the map
/// grows or an entry is erased: a pointer to one lasts until the next insertion or erasure.
template <class V>
class FlatKeyMap {
 public:
  V* find(const std::string& key) {
    if (slots_.empty()) return nullptr;
    auto h = hash(key);
    for (size_t i = h & mask();; i = (i + 1) & mask()) {
      auto& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.hash == h && s.key == key) return &s.value;
    }
  }
  const V* find(const std::string& key) const { return const_cast<FlatKeyMap*>(this)->find(key); }
  size_t count(const std::string& key) const { return find(key) ? 1 : 0; }
  /// The value of `key`, made (V{}) when missing.
  V& operator[](const std::string& key) {
    if ((size_ + 1) * 8 > slots_.size() * 7) grow();
    auto h = hash(key);
    size_t i = h & mask();
    for (;; i = (i + 1) & mask()) {
      auto& s = slots_[i];
      if (!s.used) break;
      if (s.hash == h && s.key == key) return s.value;
    }
    auto& s = slots_[i];
    s.used = true;
    s.hash = h;
    s.key = key;
    ++size_;
    return s.value;
  }
  size_t erase(const std::string& key) {
    if (slots_.empty()) return 0;
    auto h = hash(key);
    size_t hole = h & mask();
    for (;; hole = (hole + 1) & mask()) {
      auto& s = slots_[hole];
      if (!s.used) return 0;
      if (s.hash == h && s.key == key) break;
    }
    // Backward shift: an entry further along moves into the hole when the hole lies between
    // its home slot and where it sits (cyclically), so every probe still finds it.
    for (size_t j = (hole + 1) & mask();; j = (j + 1) & mask()) {
      auto& s = slots_[j];
      if (!s.used) break;
      size_t home = s.hash & mask();
      if (((j - home) & mask()) >= ((j - hole) & mask())) {
        slots_[hole] = std::move(s);
        hole = j;
      }
    }
    auto& s = slots_[hole];
    s.used = false;
    s.key.clear();
    s.value = V{};
    --size_;
    return 1;
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// Removes every entry, keeping the slots' memory for the entries to come.
  void clear() {
    for (auto& s : slots_)
      if (s.used) s = Slot{};
    size_ = 0;
  }
  /// Calls `f(key, value)` on every entry, in no particular order.
  template <class F>
  void for_each(F&& f) const {
    for (const auto& s : slots_)
      if (s.used) f(s.key, s.value);
  }
  /// The same, with values to change in place.
  template <class F>
  void for_each(F&& f) {
    for (auto& s : slots_)
      if (s.used) f(std::as_const(s.key), s.value);
  }
  /// Memory of one slot (the array holds up to 8 slots for every 7 entries, at least half full
  /// after growing).
  static constexpr size_t slot_bytes() { return sizeof(Slot); }

 private:
  struct Slot {
    uint64_t hash = 0;
    bool used = false;
    std::string key;
    V value{};
  };
  size_t mask() const { return slots_.size() - 1; }
  static uint64_t hash(const std::string& key) {
    uint64_t x = std::hash<std::string_view>()(key);
    x ^= x >> 32;
    x *= 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
  }
  void grow() {
    std::vector<Slot> old(slots_.empty() ? 16 : slots_.size() * 2);
    old.swap(slots_);
    for (auto& s : old) {
      if (!s.used) continue;
      size_t i = s.hash & mask();
      while (slots_[i].used) i = (i + 1) & mask();
      slots_[i] = std::move(s);
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace sluice::detail
