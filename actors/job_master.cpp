// actors/job_master.cpp — the job master's decisions: which attempt is current, when the job ends, what each checkpoint event leads to.
#include "actors/job_master.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <limits>

#include <spdlog/spdlog.h>

#include "sluice/json.hpp"
#include "sluice/logging.hpp"

namespace sluice::runtime {

namespace {

std::shared_ptr<spdlog::logger> cplog() { return log::get("checkpoint"); }

template <class T>
void append(std::vector<T>& to, std::vector<T>&& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
}

TaskCommand to_all(TaskCommand::Kind k, int64_t id = 0) { return {k, -1, id, false, {}}; }

}  // namespace

MasterActions& MasterActions::operator+=(MasterActions&& o) {
  append(commands, std::move(o.commands));
  append(discard, std::move(o.discard));
  if (o.commit) commit = std::move(o.commit);
  append(replies, std::move(o.replies));
  append(deploy, std::move(o.deploy));
  append(restart_after_ms, std::move(o.restart_after_ms));
  append(find_restart_point, std::move(o.find_restart_point));
  append(changed, std::move(o.changed));
  if (o.result) result = std::move(o.result);
  return *this;
}

/// The subtasks as the coordinator sees them: flat indexes and which indexes feed each.
static std::vector<checkpoint::SubtaskNode> subtask_nodes(const scheduler::ExecutionPlan& plan,
                                                    const std::vector<size_t>& base) {
  std::vector<checkpoint::SubtaskNode> nodes;
  for (const auto& t : plan.tasks)
    for (int s = 0; s < t.parallelism; ++s) nodes.push_back({int(base[size_t(t.id)]) + s, {}});
  for (const auto& x : plan.exchanges)
    for (int c = 0; c < x.consumers; ++c)
      for (int ch = 0; ch < x.channels_per_consumer(); ++ch)
        nodes[base[size_t(x.target_task)] + size_t(c)].inputs.push_back(int(base[size_t(x.source_task)]) +
                                                                       x.producer_of(c, ch));
  return nodes;
}

JobMaster::JobMaster(std::shared_ptr<const JobGraph> graph, std::shared_ptr<const scheduler::ExecutionPlan> plan,
                     bool checkpointing, uint64_t storage_highest, std::shared_ptr<const RestoreState> restore,
                     std::string job_id)
    : graph_(std::move(graph)),
      plan_(std::move(plan)),
      base_(plan_->subtask_offsets()),
      job_id_(std::move(job_id)),
      checkpointing_(checkpointing),
      restore_(std::move(restore)) {
  if (checkpointing_) {
    next_id_ = int64_t(storage_highest) + 1;
    if (restore_) next_id_ = std::max<int64_t>(next_id_, int64_t(restore_->checkpoint_id) + 1);
    last_completed_ = restore_ ? int64_t(restore_->checkpoint_id) : 0;
    restarts_ = std::make_unique<scheduler::RestartStrategyState>(graph_->config.checkpoint.restart);
    const auto& c = graph_->config.checkpoint;
    checkpoint::CoordinatorConfig cc;
    cc.interval_ms = c.interval.count();
    cc.timeout_ms = c.timeout.count();
    cc.min_pause_ms = c.min_pause.count();
    cc.tolerable_failures = c.tolerable_failures;
    cc.first_id = next_id_;
    coordinator_ = std::make_unique<checkpoint::CheckpointCoordinator>(cc, subtask_nodes(*plan_, base_));
  }
  // BATCH: each subtask is a region of its own, deployed when the schedule says (its inputs
  // complete, a slot free) and rerun alone after a failure, under the restart strategy
  // (there are no checkpoints), from its inputs' files.
  if (plan_->batch) {
    int slots = graph_->config.slots > 0 ? graph_->config.slots : std::numeric_limits<int>::max() / 2;
    schedule_ = std::make_unique<scheduler::BatchSchedule>(*plan_, slots);
    if (!restarts_) restarts_ = std::make_unique<scheduler::RestartStrategyState>(graph_->config.checkpoint.restart);
  }
  region_subtasks_.resize(plan_->batch ? size_t(plan_->subtask_count()) : size_t(plan_->regions()));
  for (const auto& t : plan_->tasks)
    for (int sub = 0; sub < t.parallelism; ++sub) {
      int index = index_of(t.id, sub);
      int r = plan_->batch ? index : plan_->region_of_task[size_t(t.id)];
      region_of_.push_back(r);
      region_subtasks_[size_t(r)].push_back(index);
    }
  region_attempt_.assign(region_subtasks_.size(), -1);
  region_restore_.assign(region_subtasks_.size(), restore_);
}

MasterActions JobMaster::start(int64_t) {
  MasterActions out;
  if (schedule_) {
    // Every subtask counts toward the end from the start; each deploys as its stage comes.
    for (const auto& indexes : region_subtasks_) unfinished_.insert(indexes.begin(), indexes.end());
    return deploy_ready_stages();
  }
  for (size_t r = 0; r < regions(); ++r) {
    region_attempt_[r] = next_attempt_;
    attempt_region_[next_attempt_++] = int(r);
    out += deploy(int(r));
  }
  return out;
}

size_t JobMaster::running() const {
  size_t n = 0;
  for (const auto& [attempt, live] : live_)
    if (current(attempt)) n += live.size();
  return n;
}

bool JobMaster::earlier_io(int32_t attempt) const {
  int region = attempt_region_.at(attempt);
  for (const auto& [a, n] : io_pending_)
    if (a < attempt && attempt_region_.at(a) == region) return true;
  return false;
}

void JobMaster::set_placement(int32_t attempt, const scheduler::Placement& placement) {
  peers_.resize(subtasks());
  for (int i : subtasks_of(attempt)) {
    peers_[size_t(i)] = placement.subtasks[size_t(i)].agent;
    lost_files_.erase(i);  // it writes its file again
  }
}

int JobMaster::task_of(int index) const {
  size_t task = 0;
  while (base_[task + 1] <= size_t(index)) ++task;
  return int(task);
}

TaskDeployment JobMaster::deployment(int index) const {
  const auto& t = plan_->tasks[size_t(task_of(index))];
  TaskDeployment d;
  d.job_id = job_id_;
  d.job_name = graph_->name;
  int region = region_of_[size_t(index)];
  d.attempt = region_attempt_[size_t(region)];
  d.task = t.id;
  d.subtask = index - int(base_[size_t(t.id)]);
  d.parallelism = t.parallelism;
  d.max_parallelism = graph_->config.max_parallelism;
  d.key_groups = key_group_range(d.subtask, d.max_parallelism, d.parallelism);
  if (!peers_.empty()) {
    // Its region's agents; in BATCH also where the tasks feeding it wrote their files (each
    // producer subtask's last attempt), which serve its inputs.
    std::vector<bool> reads(plan_->tasks.size(), false);
    if (plan_->batch)
      for (const auto& x : plan_->exchanges)
        if (x.target_task == t.id) reads[size_t(x.source_task)] = true;
    d.peers = peers_;
    for (size_t i = 0; i < d.peers.size(); ++i)
      if (region_of_[i] != region && !reads[size_t(task_of(int(i)))]) d.peers[i].clear();
  }
  if (const auto& restore = region_restore_[size_t(region)]) {
    d.restore.kind = restore->checkpoint_id == 0 ? RestoreHandle::Kind::from_scratch : RestoreHandle::Kind::checkpoint;
    d.restore.checkpoint_id = restore->checkpoint_id;
    d.restore.path = restore->path;
  }
  return d;
}

const CheckpointInfo* JobMaster::checkpoint(int64_t id) const {
  for (auto it = history_.rbegin(); it != history_.rend(); ++it)
    if (it->id == id) return &*it;
  return nullptr;
}

CheckpointInfo* JobMaster::info(int64_t id) { return const_cast<CheckpointInfo*>(checkpoint(id)); }

MasterActions JobMaster::deploy_ready_stages() {
  MasterActions out;
  for (const auto& s : schedule_->next()) {
    int r = region_of_[size_t(index_of(s.task, s.subtask))];
    log::runtime()->info("job '{}': {}", graph_->name, schedule_->describe(s));
    region_attempt_[size_t(r)] = next_attempt_;
    attempt_region_[next_attempt_] = r;
    // A rerun waits for the I/O of the attempt before it (on_io_done deploys it then).
    if (earlier_io(next_attempt_)) waiting_.insert(next_attempt_++);
    else out += deploy(attempt_region_.at(next_attempt_++));
  }
  return out;
}

MasterActions JobMaster::deploy(int region) {
  MasterActions out;
  auto attempt = region_attempt_[size_t(region)];
  const auto& indexes = region_subtasks_[size_t(region)];
  live_[attempt].insert(indexes.begin(), indexes.end());
  io_pending_[attempt] += indexes.size();
  unfinished_.insert(indexes.begin(), indexes.end());
  const auto& restore = region_restore_[size_t(region)];
  auto tasks = plan_->batch ? 1 : plan_->tasks_of_region(region).size();
  if (!plan_->batch)  // BATCH logs each subtask's stage and wave instead
    log::runtime()->info("job '{}'{} deployed{}: {} tasks, {} subtasks", graph_->name,
                       regions() == 1 ? std::string()
                                      : " region " + std::to_string(region + 1) + "/" + std::to_string(regions()),
                       !restore                     ? std::string()
                       : restore->checkpoint_id == 0 ? std::string(" from scratch (no usable checkpoint)")
                                                     : " from checkpoint " + std::to_string(restore->checkpoint_id),
                       tasks, indexes.size());
  out.deploy.push_back(attempt);
  return out;
}

MasterActions JobMaster::end(bool ok, std::string error, int64_t now_ms) {
  MasterActions out;
  if (ended_) return out;
  ended_ = true;
  if (ok) {
    log::runtime()->info("job '{}' finished", graph_->name);
  } else {
    log::runtime()->info("{}", error);
    out.commands.push_back(to_all(TaskCommand::Kind::cancel));
  }
  for (auto& i : history_)
    if (i.status == CheckpointInfo::Status::pending) {
      i.status = CheckpointInfo::Status::aborted;
      i.reason = "the job ended first";
      out.changed.push_back(i.id);
    }
  for (auto& [id, ws] : waiters_)
    for (auto w : ws)
      out.replies.push_back({w, 0, "job '" + graph_->name + "' ended before checkpoint " + std::to_string(id) +
                                       " completed", ""});
  waiters_.clear();
  for (auto& [sp, w] : requests_) out.replies.push_back({w, 0, "job '" + graph_->name + "' ended", ""});
  requests_.clear();
  if (drain_waiter_) out.replies.push_back({*drain_waiter_, 0, "job '" + graph_->name + "' ended", ""});
  drain_waiter_.reset();
  drop_queries("job '" + graph_->name + "' ended", out);
  JobResult r;
  r.job_name = graph_->name;
  r.succeeded = ok;
  r.error = std::move(error);
  r.duration = std::chrono::milliseconds(now_ms);
  r.restarts = restarts_ ? restarts_->restarts() : 0;
  r.last_checkpoint = last_completed_;
  outcome_ = std::move(r);
  out += finish_when_quiet();
  return out;
}

/// The result goes out once no subtask actor of any attempt is left and each has gone quiet
/// (the I/O it posted has run): none may touch the job's files after the client saw the end,
/// and the client may then tear down the I/O executor, which an actor still on its way out
/// would post to.
MasterActions JobMaster::finish_when_quiet() {
  MasterActions out;
  if (outcome_ && live_.empty() && io_pending_.empty()) {
    out.result = std::move(outcome_);
    outcome_.reset();
  }
  return out;
}

MasterActions JobMaster::trigger_now(int64_t now_ms) {
  if (!coordinator_ || coordinator_->pending() || !restarting_.empty()) return {};
  return handle(coordinator_->trigger_now(now_ms), now_ms);
}

MasterActions JobMaster::after_checkpoint(int64_t now_ms) {
  if (ended_ || !coordinator_ || coordinator_->pending() || !restarting_.empty()) return {};
  if (!requests_.empty() || (coordinator_->final_now(now_ms) && !unfinished_.empty())) return trigger_now(now_ms);
  return {};
}

checkpoint::CheckpointMetadata JobMaster::metadata_of(int64_t id) {
  checkpoint::CheckpointMetadata m;
  m.checkpoint_id = uint64_t(id);
  m.job_name = graph_->name;
  m.max_parallelism = uint32_t(graph_->config.max_parallelism);
  m.timestamp_ms = SystemClock().now();
  m.savepoint = savepoints_.count(id) > 0;
  std::map<size_t, const CheckpointAck*> by_index;
  for (const auto& a : acks_[id]) by_index[size_t(index_of(a.task, a.subtask))] = &a;
  const auto& finished = coordinator_->finished();
  bool all_ended = coordinator_->is_final(id);
  for (const auto& t : plan_->tasks)
    for (int node : t.nodes) {
      checkpoint::OperatorState o;
      o.operator_id = plan_->operator_ids[size_t(node)];
      o.name = graph_->nodes[size_t(node)].name;
      o.parallelism = uint32_t(t.parallelism);
      for (int sub = 0; sub < t.parallelism; ++sub) {
        auto index = size_t(index_of(t.id, sub));
        auto it = by_index.find(index);
        if (it != by_index.end()) {
          o.files.push_back(it->second->file);
          for (const auto& [op_id, f] : it->second->shared)
            if (op_id == o.operator_id) o.shared.push_back(f);
          for (const auto& [op_id, fp] : it->second->states)
            if (op_id == o.operator_id && std::find(o.states.begin(), o.states.end(), fp) == o.states.end())
              o.states.push_back(fp);
        } else if (finished.count(int(index))) {
          o.finished_subtasks.push_back(uint32_t(sub));
        }
      }
      o.finished = o.finished_subtasks.size() == size_t(t.parallelism);
      if (all_ended) {  // the final checkpoint: every subtask closes after it, the job is done
        o.finished = true;
        o.finished_subtasks.clear();
        for (int sub = 0; sub < t.parallelism; ++sub) o.finished_subtasks.push_back(uint32_t(sub));
      }
      m.operators.push_back(std::move(o));
    }
  return m;
}

MasterActions JobMaster::handle(checkpoint::CoordinatorActions a, int64_t now_ms) {
  MasterActions out;
  if (a.trigger) {
    auto id = *a.trigger;
    next_id_ = id + 1;
    CheckpointInfo ci;
    ci.id = id;
    ci.triggered_ms = now_ms;
    ci.final = coordinator_->is_final(id);
    if (ci.final && drain_waiter_) {  // the final checkpoint of a drained job is its savepoint
      savepoints_.insert(id);
      waiters_[id].push_back(*drain_waiter_);
      drain_waiter_.reset();
    }
    history_.push_back(ci);
    out.changed.push_back(id);
    if (!requests_.empty()) {
      auto [savepoint, r] = requests_.front();
      requests_.pop_front();
      if (savepoint) savepoints_.insert(id);
      if (stop_requested_ && savepoint) {
        stop_after_.insert(id);
        stop_requested_ = false;
      }
      waiters_[id].push_back(r);
    }
    history_.back().savepoint = savepoints_.count(id) > 0;
    cplog()->debug("job '{}': checkpoint {} triggered at {} subtasks", graph_->name, id, a.trigger_at.size());
    for (int index : a.trigger_at)
      out.commands.push_back({TaskCommand::Kind::trigger, index, id, savepoints_.count(id) > 0, {}});
  }
  if (!a.extend_to.empty() && coordinator_ && coordinator_->pending()) {
    auto id = *coordinator_->pending();
    for (int index : a.extend_to) out.commands.push_back({TaskCommand::Kind::trigger, index, id, savepoints_.count(id) > 0, {}});
  }
  if (a.completed) {
    auto id = *a.completed;
    out.commit = std::make_shared<const checkpoint::CheckpointMetadata>(metadata_of(id));
    acks_.erase(id);
  }
  for (const auto& [id, why] : a.aborted) {
    cplog()->warn("job '{}': {}", graph_->name, why);
    acks_.erase(id);
    if (auto* i = info(id)) {
      i->status = CheckpointInfo::Status::aborted;
      i->ended_ms = now_ms;
      i->reason = why;
      out.changed.push_back(id);
    }
    for (auto w : waiters_[id]) out.replies.push_back({w, 0, why, ""});
    waiters_.erase(id);
    out.commands.push_back(to_all(TaskCommand::Kind::abort, id));
    // What its subtasks wrote goes, so a full disk frees up for the next checkpoint.
    out.discard.push_back(id);
  }
  // Too many failed checkpoints: fail over like any task failure, under the restart strategy.
  if (a.fail_job) out += fail("job '" + graph_->name + "' failed: " + *a.fail_job, false, now_ms);
  else if (!a.aborted.empty()) out += after_checkpoint(now_ms);
  return out;
}

/// Regions failed: each restarts, as a new attempt, from the last complete checkpoint when the
/// strategy allows (one restart for all of them). A `permanent` failure (the restored state
/// does not fit the job) is not retried: every retry would fail the same way.
MasterActions JobMaster::fail(const std::string& error, bool permanent, int64_t now_ms, std::vector<int> regions) {
  MasterActions out;
  if (ended_) return out;
  if (permanent) return end(false, error + " (the checkpoint's state does not fit the job, so it is not restarted)", now_ms);
  std::optional<std::chrono::milliseconds> delay;
  if (restarts_) delay = restarts_->next(now_ms);  // checkpointing or BATCH
  if (!delay)
    return end(false,
               error + (restarts_ && restarts_->restarts() > 0
                            ? " (no restart left after " + std::to_string(restarts_->restarts()) + ")"
                            : ""),
               now_ms);
  bool whole = regions.empty() || regions.size() == this->regions();
  if (whole) {
    regions.clear();
    for (size_t r = 0; r < this->regions(); ++r) regions.push_back(int(r));
    log::runtime()->warn("{}; restarting in {} ms (restart {})", error, delay->count(), restarts_->restarts());
  } else {
    size_t n = 0;
    for (int r : regions) n += region_subtasks_[size_t(r)].size();
    log::runtime()->warn("{}; restarting its pipelined region ({} of {} subtasks) in {} ms (restart {})", error, n,
                         subtasks(), delay->count(), restarts_->restarts());
  }
  std::vector<int> indexes;
  for (int r : regions) {
    const auto& mine = region_subtasks_[size_t(r)];
    indexes.insert(indexes.end(), mine.begin(), mine.end());
    restarting_.insert(r);  // before the coordinator's actions: nothing triggers meanwhile
  }
  if (coordinator_) {
    auto a = coordinator_->on_job_failure(whole ? "the job is restarting" : "a pipelined region is restarting");
    coordinator_->restart(indexes);
    out += handle(std::move(a), now_ms);
  }
  if (whole) {
    out.commands.push_back(to_all(TaskCommand::Kind::cancel));
  } else {
    for (int i : indexes) out.commands.push_back({TaskCommand::Kind::cancel, i, 0, false, {}});
  }
  for (int r : regions) {
    region_attempt_[size_t(r)] = next_attempt_;
    attempt_region_[next_attempt_] = r;
    out.restart_after_ms.emplace_back(next_attempt_++, int64_t(delay->count()));
  }
  unfinished_.insert(indexes.begin(), indexes.end());
  acks_.clear();
  drop_queries("job '" + graph_->name + "' is restarting: " + error, out);
  return out;
}

MasterActions JobMaster::on_time(int64_t now_ms) {
  MasterActions out;
  // Clients give up after 15 s at most: queries some subtask never answered (one whose
  // attempt still waits for slots) go, so that they do not pile up.
  for (auto it = queries_.begin(); it != queries_.end();) {
    if (now_ms - it->second.asked_ms <= 20'000) {
      ++it;
      continue;
    }
    out.replies.push_back({it->second.request, 0, "no answer from the subtasks within 20 s", ""});
    it = queries_.erase(it);
  }
  if (ended_ || !coordinator_ || !restarting_.empty()) return out;
  out += handle(coordinator_->on_time(now_ms), now_ms);
  return out;
}

MasterActions JobMaster::on_report(const TaskReport& r, int64_t now_ms) {
  if (r.task < 0 || size_t(r.task) >= plan_->tasks.size() || r.subtask < 0 ||
      r.subtask >= plan_->tasks[size_t(r.task)].parallelism ||
      (r.kind == TaskReport::Kind::ack && (r.ack.task != r.task || r.ack.subtask != r.subtask))) {
    log::runtime()->error("job '{}': a report names subtask {} of task {}, which the job does not have", graph_->name,
                          r.subtask + 1, r.task);
    return {};
  }
  switch (r.kind) {
    case TaskReport::Kind::finished: return on_task_finished(r.attempt, r.task, r.subtask, now_ms);
    case TaskReport::Kind::failed: return on_task_failed(r.attempt, r.error, r.permanent, now_ms);
    case TaskReport::Kind::ack: return on_ack(r.attempt, r.ack, now_ms);
    case TaskReport::Kind::decline: return on_decline(r.attempt, r.task, r.subtask, r.checkpoint, r.error, now_ms);
    case TaskReport::Kind::input_ended: return on_input_ended(r.attempt, r.task, r.subtask, r.checkpoint, now_ms);
    case TaskReport::Kind::answer: return on_answer(r);
  }
  return {};
}

MasterActions JobMaster::on_task_finished(int32_t attempt, int task, int subtask, int64_t now_ms) {
  MasterActions out;
  if (!current(attempt) || ended_) return out;
  if (coordinator_) out += handle(coordinator_->on_task_finished(index_of(task, subtask), now_ms), now_ms);
  if (current(attempt) && !ended_ && unfinished_.erase(index_of(task, subtask)) && unfinished_.empty())
    out += end(true, {}, now_ms);
  else if (schedule_ && !ended_) {
    schedule_->finished(task, subtask);
    out += deploy_ready_stages();
  }
  return out;
}

MasterActions JobMaster::on_task_failed(int32_t attempt, const std::string& error, bool permanent, int64_t now_ms) {
  if (!current(attempt)) return {};
  // BATCH: a subtask that read a file a lost agent held waits for it, uncounted.
  if (schedule_ && !ended_) {
    MasterActions out;
    if (requeue(region_subtasks_[size_t(attempt_region_.at(attempt))].front(), out)) {
      out += deploy_ready_stages();
      return out;
    }
  }
  return fail(error, permanent, now_ms, {attempt_region_.at(attempt)});
}

int JobMaster::restarts() const { return restarts_ ? restarts_->restarts() : 0; }

MasterActions JobMaster::on_ack(int32_t attempt, const CheckpointAck& ack, int64_t now_ms) {
  auto id = ack.checkpoint_id;
  if (!current(attempt) || ended_ || !coordinator_ || coordinator_->pending() != id) return {};
  MasterActions out;
  if (auto* i = info(id)) {
    i->bytes += ack.bytes;
    i->unaligned = i->unaligned || ack.unaligned;
    i->alignment_ms = std::max(i->alignment_ms, ack.alignment_ms);
    i->inflight_bytes += ack.inflight_bytes;
    out.changed.push_back(id);
  }
  cplog()->debug("job '{}': checkpoint {} subtask {}/{}: {} bytes, alignment {:.1f} ms, sync {:.1f} ms, "
                 "async {:.1f} ms, in-flight {} bytes{}",
                 graph_->name, id, ack.subtask + 1, plan_->tasks[size_t(ack.task)].parallelism, ack.bytes,
                 ack.alignment_ms, ack.sync_ms, ack.async_ms, ack.inflight_bytes, ack.unaligned ? " (unaligned)" : "");
  acks_[id].push_back(ack);
  out += handle(coordinator_->on_ack(id, index_of(ack.task, ack.subtask), now_ms), now_ms);
  return out;
}

MasterActions JobMaster::on_decline(int32_t attempt, int task, int subtask, int64_t id, const std::string& why,
                                    int64_t now_ms) {
  if (!current(attempt) || ended_ || !coordinator_) return {};
  return handle(coordinator_->on_decline(id, index_of(task, subtask), why, now_ms), now_ms);
}

MasterActions JobMaster::on_input_ended(int32_t attempt, int task, int subtask, int64_t after, int64_t now_ms) {
  if (!current(attempt) || ended_ || !coordinator_) return {};
  return handle(coordinator_->on_input_ended(index_of(task, subtask), after, now_ms), now_ms);
}

MasterActions JobMaster::on_subtask_down(int32_t attempt, int index, const std::string& error, int64_t now_ms) {
  auto it = live_.find(attempt);
  if (it != live_.end()) {
    it->second.erase(index);
    if (it->second.empty()) live_.erase(it);
  }
  if (ended_) return finish_when_quiet();
  if (!current(attempt)) return {};
  if (stopping_) return running() == 0 ? end(true, {}, now_ms) : MasterActions{};
  if (!error.empty())
    return fail("job '" + graph_->name + "' failed: a task actor stopped: " + error, false, now_ms,
                {attempt_region_.at(attempt)});
  return {};
}

MasterActions JobMaster::on_io_done(int32_t attempt) {
  auto it = io_pending_.find(attempt);
  if (it != io_pending_.end() && --it->second == 0) io_pending_.erase(it);
  if (ended_) return finish_when_quiet();
  MasterActions out;
  for (auto w : std::set<int32_t>(waiting_))
    if (!current(w) || !earlier_io(w)) {
      waiting_.erase(w);
      out += on_restart_due(w);
    }
  return out;
}

MasterActions JobMaster::on_agent_lost(const std::string& agent, int slots) {
  MasterActions out;
  if (!schedule_ || ended_) return out;
  if (slots > 0) set_slots(slots);  // deployed below, once the lost files are known
  // The files of the finished subtasks that ran there are gone (an agent of the same name
  // that registers later holds none of them).
  for (size_t i = 0; i < peers_.size(); ++i)
    if (peers_[i] == agent && !unfinished_.count(int(i))) lost_files_[int(i)] = agent;
  // A rerun producer may need files of the stage before, lost too; and a file lost earlier,
  // which nobody needed then, may be needed now.
  for (bool again = true; again;) {
    again = false;
    for (auto it = lost_files_.begin(); it != lost_files_.end();) {
      int i = it->first, task = task_of(i), subtask = i - int(base_[size_t(task)]);
      if (unfinished_.count(i) || !schedule_->lost(task, subtask)) {
        ++it;
        continue;
      }
      unfinished_.insert(i);
      log::runtime()->warn("job '{}': the partition file of task '{}' subtask {} was on agent {}, which is gone: "
                           "the subtask runs again",
                           graph_->name, plan_->tasks[size_t(task)].name, subtask + 1, it->second);
      it = lost_files_.erase(it);
      again = true;
    }
  }
  // Whatever reads a lost file stops and waits for it, rather than failing on it.
  for (int index : std::set<int>(unfinished_)) requeue(index, out);
  out += deploy_ready_stages();
  return out;
}

MasterActions JobMaster::on_cluster_slots(int slots) {
  if (!schedule_ || ended_ || slots < 1) return {};
  set_slots(slots);
  return deploy_ready_stages();
}

void JobMaster::set_slots(int slots) {
  if (!schedule_) return;
  schedule_->set_slots(graph_->config.slots > 0 ? std::min(slots, graph_->config.slots) : slots);
}

bool JobMaster::requeue(int index, MasterActions& out) {
  int task = task_of(index), subtask = index - int(base_[size_t(task)]);
  if (!schedule_->requeue(task, subtask)) return false;
  int region = region_of_[size_t(index)];
  restarting_.erase(region);
  region_attempt_[size_t(region)] = next_attempt_;  // the attempt that ran is over
  attempt_region_[next_attempt_++] = region;
  out.commands.push_back({TaskCommand::Kind::cancel, index, 0, false, {}});
  log::runtime()->info("job '{}': task '{}' subtask {} waits for its inputs to be written again", graph_->name,
                       plan_->tasks[size_t(task)].name, subtask + 1);
  return true;
}

MasterActions JobMaster::on_restart_due(int32_t attempt) {
  MasterActions out;
  if (!current(attempt) || ended_) return out;
  // No commit of an earlier attempt of the region may land after this one rolled its sinks back.
  if (earlier_io(attempt)) {
    waiting_.insert(attempt);
    return out;
  }
  // BATCH: no checkpoint to find; the task reruns from its inputs' files, or, when a lost
  // agent took some with it, waits in the schedule until they are written again.
  if (plan_->batch) {
    if (!requeue(region_subtasks_[size_t(attempt_region_.at(attempt))].front(), out))
      return on_restart_point(attempt, nullptr, {}, 0);
    out += deploy_ready_stages();
    return out;
  }
  out.find_restart_point.push_back(attempt);
  return out;
}

MasterActions JobMaster::on_restart_point(int32_t attempt, std::shared_ptr<const RestoreState> restore,
                                          const std::string& error, int64_t now_ms) {
  if (!current(attempt) || ended_) return {};
  if (!error.empty()) return end(false, "job '" + graph_->name + "' cannot restart: " + error, now_ms);
  int region = attempt_region_.at(attempt);
  if (restore) last_completed_ = int64_t(restore->checkpoint_id);
  region_restore_[size_t(region)] = std::move(restore);
  restarting_.erase(region);
  return deploy(region);
}

MasterActions JobMaster::on_committed(int64_t id, const std::string& error, int64_t now_ms) {
  MasterActions out;
  if (ended_) return out;
  auto* i = info(id);
  if (i) {
    i->status = error.empty() ? CheckpointInfo::Status::completed : CheckpointInfo::Status::aborted;
    i->ended_ms = now_ms;
    i->reason = error;
    out.changed.push_back(id);
  }
  if (!error.empty()) {
    cplog()->warn("job '{}': checkpoint {} could not be committed: {}", graph_->name, id, error);
    for (auto w : waiters_[id]) out.replies.push_back({w, 0, error, ""});
    waiters_.erase(id);
    if (coordinator_) out += handle(coordinator_->on_commit_failed(id, error, now_ms), now_ms);
    out += after_checkpoint(now_ms);
    return out;
  }
  last_completed_ = std::max(last_completed_, id);
  if (coordinator_) coordinator_->on_committed(id);
  if (i && coordinator_ && coordinator_->is_final(id)) i->final = true;  // every task may close now
  if (i)
    cplog()->info("job '{}': checkpoint {} complete: {} bytes in {} ms{}", graph_->name, id, i->bytes,
                  i->ended_ms - i->triggered_ms, i->final ? " (final)" : "");
  for (auto w : waiters_[id]) out.replies.push_back({w, id, {}, ""});
  waiters_.erase(id);
  if (stop_after_.count(id)) {
    // Stop-with-savepoint: the savepoint commits (sinks publish), then every subtask of the
    // current attempt stops; the job ends once they are all down, however many had finished
    // before. Nothing after the savepoint is committed.
    log::runtime()->info("job '{}' stopped with savepoint {}", graph_->name, id);
    coordinator_.reset();
    out.commands.push_back(to_all(TaskCommand::Kind::complete, id));
    out.commands.push_back(to_all(TaskCommand::Kind::cancel));
    stopping_ = true;
    if (running() == 0) out += end(true, {}, now_ms);
    return out;
  }
  // A region that is restarting was cancelled before this: its next attempt restores this
  // checkpoint (or a later one) and commits what it pre-committed then.
  out.commands.push_back(to_all(TaskCommand::Kind::complete, id));
  out += after_checkpoint(now_ms);
  return out;
}

bool JobMaster::refuse_without_checkpoints(RequestId r, MasterActions& out) const {
  std::string why;
  if (ended_) why = "job '" + graph_->name + "' ended";
  else if (!checkpointing_) why = "job '" + graph_->name + "' does not checkpoint (set a checkpoint interval)";
  else if (stopping_) why = "job '" + graph_->name + "' is stopping";
  else if (!restarting_.empty()) why = "job '" + graph_->name + "' is restarting; ask again once it runs";
  if (why.empty()) return false;
  out.replies.push_back({r, 0, why, ""});
  return true;
}

MasterActions JobMaster::on_query(RequestId r, TaskQuery q, int64_t now_ms) {
  MasterActions out;
  const auto refuse = [&](const std::string& why) {
    out.replies.push_back({r, 0, why, ""});
    return out;
  };
  if (ended_) return refuse("job '" + graph_->name + "' has ended");
  const scheduler::Task* task = nullptr;
  std::string op_name;
  int only = -1;  // the one subtask asked, or -1 for every subtask of `task`
  if (q.kind == TaskQuery::Kind::state || q.kind == TaskQuery::Kind::keys) {
    std::optional<size_t> node;
    for (size_t n = 0; n < graph_->nodes.size(); ++n) {
      if (plan_->operator_ids[n] != q.op && graph_->nodes[n].name != q.op) continue;
      if (node)
        return refuse("job '" + graph_->name + "' has more than one operator named '" + q.op +
                      "'; name it by its id (the console's job command lists them)");
      node = n;
    }
    if (!node) return refuse("job '" + graph_->name + "' has no operator '" + q.op + "'");
    task = &plan_->tasks[size_t(plan_->task_of_node[*node])];
    q.op = plan_->operator_ids[*node];
    op_name = graph_->nodes[*node].name;
  } else {
    if (q.task < 0 || size_t(q.task) >= plan_->tasks.size())
      return refuse("job '" + graph_->name + "' has no task " + std::to_string(q.task) + " (it has " +
                    std::to_string(plan_->tasks.size()) + ", numbered from 0)");
    task = &plan_->tasks[size_t(q.task)];
    if (q.subtask < 0 || q.subtask >= task->parallelism)
      return refuse("task " + std::to_string(q.task) + " of job '" + graph_->name + "' has no subtask " +
                    std::to_string(q.subtask) + " (it has " + std::to_string(task->parallelism) +
                    ", numbered from 0)");
    only = q.subtask;
  }
  q.id = next_query_++;
  if (q.limit == 0) q.limit = q.kind == TaskQuery::Kind::keys ? 100 : q.kind == TaskQuery::Kind::trace ? 10 : 50;
  // Subtasks that finished (bounded input) are gone and would never answer.
  std::vector<int> asked;
  for (int s = 0; s < task->parallelism; ++s)
    if ((only < 0 || s == only) && unfinished_.count(index_of(task->id, s))) asked.push_back(s);
  if (asked.empty())
    return refuse(only >= 0 ? "subtask " + std::to_string(only) + " of task " + std::to_string(task->id) +
                                  " of job '" + graph_->name + "' has finished"
                            : "every subtask of task " + std::to_string(task->id) + " of job '" + graph_->name +
                                  "' has finished");
  queries_[q.id] = {r, int(asked.size()), q, std::move(op_name), {}, false, now_ms};
  for (int s : asked) out.commands.push_back({TaskCommand::Kind::query, index_of(task->id, s), 0, false, q});
  return out;
}

MasterActions JobMaster::on_answer(const TaskReport& r) {
  MasterActions out;
  auto it = queries_.find(r.query);
  if (it == queries_.end()) return out;  // answered already, or from an older attempt
  auto& q = it->second;
  const auto done = [&](std::string error, std::string text) {
    out.replies.push_back({q.request, 0, std::move(error), std::move(text)});
    queries_.erase(it);
    return out;
  };
  if (!r.error.empty()) return done(r.error, "");
  if (q.query.kind == TaskQuery::Kind::state) {
    if (r.owner) return done("", r.text);
    if (--q.unanswered == 0)
      return done("no running subtask owns the key (its subtask finished, or the job's key groups are being moved)", "");
    return out;
  }
  if (q.query.kind != TaskQuery::Kind::keys) return done("", r.text);
  // A key listing: each subtask sends "+" (it had more) or "-", then one key per line.
  size_t at = 0;
  for (size_t end; at < r.text.size(); at = end + 1) {
    end = r.text.find('\n', at);
    if (end == std::string::npos) end = r.text.size();
    auto line = r.text.substr(at, end - at);
    if (line == "+") q.truncated = true;
    else if (line != "-" && !line.empty()) q.keys.push_back(std::move(line));
  }
  if (--q.unanswered > 0) return out;
  // Numbers in numeric order, then everything else as text.
  std::sort(q.keys.begin(), q.keys.end(), [](const std::string& a, const std::string& b) {
    auto number = [](const std::string& t, double& v) {
      char* end = nullptr;
      v = std::strtod(t.c_str(), &end);
      return !t.empty() && end == t.c_str() + t.size() && (std::isdigit(uint8_t(t[0])) || t[0] == '-');
    };
    double x = 0, y = 0;
    bool nx = number(a, x), ny = number(b, y);
    if (nx != ny) return nx;
    if (nx && x != y) return x < y;
    return a < b;
  });
  if (q.keys.size() > q.query.limit) {
    q.keys.resize(q.query.limit);
    q.truncated = true;
  }
  std::string text = "{\"operator\":";
  detail::write_json_string(text, q.op_name);
  text += ",\"keys\":[";
  for (size_t i = 0; i < q.keys.size(); ++i) text += (i ? "," : "") + q.keys[i];
  text += std::string("],\"truncated\":") + (q.truncated ? "true" : "false") + "}";
  return done("", std::move(text));
}

void JobMaster::drop_queries(const std::string& error, MasterActions& out) {
  for (auto& [id, q] : queries_) out.replies.push_back({q.request, 0, error, ""});
  queries_.clear();
}

MasterActions JobMaster::on_checkpoint_request(RequestId r, bool savepoint, int64_t now_ms) {
  MasterActions out;
  if (refuse_without_checkpoints(r, out)) return out;
  requests_.emplace_back(savepoint, r);
  out += trigger_now(now_ms);
  return out;
}

MasterActions JobMaster::on_stop_request(RequestId r, bool drain, int64_t now_ms) {
  MasterActions out;
  if (refuse_without_checkpoints(r, out)) return out;
  if (!drain) {
    stop_requested_ = true;
    requests_.emplace_back(true, r);
    out += trigger_now(now_ms);
    return out;
  }
  drain_waiter_ = r;
  coordinator_->drain();
  for (const auto& t : plan_->tasks)
    if (t.is_source)
      for (int sub = 0; sub < t.parallelism; ++sub)
        out.commands.push_back({TaskCommand::Kind::drain, index_of(t.id, sub), 0, false, {}});
  return out;
}

MasterActions JobMaster::on_cancel(int64_t now_ms) { return end(false, "job '" + graph_->name + "' was canceled", now_ms); }

}  // namespace sluice::runtime
