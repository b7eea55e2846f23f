// tests/checkpoint/test_coordinator.cpp — the checkpoint coordinator: periodic triggers, acks, declines, timeouts, the running frontier.
#include <catch2/catch.hpp>

#include "checkpoint/coordinator.hpp"

using namespace sluice::checkpoint;
using V = std::vector<int>;

namespace {
// Two sources (0, 1) into a join (2) into a sink (3).
std::vector<SubtaskNode> diamond() { return {{0, {}}, {1, {}}, {2, {0, 1}}, {3, {2}}}; }
}  // namespace

TEST_CASE("checkpoints trigger at the sources every interval and complete on the last ack", "[coordinator]") {
  CheckpointCoordinator c({1000, 60000, 0, 0}, diamond());
  auto a = c.on_time(1000);
  REQUIRE(a.trigger == 1);
  CHECK(a.trigger_at == V{0, 1});
  CHECK_FALSE(c.on_time(1500).trigger);  // one at a time
  for (int t : {3, 0, 2}) CHECK_FALSE(c.on_ack(1, t, 1600).completed);
  a = c.on_ack(1, 1, 1700);
  CHECK(a.completed == 1);
  CHECK(c.last_completed() == 1);
  CHECK_FALSE(c.on_time(2000).trigger);  // its _metadata is still being written
  c.on_committed(1);
  CHECK_FALSE(c.on_time(1900).trigger);  // the interval counts from the last trigger
  CHECK(c.on_time(2000).trigger == 2);
}

TEST_CASE("min pause delays the next trigger after a slow checkpoint", "[coordinator]") {
  CheckpointCoordinator c({100, 60000, 500, 0}, {{0, {}}});
  c.on_time(100);
  c.on_ack(1, 0, 900);
  c.on_committed(1);
  CHECK_FALSE(c.on_time(1000).trigger);
  CHECK(c.on_time(1400).trigger == 2);
}

TEST_CASE("declines and timeouts abort, and more than the tolerable number in a row fails the job", "[coordinator]") {
  CheckpointCoordinator c({100, 1000, 0, 1}, diamond());
  c.on_time(100);
  auto a = c.on_decline(1, 2, "snapshot failed: disk full", 150);
  REQUIRE(a.aborted.size() == 1);
  CHECK_THAT(a.aborted[0].second, Catch::Contains("checkpoint 1 declined: snapshot failed: disk full"));
  CHECK_FALSE(a.fail_job);
  CHECK_FALSE(c.on_ack(1, 0, 160).completed);  // late ack of the aborted one
  a = c.on_time(200);
  REQUIRE(a.trigger == 2);
  a = c.on_time(1300);  // 1100 ms pending: expired; a second failure in a row
  REQUIRE(a.aborted.size() == 1);
  CHECK_THAT(a.aborted[0].second, Catch::Contains("expired"));
  REQUIRE(a.fail_job);
  CHECK_THAT(*a.fail_job, Catch::Contains("too many failed checkpoints"));
}

TEST_CASE("after sources finish, triggers go to the running frontier and finished tasks are not awaited", "[coordinator]") {
  CheckpointCoordinator c({100, 60000, 0, 0}, diamond());
  c.on_task_finished(0, 50);
  CHECK(c.frontier() == V{1});
  c.on_task_finished(1, 60);
  CHECK(c.frontier() == V{2});
  auto a = c.trigger_now(70);  // the final checkpoint, as soon as all data ended
  REQUIRE(a.trigger == 1);
  CHECK(a.trigger_at == V{2});
  c.on_ack(1, 2, 80);
  a = c.on_ack(1, 3, 90);
  CHECK(a.completed == 1);
  c.on_task_finished(2, 95);
  c.on_task_finished(3, 96);
  CHECK(c.frontier().empty());
  CHECK_FALSE(c.on_time(1000).trigger);
}

TEST_CASE("a subtask finishing while a checkpoint waits for it completes the checkpoint", "[coordinator]") {
  CheckpointCoordinator c({100, 60000, 0, 0}, {{0, {}}, {1, {0}}});
  c.on_time(100);
  c.on_ack(1, 0, 110);
  auto a = c.on_task_finished(1, 120);
  CHECK(a.completed == 1);
}

TEST_CASE("a trigger target finishing without passing the barrier on extends the checkpoint to the new frontier",
          "[coordinator]") {
  CheckpointCoordinator c({1000, 60000, 0, 0}, diamond());
  auto a = c.on_time(1000);
  REQUIRE(a.trigger == 1);
  CHECK(a.trigger_at == V{0, 1});
  c.on_ack(1, 0, 1100);
  a = c.on_task_finished(1, 1200);  // source 1 closed before it took the barrier
  CHECK_FALSE(a.completed);
  CHECK(a.extend_to.empty());  // the join still has source 0, which passed the barrier on
  // Source 0 passed the barrier on, but the join, now the frontier, gets the trigger too (its
  // barrier may be behind data the join will never be asked for again).
  CHECK(c.on_task_finished(0, 1300).extend_to == V{2});
  // Both sources finished before either took the barrier.
  CheckpointCoordinator d({1000, 60000, 0, 0}, diamond());
  d.on_time(1000);
  d.on_task_finished(0, 1100);
  a = d.on_task_finished(1, 1200);
  CHECK(a.extend_to == V{2});
  CHECK_FALSE(d.on_task_finished(1, 1250).extend_to.size());  // told once
  d.on_ack(1, 2, 1300);
  a = d.on_ack(1, 3, 1400);
  CHECK(a.completed == 1);
  CHECK(d.finished() == std::set<int>{0, 1});
}

TEST_CASE("checkpoint ids continue from the configured first id (after a restore)", "[coordinator]") {
  CoordinatorConfig cfg{1000, 60000, 0, 0};
  cfg.first_id = 42;
  CheckpointCoordinator c(cfg, {{0, {}}});
  CHECK(c.on_time(1000).trigger == 42);
  c.on_ack(42, 0, 1001);
  c.on_committed(42);
  CHECK(c.on_time(2000).trigger == 43);
}

TEST_CASE("a job failure gives up the pending checkpoint without counting it as a failed one", "[coordinator]") {
  CheckpointCoordinator c({1000, 60000, 0, 0}, diamond());
  CHECK(c.on_job_failure("the job is restarting").aborted.empty());  // nothing pending
  c.on_time(1000);
  auto a = c.on_job_failure("the job is restarting");
  REQUIRE(a.aborted.size() == 1);
  CHECK(a.aborted[0].first == 1);
  CHECK_THAT(a.aborted[0].second, Catch::Contains("checkpoint 1 aborted: the job is restarting"));
  CHECK_FALSE(a.fail_job);  // tolerable failures 0, yet the job is not failed for it
  CHECK_FALSE(c.pending());
}

TEST_CASE("once every input ended, the final checkpoint goes at once and periodic ones stop", "[coordinator]") {
  CoordinatorConfig c;
  c.interval_ms = 100;
  c.tolerable_failures = 2;
  // Source 0 feeds sink 1.
  CheckpointCoordinator co(c, {{0, {}}, {1, {0}}});
  auto a = co.on_time(100);
  REQUIRE(a.trigger == 1);
  co.on_ack(1, 0, 110);
  CHECK(co.on_ack(1, 1, 120).completed == 1);
  co.on_committed(1);

  // The source's input ends after it snapshotted checkpoint 1; the sink's too.
  CHECK_FALSE(co.on_input_ended(0, 1, 130).trigger);
  CHECK_FALSE(co.all_ended());
  a = co.on_input_ended(1, 1, 140);
  REQUIRE(a.trigger == 2);  // at once, not at the next interval
  CHECK(co.is_final(2));
  CHECK_FALSE(co.is_final(1));
  // Aborted (say, it expired): due again, and only it. The interval since its trigger has
  // long passed, so the retry starts with the abort.
  a = co.on_time(140 + c.timeout_ms);
  REQUIRE(a.aborted.size() == 1);
  CHECK_FALSE(a.fail_job);
  REQUIRE(a.trigger == 3);
  CHECK(co.is_final(3));
  co.on_ack(3, 0, 310 + c.timeout_ms);
  CHECK(co.on_ack(3, 1, 320 + c.timeout_ms).completed == 3);
  CHECK_FALSE(co.final_due());
  // Its metadata could not be written: it did not complete, the final one is due again.
  a = co.on_commit_failed(3, "disk full", 330 + c.timeout_ms);
  CHECK(co.last_completed() == 1);
  CHECK(co.final_due());
  CHECK_FALSE(a.fail_job);  // two failures in a row (2 expired, 3 not committed), two tolerated
  a = co.trigger_now(400 + c.timeout_ms);
  REQUIRE(a.trigger == 4);
  a = co.on_decline(4, 1, "no space", 410 + c.timeout_ms);
  CHECK_THAT(*a.fail_job, Catch::Contains("too many failed checkpoints in a row (3"));
}

// Issue 10, item 6: a final checkpoint that keeps failing was retried 5,000-7,000 times a second.
TEST_CASE("regression 6: a failing final checkpoint is retried at the interval and min pause, never in a tight loop",
          "[coordinator][regression]") {
  CoordinatorConfig c;
  c.interval_ms = 1000;
  c.min_pause_ms = 500;
  c.tolerable_failures = 1000;
  CheckpointCoordinator co(c, {{0, {}}, {1, {0}}});
  co.on_input_ended(0, 0, 0);
  auto a = co.on_input_ended(1, 0, 0);
  REQUIRE(a.trigger == 1);  // the first final checkpoint goes at once
  // Every attempt is declined right away (a full disk); time advances a millisecond a step.
  std::vector<int64_t> triggered = {0};
  int64_t pending = 1;
  for (int64_t t = 1; t < 10'000; ++t) {
    if (pending) {
      a = co.on_decline(pending, 1, "no space left on device", t);
      REQUIRE(a.aborted.size() == 1);
      CHECK_FALSE(a.fail_job);
      pending = 0;
      CHECK_FALSE(co.final_now(t));  // what the master asks before triggering at once
      continue;
    }
    a = co.on_time(t);
    if (a.trigger) {
      CHECK(co.is_final(*a.trigger));
      CHECK(t - triggered.back() >= c.interval_ms);
      triggered.push_back(t);
      pending = *a.trigger;
    }
  }
  CHECK(triggered.size() == 10);  // one attempt per interval: 0, 1000, ..., 9000

  // The min pause counts from the end of the failed attempt when it is the longer wait.
  c.interval_ms = 100;
  c.min_pause_ms = 1000;
  CheckpointCoordinator slow(c, {{0, {}}});
  REQUIRE(slow.on_input_ended(0, 0, 0).trigger == 1);
  REQUIRE(slow.on_decline(1, 0, "no space left on device", 900).aborted.size() == 1);
  for (int64_t t = 901; t < 1900; ++t) REQUIRE_FALSE(slow.on_time(t).trigger);
  CHECK(slow.on_time(1900).trigger == 2);
  // A success resets the pacing: a final checkpoint due after one that completed goes at once.
  slow.on_ack(2, 0, 1950);
  slow.on_committed(2);  // its _metadata is written
  CHECK(slow.failures_in_row() == 0);
}

// Found by tests/integration/test_storage_faults.cpp: every checkpoint acknowledged by all
// subtasks reset the count of failures before its `_metadata` was written, so a directory
// where no `_metadata` could ever be written (read-only) never failed the job.
TEST_CASE("checkpoints whose metadata cannot be written count as failures in a row", "[coordinator]") {
  CheckpointCoordinator c({100, 60000, 0, 2}, {{0, {}}});
  std::optional<std::string> failed;
  for (int64_t id = 1; id <= 3; ++id) {
    auto now = 100 * id;
    REQUIRE(c.on_time(now).trigger == id);
    REQUIRE(c.on_ack(id, 0, now + 1).completed == id);
    auto a = c.on_commit_failed(id, "Read-only file system", now + 2);
    CHECK(c.failures_in_row() == id);
    failed = a.fail_job;
  }
  REQUIRE(failed);
  CHECK_THAT(*failed, Catch::Contains("too many failed checkpoints in a row (3, tolerable 2)"));
  // A committed one ends the run of failures.
  REQUIRE(c.on_time(400).trigger == 4);
  c.on_ack(4, 0, 401);
  c.on_committed(4);
  CHECK(c.failures_in_row() == 0);
}

TEST_CASE("restarted subtasks are neither finished nor at their input's end any more", "[coordinator]") {
  // Region one: 0 -> 1; region two: 2 -> 3.
  CheckpointCoordinator c({100, 60000, 0, 0}, {{0, {}}, {1, {0}}, {2, {}}, {3, {2}}});
  c.on_input_ended(0, 0, 10);
  c.on_task_finished(0, 10);
  CHECK(c.frontier() == V{1, 2});
  c.on_input_ended(1, 0, 20);
  c.on_input_ended(2, 0, 20);
  c.on_input_ended(3, 0, 20);
  CHECK(c.all_ended());
  c.on_job_failure("a pipelined region is restarting");
  c.restart({0, 1});
  CHECK_FALSE(c.all_ended());
  CHECK(c.finished().empty());
  CHECK(c.frontier() == V{0, 2});
  auto a = c.on_time(200);
  REQUIRE(a.trigger);
  CHECK(a.trigger_at == V{0, 2});
}
