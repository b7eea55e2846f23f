// tests/integration/test_checkpoints.cpp — checkpoints on the embedded runtime: completion, the final checkpoint, restore, and exactly-once across injected failures.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <random>
#include <thread>

#include "checkpoint/storage.hpp"
#include "support/checkpoint_jobs.hpp"
#include "support/temp_dir.hpp"

using namespace sluice;
using namespace test_support::jobs;

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
  // _metadata names each keyed state with its codec fingerprint.
  auto m = sluice::checkpoint::CheckpointCommitter::load(dir.file("chk") + "/chk-" + std::to_string(cps.back().id));
  std::vector<sluice::checkpoint::StateFingerprint> states;
  for (const auto& op : m.operators)
    if (op.name == "KeyedProcess") states = op.states;
  REQUIRE(states.size() == 1);
  CHECK(states[0].name == "count");
  CHECK_THAT(states[0].codec, Catch::Contains("value"));
}

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

TEST_CASE("under full backpressure an unaligned checkpoint completes, an aligned one waits for the latch", "[checkpoint][backpressure]") {
  for (auto mode : {CheckpointingMode::unaligned, CheckpointingMode::aligned, CheckpointingMode::aligned_with_timeout}) {
    INFO("mode " << checkpointing_mode_name(mode));
    test_support::TempDir dir;
    auto cfg = checkpointed(dir.file("chk"), std::chrono::hours(1));  // checkpoints only on demand
    cfg.parallelism = 1;
    cfg.chaining = false;
    cfg.checkpoint.mode = mode;
    cfg.checkpoint.alignment_timeout = std::chrono::milliseconds(50);
    StreamEnvironment env(cfg);
    auto latch = std::make_shared<Latch>();
    env.from_generator(-1, [](int64_t i) { return i; }).map([](int64_t v) { return v + 1; }).sink_to(LatchedSink(latch));
    auto client = env.execute_async("latched");
    // Full: the map cannot send, so the source cannot either.
    REQUIRE(eventually([&] {
      auto src = probe_of(client, "Generator");
      auto map = probe_of(client, "Map");
      auto full = cfg.output_queue_buffers + cfg.output_floating_buffers;
      return src.credits_available == 0 && src.queued_buffers_out >= full && map.credits_available == 0 &&
             map.queued_buffers_out >= full;
    }));
    auto done = std::async(std::launch::async, [&] { return client.checkpoint(); });
    if (mode == CheckpointingMode::aligned) {
      // The barrier waits behind full buffers: the sources snapshot, the sink cannot.
      REQUIRE(eventually([&] { return probe_of(client, "Generator").checkpoint_id > 0; }));
      CHECK(done.wait_for(std::chrono::milliseconds(300)) == std::future_status::timeout);
      CHECK(latch->snapshots_closed.load() == 0);
      latch->open = true;
    }
    REQUIRE(done.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
    auto id = done.get();
    CHECK(id > 0);
    REQUIRE(eventually([&] { return probe_of(client, "Latched").checkpoint_id == id; }));  // probes lag
    auto sink = probe_of(client, "Latched");
    if (mode == CheckpointingMode::aligned) {
      CHECK(latch->snapshots_open.load() == 1);
      CHECK(!sink.checkpoint_unaligned);
    } else {
      // Completed with the latch still closed: the barrier overtook the in-flight data, which
      // the checkpoint holds instead.
      CHECK(!latch->open.load());
      CHECK(latch->snapshots_closed.load() == 1);
      CHECK(sink.checkpoint_unaligned);
      CHECK(sink.checkpoint_inflight_bytes > 0);
    }
    if (mode == CheckpointingMode::unaligned) {
      // A savepoint is aligned whatever the mode: it waits for the latch like an aligned one.
      auto sp = std::async(std::launch::async, [&] { return client.savepoint(); });
      REQUIRE(eventually([&] { return probe_of(client, "Generator").checkpoint_id > id; }));
      CHECK(sp.wait_for(std::chrono::milliseconds(300)) == std::future_status::timeout);
      latch->open = true;
      REQUIRE(sp.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
      auto sp_id = sp.get();
      REQUIRE(eventually([&] { return probe_of(client, "Latched").checkpoint_id == sp_id; }));
      CHECK_FALSE(probe_of(client, "Latched").checkpoint_unaligned);
      CHECK(probe_of(client, "Latched").checkpoint_inflight_bytes == 0);
    }
    client.cancel();
    CHECK_THROWS_WITH(client.wait(), Catch::Contains("canceled"));
  }
}

TEST_CASE("a savepoint at parallelism 4 restores at 2 and at 8 with the counts of an uninterrupted run", "[checkpoint][rescale]") {
  const int64_t n = 200'000, keys = 101;
  // Heap state from a savepoint (entries), and RocksDB state from an incremental checkpoint
  // (the store's files, whose key groups are split between the new subtasks).
  auto rocksdb = GENERATE(false, true);
  INFO((rocksdb ? "RocksDB, restored from a checkpoint" : "heap, restored from a savepoint"));
  test_support::TempDir dir;
  auto build = [&](StreamEnvironment& env, std::function<bool()> go_on, const std::string& out) {
    env.from_source<int64_t>(HeldSource(n, n / 2, std::move(go_on)))
        .uid("source")
        .set_parallelism(2)
        .key_by([=](const int64_t& v) { return v % keys; })
        .process(CountAtEnd())
        .uid("count")
        .map([](KeyCount kc) { return std::to_string(kc.first) + ":" + std::to_string(kc.second); })
        .uid("format")
        .sink_to(CommittingFileSink<std::string>(out))
        .uid("sink");
  };
  std::vector<std::string> expected;
  for (int64_t k = 0; k < keys; ++k)
    expected.push_back(std::to_string(k) + ":" + std::to_string(n / keys + (k < n % keys ? 1 : 0)));
  std::sort(expected.begin(), expected.end());

  // Parallelism 4: half the input, a savepoint, then stop.
  auto cfg = checkpointed(dir.file("chk"), std::chrono::hours(1));
  cfg.parallelism = 4;
  if (rocksdb) cfg.state_backend = StateBackendKind::rocksdb;
  int64_t savepoint = 0;
  {
    StreamEnvironment env(cfg);
    build(env, [] { return false; }, dir.file("out-4"));
    auto client = env.execute_async("rescale");
    REQUIRE(eventually([&] { return probe_of(client, "Held").records_out >= uint64_t(n / 4); }));
    savepoint = rocksdb ? client.checkpoint() : client.savepoint();
    client.cancel();
    CHECK_THROWS_WITH(client.wait(), Catch::Contains("canceled"));
  }
  REQUIRE(savepoint > 0);
  auto path = dir.file("chk") + "/chk-" + std::to_string(savepoint);
  // The RocksDB checkpoint holds the store's SST files in the shared area, not entries.
  CHECK(std::filesystem::exists(dir.file("chk") + "/shared") == rocksdb);
  for (int p : {2, 8}) {
    INFO("restored at parallelism " << p);
    auto rc = cfg;
    rc.parallelism = p;
    rc.checkpoint.dir = dir.file("chk-" + std::to_string(p));
    rc.checkpoint.restore = path;
    StreamEnvironment env(rc);
    auto out = dir.file("out-" + std::to_string(p));
    build(env, {}, out);
    auto result = env.execute("rescale");
    REQUIRE(result.succeeded);
    auto got = read_committed_lines(out);
    std::sort(got.begin(), got.end());
    CHECK(got == expected);
  }

  // A job without the keyed operator's uid does not match the savepoint.
  auto mismatched = [&](bool allow) {
    auto rc = cfg;
    rc.checkpoint.dir = dir.file(allow ? "chk-allowed" : "chk-refused");
    rc.checkpoint.restore = path;
    rc.checkpoint.allow_non_restored_state = allow;
    StreamEnvironment env(rc);
    env.from_source<int64_t>(HeldSource(n, n, {}))
        .uid("source")
        .set_parallelism(2)
        .key_by([=](const int64_t& v) { return v % keys; })
        .process(CountAtEnd())
        .uid("count-v2")
        .sink_to(DiscardSink<KeyCount>());
    return env.execute("rescale");
  };
  CHECK_THROWS_WITH(mismatched(false), Catch::Contains("operator 'KeyedProcess'") &&
                                           Catch::Contains("--allow-non-restored-state"));
  CHECK(mismatched(true).succeeded);

  // The same operator whose state changed type cannot read the savepoint's bytes.
  struct CountAsText final : KeyedProcessFunction<int64_t, int64_t, KeyCount> {
    void open(RuntimeContext& rc) override { rc.state(ValueStateDescriptor<std::string>("count")); }
    void process(const int64_t&, Context&, Collector<KeyCount>&) override {}
  };
  auto rc = cfg;
  rc.checkpoint.dir = dir.file("chk-changed");
  rc.checkpoint.restore = path;
  rc.checkpoint.restart = parse_restart_strategy("none");
  rc.checkpoint.allow_non_restored_state = true;  // the format and sink operators are gone
  StreamEnvironment env(rc);
  env.from_source<int64_t>(HeldSource(n, n, {}))
      .uid("source")
      .set_parallelism(2)
      .key_by([=](const int64_t& v) { return v % keys; })
      .process(CountAsText())
      .uid("count")
      .sink_to(DiscardSink<KeyCount>());
  CHECK_THROWS_WITH(env.execute("rescale"), Catch::Contains("state 'count' was checkpointed as value<") &&
                                                Catch::Contains("type or TTL changed"));
}

TEST_CASE("restoring from a path that is not a checkpoint fails with one sentence naming it", "[checkpoint]") {
  test_support::TempDir dir;
  auto cfg = checkpointed(dir.file("chk"), std::chrono::milliseconds(100));
  cfg.checkpoint.restore = dir.file("no-such-savepoint");
  StreamEnvironment env(cfg);
  env.from_generator(10, [](int64_t i) { return i; }).sink_to(DiscardSink<int64_t>());
  CHECK_THROWS_WITH(env.execute("bad-restore"), Catch::Contains("no-such-savepoint") && Catch::Contains("does not exist"));
}

TEST_CASE("after a bounded source ends, checkpoints go on with the unbounded one, and the last records commit once", "[checkpoint][flip147]") {
  test_support::TempDir dir;
  auto cfg = checkpointed(dir.file("chk"), std::chrono::milliseconds(20));
  auto release = std::make_shared<std::atomic<bool>>(false);
  StreamEnvironment env(cfg);
  const int64_t bounded = 50'000, held = 80'000;
  auto a = env.from_generator(bounded, [](int64_t i) { return i; }).uid("bounded").set_parallelism(1);
  auto b = env.from_source<int64_t>(HeldSource(held, held, [release] { return release->load(); }))
               .uid("held")
               .set_parallelism(1)
               .map([](int64_t v) { return v + 1'000'000; })
               .uid("shift");
  a.union_with(b)
      .map([](int64_t v) { return std::to_string(v); })
      .uid("format")
      .sink_to(CommittingFileSink<std::string>(dir.file("out")))
      .uid("sink");
  auto client = env.execute_async("bounded-and-unbounded");
  REQUIRE(eventually([&] { return probe_of(client, "Generator").status == "finished"; }));
  // Checkpoints complete after the bounded source finished (FLIP-147: triggered at the running
  // frontier, the finished source skipped).
  auto completed = [&] {
    int64_t last = 0;
    for (const auto& c : client.checkpoints())
      if (c.status == CheckpointInfo::Status::completed) last = c.id;
    return last;
  };
  auto at_finish = completed();
  REQUIRE(eventually([&] { return completed() >= at_finish + 3; }));
  // Everything so far is committed: the bounded source's records, all of them, exactly once.
  auto before = read_committed_lines(dir.file("out"));
  release->store(true);
  auto result = client.wait();
  REQUIRE(result.succeeded);
  auto cps = client.checkpoints();
  REQUIRE(!cps.empty());
  CHECK(cps.back().final);
  CHECK(cps.back().status == CheckpointInfo::Status::completed);
  std::vector<int64_t> got;
  for (const auto& line : read_committed_lines(dir.file("out"))) got.push_back(std::stoll(line));
  std::sort(got.begin(), got.end());
  std::vector<int64_t> expected;
  for (int64_t i = 0; i < bounded; ++i) expected.push_back(i);
  for (int64_t i = 0; i < held; ++i) expected.push_back(i + 1'000'000);
  CHECK(got == expected);
  int64_t bounded_before = 0;
  for (const auto& line : before) bounded_before += std::stoll(line) < 1'000'000;
  CHECK(bounded_before == bounded);
}

TEST_CASE("stop with savepoint: without drain the job stops at the savepoint and a restore continues exactly once, and with drain everything is flushed first",
          "[checkpoint][savepoint]") {
  test_support::TempDir dir;
  const int64_t n = 3'000'000, keys = 101;
  auto job = [&](StreamEnvironment& env, int64_t count) {
    auto src = env.from_generator(count, [](int64_t i) { return i; }).uid("source").set_parallelism(1);
    src.map([](int64_t v) { return std::to_string(v); }).uid("format").sink_to(CommittingFileSink<std::string>(dir.file("records"))).uid("records");
    src.key_by([=](const int64_t& v) { return v % keys; })
        .process(CountAtEnd())
        .uid("count")
        .map([](KeyCount kc) { return std::to_string(kc.first) + ":" + std::to_string(kc.second); })
        .uid("format-counts")
        .sink_to(CommittingFileSink<std::string>(dir.file("counts")))
        .uid("counts");
  };
  auto cfg = checkpointed(dir.file("chk"), std::chrono::hours(1));
  int64_t savepoint = 0;
  {
    StreamEnvironment env(cfg);
    job(env, -1);  // unbounded
    auto client = env.execute_async("stop");
    REQUIRE(eventually([&] { return probe_of(client, "Generator").records_out >= 100'000; }));
    savepoint = client.stop_with_savepoint(false);
    auto result = client.wait();
    CHECK(result.succeeded);
    CHECK(result.last_checkpoint == savepoint);
  }
  auto committed = read_committed_lines(dir.file("records"));
  CHECK(!committed.empty());
  CHECK(read_committed_lines(dir.file("counts")).empty());  // counts come at the end of input only
  {
    auto rc = cfg;
    rc.checkpoint.restore = dir.file("chk") + "/chk-" + std::to_string(savepoint);
    StreamEnvironment env(rc);
    job(env, n);  // the same job, bounded now: it continues where the savepoint was
    REQUIRE(env.execute("stop").succeeded);
  }
  std::vector<int64_t> got;
  for (const auto& l : read_committed_lines(dir.file("records"))) got.push_back(std::stoll(l));
  std::sort(got.begin(), got.end());
  REQUIRE(got.size() == size_t(n));
  for (int64_t i = 0; i < n; ++i)
    if (got[size_t(i)] != i) FAIL("record " << i << " is missing or duplicated");
  CHECK(read_committed_lines(dir.file("counts")).size() == size_t(keys));

  // Drain: an unbounded job ends its input, flushes (the counts appear), and the final
  // checkpoint is the savepoint.
  test_support::TempDir dir2;
  auto dcfg = checkpointed(dir2.file("chk"), std::chrono::hours(1));
  StreamEnvironment env(dcfg);
  CollectSink<KeyCount> counts;
  auto got_counts = counts.collected();
  auto src = env.from_generator(-1, [](int64_t i) { return i; }).uid("source").set_parallelism(1);
  src.key_by([=](const int64_t& v) { return v % keys; }).process(CountAtEnd()).uid("count").sink_to(counts);
  auto client = env.execute_async("drain");
  REQUIRE(eventually([&] { return probe_of(client, "Generator").records_out >= 100'000; }));
  auto id = client.stop_with_savepoint(true);
  auto result = client.wait();
  CHECK(result.succeeded);
  CHECK(id == result.last_checkpoint);
  auto emitted = probe_of(client, "Generator").records_out;
  int64_t total = 0;
  for (const auto& [k, c] : got_counts->values()) total += c;
  CHECK(got_counts->size() == size_t(keys));
  CHECK(uint64_t(total) == emitted);
  auto cps = client.checkpoints();
  REQUIRE(!cps.empty());
  CHECK(cps.back().id == id);
  CHECK(cps.back().final);
}

TEST_CASE("a job canceled just after a restart ends, and its client returns", "[checkpoint][recovery]") {
  for (int round = 0; round < 5; ++round) {
    test_support::TempDir dir;
    auto cfg = checkpointed(dir.file("chk"), std::chrono::milliseconds(5));
    cfg.checkpoint.restart = parse_restart_strategy("fixed-delay:5:0ms");
    auto faults = std::make_shared<FaultPlan>(uint32_t(round), 1, 1000);
    StreamEnvironment env(cfg);
    env.from_generator(-1, [](int64_t i) { return i; })
        .process(InjectFaults(faults))
        .key_by([](const int64_t& v) { return v % 11; })
        .process(CountAtEnd())
        .sink_to(DiscardSink<KeyCount>());
    auto client = env.execute_async("cancel-after-restart");
    REQUIRE(eventually([&] { return faults->done(); }));
    auto seen = faults->seen.load();
    REQUIRE(eventually([&] { return faults->seen.load() > seen; }));  // the new run processes records
    client.cancel();
    CHECK_THROWS_WITH(client.wait(), Catch::Contains("canceled"));
  }
}

namespace {

/// Passes records on and counts how often its subtasks were opened (once per attempt each).
class CountOpens final : public ProcessFunction<int64_t, int64_t> {
 public:
  explicit CountOpens(std::shared_ptr<std::atomic<int>> opens) : opens_(std::move(opens)) {}
  void open(RuntimeContext&) override { ++*opens_; }
  void process(const int64_t& v, Context&, Collector<int64_t>& out) override { out.collect(v); }

 private:
  std::shared_ptr<std::atomic<int>> opens_;
};

/// Each key's final count of 0..n-1 by v % 101, as CountAtEnd emits it, sorted as committed lines.
std::vector<std::string> count_lines(int64_t n) {
  std::vector<std::string> out;
  for (int64_t k = 0; k < 101; ++k)
    out.push_back(std::to_string(k) + ":" + std::to_string(n / 101 + (k < n % 101 ? 1 : 0)));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("a failure restarts only its pipelined region: the other keeps running, both commit exactly once",
          "[checkpoint][recovery][region]") {
  const int64_t n = 300'000;
  for (auto backend : {StateBackendKind::heap, StateBackendKind::rocksdb}) {
    test_support::TempDir dir;
    auto cfg = checkpointed(dir.file("chk"), std::chrono::milliseconds(10));
    cfg.state_backend = backend;
    cfg.state_dir = dir.file("state");
    cfg.checkpoint.restart = parse_restart_strategy("fixed-delay:100:1ms");
    auto faults = std::make_shared<FaultPlan>(7, 4, n / 10);
    auto opens_a = std::make_shared<std::atomic<int>>(0), opens_b = std::make_shared<std::atomic<int>>(0);
    StreamEnvironment env(cfg);
    auto pipeline = [&](const std::string& name, std::shared_ptr<Faults> f, std::shared_ptr<std::atomic<int>> opens) {
      // Both sources hold their last records until every fault fired: B runs through A's restarts.
      env.from_source<int64_t>(HeldSource(n, n / 2, [faults] { return faults->done(); }))
          .uid("source-" + name)
          .process(CountOpens(opens))
          .uid("opens-" + name)
          .process(InjectFaults(std::move(f)))
          .uid("faults-" + name)
          .key_by([](const int64_t& v) { return v % 101; })
          .process(CountAtEnd())
          .uid("count-" + name)
          .map([](KeyCount kc) { return std::to_string(kc.first) + ":" + std::to_string(kc.second); })
          .uid("format-" + name)
          .sink_to(CommittingFileSink<std::string>(dir.file(name)))
          .uid("sink-" + name);
    };
    pipeline("a", faults, opens_a);
    pipeline("b", nullptr, opens_b);
    auto client = env.execute_async("two regions");
    auto result = client.result();
    INFO(result.error);
    REQUIRE(result.succeeded);
    CHECK(faults->next.load() == 4);
    CHECK(result.restarts >= 4);
    CHECK(*opens_a >= 2 * 5);  // two subtasks, a first run and one per fault at least
    CHECK(*opens_b == 2);      // never restarted
    auto a = read_committed_lines(dir.file("a")), b = read_committed_lines(dir.file("b"));
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    CHECK(a == count_lines(n));
    CHECK(b == count_lines(n));
  }
}
