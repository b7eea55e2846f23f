// tests/integration/test_batch.cpp — BATCH mode's keyed operators on sorted input: each key's records together, its timers at its end, spilling under the sort memory.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <regex>
#include <sstream>

#include <sluice/logging.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "support/temp_dir.hpp"

using namespace sluice;

namespace {
/// While alive, the runtime's lines at info and above are also kept here (stderr keeps its level).
class RuntimeLog {
 public:
  RuntimeLog() : logger_(sluice::log::runtime()), was_(logger_->level()) {
    for (auto& s : logger_->sinks()) {
      sink_levels_.push_back(s->level());
      s->set_level(std::max(s->level(), was_));
    }
    sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(text_);
    logger_->sinks().push_back(sink_);
    logger_->set_level(spdlog::level::info);
  }
  ~RuntimeLog() {
    logger_->set_level(was_);
    logger_->sinks().pop_back();
    for (size_t i = 0; i < sink_levels_.size(); ++i) logger_->sinks()[i]->set_level(sink_levels_[i]);
  }
  /// Each sort logged: the records it sorted and the spill files it wrote.
  std::vector<std::pair<int64_t, int64_t>> sorts() const {
    return numbers("sorted ([0-9]+) records by key \\(([0-9]+) spill files");
  }
  /// Each full-partition map's partition logged: the records it held and the spill files.
  std::vector<std::pair<int64_t, int64_t>> held() const {
    return numbers("held ([0-9]+) records of '[^']*' \\(([0-9]+) spill files");
  }

 private:
  /// The two numbers `pattern` captures, in every line that has it.
  std::vector<std::pair<int64_t, int64_t>> numbers(const char* pattern) const {
    std::vector<std::pair<int64_t, int64_t>> out;
    std::string text = text_.str();
    std::regex line(pattern);
    for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it)
      out.emplace_back(std::stoll((*it)[1]), std::stoll((*it)[2]));
    return out;
  }

  std::shared_ptr<spdlog::logger> logger_;
  spdlog::level::level_enum was_;
  std::vector<spdlog::level::level_enum> sink_levels_;
  std::ostringstream text_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

using Timed = std::pair<int64_t, int64_t>;  // (key, timestamp)

std::string mark(int64_t wm) { return wm == min_watermark ? "min" : wm == max_watermark ? "max" : std::to_string(wm); }

/// One line per record and per timer, in the order the key saw them: kind, key, time,
/// watermark, and the key's record count in its state.
class Trace : public KeyedProcessFunction<int64_t, Timed, std::string> {
 public:
  void open(RuntimeContext& rc) override { count_ = &rc.state(ValueStateDescriptor<int64_t>{"count"}); }
  void process(const Timed& v, Context& ctx, Collector<std::string>& out) override {
    auto n = count_->value().value_or(0) + 1;
    count_->update(n);
    out.collect(line("record", v.first, ctx.timestamp(), ctx.current_watermark(), n));
    ctx.timer_service().register_event_time_timer(ctx.timestamp() + 1000);
    if (n == 1)  // an hour from now: BATCH fires it at the key's end all the same
      ctx.timer_service().register_processing_time_timer(ctx.timer_service().current_processing_time() + 3'600'000);
  }
  void on_timer(int64_t t, OnTimerContext& ctx, Collector<std::string>& out) override {
    bool event = ctx.time_domain() == TimeDomain::event_time;
    out.collect(line(event ? "event" : "processing", ctx.current_key(), event ? t : 0, ctx.current_watermark(),
                     count_->value().value_or(0)));
  }

 private:
  static std::string line(const char* kind, int64_t key, int64_t t, int64_t wm, int64_t n) {
    return std::string(kind) + " " + std::to_string(key) + " " + std::to_string(t) + " " + mark(wm) + " " +
           std::to_string(n);
  }
  ValueState<int64_t>* count_ = nullptr;
};

struct Line {
  std::string kind;
  int64_t key = 0, time = 0;
  std::string watermark;
  int64_t count = 0;
};
Line parse(const std::string& s) {
  Line l;
  std::istringstream in(s);
  in >> l.kind >> l.key >> l.time >> l.watermark >> l.count;
  return l;
}
}  // namespace

// Issue 15: keyed operators run on sorted input, timers fire at the end of each key.
TEST_CASE("BATCH feeds a keyed function each key's records together in timestamp order, then the key's timers",
          "[batch][job]") {
  constexpr int64_t n = 3000, keys = 7;
  auto key_of = [](int64_t i) { return (i * 31) % keys; };
  auto time_of = [](int64_t i) { return (i * 7919) % 5000; };
  StreamEnvironment env;
  env.config().execution_mode = ExecutionMode::batch;
  CollectSink<std::string> sink;
  env.from_generator(n,
                     [=](int64_t i) {
                       return Timed{key_of(i), time_of(i)};
                     })
      .set_parallelism(2)  // two producers: records of a key arrive interleaved and out of order
      .assign_timestamps_and_watermarks(
          WatermarkStrategy<Timed>::for_bounded_out_of_orderness(std::chrono::milliseconds(5000))
              .with_timestamp_assigner([](const Timed& e, int64_t) { return e.second; }))
      .key_by([](const Timed& e) { return e.first; })
      .process(Trace(), "trace")
      .set_parallelism(1)
      .sink_to(sink)
      .set_parallelism(1);
  env.execute("batch timers");

  std::map<int64_t, std::vector<int64_t>> times;  // by key, the records' timestamps
  for (int64_t i = 0; i < n; ++i) times[key_of(i)].push_back(time_of(i));
  std::vector<std::vector<Line>> blocks;  // the output, cut where the key changes
  for (const auto& s : sink.collected()->values()) {
    auto l = parse(s);
    if (blocks.empty() || blocks.back().front().key != l.key) blocks.emplace_back();
    blocks.back().push_back(l);
  }
  REQUIRE(blocks.size() == size_t(keys));  // each key once, all of its lines together
  std::set<int64_t> seen;
  for (const auto& block : blocks) {
    int64_t key = block.front().key;
    INFO("key " << key);
    CHECK(seen.insert(key).second);
    auto want = times.at(key);
    std::sort(want.begin(), want.end());
    std::set<int64_t> fires;
    for (auto t : want) fires.insert(t + 1000);
    REQUIRE(block.size() == want.size() + fires.size() + 1);
    size_t at = 0;
    // The records, in timestamp order, the watermark at its minimum while they come.
    for (size_t r = 0; r < want.size(); ++r, ++at) {
      CHECK(block[at].kind == "record");
      CHECK(block[at].time == want[r]);
      CHECK(block[at].watermark == "min");
      CHECK(block[at].count == int64_t(r + 1));
    }
    // Then the event-time timers in time order, at the final watermark, the key's state whole.
    for (auto t : fires) {
      CHECK(block[at].kind == "event");
      CHECK(block[at].time == t);
      CHECK(block[at].watermark == "max");
      CHECK(block[at].count == int64_t(want.size()));
      ++at;
    }
    // Then its processing-time timer, an hour early.
    CHECK(block[at].kind == "processing");
    CHECK(block[at].count == int64_t(want.size()));
  }
}

TEST_CASE("BATCH emits only each key's final value of a rolling sum and reduce", "[batch][job]") {
  for (auto mode : {ExecutionMode::streaming, ExecutionMode::batch}) {
    DYNAMIC_SECTION(execution_mode_name(mode)) {
      StreamEnvironment env;
      env.set_parallelism(2);
      env.config().execution_mode = mode;
      CollectSink<int64_t> sums;
      env.from_generator(1000, [](int64_t i) { return i; }).key_by([](int64_t i) { return i % 4; }).sum().sink_to(sums);
      env.execute("rolling sum");
      auto got = sums.collected()->values();
      std::sort(got.begin(), got.end());
      if (mode == ExecutionMode::streaming) {
        CHECK(got.size() == 1000);  // every update
      } else {
        std::vector<int64_t> finals(4, 0);
        for (int64_t i = 0; i < 1000; ++i) finals[size_t(i % 4)] += i;
        std::sort(finals.begin(), finals.end());
        CHECK(got == finals);
      }
    }
  }
}

TEST_CASE("BATCH sorts a keyed input beyond its sort memory on disk, and a failure midway leaves no files",
          "[batch][job]") {
  using Sum = std::pair<int64_t, int64_t>;
  static std::atomic<bool> failed{false};
  constexpr int64_t n = 200'000, keys = 1000;
  std::map<int64_t, int64_t> expected;
  for (int64_t i = 0; i < n; ++i) expected[(i * 7919) % keys] += i;
  for (bool fail : {false, true}) {
    DYNAMIC_SECTION((fail ? "failing once" : "no failure")) {
      test_support::TempDir dir;
      RuntimeLog log;
      failed = !fail;
      StreamEnvironment env;
      env.set_parallelism(2);
      env.config().execution_mode = ExecutionMode::batch;
      env.config().batch_memory = 256 << 10;  // the records take about 5 MiB in the sort
      env.config().batch_dir = dir.path().string();
      env.config().checkpoint.restart.delay = std::chrono::milliseconds(10);
      CollectSink<Sum> sink;
      env.from_generator(n,
                         [](int64_t i) {
                           return Sum{(i * 7919) % keys, i};
                         })
          .key_by([](const Sum& s) { return s.first; })
          .reduce([](Sum a, Sum b) {
            if (b.second == 150'000 && !failed.exchange(true)) throw std::runtime_error("injected failure");
            return Sum{a.first, a.second + b.second};
          })
          .sink_to(sink)
          .set_parallelism(1);  // its own task: what a failed subtask emitted is not kept
      auto result = env.execute("batch spill");
      CHECK(failed);
      CHECK(result.restarts == (fail ? 1 : 0));
      auto rows = sink.collected()->values();
      std::sort(rows.begin(), rows.end());
      CHECK(rows == std::vector<Sum>(expected.begin(), expected.end()));
      CHECK(std::filesystem::is_empty(dir.path()));  // partition files and spill files
      // Each subtask fed its share, sorted on disk (more than the memory holds), once to the
      // end: the failed attempt is logged by its rerun only.
      auto sorts = log.sorts();
      CHECK(sorts.size() == 2);
      int64_t sorted = 0;
      for (auto [records, files] : sorts) {
        sorted += records;
        CHECK(files >= 2);
      }
      CHECK(sorted == n);
    }
  }
}

namespace {
using Named = std::pair<int64_t, std::string>;  // (number, name)
Named named(int64_t i) { return {(i * 7919) % 100'003, "n" + std::to_string((i * 31) % 977)}; }

/// Averages the numbers of a partition.
class Average final : public AggregateFunction<Named, std::pair<int64_t, int64_t>, double> {
 public:
  std::pair<int64_t, int64_t> create_accumulator() const override { return {0, 0}; }
  void add(const Named& v, std::pair<int64_t, int64_t>& acc) const override {
    acc.first += v.first;
    ++acc.second;
  }
  double get_result(const std::pair<int64_t, int64_t>& acc) const override {
    return acc.second ? double(acc.first) / double(acc.second) : 0;
  }
  std::pair<int64_t, int64_t> merge(std::pair<int64_t, int64_t> a, const std::pair<int64_t, int64_t>& b) const override {
    return {a.first + b.first, a.second + b.second};
  }
};
}  // namespace

// Issue 15: FLIP-380's full window partition: sort_partition, map_partition, reduce, aggregate.
TEST_CASE("sort_partition orders each subtask's input by key, sorted on disk in BATCH and in memory in STREAMING",
          "[batch][job][full-partition]") {
  constexpr int64_t n = 60'000;
  for (auto mode : {ExecutionMode::streaming, ExecutionMode::batch}) {
    for (auto order : {SortOrder::ascending, SortOrder::descending}) {
      DYNAMIC_SECTION(execution_mode_name(mode) << (order == SortOrder::ascending ? ", ascending" : ", descending")) {
        test_support::TempDir dir;
        RuntimeLog log;
        StreamEnvironment env;
        env.config().execution_mode = mode;
        env.config().batch_memory = 256 << 10;  // the input takes about 2 MiB in the sort: it spills
        env.config().batch_dir = dir.path().string();
        CollectSink<Named> by_name, by_number;
        auto in = env.from_generator(n, named).set_parallelism(2);  // two producers, interleaved
        in.full_window_partition()
            .sort_partition([](const Named& v) { return std::make_pair(v.second, v.first); }, order)
            .set_parallelism(1)
            .sink_to(by_name)
            .set_parallelism(1);
        in.full_window_partition()
            .sort_partition([](const Named& v) { return v.first - 50'000; }, order)  // negative keys too
            .set_parallelism(1)
            .sink_to(by_number)
            .set_parallelism(1);
        env.execute("sort partition");
        std::vector<Named> want;
        for (int64_t i = 0; i < n; ++i) want.push_back(named(i));
        auto names = want;
        std::sort(names.begin(), names.end(), [](const Named& a, const Named& b) {
          return std::tie(a.second, a.first) < std::tie(b.second, b.first);
        });
        std::sort(want.begin(), want.end());
        if (order == SortOrder::descending) {
          std::reverse(want.begin(), want.end());
          std::reverse(names.begin(), names.end());
        }
        CHECK(by_number.collected()->values() == want);  // in this order, not just these values
        CHECK(by_name.collected()->values() == names);
        CHECK(std::filesystem::is_empty(dir.path()));
        auto sorts = log.sorts();  // BATCH sorted both inputs on disk; STREAMING in memory
        if (mode == ExecutionMode::batch) {
          REQUIRE(sorts.size() == 2);
          for (auto [records, files] : sorts) {
            CHECK(records == n);
            CHECK(files >= 2);
          }
        } else {
          CHECK(sorts.empty());
        }
      }
    }
  }
}

TEST_CASE("map_partition, reduce and aggregate see each subtask's whole input once", "[batch][job][full-partition]") {
  constexpr int64_t n = 10'000;
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i) total += named(i).first;
  for (auto mode : {ExecutionMode::streaming, ExecutionMode::batch}) {
    DYNAMIC_SECTION(execution_mode_name(mode)) {
      StreamEnvironment env;
      env.set_parallelism(3);
      env.config().execution_mode = mode;
      CollectSink<int64_t> counts;
      CollectSink<Named> sums;
      CollectSink<double> averages;
      auto in = env.from_generator(n, named);
      in.full_window_partition()
          .map_partition<int64_t>([](PartitionRecords<Named>& records, Collector<int64_t>& out) {
            int64_t count = 0;
            for ([[maybe_unused]] Named& r : records) ++count;
            out.collect(count);
          })
          .sink_to(counts);
      in.full_window_partition()
          .reduce([](Named a, Named b) { return Named{a.first + b.first, "sum"}; })
          .sink_to(sums);
      in.rebalance().full_window_partition().aggregate(Average()).set_parallelism(1).sink_to(averages);
      env.execute("full partition");
      auto c = counts.collected()->values();
      REQUIRE(c.size() == 3);  // one per subtask
      CHECK(c[0] + c[1] + c[2] == n);
      auto s = sums.collected()->values();
      REQUIRE(s.size() == 3);
      CHECK(s[0].first + s[1].first + s[2].first == total);
      auto a = averages.collected()->values();
      REQUIRE(a.size() == 1);
      CHECK(a[0] == Approx(double(total) / double(n)));
    }
  }
}

TEST_CASE("map_partition reads a partition larger than the batch memory from spill files, in arrival order, in both modes",
          "[batch][job][full-partition]") {
  constexpr int64_t n = 60'000;  // about 2 MiB encoded: eight times the memory
  for (auto mode : {ExecutionMode::streaming, ExecutionMode::batch}) {
    DYNAMIC_SECTION(execution_mode_name(mode)) {
      test_support::TempDir dir;
      RuntimeLog log;
      StreamEnvironment env;
      env.config().execution_mode = mode;
      env.config().batch_memory = 256 << 10;
      env.config().batch_dir = dir.path().string();
      auto spill_files = std::make_shared<std::atomic<int64_t>>(-1);
      CollectSink<Named> sink;
      env.from_generator(n, named)
          .set_parallelism(1)  // one producer: its order is the arrival order
          .full_window_partition()
          .map_partition<Named>(
              [root = dir.path(), spill_files](PartitionRecords<Named>& records, Collector<Named>& out) {
                int64_t files = 0;  // while the function reads, the partition lies on disk
                for (const auto& f : std::filesystem::recursive_directory_iterator(root))
                  if (f.is_regular_file()) ++files;
                spill_files->store(files);
                Named r;
                while (records.next(r)) out.collect(std::move(r));
              })
          .set_parallelism(1)
          .sink_to(sink)
          .set_parallelism(1);
      env.execute("map partition spill");
      std::vector<Named> want;
      for (int64_t i = 0; i < n; ++i) want.push_back(named(i));
      CHECK(sink.collected()->values() == want);
      CHECK(spill_files->load() >= 2);
      auto held = log.held();
      REQUIRE(held.size() == 1);
      CHECK(held[0].first == n);
      CHECK(held[0].second >= 2);
      CHECK(std::filesystem::is_empty(dir.path()));  // the spill files went with the buffer
    }
  }
}

TEST_CASE("sort_partition keeps the arrival order of equal keys, through spill files too", "[batch][job][full-partition]") {
  constexpr int64_t n = 40'000;
  for (auto mode : {ExecutionMode::streaming, ExecutionMode::batch}) {
    DYNAMIC_SECTION(execution_mode_name(mode)) {
      StreamEnvironment env;
      env.config().execution_mode = mode;
      env.config().batch_memory = 128 << 10;
      CollectSink<Named> sink;
      env.from_generator(n, named)
          .set_parallelism(1)  // one producer: its order is the arrival order
          .full_window_partition()
          .sort_partition([](const Named& v) { return v.first % 10; })
          .set_parallelism(1)
          .sink_to(sink)
          .set_parallelism(1);
      env.execute("sort ties");
      std::vector<Named> want;
      for (int64_t i = 0; i < n; ++i) want.push_back(named(i));
      std::stable_sort(want.begin(), want.end(), [](const Named& a, const Named& b) { return a.first % 10 < b.first % 10; });
      CHECK(sink.collected()->values() == want);
    }
  }
}

TEST_CASE("a full-partition reduce's result is not late for an event-time window after it", "[batch][job][full-partition]") {
  for (auto mode : {ExecutionMode::streaming, ExecutionMode::batch}) {
    DYNAMIC_SECTION(execution_mode_name(mode)) {
      StreamEnvironment env;
      env.set_parallelism(1);
      env.config().execution_mode = mode;
      CollectSink<int64_t> sink;
      env.from_generator(1000, [](int64_t i) { return i; })
          .assign_timestamps_and_watermarks(WatermarkStrategy<int64_t>::for_monotonous_timestamps().with_timestamp_assigner(
              [](const int64_t& i, int64_t) { return i; }))
          .full_window_partition()
          .reduce([](int64_t a, int64_t b) { return a + b; })
          .key_by([](int64_t) { return 0; })
          .window(TumblingEventTimeWindows::of(std::chrono::hours(1)))
          .reduce([](int64_t a, int64_t b) { return a + b; })
          .sink_to(sink);
      env.execute("reduce then window");
      CHECK(sink.collected()->values() == std::vector<int64_t>{999 * 1000 / 2});
    }
  }
}

TEST_CASE("a keyed full window partition reduces each key's whole input once, at its end", "[batch][job][full-partition]") {
  for (auto mode : {ExecutionMode::streaming, ExecutionMode::batch}) {
    DYNAMIC_SECTION(execution_mode_name(mode)) {
      StreamEnvironment env;
      env.set_parallelism(2);
      env.config().execution_mode = mode;
      CollectSink<std::pair<int64_t, int64_t>> sink;
      env.from_generator(10'000, [](int64_t i) { return std::make_pair(i % 5, i); })  // no timestamps needed
          .key_by([](const std::pair<int64_t, int64_t>& v) { return v.first; })
          .full_window_partition()
          .reduce([](std::pair<int64_t, int64_t> a, std::pair<int64_t, int64_t> b) {
            return std::make_pair(a.first, a.second + b.second);
          })
          .sink_to(sink);
      env.execute("keyed full window partition");
      std::vector<std::pair<int64_t, int64_t>> want(5);
      for (int64_t i = 0; i < 10'000; ++i) want[size_t(i % 5)] = {i % 5, want[size_t(i % 5)].second + i};
      auto got = sink.collected()->values();
      std::sort(got.begin(), got.end());
      CHECK(got == want);  // one value per key, not a rolling one
    }
  }
}
