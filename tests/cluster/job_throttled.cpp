// tests/cluster/job_throttled.cpp — a job library for the cluster's backpressure test: an endless source, an identity map, and a rebalance into a sink that takes 200 records per 10 ms; small buffers so that the bound is tight.
#include <sluice/sluice.hpp>

namespace {

using namespace std::chrono_literals;

/// Takes `per_tick` records, then declares itself unavailable until its next 10 ms timer.
class ThrottledSink final : public sluice::Sink<std::string> {
 public:
  std::unique_ptr<sluice::SinkWriter<std::string>> create_writer(int, int) const override {
    return std::make_unique<Writer>();
  }
  std::string name() const override { return "Throttled Sink"; }

 private:
  class Writer final : public sluice::SinkWriter<std::string> {
   public:
    void open(sluice::OperatorContext& ctx) override {
      ctx_ = &ctx;
      ctx.request_wakeup(10ms);
    }
    void write(std::string&&, int64_t) override {
      if (++in_tick_ >= 200) ctx_->set_available(false);
    }
    void on_wakeup() override {
      in_tick_ = 0;
      ctx_->set_available(true);
      ctx_->request_wakeup(10ms);
    }

   private:
    int in_tick_ = 0;
    sluice::OperatorContext* ctx_ = nullptr;
  };
};

int job(sluice::JobContext& ctx) {
  auto cfg = ctx.config;
  cfg.chaining = false;
  cfg.buffer_size = 4096;
  cfg.exclusive_buffers = 2;
  cfg.floating_buffers = 4;
  cfg.output_queue_buffers = 2;
  cfg.output_floating_buffers = 3;
  cfg.probe_interval = 20ms;
  sluice::StreamEnvironment env(cfg);
  env.from_generator(-1, [](int64_t i) { return "record-" + std::to_string(i); })
      .map([](std::string s) { return s; }, "identity")
      .rebalance()
      .sink_to(ThrottledSink());
  env.execute("throttled");
  return 0;
}

}  // namespace

SLUICE_JOB_MAIN(job)
