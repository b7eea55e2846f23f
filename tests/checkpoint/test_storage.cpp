// tests/checkpoint/test_storage.cpp — the checkpoint directory: atomic metadata, verification, fallback past corrupt checkpoints, retention, locking, writers in other processes.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>

#include "checkpoint/storage.hpp"
#include "support/temp_dir.hpp"

using namespace sluice::checkpoint;
namespace fs = std::filesystem;

namespace {
CheckpointMetadata write_checkpoint(CheckpointCommitter& s, uint64_t id) {
  CheckpointMetadata m;
  m.checkpoint_id = id;
  m.job_name = "job";
  m.timestamp_ms = int64_t(id) * 1000;
  OperatorState op;
  op.operator_id = "00ff";
  op.parallelism = 2;
  op.states.push_back({"count", "int64"});
  for (uint32_t sub = 0; sub < 2; ++sub) {
    auto f = CheckpointWriter(s.directory())
                 .write_file(id, "op-00ff-" + std::to_string(sub),
                             "state of subtask " + std::to_string(sub) + " at " + std::to_string(id));
    f.subtask = sub;
    f.key_group_start = sub * 64;
    f.key_group_end = sub * 64 + 64;
    op.files.push_back(f);
  }
  m.operators.push_back(op);
  s.commit(m);
  return m;
}
/// Runs `body` in a child process (a task of another process); returns its exit status: 0
/// when it returned true, 1 when false, 2 when it threw.
int in_child(const std::function<bool()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int code = 2;
    try {
      code = body() ? 0 : 1;
    } catch (...) {
    }
    ::_exit(code);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

TEST_CASE("writers in other processes write into the directory that one committer holds", "[storage]") {
  test_support::TempDir dir;
  auto root = dir.path() / "chk";
  CheckpointCommitter committer(root);
  std::ofstream(dir.file("sst")) << "sst bytes";
  const std::string bytes = "state written by another process";
  REQUIRE(in_child([&] {
            CheckpointWriter w(root);
            w.write_file(1, "task-0-0", bytes);
            w.share_file(1, dir.file("sst"), "x-000001.sst");
            return true;
          }) == 0);
  CheckpointMetadata m;
  m.checkpoint_id = 1;
  m.job_name = "job";
  OperatorState op;
  op.operator_id = "00ff";
  op.parallelism = 1;
  op.files.push_back({"task-0-0", bytes.size(), fnv1a64(bytes.data(), bytes.size()), 0, 0, 128});
  std::string sst = "sst bytes";
  op.shared.push_back({layout::shared_ref("x-000001.sst"), sst.size(), fnv1a64(sst.data(), sst.size()), 0, 0, 0});
  m.operators.push_back(op);
  committer.commit(m);
  CHECK(CheckpointCommitter::load(committer.checkpoint_dir(1)) == m);  // every file verified
  CHECK(committer.shared_references().at("x-000001.sst") == 1);
}

TEST_CASE("an aborted checkpoint refuses writes from any process, and a share in progress is kept", "[storage]") {
  test_support::TempDir dir;
  auto root = dir.path() / "chk";
  CheckpointCommitter committer(root);
  std::ofstream(dir.file("sst")) << "pending";
  committer.discard(2);
  CHECK(in_child([&] {
          try {
            CheckpointWriter(root).write_file(2, "task-0-0", "late");
          } catch (const CheckpointError& e) {
            return std::string(e.what()) == "checkpoint 2 was aborted";
          }
          return false;
        }) == 0);
  CHECK_FALSE(fs::exists(committer.checkpoint_dir(2)));
  // Another process shares a file for checkpoint 4, still pending, while 3 commits without
  // it: the file stays; once 4 is aborted it goes.
  REQUIRE(in_child([&] {
            CheckpointWriter(root).share_file(4, dir.file("sst"), "y-000004.sst");
            return true;
          }) == 0);
  write_checkpoint(committer, 3);
  CHECK(fs::exists(root / "shared" / "y-000004.sst"));
  committer.discard(4);
  CHECK_FALSE(fs::exists(root / "shared" / "y-000004.sst"));
  // Tombstones and dead checkpoints older than the last one given up do not pile up.
  CHECK_FALSE(fs::exists(root / "chk-2.aborted"));
  CHECK(fs::exists(root / "chk-4.aborted"));
}

TEST_CASE("a committed checkpoint loads back exactly, files verified", "[storage]") {
  test_support::TempDir dir;
  CheckpointCommitter s(dir.path() / "checkpoints");
  auto m = write_checkpoint(s, 1);
  auto back = s.load(s.checkpoint_dir(1));
  CHECK(back == m);
  CHECK(s.read_file(1, back.operators[0].files[1]) == "state of subtask 1 at 1");
  REQUIRE(s.latest());
  CHECK(s.latest()->checkpoint_id == 1);
}

TEST_CASE("a corrupt or truncated checkpoint is skipped with a sentence, the previous one used", "[storage]") {
  test_support::TempDir dir;
  CheckpointCommitter s(dir.path());
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
  CheckpointCommitter s(dir.path(), 3);
  for (uint64_t id = 1; id <= 6; ++id) write_checkpoint(s, id);
  CheckpointWriter(s.directory()).write_file(7, "op-00ff-0", "in progress");  // an incomplete, newer checkpoint stays
  CHECK(s.complete_ids() == std::vector<uint64_t>{4, 5, 6});
  CHECK(fs::exists(s.checkpoint_dir(7)));
  CHECK_FALSE(fs::exists(s.checkpoint_dir(1)));
}

TEST_CASE("a checkpoint directory is locked while open", "[storage]") {
  test_support::TempDir dir;
  {
    CheckpointCommitter a(dir.path());
    // flock locks are per open file description: a second open in this process conflicts too.
    CHECK_THROWS_WITH(CheckpointCommitter(dir.path()), Catch::Contains("in use"));
  }
  CHECK_NOTHROW(CheckpointCommitter(dir.path()));
}

// Issue 10, item 5: a declined checkpoint's files stayed, so a full disk stayed full and 101
// chk-N folders piled up.
TEST_CASE("regression 5: an aborted checkpoint's files go, later writes for it are refused, and open sweeps "
          "incomplete ones", "[storage][regression]") {
  test_support::TempDir dir;
  {
    CheckpointCommitter s(dir.path());
    write_checkpoint(s, 1);
    // Checkpoint 2: one subtask wrote its file and shared one; the other declined.
    CheckpointWriter(s.directory()).write_file(2, "op-00ff-0", "half of checkpoint 2");
    auto sst = dir.path() / "local.sst";
    std::ofstream(sst) << "an sst file";
    CheckpointWriter(s.directory()).share_file(2, sst, "a-000002.sst");
    REQUIRE(fs::exists(s.checkpoint_dir(2)));
    REQUIRE(fs::exists(dir.path() / "shared" / "a-000002.sst"));
    s.discard(2);
    CHECK_FALSE(fs::exists(s.checkpoint_dir(2)));
    CHECK_FALSE(fs::exists(dir.path() / "shared" / "a-000002.sst"));
    // The other subtask's write comes late: refused, nothing reappears.
    CHECK_THROWS_WITH(CheckpointWriter(s.directory()).write_file(2, "op-00ff-1", "late"), Catch::Contains("checkpoint 2 was aborted"));
    CHECK_THROWS_WITH(CheckpointWriter(s.directory()).share_file(2, sst, "a-000003.sst"), Catch::Contains("checkpoint 2 was aborted"));
    CHECK_FALSE(fs::exists(s.checkpoint_dir(2)));
    // A complete checkpoint is never discarded.
    s.discard(1);
    CHECK(s.complete_ids() == std::vector<uint64_t>{1});
    CHECK_NOTHROW(s.load(s.checkpoint_dir(1)));
    // A checkpoint that is still being written when the process dies.
    CheckpointWriter(s.directory()).write_file(3, "op-00ff-0", "checkpoint 3, never completed");
  }
  CheckpointCommitter reopened(dir.path());
  CHECK_FALSE(fs::exists(reopened.checkpoint_dir(3)));
  CHECK(reopened.complete_ids() == std::vector<uint64_t>{1});
}

// Issue 10, item 11: an unreadable checkpoint folder gave a raw exception or "missing".
TEST_CASE("regression 11: a checkpoint directory or shared area that cannot be read gets one sentence naming it",
          "[storage][regression]") {
  test_support::TempDir dir;
  std::ofstream(dir.path() / "not-a-dir") << "a file where the checkpoint directory should be";
  CHECK_THROWS_WITH(CheckpointCommitter(dir.path() / "not-a-dir"), Catch::Contains("not-a-dir") && !Catch::Contains("missing"));
  {
    CheckpointCommitter s(dir.path() / "chk");
    write_checkpoint(s, 1);
  }
  std::ofstream(dir.path() / "chk" / "shared") << "a file where the shared area should be";
  CHECK_THROWS_WITH(CheckpointCommitter(dir.path() / "chk"),
                    Catch::Contains("cannot list checkpoint directory") && Catch::Contains("chk/shared") &&
                        Catch::Contains("Not a directory"));
  // A task file that is a directory cannot be read: said so, not "missing".
  fs::remove(dir.path() / "chk" / "shared");
  auto task_file = dir.path() / "chk" / "chk-1" / "op-00ff-0";
  fs::remove(task_file);
  fs::create_directory(task_file);
  try {
    CheckpointCommitter::load(dir.path() / "chk" / "chk-1");
    FAIL("a directory in place of a task file loaded");
  } catch (const CheckpointError& e) {
    CHECK_THAT(e.what(), Catch::Contains("op-00ff-0") && !Catch::Contains("missing"));
  }
}

TEST_CASE("an exported checkpoint restores from its copy alone, shared files included, and never overwrites one",
          "[storage]") {
  test_support::TempDir dir;
  CheckpointMetadata m;
  {
    CheckpointCommitter s(dir.path() / "job");
    m = write_checkpoint(s, 1);
    m.checkpoint_id = 2;
    auto sst = dir.path() / "local.sst";
    std::ofstream(sst) << "an sst file of checkpoint 2";
    m.operators[0].files.clear();
    m.operators[0].files.push_back(CheckpointWriter(s.directory()).write_file(2, "op-00ff-0", "state at 2"));
    m.operators[0].shared.push_back(CheckpointWriter(s.directory()).share_file(2, sst, "a-000002.sst"));
    s.commit(m);
  }
  auto copy = export_checkpoint(dir.path() / "job" / "chk-2", dir.path() / "kept");
  CHECK(copy == dir.path() / "kept" / "savepoint-2");
  CHECK(fs::exists(dir.path() / "kept" / "shared" / "a-000002.sst"));
  fs::remove_all(dir.path() / "job");
  CHECK(CheckpointCommitter::load(copy) == m);
  CHECK_THROWS_WITH(export_checkpoint(copy, dir.path() / "kept"), Catch::Contains("exists already"));
  CHECK_THROWS_WITH(export_checkpoint(dir.path() / "job" / "chk-2", dir.path() / "other"), Catch::Contains("does not exist"));
}
