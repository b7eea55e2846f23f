// scheduler/placement.cpp — slot sharing and an even spread of slots over agents.
#include "scheduler/placement.hpp"

#include <algorithm>

namespace sluice::scheduler {

std::vector<std::string> Placement::agents() const {
  std::vector<std::string> out;
  out.reserve(subtasks.size());
  for (const auto& s : subtasks) out.push_back(s.agent);
  return out;
}

namespace {
bool included(const std::vector<int>& tasks, int task) {
  return tasks.empty() || std::find(tasks.begin(), tasks.end(), task) != tasks.end();
}
}  // namespace

int slots_needed(const ExecutionPlan& plan, const std::vector<int>& tasks) {
  int n = 0;
  for (const auto& t : plan.tasks)
    if (included(tasks, t.id)) n = std::max(n, t.parallelism);
  return n;
}

std::variant<Placement, std::string> place(const ExecutionPlan& plan, const std::vector<AgentSlots>& agents,
                                           const std::string& job_name, const std::vector<int>& tasks) {
  int needed = slots_needed(plan, tasks);
  int free = 0;
  for (const auto& a : agents) free += std::max(0, a.free);
  if (free < needed)
    return "job '" + job_name + "' needs " + std::to_string(needed) + " slot" + (needed == 1 ? "" : "s") +
           (tasks.empty() ? " (its highest parallelism)" : " (the highest parallelism of its pipelined region)") +
           " but " + std::to_string(free) + " " + (free == 1 ? "is" : "are") + " free on " +
           std::to_string(agents.size()) + " agent" + (agents.size() == 1 ? "" : "s");

  // Shared slot k: the agent with the most free slots left, the first given on a tie.
  std::vector<int> left;
  for (const auto& a : agents) left.push_back(std::max(0, a.free));
  std::vector<int> taken(agents.size(), 0);
  std::vector<SlotRef> slots;
  for (int k = 0; k < needed; ++k) {
    size_t best = 0;
    for (size_t i = 1; i < agents.size(); ++i)
      if (left[i] > left[best]) best = i;
    slots.push_back({agents[best].agent, taken[best]++});
    --left[best];
  }

  Placement p;
  for (const auto& t : plan.tasks)
    for (int s = 0; s < t.parallelism; ++s) p.subtasks.push_back(included(tasks, t.id) ? slots[size_t(s)] : SlotRef{});
  for (size_t i = 0; i < agents.size(); ++i)
    if (taken[i] > 0) p.taken.emplace_back(agents[i].agent, taken[i]);
  return p;
}

std::variant<Placement, std::string> place_subtask(const ExecutionPlan& plan, const std::vector<AgentSlots>& agents,
                                                   const std::string& job_name, int index) {
  size_t best = agents.size();
  for (size_t i = 0; i < agents.size(); ++i)
    if (agents[i].free > 0 && (best == agents.size() || agents[i].free > agents[best].free)) best = i;
  if (best == agents.size())
    return "job '" + job_name + "' needs a free slot for its next subtask but none is free on " +
           std::to_string(agents.size()) + " agent" + (agents.size() == 1 ? "" : "s");
  Placement p;
  p.subtasks.resize(plan.subtask_count());
  p.subtasks.at(size_t(index)) = {agents[best].agent, 0};
  p.taken.emplace_back(agents[best].agent, 1);
  return p;
}

}  // namespace sluice::scheduler
