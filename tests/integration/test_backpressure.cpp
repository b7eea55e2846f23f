// tests/integration/test_backpressure.cpp — a fast unbounded source into a timer-throttled sink: memory stays bounded, counts track.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <atomic>
#include <fstream>
#include <thread>
#include <unistd.h>

using namespace sluice;
using namespace std::chrono_literals;

namespace {

/// Takes `per_tick` records, then declares itself unavailable until its next 10 ms timer:
/// a slow sink made with processing-time wakeups, never a sleep.
class ThrottledSink final : public Sink<std::string> {
 public:
  ThrottledSink(int per_tick, std::shared_ptr<std::atomic<int64_t>> taken)
      : per_tick_(per_tick), taken_(std::move(taken)) {}
  std::unique_ptr<SinkWriter<std::string>> create_writer(int, int) const override {
    return std::make_unique<Writer>(per_tick_, taken_);
  }
  std::string name() const override { return "Throttled Sink"; }

 private:
  class Writer final : public SinkWriter<std::string> {
   public:
    Writer(int per_tick, std::shared_ptr<std::atomic<int64_t>> taken)
        : per_tick_(per_tick), taken_(std::move(taken)) {}
    void open(OperatorContext& ctx) override {
      ctx_ = &ctx;
      ctx.request_wakeup(10ms);
    }
    void write(std::string&&, int64_t) override {
      ++*taken_;
      if (++in_tick_ >= per_tick_) ctx_->set_available(false);
    }
    void on_wakeup() override {
      in_tick_ = 0;
      ctx_->set_available(true);
      ctx_->request_wakeup(10ms);
    }

   private:
    int per_tick_;
    int in_tick_ = 0;
    std::shared_ptr<std::atomic<int64_t>> taken_;
    OperatorContext* ctx_ = nullptr;
  };
  int per_tick_;
  std::shared_ptr<std::atomic<int64_t>> taken_;
};

int64_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

}  // namespace

TEST_CASE("backpressure: a fast source into a slow sink keeps buffers within their bound", "[backpressure]") {
#ifdef SLUICE_SLOW_TESTS
  const auto run_for = 20s;
#else
  const auto run_for = 3s;
#endif
  StreamEnvironment env;
  env.set_parallelism(2);
  env.disable_chaining();
  auto& cfg = env.config();
  cfg.buffer_size = 4096;
  cfg.exclusive_buffers = 2;
  cfg.floating_buffers = 4;
  cfg.output_queue_buffers = 2;
  cfg.output_floating_buffers = 3;
  cfg.probe_interval = 20ms;
  auto taken = std::make_shared<std::atomic<int64_t>>(0);
  env.from_generator(-1, [](int64_t i) { return "record-" + std::to_string(i); })
      .map([](std::string s) { return s; }, "identity")
      .rebalance()
      .sink_to(ThrottledSink(200, taken));
  auto client = env.execute_async("backpressure");

  // The largest record is "record-" + 19 digits plus a length byte: 27 bytes, 12 more in the frame.
  const uint64_t min_record_bytes = 8 + 1 + 12;
  uint64_t max_in_flight_records = 0;
  int64_t rss_after_warmup = 0, rss_max = 0;
  auto start = std::chrono::steady_clock::now();
  int samples = 0;
  while (std::chrono::steady_clock::now() - start < run_for) {
    std::this_thread::sleep_for(50ms);
    auto probes = client.probes();
    uint64_t source_out = 0, sink_in = 0, bound_bytes = 0;
    for (const auto& p : probes) {
      if (p.status.empty()) continue;  // not yet published
      INFO(p.task << " subtask " << p.subtask);
      // Input side, exact: at most one frame per buffer the gate owns.
      CHECK(p.credits_granted + p.queued_buffers_in <= p.input_buffer_capacity);
      CHECK(p.max_queued_bytes_in <= p.input_buffer_capacity * cfg.buffer_size);
      // Output side: per channel the queue limit plus the frame being filled and the one
      // that crossed the limit, and the partition's floating buffers.
      uint64_t channels = p.task == "Generator Source" || p.task == "identity" ? 2 : 0;
      uint64_t out_bound =
          channels ? (channels * (cfg.output_queue_buffers + 2) + cfg.output_floating_buffers) * cfg.buffer_size : 0;
      CHECK(p.max_queued_bytes_out <= out_bound);
      bound_bytes += p.input_buffer_capacity * cfg.buffer_size + out_bound;
      if (p.task == "Generator Source") source_out += p.records_out;
      if (p.task == "Throttled Sink") sink_in += p.records_in;
    }
    if (source_out > sink_in) max_in_flight_records = std::max(max_in_flight_records, source_out - sink_in);
    // Every record the source emitted and the sink has not taken sits in some buffer.
    CHECK(source_out - std::min(source_out, sink_in) <= bound_bytes / min_record_bytes + 1);
    auto rss = rss_bytes();
    if (std::chrono::steady_clock::now() - start > 1s) {
      if (!rss_after_warmup) rss_after_warmup = rss;
      rss_max = std::max(rss_max, rss);
    }
    ++samples;
  }
  client.cancel();
  CHECK_THROWS(client.wait());
  CHECK(samples > 10);
  CHECK(*taken > 1000);  // the sink did make progress
  CHECK(max_in_flight_records > 0);
  // Generous slack: a leak of records would grow by hundreds of MB in seconds.
  CHECK(rss_max - rss_after_warmup < 64 * 1024 * 1024);
  // The source was held back: it emitted about what the sink took, not millions more.
  auto probes = client.probes();
  uint64_t source_out = 0;
  for (const auto& p : probes)
    if (p.task == "Generator Source") source_out += p.records_out;
  CHECK(source_out < uint64_t(*taken) + 100000);
}
