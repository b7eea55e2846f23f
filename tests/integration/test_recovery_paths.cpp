// tests/integration/test_recovery_paths.cpp — regressions of issue 10: the recovery paths that lost or duplicated committed rows while the job reported success.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <thread>

#include "checkpoint/fault_injection.hpp"
#include "checkpoint/storage.hpp"
#include "support/checkpoint_jobs.hpp"
#include "support/temp_dir.hpp"

using namespace sluice;
using namespace test_support::jobs;
namespace fs = std::filesystem;

namespace {

/// Flips a byte in the middle of `chk/_metadata`: the checkpoint no longer verifies.
void corrupt_metadata(const fs::path& chk) {
  auto p = chk / "_metadata";
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(std::streamoff(fs::file_size(p) / 2));
  f.put('\x5a');
}

/// Whether `dir` holds a committed part file of checkpoint `id` (`part-<subtask>-<id>`).
bool has_part_of(const fs::path& dir, int64_t id) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    auto dash = name.find('-', 5);
    if (name.rfind("part-", 0) == 0 && dash != std::string::npos && name.substr(dash + 1) == std::to_string(id))
      return true;
  }
  return false;
}

size_t count_files(const fs::path& dir) {
  std::error_code ec;
  size_t n = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n;
}

/// At the third completed checkpoint (once its rows are committed), corrupts its `_metadata`
/// (or every complete checkpoint's, with `all`) and fails the task: the restart must fall
/// back past what does not verify. The source holds its end until then, and is paced so that
/// the third checkpoint holds rows of both subtasks: subtask 1 commits its part of it while
/// subtask 0 waits here (subtask 0's own sink is told after this operator of its chain).
struct CorruptThenFail final : Faults {
  fs::path checkpoints, records;
  bool all = false;
  std::atomic<int> seen{0};
  std::atomic<bool> fired{false};
  std::atomic<bool> committed_before_fault{false};
  void on_checkpoint(int64_t id) override {
    if (fired.load() || ++seen < 3) return;
    fired = true;
    // A bound for a stuck sink, not a timing check: the notification reaches it at once.
    for (int i = 0; i < 4000 && !has_part_of(records, id); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    committed_before_fault = has_part_of(records, id);
    if (all) {
      for (fs::directory_iterator it(checkpoints), end; it != end; ++it)
        if (fs::exists(it->path() / "_metadata")) corrupt_metadata(it->path());
    } else {
      corrupt_metadata(checkpoints / ("chk-" + std::to_string(id)));
    }
    throw std::runtime_error("injected fault after corrupting checkpoint " + std::to_string(id));
  }
  bool done() const override { return fired.load(); }
};

/// Counts records; the source holds at its hold point until `go` is set.
struct Gate final : Faults {
  std::atomic<int64_t> seen{0};
  std::atomic<bool> go{false};
  void on_record() override { ++seen; }
  bool done() const override { return go.load(); }
};

/// Fails the first record it sees, once.
struct FailOnce final : Faults {
  std::atomic<bool> fired{false};
  void on_record() override {
    if (!fired.exchange(true)) throw std::runtime_error("injected fault before any checkpoint of this run");
  }
};

ExecutionConfig config_in(const test_support::TempDir& dir, const std::string& checkpoints,
                          std::chrono::milliseconds interval) {
  auto cfg = checkpointed(dir.file(checkpoints), interval);
  cfg.checkpoint.restart = parse_restart_strategy("fixed-delay:10:1ms");
  cfg.buffer_timeout = std::chrono::milliseconds(1);
  return cfg;
}

}  // namespace

// Issue 10, item 1: the committing sink kept the parts of a newer checkpoint that the restart
// fell back past, so those rows were committed twice.
TEST_CASE("regression 1: a restart that falls back past a corrupt checkpoint rolls the committed output back to "
          "the checkpoint it restores",
          "[checkpoint][recovery][regression]") {
  const int64_t n = 60'000, per_checkpoint = 3'000;  // ten checkpoints of rows per subtask
  for (bool all : {false, true}) {
    INFO((all ? "every checkpoint corrupt: from scratch" : "the newest checkpoint corrupt"));
    test_support::TempDir dir;
    auto clean = run_counting_job(dir.file("clean"), n, config_in(dir, "clean-chk", std::chrono::milliseconds(10)), nullptr);
    REQUIRE(clean.result.succeeded);
    REQUIRE(clean.records.size() == size_t(n));

    auto faults = std::make_shared<CorruptThenFail>();
    faults->checkpoints = dir.path() / "chk";
    faults->records = dir.path() / "out" / "records";
    faults->all = all;
    auto run = run_counting_job(dir.file("out"), n, config_in(dir, "chk", std::chrono::milliseconds(10)), faults,
                                per_checkpoint);
    INFO(run.result.error);
    REQUIRE(run.result.succeeded);
    CHECK(faults->fired.load());
    CHECK(faults->committed_before_fault.load());  // else there was nothing to roll back
    CHECK(run.result.restarts == 1);
    CHECK(run.records.size() == clean.records.size());
    CHECK(run.records == clean.records);
    CHECK(run.counts == clean.counts);
    // What the newer checkpoints had committed is kept aside, not lost.
    CHECK(count_files(faults->records / ".rolled-back") > 0);
  }
}

// Issue 10, item 2: after a restore from an older or outside checkpoint, a restart used the
// newest checkpoint of the job's own directory (or started from scratch): rows lost or doubled.
TEST_CASE("regression 2: a restart after a restore from an older or an outside savepoint resumes from that savepoint",
          "[checkpoint][recovery][regression]") {
  const int64_t n = 200'000;
  for (bool outside : {false, true}) {
    INFO((outside ? "the savepoint lies outside the restored job's checkpoint directory"
                  : "newer checkpoints than the savepoint are in the directory"));
    test_support::TempDir dir;
    auto clean = run_counting_job(dir.file("clean"), n, config_in(dir, "clean-chk", std::chrono::milliseconds(10)), nullptr);
    REQUIRE(clean.result.succeeded);

    // First run: a savepoint at a quarter of the stream, then on to the end, with newer
    // checkpoints after it.
    auto gate = std::make_shared<Gate>();
    int64_t savepoint = 0;
    {
      auto first = start_counting_job(dir.file("out"), n, config_in(dir, "chk", std::chrono::milliseconds(10)), gate, n / 4);
      REQUIRE(eventually([&] { return gate->seen.load() == n / 4; }));
      savepoint = first.savepoint();
      gate->go = true;
      REQUIRE(first.result().succeeded);
    }  // the first job lets go of the checkpoint directory
    checkpoint::CheckpointCommitter::load(dir.path() / "chk" / ("chk-" + std::to_string(savepoint)));
    {
      checkpoint::CheckpointCommitter held(dir.path() / "chk");
      REQUIRE(held.complete_ids().back() > uint64_t(savepoint));
    }

    // Second run from the savepoint fails before it completes a checkpoint of its own.
    auto cfg = config_in(dir, outside ? "other-chk" : "chk", std::chrono::hours(1));
    cfg.checkpoint.restore = (dir.path() / "chk" / ("chk-" + std::to_string(savepoint))).string();
    auto faults = std::make_shared<FailOnce>();
    auto run = run_counting_job(dir.file("out"), n, cfg, faults);
    INFO(run.result.error);
    REQUIRE(run.result.succeeded);
    CHECK(run.result.restarts == 1);
    CHECK(run.records.size() == clean.records.size());
    CHECK(run.records == clean.records);
    CHECK(run.counts == clean.counts);
  }
}

// Issue 10, item 4: a run without --restore into a directory holding checkpoints deleted them
// within a second.
TEST_CASE("regression 4: a run without a restore into a directory holding checkpoints is refused and deletes nothing",
          "[checkpoint][regression]") {
  test_support::TempDir dir;
  auto first = run_counting_job(dir.file("out"), 50'000, config_in(dir, "chk", std::chrono::milliseconds(10)), nullptr);
  REQUIRE(first.result.succeeded);
  std::vector<uint64_t> before;
  size_t shared_before = 0;
  {
    checkpoint::CheckpointCommitter s(dir.path() / "chk");
    before = s.complete_ids();
    shared_before = count_files(dir.path() / "chk" / "shared");
  }
  REQUIRE_FALSE(before.empty());
  auto again = run_counting_job(dir.file("out2"), 50'000, config_in(dir, "chk", std::chrono::milliseconds(10)), nullptr);
  CHECK_FALSE(again.result.succeeded);
  CHECK(again.result.usage_error);
  CHECK_THAT(again.result.error, Catch::Contains(dir.file("chk")) && Catch::Contains("--restore latest") &&
                                     Catch::Contains("chk-" + std::to_string(before.back())));
  checkpoint::CheckpointCommitter s(dir.path() / "chk");
  CHECK(s.complete_ids() == before);
  CHECK(count_files(dir.path() / "chk" / "shared") == shared_before);
  CHECK(again.records.empty());
}

// Issue 10, item 5: the files of declined or expired checkpoints stayed (a full disk stayed full).
TEST_CASE("regression 5: expired checkpoints leave no files behind", "[checkpoint][regression]") {
  test_support::TempDir dir;
  auto cfg = checkpointed(dir.file("chk"), std::chrono::milliseconds(10));
  cfg.parallelism = 1;
  cfg.chaining = false;
  cfg.checkpoint.timeout = std::chrono::milliseconds(30);
  cfg.checkpoint.tolerable_failures = 1'000'000;
  StreamEnvironment env(cfg);
  auto latch = std::make_shared<Latch>();
  env.from_generator(-1, [](int64_t i) { return i; }).map([](int64_t v) { return v + 1; }).sink_to(LatchedSink(latch));
  auto client = env.execute_async("expiring");
  auto aborted = [&] {
    size_t n = 0;
    for (const auto& c : client.checkpoints()) n += c.status == CheckpointInfo::Status::aborted;
    return n;
  };
  // Each expired checkpoint had the source's file written (the sink never saw its barrier).
  REQUIRE(eventually([&] { return aborted() >= 8; }));
  auto folders = [&] {
    size_t n = 0;
    for (fs::directory_iterator it(dir.path() / "chk"), end; it != end; ++it)
      n += it->path().filename().string().rfind("chk-", 0) == 0;
    return n;
  };
  // The pending one, and at most the one whose removal is under way.
  CHECK(eventually([&] { return folders() <= 2; }));
  client.cancel();
  CHECK_FALSE(client.result().succeeded);
}

namespace {
/// Latched until the second time a writer opens: the first run cannot complete a checkpoint.
class SecondRunSink final : public Sink<int64_t> {
 public:
  explicit SecondRunSink(std::shared_ptr<std::atomic<int>> opens) : opens_(std::move(opens)) {}
  std::unique_ptr<SinkWriter<int64_t>> create_writer(int, int) const override { return std::make_unique<Writer>(opens_); }
  std::string name() const override { return "Second Run Sink"; }

 private:
  class Writer final : public SinkWriter<int64_t> {
   public:
    explicit Writer(std::shared_ptr<std::atomic<int>> opens) : opens_(std::move(opens)) {}
    void open(OperatorContext& ctx) override {
      ctx_ = &ctx;
      open_ = ++*opens_ > 1;
      on_wakeup();
    }
    void write(int64_t&&, int64_t) override {}
    void on_wakeup() override {
      ctx_->set_available(open_);
      if (!open_) ctx_->request_wakeup(std::chrono::milliseconds(2));
    }

   private:
    std::shared_ptr<std::atomic<int>> opens_;
    OperatorContext* ctx_ = nullptr;
    bool open_ = false;
  };
  std::shared_ptr<std::atomic<int>> opens_;
};

/// A source whose checkpointed position can never be resumed (as a stream of another size).
class UnresumableSource final : public Source<int64_t> {
 public:
  explicit UnresumableSource(std::shared_ptr<std::atomic<bool>> go) : go_(std::move(go)) {}
  std::unique_ptr<SourceReader<int64_t>> create_reader(int, int) const override { return std::make_unique<Reader>(go_); }
  std::unique_ptr<SourceReader<int64_t>> resume_reader(int, int, const std::string&) const override {
    throw JobError("the unresumable source was checkpointed over another stream");
  }
  bool bounded() const override { return true; }
  std::string name() const override { return "Unresumable Source"; }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    explicit Reader(std::shared_ptr<std::atomic<bool>> go) : go_(std::move(go)) {}
    SourceStatus poll(Output<int64_t>& out, int max_records) override {
      for (int i = 0; i < max_records && next_ < 1000; ++i) out.push(next_++, no_timestamp);
      return next_ < 1000 || !go_->load() ? SourceStatus::waiting : SourceStatus::finished;
    }
    std::string position() const override { return detail::index_position(next_); }

   private:
    std::shared_ptr<std::atomic<bool>> go_;
    int64_t next_ = 0;
  };
  std::shared_ptr<std::atomic<bool>> go_;
};
}  // namespace

// Issue 10, item 7: failed checkpoints beyond the tolerable count ended the job without going
// through the restart strategy; a restore that cannot succeed was retried.
TEST_CASE("regression 7: too many failed checkpoints fail over under the restart strategy, and a failing restore is "
          "not retried",
          "[checkpoint][recovery][regression]") {
  SECTION("the job restarts from its last checkpoint and completes") {
    test_support::TempDir dir;
    auto cfg = config_in(dir, "chk", std::chrono::milliseconds(10));
    cfg.parallelism = 1;
    cfg.chaining = false;
    cfg.checkpoint.timeout = std::chrono::milliseconds(500);  // the latched run expires; the open one completes well within it
    cfg.checkpoint.tolerable_failures = 0;
    StreamEnvironment env(cfg);
    auto opens = std::make_shared<std::atomic<int>>(0);
    env.from_generator(100'000, [](int64_t i) { return i; }).sink_to(SecondRunSink(opens));
    auto result = env.execute_async("fails-over").result();
    INFO(result.error);
    CHECK(result.succeeded);
    CHECK(result.restarts == 1);
    CHECK(opens->load() == 2);
  }
  SECTION("a restore bound to fail ends the job at once") {
    test_support::TempDir dir;
    auto go = std::make_shared<std::atomic<bool>>(false);
    auto build = [&](ExecutionConfig cfg) {
      StreamEnvironment env(std::move(cfg));
      env.from_source<int64_t>(UnresumableSource(go)).uid("source").sink_to(DiscardSink<int64_t>()).uid("sink");
      return env.execute_async("unresumable");
    };
    int64_t savepoint = 0;
    {
      auto first = build(config_in(dir, "chk", std::chrono::hours(1)));
      savepoint = first.savepoint();
      first.cancel();
      first.result();
    }  // the first job lets go of the checkpoint directory
    auto cfg = config_in(dir, "chk", std::chrono::hours(1));
    cfg.checkpoint.restore = (dir.path() / "chk" / ("chk-" + std::to_string(savepoint))).string();
    go->store(true);
    auto result = build(cfg).result();
    CHECK_FALSE(result.succeeded);
    CHECK(result.restarts == 0);
    CHECK_THAT(result.error, Catch::Contains("checkpointed over another stream") && Catch::Contains("not restarted"));
  }
}

namespace {
/// A disk that is full for task files of checkpoints 2 and 3 (ENOSPC, torn writes).
class FullForTwo final : public checkpoint::FaultInjector {
 public:
  int fail(checkpoint::IoPoint point, const fs::path& path, uint64_t id) override {
    bool task_file = path.filename().string().rfind("task-", 0) == 0;
    return task_file && point == checkpoint::IoPoint::write && (id == 2 || id == 3) ? ENOSPC : 0;
  }
};
}  // namespace

// Issue 10, items 5 and 11: a decline said "subtask -1"; a checkpoint that failed on a full disk
// must never count as complete, and the job goes on within the tolerable failures.
TEST_CASE("regression 11: a checkpoint declined on a full disk names the subtask and the file, and the job goes on",
          "[checkpoint][regression]") {
  test_support::TempDir dir;
  auto cfg = config_in(dir, "chk", std::chrono::milliseconds(10));
  cfg.checkpoint.tolerable_failures = 10;
  checkpoint::set_fault_injector(std::make_shared<FullForTwo>());
  // The source holds its end until checkpoint 4 completed: 2 and 3 were tried before.
  struct EndAfterFour final : Faults {
    std::atomic<int64_t> completed{0};
    void on_checkpoint(int64_t id) override { completed = std::max(completed.load(), id); }
    bool done() const override { return completed.load() >= 4; }
  };
  auto run = run_counting_job(dir.file("out"), 100'000, cfg, std::make_shared<EndAfterFour>());
  checkpoint::set_fault_injector(nullptr);
  INFO(run.result.error);
  REQUIRE(run.result.succeeded);
  CHECK(run.records.size() == 100'000);
  std::vector<std::string> reasons;
  for (const auto& c : run.checkpoints) {
    if (c.id == 2 || c.id == 3) {
      CHECK(c.status == CheckpointInfo::Status::aborted);
      reasons.push_back(c.reason);
    }
  }
  // Every completed checkpoint still retained verifies (retention removed older ones).
  checkpoint::CheckpointCommitter storage(dir.path() / "chk");
  REQUIRE_FALSE(storage.complete_ids().empty());
  CHECK(int64_t(storage.complete_ids().back()) == run.result.last_checkpoint);
  for (auto id : storage.complete_ids()) CHECK_NOTHROW(storage.load(storage.checkpoint_dir(id)));
  REQUIRE(reasons.size() == 2);
  for (const auto& why : reasons) {
    CHECK_THAT(why, Catch::Contains("(subtask ") && Catch::Contains("No space left on device") &&
                        Catch::Contains("task-") && !Catch::Contains("subtask -1"));
  }
  CHECK_FALSE(fs::exists(dir.path() / "chk" / "chk-2"));
  CHECK_FALSE(fs::exists(dir.path() / "chk" / "chk-3"));
}
