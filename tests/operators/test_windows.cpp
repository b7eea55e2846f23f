// tests/operators/test_windows.cpp — windows: plain classes, then the operator on every backend.
#include <algorithm>
#include <catch2/catch.hpp>
#include <sluice/sluice.hpp>
#include <sluice/testing/harness.hpp>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "operators/state_backends.hpp"

using namespace sluice;
using namespace std::chrono_literals;
using Ev = std::pair<std::string, int64_t>;  // (key, value)

namespace {

auto key_of = [](const Ev& e) { return e.first; };
Ev sum(Ev a, const Ev& b) {
  a.second += b.second;
  return a;
}

std::vector<TimeWindow> assign(const WindowAssigner<TimeWindow>& a, int64_t ts, int64_t now = 0) {
  std::vector<TimeWindow> out;
  a.assign_windows(ts, now, out);
  return out;
}

std::string text(const TimeWindow& w) {
  std::ostringstream os;
  os << w;
  return os.str();
}

/// Counts the elements of a window.
struct Count final : AggregateFunction<Ev, int64_t, int64_t> {
  int64_t create_accumulator() const override { return 0; }
  void add(const Ev&, int64_t& acc) const override { ++acc; }
  int64_t get_result(const int64_t& acc) const override { return acc; }
  int64_t merge(int64_t a, const int64_t& b) const override { return a + b; }
};

/// "key [start, end) values": the window's elements' values sorted, or the one pre-aggregated
/// value.
template <class In>
struct Describe final : ProcessWindowFunction<In, std::string, std::string, TimeWindow> {
  using Base = ProcessWindowFunction<In, std::string, std::string, TimeWindow>;
  void process(const std::string& key, typename Base::Context& ctx, const std::vector<In>& elements,
               Collector<std::string>& out) override {
    std::vector<int64_t> values;
    for (const auto& e : elements) {
      if constexpr (std::is_same_v<In, Ev>)
        values.push_back(e.second);
      else
        values.push_back(e);
    }
    std::sort(values.begin(), values.end());
    std::string s = key + " " + text(ctx.window()) + " ";
    for (size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + std::to_string(values[i]);
    out.collect(s);
  }
};

/// The window's values in the order the window function gets them.
struct InArrivalOrder final : ProcessWindowFunction<Ev, std::string, std::string, TimeWindow> {
  void process(const std::string&, Context&, const std::vector<Ev>& elements,
               Collector<std::string>& out) override {
    std::string s;
    for (size_t i = 0; i < elements.size(); ++i)
      s += (i ? "," : "") + std::to_string(elements[i].second);
    out.collect(s);
  }
};

/// Per window: how often it fired (window state), and how many windows of the key were
/// cleared before (global state); clear() counts itself.
struct FiringCounter final : ProcessWindowFunction<Ev, std::string, std::string, TimeWindow> {
  void process(const std::string& key, Context& ctx, const std::vector<Ev>& elements,
               Collector<std::string>& out) override {
    auto& fires = ctx.window_state(ValueStateDescriptor<int64_t>{"fires"});
    fires.update(fires.value().value_or(0) + 1);
    auto clears = ctx.global_state(ValueStateDescriptor<int64_t>{"clears"}).value().value_or(0);
    out.collect(key + " " + text(ctx.window()) + " n=" + std::to_string(elements.size()) +
                " fires=" + std::to_string(*fires.value()) + " clears=" + std::to_string(clears) +
                " wm=" + std::to_string(ctx.current_watermark()));
  }
  void clear(Context& ctx) override {
    ctx.window_state(ValueStateDescriptor<int64_t>{"fires"}).clear();
    auto& clears = ctx.global_state(ValueStateDescriptor<int64_t>{"clears"});
    clears.update(clears.value().value_or(0) + 1);
  }
};

/// A user trigger that looks at elements: a negative value fires and purges at once;
/// otherwise the window fires at its end. Counts elements in its window state.
struct FireOnNegative final : Trigger<Ev, TimeWindow> {
  TriggerResult on_element(const Ev& e, int64_t, const TimeWindow& w,
                           TriggerContext& ctx) override {
    auto& seen = ctx.partitioned_state(ValueStateDescriptor<int64_t>{"seen"});
    seen.update(seen.value().value_or(0) + 1);
    if (e.second < 0) return TriggerResult::FIRE_AND_PURGE;
    ctx.register_event_time_timer(w.max_timestamp());
    return TriggerResult::CONTINUE;
  }
  TriggerResult on_event_time(int64_t, const TimeWindow&, TriggerContext&) override {
    return TriggerResult::FIRE;
  }
  TriggerResult on_processing_time(int64_t, const TimeWindow&, TriggerContext&) override {
    return TriggerResult::CONTINUE;
  }
  void clear(const TimeWindow& w, TriggerContext& ctx) override {
    ctx.delete_event_time_timer(w.max_timestamp());
    ctx.partitioned_state(ValueStateDescriptor<int64_t>{"seen"}).clear();
  }
};

/// Fires on negative values only, deleting the timer at the window's end on every element
/// (which is also the window's cleanup timer when there is no allowed lateness).
struct OnlyNegative final : Trigger<Ev, TimeWindow> {
  TriggerResult on_element(const Ev& e, int64_t, const TimeWindow& w,
                           TriggerContext& ctx) override {
    ctx.delete_event_time_timer(w.max_timestamp());
    return e.second < 0 ? TriggerResult::FIRE : TriggerResult::CONTINUE;
  }
  TriggerResult on_event_time(int64_t, const TimeWindow&, TriggerContext&) override {
    return TriggerResult::CONTINUE;
  }
  TriggerResult on_processing_time(int64_t, const TimeWindow&, TriggerContext&) override {
    return TriggerResult::CONTINUE;
  }
  void clear(const TimeWindow&, TriggerContext&) override {}
};

/// Registers an early timer at the window's start + 1 (until it passed) and the end timer on
/// every element; when the early timer fires, it fires and deletes the end timer (the window's
/// cleanup timer too), which the next element registers again.
struct EarlyThenEnd final : Trigger<Ev, TimeWindow> {
  TriggerResult on_element(const Ev&, int64_t, const TimeWindow& w, TriggerContext& ctx) override {
    if (w.start + 1 > ctx.current_watermark()) ctx.register_event_time_timer(w.start + 1);
    ctx.register_event_time_timer(w.max_timestamp());
    return TriggerResult::CONTINUE;
  }
  TriggerResult on_event_time(int64_t t, const TimeWindow& w, TriggerContext& ctx) override {
    if (t == w.start + 1) ctx.delete_event_time_timer(w.max_timestamp());
    return TriggerResult::FIRE;
  }
  TriggerResult on_processing_time(int64_t, const TimeWindow&, TriggerContext&) override {
    return TriggerResult::CONTINUE;
  }
  void clear(const TimeWindow&, TriggerContext&) override {}
};

/// A harness around the operator that `build(keyed stream)` adds, made by the public API.
template <class Out, class Build>
auto harness(const test_support::BackendCase& backend, Build build) {
  StreamEnvironment env;
  env.config().pre_aggregation = false;  // the window operator alone
  auto keyed = env.from_collection<Ev>({}).key_by(key_of);
  DataStream<Out> out = build(keyed);
  const auto& node = env.graph().nodes.back();
  return std::make_unique<testing::OneInputHarness<Ev, Out>>(node.factory(0, 1), true,
                                                             backend.make);
}

template <class T>
std::vector<T> values_of(const std::vector<testing::Emitted<T>>& v) {
  std::vector<T> out;
  for (const auto& e : v) out.push_back(e.value);
  return out;
}

std::vector<int64_t> timestamps_of(const std::vector<testing::Emitted<std::string>>& v) {
  std::vector<int64_t> out;
  for (const auto& e : v) out.push_back(e.timestamp);
  return out;
}

using Strings = std::vector<std::string>;

}  // namespace

// ---- plain classes

TEST_CASE("windows are aligned to the epoch, negative timestamps and offsets included",
          "[windows]") {
  CHECK(TimeWindow::window_start(0, 0, 10) == 0);
  CHECK(TimeWindow::window_start(9, 0, 10) == 0);
  CHECK(TimeWindow::window_start(10, 0, 10) == 10);
  CHECK(TimeWindow::window_start(-1, 0, 10) == -10);
  CHECK(TimeWindow::window_start(-10, 0, 10) == -10);
  CHECK(TimeWindow::window_start(-11, 0, 10) == -20);
  CHECK(TimeWindow::window_start(2, 3, 10) == -7);
  CHECK(TimeWindow::window_start(3, 3, 10) == 3);
  CHECK(TimeWindow::window_start(12, 3, 10) == 3);
  CHECK(TimeWindow::window_start(13, 3, 10) == 13);
  CHECK(TimeWindow::window_start(0, -3, 10) == -3);
  CHECK(TimeWindow::window_start(7, -3, 10) == 7);

  auto tumbling = TumblingEventTimeWindows::of(10ms);
  CHECK(assign(tumbling, 0) == std::vector<TimeWindow>{{0, 10}});
  CHECK(assign(tumbling, -1) == std::vector<TimeWindow>{{-10, 0}});
  CHECK(TimeWindow{-10, 0}.max_timestamp() == -1);
  CHECK(assign(TumblingEventTimeWindows::of(10ms, 3ms), 2) == std::vector<TimeWindow>{{-7, 3}});
  CHECK(assign(TumblingEventTimeWindows::of(1s), 1436918400123) ==
        std::vector<TimeWindow>{{1436918400000, 1436918401000}});

  auto sliding = SlidingEventTimeWindows::of(10ms, 5ms);
  CHECK(assign(sliding, 7) == std::vector<TimeWindow>{{5, 15}, {0, 10}});
  CHECK(assign(sliding, 5) == std::vector<TimeWindow>{{5, 15}, {0, 10}});
  CHECK(assign(sliding, -3) == std::vector<TimeWindow>{{-5, 5}, {-10, 0}});
  CHECK(assign(SlidingEventTimeWindows::of(10ms, 3ms), 0).size() == 4);
  CHECK(assign(SlidingEventTimeWindows::of(10s, 2s), 1436918409999).size() == 5);

  CHECK(assign(EventTimeSessionWindows::with_gap(10ms), 5) == std::vector<TimeWindow>{{5, 15}});
  CHECK(assign(EventTimeSessionWindows::with_gap(10ms), -5) == std::vector<TimeWindow>{{-5, 5}});
}

TEST_CASE("windows encode compactly and decode to themselves", "[windows]") {
  for (auto w : {TimeWindow{0, 10}, TimeWindow{-20, -10}, TimeWindow{1436918400000, 1436918410000},
                 TimeWindow{INT64_MIN, INT64_MAX}, TimeWindow{INT64_MAX - 1, INT64_MAX}}) {
    auto bytes = encode_to_bytes(w);
    CHECK(decode_from_bytes<TimeWindow>(bytes.data(), bytes.size()) == w);
  }
  CHECK(encode_to_bytes(TimeWindow{1436918400000, 1436918410000}).size() <= 15);
  CHECK(encode_to_bytes(GlobalWindow{}).empty());
}

TEST_CASE("processing-time assigners use the clock, not the element's timestamp", "[windows]") {
  CHECK(assign(TumblingProcessingTimeWindows::of(10ms), no_timestamp, 25) ==
        std::vector<TimeWindow>{{20, 30}});
  CHECK(assign(SlidingProcessingTimeWindows::of(10ms, 5ms), 1000, 7) ==
        std::vector<TimeWindow>{{5, 15}, {0, 10}});
  CHECK(assign(ProcessingTimeSessionWindows::with_gap(10ms), 1000, 7) ==
        std::vector<TimeWindow>{{7, 17}});
  CHECK_FALSE(TumblingProcessingTimeWindows::of(10ms).is_event_time());
  CHECK(TumblingEventTimeWindows::of(10ms).is_event_time());
  CHECK_FALSE(GlobalWindows::create().is_event_time());
}

TEST_CASE("assigners and triggers reject bad parameters with one sentence", "[windows]") {
  CHECK_THROWS_AS(TumblingEventTimeWindows::of(0ms), JobError);
  CHECK_THROWS_AS(TumblingEventTimeWindows::of(10ms, 10ms), JobError);
  CHECK_THROWS_AS(TumblingEventTimeWindows::of(10ms, -10ms), JobError);
  CHECK_THROWS_AS(SlidingEventTimeWindows::of(10ms, 0ms), JobError);
  CHECK_THROWS_AS(SlidingEventTimeWindows::of(10ms, 5ms, 5ms), JobError);
  CHECK_THROWS_AS(EventTimeSessionWindows::with_gap(0ms), JobError);
  CHECK_THROWS_AS(ProcessingTimeSessionWindows::with_gap(-1ms), JobError);
  CHECK_THROWS_AS(CountTrigger::of(0), JobError);
  CHECK_THROWS_WITH(TumblingEventTimeWindows::of(0ms),
                    "TumblingEventTimeWindows needs a positive size, got 0ms");

  StreamEnvironment env;
  auto keyed = env.from_collection<Ev>({}).key_by(key_of);
  CHECK_THROWS_AS(keyed.window(TumblingEventTimeWindows::of(10ms)).allowed_lateness(-1ms),
                  JobError);
  CHECK_THROWS_AS(keyed.window(EventTimeSessionWindows::with_gap(10ms)).trigger(FireOnNegative()),
                  JobError);
  CHECK_NOTHROW(keyed.window(EventTimeSessionWindows::with_gap(10ms)).trigger(CountTrigger::of(2)));
}

TEST_CASE(
    "time windows intersect when they overlap or touch, and merging folds runs into their cover",
    "[windows]") {
  CHECK(TimeWindow{0, 10}.intersects({10, 20}));
  CHECK(TimeWindow{10, 20}.intersects({0, 10}));
  CHECK_FALSE(TimeWindow{0, 10}.intersects({11, 21}));
  CHECK(TimeWindow{0, 10}.cover({5, 30}) == TimeWindow{0, 30});

  std::vector<std::pair<std::vector<TimeWindow>, TimeWindow>> merges;
  TimeWindow::merge_windows(
      {{50, 60}, {30, 40}, {10, 20}, {0, 10}, {25, 35}},
      [&](const std::vector<TimeWindow>& m, const TimeWindow& r) { merges.emplace_back(m, r); });
  REQUIRE(merges.size() == 2);
  CHECK(merges[0].first == std::vector<TimeWindow>{{0, 10}, {10, 20}});
  CHECK(merges[0].second == TimeWindow{0, 20});
  CHECK(merges[1].first == std::vector<TimeWindow>{{25, 35}, {30, 40}});
  CHECK(merges[1].second == TimeWindow{25, 40});
}

TEST_CASE("the merging window set keeps one state window per session and reports merges",
          "[windows]") {
  auto sessions = EventTimeSessionWindows::with_gap(10ms);
  detail::MergingWindowSet<TimeWindow>::Mapping mapping;
  detail::MergingWindowSet<TimeWindow> set(sessions, mapping);
  struct Merge {
    TimeWindow result;
    std::vector<TimeWindow> merged;
    TimeWindow state;
    std::vector<TimeWindow> merged_states;
  };
  std::vector<Merge> merges;
  auto record = [&](const TimeWindow& r, const std::vector<TimeWindow>& m, const TimeWindow& s,
                    const std::vector<TimeWindow>& ms) {
    merges.push_back({r, m, s, ms});
  };

  CHECK(set.add_window({0, 10}, record) == TimeWindow{0, 10});
  CHECK(set.add_window({20, 30}, record) == TimeWindow{20, 30});
  CHECK(merges.empty());
  CHECK(*set.state_window({0, 10}) == TimeWindow{0, 10});

  // An element at 5 extends the first session; its state stays where it was.
  CHECK(set.add_window({5, 15}, record) == TimeWindow{0, 15});
  REQUIRE(merges.size() == 1);
  CHECK(merges[0].result == TimeWindow{0, 15});
  CHECK(merges[0].merged == std::vector<TimeWindow>{{0, 10}});
  CHECK(merges[0].state == TimeWindow{0, 10});
  CHECK(merges[0].merged_states.empty());
  CHECK(*set.state_window({0, 15}) == TimeWindow{0, 10});
  CHECK(set.state_window({0, 10}) == nullptr);

  // Inside a session: no merge at all.
  CHECK(set.add_window({2, 12}, record) == TimeWindow{0, 15});
  CHECK(set.add_window({20, 30}, record) == TimeWindow{20, 30});
  CHECK(merges.size() == 1);

  // An element at 15 touches both sessions (exactly one gap after 5, and [15,25) touches [20,30)).
  CHECK(set.add_window({15, 25}, record) == TimeWindow{0, 30});
  REQUIRE(merges.size() == 2);
  CHECK(merges[1].merged == std::vector<TimeWindow>{{0, 15}, {20, 30}});
  CHECK(merges[1].state == TimeWindow{0, 10});
  CHECK(merges[1].merged_states == std::vector<TimeWindow>{{20, 30}});
  CHECK(mapping.size() == 1);
  CHECK(set.changed());

  set.retire_window({0, 30});
  CHECK(mapping.empty());
  CHECK_THROWS_AS(set.retire_window({0, 30}), JobError);
}

// ---- the operator, on every backend

TEST_CASE("tumbling event-time windows reduce per key and fire when the watermark passes their end",
          "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = harness<Ev>(backend, [](auto& s) {
        return s.window(TumblingEventTimeWindows::of(10ms)).reduce(sum);
      });
      h->process_element({"a", 1}, 0);
      h->process_element({"a", 2}, 9);
      h->process_element({"b", 5}, 5);
      h->process_element({"a", 4}, 10);
      h->process_element({"a", 8}, -1);
      h->process_watermark(-1);
      CHECK(h->output() == std::vector<testing::Emitted<Ev>>{{{"a", 8}, -1}});
      h->process_watermark(8);
      CHECK(h->output().size() == 1);
      h->process_watermark(9);
      CHECK(h->output() ==
            std::vector<testing::Emitted<Ev>>{{{"a", 8}, -1}, {{"a", 3}, 9}, {{"b", 5}, 9}});
      CHECK(h->output_watermarks().back() == 9);
      h->clear_output();
      h->process_watermark(100);
      CHECK(h->output() == std::vector<testing::Emitted<Ev>>{{{"a", 4}, 19}});
      CHECK(h->pending_timers() == std::pair<size_t, size_t>{0, 0});
      CHECK(snapshot_keyed_state(*h->backend(), 128).entries.empty());
    }
  }
}

TEST_CASE("sliding windows aggregate each element into every window it belongs to", "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = harness<int64_t>(backend, [](auto& s) {
        return s.window(SlidingEventTimeWindows::of(10ms, 5ms)).aggregate(Count());
      });
      h->process_element({"a", 0}, -3);
      h->process_element({"a", 0}, 2);
      h->process_element({"a", 0}, 7);
      h->process_watermark(100);
      CHECK(h->output() ==
            std::vector<testing::Emitted<int64_t>>{{1, -1}, {2, 4}, {2, 9}, {1, 14}});
    }
  }
}

TEST_CASE(
    "process sees every element, and reduce and aggregate combine with a process window function",
    "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto feed = [](auto& h) {
        h->process_element({"a", 3}, 1);
        h->process_element({"b", 7}, 2);
        h->process_element({"a", 1}, 8);
        h->process_element({"a", 2}, 15);
        h->end_input();
      };
      auto process = harness<std::string>(backend, [](auto& s) {
        return s.window(TumblingEventTimeWindows::of(10ms)).process(Describe<Ev>());
      });
      feed(process);
      CHECK(process->output_values() == Strings{"a [0, 10) 1,3", "b [0, 10) 7", "a [10, 20) 2"});
      CHECK(timestamps_of(process->output()) == std::vector<int64_t>{9, 9, 19});
      CHECK(snapshot_keyed_state(*process->backend(), 128).entries.empty());

      auto reduce = harness<std::string>(backend, [](auto& s) {
        return s.window(TumblingEventTimeWindows::of(10ms)).reduce(sum, Describe<Ev>());
      });
      feed(reduce);
      CHECK(reduce->output_values() == Strings{"a [0, 10) 4", "b [0, 10) 7", "a [10, 20) 2"});

      auto aggregate = harness<std::string>(backend, [](auto& s) {
        return s.window(TumblingEventTimeWindows::of(10ms)).aggregate(Count(), Describe<int64_t>());
      });
      feed(aggregate);
      CHECK(aggregate->output_values() == Strings{"a [0, 10) 2", "b [0, 10) 1", "a [10, 20) 1"});
      CHECK(aggregate->pending_timers() == std::pair<size_t, size_t>{0, 0});
      CHECK(snapshot_keyed_state(*aggregate->backend(), 128).entries.empty());
    }
  }
}

TEST_CASE("process sees a window's elements in arrival order, however many", "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = harness<std::string>(backend, [](auto& s) {
        return s.window(TumblingEventTimeWindows::of(1000ms))
            .allowed_lateness(1000ms)
            .process(InArrivalOrder());
      });
      std::string expected;
      for (int64_t v = 0; v < 150; ++v) {
        h->process_element({"a", (v * 37) % 150}, (v * 7) % 1000);
        expected += (v ? "," : "") + std::to_string((v * 37) % 150);
      }
      h->process_watermark(999);
      h->process_element({"a", 1000}, 5);  // within the lateness: fires again with all 151
      h->process_watermark(2000);          // cleanup
      h->process_element({"a", 7}, 1500);
      h->end_input();
      CHECK(h->output_values() == Strings{expected, expected + ",1000", "7"});
    }
  }
}

TEST_CASE("a count trigger fires every n elements, and purging starts the window over",
          "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto feed = [](auto& h) {
        for (int64_t v = 1; v <= 5; ++v) h->process_element({"a", v});
        h->process_element({"b", 100});
        h->end_input();
      };
      auto keep = harness<Ev>(backend, [](auto& s) {
        return s.window(GlobalWindows::create()).trigger(CountTrigger::of(2)).reduce(sum);
      });
      feed(keep);
      CHECK(keep->output() == std::vector<testing::Emitted<Ev>>{{{"a", 3}, max_watermark},
                                                                {{"a", 10}, max_watermark}});

      auto purge = harness<Ev>(backend, [](auto& s) {
        return s.window(GlobalWindows::create())
            .trigger(PurgingTrigger::of(CountTrigger::of(2)))
            .reduce(sum);
      });
      feed(purge);
      CHECK(values_of(purge->output()) == std::vector<Ev>{{"a", 3}, {"a", 7}});

      auto tumbling = harness<std::string>(backend, [](auto& s) {
        return s.window(TumblingEventTimeWindows::of(10ms))
            .trigger(PurgingTrigger::of(CountTrigger::of(2)))
            .process(Describe<Ev>());
      });
      tumbling->process_element({"a", 1}, 1);
      tumbling->process_element({"a", 2}, 11);
      tumbling->process_element({"a", 3}, 2);
      tumbling->process_element({"a", 4}, 3);
      tumbling->process_element({"a", 5}, 4);
      tumbling->end_input();
      CHECK(tumbling->output_values() == Strings{"a [0, 10) 1,3", "a [0, 10) 4,5"});
    }
  }
}

TEST_CASE("GlobalWindows with the event-time trigger fire each key's window at the end of input",
          "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = harness<Ev>(backend, [](auto& s) {
        return s.window(GlobalWindows::create()).trigger(EventTimeTrigger::create()).reduce(sum);
      });
      h->process_element({"a", 1});
      h->process_element({"b", 3});
      h->process_element({"a", 2});
      h->process_watermark(1000);
      CHECK(h->output().empty());
      h->end_input();
      CHECK(values_of(h->output()) == std::vector<Ev>{{"a", 3}, {"b", 3}});
    }
  }
}

TEST_CASE("late elements go to the late side output, unless a window still takes them",
          "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      OutputTag<Ev> late("late");
      auto h = harness<Ev>(backend, [&](auto& s) {
        return s.window(TumblingEventTimeWindows::of(10ms)).side_output_late_data(late).reduce(sum);
      });
      const auto& side = h->side_output(late);
      h->process_element({"a", 1}, 5);
      h->process_watermark(9);
      CHECK(values_of(h->output()) == std::vector<Ev>{{"a", 1}});
      h->process_element({"a", 2}, 3);
      CHECK(side == std::vector<testing::Emitted<Ev>>{{{"a", 2}, 3}});
      h->process_element({"a", 3}, 12);
      h->process_watermark(20);
      CHECK(values_of(h->output()) == std::vector<Ev>{{"a", 1}, {"a", 3}});
      CHECK(side.size() == 1);

      auto sliding = harness<Ev>(backend, [&](auto& s) {
        return s.window(SlidingEventTimeWindows::of(10ms, 5ms))
            .side_output_late_data(late)
            .reduce(sum);
      });
      const auto& sliding_side = sliding->side_output(late);
      sliding->process_watermark(9);
      sliding->process_element({"a", 7}, 7);  // [0,10) has ended, [5,15) takes it
      sliding->process_element({"a", 1}, 4);  // [0,10) and [-5,5) have ended
      sliding->end_input();
      CHECK(sliding->output() == std::vector<testing::Emitted<Ev>>{{{"a", 7}, 14}});
      CHECK(sliding_side == std::vector<testing::Emitted<Ev>>{{{"a", 1}, 4}});
    }
  }
}

TEST_CASE("allowed lateness keeps a window after it fired, and each late element fires it again",
          "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      OutputTag<Ev> late("late");
      auto h = harness<Ev>(backend, [&](auto& s) {
        return s.window(TumblingEventTimeWindows::of(10ms))
            .allowed_lateness(5ms)
            .side_output_late_data(late)
            .reduce(sum);
      });
      const auto& side = h->side_output(late);
      h->process_element({"a", 1}, 2);
      h->process_watermark(9);
      h->process_element({"a", 2}, 4);
      h->process_watermark(13);
      h->process_element({"a", 4}, 8);
      CHECK(h->output() ==
            std::vector<testing::Emitted<Ev>>{{{"a", 1}, 9}, {{"a", 3}, 9}, {{"a", 7}, 9}});
      h->process_watermark(14);  // the window's cleanup time: 9 + 5
      h->process_element({"a", 8}, 9);
      CHECK(h->output().size() == 3);
      CHECK(side == std::vector<testing::Emitted<Ev>>{{{"a", 8}, 9}});
      CHECK(h->pending_timers() == std::pair<size_t, size_t>{0, 0});
    }
  }
}

TEST_CASE("window state lives until the window's cleanup, and global state spans the key's windows",
          "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = harness<std::string>(backend, [](auto& s) {
        return s.window(TumblingEventTimeWindows::of(10ms))
            .allowed_lateness(20ms)
            .process(FiringCounter());
      });
      h->process_element({"a", 1}, 1);
      h->process_element({"a", 2}, 2);
      h->process_watermark(9);
      h->process_watermark(15);
      h->process_element({"a", 3}, 5);
      h->process_watermark(29);  // cleanup of [0,10)
      h->process_element({"a", 4}, 35);
      h->end_input();
      CHECK(h->output_values() ==
            Strings{"a [0, 10) n=2 fires=1 clears=0 wm=9", "a [0, 10) n=3 fires=2 clears=0 wm=15",
                    "a [30, 40) n=1 fires=1 clears=1 wm=" + std::to_string(max_watermark)});
    }
  }
}

TEST_CASE("sessions: a gap of exactly the session gap merges, one more splits", "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = harness<std::string>(backend, [](auto& s) {
        return s.window(EventTimeSessionWindows::with_gap(10ms))
            .aggregate(Count(), Describe<int64_t>());
      });
      h->process_element({"a", 0}, 0);
      h->process_element({"a", 0}, 10);
      h->process_element({"a", 0}, 21);
      h->process_element({"b", 0}, 5);
      h->process_element({"b", 0}, 3);
      h->process_watermark(100);
      CHECK(h->output_values() == Strings{"b [3, 15) 2", "a [0, 20) 2", "a [21, 31) 1"});
      CHECK(timestamps_of(h->output()) == std::vector<int64_t>{14, 19, 30});
      CHECK(h->pending_timers() == std::pair<size_t, size_t>{0, 0});
      CHECK(snapshot_keyed_state(*h->backend(), 128).entries.empty());
    }
  }
}

TEST_CASE("sessions: a late element that bridges two sessions merges them and fires the whole",
          "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = harness<std::string>(backend, [](auto& s) {
        return s.window(EventTimeSessionWindows::with_gap(10ms))
            .allowed_lateness(100ms)
            .process(Describe<Ev>());
      });
      h->process_element({"a", 1}, 0);
      h->process_element({"a", 3}, 20);
      h->process_watermark(9);
      CHECK(h->output_values() == Strings{"a [0, 10) 1"});
      h->process_element({"a", 2}, 10);
      h->process_watermark(28);
      CHECK(h->output_values().size() == 1);
      h->process_watermark(29);
      CHECK(h->output_values() == Strings{"a [0, 10) 1", "a [0, 30) 1,2,3"});
      h->process_watermark(129);  // cleanup of [0,30): 29 + 100
      CHECK(h->pending_timers() == std::pair<size_t, size_t>{0, 0});
      CHECK(snapshot_keyed_state(*h->backend(), 128).entries.empty());
      h->process_element({"a", 4},
                         20);  // its session [20,30) ended more than the lateness ago: dropped
      h->end_input();
      CHECK(h->output_values().size() == 2);
    }
  }
}

TEST_CASE("sessions: trigger state merges with the windows (count trigger)", "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = harness<std::string>(backend, [](auto& s) {
        return s.window(EventTimeSessionWindows::with_gap(10ms))
            .trigger(CountTrigger::of(3))
            .process(Describe<Ev>());
      });
      h->process_element({"a", 1}, 0);
      h->process_element({"a", 3}, 20);
      CHECK(h->output().empty());
      h->process_element({"a", 2}, 10);  // merges counts 1 + 1, then counts itself
      CHECK(h->output_values() == Strings{"a [0, 30) 1,2,3"});
    }
  }
}

TEST_CASE("sessions refuse per-window state, as Flink does", "[windows]") {
  auto h = harness<std::string>(test_support::state_backends().front(), [](auto& s) {
    return s.window(EventTimeSessionWindows::with_gap(10ms)).process(FiringCounter());
  });
  h->process_element({"a", 1}, 0);
  CHECK_THROWS_AS(h->process_watermark(100), OperatorFailure);
}

TEST_CASE("processing-time windows fire by the harness clock, and at the end of input",
          "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = harness<std::string>(backend, [](auto& s) {
        return s.window(TumblingProcessingTimeWindows::of(10ms))
            .aggregate(Count(), Describe<int64_t>());
      });
      h->set_processing_time(3);
      h->process_element({"a", 0});
      h->process_element({"b", 0}, 123456);
      h->process_element({"a", 0});
      h->set_processing_time(8);
      CHECK(h->output().empty());
      h->set_processing_time(9);
      CHECK(h->output_values() == Strings{"a [0, 10) 2", "b [0, 10) 1"});
      CHECK(timestamps_of(h->output()) == std::vector<int64_t>{9, 9});
      h->set_processing_time(12);
      h->process_element({"a", 0});
      h->process_watermark(max_watermark - 1);  // event time does not matter
      CHECK(h->output().size() == 2);
      h->end_input();  // processing time runs to its end
      CHECK(h->output_values() == Strings{"a [0, 10) 2", "b [0, 10) 1", "a [10, 20) 1"});
      CHECK(h->pending_timers() == std::pair<size_t, size_t>{0, 0});

      auto sessions = harness<std::string>(backend, [](auto& s) {
        return s.window(ProcessingTimeSessionWindows::with_gap(10ms))
            .aggregate(Count(), Describe<int64_t>());
      });
      sessions->process_element({"a", 0});
      sessions->set_processing_time(5);
      sessions->process_element({"a", 0});
      sessions->set_processing_time(13);
      CHECK(sessions->output().empty());
      sessions->set_processing_time(14);
      CHECK(sessions->output_values() == Strings{"a [0, 15) 2"});
    }
  }
}

TEST_CASE("at the end of input every event-time window fires", "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = harness<std::string>(backend, [](auto& s) {
        return s.window(SlidingEventTimeWindows::of(20ms, 10ms)).process(Describe<Ev>());
      });
      h->process_element({"a", 1}, 5);
      h->process_element({"a", 2}, 15);
      h->end_input();
      CHECK(h->output_values() == Strings{"a [-10, 10) 1", "a [0, 20) 1,2", "a [10, 30) 2"});
      CHECK(h->pending_timers() == std::pair<size_t, size_t>{0, 0});
      CHECK(snapshot_keyed_state(*h->backend(), 128).entries.empty());
    }
  }
}

TEST_CASE("a user trigger sees the elements and keeps per-window state", "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = harness<Ev>(backend, [](auto& s) {
        return s.window(TumblingEventTimeWindows::of(100ms)).trigger(FireOnNegative()).reduce(sum);
      });
      h->process_element({"a", 1}, 1);
      h->process_element({"a", 2}, 2);
      h->process_element({"a", -5}, 3);
      CHECK(h->output() == std::vector<testing::Emitted<Ev>>{{{"a", -2}, 99}});
      h->process_element({"a", 4}, 4);
      h->process_watermark(99);
      CHECK(values_of(h->output()) == std::vector<Ev>{{"a", -2}, {"a", 4}});
      CHECK(h->pending_timers() == std::pair<size_t, size_t>{0, 0});
    }
  }
}

TEST_CASE("a window is cleaned up even when its trigger deletes the timer at the window's end",
          "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = harness<Ev>(backend, [](auto& s) {
        return s.window(TumblingEventTimeWindows::of(10ms)).trigger(OnlyNegative()).reduce(sum);
      });
      h->process_element({"a", 1}, 1);
      h->process_element({"a", 2}, 2);
      h->process_element({"a", -4}, 3);
      h->process_element({"a", 8}, 4);
      CHECK(values_of(h->output()) == std::vector<Ev>{{"a", -1}});
      h->process_watermark(9);
      CHECK(h->pending_timers() == std::pair<size_t, size_t>{0, 0});
      CHECK(snapshot_keyed_state(*h->backend(), 128).entries.empty());
    }
  }
}

TEST_CASE("a window whose trigger deleted its end timer gets it back from the next element",
          "[windows]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = harness<Ev>(backend, [](auto& s) {
        return s.window(TumblingEventTimeWindows::of(10ms)).trigger(EarlyThenEnd()).reduce(sum);
      });
      h->process_element({"a", 1}, 2);
      h->process_element({"a", 2}, 3);
      h->process_watermark(1);  // the early timer fires and deletes the end timer
      h->process_element({"a", 4}, 5);  // registers it again
      h->process_watermark(9);
      CHECK(values_of(h->output()) == std::vector<Ev>{{"a", 3}, {"a", 7}});
      CHECK(h->pending_timers() == std::pair<size_t, size_t>{0, 0});
      CHECK(snapshot_keyed_state(*h->backend(), 128).entries.empty());
    }
  }
}

TEST_CASE("event-time windows fail the operator on a record without a timestamp", "[windows]") {
  auto h = harness<Ev>(test_support::state_backends().front(), [](auto& s) {
    return s.window(TumblingEventTimeWindows::of(10ms)).reduce(sum);
  });
  CHECK_THROWS_WITH(h->process_element({"a", 1}),
                    Catch::Contains("TumblingEventTimeWindows(10ms) needs event timestamps"));
}

TEST_CASE("window contents, sessions and timers snapshot on one backend and restore on either",
          "[windows][snapshot]") {
  for (const auto& from : test_support::state_backends()) {
    for (const auto& to : test_support::state_backends()) {
      DYNAMIC_SECTION(from.name << " to " << to.name) {
        auto restored = [&](const KeyedStateSnapshot& snap) {
          return test_support::BackendCase{to.name, [&to, snap](std::function<int64_t()> now) {
                                             auto b = to.make(std::move(now));
                                             b->restore(BackendSnapshot(snap), KeyGroupRange{0, 128}, KeyGroupRange{0, 128});
                                             return b;
                                           }};
        };
        auto sessions = [](auto& s) {
          return s.window(EventTimeSessionWindows::with_gap(10ms)).process(Describe<Ev>());
        };
        auto before = harness<std::string>(from, sessions);
        before->process_element({"a", 1}, 0);
        before->process_element({"a", 2}, 5);
        before->process_element({"b", 3}, 3);
        before->process_element({"a", 9}, 30);
        auto after = harness<std::string>(restored(snapshot_keyed_state(*before->backend(), 128)), sessions);
        after->process_element({"a", 4}, 12);  // merges into [0,22)
        after->process_element({"a", 5}, 20);  // bridges to [30,40)
        after->process_watermark(100);
        CHECK(after->output_values() == Strings{"b [3, 13) 3", "a [0, 40) 1,2,4,5,9"});
        CHECK(after->pending_timers() == std::pair<size_t, size_t>{0, 0});

        auto tumbling = [](auto& s) {
          return s.window(TumblingEventTimeWindows::of(1000ms)).process(InArrivalOrder());
        };
        auto first = harness<std::string>(from, tumbling);
        std::string expected;
        for (int64_t v = 0; v < 70; ++v) {
          first->process_element({"a", v}, v);
          expected += std::to_string(v) + ",";
        }
        auto second = harness<std::string>(restored(snapshot_keyed_state(*first->backend(), 128)), tumbling);
        second->process_element({"a", 70}, 999);
        second->end_input();
        CHECK(second->output_values() == Strings{expected + "70"});
      }
    }
  }
}

namespace {

/// The sum of a window's values, merging by addition: the windows of this may be sliced.
struct SumValues final : AggregateFunction<Ev, int64_t, int64_t> {
  int64_t create_accumulator() const override { return 0; }
  void add(const Ev& e, int64_t& acc) const override { acc += e.second; }
  int64_t get_result(const int64_t& acc) const override { return acc; }
  int64_t merge(int64_t a, const int64_t& b) const override { return a + b; }
};

/// "key [start, end) sum" for each window fired.
struct Labelled final : ProcessWindowFunction<int64_t, std::string, std::string, TimeWindow> {
  void process(const std::string& key, Context& ctx, const std::vector<int64_t>& sums,
               Collector<std::string>& out) override {
    out.collect(key + " " + text(ctx.window()) + " " + std::to_string(sums.at(0)));
  }
};

/// Seeded keys, values and out-of-order timestamps, with watermarks that trail them by up to
/// `disorder` (elements behind the watermark are late), then the end of input; a snapshot
/// half way restores into a fresh operator on the other backend, which goes on.
struct RandomRun {
  std::vector<testing::Emitted<std::string>> out;
  std::vector<testing::Emitted<Ev>> late;
  std::map<std::string, size_t> entries;  // keyed state entries by state, at the snapshot
};

template <class Build>
RandomRun run_random(uint32_t seed, Build build) {
  const auto backends = test_support::state_backends();
  OutputTag<Ev> late("late");
  auto first = harness<std::string>(backends.front(), [&](auto& s) { return build(s, late); });
  std::mt19937 rng(seed);
  RandomRun r;
  int64_t clock = 0, wm = INT64_MIN;
  auto* h = first.get();
  const auto* side = &h->side_output(late);  // asked for before the operator opens
  decltype(first) second;
  auto drain = [&] {
    for (const auto& e : h->output()) r.out.push_back(e);
    h->clear_output();
  };
  for (int i = 0; i < 3000; ++i) {
    clock += int64_t(rng() % 3);
    auto ts = clock - int64_t(rng() % 70);
    h->process_element({std::string(1, char('a' + rng() % 5)), int64_t(rng() % 100)}, ts);
    if (rng() % 8 == 0 && clock - 25 > wm) h->process_watermark(wm = clock - 25);
    if (i == 1500) {
      auto snap = h->snapshot();
      for (const auto& e : snap.entries) {
        ++r.entries[e.state];
      }
      drain();
      r.late = *side;
      second = harness<std::string>(backends.back(), [&](auto& s) { return build(s, late); });
      second->restore(snap);
      h = second.get();
      side = &h->side_output(late);
      if (wm != INT64_MIN) h->process_watermark(wm);
    }
  }
  h->end_input();
  drain();
  r.late.insert(r.late.end(), side->begin(), side->end());
  return r;
}

/// Runs `windows(keyed stream)` with its default trigger, which keeps the window state in
/// `layout`, and with the same trigger given explicitly, which keeps one state per window (the
/// general path); both give the same windows and late elements.
template <class Windows>
void check_as_general(uint32_t seed, Windows windows, const std::string& layout, size_t min_windows) {
  auto fast = run_random(seed, [&](auto& s, const OutputTag<Ev>& late) {
    return windows(s).side_output_late_data(late).aggregate(SumValues(), Labelled());
  });
  auto whole = run_random(seed, [&](auto& s, const OutputTag<Ev>& late) {
    return windows(s).trigger(EventTimeTrigger()).side_output_late_data(late).aggregate(SumValues(), Labelled());
  });
  CHECK(fast.entries[layout] > 0);
  CHECK(fast.entries["_window.contents"] == 0);
  CHECK(whole.entries[layout] == 0);
  CHECK(whole.entries["_window.contents"] > 0);
  CHECK(fast.out.size() > min_windows);
  CHECK(fast.out == whole.out);
  CHECK(fast.late.size() > 10);
  CHECK(fast.late == whole.late);
}

}  // namespace

TEST_CASE("sliced windows give what one state per window gives: tumbling, sliding, a slide that does not divide "
          "the size, late elements, a snapshot restored half way",
          "[windows][slicing]") {
  struct Case {
    const char* name;
    std::chrono::milliseconds size, slide, offset;
  };
  for (auto c : {Case{"tumbling", 10ms, 10ms, 0ms}, Case{"sliding, slide divides size", 20ms, 5ms, 0ms},
                 Case{"sliding, slide does not divide size", 10ms, 4ms, 0ms},
                 Case{"sliding with an offset", 12ms, 8ms, 3ms}, Case{"hopping, slide above size", 5ms, 8ms, 0ms}}) {
    DYNAMIC_SECTION(c.name) {
      auto windows = [&](auto& s) {
        if (c.size == c.slide) return s.window(TumblingEventTimeWindows::of(c.size, c.offset));
        return s.window(SlidingEventTimeWindows::of(c.size, c.slide, c.offset));
      };
      for (uint32_t seed = 1; seed <= 3; ++seed) {
        INFO("seed " << seed);
        check_as_general(seed, windows, "_window.sliced", 100);
      }
    }
  }
}

namespace {

/// Seeded keys and values under a processing-time clock that moves 0-2 ms per element, so
/// elements often come in the millisecond in which a window has just fired; a snapshot half
/// way restores into a fresh operator on the other backend, which goes on at the same time.
template <class Build>
RandomRun run_random_processing(uint32_t seed, Build build) {
  const auto backends = test_support::state_backends();
  auto first = harness<std::string>(backends.front(), build);
  std::mt19937 rng(seed);
  RandomRun r;
  int64_t clock = 0;
  auto* h = first.get();
  decltype(first) second;
  auto drain = [&] {
    for (const auto& e : h->output()) r.out.push_back(e);
    h->clear_output();
  };
  for (int i = 0; i < 3000; ++i) {
    h->set_processing_time(clock += int64_t(rng() % 3));
    h->process_element({std::string(1, char('a' + rng() % 5)), int64_t(rng() % 100)}, int64_t(rng() % 1000));
    if (i >= 1500 && !second) {
      auto snap = h->snapshot();
      if (snap.entries.empty()) continue;  // between hopping windows: nothing to carry over
      for (const auto& e : snap.entries) ++r.entries[e.state];
      drain();
      second = harness<std::string>(backends.back(), build);
      second->restore(snap);
      second->set_processing_time(clock);
      h = second.get();
    }
  }
  h->end_input();
  drain();
  return r;
}

}  // namespace

TEST_CASE("sliced processing-time windows give what one state per window gives, elements in the millisecond a "
          "window fired included, and overlapping ones keep one state per window",
          "[windows][slicing]") {
  struct Case {
    const char* name;
    std::chrono::milliseconds size, slide;
    const char* layout;
  };
  for (auto c : {Case{"tumbling", 10ms, 10ms, "_window.sliced"}, Case{"hopping, slide above size", 5ms, 8ms, "_window.sliced"},
                 Case{"sliding: not sliced", 10ms, 5ms, "_window.contents"}}) {
    DYNAMIC_SECTION(c.name) {
      auto windows = [&](auto& s) {
        if (c.size == c.slide) return s.window(TumblingProcessingTimeWindows::of(c.size));
        return s.window(SlidingProcessingTimeWindows::of(c.size, c.slide));
      };
      for (uint32_t seed = 1; seed <= 3; ++seed) {
        INFO("seed " << seed);
        auto fast = run_random_processing(seed, [&](auto& s) { return windows(s).aggregate(SumValues(), Labelled()); });
        auto whole = run_random_processing(
            seed, [&](auto& s) { return windows(s).trigger(ProcessingTimeTrigger()).aggregate(SumValues(), Labelled()); });
        CHECK(fast.entries[c.layout] > 0);
        CHECK(whole.entries["_window.contents"] > 0);
        CHECK(fast.out.size() > 300);
        CHECK(fast.out == whole.out);
        // Some window fired twice: an element came in the millisecond after it had fired.
        std::set<std::string> fired;
        size_t again = 0;
        for (const auto& e : whole.out) again += !fired.insert(e.value.substr(0, e.value.find(')'))).second;
        CHECK(again > 0);
      }
    }
  }
}

TEST_CASE("a window operator restored from a checkpoint of another window layout fails with a sentence, and one of "
          "its own layout goes on",
          "[windows][slicing]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto sliced = [](auto& s) { return s.window(TumblingEventTimeWindows::of(10ms)).aggregate(SumValues(), Labelled()); };
      auto first = harness<std::string>(backend, sliced);
      first->process_element({"a", 1}, 3);
      auto snap = first->snapshot();

      auto general = harness<std::string>(backend, [](auto& s) {
        return s.window(TumblingEventTimeWindows::of(10ms)).trigger(EventTimeTrigger()).aggregate(SumValues(), Labelled());
      });
      general->restore(snap);
      CHECK_THROWS_WITH(general->process_element({"a", 2}, 4),
                        Catch::Contains("was checkpointed keeping its windows sliced but now keeps them one state per "
                                        "window") &&
                            Catch::Contains("cannot restore that checkpoint"));

      auto same = harness<std::string>(backend, sliced);
      same->restore(snap);
      same->process_element({"a", 2}, 4);
      same->end_input();
      CHECK(same->output_values() == Strings{"a [0, 10) 3"});
    }
  }
}

TEST_CASE("event-time sessions of an aggregate, one entry per key, give what one state per session gives: merges, "
          "bridges, late elements, a snapshot restored half way",
          "[windows][sessions]") {
  for (auto gap : {3ms, 8ms, 25ms}) {
    DYNAMIC_SECTION("gap " << gap.count() << "ms") {
      for (uint32_t seed = 1; seed <= 3; ++seed) {
        INFO("seed " << seed);
        check_as_general(
            seed, [&](auto& s) { return s.window(EventTimeSessionWindows::with_gap(gap)); }, "_window.sessions", 30);
      }
    }
  }
}

TEST_CASE("windows that cannot be sliced keep one state per window: allowed lateness, a list of elements, "
          "a user trigger",
          "[windows][slicing]") {
  auto entries = [](auto& h) {
    h->process_element({"a", 1}, 3);
    h->process_element({"a", 2}, 7);
    size_t windows = 0;
    for (const auto& e : h->snapshot().entries) windows += e.state == "_window.contents";
    return windows;
  };
  const auto backends = test_support::state_backends();
  const auto& backend = backends.front();
  auto lateness = harness<int64_t>(backend, [](auto& s) {
    return s.window(SlidingEventTimeWindows::of(10ms, 5ms)).allowed_lateness(5ms).aggregate(SumValues());
  });
  CHECK(entries(lateness) == 3);  // [-5,5), [0,10), [5,15)
  auto list = harness<std::string>(backend, [](auto& s) {
    return s.window(SlidingEventTimeWindows::of(10ms, 5ms)).process(Describe<Ev>());
  });
  CHECK(entries(list) > 0);
  auto user = harness<int64_t>(backend, [](auto& s) {
    return s.window(SlidingEventTimeWindows::of(10ms, 5ms)).trigger(CountTrigger::of(5)).aggregate(SumValues());
  });
  CHECK(entries(user) == 3);
}

TEST_CASE("pre-aggregation holds one accumulator per key and slice ahead of the watermark, and sends them on "
          "before the watermark, when its input turns idle, and at the end",
          "[windows][slicing]") {
  using Partial = std::tuple<std::string, int64_t, int64_t>;
  StreamEnvironment env;
  auto keyed = env.from_collection<Ev>({}).key_by(key_of);
  keyed.window(SlidingEventTimeWindows::of(10ms, 5ms)).aggregate(SumValues());
  const auto& nodes = env.graph().nodes;
  REQUIRE(nodes.size() == 3);
  CHECK(nodes[1].name == "Window(SlidingEventTimeWindows(10ms, 5ms), Aggregate) (local)");
  testing::OneInputHarness<Ev, Partial> local(nodes[1].factory(0, 1), false);
  local.process_watermark(0);
  local.process_element({"a", 1}, 6);
  local.process_element({"a", 2}, 9);
  local.process_element({"b", 4}, 7);
  local.process_element({"a", 8}, 11);
  local.process_element({"a", 16}, -2);  // behind the watermark: passes on alone, at once
  CHECK(local.output() == std::vector<testing::Emitted<Partial>>{{{"a", -5, 16}, -5}});
  local.clear_output();
  local.process_watermark(4);
  auto held = local.output();
  std::sort(held.begin(), held.end(), [](const auto& x, const auto& y) { return x.value < y.value; });
  CHECK(held == std::vector<testing::Emitted<Partial>>{{{"a", 5, 3}, 5}, {{"a", 10, 8}, 10}, {{"b", 5, 4}, 5}});
  CHECK(local.output_watermarks() == std::vector<int64_t>{0, 4});
  local.clear_output();
  local.process_element({"c", 1}, 20);
  CHECK(local.output().empty());
  local.process_stream_status(true);
  CHECK(local.output() == std::vector<testing::Emitted<Partial>>{{{"c", 20, 1}, 20}});
  local.clear_output();
  local.process_element({"c", 2}, 21);
  local.end_input();
  CHECK(local.output() == std::vector<testing::Emitted<Partial>>{{{"c", 20, 2}, 20}});
}
