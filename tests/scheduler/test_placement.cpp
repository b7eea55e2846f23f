// tests/scheduler/test_placement.cpp — slot sharing, an even spread over agents, and the sentence when slots are short.
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "scheduler/placement.hpp"

using namespace sluice;
using scheduler::AgentSlots;
using scheduler::Placement;

namespace {
scheduler::ExecutionPlan plan_of(std::vector<int> parallelism) {
  scheduler::ExecutionPlan p;
  for (size_t i = 0; i < parallelism.size(); ++i) {
    scheduler::Task t;
    t.id = int(i);
    t.parallelism = parallelism[i];
    p.tasks.push_back(t);
  }
  return p;
}
}  // namespace

TEST_CASE("subtask i of every task shares slot i, so a job needs its highest parallelism in slots", "[placement]") {
  auto plan = plan_of({2, 4, 1});
  CHECK(scheduler::slots_needed(plan) == 4);
  auto placed = scheduler::place(plan, {{"a", 2}, {"b", 2}, {"c", 2}}, "q5");
  REQUIRE(std::holds_alternative<Placement>(placed));
  const auto& p = std::get<Placement>(placed);
  REQUIRE(p.subtasks.size() == 7);
  auto offsets = plan.subtask_offsets();
  for (size_t t = 0; t < plan.tasks.size(); ++t)
    for (int s = 0; s < plan.tasks[t].parallelism; ++s)
      CHECK(p.subtasks[offsets[t] + size_t(s)] == p.subtasks[offsets[1] + size_t(s)]);  // task 1 has every slot
  std::set<std::pair<std::string, int>> distinct;
  for (const auto& s : p.subtasks) distinct.insert({s.agent, s.slot});
  CHECK(distinct.size() == 4);
  CHECK(p.agents().size() == 7);
}

TEST_CASE("slots are spread evenly: the agent with the most free slots gives the next one", "[placement]") {
  auto plan = plan_of({4, 4});
  SECTION("three agents of two slots give 2, 1 and 1") {
    auto p = std::get<Placement>(scheduler::place(plan, {{"a", 2}, {"b", 2}, {"c", 2}}, "job"));
    CHECK(p.taken == std::vector<std::pair<std::string, int>>{{"a", 2}, {"b", 1}, {"c", 1}});
    CHECK(p.subtasks[0] == scheduler::SlotRef{"a", 0});
    CHECK(p.subtasks[1] == scheduler::SlotRef{"b", 0});
    CHECK(p.subtasks[2] == scheduler::SlotRef{"c", 0});
    CHECK(p.subtasks[3] == scheduler::SlotRef{"a", 1});
  }
  SECTION("an agent with more free slots takes more, never beyond what it offers") {
    auto p = std::get<Placement>(scheduler::place(plan, {{"small", 1}, {"big", 8}}, "job"));
    CHECK(p.taken == std::vector<std::pair<std::string, int>>{{"big", 4}});
    p = std::get<Placement>(scheduler::place(plan_of({9}), {{"small", 1}, {"big", 8}}, "job"));
    CHECK(p.taken == std::vector<std::pair<std::string, int>>{{"small", 1}, {"big", 8}});
  }
  SECTION("agents without free slots take nothing") {
    auto p = std::get<Placement>(scheduler::place(plan, {{"full", 0}, {"a", 4}, {"broken", -3}}, "job"));
    CHECK(p.taken == std::vector<std::pair<std::string, int>>{{"a", 4}});
  }
}

TEST_CASE("too few free slots is one sentence with what the job needed and what was free", "[placement]") {
  auto placed = scheduler::place(plan_of({2, 4}), {{"a", 2}, {"b", 1}}, "q5");
  REQUIRE(std::holds_alternative<std::string>(placed));
  CHECK(std::get<std::string>(placed) == "job 'q5' needs 4 slots (its highest parallelism) but 3 are free on 2 agents");
  CHECK(std::get<std::string>(scheduler::place(plan_of({1}), {}, "one")) ==
        "job 'one' needs 1 slot (its highest parallelism) but 0 are free on 0 agents");
}

TEST_CASE("one local agent with as many slots as needed places the whole job in this process", "[placement]") {
  auto plan = plan_of({3, 1, 2});
  auto p = std::get<Placement>(scheduler::place(plan, {{"", scheduler::slots_needed(plan)}}, "embedded"));
  for (const auto& agent : p.agents()) CHECK(agent.empty());
  CHECK(p.taken == std::vector<std::pair<std::string, int>>{{"", 3}});
}

TEST_CASE("a pipelined region is placed alone: its highest parallelism in slots, no agent for the other tasks",
          "[placement]") {
  auto plan = plan_of({2, 2, 3, 1});
  CHECK(scheduler::slots_needed(plan, {0, 1}) == 2);
  CHECK(scheduler::slots_needed(plan, {2, 3}) == 3);
  auto placed = scheduler::place(plan, {{"a", 1}, {"b", 1}}, "two", {0, 1});
  REQUIRE(std::holds_alternative<Placement>(placed));
  auto agents = std::get<Placement>(placed).agents();
  CHECK(agents == std::vector<std::string>{"a", "b", "a", "b", "", "", "", ""});
  auto short_of = scheduler::place(plan, {{"a", 1}, {"b", 1}}, "two", {2, 3});
  REQUIRE(std::holds_alternative<std::string>(short_of));
  CHECK(std::get<std::string>(short_of) ==
        "job 'two' needs 3 slots (the highest parallelism of its pipelined region) but 2 are free on 2 agents");
}

// Issue 15: BATCH places each subtask alone when its stage comes.
TEST_CASE("BATCH places one subtask in a slot of the agent with the most free, and says so when none is free",
          "[placement][batch]") {
  auto plan = plan_of({2, 3});
  auto p = std::get<Placement>(scheduler::place_subtask(plan, {{"a", 1}, {"b", 2}, {"c", 2}}, "job", 3));
  CHECK(p.taken == std::vector<std::pair<std::string, int>>{{"b", 1}});
  REQUIRE(p.subtasks.size() == 5);
  for (size_t i = 0; i < p.subtasks.size(); ++i)
    CHECK(p.subtasks[i] == (i == 3 ? scheduler::SlotRef{"b", 0} : scheduler::SlotRef{}));
  auto none = scheduler::place_subtask(plan, {{"a", 0}, {"b", -1}}, "job", 0);
  REQUIRE(std::holds_alternative<std::string>(none));
  CHECK(std::get<std::string>(none) == "job 'job' needs a free slot for its next subtask but none is free on 2 agents");
}
