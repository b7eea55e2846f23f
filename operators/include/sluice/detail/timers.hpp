// operators/include/sluice/detail/timers.hpp — the timer queue of a keyed operator: one timer per (time, key, namespace), ordered by time.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_set>

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

struct TimerHash {
  size_t operator()(const Timer& t) const {
    auto h = std::hash<std::string>()(t.key) ^ (std::hash<std::string>()(t.ns) * 31);
    return h ^ (std::hash<int64_t>()(t.time) * 1099511628211ull);
  }
};

/// Timers of one kind (event or processing time). Timers are state: the checkpoint issue
/// snapshots them per key group with the rest of the keyed state.
class TimerQueue {
 public:
  /// Adds a timer; registering the same (time, key, namespace) twice keeps one. Operators
  /// re-register the same timer for every element of a window, so duplicates are found by
  /// hash first, before the ordered set is touched.
  bool add(Timer t) {
    if (!index_.insert(t).second) return false;
    timers_.insert(std::move(t));
    return true;
  }
  bool remove(const Timer& t) {
    if (!index_.erase(t)) return false;
    timers_.erase(t);
    return true;
  }
  /// The earliest timer with time <= `until`, removed from the queue.
  std::optional<Timer> pop_until(int64_t until) {
    if (timers_.empty() || timers_.begin()->time > until) return std::nullopt;
    auto node = timers_.extract(timers_.begin());
    index_.erase(node.value());
    return std::move(node.value());
  }
  std::optional<int64_t> earliest() const {
    if (timers_.empty()) return std::nullopt;
    return timers_.begin()->time;
  }
  size_t size() const { return timers_.size(); }
  const std::set<Timer>& all() const { return timers_; }

 private:
  std::set<Timer> timers_;
  std::unordered_set<Timer, TimerHash> index_;
};

}  // namespace sluice::detail
