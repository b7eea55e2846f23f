// checkpoint/coordinator.cpp — the checkpoint coordinator's decisions.
#include "coordinator.hpp"

#include <algorithm>

namespace sluice::checkpoint {

CheckpointCoordinator::CheckpointCoordinator(CoordinatorConfig config, std::vector<SubtaskNode> subtasks)
    : config_(config), subtasks_(std::move(subtasks)), next_id_(config.first_id) {
  // Counts of unfinished inputs keep frontier() linear in the tasks: an all-to-all exchange
  // gives every subtask p inputs, and frontier() runs whenever a subtask finishes.
  for (size_t i = 0; i < subtasks_.size(); ++i) index_[subtasks_[i].id] = i;
  consumers_.resize(subtasks_.size());
  open_inputs_.resize(subtasks_.size());
  for (size_t i = 0; i < subtasks_.size(); ++i)
    for (int in : subtasks_[i].inputs) {
      ++open_inputs_[i];
      if (auto it = index_.find(in); it != index_.end()) consumers_[it->second].push_back(i);
    }
}

std::vector<int> CheckpointCoordinator::frontier() const {
  std::vector<int> out;
  for (size_t i = 0; i < subtasks_.size(); ++i)
    if (open_inputs_[i] == 0 && !finished_.count(subtasks_[i].id)) out.push_back(subtasks_[i].id);
  return out;
}

CoordinatorActions CheckpointCoordinator::on_time(int64_t now_ms) {
  CoordinatorActions out;
  if (pending_ && now_ms - pending_since_ >= config_.timeout_ms) {
    fail_pending("checkpoint " + std::to_string(*pending_) + " expired after " +
                     std::to_string(config_.timeout_ms) + " ms",
                 now_ms, out);
  }
  // Once all data ended, only the final checkpoint is taken (and retried when it failed).
  if (!pending_ && committing_.empty() && !all_ended() && !draining_ && config_.interval_ms > 0 && paced(now_ms))
    start(now_ms, out);
  else if (!pending_ && final_now(now_ms))
    start(now_ms, out);
  return out;
}

CoordinatorActions CheckpointCoordinator::trigger_now(int64_t now_ms) {
  CoordinatorActions out;
  if (!pending_) start(now_ms, out);
  return out;
}

void CheckpointCoordinator::start(int64_t now_ms, CoordinatorActions& out) {
  auto at = frontier();
  if (at.empty()) return;  // everything finished: nothing left to checkpoint
  pending_ = next_id_++;
  pending_since_ = now_ms;
  awaiting_.clear();
  for (const auto& t : subtasks_)
    if (!finished_.count(t.id)) awaiting_.insert(t.id);
  out.trigger = pending_;
  triggered_.clear();
  triggered_.insert(at.begin(), at.end());
  out.trigger_at = std::move(at);
}

CoordinatorActions CheckpointCoordinator::on_ack(int64_t id, int subtask, int64_t now_ms) {
  CoordinatorActions out;
  if (!pending_ || id != *pending_) return out;  // late ack of an aborted checkpoint
  awaiting_.erase(subtask);
  if (awaiting_.empty()) complete(now_ms, out);
  return out;
}

void CheckpointCoordinator::complete(int64_t now_ms, CoordinatorActions& out) {
  out.completed = pending_;
  completed_before_ = last_completed_;
  last_completed_ = *pending_;
  committing_.insert(*pending_);
  pending_.reset();
  last_end_ms_ = now_ms;
}

CoordinatorActions CheckpointCoordinator::on_decline(int64_t id, int subtask, const std::string& reason,
                                                     int64_t now_ms) {
  CoordinatorActions out;
  if (!pending_ || id != *pending_) return out;
  (void)subtask;  // the reason names the subtask in the user's terms
  fail_pending("checkpoint " + std::to_string(id) + " declined: " + reason, now_ms, out);
  return out;
}

CoordinatorActions CheckpointCoordinator::on_job_failure(const std::string& why) {
  CoordinatorActions out;
  if (!pending_) return out;
  out.aborted.emplace_back(*pending_, "checkpoint " + std::to_string(*pending_) + " aborted: " + why);
  pending_.reset();
  return out;
}

void CheckpointCoordinator::restart(const std::vector<int>& subtasks) {
  for (int t : subtasks) {
    ended_.erase(t);
    if (finished_.erase(t))
      if (auto it = index_.find(t); it != index_.end())
        for (size_t c : consumers_[it->second]) ++open_inputs_[c];
  }
  failures_in_row_ = 0;
}

CoordinatorActions CheckpointCoordinator::on_task_finished(int subtask, int64_t now_ms) {
  CoordinatorActions out;
  if (finished_.insert(subtask).second)
    if (auto it = index_.find(subtask); it != index_.end())
      for (size_t c : consumers_[it->second]) --open_inputs_[c];
  if (pending_) {
    awaiting_.erase(subtask);
    if (awaiting_.empty()) {
      complete(now_ms, out);
      return out;
    }
    // A trigger target finished without passing the barrier on: who it fed may now be the
    // frontier, and would otherwise wait for a barrier that never comes.
    for (int t : frontier())
      if (awaiting_.count(t) && triggered_.insert(t).second) out.extend_to.push_back(t);
  }
  return out;
}

CoordinatorActions CheckpointCoordinator::on_input_ended(int subtask, int64_t after, int64_t now_ms) {
  CoordinatorActions out;
  bool was = all_ended();
  ended_.insert(subtask);
  ended_after_ = std::max(ended_after_, after);
  if (!was && all_ended() && !pending_) start(now_ms, out);
  return out;
}

CoordinatorActions CheckpointCoordinator::on_commit_failed(int64_t id, const std::string& why, int64_t now_ms) {
  CoordinatorActions out;
  if (!committing_.erase(id)) return out;
  if (id == last_completed_) last_completed_ = completed_before_;
  last_end_ms_ = now_ms;
  count_failure("checkpoint " + std::to_string(id) + " could not be committed: " + why, out);
  return out;
}

void CheckpointCoordinator::fail_pending(const std::string& why, int64_t now_ms, CoordinatorActions& out) {
  out.aborted.emplace_back(*pending_, why);
  pending_.reset();
  last_end_ms_ = now_ms;
  count_failure(why, out);
}

void CheckpointCoordinator::count_failure(const std::string& why, CoordinatorActions& out) {
  if (++failures_in_row_ > config_.tolerable_failures)
    out.fail_job = "too many failed checkpoints in a row (" + std::to_string(failures_in_row_) +
                   ", tolerable " + std::to_string(config_.tolerable_failures) + "); last: " + why;
}

}  // namespace sluice::checkpoint
