// tests/operators/test_timers.cpp — KeyedProcessFunction timers through the operator harness: order, deletion, end of input.
#include <catch2/catch.hpp>

#include <random>
#include <set>
#include <vector>

#include <sluice/sluice.hpp>
#include <sluice/testing/harness.hpp>

#include "operators/state_backends.hpp"

using namespace sluice;
using Event = std::pair<std::string, int64_t>;  // (key, timer time to register; negative deletes)

namespace {
/// Registers (or deletes) an event-time timer per element and a processing-time one for
/// elements with time 0; on a timer, emits "key@time/domain" and the count seen so far.
class TimerFn : public KeyedProcessFunction<std::string, Event, std::string> {
 public:
  void open(RuntimeContext& rc) override { count_ = &rc.state(ValueStateDescriptor<int>{"count"}); }
  void process(const Event& e, Context& ctx, Collector<std::string>&) override {
    count_->update(count_->value().value_or(0) + 1);
    if (e.second > 0) ctx.timer_service().register_event_time_timer(e.second);
    else if (e.second < 0) ctx.timer_service().delete_event_time_timer(-e.second);
    else ctx.timer_service().register_processing_time_timer(ctx.timer_service().current_processing_time() + 50);
  }
  void on_timer(int64_t t, OnTimerContext& ctx, Collector<std::string>& out) override {
    out.collect(ctx.current_key() + "@" + std::to_string(t) +
                (ctx.time_domain() == TimeDomain::event_time ? "/event" : "/processing") + " count=" +
                std::to_string(count_->value().value_or(0)));
  }

 private:
  ValueState<int>* count_ = nullptr;
};

auto key_of = [](const Event& e) { return e.first; };
}  // namespace

TEST_CASE("event timers fire in time order when the watermark passes, with their key's state", "[timers]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = testing::OneInputHarness<Event, std::string>::keyed_process(key_of, TimerFn(), backend.make);
      h->process_element({"a", 30}, 1);
      h->process_element({"b", 10}, 2);
      h->process_element({"a", 10}, 3);
      h->process_element({"a", 10}, 4);  // the same timer again: one timer
      h->process_watermark(9);
      CHECK(h->output().empty());
      h->process_watermark(10);
      CHECK(h->output_values() == std::vector<std::string>{"a@10/event count=3", "b@10/event count=1"});
      CHECK(h->output()[0].timestamp == 10);
      CHECK(h->output_watermarks().back() == 10);  // the watermark goes on after the timers
      h->clear_output();
      h->process_watermark(100);
      CHECK(h->output_values() == std::vector<std::string>{"a@30/event count=3"});
      CHECK(h->pending_timers().first == 0);
    }
  }
}

TEST_CASE("a deleted timer never fires", "[timers]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = testing::OneInputHarness<Event, std::string>::keyed_process(key_of, TimerFn(), backend.make);
      h->process_element({"a", 20});
      h->process_element({"a", 30});
      h->process_element({"a", -20});
      h->process_watermark(50);
      CHECK(h->output_values() == std::vector<std::string>{"a@30/event count=3"});
    }
  }
}

TEST_CASE("processing-time timers fire when the clock passes them", "[timers]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = testing::OneInputHarness<Event, std::string>::keyed_process(key_of, TimerFn(), backend.make);
      h->set_processing_time(100);
      h->process_element({"p", 0});  // timer at 150
      h->set_processing_time(149);
      CHECK(h->output().empty());
      h->set_processing_time(150);
      CHECK(h->output_values() == std::vector<std::string>{"p@150/processing count=1"});
    }
  }
}

TEST_CASE("at the end of input every pending timer fires, event time first", "[timers]") {
  for (const auto& backend : test_support::state_backends()) {
    DYNAMIC_SECTION(backend.name) {
      auto h = testing::OneInputHarness<Event, std::string>::keyed_process(key_of, TimerFn(), backend.make);
      h->process_element({"x", 1000});
      h->process_element({"y", 0});
      h->end_input();
      CHECK(h->output_values() ==
            std::vector<std::string>{"x@1000/event count=1", "y@50/processing count=1"});
      CHECK(h->pending_timers() == std::pair<size_t, size_t>{0, 0});
    }
  }
}

namespace {
/// Buffers elements in operator list state and flushes them in batches of three.
class Batcher : public ProcessFunction<int, std::vector<int>> {
 public:
  void open(RuntimeContext& rc) override { buf_ = &rc.operator_list_state(ListStateDescriptor<int>{"buffer"}); }
  void process(const int& v, Context&, Collector<std::vector<int>>& out) override {
    buf_->add(v);
    if (buf_->get().size() == 3) {
      out.collect(buf_->get());
      buf_->clear();
    }
  }
  void end_input(Collector<std::vector<int>>& out) override {
    if (!buf_->get().empty()) out.collect(buf_->get());
  }

 private:
  ListState<int>* buf_ = nullptr;
};
}  // namespace

TEST_CASE("operator list state keeps a subtask's list, and end_input flushes the rest", "[state][operator]") {
  auto h = testing::OneInputHarness<int, std::vector<int>>::process(Batcher());
  for (int i = 1; i <= 7; ++i) h->process_element(i);
  h->end_input();
  CHECK(h->output_values() == std::vector<std::vector<int>>{{1, 2, 3}, {4, 5, 6}, {7}});
}

namespace {
std::vector<std::string> run_after_restore(const test_support::BackendCase& to, const KeyedStateSnapshot& snap,
                                           std::optional<KeyGroupRange> range) {
  auto h = testing::OneInputHarness<Event, std::string>::keyed_process(key_of, TimerFn(), to.make);
  h->restore(snap, range);
  h->process_element({"k0", 0});  // one more element for k0 after the restore
  h->end_input();
  auto out = h->output_values();
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

TEST_CASE("state and timers snapshot from one backend and restore into any, also split by key group", "[state][snapshot]") {
  for (const auto& from : test_support::state_backends()) {
    auto h = testing::OneInputHarness<Event, std::string>::keyed_process(key_of, TimerFn(), from.make);
    for (int k = 0; k < 40; ++k)
      for (int n = 0; n <= k % 3; ++n) h->process_element({"k" + std::to_string(k), 100 + k});
    h->set_processing_time(5);
    h->process_element({"p", 0});  // a processing-time timer at 55
    auto snap = h->snapshot();
    CHECK(snap.event_timers.size() == 40);
    CHECK(snap.processing_timers.size() == 1);
    for (const auto& to : test_support::state_backends()) {
      DYNAMIC_SECTION(from.name << " -> " << to.name) {
        auto whole = run_after_restore(to, snap, std::nullopt);
        REQUIRE(whole.size() == 42);  // 40 restored event timers, p's, and the new k0 element's
        CHECK(std::count(whole.begin(), whole.end(), "k0@100/event count=2") == 1);
        CHECK(std::count(whole.begin(), whole.end(), "k5@105/event count=3") == 1);
        CHECK(std::count(whole.begin(), whole.end(), "p@55/processing count=1") == 1);
        // Rescaled to two subtasks: each takes its key groups; together they are the whole.
        auto a = run_after_restore(to, snap, KeyGroupRange{0, 64});
        auto b = run_after_restore(to, snap, KeyGroupRange{64, 128});
        std::vector<std::string> both;
        for (auto& x : a) if (x.rfind("k0@", 0) != 0 || x.find("count=1") == std::string::npos) both.push_back(x);
        for (auto& x : b) if (x.rfind("k0@", 0) != 0 || x.find("count=1") == std::string::npos) both.push_back(x);
        std::sort(both.begin(), both.end());
        CHECK(both == whole);
      }
    }
  }
}

TEST_CASE("the timer queue keeps one timer per (time, key, namespace) and pops them in order", "[timers]") {
  // Random adds, removes and pops against an ordered set: over few times, so that buckets grow
  // past their short vector into a hash set and shrink again; over many, so that removed
  // buckets' times pile up in the heap and it is rebuilt.
  auto spread = GENERATE(int64_t(6), int64_t(5'000));
  std::mt19937_64 rng(7);
  detail::TimerQueue q;
  std::set<detail::Timer> model;
  int64_t popped_until = 0;
  bool same = true;
  for (int step = 0; step < 60'000 && same; ++step) {
    auto r = rng() % 100;
    detail::Timer t{popped_until + int64_t(rng() % uint64_t(spread)), "k" + std::to_string(rng() % 40), std::to_string(rng() % 2), 0};
    if (r < (spread < 100 ? 55u : 45u)) {
      same = q.add(t) == model.insert(t).second;
    } else if (r < 90) {
      if (r % 2 == 0 && !model.empty()) {  // often one that is there
        auto at = model.lower_bound(t);
        t = at == model.end() ? *model.begin() : *at;
      }
      same = q.remove(t) == (model.erase(t) > 0);
    } else {
      popped_until += int64_t(rng() % 3);
      for (;;) {
        auto p = q.pop_until(popped_until);
        bool expect = !model.empty() && model.begin()->time <= popped_until;
        if (!p || !expect) {
          same = same && !p && !expect;
          break;
        }
        same = same && *p == *model.begin();
        model.erase(model.begin());
      }
    }
    same = same && q.size() == model.size();
  }
  CHECK(same);
  CHECK(q.all() == std::vector<detail::Timer>(model.begin(), model.end()));
}
