// tests/scheduler/test_batch_schedule.cpp — BATCH stage scheduling: no stage starts before its inputs are complete, waves within the slots, late reports ignored.
#include <catch2/catch.hpp>

#include "scheduler/batch_schedule.hpp"

#include <algorithm>
#include <set>

using namespace sluice;
using namespace sluice::scheduler;

namespace {
/// Tasks of the given parallelisms, joined by all-to-all exchanges (source, target).
ExecutionPlan plan_of(const std::vector<int>& parallelism, const std::vector<std::pair<int, int>>& edges) {
  ExecutionPlan p;
  for (size_t t = 0; t < parallelism.size(); ++t) {
    Task task;
    task.id = int(t);
    task.parallelism = parallelism[t];
    task.name = "t" + std::to_string(t);
    task.nodes = {int(t)};
    p.tasks.push_back(task);
  }
  int e = 0;
  for (auto [from, to] : edges) {
    Exchange x;
    x.edge = e++;
    x.source_task = from;
    x.target_task = to;
    x.partitioning = Partitioning::hash;
    x.producers = parallelism[size_t(from)];
    x.consumers = parallelism[size_t(to)];
    p.exchanges.push_back(x);
  }
  return p;
}
}  // namespace

TEST_CASE("a three-stage job of parallelism 8 runs on 2 slots in waves, stage after stage", "[batch-schedule]") {
  auto plan = plan_of({8, 8, 8}, {{0, 1}, {1, 2}});
  BatchSchedule s(plan, 2);
  CHECK(s.stages() == 3);
  std::vector<BatchSchedule::Start> log;
  std::set<int> finished_tasks;
  std::vector<int> finished_of(3, 0);
  for (int round = 0; round < 100 && !s.done(); ++round) {
    auto starts = s.next();
    REQUIRE_FALSE(starts.empty());
    REQUIRE(s.running() <= 2);
    for (const auto& st : starts) {
      // Every producer of its task finished all of its subtasks before it started.
      for (int t = 0; t < st.task; ++t) REQUIRE(finished_of[size_t(t)] == 8);
      log.push_back(st);
    }
    // The lowest-numbered running subtask finishes first.
    const auto& first = starts.front();
    s.finished(first.task, first.subtask);
    ++finished_of[size_t(first.task)];
    if (starts.size() > 1) {
      s.finished(starts[1].task, starts[1].subtask);
      ++finished_of[size_t(starts[1].task)];
    }
  }
  CHECK(s.done());
  REQUIRE(log.size() == 24);
  CHECK(log[0].wave == 1);
  CHECK(log[0].waves == 4);
  CHECK(log[7].wave == 4);
  CHECK(s.describe(log[9]) == "stage 2: task 't1' subtask 2 of 8 (wave 1 of 4)");
}

TEST_CASE("a task with two inputs waits for both, and free slots run ready tasks side by side", "[batch-schedule]") {
  // 0 -> 2 <- 1, 2 -> 3; task 1 is slow.
  auto plan = plan_of({2, 1, 2, 1}, {{0, 2}, {1, 2}, {2, 3}});
  BatchSchedule s(plan, 8);
  auto first = s.next();
  CHECK(first.size() == 3);  // both sources at once: the slots allow it
  s.finished(0, 0);
  s.finished(0, 1);
  CHECK(s.next().empty());  // task 2 still waits for task 1
  s.finished(1, 0);
  auto second = s.next();
  REQUIRE(second.size() == 2);
  CHECK(second[0].task == 2);
  CHECK(second[0].stage == 1);
  s.finished(2, 0);
  CHECK(s.next().empty());  // task 3 needs both subtasks of task 2
  s.finished(2, 1);
  auto third = s.next();
  REQUIRE(third.size() == 1);
  CHECK(third[0].stage == 2);
  s.finished(3, 0);
  CHECK(s.done());
}

TEST_CASE("a late report of a subtask that is not running changes nothing", "[batch-schedule]") {
  auto plan = plan_of({2, 4}, {{0, 1}});
  BatchSchedule s(plan, 8);
  for (const auto& st : s.next()) s.finished(st.task, st.subtask);
  REQUIRE(s.next().size() == 4);
  s.finished(1, 0);
  s.finished(1, 0);  // again
  CHECK(s.running() == 3);
  CHECK(s.next().empty());
}

TEST_CASE("a BATCH schedule needs a slot", "[batch-schedule]") {
  auto plan = plan_of({1}, {});
  CHECK_THROWS_WITH(BatchSchedule(plan, 0), Catch::Contains("at least one slot"));
}

// Issue 15 on a cluster: a lost agent's partition files are written again before they are read.
TEST_CASE("a lost producer's file makes it run again while its consumers wait, and a file no one reads is not rerun",
          "[batch-schedule]") {
  auto plan = plan_of({2, 2, 1}, {{0, 1}, {1, 2}});
  BatchSchedule s(plan, 2);
  auto start = [&s] {
    std::vector<std::pair<int, int>> out;
    for (const auto& st : s.next()) out.emplace_back(st.task, st.subtask);
    return out;
  };
  CHECK(start() == std::vector<std::pair<int, int>>{{0, 0}, {0, 1}});
  s.finished(0, 0);
  s.finished(0, 1);
  CHECK(start() == std::vector<std::pair<int, int>>{{1, 0}, {1, 1}});
  // Task 0 subtask 1's file is lost while task 1 runs: subtask 1 of task 1 fails reading it and
  // gives back its slot; subtask 0 of task 0 is still there and runs no more.
  CHECK(s.lost(0, 1));
  CHECK_FALSE(s.lost(0, 1));  // waiting already
  CHECK(s.requeue(1, 1));
  CHECK(s.running() == 1);
  CHECK(start() == std::vector<std::pair<int, int>>{{0, 1}});  // the producer first, in the freed slot
  CHECK(start().empty());                                     // the consumer waits for it
  s.finished(0, 1);
  CHECK(start() == std::vector<std::pair<int, int>>{{1, 1}});
  CHECK_FALSE(s.requeue(1, 0));  // its inputs are complete: it would rerun in its slot
  s.finished(1, 0);
  s.finished(1, 1);
  CHECK(start() == std::vector<std::pair<int, int>>{{2, 0}});
  // Task 1 is complete: losing task 0's files costs nothing now, losing task 1's reruns it.
  CHECK_FALSE(s.lost(0, 0));
  CHECK(s.lost(1, 0));
  CHECK(s.requeue(2, 0));
  CHECK(start() == std::vector<std::pair<int, int>>{{1, 0}});
  s.finished(1, 0);
  CHECK(start() == std::vector<std::pair<int, int>>{{2, 0}});
  s.finished(2, 0);
  CHECK(s.done());
}
