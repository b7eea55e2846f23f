// tests/checkpoint/test_storage.cpp — checkpoint storage: atomic metadata, verification, fallback past corrupt checkpoints, retention, locking.
#include <catch2/catch.hpp>

#include <fstream>

#include "checkpoint/storage.hpp"
#include "support/temp_dir.hpp"

using namespace sluice::checkpoint;
namespace fs = std::filesystem;

namespace {
CheckpointMetadata write_checkpoint(CheckpointStorage& s, uint64_t id) {
  CheckpointMetadata m;
  m.checkpoint_id = id;
  m.job_name = "job";
  m.timestamp_ms = int64_t(id) * 1000;
  OperatorState op;
  op.operator_id = "00ff";
  op.parallelism = 2;
  op.states.push_back({"count", "int64"});
  for (uint32_t sub = 0; sub < 2; ++sub) {
    auto f = s.write_file(id, "op-00ff-" + std::to_string(sub), "state of subtask " + std::to_string(sub) +
                                                                   " at " + std::to_string(id));
    f.subtask = sub;
    f.key_group_start = sub * 64;
    f.key_group_end = sub * 64 + 64;
    op.files.push_back(f);
  }
  m.operators.push_back(op);
  s.commit(m);
  return m;
}
}  // namespace

TEST_CASE("a committed checkpoint loads back exactly, files verified", "[storage]") {
  test_support::TempDir dir;
  CheckpointStorage s(dir.path() / "checkpoints");
  auto m = write_checkpoint(s, 1);
  auto back = s.load(s.checkpoint_dir(1));
  CHECK(back == m);
  CHECK(s.read_file(1, back.operators[0].files[1]) == "state of subtask 1 at 1");
  REQUIRE(s.latest());
  CHECK(s.latest()->checkpoint_id == 1);
}

TEST_CASE("a corrupt or truncated checkpoint is skipped with a sentence, the previous one used", "[storage]") {
  test_support::TempDir dir;
  CheckpointStorage s(dir.path());
  write_checkpoint(s, 1);
  write_checkpoint(s, 2);
  write_checkpoint(s, 3);
  {  // flip a byte in a task file of checkpoint 3
    auto p = s.checkpoint_dir(3) / "op-00ff-1";
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(3);
    f.put('X');
  }
  {  // truncate checkpoint 2's metadata
    auto p = s.checkpoint_dir(2) / "_metadata";
    fs::resize_file(p, fs::file_size(p) - 5);
  }
  std::vector<std::string> skipped;
  auto latest = s.latest(&skipped);
  REQUIRE(latest);
  CHECK(latest->checkpoint_id == 1);
  REQUIRE(skipped.size() == 2);
  CHECK_THAT(skipped[0], Catch::Contains("chk-3/op-00ff-1") && Catch::Contains("corrupt"));
  CHECK_THAT(skipped[1], Catch::Contains("chk-2/_metadata"));
  CHECK_THROWS_AS(s.load(s.checkpoint_dir(3)), CheckpointError);
  CHECK_THROWS_WITH(s.load(dir.path() / "nowhere"), Catch::Contains("does not exist"));
}

TEST_CASE("only the last K complete checkpoints are kept", "[storage]") {
  test_support::TempDir dir;
  CheckpointStorage s(dir.path(), 3);
  for (uint64_t id = 1; id <= 6; ++id) write_checkpoint(s, id);
  s.write_file(7, "op-00ff-0", "in progress");  // an incomplete, newer checkpoint stays
  CHECK(s.complete_ids() == std::vector<uint64_t>{4, 5, 6});
  CHECK(fs::exists(s.checkpoint_dir(7)));
  CHECK_FALSE(fs::exists(s.checkpoint_dir(1)));
}

TEST_CASE("a checkpoint directory is locked while open", "[storage]") {
  test_support::TempDir dir;
  {
    CheckpointStorage a(dir.path());
    // flock locks are per open file description: a second open in this process conflicts too.
    CHECK_THROWS_WITH(CheckpointStorage(dir.path()), Catch::Contains("in use"));
  }
  CHECK_NOTHROW(CheckpointStorage(dir.path()));
}

// Issue 10, item 5: a declined checkpoint's files stayed, so a full disk stayed full and 101
// chk-N folders piled up.
TEST_CASE("regression 5: an aborted checkpoint's files go, later writes for it are refused, and open sweeps "
          "incomplete ones", "[storage][regression]") {
  test_support::TempDir dir;
  {
    CheckpointStorage s(dir.path());
    write_checkpoint(s, 1);
    // Checkpoint 2: one subtask wrote its file and shared one; the other declined.
    s.write_file(2, "op-00ff-0", "half of checkpoint 2");
    auto sst = dir.path() / "local.sst";
    std::ofstream(sst) << "an sst file";
    s.share_file(2, sst, "a-000002.sst");
    REQUIRE(fs::exists(s.checkpoint_dir(2)));
    REQUIRE(fs::exists(dir.path() / "shared" / "a-000002.sst"));
    s.discard(2);
    CHECK_FALSE(fs::exists(s.checkpoint_dir(2)));
    CHECK_FALSE(fs::exists(dir.path() / "shared" / "a-000002.sst"));
    // The other subtask's write comes late: refused, nothing reappears.
    CHECK_THROWS_WITH(s.write_file(2, "op-00ff-1", "late"), Catch::Contains("checkpoint 2 was aborted"));
    CHECK_THROWS_WITH(s.share_file(2, sst, "a-000003.sst"), Catch::Contains("checkpoint 2 was aborted"));
    CHECK_FALSE(fs::exists(s.checkpoint_dir(2)));
    // A complete checkpoint is never discarded.
    s.discard(1);
    CHECK(s.complete_ids() == std::vector<uint64_t>{1});
    CHECK_NOTHROW(s.load(s.checkpoint_dir(1)));
    // A checkpoint that is still being written when the process dies.
    s.write_file(3, "op-00ff-0", "checkpoint 3, never completed");
  }
  CheckpointStorage reopened(dir.path());
  CHECK_FALSE(fs::exists(reopened.checkpoint_dir(3)));
  CHECK(reopened.complete_ids() == std::vector<uint64_t>{1});
}

// Issue 10, item 11: an unreadable checkpoint folder gave a raw exception or "missing".
TEST_CASE("regression 11: a checkpoint directory or shared area that cannot be read gets one sentence naming it",
          "[storage][regression]") {
  test_support::TempDir dir;
  std::ofstream(dir.path() / "not-a-dir") << "a file where the checkpoint directory should be";
  CHECK_THROWS_WITH(CheckpointStorage(dir.path() / "not-a-dir"), Catch::Contains("not-a-dir") && !Catch::Contains("missing"));
  {
    CheckpointStorage s(dir.path() / "chk");
    write_checkpoint(s, 1);
  }
  std::ofstream(dir.path() / "chk" / "shared") << "a file where the shared area should be";
  CHECK_THROWS_WITH(CheckpointStorage(dir.path() / "chk"),
                    Catch::Contains("cannot list checkpoint directory") && Catch::Contains("chk/shared") &&
                        Catch::Contains("Not a directory"));
  // A task file that is a directory cannot be read: said so, not "missing".
  fs::remove(dir.path() / "chk" / "shared");
  auto task_file = dir.path() / "chk" / "chk-1" / "op-00ff-0";
  fs::remove(task_file);
  fs::create_directory(task_file);
  try {
    CheckpointStorage::load(dir.path() / "chk" / "chk-1");
    FAIL("a directory in place of a task file loaded");
  } catch (const CheckpointError& e) {
    CHECK_THAT(e.what(), Catch::Contains("op-00ff-0") && !Catch::Contains("missing"));
  }
}
