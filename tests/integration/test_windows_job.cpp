// tests/integration/test_windows_job.cpp — window jobs at parallelism 1 and 4 against oracles.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <sluice/sluice.hpp>
#include <tuple>

#include "support/temp_dir.hpp"

using namespace sluice;
using namespace std::chrono_literals;
using Ev = std::pair<int64_t, int64_t>;  // (key, value)
using Row =
    std::tuple<int64_t, int64_t, int64_t, int64_t>;  // (key, window start, window end, result)

namespace {

constexpr int64_t events = 20000;
constexpr int64_t keys = 7;

/// Event i: key i mod 7, value i, timestamp 10 ms apart with a 3 s pause every 500 events,
/// so that each key's sessions (100 ms gap) break at the pauses.
Ev event(int64_t i) { return {i % keys, i}; }
int64_t timestamp(int64_t i) { return 1'000'000 + i * 10 + (i / 500) * 3000; }

/// Splits events round robin over its subtasks; each emits its events in timestamp order,
/// with a watermark after every batch.
class TimedSource final : public Source<Ev> {
 public:
  std::unique_ptr<SourceReader<Ev>> create_reader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(subtask, parallelism);
  }
  bool bounded() const override { return true; }
  std::string name() const override { return "Timed Source"; }

 private:
  class Reader final : public SourceReader<Ev> {
   public:
    Reader(int subtask, int parallelism) : next_(subtask), step_(parallelism) {}
    SourceStatus poll(Output<Ev>& out, int max_records) override {
      int64_t last = min_watermark;
      for (int n = 0; n < max_records && next_ < events; ++n, next_ += step_) {
        last = timestamp(next_);
        out.push(event(next_), last);
      }
      if (last != min_watermark) out.watermark(last - 1);
      return next_ < events ? SourceStatus::more : SourceStatus::finished;
    }

   private:
    int64_t next_;
    int64_t step_;
  };
};

/// Counts elements.
struct Count final : AggregateFunction<Ev, int64_t, int64_t> {
  int64_t create_accumulator() const override { return 0; }
  void add(const Ev&, int64_t& acc) const override { ++acc; }
  int64_t get_result(const int64_t& acc) const override { return acc; }
  int64_t merge(int64_t a, const int64_t& b) const override { return a + b; }
};

/// (key, window, the one pre-aggregated value).
template <class In>
struct ToRow final : ProcessWindowFunction<In, Row, int64_t, TimeWindow> {
  using Base = ProcessWindowFunction<In, Row, int64_t, TimeWindow>;
  void process(const int64_t& key, typename Base::Context& ctx, const std::vector<In>& elements,
               Collector<Row>& out) override {
    for (const auto& e : elements) {
      if constexpr (std::is_same_v<In, Ev>)
        out.collect({key, ctx.window().start, ctx.window().end, e.second});
      else
        out.collect({key, ctx.window().start, ctx.window().end, e});
    }
  }
};

/// (key, window, sum of values) over all elements of the window.
struct SumAll final : ProcessWindowFunction<Ev, Row, int64_t, TimeWindow> {
  void process(const int64_t& key, Context& ctx, const std::vector<Ev>& elements,
               Collector<Row>& out) override {
    int64_t s = 0;
    for (const auto& e : elements) s += e.second;
    out.collect({key, ctx.window().start, ctx.window().end, s});
  }
};

/// Passes rows on with their timestamp in place of the result where the row carries
/// window end - 1 == timestamp, else -1: checks that results carry window.max_timestamp().
struct CheckTimestamp final : ProcessFunction<Row, Row> {
  void process(const Row& r, Context& ctx, Collector<Row>& out) override {
    auto [k, s, e, v] = r;
    out.collect({k, s, e, ctx.timestamp() == e - 1 ? v : -1});
  }
};

int64_t floor_start(int64_t ts, int64_t size) { return ts - (((ts % size) + size) % size); }

std::vector<Row> sorted(std::vector<Row> v) {
  std::sort(v.begin(), v.end());
  return v;
}

/// Tumbling windows of `size`: the sum of values per key and window.
std::vector<Row> expected_tumbling(int64_t size) {
  std::map<std::pair<int64_t, int64_t>, int64_t> sums;
  for (int64_t i = 0; i < events; ++i)
    sums[{event(i).first, floor_start(timestamp(i), size)}] += event(i).second;
  std::vector<Row> out;
  for (auto& [kw, s] : sums) out.emplace_back(kw.first, kw.second, kw.second + size, s);
  return out;
}

/// Sliding windows: the max value per key and window.
std::vector<Row> expected_sliding(int64_t size, int64_t slide) {
  std::map<std::pair<int64_t, int64_t>, int64_t> maxima;
  for (int64_t i = 0; i < events; ++i) {
    auto t = timestamp(i);
    for (int64_t start = floor_start(t, slide); start + size > t; start -= slide) {
      auto [it, fresh] = maxima.try_emplace({event(i).first, start}, event(i).second);
      if (!fresh) it->second = std::max(it->second, event(i).second);
    }
  }
  std::vector<Row> out;
  for (auto& [kw, m] : maxima) out.emplace_back(kw.first, kw.second, kw.second + size, m);
  return out;
}

/// Sessions: per key, runs of timestamps where each follows the previous by at most `gap`;
/// a session is [first, last + gap) with its count.
std::vector<Row> expected_sessions(int64_t gap) {
  std::map<int64_t, std::vector<int64_t>> times;
  for (int64_t i = 0; i < events; ++i) times[event(i).first].push_back(timestamp(i));
  std::vector<Row> out;
  for (auto& [k, ts] : times) {
    std::sort(ts.begin(), ts.end());
    size_t first = 0;
    for (size_t i = 1; i <= ts.size(); ++i) {
      if (i < ts.size() && ts[i] <= ts[i - 1] + gap) continue;
      out.emplace_back(k, ts[first], ts[i - 1] + gap, int64_t(i - first));
      first = i;
    }
  }
  return out;
}

}  // namespace

TEST_CASE(
    "tumbling, sliding and session windows equal independent computations at parallelism 1 and 4",
    "[job][windows]") {
  test_support::TempDir dir;
  auto tumbling = sorted(expected_tumbling(1000));
  auto sliding = sorted(expected_sliding(2000, 500));
  auto sessions = sorted(expected_sessions(100));
  REQUIRE(sessions.size() > keys * 30);
  std::vector<Row> processing;
  for (int64_t k = 0; k < keys; ++k)
    processing.emplace_back(k, 5000, 6000, events / keys + (k < events % keys ? 1 : 0));

  struct Case {
    int p;
    StateBackendKind backend;
  };
  for (auto c : {Case{1, StateBackendKind::heap}, Case{4, StateBackendKind::heap},
                 Case{1, StateBackendKind::rocksdb}, Case{4, StateBackendKind::rocksdb}}) {
    DYNAMIC_SECTION("parallelism "
                    << c.p << (c.backend == StateBackendKind::rocksdb ? " rocksdb" : " heap")) {
      StreamEnvironment env;
      env.set_parallelism(c.p);
      env.config().state_backend = c.backend;
      env.config().state_dir = dir.path().string();
      env.config().clock = std::make_shared<ManualClock>(5500);  // processing time stands still
      CollectSink<Row> tumbling_sink, sliding_sink, session_sink, process_sink, processing_sink;
      auto keyed = env.from_source<Ev>(TimedSource()).key_by([](const Ev& e) { return e.first; });
      keyed.window(TumblingEventTimeWindows::of(1s))
          .reduce(
              [](Ev a, Ev b) {
                return Ev{a.first, a.second + b.second};
              },
              ToRow<Ev>())
          .process(CheckTimestamp(), "check timestamps")
          .sink_to(tumbling_sink);
      keyed.window(SlidingEventTimeWindows::of(2s, 500ms))
          .reduce([](Ev a, Ev b) { return a.second >= b.second ? a : b; }, ToRow<Ev>())
          .sink_to(sliding_sink);
      keyed.window(EventTimeSessionWindows::with_gap(100ms))
          .aggregate(Count(), ToRow<int64_t>())
          .process(CheckTimestamp(), "check timestamps")
          .sink_to(session_sink);
      keyed.window(TumblingEventTimeWindows::of(1s)).process(SumAll()).sink_to(process_sink);
      keyed.window(TumblingProcessingTimeWindows::of(1s))
          .aggregate(Count(), ToRow<int64_t>())
          .sink_to(processing_sink);
      env.execute("windows p" + std::to_string(c.p));

      CHECK(sorted(tumbling_sink.collected()->values()) == tumbling);
      CHECK(sorted(sliding_sink.collected()->values()) == sliding);
      CHECK(sorted(session_sink.collected()->values()) == sessions);
      CHECK(sorted(process_sink.collected()->values()) == tumbling);
      // Processing-time windows fire at the end of input: one window [5000, 6000) per key.
      CHECK(sorted(processing_sink.collected()->values()) == processing);
    }
  }
}

namespace {

/// Five events a millisecond, out of order by up to 80 ms, a watermark 50 ms behind the
/// clock after every 1000 events of a reader (so some events are late), split round robin
/// over the subtasks.
class DisorderedSource final : public Source<Ev> {
 public:
  explicit DisorderedSource(int64_t n) : n_(n) {}
  std::unique_ptr<SourceReader<Ev>> create_reader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(n_, subtask, parallelism);
  }
  bool bounded() const override { return true; }
  std::string name() const override { return "Disordered Source"; }

 private:
  class Reader final : public SourceReader<Ev> {
   public:
    Reader(int64_t n, int subtask, int parallelism) : n_(n), next_(subtask), step_(parallelism) {}
    SourceStatus poll(Output<Ev>& out, int max_records) override {
      for (int k = 0; k < max_records && next_ < n_; ++k, next_ += step_) {
        auto scatter = int64_t((uint64_t(next_) * 2654435761u) % 81);
        out.push({next_ % 5, next_ % 13}, 1'000'000 + next_ / 5 - scatter);
        if (++since_ == 1000) {
          since_ = 0;
          out.watermark(1'000'000 + next_ / 5 - 50);
        }
      }
      return next_ < n_ ? SourceStatus::more : SourceStatus::finished;
    }

   private:
    int64_t n_, next_, step_;
    int since_ = 0;
  };
  int64_t n_;
};

/// Sums the values of a window.
struct SumValues final : AggregateFunction<Ev, int64_t, int64_t> {
  int64_t create_accumulator() const override { return 0; }
  void add(const Ev& e, int64_t& acc) const override { acc += e.second; }
  int64_t get_result(const int64_t& acc) const override { return acc; }
  int64_t merge(int64_t a, const int64_t& b) const override { return a + b; }
};

struct WindowRun {
  std::vector<Row> rows;
  uint64_t window_records_in = 0;  // records the window operator's task took in
};

/// A sliding 100 ms / 30 ms window sum per key; `explicit_trigger` gives the assigner's own
/// trigger explicitly, which keeps one state per window and nothing pre-aggregated.
WindowRun window_sums(int parallelism, int64_t n, bool explicit_trigger) {
  StreamEnvironment env;
  env.set_parallelism(parallelism);
  env.config().buffer_timeout = 1ms;
  CollectSink<Row> sink;
  auto got = sink.collected();
  // One source subtask: with one input channel per window subtask, which events are late does
  // not depend on how the channels interleave.
  auto windows = env.from_source<Ev>(DisorderedSource(n))
                     .set_parallelism(1)
                     .key_by([](const Ev& e) { return e.first; })
                     .window(SlidingEventTimeWindows::of(100ms, 30ms));
  if (explicit_trigger) windows.trigger(EventTimeTrigger());
  windows.aggregate(SumValues(), ToRow<int64_t>(), "sums").sink_to(sink);
  auto client = env.execute_async("window sums");
  client.wait();
  WindowRun r;
  r.rows = got->values();
  std::sort(r.rows.begin(), r.rows.end());
  for (const auto& p : client.probes())
    if (p.task.rfind("sums", 0) == 0) r.window_records_in += p.records_in;
  return r;
}

}  // namespace

TEST_CASE("window aggregates pre-aggregated before the shuffle and sliced give what one state per window gives",
          "[windows][slicing]") {
  const int64_t n = 60000;
  for (int p : {1, 4}) {
    INFO("parallelism " << p);
    auto fast = window_sums(p, n, false);
    auto plain = window_sums(p, n, true);
    REQUIRE(plain.rows.size() > 1000);
    std::vector<Row> only_fast, only_plain;
    std::set_difference(fast.rows.begin(), fast.rows.end(), plain.rows.begin(), plain.rows.end(),
                        std::back_inserter(only_fast));
    std::set_difference(plain.rows.begin(), plain.rows.end(), fast.rows.begin(), fast.rows.end(),
                        std::back_inserter(only_plain));
    auto show = [](const std::vector<Row>& rows) {
      std::string s;
      for (size_t i = 0; i < rows.size() && i < 5; ++i)
        s += " (" + std::to_string(std::get<0>(rows[i])) + " [" + std::to_string(std::get<1>(rows[i])) + "," +
             std::to_string(std::get<2>(rows[i])) + ") " + std::to_string(std::get<3>(rows[i])) + ")";
      return std::to_string(rows.size()) + " rows:" + s;
    };
    INFO("only pre-aggregated: " << show(only_fast) << "; only per window: " << show(only_plain));
    CHECK(fast.rows == plain.rows);
    // Each window operator takes one accumulator per key and slice between watermarks
    // instead of every element.
    CHECK(plain.window_records_in == uint64_t(n));
    CHECK(fast.window_records_in < uint64_t(n) / 2);
  }
}
