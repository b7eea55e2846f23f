// tests/integration/test_checkpoints.cpp — checkpoints on the embedded runtime: completion, the final checkpoint, restore, and exactly-once across injected failures.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <atomic>
#include <filesystem>
#include <map>

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
