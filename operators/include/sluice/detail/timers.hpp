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
#include <unordered_set>
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
      out.insert(out.end(), b.few.begin(), b.few.end());
      out.insert(out.end(), b.many.begin(), b.many.end());
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
  /// The timers of one time. Those not sorted yet sit in a short vector searched linearly, or
  /// in a hash set once there are more than `few_max`: most times have one or two timers (a
  /// session's end), which then cost no hash set of their own.
  struct Bucket {
    static constexpr size_t few_max = 8;
    std::vector<Timer> few;
    std::unordered_set<Timer, TimerHash> many;  // empty while `few` serves
    std::vector<Timer> sorted;                  // descending, while the bucket fires
    bool add_fresh(Timer&& t) {
      if (many.empty()) {
        for (const auto& f : few)
          if (f == t) return false;
        if (few.size() < few_max) {
          few.push_back(std::move(t));
          return true;
        }
        many.insert(std::make_move_iterator(few.begin()), std::make_move_iterator(few.end()));
        few.clear();
      }
      return many.insert(std::move(t)).second;
    }
    bool remove_fresh(const Timer& t) {
      if (!many.empty()) return many.erase(t) > 0;
      for (auto& f : few) {
        if (!(f == t)) continue;
        f = std::move(few.back());
        few.pop_back();
        return true;
      }
      return false;
    }
    bool fresh_empty() const { return few.empty() && many.empty(); }
    /// Moves the unsorted timers to the end of `out`.
    void take_fresh(std::vector<Timer>& out) {
      for (auto& f : few) out.push_back(std::move(f));
      few.clear();
      while (!many.empty()) out.push_back(std::move(many.extract(many.begin()).value()));
    }
    bool empty() const { return fresh_empty() && sorted.empty(); }
  };
  /// Buckets by time, found by hashing (sessions end at many distinct times, where an ordered
  /// map's lookup missed the cache at every level); their times in a min-heap for order, which
  /// may still hold times whose bucket went, or a time twice.
  std::unordered_map<int64_t, Bucket> buckets_;
  mutable std::priority_queue<int64_t, std::vector<int64_t>, std::greater<int64_t>> times_;
  size_t size_ = 0;
};

}  // namespace sluice::detail
