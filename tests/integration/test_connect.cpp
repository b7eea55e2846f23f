// tests/integration/test_connect.cpp — two-input operators in jobs: connect, keyed co-process with timers, watermark strategies.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <map>
#include <thread>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

struct Person {
  int64_t id = 0;
  std::string name;
};
struct Order {
  int64_t person = 0;
  int64_t amount = 0;
};

}  // namespace
SLUICE_CODEC(Person, id, name);
SLUICE_CODEC(Order, person, amount);

namespace {

/// Joins orders to people, whichever arrives first: people are kept in value state, orders
/// wait in list state until their person arrives.
class Enrich : public KeyedCoProcessFunction<int64_t, Person, Order, std::string> {
 public:
  void open(RuntimeContext& rc) override {
    person_ = &rc.state(ValueStateDescriptor<std::string>{"person"});
    waiting_ = &rc.state(ListStateDescriptor<int64_t>{"waiting"});
  }
  void process_element1(const Person& p, Context&, Collector<std::string>& out) override {
    person_->update(p.name);
    for (auto amount : waiting_->get()) out.collect(p.name + ":" + std::to_string(amount));
    waiting_->clear();
  }
  void process_element2(const Order& o, Context&, Collector<std::string>& out) override {
    if (auto name = person_->value()) out.collect(*name + ":" + std::to_string(o.amount));
    else waiting_->add(o.amount);
  }
  void end_input(Collector<std::string>& out) override { out.collect("end"); }

 private:
  ValueState<std::string>* person_ = nullptr;
  ListState<int64_t>* waiting_ = nullptr;
};

/// Each parallelism in STREAMING and in BATCH mode (issue 15: the same results).
std::vector<std::pair<int, ExecutionMode>> in_both_modes(std::initializer_list<int> parallelisms) {
  std::vector<std::pair<int, ExecutionMode>> runs;
  for (int p : parallelisms)
    for (auto mode : {ExecutionMode::streaming, ExecutionMode::batch}) runs.emplace_back(p, mode);
  return runs;
}

template <class T>
std::vector<T> sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("a keyed co-process joins two streams whichever side comes first", "[connect][job]") {
  for (auto [p, mode] : in_both_modes({1, 3})) {
    DYNAMIC_SECTION("parallelism " << p << ", " << execution_mode_name(mode)) {
      StreamEnvironment env;
      env.set_parallelism(p);
      env.config().execution_mode = mode;
      auto people = env.from_generator(100, [](int64_t i) { return Person{i, "p" + std::to_string(i)}; });
      auto orders = env.from_generator(1000, [](int64_t i) { return Order{(i * 7) % 100, i}; }).set_parallelism(2);
      CollectSink<std::string> sink;
      people.connect(orders)
          .key_by([](const Person& x) { return x.id; }, [](const Order& o) { return o.person; })
          .process(Enrich(), "enrich")
          .sink_to(sink);
      env.execute("enrich");
      std::vector<std::string> expected;
      for (int64_t i = 0; i < 1000; ++i) expected.push_back("p" + std::to_string((i * 7) % 100) + ":" + std::to_string(i));
      for (int s = 0; s < p; ++s) expected.push_back("end");
      CHECK(sorted(sink.collected()->values()) == sorted(expected));
    }
  }
}

namespace {
/// Counts elements of each side, emitting the counts when both inputs end.
class CountBoth : public CoProcessFunction<int64_t, std::string, std::string> {
 public:
  void process_element1(const int64_t&, Context&, Collector<std::string>&) override { ++a_; }
  void process_element2(const std::string&, Context&, Collector<std::string>&) override { ++b_; }
  void end_input(Collector<std::string>& out) override {
    out.collect(std::to_string(a_) + "/" + std::to_string(b_));
  }

 private:
  int64_t a_ = 0, b_ = 0;
};
}  // namespace

TEST_CASE("a co-process function sees both inputs and ends after both", "[connect][job]") {
  StreamEnvironment env;
  env.set_parallelism(1);
  auto a = env.from_generator(500, [](int64_t i) { return i; });
  auto b = env.from_generator(300, [](int64_t i) { return std::to_string(i); });
  CollectSink<std::string> sink;
  a.connect(b).process(CountBoth(), "count both").sink_to(sink);
  env.execute("co-process");
  CHECK(sink.collected()->values() == std::vector<std::string>{"500/300"});
}

namespace {
/// Counts events per key and 100 ms bucket; when event time passes a bucket's end, emits
/// its count. An event for a bucket whose timer already fired would be late: it is flagged.
class Tick : public KeyedProcessFunction<int64_t, std::pair<int64_t, int64_t>, std::string> {
 public:
  void open(RuntimeContext& rc) override { buckets_ = &rc.state(MapStateDescriptor<int64_t, int64_t>{"buckets"}); }
  void process(const std::pair<int64_t, int64_t>&, Context& ctx, Collector<std::string>& out) override {
    if (ctx.timestamp() <= ctx.current_watermark()) out.collect("late");
    int64_t end = (ctx.timestamp() / 100 + 1) * 100 - 1;
    buckets_->put(end, buckets_->get(end).value_or(0) + 1);
    ctx.timer_service().register_event_time_timer(end);
  }
  void on_timer(int64_t t, OnTimerContext& ctx, Collector<std::string>& out) override {
    if (t > ctx.current_watermark()) out.collect("early");
    out.collect(std::to_string(ctx.current_key()) + "@" + std::to_string(t) + "=" +
                std::to_string(buckets_->get(t).value_or(0)));
    buckets_->remove(t);
  }

 private:
  MapState<int64_t, int64_t>* buckets_ = nullptr;
};

/// Punctuated: a watermark after every event, `bound` behind the largest timestamp.
class EveryEvent final : public WatermarkGenerator<std::pair<int64_t, int64_t>> {
 public:
  void on_event(const std::pair<int64_t, int64_t>&, int64_t ts, WatermarkOutput& out) override {
    max_ = std::max(max_, ts);
    out.emit_watermark(max_ - 21);
  }
  void on_periodic_emit(WatermarkOutput&) override {}

 private:
  int64_t max_ = 0;
};
}  // namespace

TEST_CASE("timestamps and watermarks from a strategy drive event-time timers across tasks", "[watermark][job]") {
  for (bool punctuated : {true, false}) {
    DYNAMIC_SECTION((punctuated ? "punctuated" : "periodic")) {
      StreamEnvironment env;
      env.set_parallelism(2);
      env.config().auto_watermark_interval = 1ms;
      // Events (key, time): keys 0..3, times 0..3999, out of order by up to 19 ms.
      auto events = env.from_generator(4000, [](int64_t i) {
        int64_t t = (i / 20) * 20 + (19 - i % 20);
        return std::make_pair(i % 4, t);
      });
      using E = std::pair<int64_t, int64_t>;
      auto strategy = punctuated
                          ? WatermarkStrategy<E>::for_generator([] { return std::make_unique<EveryEvent>(); })
                          : WatermarkStrategy<E>::for_bounded_out_of_orderness(20ms);
      CollectSink<std::string> sink;
      events
          .assign_timestamps_and_watermarks(
              strategy.with_timestamp_assigner([](const E& e, int64_t) { return e.second; }))
          .key_by([](const E& e) { return e.first; })
          .process(Tick(), "tick")
          .sink_to(sink);
      env.execute("ticks");
      // Each key has 25 events in each 100 ms bucket; none is late, no timer fires early.
      std::vector<std::string> expected;
      for (int64_t k = 0; k < 4; ++k)
        for (int64_t b = 1; b <= 40; ++b)
          expected.push_back(std::to_string(k) + "@" + std::to_string(b * 100 - 1) + "=25");
      CHECK(sorted(sink.collected()->values()) == sorted(expected));
    }
  }
}

namespace {
using Timed = std::pair<int64_t, int64_t>;  // (key, timestamp)
class PairUp : public ProcessJoinFunction<Timed, Timed, std::string> {
 public:
  void process_element(const Timed& a, const Timed& b, Context& ctx, Collector<std::string>& out) override {
    out.collect(std::to_string(a.first) + ":" + std::to_string(a.second) + "-" + std::to_string(b.second) + "@" +
                std::to_string(ctx.timestamp()));
  }
};
}  // namespace

TEST_CASE("interval join pairs elements of equal keys within the bounds, inclusive", "[join][job]") {
  for (auto [p, mode] : in_both_modes({1, 3})) {
    DYNAMIC_SECTION("parallelism " << p << ", " << execution_mode_name(mode)) {
      StreamEnvironment env;
      env.set_parallelism(p);
      env.config().execution_mode = mode;
      auto strategy = WatermarkStrategy<Timed>::for_monotonous_timestamps().with_timestamp_assigner(
          [](const Timed& e, int64_t) { return e.second; });
      auto a = env.from_generator(300, [](int64_t i) { return Timed{i % 5, i * 10}; })
                   .set_parallelism(1)
                   .assign_timestamps_and_watermarks(strategy);
      auto b = env.from_generator(200, [](int64_t j) { return Timed{j % 5, j * 15 + 5}; })
                   .set_parallelism(1)
                   .assign_timestamps_and_watermarks(strategy);
      CollectSink<std::string> sink;
      a.key_by([](const Timed& e) { return e.first; })
          .interval_join(b.key_by([](const Timed& e) { return e.first; }))
          .between(-20ms, 30ms)
          .process(PairUp(), "pair up")
          .sink_to(sink);
      env.execute("interval join");
      std::vector<std::string> expected;
      for (int64_t i = 0; i < 300; ++i)
        for (int64_t j = 0; j < 200; ++j) {
          int64_t ta = i * 10, tb = j * 15 + 5;
          if (i % 5 == j % 5 && tb >= ta - 20 && tb <= ta + 30)
            expected.push_back(std::to_string(i % 5) + ":" + std::to_string(ta) + "-" + std::to_string(tb) + "@" +
                               std::to_string(std::max(ta, tb)));
        }
      REQUIRE(!expected.empty());
      CHECK(sorted(sink.collected()->values()) == sorted(expected));
    }
  }
}

namespace {
using Reading = std::pair<int64_t, int64_t>;  // (sensor, value); timestamp = value
using Rule = std::pair<int64_t, int64_t>;     // (sensor % 3, threshold)

/// Holds readings until event time passes them, then keeps those at or above the threshold
/// the broadcast rules set for their sensor group.
class Thresholds : public KeyedBroadcastProcessFunction<int64_t, Reading, Rule, int64_t, int64_t, std::string> {
 public:
  void open(RuntimeContext& rc) override { held_ = &rc.state(ListStateDescriptor<int64_t>{"held"}); }
  void process_element(const Reading& r, const State&, KeyedContext<int64_t>& ctx, Collector<std::string>&) override {
    held_->add(r.second);
    ctx.timer_service().register_event_time_timer(ctx.timestamp());
  }
  void process_broadcast_element(const Rule& rule, State& state, ElementContext&, Collector<std::string>&) override {
    state.put(rule.first, rule.second);
  }
  void on_timer(int64_t, const State& state, KeyedTimerContext<int64_t>& ctx, Collector<std::string>& out) override {
    auto threshold = state.get(ctx.current_key() % 3);
    for (auto v : held_->get())
      if (!threshold) out.collect("no rule");
      else if (v >= *threshold) out.collect(std::to_string(ctx.current_key()) + ":" + std::to_string(v));
    held_->clear();
  }

 private:
  ListState<int64_t>* held_ = nullptr;
};
}  // namespace

TEST_CASE("broadcast state reaches every subtask of a keyed operator", "[broadcast][job]") {
  for (auto mode : {ExecutionMode::streaming, ExecutionMode::batch}) {
    DYNAMIC_SECTION(execution_mode_name(mode)) {
      StreamEnvironment env;
      env.set_parallelism(3);
      env.config().execution_mode = mode;  // BATCH: the rules come first, before any reading
      auto rules = env.from_collection(std::vector<Rule>{{0, 100}, {1, 500}, {2, 900}}).set_parallelism(1);
      auto readings = env.from_generator(1000, [](int64_t i) { return Reading{i % 7, i}; })
                          .assign_timestamps_and_watermarks(
                              WatermarkStrategy<Reading>::for_bounded_out_of_orderness(std::chrono::milliseconds(5))
                                  .with_timestamp_assigner([](const Reading& r, int64_t) { return r.second; }));
      CollectSink<std::string> sink;
      readings.key_by([](const Reading& r) { return r.first; })
          .connect(rules.broadcast_state())
          .process(Thresholds(), "thresholds")
          .sink_to(sink);
      env.execute("broadcast");
      std::vector<std::string> expected;
      int64_t thresholds[3] = {100, 500, 900};
      for (int64_t i = 0; i < 1000; ++i)
        if (i >= thresholds[(i % 7) % 3]) expected.push_back(std::to_string(i % 7) + ":" + std::to_string(i));
      CHECK(sorted(sink.collected()->values()) == sorted(expected));
    }
  }
}

TEST_CASE("window join pairs equal keys within the same window", "[join][window][job]") {
  for (auto [p, mode] : in_both_modes({1, 3})) {
    DYNAMIC_SECTION("parallelism " << p << ", " << execution_mode_name(mode)) {
      StreamEnvironment env;
      env.set_parallelism(p);
      env.config().execution_mode = mode;
      auto strategy = WatermarkStrategy<Timed>::for_monotonous_timestamps().with_timestamp_assigner(
          [](const Timed& e, int64_t) { return e.second; });
      auto a = env.from_generator(300, [](int64_t i) { return Timed{i % 4, i * 10}; })
                   .set_parallelism(1)
                   .assign_timestamps_and_watermarks(strategy);
      auto b = env.from_generator(200, [](int64_t j) { return Timed{j % 4, j * 15 + 5}; })
                   .set_parallelism(1)
                   .assign_timestamps_and_watermarks(strategy);
      CollectSink<std::string> sink;
      a.join(b)
          .where([](const Timed& e) { return e.first; })
          .equal_to([](const Timed& e) { return e.first; })
          .window(TumblingEventTimeWindows::of(100ms))
          .apply([](const Timed& x, const Timed& y) {
            return std::to_string(x.first) + ":" + std::to_string(x.second) + "-" + std::to_string(y.second);
          })
          .sink_to(sink);
      env.execute("window join");
      std::vector<std::string> expected;
      for (int64_t i = 0; i < 300; ++i)
        for (int64_t j = 0; j < 200; ++j) {
          int64_t ta = i * 10, tb = j * 15 + 5;
          if (i % 4 == j % 4 && ta / 100 == tb / 100)
            expected.push_back(std::to_string(i % 4) + ":" + std::to_string(ta) + "-" + std::to_string(tb));
        }
      REQUIRE(!expected.empty());
      CHECK(sorted(sink.collected()->values()) == sorted(expected));
    }
  }
}

namespace {
/// An unbounded source that emits `n` timestamped records and then nothing, forever.
class GoesQuiet final : public Source<Timed> {
 public:
  explicit GoesQuiet(int n) : n_(n) {}
  std::unique_ptr<SourceReader<Timed>> create_reader(int, int) const override {
    return std::make_unique<Reader>(n_);
  }
  bool bounded() const override { return false; }
  std::string name() const override { return "Goes Quiet"; }

 private:
  class Reader final : public SourceReader<Timed> {
   public:
    explicit Reader(int n) : n_(n) {}
    SourceStatus poll(Output<Timed>& out, int) override {
      if (i_ < n_) out.push(Timed{i_ % 2, i_}, i_), ++i_;
      return SourceStatus::waiting;
    }

   private:
    int n_;
    int64_t i_ = 0;
  };
  int n_;
};

/// Emits the key and time of each event-time timer (one per element's timestamp).
class Fire : public KeyedProcessFunction<int64_t, Timed, std::string> {
 public:
  void process(const Timed&, Context& ctx, Collector<std::string>&) override {
    ctx.timer_service().register_event_time_timer(ctx.timestamp());
  }
  void on_timer(int64_t t, OnTimerContext& ctx, Collector<std::string>& out) override {
    out.collect(std::to_string(ctx.current_key()) + "@" + std::to_string(t));
  }
};
}  // namespace

TEST_CASE("an idle input does not hold back the watermark of the other", "[watermark][idleness][job]") {
  StreamEnvironment env;
  env.set_parallelism(1);
  env.config().auto_watermark_interval = std::chrono::milliseconds(2);
  auto strategy = WatermarkStrategy<Timed>::for_monotonous_timestamps()
                      .with_timestamp_assigner([](const Timed& e, int64_t) { return e.second; })
                      .with_idleness(std::chrono::milliseconds(20));
  auto busy = env.from_generator(-1, [](int64_t i) { return Timed{0, i}; }).assign_timestamps_and_watermarks(strategy);
  auto quiet = env.from_source<Timed>(GoesQuiet(3)).assign_timestamps_and_watermarks(strategy);
  CollectSink<std::string> sink;
  busy.union_with(quiet).key_by([](const Timed& e) { return e.first; }).process(Fire(), "fire").sink_to(sink);
  auto client = env.execute_async("idleness");
  // The quiet source's watermark stays at 1; once it is idle, the busy one's drives timers
  // far past it. Without idleness nothing beyond time 1 would ever fire.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool beyond = false;
  while (!beyond && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (const auto& s : sink.collected()->values())
      if (s.rfind("0@", 0) == 0 && std::stoll(s.substr(2)) > 1000) beyond = true;
  }
  client.cancel();
  CHECK_THROWS(client.wait());
  CHECK(beyond);
}
