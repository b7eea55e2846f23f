// tests/cli/job_checkpointed.cpp — a job library for the CLI's kill-and-restore tests: a throttled source, keyed counts, exactly-once file output.
//
//   sluice run test_job_checkpointed.so [options] -- OUTPUT_DIR N [RECORDS_PER_SECOND]
//
// Indices 0..N-1 (N < 0: without end) go, as text, to the committing sink OUTPUT_DIR/records;
// their count per key (index % 101) goes as `key:count` to OUTPUT_DIR/counts when the input
// ends. Each source subtask emits at most RECORDS_PER_SECOND (default 100000) records a
// second of wall time, however fast the machine, so that a run lasts long enough to be
// killed mid-way.
#include <sluice/sluice.hpp>

#include <chrono>
#include <string>

namespace {

using KeyCount = std::pair<int64_t, int64_t>;

constexpr int64_t keys = 101;

/// Indices 0..n-1, subtask i of p taking i, i+p, ...; at most `rate` records a second
/// since the reader was made. A reader ahead of its rate waits (SourceStatus::waiting: the
/// task polls again about 1 ms later) instead of blocking. Resumes from its position, the
/// next index.
class ThrottledSource final : public sluice::Source<int64_t> {
 public:
  ThrottledSource(int64_t n, int64_t rate) : n_(n), rate_(rate) {}
  std::unique_ptr<sluice::SourceReader<int64_t>> create_reader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(n_, rate_, subtask, parallelism);
  }
  std::unique_ptr<sluice::SourceReader<int64_t>> resume_reader(int, int parallelism,
                                                               const std::string& position) const override {
    return std::make_unique<Reader>(n_, rate_, sluice::detail::index_from_position(position, name()), parallelism);
  }
  bool bounded() const override { return n_ >= 0; }
  std::string name() const override { return "Throttled Source"; }

 private:
  class Reader final : public sluice::SourceReader<int64_t> {
   public:
    Reader(int64_t n, int64_t rate, int64_t next, int step) : n_(n), rate_(rate), next_(next), step_(step) {}
    sluice::SourceStatus poll(sluice::Output<int64_t>& out, int max_records) override {
      using namespace std::chrono;
      const auto elapsed = duration_cast<microseconds>(steady_clock::now() - start_).count();
      const int64_t allowed = std::min<int64_t>(max_records, rate_ * elapsed / 1'000'000 - emitted_);
      for (int64_t i = 0; i < allowed && more(); ++i, next_ += step_, ++emitted_)
        out.push(int64_t(next_), sluice::no_timestamp);
      if (!more()) return sluice::SourceStatus::finished;
      return allowed == max_records ? sluice::SourceStatus::more : sluice::SourceStatus::waiting;
    }
    std::string position() const override { return sluice::detail::index_position(next_); }

   private:
    bool more() const { return n_ < 0 || next_ < n_; }
    int64_t n_;
    int64_t rate_;
    int64_t next_;
    int64_t step_;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    int64_t emitted_ = 0;  // since start_
  };
  int64_t n_;
  int64_t rate_;
};

/// Counts records per key in value state and emits each key's count once, when the input
/// ends (an event-time timer at 0 fires only at the final watermark): a lost or repeated
/// record, or a count restored twice, shows in the output.
class CountAtEnd final : public sluice::KeyedProcessFunction<int64_t, int64_t, KeyCount> {
 public:
  void open(sluice::RuntimeContext& rc) override {
    count_ = &rc.state(sluice::ValueStateDescriptor<int64_t>("count"));
  }
  void process(const int64_t&, Context& ctx, sluice::Collector<KeyCount>&) override {
    count_->update(count_->value().value_or(0) + 1);
    ctx.timer_service().register_event_time_timer(0);
  }
  void on_timer(int64_t, OnTimerContext& ctx, sluice::Collector<KeyCount>& out) override {
    out.collect({ctx.current_key(), count_->value().value_or(0)});
  }

 private:
  sluice::ValueState<int64_t>* count_ = nullptr;
};

int job(sluice::JobContext& ctx) {
  if (ctx.args.size() < 2 || ctx.args.size() > 3)
    throw std::invalid_argument("usage: test_job_checkpointed OUTPUT_DIR N [RECORDS_PER_SECOND]");
  const std::string dir = ctx.args[0];
  const int64_t n = std::stoll(ctx.args[1]);
  const int64_t rate = ctx.args.size() == 3 ? std::stoll(ctx.args[2]) : 100'000;
  if (rate < 1) throw std::invalid_argument("RECORDS_PER_SECOND must be at least 1");

  sluice::StreamEnvironment env(ctx.config);
  auto indices = env.from_source<int64_t>(ThrottledSource(n, rate)).uid("source");
  indices.map([](int64_t i) { return std::to_string(i); })
      .uid("format-records")
      .sink_to(sluice::CommittingFileSink<std::string>(dir + "/records"))
      .uid("records");
  indices.key_by([](const int64_t& i) { return i % keys; })
      .process(CountAtEnd(), "Count")
      .uid("count")
      .map([](KeyCount kc) { return std::to_string(kc.first) + ":" + std::to_string(kc.second); })
      .uid("format-counts")
      .sink_to(sluice::CommittingFileSink<std::string>(dir + "/counts"))
      .uid("counts");
  env.execute("checkpointed count");
  return 0;
}

}  // namespace

SLUICE_JOB_MAIN(job)
