// tests/integration/test_storage_faults.cpp — checkpoint I/O failing on purpose at every named point (write, fsync, rename, share, _metadata; ENOSPC, EIO, EROFS, torn writes): declined and counted, the job goes on or fails naming the file, and no checkpoint is ever complete with a missing or partial file.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "checkpoint/fault_injection.hpp"
#include "checkpoint/storage.hpp"
#include "support/checkpoint_jobs.hpp"
#include "support/temp_dir.hpp"

using namespace sluice;
using namespace test_support::jobs;
namespace fs = std::filesystem;
using checkpoint::IoPoint;

namespace {

/// Which files a fault hits.
enum class Target { task_file, metadata, shared };

/// Fails `point` with `error` for the files of `target`, in checkpoints [from, to].
class Scripted final : public checkpoint::FaultInjector {
 public:
  Scripted(IoPoint point, int error, Target target, uint64_t from, uint64_t to)
      : point_(point), error_(error), target_(target), from_(from), to_(to) {}
  int fail(IoPoint point, const fs::path& path, uint64_t id) override {
    auto name = path.filename().string();
    bool hit = target_ == Target::task_file ? name.rfind("task-", 0) == 0
               : target_ == Target::metadata ? name == "_metadata"
                                              : path.parent_path().filename() == "shared";
    if (point != point_ || !hit || id < from_ || id > to_) return 0;
    ++fired;
    return error_;
  }
  std::atomic<int> fired{0};

 private:
  IoPoint point_;
  int error_;
  Target target_;
  uint64_t from_, to_;
};

/// The source holds its end until checkpoint `n` completed.
struct EndAfter final : Faults {
  explicit EndAfter(int64_t n) : n_(n) {}
  std::atomic<int64_t> completed{0};
  void on_checkpoint(int64_t id) override { completed = std::max(completed.load(), id); }
  bool done() const override { return completed.load() >= n_; }
  int64_t n_;
};

/// Every complete checkpoint left in `root` verifies (no missing or partial file), and none
/// of the failed ones is complete.
void check_directory(const fs::path& root, const std::set<uint64_t>& failed) {
  checkpoint::CheckpointCommitter storage(root);
  for (auto id : storage.complete_ids()) {
    CHECK(failed.count(id) == 0);
    CHECK_NOTHROW(checkpoint::CheckpointCommitter::load(storage.checkpoint_dir(id)));
  }
}

struct Case {
  const char* name;
  IoPoint point;
  int error;
  Target target;
  bool rocksdb;  // shared files come from RocksDB's incremental checkpoints
  const char* file;  // what the failure sentence names
};

const Case cases[] = {
    {"a full disk tears a task file", IoPoint::write, ENOSPC, Target::task_file, false, "task-"},
    {"fsync of a task file fails", IoPoint::fsync, EIO, Target::task_file, false, "task-"},
    {"rename of a task file fails", IoPoint::rename, EIO, Target::task_file, false, "task-"},
    {"a read-only directory refuses a task file", IoPoint::write, EROFS, Target::task_file, false, "task-"},
    {"a full disk refuses a shared file", IoPoint::share, ENOSPC, Target::shared, true, "shared"},
    {"a full disk tears _metadata", IoPoint::write, ENOSPC, Target::metadata, false, "_metadata"},
    {"rename of _metadata fails", IoPoint::rename, EIO, Target::metadata, false, "_metadata"},
};

}  // namespace

TEST_CASE("a checkpoint whose storage fails at any named point is declined and counted, and the job goes on exactly once",
          "[checkpoint][faults]") {
  constexpr int64_t n = 50'000;
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      test_support::TempDir dir;
      auto cfg = checkpointed(dir.file("chk"), std::chrono::milliseconds(10));
      cfg.checkpoint.tolerable_failures = 10;
      cfg.checkpoint.restart = parse_restart_strategy("none");
      if (c.rocksdb) {
        cfg.state_backend = StateBackendKind::rocksdb;
        cfg.state_dir = dir.file("state");
      }
      auto faults = std::make_shared<Scripted>(c.point, c.error, c.target, 2, 3);
      Run run;
      {
        checkpoint::ScopedFaultInjector installed(faults);
        run = run_counting_job(dir.file("out"), n, cfg, std::make_shared<EndAfter>(5));
      }
      INFO(run.result.error);
      REQUIRE(run.result.succeeded);
      CHECK(faults->fired.load() > 0);
      // Exactly once: every record committed once, whatever failed.
      REQUIRE(run.records.size() == size_t(n));
      CHECK(std::set<std::string>(run.records.begin(), run.records.end()).size() == size_t(n));
      int aborted = 0;
      for (const auto& info : run.checkpoints) {
        if (info.id != 2 && info.id != 3) continue;
        CHECK(info.status == CheckpointInfo::Status::aborted);
        CHECK_THAT(info.reason, Catch::Contains(std::strerror(c.error)) && Catch::Contains(c.file));
        ++aborted;
      }
      CHECK(aborted == 2);
      check_directory(dir.path() / "chk", {2, 3});
    }
  }
}

TEST_CASE("more failed checkpoints than tolerated fail the job with a sentence naming the file", "[checkpoint][faults]") {
  for (auto target : {Target::task_file, Target::metadata}) {
    DYNAMIC_SECTION((target == Target::task_file ? "task file" : "_metadata")) {
      test_support::TempDir dir;
      auto cfg = checkpointed(dir.file("chk"), std::chrono::milliseconds(10));
      cfg.checkpoint.tolerable_failures = 1;
      cfg.checkpoint.restart = parse_restart_strategy("none");
      // A read-only checkpoint directory from checkpoint 1 on: nothing ever completes.
      checkpoint::ScopedFaultInjector installed(std::make_shared<Scripted>(IoPoint::write, EROFS, target, 1, UINT64_MAX));
      auto run = run_counting_job(dir.file("out"), 10'000, cfg, std::make_shared<EndAfter>(1));
      CHECK_FALSE(run.result.succeeded);
      CHECK_THAT(run.result.error,
                 Catch::Contains("too many failed checkpoints") && Catch::Contains("Read-only file system") &&
                     Catch::Contains(target == Target::task_file ? "task-" : "_metadata") && Catch::Contains("chk-"));
      CHECK(run.records.empty());  // nothing was ever committed
      check_directory(dir.path() / "chk", {});
      checkpoint::CheckpointCommitter storage(dir.path() / "chk");
      CHECK(storage.complete_ids().empty());
    }
  }
}
