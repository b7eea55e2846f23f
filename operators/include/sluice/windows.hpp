// operators/include/sluice/windows.hpp — keyed windows: assigners, triggers, window functions.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/codec.hpp"
#include "sluice/element.hpp"
#include "sluice/error.hpp"
#include "sluice/functions.hpp"
#include "sluice/state.hpp"
#include "sluice/stream.hpp"

namespace sluice {

// ---- windows

/// A window of time [start, end): `end` is exclusive, so the last timestamp it holds is
/// max_timestamp() = end - 1, the time at which an event-time trigger fires it.
struct TimeWindow {
  int64_t start = 0;
  int64_t end = 0;

  int64_t max_timestamp() const { return end - 1; }
  /// Whether the windows overlap or touch: [0,10) and [10,20) intersect (as Flink's
  /// TimeWindow), so sessions whose elements are exactly one gap apart merge into one.
  bool intersects(const TimeWindow& o) const { return start <= o.end && end >= o.start; }
  /// The smallest window that covers both.
  TimeWindow cover(const TimeWindow& o) const {
    return {std::min(start, o.start), std::max(end, o.end)};
  }
  auto operator<=>(const TimeWindow&) const = default;

  /// The start of the window of length `size` that holds `timestamp`, windows being aligned
  /// to the epoch shifted by `offset`: timestamp - ((timestamp - offset) mod size), with the
  /// modulo taken non-negative so that a negative timestamp falls in the window starting at
  /// or before it (-1 with size 10 is in [-10, 0)).
  static int64_t window_start(int64_t timestamp, int64_t offset, int64_t size) {
    int64_t rem = (timestamp - offset) % size;
    if (rem < 0) rem += size;
    return timestamp - rem;
  }

  using MergeCallback =
      std::function<void(const std::vector<TimeWindow>& merged, const TimeWindow& result)>;
  /// Session merging: sorts `windows`, folds every run of intersecting windows into their
  /// cover, and calls `merge(run, cover)` for each run of at least two distinct windows.
  static void merge_windows(std::vector<TimeWindow> windows, const MergeCallback& merge) {
    std::sort(windows.begin(), windows.end());
    windows.erase(std::unique(windows.begin(), windows.end()), windows.end());
    std::vector<TimeWindow> run;
    TimeWindow cover_all;
    auto flush = [&] {
      if (run.size() > 1) merge(run, cover_all);
      run.clear();
    };
    for (const auto& w : windows) {
      if (!run.empty() && cover_all.intersects(w)) {
        cover_all = cover_all.cover(w);
      } else {
        flush();
        cover_all = w;
      }
      run.push_back(w);
    }
    flush();
  }

  friend std::ostream& operator<<(std::ostream& os, const TimeWindow& w) {
    return os << "[" << w.start << ", " << w.end << ")";
  }
};

/// The one window of GlobalWindows: it holds every element of its key and never ends by time.
struct GlobalWindow {
  int64_t max_timestamp() const { return max_watermark; }
  auto operator<=>(const GlobalWindow&) const = default;
  friend std::ostream& operator<<(std::ostream& os, const GlobalWindow&) {
    return os << "GlobalWindow";
  }
};

}  // namespace sluice

/// Compact, as windows name timers and state: zigzag varint of the start, varint of the
/// length (8 bytes for epoch-millisecond windows, so a window's bytes stay in a short string).
template <>
struct sluice::Codec<sluice::TimeWindow> {
  static void encode(const sluice::TimeWindow& v, ByteWriter& w) {
    w.write_varint((uint64_t(v.start) << 1) ^ uint64_t(v.start >> 63));
    w.write_varint(uint64_t(v.end) - uint64_t(v.start));
  }
  static sluice::TimeWindow decode(ByteReader& r) {
    auto z = r.read_varint();
    auto start = int64_t((z >> 1) ^ (~(z & 1) + 1));
    return {start, int64_t(uint64_t(start) + r.read_varint())};
  }
};

template <>
struct sluice::Codec<sluice::GlobalWindow> {
  static void encode(const sluice::GlobalWindow&, ByteWriter&) {}
  static sluice::GlobalWindow decode(ByteReader&) { return {}; }
};

namespace sluice {

// ---- triggers

/// What a trigger decides for a window: FIRE evaluates the window function over the
/// window's contents and emits the result; PURGE drops the contents (the window itself
/// lives on until its cleanup time); FIRE_AND_PURGE does both; CONTINUE does nothing.
enum class TriggerResult { CONTINUE, FIRE, PURGE, FIRE_AND_PURGE };
inline bool is_fire(TriggerResult r) {
  return r == TriggerResult::FIRE || r == TriggerResult::FIRE_AND_PURGE;
}
inline bool is_purge(TriggerResult r) {
  return r == TriggerResult::PURGE || r == TriggerResult::FIRE_AND_PURGE;
}

/// What a trigger sees while it decides for one window of one key: time, timers of that
/// (key, window) and state of that (key, window).
class TriggerContext {
 public:
  virtual ~TriggerContext() = default;
  virtual int64_t current_watermark() const = 0;
  virtual int64_t current_processing_time() const = 0;
  /// Timers of the current key and window: when one is due, the trigger's on_event_time or
  /// on_processing_time runs for that window. One timer per (key, window, time).
  virtual void register_event_time_timer(int64_t time) = 0;
  virtual void register_processing_time_timer(int64_t time) = 0;
  virtual void delete_event_time_timer(int64_t time) = 0;
  virtual void delete_processing_time_timer(int64_t time) = 0;
  /// State of the current key and window, of any kind, by descriptor (Flink's
  /// getPartitionedState). The handle always refers to the window the trigger is called for;
  /// the trigger clears it in clear().
  template <class D>
  auto& partitioned_state(const D& desc) {
    return detail::open_state(window_scope(), desc);
  }

 protected:
  /// Keyed state scoped to the current (key, window).
  virtual KeyedStateBackend& window_scope() = 0;
};

/// The context of Trigger::on_merge: the current window is the merge result.
class OnMergeContext : public TriggerContext {
 public:
  /// Folds the state `desc` of every window merged into the current one into the current
  /// window's state, and clears theirs.
  template <class T>
  void merge_partitioned_state(const ReducingStateDescriptor<T>& desc) {
    auto& s = partitioned_state(desc);
    for (size_t i = 0; i < merged_count(); ++i) {
      scope_merged(i);
      auto v = s.get();
      s.clear();
      scope_result();
      if (v) s.add(std::move(*v));
    }
  }
  template <class T>
  void merge_partitioned_state(const ListStateDescriptor<T>& desc) {
    auto& s = partitioned_state(desc);
    for (size_t i = 0; i < merged_count(); ++i) {
      scope_merged(i);
      auto vs = s.get();
      s.clear();
      scope_result();
      for (auto& v : vs) s.add(std::move(v));
    }
  }
  template <class In, class Acc, class Out>
  void merge_partitioned_state(const AggregatingStateDescriptor<In, Acc, Out>& desc) {
    partitioned_state(desc);
    detail::with_cell(desc.ttl, [&](auto kind) {
      using Cell = typename decltype(kind)::template cell<Acc>;
      auto& cells = detail::key_cells<Cell>(window_scope(), desc.name);
      detail::Ttl ttl(window_scope(), desc.ttl);
      for (size_t i = 0; i < merged_count(); ++i) {
        scope_merged(i);
        auto* c = cells.find();
        if (!c) continue;
        bool live = !ttl.expired(c->expires);
        Acc acc = std::move(c->value);
        cells.erase();
        scope_result();
        if (!live) continue;
        auto* t = cells.find();
        if (t && !ttl.expired(t->expires)) {
          t->value = desc.function->merge(std::move(t->value), acc);
        } else {
          t = &cells.upsert();
          t->value = std::move(acc);
        }
        t->set_expires(ttl.deadline());
        cells.store();
      }
    });
    scope_result();
  }

 protected:
  /// How many windows were merged into the current one.
  virtual size_t merged_count() const = 0;
  /// Points window_scope() at merged window `i`, or back at the merge result.
  virtual void scope_merged(size_t i) = 0;
  virtual void scope_result() = 0;
};

/// Decides when a window fires and when its contents are purged (Flink's Trigger). T is the
/// element type, W the window type. A trigger object serves every key and window of one
/// subtask: keep what it remembers in partitioned_state(), never in members.
template <class T, class W>
class Trigger {
 public:
  virtual ~Trigger() = default;
  /// An element was added to `window`.
  virtual TriggerResult on_element(const T& element, int64_t timestamp, const W& window,
                                   TriggerContext& ctx) = 0;
  /// An event-time timer this trigger registered for `window` is due.
  virtual TriggerResult on_event_time(int64_t time, const W& window, TriggerContext& ctx) = 0;
  /// A processing-time timer this trigger registered for `window` is due.
  virtual TriggerResult on_processing_time(int64_t time, const W& window, TriggerContext& ctx) = 0;
  /// Whether the trigger can serve merging (session) windows; then on_merge must be given.
  virtual bool can_merge() const { return false; }
  /// Windows were merged into `window`: re-register timers for it, merge state.
  virtual void on_merge(const W&, OnMergeContext&) {
    throw JobError("this trigger does not support merging windows");
  }
  /// `window` is gone (cleanup, or merged into another): delete its timers and state.
  virtual void clear(const W& window, TriggerContext& ctx) = 0;
};

namespace detail {
/// A Trigger<T, W> from either a user trigger (a class derived from Trigger<T, W>, copied)
/// or a built-in one (EventTimeTrigger, CountTrigger, ...: any element and window type).
template <class T, class W, class Tr>
std::unique_ptr<Trigger<T, W>> make_trigger(const Tr& t) {
  if constexpr (std::is_base_of_v<Trigger<T, W>, Tr>)
    return std::make_unique<Tr>(t);
  else
    return t.template make<T, W>();
}

template <class T, class W>
class EventTimeTriggerImpl final : public Trigger<T, W> {
 public:
  TriggerResult on_element(const T&, int64_t, const W& w, TriggerContext& ctx) override {
    // A window the watermark already passed (allowed lateness) fires at once: that is the
    // re-firing.
    if (w.max_timestamp() <= ctx.current_watermark()) return TriggerResult::FIRE;
    ctx.register_event_time_timer(w.max_timestamp());
    return TriggerResult::CONTINUE;
  }
  TriggerResult on_event_time(int64_t time, const W& w, TriggerContext&) override {
    return time == w.max_timestamp() ? TriggerResult::FIRE : TriggerResult::CONTINUE;
  }
  TriggerResult on_processing_time(int64_t, const W&, TriggerContext&) override {
    return TriggerResult::CONTINUE;
  }
  bool can_merge() const override { return true; }
  void on_merge(const W& w, OnMergeContext& ctx) override {
    if (w.max_timestamp() > ctx.current_watermark())
      ctx.register_event_time_timer(w.max_timestamp());
  }
  void clear(const W& w, TriggerContext& ctx) override {
    ctx.delete_event_time_timer(w.max_timestamp());
  }
};

template <class T, class W>
class ProcessingTimeTriggerImpl final : public Trigger<T, W> {
 public:
  TriggerResult on_element(const T&, int64_t, const W& w, TriggerContext& ctx) override {
    ctx.register_processing_time_timer(w.max_timestamp());
    return TriggerResult::CONTINUE;
  }
  TriggerResult on_event_time(int64_t, const W&, TriggerContext&) override {
    return TriggerResult::CONTINUE;
  }
  TriggerResult on_processing_time(int64_t, const W&, TriggerContext&) override {
    return TriggerResult::FIRE;
  }
  bool can_merge() const override { return true; }
  void on_merge(const W& w, OnMergeContext& ctx) override {
    if (w.max_timestamp() > ctx.current_processing_time())
      ctx.register_processing_time_timer(w.max_timestamp());
  }
  void clear(const W& w, TriggerContext& ctx) override {
    ctx.delete_processing_time_timer(w.max_timestamp());
  }
};

template <class T, class W>
class CountTriggerImpl final : public Trigger<T, W> {
 public:
  explicit CountTriggerImpl(int64_t n) : n_(n) {}
  TriggerResult on_element(const T&, int64_t, const W&, TriggerContext& ctx) override {
    auto& count = ctx.partitioned_state(count_);
    count.add(1);
    if (count.get().value_or(0) < n_) return TriggerResult::CONTINUE;
    count.clear();
    return TriggerResult::FIRE;
  }
  TriggerResult on_event_time(int64_t, const W&, TriggerContext&) override {
    return TriggerResult::CONTINUE;
  }
  TriggerResult on_processing_time(int64_t, const W&, TriggerContext&) override {
    return TriggerResult::CONTINUE;
  }
  bool can_merge() const override { return true; }
  void on_merge(const W&, OnMergeContext& ctx) override { ctx.merge_partitioned_state(count_); }
  void clear(const W&, TriggerContext& ctx) override { ctx.partitioned_state(count_).clear(); }

 private:
  int64_t n_;
  ReducingStateDescriptor<int64_t> count_{"count", [](int64_t a, int64_t b) { return a + b; }};
};

template <class T, class W>
class PurgingTriggerImpl final : public Trigger<T, W> {
 public:
  explicit PurgingTriggerImpl(std::unique_ptr<Trigger<T, W>> nested) : nested_(std::move(nested)) {}
  TriggerResult on_element(const T& e, int64_t ts, const W& w, TriggerContext& ctx) override {
    return purging(nested_->on_element(e, ts, w, ctx));
  }
  TriggerResult on_event_time(int64_t t, const W& w, TriggerContext& ctx) override {
    return purging(nested_->on_event_time(t, w, ctx));
  }
  TriggerResult on_processing_time(int64_t t, const W& w, TriggerContext& ctx) override {
    return purging(nested_->on_processing_time(t, w, ctx));
  }
  bool can_merge() const override { return nested_->can_merge(); }
  void on_merge(const W& w, OnMergeContext& ctx) override { nested_->on_merge(w, ctx); }
  void clear(const W& w, TriggerContext& ctx) override { nested_->clear(w, ctx); }

 private:
  static TriggerResult purging(TriggerResult r) {
    return is_fire(r) ? TriggerResult::FIRE_AND_PURGE : r;
  }
  std::unique_ptr<Trigger<T, W>> nested_;
};

template <class T, class W>
class NeverTriggerImpl final : public Trigger<T, W> {
 public:
  TriggerResult on_element(const T&, int64_t, const W&, TriggerContext&) override {
    return TriggerResult::CONTINUE;
  }
  TriggerResult on_event_time(int64_t, const W&, TriggerContext&) override {
    return TriggerResult::CONTINUE;
  }
  TriggerResult on_processing_time(int64_t, const W&, TriggerContext&) override {
    return TriggerResult::CONTINUE;
  }
  bool can_merge() const override { return true; }
  void on_merge(const W&, OnMergeContext&) override {}
  void clear(const W&, TriggerContext&) override {}
};
}  // namespace detail

// The built-in triggers work for any element and window type; `.trigger(x)` binds them.

/// Fires a window once the watermark passes its end (max_timestamp), and again at once for
/// every element that arrives within the allowed lateness after that. The default of the
/// event-time assigners. On GlobalWindows it fires each key's window at the end of input.
class EventTimeTrigger {
 public:
  static EventTimeTrigger create() { return {}; }
  template <class T, class W>
  std::unique_ptr<Trigger<T, W>> make() const {
    return std::make_unique<detail::EventTimeTriggerImpl<T, W>>();
  }
};

/// Fires a window when the processing-time clock passes its end. The default of the
/// processing-time assigners.
class ProcessingTimeTrigger {
 public:
  static ProcessingTimeTrigger create() { return {}; }
  template <class T, class W>
  std::unique_ptr<Trigger<T, W>> make() const {
    return std::make_unique<detail::ProcessingTimeTriggerImpl<T, W>>();
  }
};

/// Fires a window every `n` elements (counted in the window's state; merging sums counts).
class CountTrigger {
 public:
  static CountTrigger of(int64_t n) {
    if (n < 1) throw JobError("CountTrigger needs a count of at least 1, got " + std::to_string(n));
    return CountTrigger(n);
  }
  template <class T, class W>
  std::unique_ptr<Trigger<T, W>> make() const {
    return std::make_unique<detail::CountTriggerImpl<T, W>>(n_);
  }

 private:
  explicit CountTrigger(int64_t n) : n_(n) {}
  int64_t n_;
};

/// Never fires: the default of GlobalWindows, where a trigger must be given.
class NeverTrigger {
 public:
  static NeverTrigger create() { return {}; }
  template <class T, class W>
  std::unique_ptr<Trigger<T, W>> make() const {
    return std::make_unique<detail::NeverTriggerImpl<T, W>>();
  }
};

/// A trigger that purges the window's contents whenever `N` fires (made by PurgingTrigger::of).
template <class N>
class Purging {
 public:
  explicit Purging(N nested) : nested_(std::move(nested)) {}
  template <class T, class W>
  std::unique_ptr<Trigger<T, W>> make() const {
    return std::make_unique<detail::PurgingTriggerImpl<T, W>>(detail::make_trigger<T, W>(nested_));
  }

 private:
  N nested_;
};

/// Turns every FIRE of the nested trigger (built-in or user) into FIRE_AND_PURGE.
class PurgingTrigger {
 public:
  template <class N>
  static Purging<N> of(N nested) {
    return Purging<N>(std::move(nested));
  }
};

// ---- assigners

/// Windows of `size` that start every `slide` from `offset` (tumbling ones slide by their
/// size): what the window operator needs to slice them.
struct WindowLayout {
  int64_t size = 0;
  int64_t slide = 0;
  int64_t offset = 0;
};

/// Assigns each element to windows (Flink's WindowAssigner). Assigners decide by the
/// element's timestamp (event time) or by the processing time `now`, never by the element's
/// value. A class derived from this also provides `default_trigger()`, returning the
/// trigger a WindowedStream uses unless `.trigger()` replaces it.
template <class W>
class WindowAssigner {
 public:
  using window_type = W;
  virtual ~WindowAssigner() = default;
  /// Appends the windows of an element with `timestamp` when processing time is `now`.
  virtual void assign_windows(int64_t timestamp, int64_t now, std::vector<W>& out) const = 0;
  /// Event time: windows end, and elements are late, by the watermark. Otherwise windows end
  /// by the processing-time clock and nothing is ever late.
  virtual bool is_event_time() const = 0;
  /// Whether elements need a timestamp to be assigned (event-time assigners but one).
  virtual bool needs_timestamps() const { return is_event_time(); }
  /// For names and error messages, e.g. "TumblingEventTimeWindows(10000ms)".
  virtual std::string describe() const = 0;
  /// Aligned fixed-size windows say how they are laid out; others (sessions, global) say nothing.
  virtual std::optional<WindowLayout> layout() const { return std::nullopt; }
};

/// An assigner whose windows merge when they intersect (sessions).
template <class W>
class MergingWindowAssigner : public WindowAssigner<W> {
 public:
  using MergeCallback = std::function<void(const std::vector<W>& merged, const W& result)>;
  /// Calls `merge(windows, result)` for every group of at least two of `windows` that merge.
  virtual void merge_windows(std::vector<W> windows, const MergeCallback& merge) const = 0;
  /// Whether this is a session assigner: one window per element, and windows merge exactly
  /// when they intersect, into their cover (TimeWindow::merge_windows). A window operator may
  /// then keep a key's sessions in one entry.
  virtual bool sessions() const { return false; }
};

namespace detail {
inline std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }
inline void check_positive(const char* what, const char* param, std::chrono::milliseconds d) {
  if (d.count() <= 0)
    throw JobError(std::string(what) + " needs a positive " + param + ", got " + ms(d));
}
inline void tumbling(int64_t t, int64_t size, int64_t offset, std::vector<TimeWindow>& out) {
  auto start = TimeWindow::window_start(t, offset, size);
  out.push_back({start, start + size});
}
inline void sliding(int64_t t, int64_t size, int64_t slide, int64_t offset,
                    std::vector<TimeWindow>& out) {
  auto last = TimeWindow::window_start(t, offset, slide);
  for (auto start = last; start > t - size; start -= slide) out.push_back({start, start + size});
}
inline void check_offset(const char* what, std::chrono::milliseconds offset,
                         std::chrono::milliseconds period) {
  if (offset.count() <= -period.count() || offset.count() >= period.count())
    throw JobError(std::string(what) + " needs |offset| < " + ms(period) + ", got offset " +
                   ms(offset));
}
}  // namespace detail

/// Tumbling windows of event time: [k*size + offset, (k+1)*size + offset), aligned to the epoch.
class TumblingEventTimeWindows final : public WindowAssigner<TimeWindow> {
 public:
  static TumblingEventTimeWindows of(std::chrono::milliseconds size,
                                     std::chrono::milliseconds offset = {}) {
    detail::check_positive("TumblingEventTimeWindows", "size", size);
    detail::check_offset("TumblingEventTimeWindows", offset, size);
    return TumblingEventTimeWindows(size.count(), offset.count());
  }
  void assign_windows(int64_t t, int64_t, std::vector<TimeWindow>& out) const override {
    detail::tumbling(t, size_, offset_, out);
  }
  bool is_event_time() const override { return true; }
  std::string describe() const override {
    return "TumblingEventTimeWindows(" + std::to_string(size_) + "ms)";
  }
  std::optional<WindowLayout> layout() const override { return WindowLayout{size_, size_, offset_}; }
  EventTimeTrigger default_trigger() const { return {}; }

 private:
  TumblingEventTimeWindows(int64_t size, int64_t offset) : size_(size), offset_(offset) {}
  int64_t size_;
  int64_t offset_;
};

/// Tumbling windows of processing time, aligned to the epoch like the event-time ones.
class TumblingProcessingTimeWindows final : public WindowAssigner<TimeWindow> {
 public:
  static TumblingProcessingTimeWindows of(std::chrono::milliseconds size,
                                          std::chrono::milliseconds offset = {}) {
    detail::check_positive("TumblingProcessingTimeWindows", "size", size);
    detail::check_offset("TumblingProcessingTimeWindows", offset, size);
    return TumblingProcessingTimeWindows(size.count(), offset.count());
  }
  void assign_windows(int64_t, int64_t now, std::vector<TimeWindow>& out) const override {
    detail::tumbling(now, size_, offset_, out);
  }
  bool is_event_time() const override { return false; }
  std::string describe() const override {
    return "TumblingProcessingTimeWindows(" + std::to_string(size_) + "ms)";
  }
  std::optional<WindowLayout> layout() const override { return WindowLayout{size_, size_, offset_}; }
  ProcessingTimeTrigger default_trigger() const { return {}; }

 private:
  TumblingProcessingTimeWindows(int64_t size, int64_t offset) : size_(size), offset_(offset) {}
  int64_t size_;
  int64_t offset_;
};

/// Sliding (hopping) windows of event time: length `size`, one starting every `slide`, so an
/// element is in ceil(size / slide) windows.
class SlidingEventTimeWindows final : public WindowAssigner<TimeWindow> {
 public:
  static SlidingEventTimeWindows of(std::chrono::milliseconds size, std::chrono::milliseconds slide,
                                    std::chrono::milliseconds offset = {}) {
    detail::check_positive("SlidingEventTimeWindows", "size", size);
    detail::check_positive("SlidingEventTimeWindows", "slide", slide);
    detail::check_offset("SlidingEventTimeWindows", offset, slide);
    return SlidingEventTimeWindows(size.count(), slide.count(), offset.count());
  }
  void assign_windows(int64_t t, int64_t, std::vector<TimeWindow>& out) const override {
    detail::sliding(t, size_, slide_, offset_, out);
  }
  bool is_event_time() const override { return true; }
  std::string describe() const override {
    return "SlidingEventTimeWindows(" + std::to_string(size_) + "ms, " + std::to_string(slide_) +
           "ms)";
  }
  std::optional<WindowLayout> layout() const override { return WindowLayout{size_, slide_, offset_}; }
  EventTimeTrigger default_trigger() const { return {}; }

 private:
  SlidingEventTimeWindows(int64_t size, int64_t slide, int64_t offset)
      : size_(size), slide_(slide), offset_(offset) {}
  int64_t size_;
  int64_t slide_;
  int64_t offset_;
};

/// Sliding windows of processing time.
class SlidingProcessingTimeWindows final : public WindowAssigner<TimeWindow> {
 public:
  static SlidingProcessingTimeWindows of(std::chrono::milliseconds size,
                                         std::chrono::milliseconds slide,
                                         std::chrono::milliseconds offset = {}) {
    detail::check_positive("SlidingProcessingTimeWindows", "size", size);
    detail::check_positive("SlidingProcessingTimeWindows", "slide", slide);
    detail::check_offset("SlidingProcessingTimeWindows", offset, slide);
    return SlidingProcessingTimeWindows(size.count(), slide.count(), offset.count());
  }
  void assign_windows(int64_t, int64_t now, std::vector<TimeWindow>& out) const override {
    detail::sliding(now, size_, slide_, offset_, out);
  }
  bool is_event_time() const override { return false; }
  std::string describe() const override {
    return "SlidingProcessingTimeWindows(" + std::to_string(size_) + "ms, " +
           std::to_string(slide_) + "ms)";
  }
  std::optional<WindowLayout> layout() const override { return WindowLayout{size_, slide_, offset_}; }
  ProcessingTimeTrigger default_trigger() const { return {}; }

 private:
  SlidingProcessingTimeWindows(int64_t size, int64_t slide, int64_t offset)
      : size_(size), slide_(slide), offset_(offset) {}
  int64_t size_;
  int64_t slide_;
  int64_t offset_;
};

/// Session windows of event time: each element opens [timestamp, timestamp + gap); windows
/// of one key that intersect (overlap or touch) merge. A session is thus [first element,
/// last element + gap), and elements exactly `gap` apart stay in one session.
class EventTimeSessionWindows final : public MergingWindowAssigner<TimeWindow> {
 public:
  static EventTimeSessionWindows with_gap(std::chrono::milliseconds gap) {
    detail::check_positive("EventTimeSessionWindows", "gap", gap);
    return EventTimeSessionWindows(gap.count());
  }
  void assign_windows(int64_t t, int64_t, std::vector<TimeWindow>& out) const override {
    out.push_back({t, t + gap_});
  }
  bool is_event_time() const override { return true; }
  std::string describe() const override {
    return "EventTimeSessionWindows(" + std::to_string(gap_) + "ms)";
  }
  void merge_windows(std::vector<TimeWindow> windows, const MergeCallback& merge) const override {
    TimeWindow::merge_windows(std::move(windows), merge);
  }
  bool sessions() const override { return true; }
  EventTimeTrigger default_trigger() const { return {}; }

 private:
  explicit EventTimeSessionWindows(int64_t gap) : gap_(gap) {}
  int64_t gap_;
};

/// Session windows of processing time: [now, now + gap), merging as the event-time ones.
class ProcessingTimeSessionWindows final : public MergingWindowAssigner<TimeWindow> {
 public:
  static ProcessingTimeSessionWindows with_gap(std::chrono::milliseconds gap) {
    detail::check_positive("ProcessingTimeSessionWindows", "gap", gap);
    return ProcessingTimeSessionWindows(gap.count());
  }
  void assign_windows(int64_t, int64_t now, std::vector<TimeWindow>& out) const override {
    out.push_back({now, now + gap_});
  }
  bool is_event_time() const override { return false; }
  std::string describe() const override {
    return "ProcessingTimeSessionWindows(" + std::to_string(gap_) + "ms)";
  }
  void merge_windows(std::vector<TimeWindow> windows, const MergeCallback& merge) const override {
    TimeWindow::merge_windows(std::move(windows), merge);
  }
  ProcessingTimeTrigger default_trigger() const { return {}; }

 private:
  explicit ProcessingTimeSessionWindows(int64_t gap) : gap_(gap) {}
  int64_t gap_;
};

/// One window per key holding all its elements. The default trigger never fires: give one,
/// e.g. CountTrigger::of(n), or EventTimeTrigger::create() to fire at the end of input.
/// One window per key that holds all of its elements and fires when the input ends (the
/// final watermark; in BATCH at the end of the key): Flink's EndOfStreamWindows, what
/// KeyedStream::full_window_partition() uses. Elements need no timestamp; results carry
/// max_watermark - 1.
class EndOfStreamWindows final : public WindowAssigner<TimeWindow> {
 public:
  static EndOfStreamWindows get() { return {}; }
  void assign_windows(int64_t, int64_t, std::vector<TimeWindow>& out) const override {
    out.push_back({min_watermark, max_watermark});
  }
  bool is_event_time() const override { return true; }
  bool needs_timestamps() const override { return false; }
  std::string describe() const override { return "EndOfStreamWindows()"; }
  EventTimeTrigger default_trigger() const { return {}; }
};

class GlobalWindows final : public WindowAssigner<GlobalWindow> {
 public:
  static GlobalWindows create() { return {}; }
  void assign_windows(int64_t, int64_t, std::vector<GlobalWindow>& out) const override {
    out.push_back({});
  }
  bool is_event_time() const override { return false; }
  std::string describe() const override { return "GlobalWindows()"; }
  NeverTrigger default_trigger() const { return {}; }
};

// ---- window functions

/// Evaluates a fired window over all its elements (or, combined with reduce/aggregate, over
/// the one pre-aggregated value). Copied for every subtask. Results carry the timestamp
/// window.max_timestamp().
template <class In, class Out, class K, class W>
class ProcessWindowFunction : public RichFunction {
 public:
  using input_type = In;
  using output_type = Out;
  using key_type = K;
  using window_type = W;

  /// What process() and clear() see: the window, time, state and side outputs.
  class Context {
   public:
    virtual ~Context() = default;
    virtual const W& window() const = 0;
    virtual int64_t current_watermark() const = 0;
    virtual int64_t current_processing_time() const = 0;
    /// State of the current key and window; clear it in clear(). Not available for merging
    /// (session) windows (throws JobError), as in Flink.
    template <class D>
    auto& window_state(const D& desc) {
      return detail::open_state(window_scope(), desc);
    }
    /// State of the current key, shared by all its windows.
    template <class D>
    auto& global_state(const D& desc) {
      return detail::open_state(global_scope(), desc);
    }
    /// Emits `value` to side output `tag`, with the window's max_timestamp().
    template <class X>
    void output(const OutputTag<X>& tag, X value) {
      if (auto* sink = side_output(tag.id()))
        static_cast<Output<X>*>(sink)->push(std::move(value), window().max_timestamp());
    }

   protected:
    virtual KeyedStateBackend& window_scope() = 0;
    virtual KeyedStateBackend& global_scope() = 0;
    virtual ElementSink* side_output(const std::string& id) = 0;
  };

  /// The window fired: `elements` are its contents, in arrival order for process().
  virtual void process(const K& key, Context& ctx, const std::vector<In>& elements,
                       Collector<Out>& out) = 0;
  /// The window is gone (its cleanup time passed): clear its window_state().
  virtual void clear(Context&) {}
};

namespace detail {
/// Emits the pre-aggregated value as it is: reduce(f) and aggregate(a) without a function.
template <class X, class K, class W>
class PassThroughWindowFunction final : public ProcessWindowFunction<X, X, K, W> {
 public:
  void process(const K&, typename ProcessWindowFunction<X, X, K, W>::Context&,
               const std::vector<X>& elements, Collector<X>& out) override {
    for (const auto& e : elements) out.collect(e);
  }
};

template <class Fn>
concept process_window_function = requires {
  typename Fn::input_type;
  typename Fn::output_type;
  typename Fn::key_type;
  typename Fn::window_type;
}
&&std::is_base_of_v<ProcessWindowFunction<typename Fn::input_type, typename Fn::output_type,
                                          typename Fn::key_type, typename Fn::window_type>,
                    Fn>;

template <class A>
concept aggregate_function = requires {
  typename A::input_type;
  typename A::accumulator_type;
  typename A::output_type;
}
&&std::is_base_of_v<AggregateFunction<typename A::input_type, typename A::accumulator_type,
                                      typename A::output_type>,
                    A>;

template <class T>
class ListContents;
template <class T, class R>
class ReduceContents;
template <class A>
class AggregateContents;
template <class A>
class PartialAggregateContents;
template <class K, class In, class W, class KeyFn, class Contents, class Fn>
class WindowOperator;
template <class K, class In, class KeyFn, class A>
class LocalAggregateOperator;
/// Windows laid out as `l` are sliced: not too many slices of gcd(size, slide) in a window.
inline bool sliceable(const WindowLayout& l) {
  return l.size > 0 && l.slide > 0 && l.size / std::gcd(l.size, l.slide) <= 256;
}
}  // namespace detail

// ---- the windowed stream

/// A keyed stream cut into windows (KeyedStream::window), waiting for the function that
/// evaluates each window: reduce, aggregate or process, or an incremental one combined with
/// a ProcessWindowFunction. Every result is a record with timestamp window.max_timestamp().
///
/// Time: event-time windows fire when the watermark passes their end; elements whose
/// windows all ended more than the allowed lateness ago are late (dropped, or sent to the
/// side output of side_output_late_data). At the end of input, the maximum watermark fires
/// every event-time window, and processing-time timers fire too, as if processing time ran
/// to its end: unlike Flink, a bounded job never loses its last processing-time windows.
template <class K, class T, class W>
class WindowedStream {
 public:
  using KeyFn = std::function<K(const T&)>;
  using TriggerFactory = std::function<std::unique_ptr<Trigger<T, W>>()>;

  /// `unkeyed`: the stream before key_by, where aggregate() may pre-aggregate.
  template <class A>
  WindowedStream(DataStream<T> input, KeyFn key, A assigner, std::optional<DataStream<T>> unkeyed = std::nullopt)
      : input_(std::move(input)),
        key_(std::move(key)),
        assigner_(std::make_shared<A>(assigner)),
        unkeyed_(std::move(unkeyed)) {
    set_trigger(assigner.default_trigger());
  }

  /// Replaces the assigner's default trigger: a built-in one (CountTrigger::of(3), ...) or
  /// an object of a class derived from Trigger<T, W> (copied for every subtask).
  template <class Tr>
  WindowedStream& trigger(Tr t) {
    set_trigger(std::move(t));
    default_trigger_ = false;
    return *this;
  }
  /// How long after its end an event-time window still takes late elements (default 0);
  /// each such element fires the window again with the default trigger. Ignored by
  /// processing-time windows.
  WindowedStream& allowed_lateness(std::chrono::milliseconds d) {
    if (d.count() < 0)
      throw JobError("allowed lateness must not be negative, got " + detail::ms(d));
    lateness_ = d.count();
    return *this;
  }
  /// Late elements go to side output `tag` of the resulting stream instead of being dropped.
  WindowedStream& side_output_late_data(const OutputTag<T>& tag) {
    late_tag_ = tag.id();
    return *this;
  }

  /// Folds each window's elements with `r(accumulated, next) -> T` as they arrive; emits the
  /// folded value when the window fires.
  template <class R>
  DataStream<T> reduce(R r, std::string name = "") {
    return build(std::move(name), "Reduce", detail::ReduceContents<T, R>(r),
                 detail::PassThroughWindowFunction<T, K, W>());
  }
  /// Folds each window's elements into an accumulator of `agg` (an AggregateFunction); emits
  /// agg.get_result() when the window fires. Tumbling and sliding event-time windows with
  /// their default trigger and no allowed lateness are sliced: each element is added to one
  /// slice of gcd(size, slide), and a window's result is agg.merge() over its slices, oldest
  /// first; `merge` must be associative, as sessions already need.
  template <class A>
  requires detail::aggregate_function<A> DataStream<typename A::output_type> aggregate(
      A agg, std::string name = "") {
    static_assert(std::is_same_v<typename A::input_type, T>,
                  "the aggregate function's input type is not the stream's");
    return build_aggregate(std::move(name), std::move(agg),
                           detail::PassThroughWindowFunction<typename A::output_type, K, W>());
  }
  /// Keeps every element of each window and gives them all to `fn`, a class derived from
  /// ProcessWindowFunction<T, Out, K, W>, when the window fires.
  template <class Fn>
  requires detail::process_window_function<Fn> DataStream<typename Fn::output_type> process(
      Fn fn, std::string name = "") {
    check_function<Fn, T>();
    return build(std::move(name), "Process", detail::ListContents<T>(), std::move(fn));
  }
  /// reduce(r), then `fn` sees the one folded value of the window (with the window and key).
  template <class R, class Fn>
  requires detail::process_window_function<Fn> DataStream<typename Fn::output_type> reduce(
      R r, Fn fn, std::string name = "") {
    check_function<Fn, T>();
    return build(std::move(name), "Reduce", detail::ReduceContents<T, R>(r), std::move(fn));
  }
  /// aggregate(agg), then `fn` sees the one aggregated result of the window.
  template <class A, class Fn>
  requires detail::aggregate_function<A> && detail::process_window_function<Fn>
      DataStream<typename Fn::output_type> aggregate(A agg, Fn fn, std::string name = "") {
    static_assert(std::is_same_v<typename A::input_type, T>,
                  "the aggregate function's input type is not the stream's");
    check_function<Fn, typename A::output_type>();
    return build_aggregate(std::move(name), std::move(agg), std::move(fn));
  }

 private:
  template <class Tr>
  void set_trigger(Tr t) {
    auto factory = [t] { return detail::make_trigger<T, W>(t); };
    if (std::dynamic_pointer_cast<const MergingWindowAssigner<W>>(assigner_) &&
        !factory()->can_merge())
      throw JobError(assigner_->describe() + " merges windows, but the trigger given cannot merge");
    trigger_ = factory;
  }
  template <class Fn, class In>
  static void check_function() {
    static_assert(std::is_same_v<typename Fn::input_type, In>,
                  "the window function's input type is not what the window holds");
    static_assert(std::is_same_v<typename Fn::key_type, K>,
                  "the window function's key type is not the stream's");
    static_assert(std::is_same_v<typename Fn::window_type, W>,
                  "the window function's window type is not the assigner's");
  }
  /// An aggregate over windows the operator slices is pre-aggregated before the shuffle too
  /// (local-global aggregation): an operator chained to the stream's source keeps one
  /// accumulator per (key, slice) and sends them on at each watermark, checkpoint and at the
  /// end, so that the window operator merges a few accumulators instead of adding every
  /// element. Not with a late-data side output, which needs the elements themselves.
  template <class A, class Fn>
  DataStream<typename Fn::output_type> build_aggregate(std::string name, A agg, Fn fn) {
    if constexpr (std::is_same_v<W, TimeWindow>) {
      auto layout = assigner_->layout();
      auto from = unkeyed_ ? unkeyed_->plain_node() : std::nullopt;
      if (input_.graph()->config.pre_aggregation && layout && from && assigner_->is_event_time() &&
          default_trigger_ && lateness_ == 0 && late_tag_.empty() && detail::sliceable(*layout)) {
        using Acc = typename A::accumulator_type;
        using Partial = std::tuple<K, int64_t, Acc>;
        using Local = detail::LocalAggregateOperator<K, T, KeyFn, A>;
        if (name.empty()) name = "Window(" + assigner_->describe() + ", Aggregate)";
        auto key = key_;
        auto l = *layout;
        auto local = unkeyed_->template add<Partial>(name + " (local)", [key, agg, l](int, int) {
          return std::make_unique<Local>(key, agg, l);
        });
        // Chained to its input: the same parallelism.
        auto& g = *input_.graph();
        g.nodes.back().parallelism = g.nodes[size_t(*from)].parallelism;
        using PartialKeyFn = std::function<K(const Partial&)>;
        PartialKeyFn partial_key = [](const Partial& p) { return std::get<0>(p); };
        auto keyed = local.partitioned(detail::Partitioning::hash, [](const Partial& p, ByteWriter& w) {
          Codec<K>::encode(std::get<0>(p), w);
        });
        using Op = detail::WindowOperator<K, Partial, W, PartialKeyFn, detail::PartialAggregateContents<A>, Fn>;
        auto assigner = assigner_;
        auto trigger_of = [t = EventTimeTrigger()] { return detail::make_trigger<Partial, W>(t); };
        detail::PartialAggregateContents<A> contents(agg);
        return keyed.template add<typename Fn::output_type>(
            std::move(name),
            [=](int, int) {
              return std::make_unique<Op>(partial_key, assigner, trigger_of(), true, 0, std::string(), contents, fn);
            },
            true);
      }
    }
    return build(std::move(name), "Aggregate", detail::AggregateContents<A>(agg), std::move(fn));
  }
  template <class Contents, class Fn>
  DataStream<typename Fn::output_type> build(std::string name, const char* kind, Contents contents,
                                             Fn fn) {
    using Out = typename Fn::output_type;
    using Op = detail::WindowOperator<K, T, W, KeyFn, Contents, Fn>;
    if (name.empty()) name = "Window(" + assigner_->describe() + ", " + kind + ")";
    auto key = key_;
    auto assigner = assigner_;
    auto trigger = trigger_;
    auto lateness = lateness_;
    auto late_tag = late_tag_;
    auto default_trigger = default_trigger_;
    return input_.template add<Out>(
        std::move(name),
        [=](int, int) {
          return std::make_unique<Op>(key, assigner, trigger(), default_trigger, lateness, late_tag, contents, fn);
        },
        true);
  }

  DataStream<T> input_;
  KeyFn key_;
  std::shared_ptr<const WindowAssigner<W>> assigner_;
  TriggerFactory trigger_;
  bool default_trigger_ = true;  // the assigner's own: the operator may slice the windows
  int64_t lateness_ = 0;
  std::string late_tag_;
  std::optional<DataStream<T>> unkeyed_;
};

}  // namespace sluice

#include "sluice/detail/window_operator.hpp"
