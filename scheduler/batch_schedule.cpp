// scheduler/batch_schedule.cpp — BATCH stage scheduling: stages from the exchanges, readiness, slots and waves, reruns.
#include "scheduler/batch_schedule.hpp"

#include <algorithm>
#include <stdexcept>

namespace sluice::scheduler {

BatchSchedule::BatchSchedule(const ExecutionPlan& plan, int slots) : plan_(&plan), slots_(slots) {
  if (slots < 1) throw std::invalid_argument("a BATCH job needs at least one slot");
  size_t n = plan.tasks.size();
  producers_.resize(n);
  for (const auto& x : plan.exchanges) {
    auto& p = producers_[size_t(x.target_task)];
    if (std::find(p.begin(), p.end(), x.source_task) == p.end()) p.push_back(x.source_task);
  }
  // Stages: the longest chain of exchanges from a source. Exchanges only point forward in a
  // valid plan's DAG; relaxing n times settles every depth.
  stage_.assign(n, 0);
  for (size_t round = 0; round < n; ++round)
    for (const auto& x : plan.exchanges)
      stage_[size_t(x.target_task)] = std::max(stage_[size_t(x.target_task)], stage_[size_t(x.source_task)] + 1);
  for (const auto& t : plan.tasks) {
    state_.emplace_back(size_t(t.parallelism), State::waiting);
    total_ += uint64_t(t.parallelism);
  }
  finished_of_task_.assign(n, 0);
}

int BatchSchedule::stages() const {
  int s = 0;
  for (int t : stage_) s = std::max(s, t + 1);
  return s;
}

bool BatchSchedule::inputs_complete(int task) const {
  for (int p : producers_[size_t(task)])
    if (finished_of_task_[size_t(p)] < plan_->tasks[size_t(p)].parallelism) return false;
  return true;
}

std::vector<BatchSchedule::Start> BatchSchedule::next() {
  std::vector<Start> out;
  // Lower stages first (they unblock the others), then plan order.
  std::vector<int> order(plan_->tasks.size());
  for (size_t t = 0; t < order.size(); ++t) order[t] = int(t);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return stage_[size_t(a)] < stage_[size_t(b)]; });
  for (int t : order) {
    if (running_ >= slots_) break;
    if (!inputs_complete(t)) continue;
    auto& states = state_[size_t(t)];
    int p = int(states.size());
    for (int s = 0; s < p && running_ < slots_; ++s) {
      if (states[size_t(s)] != State::waiting) continue;
      states[size_t(s)] = State::running;
      ++running_;
      out.push_back({t, s, stage_[size_t(t)], 1 + s / slots_, (p + slots_ - 1) / slots_});
    }
  }
  return out;
}

void BatchSchedule::finished(int task, int subtask) {
  auto& st = state_.at(size_t(task)).at(size_t(subtask));
  if (st != State::running) return;  // a report of an attempt that no longer counts
  st = State::finished;
  --running_;
  ++finished_of_task_[size_t(task)];
  ++finished_subtasks_;
}

bool BatchSchedule::lost(int task, int subtask) {
  auto& st = state_.at(size_t(task)).at(size_t(subtask));
  if (st != State::finished) return false;
  bool needed = false;
  for (size_t t = 0; t < state_.size() && !needed; ++t)
    if (std::find(producers_[t].begin(), producers_[t].end(), task) != producers_[t].end())
      needed = finished_of_task_[t] < int(state_[t].size());
  if (!needed) return false;
  st = State::waiting;
  --finished_of_task_[size_t(task)];
  --finished_subtasks_;
  return true;
}

bool BatchSchedule::requeue(int task, int subtask) {
  auto& st = state_.at(size_t(task)).at(size_t(subtask));
  if (st != State::running || inputs_complete(task)) return false;
  st = State::waiting;
  --running_;
  return true;
}

std::string BatchSchedule::describe(const Start& s) const {
  const auto& t = plan_->tasks[size_t(s.task)];
  return "stage " + std::to_string(s.stage + 1) + ": task '" + t.name + "' subtask " + std::to_string(s.subtask + 1) +
         " of " + std::to_string(t.parallelism) + " (wave " + std::to_string(s.wave) + " of " +
         std::to_string(s.waves) + ")";
}

}  // namespace sluice::scheduler
