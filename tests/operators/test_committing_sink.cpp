// tests/operators/test_committing_sink.cpp — the committing file sink shows data only when its checkpoint completes, once, across restores and rescaling.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <fstream>
#include <memory>

#include <sluice/sluice.hpp>
#include <sluice/testing/harness.hpp>

#include "support/temp_dir.hpp"

using namespace sluice;
using sluice::testing::SinkHarness;

namespace {

namespace fs = std::filesystem;

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

/// Names of the files directly in `dir` (none when it does not exist).
std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  if (!fs::exists(dir)) return names;
  for (auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) names.push_back(e.path().filename().string());
  return sorted(names);
}

struct Fixture {
  test_support::TempDir tmp;
  std::string dir = tmp.file("out");
  CommittingFileSink<std::string> sink{dir};
  std::vector<std::string> committed() const { return sorted(read_committed_lines(dir)); }
  std::vector<std::string> in_progress() const { return names_in(fs::path(dir) / ".in-progress"); }
  std::vector<std::string> parts() const { return names_in(dir); }
};

}  // namespace

TEST_CASE("committing sink: nothing is visible before its checkpoint completes", "[committing_sink]") {
  Fixture f;
  SinkHarness<std::string> h(f.sink);
  h.write("a");
  h.write("b");
  h.flush();
  CHECK(f.in_progress().size() == 1);
  h.snapshot(1);
  CHECK(f.committed().empty());
  h.write("c");  // after the barrier: belongs to checkpoint 2
  h.flush();
  CHECK(f.committed().empty());

  h.notify_checkpoint_complete(1);
  CHECK(f.committed() == std::vector<std::string>{"a", "b"});
  CHECK(f.parts() == std::vector<std::string>{"part-0-1"});
  CHECK(f.in_progress().size() == 1);  // c's transaction

  h.snapshot(2);
  h.notify_checkpoint_complete(2);
  CHECK(f.committed() == std::vector<std::string>{"a", "b", "c"});
  CHECK(f.parts() == std::vector<std::string>{"part-0-1", "part-0-2"});
  CHECK(f.in_progress().empty());
}

TEST_CASE("committing sink: lines are formatted as the file sink formats them", "[committing_sink]") {
  test_support::TempDir tmp;
  CommittingFileSink<std::pair<std::string, int>> sink(tmp.file("out"));
  CHECK(sink.name() == "Committing File Sink (" + tmp.file("out") + ")");
  SinkHarness<std::pair<std::string, int>> h(sink);
  h.write({"x", 1});
  h.snapshot(1);
  h.notify_checkpoint_complete(1);
  std::string expected;
  format_to(expected, std::pair<std::string, int>{"x", 1});
  CHECK(read_committed_lines(tmp.file("out")) == std::vector<std::string>{expected});
}

TEST_CASE("committing sink: an empty transaction creates no file", "[committing_sink]") {
  Fixture f;
  SinkHarness<std::string> h(f.sink);
  auto state = h.snapshot(1);
  h.notify_checkpoint_complete(1);
  CHECK(!fs::exists(f.dir));
  // Its state holds no pending transaction: a restore from it commits nothing.
  SinkHarness<std::string> r(f.sink);
  r.restore({state});
  r.open();
  CHECK(f.committed().empty());
}

TEST_CASE("committing sink: a pending transaction of an aborted checkpoint commits with the next one",
          "[committing_sink]") {
  Fixture f;
  SinkHarness<std::string> h(f.sink);
  h.write("a");
  h.snapshot(1);  // checkpoint 1 never completes
  h.write("b");
  h.snapshot(2);
  h.notify_checkpoint_complete(2);
  CHECK(f.committed() == std::vector<std::string>{"a", "b"});
  CHECK(f.parts() == std::vector<std::string>{"part-0-1", "part-0-2"});
}

TEST_CASE("committing sink: a repeated notification commits nothing twice", "[committing_sink]") {
  Fixture f;
  SinkHarness<std::string> h(f.sink);
  h.write("a");
  h.snapshot(1);
  h.write("b");
  h.snapshot(2);
  h.notify_checkpoint_complete(1);
  h.notify_checkpoint_complete(1);
  CHECK(f.committed() == std::vector<std::string>{"a"});  // checkpoint 2 is still pending
  h.notify_checkpoint_complete(2);
  h.notify_checkpoint_complete(2);
  h.notify_checkpoint_complete(1);
  CHECK(f.committed() == std::vector<std::string>{"a", "b"});
}

TEST_CASE("committing sink: a restore after a crash commits the checkpoint's data exactly once",
          "[committing_sink]") {
  Fixture f;
  std::string state2;
  {
    SinkHarness<std::string> h(f.sink);
    h.write("a");
    h.write("b");
    h.snapshot(1);
    h.notify_checkpoint_complete(1);
    h.write("c");
    h.write("d");
    state2 = h.snapshot(2);
    h.write("e");  // after checkpoint 2: replayed after the restore
    h.flush();
    // Crash: checkpoint 2 completed, but its notification never arrived; no close().
  }
  CHECK(f.committed() == std::vector<std::string>{"a", "b"});
  CHECK(f.in_progress().size() == 2);  // c,d pre-committed; e from the failed attempt

  {
    SinkHarness<std::string> h(f.sink);
    h.restore({state2});
    h.open();
    CHECK(f.committed() == std::vector<std::string>{"a", "b", "c", "d"});
    CHECK(f.in_progress().empty());
    h.write("e");  // the replay
    h.snapshot(3);
    h.notify_checkpoint_complete(3);
  }
  CHECK(f.committed() == std::vector<std::string>{"a", "b", "c", "d", "e"});

  SECTION("restoring from the same checkpoint again commits nothing twice") {
    SinkHarness<std::string> h(f.sink);
    h.restore({state2});
    h.open();
    CHECK(f.committed() == std::vector<std::string>{"a", "b", "c", "d", "e"});
  }
}

TEST_CASE("committing sink: transactions of restarted writers never share a file name", "[committing_sink]") {
  Fixture f;
  SinkHarness<std::string> one(f.sink), two(f.sink);
  one.write("a");
  one.flush();
  two.write("b");
  two.flush();
  CHECK(f.in_progress().size() == 2);
}

TEST_CASE("committing sink: rescaling from 4 to 2 commits every old pending transaction", "[committing_sink]") {
  Fixture f;
  std::vector<std::string> states;
  for (int i = 0; i < 4; ++i) {
    SinkHarness<std::string> h(f.sink, i, 4);
    h.write("s" + std::to_string(i));
    states.push_back(h.snapshot(5));
    h.write("late" + std::to_string(i));
    h.flush();
  }
  CHECK(f.committed().empty());
  CHECK(f.in_progress().size() == 8);

  SinkHarness<std::string> first(f.sink, 0, 2);
  first.restore(states);
  first.open();
  // Subtask 0 of 2 takes old subtasks 0 and 2 only, and leaves the files of 1 and 3 alone.
  CHECK(f.committed() == std::vector<std::string>{"s0", "s2"});
  CHECK(f.in_progress().size() == 4);

  SinkHarness<std::string> second(f.sink, 1, 2);
  second.restore(states);
  second.open();
  CHECK(f.committed() == std::vector<std::string>{"s0", "s1", "s2", "s3"});
  CHECK(f.in_progress().empty());

  first.write("n0");
  second.write("n1");
  first.snapshot(6);
  second.snapshot(6);
  first.notify_checkpoint_complete(6);
  second.notify_checkpoint_complete(6);
  CHECK(f.committed() == std::vector<std::string>{"n0", "n1", "s0", "s1", "s2", "s3"});
  CHECK(f.parts() ==
        std::vector<std::string>{"part-0-5", "part-0-6", "part-1-5", "part-1-6", "part-2-5", "part-3-5"});
}

TEST_CASE("committing sink: without checkpoints, close commits what was written", "[committing_sink]") {
  Fixture f;
  SinkHarness<std::string> h(f.sink, 0, 1, /*checkpointing=*/false);
  h.write("a");
  h.write("b");
  h.end_input();
  CHECK(f.committed().empty());
  h.close();
  CHECK(f.committed() == std::vector<std::string>{"a", "b"});
  CHECK(f.parts() == std::vector<std::string>{"part-0-0"});
  CHECK(f.in_progress().empty());
}

TEST_CASE("committing sink: without checkpoints, an empty output writes no file", "[committing_sink]") {
  Fixture f;
  SinkHarness<std::string> h(f.sink, 0, 1, /*checkpointing=*/false);
  h.end_input();
  h.close();
  CHECK(!fs::exists(f.dir));
}

TEST_CASE("committing sink: with checkpoints, close drops what no checkpoint pre-committed", "[committing_sink]") {
  Fixture f;
  std::string state1;
  {
    SinkHarness<std::string> h(f.sink);
    h.write("a");
    state1 = h.snapshot(1);
    h.notify_checkpoint_complete(1);
    h.write("b");  // a canceled job: no final checkpoint
    h.end_input();
    h.close();
  }
  CHECK(f.committed() == std::vector<std::string>{"a"});
  CHECK(f.in_progress().size() == 1);

  SinkHarness<std::string> h(f.sink);
  h.restore({state1});
  h.open();
  CHECK(f.committed() == std::vector<std::string>{"a"});
  CHECK(f.in_progress().empty());
}

TEST_CASE("committing sink: the final checkpoint commits what came before end of input", "[committing_sink]") {
  Fixture f;
  SinkHarness<std::string> h(f.sink);
  h.write("a");
  h.end_input();
  h.snapshot(7);
  h.notify_checkpoint_complete(7);
  h.close();
  CHECK(f.committed() == std::vector<std::string>{"a"});
  CHECK(f.in_progress().empty());
}

TEST_CASE("committing sink: a pending file that is gone and was never committed is an error naming it",
          "[committing_sink]") {
  Fixture f;
  std::string state;
  {
    SinkHarness<std::string> h(f.sink);
    h.write("a");
    state = h.snapshot(1);
  }
  REQUIRE(f.in_progress().size() == 1);
  auto lost = f.dir + "/.in-progress/" + f.in_progress()[0];
  fs::remove(lost);
  SinkHarness<std::string> h(f.sink);
  h.restore({state});
  CHECK_THROWS_WITH(h.open(), Catch::Contains(lost) && Catch::Contains("missing"));
}

TEST_CASE("committing sink: a committed file of the same name is never overwritten", "[committing_sink]") {
  Fixture f;
  SinkHarness<std::string> h(f.sink);
  h.write("a");
  h.snapshot(1);
  std::ofstream(f.dir + "/part-0-1") << "earlier\n";
  CHECK_THROWS_WITH(h.notify_checkpoint_complete(1),
                    Catch::Contains(f.dir + "/part-0-1") && Catch::Contains("already exists"));
  CHECK(f.committed() == std::vector<std::string>{"earlier"});
}

TEST_CASE("committing sink: a malformed state fails the restore with a clear sentence", "[committing_sink]") {
  Fixture f;
  SinkHarness<std::string> h(f.sink, 1, 2);
  CHECK_THROWS_WITH(h.restore({"", "\xff\xff"}), Catch::Contains("old subtask 1") && Catch::Contains("malformed"));
}

TEST_CASE("read_committed_lines: part files in natural order, in-progress files left out", "[committing_sink]") {
  test_support::TempDir tmp;
  auto dir = tmp.file("out");
  CHECK(read_committed_lines(dir).empty());
  fs::create_directories(dir + "/.in-progress");
  std::ofstream(dir + "/part-0-10") << "ten\n";
  std::ofstream(dir + "/part-0-2") << "two\r\ntwo more\n";
  std::ofstream(dir + "/part-1-1") << "one";
  std::ofstream(dir + "/.in-progress/part-0-abc-0") << "hidden\n";
  std::ofstream(dir + "/notes.txt") << "not a part\n";
  CHECK(read_committed_lines(dir) == std::vector<std::string>{"two", "two more", "ten", "one"});
}

// Issue 10, item 1: a restore rolls the output back to exactly the restored checkpoint's
// history, and forward again when a later restore picks a checkpoint of the first history.
TEST_CASE("regression 1: committing sink restores hold exactly the restored checkpoint's history", "[committing_sink][regression]") {
  Fixture f;
  std::map<int64_t, std::string> states;
  auto commit = [&](SinkHarness<std::string>& h, int64_t id, const std::string& line) {
    h.write(line);
    states[id] = h.snapshot(id);
    h.notify_checkpoint_complete(id);
  };
  {  // the first history: checkpoints 1 to 4
    SinkHarness<std::string> h(f.sink);
    for (int64_t id = 1; id <= 4; ++id) commit(h, id, "first " + std::to_string(id));
  }
  CHECK(f.committed() == std::vector<std::string>{"first 1", "first 2", "first 3", "first 4"});
  {  // restored from 2: 3 and 4 set aside; then checkpoint 5 in a second history
    SinkHarness<std::string> h(f.sink);
    h.restore({states[2]}, 2);
    h.open();
    CHECK(f.committed() == std::vector<std::string>{"first 1", "first 2"});
    CHECK(names_in(fs::path(f.dir) / ".rolled-back") == std::vector<std::string>{"part-0-3", "part-0-4"});
    commit(h, 5, "second 5");
  }
  CHECK(f.committed() == std::vector<std::string>{"first 1", "first 2", "second 5"});
  {  // restored from 4, of the first history: 3 and 4 come back, 5 goes aside
    SinkHarness<std::string> h(f.sink);
    h.restore({states[4]}, 4);
    h.open();
    CHECK(f.committed() == std::vector<std::string>{"first 1", "first 2", "first 3", "first 4"});
    CHECK(names_in(fs::path(f.dir) / ".rolled-back") == std::vector<std::string>{"part-0-5"});
  }
  {  // restored from 5, of the second history: 1, 2 and 5
    SinkHarness<std::string> h(f.sink);
    h.restore({states[5]}, 5);
    h.open();
    CHECK(f.committed() == std::vector<std::string>{"first 1", "first 2", "second 5"});
  }
  {  // recovered with no usable checkpoint: nothing committed stays
    SinkHarness<std::string> h(f.sink);
    h.recover_from_scratch();
    h.open();
    CHECK(f.committed().empty());
    CHECK(names_in(fs::path(f.dir) / ".rolled-back").size() == 5);
  }
}

// Found by the randomized recovery suite: checkpoint 3 completed but the process died before
// its rename; a restore of checkpoint 2 cleared 3's pre-committed file, so a later restore of
// checkpoint 3 could not commit it.
TEST_CASE("regression 1: a restore of an older checkpoint keeps what a newer one pre-committed for its own restore",
          "[committing_sink][regression]") {
  Fixture f;
  std::string state2, state3;
  {
    SinkHarness<std::string> h(f.sink);
    h.write("a");
    state2 = h.snapshot(2);
    h.notify_checkpoint_complete(2);
    h.write("b");
    state3 = h.snapshot(3);
    // Checkpoint 3 completes, but the process dies before the notification.
  }
  {
    SinkHarness<std::string> h(f.sink);
    h.restore({state2}, 2);
    h.open();
    CHECK(f.committed() == std::vector<std::string>{"a"});
    CHECK(f.in_progress().empty());
  }
  SinkHarness<std::string> h(f.sink);
  h.restore({state3}, 3);
  h.open();
  CHECK(f.committed() == std::vector<std::string>{"a", "b"});
}
