// scheduler/placement.hpp — where each subtask runs: slots with slot sharing, spread evenly over agents (a pure function of the plan and the free slots).
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "scheduler/plan.hpp"

namespace sluice::scheduler {

/// Free slots an agent offers. The embedded executor is one agent named "" (this process)
/// with as many slots as the job needs.
struct AgentSlots {
  std::string agent;
  int free = 0;
  bool operator==(const AgentSlots&) const = default;
};

/// A slot of one agent: what a subtask is placed in.
struct SlotRef {
  std::string agent;
  int slot = 0;  ///< 0-based among the slots this placement takes from that agent
  bool operator==(const SlotRef&) const = default;
};

/// Every subtask's slot, by flat index (ExecutionPlan::subtask_offsets); subtasks of tasks
/// left out of the placement have no agent ("").
struct Placement {
  std::vector<SlotRef> subtasks;
  /// Slots taken from each agent, in the order of the agents given.
  std::vector<std::pair<std::string, int>> taken;
  /// The agent of every subtask by flat index: a deployment's `peers`.
  std::vector<std::string> agents() const;
};

/// Slots a job needs under slot sharing: one subtask of each task per slot (Flink's default
/// slot sharing group), so as many as its highest parallelism.
int slots_needed(const ExecutionPlan& plan, const std::vector<int>& tasks = {});

/// Places subtask i of every task in shared slot i, and takes those slots from the agents
/// evenly: each next slot from the agent with the most free slots left (ties: the agent
/// given first). Slots are taken only when all fit; otherwise the sentence says how many the
/// job needed and how many were free, on how many agents. `tasks` (empty: all) places only
/// those tasks: one pipelined region that restarts.
std::variant<Placement, std::string> place(const ExecutionPlan& plan, const std::vector<AgentSlots>& agents,
                                           const std::string& job_name, const std::vector<int>& tasks = {});

/// BATCH: places the one subtask of flat index `index` (each is deployed alone, when the stage
/// schedule says) in a slot of the agent with the most free slots (ties: the agent given first).
std::variant<Placement, std::string> place_subtask(const ExecutionPlan& plan, const std::vector<AgentSlots>& agents,
                                                   const std::string& job_name, int index);

}  // namespace sluice::scheduler
