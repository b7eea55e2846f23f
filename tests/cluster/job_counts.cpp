// tests/cluster/job_counts.cpp — a job library for the cluster tests: counts records per key in keyed state, writes every 50th count and the final ones exactly once into part files, and holds its source (two subtasks) at gates the test opens; optionally twice, as two pipelined regions.
#include <filesystem>
#include <sluice/sluice.hpp>

namespace {

using KeyCount = std::pair<int64_t, int64_t>;

/// Records 0..count-1 (subtask i of p reads i, i+p, ...). Before record count*(k+1)/(gates+1),
/// a reader waits for the file `<gate_dir>/open-<k>`: the test decides when the job may end.
class GatedSource final : public sluice::Source<int64_t> {
 public:
  GatedSource(int64_t count, int gates, std::string gate_dir)
      : count_(count), gates_(gates), gate_dir_(std::move(gate_dir)) {}
  std::unique_ptr<sluice::SourceReader<int64_t>> create_reader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(*this, subtask, parallelism);
  }
  std::unique_ptr<sluice::SourceReader<int64_t>> resume_reader(int, int parallelism,
                                                                const std::string& position) const override {
    return std::make_unique<Reader>(*this, sluice::detail::index_from_position(position, name()), parallelism);
  }
  bool bounded() const override { return true; }
  std::string name() const override { return "Gated Source"; }

 private:
  class Reader final : public sluice::SourceReader<int64_t> {
   public:
    Reader(const GatedSource& s, int64_t next, int parallelism) : s_(s), next_(next), step_(parallelism) {}
    sluice::SourceStatus poll(sluice::Output<int64_t>& out, int max_records) override {
      for (int i = 0; i < max_records && next_ < s_.count_; ++i, next_ += step_) {
        if (!passed(next_)) return sluice::SourceStatus::waiting;
        out.push_copy(next_, sluice::no_timestamp);
      }
      return next_ < s_.count_ ? sluice::SourceStatus::more : sluice::SourceStatus::finished;
    }
    std::string position() const override { return sluice::detail::index_position(next_); }

   private:
    bool passed(int64_t index) {
      while (open_ < s_.gates_ && index >= s_.count_ * (open_ + 1) / (s_.gates_ + 1)) {
        if (!std::filesystem::exists(s_.gate_dir_ + "/open-" + std::to_string(open_))) return false;
        ++open_;
      }
      return true;
    }
    const GatedSource& s_;
    int64_t next_;
    int64_t step_;
    int open_ = 0;  // gates this reader saw open
  };
  int64_t count_;
  int gates_;
  std::string gate_dir_;
};

/// Counts per key; emits (key, n) at every 50th record of a key, and (key + 1000000, n) once
/// the input has ended.
class Counter final : public sluice::KeyedProcessFunction<int64_t, int64_t, KeyCount> {
 public:
  void open(sluice::RuntimeContext& rc) override { count_ = &rc.state(sluice::ValueStateDescriptor<int64_t>("count")); }
  void process(const int64_t&, Context& ctx, sluice::Collector<KeyCount>& out) override {
    auto n = count_->value().value_or(0) + 1;
    count_->update(n);
    if (n % 50 == 0) out.collect({ctx.current_key(), n});
    ctx.timer_service().register_event_time_timer(0);
  }
  void on_timer(int64_t, OnTimerContext& ctx, sluice::Collector<KeyCount>& out) override {
    out.collect({ctx.current_key() + 1000000, count_->value().value_or(0)});
  }

 private:
  sluice::ValueState<int64_t>* count_ = nullptr;
};

int job(sluice::JobContext& ctx) {
  if (ctx.args.size() != 4 && ctx.args.size() != 5)
    throw std::invalid_argument("usage: job_counts OUTPUT_DIR GATE_DIR RECORDS GATES [SECOND_OUTPUT_DIR]");
  sluice::StreamEnvironment env(ctx.config);
  // The source's parallelism is fixed (its positions cannot move between subtasks); the rest
  // follows -p, so a savepoint can be taken up at another parallelism.
  env.from_source<int64_t>(GatedSource(std::stoll(ctx.args[2]), std::stoi(ctx.args[3]), ctx.args[1]), "Gated")
      .set_parallelism(2)
      .key_by([](int64_t v) { return v % 61; })
      .process(Counter(), "Count")
      .sink_to(sluice::CommittingFileSink<KeyCount>(ctx.args[0]));
  // With a second output: the same counts again, by a pipeline of their own (a second
  // pipelined region, held at the same gates).
  if (ctx.args.size() == 5)
    env.from_source<int64_t>(GatedSource(std::stoll(ctx.args[2]), std::stoi(ctx.args[3]), ctx.args[1]), "Gated 2")
        .set_parallelism(2)
        .uid("gated-2")
        .key_by([](int64_t v) { return v % 61; })
        .process(Counter(), "Count 2")
        .uid("count-2")
        .sink_to(sluice::CommittingFileSink<KeyCount>(ctx.args[4]))
        .uid("sink-2");
  env.execute("counts");
  return 0;
}

}  // namespace

SLUICE_JOB_MAIN(job)
