// operators/include/sluice/detail/timers.hpp — the timer queue of a keyed operator: one timer per (time, key, namespace), ordered by time.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
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
/// (every window of a size ends on the same boundaries), so a registration is one ordered
/// lookup among the times and one hash insert, and nothing is compared byte by byte. A
/// bucket is sorted by (key, namespace) only when it fires, and then once.
class TimerQueue {
 public:
  /// Adds a timer; registering the same (time, key, namespace) twice keeps one.
  bool add(Timer t) {
    auto& b = buckets_[t.time];
    if (!b.sorted.empty() && std::binary_search(b.sorted.begin(), b.sorted.end(), t, Later()))
      return false;
    if (!b.fresh.insert(std::move(t)).second) return false;
    ++size_;
    return true;
  }
  bool remove(const Timer& t) {
    auto it = buckets_.find(t.time);
    if (it == buckets_.end()) return false;
    auto& b = it->second;
    bool removed = b.fresh.erase(t) > 0;
    if (!removed) {
      auto at = std::lower_bound(b.sorted.begin(), b.sorted.end(), t, Later());
      if (at != b.sorted.end() && *at == t) {
        b.sorted.erase(at);
        removed = true;
      }
    }
    if (!removed) return false;
    --size_;
    if (b.empty()) buckets_.erase(it);
    return true;
  }
  /// The earliest timer with time <= `until` (by time, then key and namespace bytes), removed
  /// from the queue.
  std::optional<Timer> pop_until(int64_t until) {
    if (buckets_.empty() || buckets_.begin()->first > until) return std::nullopt;
    auto it = buckets_.begin();
    auto& b = it->second;
    if (!b.fresh.empty()) {  // registered since the bucket was last sorted: merged in
      auto mid = std::ptrdiff_t(b.sorted.size());
      while (!b.fresh.empty()) b.sorted.push_back(std::move(b.fresh.extract(b.fresh.begin()).value()));
      std::sort(b.sorted.begin() + mid, b.sorted.end(), Later());
      std::inplace_merge(b.sorted.begin(), b.sorted.begin() + mid, b.sorted.end(), Later());
    }
    Timer t = std::move(b.sorted.back());
    b.sorted.pop_back();
    --size_;
    if (b.empty()) buckets_.erase(it);
    return t;
  }
  std::optional<int64_t> earliest() const {
    if (buckets_.empty()) return std::nullopt;
    return buckets_.begin()->first;
  }
  size_t size() const { return size_; }
  /// Every timer, ordered by time, key and namespace (a snapshot).
  std::vector<Timer> all() const {
    std::vector<Timer> out;
    out.reserve(size_);
    for (const auto& [time, b] : buckets_) {
      auto first = out.size();
      out.insert(out.end(), b.fresh.begin(), b.fresh.end());
      out.insert(out.end(), b.sorted.begin(), b.sorted.end());
      std::sort(out.begin() + std::ptrdiff_t(first), out.end());
    }
    return out;
  }

 private:
  /// Descending: the next timer to fire is at the back.
  struct Later {
    bool operator()(const Timer& a, const Timer& b) const { return b < a; }
  };
  struct Bucket {
    std::unordered_set<Timer, TimerHash> fresh;  // not sorted yet
    std::vector<Timer> sorted;                   // descending, while the bucket fires
    bool empty() const { return fresh.empty() && sorted.empty(); }
  };
  std::map<int64_t, Bucket> buckets_;
  size_t size_ = 0;
};

}  // namespace sluice::detail
