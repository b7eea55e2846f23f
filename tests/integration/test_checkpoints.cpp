// tests/integration/test_checkpoints.cpp — checkpoints on the embedded runtime: completion, the final checkpoint, restore, and exactly-once across injected failures.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "support/temp_dir.hpp"

using namespace sluice;
using KeyCount = std::pair<int64_t, int64_t>;

namespace {

/// Counts records per key in value state and emits each key's count once, when the input
/// ends (an event-time timer at 0 fires only at the final watermark): the output does not
/// depend on arrival order, so any loss or duplicate shows.
class CountAtEnd final : public KeyedProcessFunction<int64_t, int64_t, KeyCount> {
 public:
  void open(RuntimeContext& rc) override { count_ = &rc.state(ValueStateDescriptor<int64_t>("count")); }
  void process(const int64_t&, Context& ctx, Collector<KeyCount>&) override {
    count_->update(count_->value().value_or(0) + 1);
    ctx.timer_service().register_event_time_timer(0);
  }
  void on_timer(int64_t, OnTimerContext& ctx, Collector<KeyCount>& out) override {
    out.collect({ctx.current_key(), count_->value().value_or(0)});
  }

 private:
  ValueState<int64_t>* count_ = nullptr;
};

ExecutionConfig checkpointed(const std::string& dir, std::chrono::milliseconds interval) {
  ExecutionConfig c;
  c.parallelism = 2;
  c.worker_threads = 2;
  c.checkpoint.interval = interval;
  c.checkpoint.dir = dir;
  c.checkpoint.restart.delay = std::chrono::milliseconds(10);
  return c;
}

}  // namespace

TEST_CASE("a checkpointed job completes checkpoints, ends with a final one, and counts exactly", "[checkpoint]") {
  test_support::TempDir dir;
  const int64_t n = 2'000'000, keys = 101;
  StreamEnvironment env(checkpointed(dir.file("chk"), std::chrono::milliseconds(20)));
  CollectSink<KeyCount> sink;
  auto got = sink.collected();
  env.from_generator(n, [](int64_t i) { return i; })
      .key_by([=](const int64_t& v) { return v % keys; })
      .process(CountAtEnd())
      .sink_to(sink);
  auto client = env.execute_async("count-at-end");
  auto result = client.wait();
  REQUIRE(result.succeeded);
  auto values = got->values();
  REQUIRE(values.size() == size_t(keys));
  for (const auto& [k, c] : values) CHECK(c == n / keys + (k < n % keys ? 1 : 0));
  auto cps = client.checkpoints();
  REQUIRE(!cps.empty());
  CHECK(cps.back().status == CheckpointInfo::Status::completed);
  CHECK(cps.back().final);
  CHECK(result.last_checkpoint == cps.back().id);
  CHECK(std::filesystem::exists(dir.file("chk") + "/chk-" + std::to_string(cps.back().id) + "/_metadata"));
}

namespace {

/// Throws at seeded points: fault k fires at the first record after record count
/// `points[k]` (over all runs of the job) once a checkpoint completed since fault k-1, or at
/// the third checkpoint completed since fault k-1 when no record comes. Every run makes
/// progress, and no fault depends on time.
struct FaultPlan {
  std::vector<int64_t> points;
  std::atomic<int64_t> seen{0};
  std::atomic<size_t> next{0};
  std::atomic<int64_t> completed{0};     // checkpoints completed, as subtask 0 was told
  std::atomic<int64_t> completed_at{0};  // ... when the last fault fired
  FaultPlan(uint32_t seed, int faults, int64_t spread) {
    std::mt19937_64 rng(seed);
    int64_t at = 0;
    for (int i = 0; i < faults; ++i) {
      at += 1000 + int64_t(rng() % uint64_t(spread));
      points.push_back(at);
    }
  }
  bool done() const { return next.load() >= points.size(); }
  void on_record() {
    auto n = seen.fetch_add(1) + 1;
    auto k = next.load();
    if (k >= points.size() || n < points[k] || completed.load() <= completed_at.load()) return;
    fire(k, "record " + std::to_string(n));
  }
  void on_checkpoint(int64_t id) {
    auto c = completed.fetch_add(1) + 1;
    auto k = next.load();
    if (k < points.size() && c >= completed_at.load() + 3) fire(k, "checkpoint " + std::to_string(id));
  }
  void fire(size_t k, const std::string& where) {
    if (!next.compare_exchange_strong(k, k + 1)) return;
    completed_at.store(completed.load());
    throw std::runtime_error("injected fault " + std::to_string(k + 1) + " at " + where);
  }
};

/// Passes records on, injecting the plan's faults.
class InjectFaults final : public ProcessFunction<int64_t, int64_t> {
 public:
  explicit InjectFaults(std::shared_ptr<FaultPlan> plan) : plan_(std::move(plan)) {}
  void open(RuntimeContext& rc) override { subtask_ = rc.subtask_index(); }
  void process(const int64_t& v, Context&, Collector<int64_t>& out) override {
    if (plan_) plan_->on_record();
    out.collect(v);
  }
  void notify_checkpoint_complete(int64_t id) override {
    if (plan_ && subtask_ == 0) plan_->on_checkpoint(id);
  }

 private:
  std::shared_ptr<FaultPlan> plan_;
  int subtask_ = 0;
};

/// Indices 0..n-1 split among subtasks as the generator does; it ends only once every fault
/// of the plan fired (until then it waits, and checkpoints go on).
class HeldSource final : public Source<int64_t> {
 public:
  HeldSource(int64_t n, std::shared_ptr<FaultPlan> plan) : n_(n), plan_(std::move(plan)) {}
  std::unique_ptr<SourceReader<int64_t>> create_reader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(n_, plan_, subtask, parallelism);
  }
  std::unique_ptr<SourceReader<int64_t>> resume_reader(int, int parallelism, const std::string& position) const override {
    return std::make_unique<Reader>(n_, plan_, detail::index_from_position(position, name()), parallelism);
  }
  bool bounded() const override { return true; }
  std::string name() const override { return "Held Source"; }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    Reader(int64_t n, std::shared_ptr<FaultPlan> plan, int64_t next, int step)
        : n_(n), plan_(std::move(plan)), next_(next), step_(step) {}
    SourceStatus poll(Output<int64_t>& out, int max_records) override {
      for (int i = 0; i < max_records && next_ < n_; ++i, next_ += step_) out.push(int64_t(next_), no_timestamp);
      if (next_ < n_) return SourceStatus::more;
      return !plan_ || plan_->done() ? SourceStatus::finished : SourceStatus::waiting;
    }
    std::string position() const override { return detail::index_position(next_); }

   private:
    int64_t n_;
    std::shared_ptr<FaultPlan> plan_;
    int64_t next_;
    int64_t step_;
  };
  int64_t n_;
  std::shared_ptr<FaultPlan> plan_;
};

struct Run {
  std::vector<std::string> records;  // committed lines of the record sink
  std::vector<std::string> counts;   // committed lines of the count sink
  JobResult result;
  std::vector<CheckpointInfo> checkpoints;
};

/// generator (p=2) -> fault injection -> [every record to a committing sink]
///                                     -> key_by -> CountAtEnd -> committing sink
Run run_counting_job(const std::string& dir, int64_t n, ExecutionConfig config, std::shared_ptr<FaultPlan> faults) {
  StreamEnvironment env(std::move(config));
  auto records = env.from_source<int64_t>(HeldSource(n, faults)).uid("source").process(InjectFaults(faults)).uid("faults");
  records.map([](int64_t v) { return std::to_string(v); }).uid("format").sink_to(CommittingFileSink<std::string>(dir + "/records")).uid("records");
  records.key_by([](const int64_t& v) { return v % 101; })
      .process(CountAtEnd())
      .uid("count")
      .map([](KeyCount kc) { return std::to_string(kc.first) + ":" + std::to_string(kc.second); })
      .uid("format-counts")
      .sink_to(CommittingFileSink<std::string>(dir + "/counts"))
      .uid("counts");
  auto client = env.execute_async("exactly-once");
  Run r;
  r.result = client.wait();
  r.checkpoints = client.checkpoints();
  r.records = read_committed_lines(dir + "/records");
  r.counts = read_committed_lines(dir + "/counts");
  std::sort(r.records.begin(), r.records.end());
  std::sort(r.counts.begin(), r.counts.end());
  return r;
}

}  // namespace

TEST_CASE("exactly once: committed output after 20 injected failures equals a failure-free run", "[checkpoint][recovery]") {
  const int64_t n = 1'000'000;
  struct Case {
    StateBackendKind backend;
    CheckpointingMode mode;
    uint32_t seed;
  };
  for (auto c : {Case{StateBackendKind::heap, CheckpointingMode::aligned, 1},
                 Case{StateBackendKind::heap, CheckpointingMode::unaligned, 2},
                 Case{StateBackendKind::rocksdb, CheckpointingMode::aligned, 3},
                 Case{StateBackendKind::rocksdb, CheckpointingMode::unaligned, 4},
                 Case{StateBackendKind::heap, CheckpointingMode::aligned_with_timeout, 5}}) {
    test_support::TempDir dir;
    auto config = [&](const std::string& sub) {
      auto cfg = checkpointed(dir.file(sub + "-chk"), std::chrono::milliseconds(10));
      cfg.state_backend = c.backend;
      cfg.state_dir = dir.file(sub + "-state");
      cfg.checkpoint.mode = c.mode;
      cfg.checkpoint.alignment_timeout = std::chrono::milliseconds(2);
      cfg.checkpoint.restart = parse_restart_strategy("fixed-delay:100:1ms");
      cfg.buffer_timeout = std::chrono::milliseconds(1);
      return cfg;
    };
    INFO("backend " << (c.backend == StateBackendKind::heap ? "heap" : "rocksdb") << ", mode "
                    << checkpointing_mode_name(c.mode) << ", seed " << c.seed);
    auto clean = run_counting_job(dir.file("clean"), n, config("clean"), nullptr);
    REQUIRE(clean.result.succeeded);
    REQUIRE(clean.records.size() == size_t(n));
    REQUIRE(clean.counts.size() == 101);

    auto faults = std::make_shared<FaultPlan>(c.seed, 20, n / 25);
    auto faulty = run_counting_job(dir.file("faulty"), n, config("faulty"), faults);
    INFO(faulty.result.error);
    REQUIRE(faulty.result.succeeded);
    CHECK(faulty.result.restarts >= 10);  // two subtasks may fail in the same run
    CHECK(faults->next.load() == 20);
    CHECK(faulty.records.size() == clean.records.size());
    CHECK(faulty.records == clean.records);
    CHECK(faulty.counts == clean.counts);
  }
}
