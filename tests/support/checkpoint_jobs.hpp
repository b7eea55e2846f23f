// tests/support/checkpoint_jobs.hpp — jobs, sources, sinks and fault plans that the checkpoint and recovery tests share.
#pragma once

#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace test_support::jobs {

using namespace sluice;
using KeyCount = std::pair<int64_t, int64_t>;

/// Counts records per key in value state "count" and passes every record on: the state the
/// probes and the console's lookups read.
class CountPerKey final : public KeyedProcessFunction<int64_t, int64_t, int64_t> {
 public:
  void open(RuntimeContext& rc) override { count_ = &rc.state(ValueStateDescriptor<int64_t>{"count"}); }
  void process(const int64_t& v, Context&, Collector<int64_t>& out) override {
    count_->update(count_->value().value_or(0) + 1);
    out.collect(v);
  }

 private:
  ValueState<int64_t>* count_ = nullptr;
};

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

inline ExecutionConfig checkpointed(const std::string& dir, std::chrono::milliseconds interval) {
  ExecutionConfig c;
  c.parallelism = 2;
  c.worker_threads = 2;
  c.checkpoint.interval = interval;
  c.checkpoint.dir = dir;
  c.checkpoint.restart.delay = std::chrono::milliseconds(10);
  return c;
}


/// What InjectFaults calls: on every record, and on subtask 0's checkpoint notifications. The
/// counting job's source holds back its last records until done(), so every fault has records
/// to fire on.
struct Faults {
  virtual ~Faults() = default;
  virtual void on_record() {}
  virtual void on_checkpoint(int64_t) {}
  virtual bool done() const { return true; }
};

/// Throws at seeded points: fault k fires at the first record after record count
/// `points[k]` (over all runs of the job) once a checkpoint completed since fault k-1, or at
/// the third checkpoint completed since fault k-1 when no record comes. Every run makes
/// progress, and no fault depends on time.
struct FaultPlan final : Faults {
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
  bool done() const override { return next.load() >= points.size(); }
  void on_record() override {
    auto n = seen.fetch_add(1) + 1;
    auto k = next.load();
    if (k >= points.size() || n < points[k] || completed.load() <= completed_at.load()) return;
    fire(k, "record " + std::to_string(n));
  }
  void on_checkpoint(int64_t id) override {
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
  explicit InjectFaults(std::shared_ptr<Faults> plan) : plan_(std::move(plan)) {}
  void open(RuntimeContext& rc) override { subtask_ = rc.subtask_index(); }
  void process(const int64_t& v, Context&, Collector<int64_t>& out) override {
    if (plan_) plan_->on_record();
    out.collect(v);
  }
  void notify_checkpoint_complete(int64_t id) override {
    if (plan_ && subtask_ == 0) plan_->on_checkpoint(id);
  }

 private:
  std::shared_ptr<Faults> plan_;
  int subtask_ = 0;
};

/// Indices 0..n-1 split among subtasks as the generator does. A subtask pauses at index
/// `hold_at` and before ending until `go_on()` says so (waiting, while checkpoints go on).
/// With `per_checkpoint` > 0 a subtask emits that many records at its start and after each
/// checkpoint of its position, then waits: every checkpoint until the end holds records of
/// every subtask, however fast the records go and however late the checkpoints come.
class HeldSource final : public Source<int64_t> {
 public:
  HeldSource(int64_t n, int64_t hold_at, std::function<bool()> go_on, int64_t per_checkpoint = 0)
      : n_(n), hold_at_(hold_at), per_checkpoint_(per_checkpoint), go_on_(std::move(go_on)) {}
  std::unique_ptr<SourceReader<int64_t>> create_reader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(*this, subtask, parallelism);
  }
  std::unique_ptr<SourceReader<int64_t>> resume_reader(int, int parallelism, const std::string& position) const override {
    return std::make_unique<Reader>(*this, detail::index_from_position(position, name()), parallelism);
  }
  bool bounded() const override { return true; }
  std::string name() const override { return "Held Source"; }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    Reader(const HeldSource& s, int64_t next, int step) : s_(s), next_(next), step_(step) { pace(); }
    SourceStatus poll(Output<int64_t>& out, int max_records) override {
      bool may = !s_.go_on_ || s_.go_on_();
      int64_t stop = may ? s_.n_ : std::min(s_.n_, s_.hold_at_);
      if (s_.per_checkpoint_ > 0) stop = std::min(stop, paced_stop_);
      for (int i = 0; i < max_records && next_ < stop; ++i, next_ += step_) out.push(int64_t(next_), no_timestamp);
      if (next_ < stop) return SourceStatus::more;
      return may && next_ >= s_.n_ ? SourceStatus::finished : SourceStatus::waiting;
    }
    /// Called only when the source operator snapshots its state: a checkpoint took place.
    std::string position() const override {
      pace();
      return detail::index_position(next_);
    }

   private:
    void pace() const { paced_stop_ = next_ + s_.per_checkpoint_ * step_; }
    const HeldSource& s_;
    int64_t next_;
    int64_t step_;
    mutable int64_t paced_stop_ = 0;
  };
  int64_t n_;
  int64_t hold_at_;
  int64_t per_checkpoint_;
  std::function<bool()> go_on_;
};

struct Run {
  std::vector<std::string> records;  // committed lines of the record sink
  std::vector<std::string> counts;   // committed lines of the count sink
  JobResult result;
  std::vector<CheckpointInfo> checkpoints;
};

/// generator (p=2) -> fault injection -> [every record to a committing sink]
///                                     -> key_by -> CountAtEnd -> committing sink
/// The source emits indices below `hold_at` (all when negative), then the rest and its end
/// once the faults are done(); with `per_checkpoint` > 0 it is paced as HeldSource says.
inline JobClient start_counting_job(const std::string& dir, int64_t n, ExecutionConfig config,
                                    std::shared_ptr<Faults> faults, int64_t hold_at = -1,
                                    int64_t per_checkpoint = 0) {
  StreamEnvironment env(std::move(config));
  std::function<bool()> all_fired;
  if (faults) all_fired = [faults] { return faults->done(); };
  auto records = env.from_source<int64_t>(HeldSource(n, hold_at < 0 ? n : hold_at, all_fired, per_checkpoint)).uid("source").process(InjectFaults(faults)).uid("faults");
  records.map([](int64_t v) { return std::to_string(v); }).uid("format").sink_to(CommittingFileSink<std::string>(dir + "/records")).uid("records");
  records.key_by([](const int64_t& v) { return v % 101; })
      .process(CountAtEnd())
      .uid("count")
      .map([](KeyCount kc) { return std::to_string(kc.first) + ":" + std::to_string(kc.second); })
      .uid("format-counts")
      .sink_to(CommittingFileSink<std::string>(dir + "/counts"))
      .uid("counts");
  return env.execute_async("exactly-once");
}

/// Waits for a counting job and reads what its sinks committed, sorted.
inline Run collect_run(const std::string& dir, JobClient& client) {
  Run r;
  r.result = client.result();
  r.checkpoints = client.checkpoints();
  r.records = read_committed_lines(dir + "/records");
  r.counts = read_committed_lines(dir + "/counts");
  std::sort(r.records.begin(), r.records.end());
  std::sort(r.counts.begin(), r.counts.end());
  return r;
}

inline Run run_counting_job(const std::string& dir, int64_t n, ExecutionConfig config, std::shared_ptr<Faults> faults,
                            int64_t per_checkpoint = 0) {
  auto client = start_counting_job(dir, n, std::move(config), std::move(faults), -1, per_checkpoint);
  return collect_run(dir, client);
}

/// A sink that takes nothing until its latch opens, so every buffer up to the source fills.
/// It notes whether each snapshot was taken while the latch was still closed.
struct Latch {
  std::atomic<bool> open{false};
  std::atomic<int> snapshots_closed{0}, snapshots_open{0};
};

class LatchedSink final : public Sink<int64_t> {
 public:
  explicit LatchedSink(std::shared_ptr<Latch> l) : latch_(std::move(l)) {}
  std::unique_ptr<SinkWriter<int64_t>> create_writer(int, int) const override { return std::make_unique<Writer>(latch_); }
  std::string name() const override { return "Latched Sink"; }

 private:
  class Writer final : public SinkWriter<int64_t> {
   public:
    explicit Writer(std::shared_ptr<Latch> l) : latch_(std::move(l)) {}
    void open(OperatorContext& ctx) override {
      ctx_ = &ctx;
      on_wakeup();
    }
    void write(int64_t&&, int64_t) override {}
    void on_wakeup() override {
      bool open = latch_->open.load();
      ctx_->set_available(open);
      if (!open) ctx_->request_wakeup(std::chrono::milliseconds(2));
    }
    std::string snapshot_state(int64_t) override {
      (latch_->open.load() ? latch_->snapshots_open : latch_->snapshots_closed).fetch_add(1);
      return {};
    }

   private:
    std::shared_ptr<Latch> latch_;
    OperatorContext* ctx_ = nullptr;
  };
  std::shared_ptr<Latch> latch_;
};

inline TaskProbe probe_of(const JobClient& client, const std::string& task_prefix) {
  for (const auto& p : client.probes())
    if (p.task.rfind(task_prefix, 0) == 0) return p;
  return {};
}

/// Polls `done` every 5 ms for up to a minute (a bound for a stuck run, not a timing check).
template <class F>
bool eventually(F done) {
  for (int i = 0; i < 12000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

}  // namespace test_support::jobs
