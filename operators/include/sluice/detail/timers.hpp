// operators/include/sluice/detail/timers.hpp — the timer queue of a keyed operator: one timer per (time, key, namespace), ordered by time.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <queue>
#include <unordered_map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace sluice::detail {

/// A registered timer. `ns` scopes it (a window's bytes; empty for process functions).
struct Timer {
  int64_t time = 0;
  std::string key;
  std::string ns;
  int key_group = 0;
  bool operator<(const Timer& o) const {
    return std::tie(time, key, ns) < std::tie(o.time, o.key, o.ns);
  }
  bool operator==(const Timer& o) const { return time == o.time && key == o.key && ns == o.ns; }
};

/// Within one time: the key and namespace bytes.
struct TimerHash {
  size_t operator()(const Timer& t) const {
    return std::hash<std::string>()(t.key) * 1099511628211ull ^ std::hash<std::string>()(t.ns);
  }
};

/// Timers of one kind (event or processing time). Timers are state: the checkpoint issue
/// snapshots them per key group with the rest of the keyed state.
///
/// Timers are bucketed by time: most operators register many timers at few distinct times
/// (every window of a size ends on the same boundaries), so a registration is one hash
/// lookup among the times and one insert, and nothing is compared byte by byte. A bucket is
/// sorted by (key, namespace) only when it fires, and then once.
class TimerQueue {
 public:
  /// Adds a timer; registering the same (time, key, namespace) twice keeps one.
  bool add(Timer t) {
    auto [at, fresh_time] = buckets_.try_emplace(t.time);
    if (fresh_time) times_.push(t.time);
    auto& b = at->second;
    if (!b.sorted.empty() && std::binary_search(b.sorted.begin(), b.sorted.end(), t, Later()))
      return false;
    if (!b.add_fresh(std::move(t))) return false;
    ++size_;
    return true;
  }
  bool remove(const Timer& t) {
    auto it = buckets_.find(t.time);
    if (it == buckets_.end()) return false;
    auto& b = it->second;
    bool removed = b.remove_fresh(t);
    if (!removed) {
      auto at = std::lower_bound(b.sorted.begin(), b.sorted.end(), t, Later());
      if (at != b.sorted.end() && *at == t) {
        b.sorted.erase(at);
        removed = true;
      }
    }
    if (!removed) return false;
    --size_;
    if (b.empty()) {
      buckets_.erase(it);
      // Removed buckets leave their times in the heap; past twice the buckets, rebuild it, so
      // that timers deleted and registered again on every element (a session extended, a
      // timeout pushed back) do not grow it without bound.
      if (times_.size() > 2 * buckets_.size() + 64) {
        std::vector<int64_t> live;
        live.reserve(buckets_.size());
        for (const auto& [time, bucket] : buckets_) live.push_back(time);
        times_ = decltype(times_)(std::greater<int64_t>(), std::move(live));
      }
    }
    return true;
  }
  /// The earliest timer with time <= `until` (by time, then key and namespace bytes), removed
  /// from the queue.
  std::optional<Timer> pop_until(int64_t until) {
    auto next = earliest();
    if (!next || *next > until) return std::nullopt;
    auto it = buckets_.find(*next);
    auto& b = it->second;
    if (!b.fresh_empty()) {  // registered since the bucket was last sorted: merged in
      auto mid = std::ptrdiff_t(b.sorted.size());
      b.take_fresh(b.sorted);
      std::sort(b.sorted.begin() + mid, b.sorted.end(), Later());
      std::inplace_merge(b.sorted.begin(), b.sorted.begin() + mid, b.sorted.end(), Later());
    }
    Timer t = std::move(b.sorted.back());
    b.sorted.pop_back();
    --size_;
    if (b.empty()) {
      buckets_.erase(it);
      times_.pop();
    }
    return t;
  }
  std::optional<int64_t> earliest() const {
    // Times whose bucket went (its timers removed) leave the heap when they come to the top.
    while (!times_.empty() && !buckets_.count(times_.top())) times_.pop();
    if (times_.empty()) return std::nullopt;
    return times_.top();
  }
  size_t size() const { return size_; }
  /// Every timer, ordered by time, key and namespace (a snapshot).
  std::vector<Timer> all() const {
    std::vector<Timer> out;
    out.reserve(size_);
    for (const auto& [time, b] : buckets_) {
      out.insert(out.end(), b.fresh.begin(), b.fresh.end());
      out.insert(out.end(), b.sorted.begin(), b.sorted.end());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  /// Descending: the next timer to fire is at the back.
  struct Later {
    bool operator()(const Timer& a, const Timer& b) const { return b < a; }
  };
  /// The timers of one time. Those not sorted yet sit in a vector, searched linearly while
  /// it holds at most `few_max` (most times have one or two timers: a session's end), then
  /// through an open-addressing index over it: a registration allocates nothing beyond the
  /// vector's growth, and firing takes the vector whole.
  struct Bucket {
    static constexpr size_t few_max = 8;
    std::vector<Timer> fresh;     // not sorted yet
    std::vector<uint64_t> hashes;  // of `fresh`, once indexed
    std::vector<uint32_t> slots;   // index into `fresh` + 1 (0: free), at most half full; empty while few
    std::vector<Timer> sorted;     // descending, while the bucket fires
    bool add_fresh(Timer&& t) {
      if (slots.empty()) {
        for (const auto& f : fresh)
          if (f == t) return false;
        fresh.push_back(std::move(t));
        if (fresh.size() > few_max) index(16 * few_max);
        return true;
      }
      auto h = TimerHash()(t);
      size_t i = find_slot(h, t);
      if (slots[i]) return false;
      slots[i] = uint32_t(fresh.size() + 1);
      fresh.push_back(std::move(t));
      hashes.push_back(h);
      if (fresh.size() * 2 > slots.size()) index(slots.size() * 2);
      return true;
    }
    bool remove_fresh(const Timer& t) {
      size_t at;
      if (slots.empty()) {
        auto it = std::find(fresh.begin(), fresh.end(), t);
        if (it == fresh.end()) return false;
        at = size_t(it - fresh.begin());
      } else {
        size_t i = find_slot(TimerHash()(t), t);
        if (!slots[i]) return false;
        at = slots[i] - 1;
        unslot(i);
      }
      size_t last = fresh.size() - 1;
      if (at != last) {  // the last timer fills the gap, its slot following it
        if (!slots.empty()) {
          slots[find_slot(hashes[last], fresh[last])] = uint32_t(at + 1);
          hashes[at] = hashes[last];
        }
        fresh[at] = std::move(fresh[last]);
      }
      fresh.pop_back();
      if (!slots.empty()) hashes.pop_back();
      return true;
    }
    bool fresh_empty() const { return fresh.empty(); }
    /// Moves the unsorted timers to the end of `out`.
    void take_fresh(std::vector<Timer>& out) {
      if (out.empty()) out.swap(fresh);
      else out.insert(out.end(), std::make_move_iterator(fresh.begin()), std::make_move_iterator(fresh.end()));
      fresh.clear();
      hashes.clear();
      slots.clear();
    }
    bool empty() const { return fresh_empty() && sorted.empty(); }

   private:
    size_t mask() const { return slots.size() - 1; }
    /// The slot holding `t` (with hash `h`), or the free slot where it would go.
    size_t find_slot(uint64_t h, const Timer& t) const {
      for (size_t i = h & mask();; i = (i + 1) & mask()) {
        auto s = slots[i];
        if (!s || (hashes[s - 1] == h && fresh[s - 1] == t)) return i;
      }
    }
    /// Empties slot `hole`, shifting later entries of its run back so probes still find them.
    void unslot(size_t hole) {
      for (size_t j = (hole + 1) & mask();; j = (j + 1) & mask()) {
        auto s = slots[j];
        if (!s) break;
        size_t home = hashes[s - 1] & mask();
        if (((j - home) & mask()) >= ((j - hole) & mask())) {
          slots[hole] = s;
          hole = j;
        }
      }
      slots[hole] = 0;
    }
    /// Rebuilds the index over `fresh` with `capacity` slots (a power of two).
    void index(size_t capacity) {
      hashes.resize(fresh.size());
      for (size_t k = 0; k < fresh.size(); ++k) hashes[k] = TimerHash()(fresh[k]);
      slots.assign(capacity, 0);
      for (size_t k = 0; k < fresh.size(); ++k) {
        size_t i = hashes[k] & mask();
        while (slots[i]) i = (i + 1) & mask();
        slots[i] = uint32_t(k + 1);
      }
    }
  };
  /// Buckets by time, found by hashing (sessions end at many distinct times, where an ordered
  /// map's lookup missed the cache at every level); their times in a min-heap for order, which
  /// may still hold times whose bucket went, or a time twice.
  std::unordered_map<int64_t, Bucket> buckets_;
  mutable std::priority_queue<int64_t, std::vector<int64_t>, std::greater<int64_t>> times_;
  size_t size_ = 0;
};

}  // namespace sluice::detail
