// actors/embedded.cpp — the embedded executor: one actor system per job, a job master actor (deployment, checkpoint coordination, restarts), every subtask an actor.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>

#include "actors/io_executor.hpp"
#include "actors/messages.hpp"
#include "actors/probe_registry.hpp"
#include "actors/restore.hpp"
#include "actors/task_actor.hpp"
#include "checkpoint/coordinator.hpp"
#include "checkpoint/restart_policy.hpp"
#include "checkpoint/storage.hpp"
#include "scheduler/plan.hpp"
#include "sluice/error.hpp"
#include "sluice/executor.hpp"
#include "sluice/logging.hpp"

#include <spdlog/spdlog.h>

namespace sluice::runtime {

namespace {

using checkpoint::CheckpointCoordinator;
using checkpoint::CheckpointMetadata;
using checkpoint::CheckpointStorage;
using checkpoint::CoordinatorActions;
using checkpoint::RestartPolicy;

std::shared_ptr<spdlog::logger> cplog() { return log::get("checkpoint"); }

/// The checkpoints of a job, written by the master, read by job clients.
struct CheckpointLog {
  mutable std::mutex mu;
  std::vector<CheckpointInfo> infos;
  CheckpointInfo* find(int64_t id) {
    for (auto& i : infos)
      if (i.id == id) return &i;
    return nullptr;
  }
};

struct MasterState {
  std::shared_ptr<const JobGraph> graph;
  std::shared_ptr<const scheduler::ExecutionPlan> plan;
  IoExecutor* io = nullptr;
  ProbeRegistry* probes = nullptr;
  std::shared_ptr<std::promise<JobResult>> promise;
  std::chrono::steady_clock::time_point started;
  bool ended = false;  // no more events are acted on; the result waits for `live` to empty
  std::optional<JobResult> outcome;
  std::set<caf::actor_addr> live;  // task actors of every run not yet down
  std::map<int32_t, size_t> undrained;  // by attempt: task actors whose I/O may still run
  bool restart_waits = false;           // a restart waits for earlier runs' I/O to finish

  // the current run
  int32_t attempt = 0;
  std::shared_ptr<ActorTable> actors;
  std::vector<size_t> slot_base;  // first slot of each task
  size_t remaining = 0;

  // checkpoints
  std::shared_ptr<CheckpointStorage> storage;  // null: the job does not checkpoint
  std::shared_ptr<IoExecutor::Strand> strand;
  std::shared_ptr<const RestoreState> restore;
  std::shared_ptr<CheckpointLog> log;
  std::unique_ptr<CheckpointCoordinator> coordinator;
  std::map<int64_t, std::vector<std::shared_ptr<const CheckpointAck>>> acks;
  std::map<int64_t, std::vector<caf::response_promise>> waiters;  // checkpoints asked for by clients
  std::set<int64_t> savepoints;
  std::deque<std::pair<bool, caf::response_promise>> requests;  // not started yet
  std::set<int64_t> stop_after;  // savepoints after which the job stops
  bool stop_requested = false;
  size_t stopping = 0;  // task actors still to go down after a stop-with-savepoint
  std::optional<caf::response_promise> drain_waiter;  // stop-with-savepoint with drain
  int64_t next_id = 1;
  int64_t last_completed = 0;
  /// Checkpoints this job completed, oldest first, in its current history (a restart to an
  /// older one drops the later ones). Touched only by jobs on `strand`, in order with commits.
  std::shared_ptr<std::vector<int64_t>> completed = std::make_shared<std::vector<int64_t>>();
  std::string origin;              // the checkpoint the job was started from (--restore), if any
  std::unique_ptr<RestartPolicy> restarts;

  size_t slots() const { return slot_base.empty() ? 0 : slot_base.back(); }
  int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  }
  JobResult result(bool ok, std::string error) const {
    JobResult r;
    r.job_name = graph->name;
    r.succeeded = ok;
    r.error = std::move(error);
    r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    r.restarts = restarts ? restarts->restarts() : 0;
    r.last_checkpoint = last_completed;
    return r;
  }
};

using Self = caf::stateful_actor<MasterState>;

/// The subtasks as the coordinator sees them: slot numbers and which slots feed each.
std::vector<checkpoint::TaskNode> task_nodes(const scheduler::ExecutionPlan& plan, const std::vector<size_t>& base) {
  std::vector<checkpoint::TaskNode> nodes;
  for (const auto& t : plan.tasks)
    for (int s = 0; s < t.parallelism; ++s) nodes.push_back({int(base[size_t(t.id)]) + s, {}});
  for (const auto& x : plan.exchanges)
    for (int c = 0; c < x.consumers; ++c)
      for (int ch = 0; ch < x.channels_per_consumer(); ++ch)
        nodes[base[size_t(x.target_task)] + size_t(c)].inputs.push_back(
            int(base[size_t(x.source_task)]) + x.producer_of(c, ch));
  return nodes;
}

void finish_when_quiet(Self* self);

void end_job(Self* self, bool ok, std::string error) {
  auto& s = self->state;
  if (s.ended) return;
  s.ended = true;
  if (!ok) {
    log::runtime()->info("{}", error);
    for (auto& row : *s.actors)
      for (auto& a : row) self->send(a, cancel_atom::value);
  }
  if (ok) {
    log::runtime()->info("job '{}' finished", s.graph->name);
  }
  {
    std::lock_guard<std::mutex> l(s.log->mu);
    for (auto& i : s.log->infos)
      if (i.status == CheckpointInfo::Status::pending) {
        i.status = CheckpointInfo::Status::aborted;
        i.reason = "the job ended first";
      }
  }
  for (auto& [id, ws] : s.waiters)
    for (auto& w : ws) w.deliver(int64_t(0), std::string("job '" + s.graph->name + "' ended before checkpoint " + std::to_string(id) + " completed"));
  for (auto& [sp, w] : s.requests) w.deliver(int64_t(0), std::string("job '" + s.graph->name + "' ended"));
  if (s.drain_waiter) s.drain_waiter->deliver(int64_t(0), std::string("job '" + s.graph->name + "' ended"));
  s.outcome = s.result(ok, std::move(error));
  finish_when_quiet(self);
}

/// The result goes out once no task actor of any run is left: none may touch the I/O
/// executor or the job's files after the client saw the end.
void finish_when_quiet(Self* self) {
  auto& s = self->state;
  if (!s.outcome || !s.live.empty()) return;
  s.promise->set_value(std::move(*s.outcome));
  s.outcome.reset();
  self->quit();
}

caf::actor& actor_of_slot(MasterState& s, int slot) {
  size_t t = 0;
  while (t + 1 < s.slot_base.size() && s.slot_base[t + 1] <= size_t(slot)) ++t;
  return (*s.actors)[t][size_t(slot) - s.slot_base[t]];
}

void handle(Self* self, const CoordinatorActions& a);
void on_failure(Self* self, const std::string& error, bool permanent);

/// Starts a checkpoint at once: the final one, or one a client asked for.
void trigger_now(Self* self) {
  auto& s = self->state;
  if (!s.coordinator || s.coordinator->pending()) return;
  handle(self, s.coordinator->trigger_now(s.now_ms()));
}

/// After a checkpoint ended: start what waits (client requests, the final checkpoint).
void after_checkpoint(Self* self) {
  auto& s = self->state;
  if (s.ended || !s.coordinator || s.coordinator->pending()) return;
  if (!s.requests.empty() || (s.coordinator->final_now(s.now_ms()) && s.remaining > 0)) trigger_now(self);
}

CheckpointMetadata metadata_of(MasterState& s, int64_t id) {
  CheckpointMetadata m;
  m.checkpoint_id = uint64_t(id);
  m.job_name = s.graph->name;
  m.max_parallelism = uint32_t(s.graph->config.max_parallelism);
  m.timestamp_ms = SystemClock().now();
  m.savepoint = s.savepoints.count(id) > 0;
  std::map<size_t, const CheckpointAck*> by_slot;
  for (const auto& a : s.acks[id]) by_slot[s.slot_base[size_t(a->task)] + size_t(a->subtask)] = a.get();
  const auto& finished = s.coordinator->finished();
  bool all_ended = s.coordinator && s.coordinator->is_final(id);
  for (const auto& t : s.plan->tasks)
    for (int node : t.nodes) {
      checkpoint::OperatorState o;
      o.operator_id = s.plan->operator_ids[size_t(node)];
      o.name = s.graph->nodes[size_t(node)].name;
      o.parallelism = uint32_t(t.parallelism);
      for (int sub = 0; sub < t.parallelism; ++sub) {
        auto slot = s.slot_base[size_t(t.id)] + size_t(sub);
        auto it = by_slot.find(slot);
        if (it != by_slot.end()) {
          o.files.push_back(it->second->file);
          for (const auto& [op_id, f] : it->second->shared)
            if (op_id == o.operator_id) o.shared.push_back(f);
          for (const auto& [op_id, fp] : it->second->states)
            if (op_id == o.operator_id && std::find(o.states.begin(), o.states.end(), fp) == o.states.end())
              o.states.push_back(fp);
        }
        else if (finished.count(int(slot))) o.finished_subtasks.push_back(uint32_t(sub));
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

void handle(Self* self, const CoordinatorActions& a) {
  auto& s = self->state;
  if (a.trigger) {
    auto id = *a.trigger;
    s.next_id = id + 1;
    {
      std::lock_guard<std::mutex> l(s.log->mu);
      CheckpointInfo info;
      info.id = id;
      info.triggered_ms = s.now_ms();
      info.final = s.coordinator->is_final(id);
      if (info.final && s.drain_waiter) {  // the final checkpoint of a drained job is its savepoint
        s.savepoints.insert(id);
        s.waiters[id].push_back(std::move(*s.drain_waiter));
        s.drain_waiter.reset();
      }
      s.log->infos.push_back(info);
    }
    if (!s.requests.empty()) {
      auto [savepoint, w] = std::move(s.requests.front());
      s.requests.pop_front();
      if (savepoint) s.savepoints.insert(id);
      if (s.stop_requested && savepoint) {
        s.stop_after.insert(id);
        s.stop_requested = false;
      }
      s.waiters[id].push_back(std::move(w));
    }
    cplog()->debug("job '{}': checkpoint {} triggered at {} subtasks", s.graph->name, id, a.trigger_at.size());
    for (int slot : a.trigger_at) self->send(actor_of_slot(s, slot), trigger_atom::value, id, s.savepoints.count(id) > 0);
  }
  if (!a.extend_to.empty() && s.coordinator && s.coordinator->pending())
    for (int slot : a.extend_to) self->send(actor_of_slot(s, slot), trigger_atom::value, *s.coordinator->pending(), s.savepoints.count(*s.coordinator->pending()) > 0);
  if (a.completed) {
    auto id = *a.completed;
    auto m = std::make_shared<CheckpointMetadata>(metadata_of(s, id));
    s.acks.erase(id);
    auto storage = s.storage;
    auto me = caf::actor_cast<caf::actor>(self);
    auto attempt = s.attempt;
    s.io->post(s.strand,
               [storage, m, completed = s.completed] {
                 storage->commit(*m);
                 completed->push_back(int64_t(m->checkpoint_id));
               },
               [me, attempt, id](const std::string& err) { caf::anon_send(me, committed_atom::value, attempt, id, err); });
  }
  for (const auto& [id, why] : a.aborted) {
    cplog()->warn("job '{}': {}", s.graph->name, why);
    s.acks.erase(id);
    {
      std::lock_guard<std::mutex> l(s.log->mu);
      if (auto* i = s.log->find(id)) {
        i->status = CheckpointInfo::Status::aborted;
        i->ended_ms = s.now_ms();
        i->reason = why;
      }
    }
    for (auto& w : s.waiters[id]) w.deliver(int64_t(0), why);
    s.waiters.erase(id);
    for (auto& row : *s.actors)
      for (auto& actor : row) self->send(actor, abort_atom::value, id);
    // What its subtasks wrote goes, so a full disk frees up for the next checkpoint.
    auto storage = s.storage;
    s.io->post(s.strand, [storage, id] { storage->discard(uint64_t(id)); },
               [](const std::string& err) {
                 if (!err.empty()) cplog()->warn("{}", err);
               });
  }
  // Too many failed checkpoints: fail over like any task failure, under the restart strategy.
  if (a.fail_job) on_failure(self, "job '" + s.graph->name + "' failed: " + *a.fail_job, false);
  else if (!a.aborted.empty()) after_checkpoint(self);
}

/// Spawns every subtask of the job for run `s.attempt`, starting from `s.restore`.
void deploy(Self* self) {
  auto& s = self->state;
  s.actors = std::make_shared<ActorTable>();
  s.remaining = 0;
  size_t slot = 0;
  for (const auto& t : s.plan->tasks) {
    s.actors->emplace_back();
    for (int sub = 0; sub < t.parallelism; ++sub) {
      TaskEnv env{caf::actor_cast<caf::actor>(self), s.io, s.probes, slot++, s.attempt};
      TaskSpec spec{s.graph, s.plan, t.id, sub, s.storage, s.restore};
      auto a = spawn_task(self->system(), std::move(spec), env);
      ++s.undrained[s.attempt];
      self->monitor(a);
      s.live.insert(a.address());
      s.actors->back().push_back(a);
      ++s.remaining;
    }
  }
  std::shared_ptr<const ActorTable> table = s.actors;
  for (auto& row : *s.actors)
    for (auto& a : row) self->send(a, wire_atom::value, table);
  for (auto& row : *s.actors)
    for (auto& a : row) self->send(a, start_atom::value);
  if (s.storage) {
    const auto& c = s.graph->config.checkpoint;
    checkpoint::CoordinatorConfig cc;
    cc.interval_ms = c.interval.count();
    cc.timeout_ms = c.timeout.count();
    cc.min_pause_ms = c.min_pause.count();
    cc.tolerable_failures = c.tolerable_failures;
    cc.first_id = s.next_id;
    s.coordinator = std::make_unique<CheckpointCoordinator>(cc, task_nodes(*s.plan, s.slot_base));
  }
  log::runtime()->info("job '{}' deployed{}: {} tasks, {} subtasks", s.graph->name,
                       !s.restore                     ? std::string()
                       : s.restore->checkpoint_id == 0 ? std::string(" from scratch (no usable checkpoint)")
                                                       : " from checkpoint " + std::to_string(s.restore->checkpoint_id),
                       s.plan->tasks.size(), s.remaining);
}

/// A task failed: restart from the last complete checkpoint when the strategy allows. A
/// `permanent` failure (the restored state does not fit the job) is not retried: every retry
/// would fail the same way.
void on_failure(Self* self, const std::string& error, bool permanent) {
  auto& s = self->state;
  if (s.ended) return;
  if (permanent) {
    end_job(self, false, error + " (the checkpoint's state does not fit the job, so it is not restarted)");
    return;
  }
  std::optional<std::chrono::milliseconds> delay;
  if (s.storage && s.restarts) delay = s.restarts->next(s.now_ms());
  if (!delay) {
    end_job(self, false, error + (s.restarts && s.restarts->restarts() > 0
                                      ? " (no restart left after " + std::to_string(s.restarts->restarts()) + ")"
                                      : ""));
    return;
  }
  log::runtime()->warn("{}; restarting in {} ms (restart {})", error, delay->count(), s.restarts->restarts());
  if (s.coordinator) {
    auto a = s.coordinator->on_job_failure("the job is restarting");
    s.coordinator.reset();  // the next run gets a new one; nothing is triggered meanwhile
    handle(self, a);
  }
  for (auto& row : *s.actors)
    for (auto& a : row) self->send(a, cancel_atom::value);
  ++s.attempt;
  s.acks.clear();
  self->delayed_send(self, *delay, restart_atom::value, s.attempt);
}

/// What a restart resumes from: the newest checkpoint this job completed that still verifies,
/// else the checkpoint it was started from (`origin`), else nothing (id 0: from scratch, and
/// two-phase-commit sinks roll back everything). Never another run's newer checkpoint in the
/// directory. Each one passed over gets a warning and leaves `completed` (the history goes on
/// from the one used, which is logged). Runs on the master's strand, after every commit
/// posted before it.
std::shared_ptr<const RestoreState> restart_point(const CheckpointStorage& storage, std::vector<int64_t>& completed,
                                                  const std::string& origin, const JobGraph& graph) {
  auto retained = storage.complete_ids();
  while (!completed.empty()) {
    auto id = completed.back();
    if (std::binary_search(retained.begin(), retained.end(), uint64_t(id))) {
      auto dir = storage.checkpoint_dir(uint64_t(id));
      try {
        auto m = CheckpointStorage::load(dir);
        log::runtime()->warn("job '{}' restarts from checkpoint {} ('{}')", graph.name, id, dir.string());
        return read_restore_state(m, dir.string(), graph);
      } catch (const checkpoint::CheckpointError& e) {
        cplog()->warn("{}; using an older checkpoint", e.what());
      }
    }
    completed.pop_back();  // not in the history the job goes on with
  }
  if (!origin.empty()) {
    try {
      auto m = CheckpointStorage::load(origin);
      log::runtime()->warn("job '{}' restarts from checkpoint {} ('{}'), which it was started from", graph.name,
                           m.checkpoint_id, origin);
      return read_restore_state(m, origin, graph);
    } catch (const checkpoint::CheckpointError& e) {
      cplog()->warn("{}; the job it was started from cannot be used", e.what());
    }
  }
  log::runtime()->warn("job '{}' restarts from scratch: no usable checkpoint", graph.name);
  return from_scratch();
}

/// Answers a client's checkpoint request with an error when the job does not checkpoint.
bool refuse_without_checkpoints(MasterState& s, caf::response_promise& rp) {
  if (s.coordinator) return false;
  rp.deliver(int64_t(0), std::string("job '" + s.graph->name + "' does not checkpoint (set a checkpoint interval)"));
  return true;
}

caf::behavior job_master(Self* self, std::shared_ptr<const JobGraph> graph,
                         std::shared_ptr<const scheduler::ExecutionPlan> plan, IoExecutor* io, ProbeRegistry* probes,
                         std::shared_ptr<std::promise<JobResult>> promise, std::shared_ptr<CheckpointStorage> storage,
                         std::shared_ptr<const RestoreState> restore, std::shared_ptr<CheckpointLog> cplog_) {
  auto& st = self->state;
  st.graph = graph;
  st.plan = plan;
  st.io = io;
  st.probes = probes;
  st.promise = promise;
  st.started = std::chrono::steady_clock::now();
  st.storage = storage;
  st.restore = restore;
  if (restore && restore->checkpoint_id > 0) st.origin = restore->path;
  st.log = cplog_;
  st.strand = io->make_strand();
  size_t base = 0;
  for (const auto& t : plan->tasks) {
    st.slot_base.push_back(base);
    base += size_t(t.parallelism);
  }
  st.slot_base.push_back(base);
  if (storage) {
    st.next_id = int64_t(storage->highest_id()) + 1;
    if (restore) st.next_id = std::max<int64_t>(st.next_id, int64_t(restore->checkpoint_id) + 1);
    st.last_completed = restore ? int64_t(restore->checkpoint_id) : 0;
    st.restarts = std::make_unique<RestartPolicy>(graph->config.checkpoint.restart);
  }
  deploy(self);
  auto tick = std::chrono::milliseconds(
      std::clamp<int64_t>(graph->config.checkpoint.interval.count() / 10, 5, 100));
  if (storage) self->send(self, tick_atom::value);

  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& s = self->state;
    s.live.erase(dm.source);
    if (s.ended) {
      finish_when_quiet(self);
      return;
    }
    if (s.stopping > 0) {
      if (--s.stopping == 0) end_job(self, true, {});
      return;
    }
    if (dm.reason && !s.ended) {
      bool current = false;
      for (auto& row : *s.actors)
        for (auto& a : row) current |= a.address() == dm.source;
      if (current)
        on_failure(self, "job '" + s.graph->name + "' failed: a task actor stopped: " + self->system().render(dm.reason),
                   false);
    }
  });
  return {
      [self](done_atom, int32_t attempt, int32_t task, int32_t subtask) {
        auto& s = self->state;
        if (attempt != s.attempt || s.ended) return;
        if (s.coordinator) handle(self, s.coordinator->on_task_finished(int(s.slot_base[size_t(task)]) + subtask, s.now_ms()));
        if (--s.remaining == 0) end_job(self, true, {});
      },
      [self](failed_atom, int32_t attempt, const std::string& error, bool permanent) {
        if (attempt == self->state.attempt) on_failure(self, error, permanent);
      },
      [self](cancel_atom) { end_job(self, false, "job '" + self->state.graph->name + "' was canceled"); },
      [self, tick](tick_atom) {
        auto& s = self->state;
        if (s.ended) return;
        if (s.coordinator) handle(self, s.coordinator->on_time(s.now_ms()));
        self->delayed_send(self, tick, tick_atom::value);
      },
      [self](ack_atom, int32_t attempt, int32_t task, int32_t subtask, int64_t id,
             std::shared_ptr<const CheckpointAck> ack, const std::string& why) {
        auto& s = self->state;
        if (attempt != s.attempt || s.ended || !s.coordinator) return;
        if (!ack) {
          handle(self, s.coordinator->on_decline(id, int(s.slot_base[size_t(task)]) + subtask, why, s.now_ms()));
          return;
        }
        if (s.coordinator->pending() != id) return;
        {
          std::lock_guard<std::mutex> l(s.log->mu);
          if (auto* i = s.log->find(id)) i->bytes += ack->bytes;
        }
        cplog()->debug("job '{}': checkpoint {} subtask {}/{}: {} bytes, alignment {:.1f} ms, sync {:.1f} ms, "
                       "async {:.1f} ms, in-flight {} bytes{}",
                       s.graph->name, id, ack->subtask + 1, s.plan->tasks[size_t(ack->task)].parallelism,
                       ack->bytes, ack->alignment_ms, ack->sync_ms, ack->async_ms, ack->inflight_bytes,
                       ack->unaligned ? " (unaligned)" : "");
        int slot = int(s.slot_base[size_t(ack->task)]) + ack->subtask;
        s.acks[id].push_back(ack);
        handle(self, s.coordinator->on_ack(id, slot, s.now_ms()));
      },
      [self](committed_atom, int32_t attempt, int64_t id, const std::string& err) {
        auto& s = self->state;
        if (s.ended) return;
        {
          std::lock_guard<std::mutex> l(s.log->mu);
          if (auto* i = s.log->find(id)) {
            i->status = err.empty() ? CheckpointInfo::Status::completed : CheckpointInfo::Status::aborted;
            i->ended_ms = s.now_ms();
            i->reason = err;
          }
        }
        if (!err.empty()) {
          cplog()->warn("job '{}': checkpoint {} could not be committed: {}", s.graph->name, id, err);
          for (auto& w : s.waiters[id]) w.deliver(int64_t(0), err);
          s.waiters.erase(id);
          if (s.coordinator) handle(self, s.coordinator->on_commit_failed(id, err, s.now_ms()));
          after_checkpoint(self);
          return;
        }
        s.last_completed = std::max(s.last_completed, id);
        if (s.coordinator) s.coordinator->on_committed(id);
        if (s.coordinator && s.coordinator->is_final(id)) {  // every task may close now
          std::lock_guard<std::mutex> l(s.log->mu);
          if (auto* i = s.log->find(id)) i->final = true;
        }
        {
          std::lock_guard<std::mutex> l(s.log->mu);
          if (auto* i = s.log->find(id))
            cplog()->info("job '{}': checkpoint {} complete: {} bytes in {} ms{}", s.graph->name, id, i->bytes,
                          i->ended_ms - i->triggered_ms, i->final ? " (final)" : "");
        }
        for (auto& w : s.waiters[id]) w.deliver(id, std::string());
        s.waiters.erase(id);
        if (s.stop_after.count(id)) {
          // Stop-with-savepoint: the savepoint commits (sinks publish), then every task stops;
          // the job ends once all are down. Nothing after the savepoint is committed.
          log::runtime()->info("job '{}' stopped with savepoint {}", s.graph->name, id);
          s.coordinator.reset();
          for (auto& row : *s.actors)
            for (auto& a : row) {
              self->send(a, complete_atom::value, id);
              self->send(a, cancel_atom::value);
              ++s.stopping;
            }
          return;
        }
        if (attempt == s.attempt)
          for (auto& row : *s.actors)
            for (auto& a : row) self->send(a, complete_atom::value, id);
        after_checkpoint(self);
      },
      [self](ended_atom, int32_t attempt, int32_t task, int32_t subtask, int64_t after) {
        auto& s = self->state;
        if (attempt != s.attempt || s.ended) return;
        if (s.coordinator)
          handle(self, s.coordinator->on_input_ended(int(s.slot_base[size_t(task)]) + subtask, after, s.now_ms()));
      },
      [self](drained_atom, int32_t attempt) {
        auto& s = self->state;
        if (--s.undrained[attempt] == 0) s.undrained.erase(attempt);
        if (s.restart_waits && (s.undrained.empty() || s.undrained.begin()->first >= s.attempt)) {
          s.restart_waits = false;
          self->send(self, restart_atom::value, s.attempt);
        }
      },
      [self](restart_atom, int32_t attempt) {
        auto& s = self->state;
        if (attempt != s.attempt || s.ended) return;
        // No commit of an earlier run may land after this run rolled its sinks back.
        if (!s.undrained.empty() && s.undrained.begin()->first < s.attempt) {
          s.restart_waits = true;
          return;
        }
        // Reads the checkpoint to restart from off the actor threads, then deploys.
        auto storage = s.storage;
        auto graph = s.graph;
        auto out = std::make_shared<std::shared_ptr<const RestoreState>>();
        auto me = caf::actor_cast<caf::actor>(self);
        s.io->post(
            s.strand,
            [storage, graph, out, completed = s.completed, origin = s.origin] {
              *out = restart_point(*storage, *completed, origin, *graph);
            },
            [me, attempt, out](const std::string& err) {
              caf::anon_send(me, restart_atom::value, attempt, *out, err);
            });
      },
      [self](restart_atom, int32_t attempt, std::shared_ptr<const RestoreState> restore, const std::string& err) {
        auto& s = self->state;
        if (attempt != s.attempt || s.ended) return;
        if (!err.empty()) {
          end_job(self, false, "job '" + s.graph->name + "' cannot restart: " + err);
          return;
        }
        s.restore = restore;
        if (restore) s.last_completed = int64_t(restore->checkpoint_id);
        deploy(self);
      },
      [self](savepoint_atom, bool savepoint) {
        auto& s = self->state;
        auto rp = self->make_response_promise();
        if (refuse_without_checkpoints(s, rp)) return;
        s.requests.emplace_back(savepoint, rp);
        trigger_now(self);
      },
      [self](stop_atom, bool drain) {
        auto& s = self->state;
        auto rp = self->make_response_promise();
        if (refuse_without_checkpoints(s, rp)) return;
        if (!drain) {
          s.stop_requested = true;
          s.requests.emplace_back(true, rp);
          trigger_now(self);
          return;
        }
        s.drain_waiter = rp;
        for (size_t t = 0; t < s.plan->tasks.size(); ++t)
          if (s.graph->nodes[size_t(s.plan->tasks[t].nodes.front())].is_source)
            for (auto& a : (*s.actors)[t]) self->send(a, drain_atom::value);
      },
  };
}

/// Opens the checkpoint directory and reads the checkpoint to start from, before any actor
/// runs. Throws JobError or CheckpointError with one sentence.
struct Prepared {
  std::shared_ptr<CheckpointStorage> storage;
  std::shared_ptr<const RestoreState> restore;
  bool already_finished = false;
};

Prepared prepare(const JobGraph& g) {
  Prepared p;
  const auto& c = g.config.checkpoint;
  auto dir = c.dir.empty() ? (std::filesystem::path("checkpoints") / g.name).string() : c.dir;
  if (c.enabled() || c.restore == "latest") p.storage = std::make_shared<CheckpointStorage>(dir, c.retained);
  if (c.restore.empty()) {
    // Retention would delete them within a few checkpoints: never silently.
    auto held = p.storage ? p.storage->complete_ids() : std::vector<uint64_t>{};
    if (!held.empty())
      throw UsageError("checkpoint directory '" + dir + "' holds checkpoints of an earlier run (newest chk-" +
                       std::to_string(held.back()) +
                       "); pass --restore latest to continue from them, or give another --checkpoint-dir");
    return p;
  }
  std::optional<CheckpointMetadata> m;
  std::string path;
  if (c.restore == "latest") {
    std::vector<std::string> skipped;
    m = p.storage->latest(&skipped);
    for (const auto& why : skipped) cplog()->warn("{}", why);
    if (!m) {
      log::runtime()->warn("job '{}': no usable checkpoint in '{}'; starting from scratch", g.name, dir);
      p.restore = from_scratch();  // what newer, unusable checkpoints committed is rolled back
      return p;
    }
    path = p.storage->checkpoint_dir(m->checkpoint_id).string();
  } else {
    path = c.restore;
    if (std::filesystem::is_regular_file(path)) path = std::filesystem::path(path).parent_path().string();
    m = CheckpointStorage::load(path);
  }
  p.restore = read_restore_state(*m, path, g);
  p.already_finished = !m->operators.empty();
  for (const auto& o : m->operators) p.already_finished &= o.finished;
  log::runtime()->info("job '{}' restores checkpoint {} from '{}'", g.name, m->checkpoint_id, path);
  return p;
}

/// Memory this process may use: the cgroup's limit where one is set, else the machine's.
uint64_t available_memory() {
  uint64_t bytes = uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(sysconf(_SC_PAGESIZE));
  std::ifstream limit("/sys/fs/cgroup/memory.max");
  uint64_t cgroup = 0;
  if (limit >> cgroup && cgroup > 0) bytes = std::min(bytes, cgroup);
  return bytes;
}

std::string gib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GiB", double(bytes) / double(1ull << 30));
  return text;
}

/// Refuses, before any actor exists, a job whose channels and subtasks alone would not fit
/// in memory (an all-to-all exchange at parallelism p has p² channels).
void refuse_what_cannot_fit(const JobGraph& g, const scheduler::ExecutionPlan& plan) {
  auto need = scheduler::estimate_memory(plan);
  auto have = available_memory();
  if (need.bytes() <= have / 10 * 8) return;
  throw UsageError("its " + std::to_string(need.subtasks) + " subtasks and " + std::to_string(need.channels) +
                   " channels need about " + gib(need.bytes()) + " before the first record (" +
                   std::to_string(scheduler::MemoryEstimate::channel_bytes) + " bytes a channel, " +
                   std::to_string(scheduler::MemoryEstimate::subtask_bytes / 1024) +
                   " KiB a subtask), more than 80% of the " + gib(have) + " this process has; lower the " +
                   "parallelism of '" + g.name + "' (an all-to-all exchange has producers × consumers channels)");
}

class EmbeddedJob final : public JobHandle {
 public:
  explicit EmbeddedJob(JobGraph g) {
    auto graph = std::make_shared<const JobGraph>(std::move(g));
    auto plan = std::make_shared<const scheduler::ExecutionPlan>(scheduler::plan(*graph));
    size_t slots = 0;
    for (const auto& t : plan->tasks) slots += size_t(t.parallelism);
    probes_ = std::make_unique<ProbeRegistry>(slots);
    io_ = std::make_unique<IoExecutor>(2);
    auto promise = std::make_shared<std::promise<JobResult>>();
    result_ = promise->get_future().share();
    Prepared prep;
    try {
      refuse_what_cannot_fit(*graph, *plan);
      prep = prepare(*graph);
    } catch (const std::exception& e) {
      JobResult r;
      r.job_name = graph->name;
      r.error = "job '" + graph->name + "' cannot start: " + e.what();
      r.usage_error = true;  // the checkpoint directory or the checkpoint to restore does not fit
      promise->set_value(r);
      return;
    }
    // A finished job still runs once from its final checkpoint: every operator is restored as
    // finished, so nothing is read again, but sinks commit what that checkpoint pre-committed
    // (the process may have died between `_metadata` and the commit).
    if (prep.already_finished)
      log::runtime()->warn("job '{}' had already finished at checkpoint {}; completing its commits", graph->name,
                           prep.restore->checkpoint_id);
    cfg_.set("scheduler.max-threads", size_t(graph->config.effective_worker_threads()));
    cfg_.set("scheduler.max-throughput", size_t(graph->config.max_throughput));
    cfg_.set("logger.verbosity", caf::atom("quiet"));
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    master_ = sys_->spawn(job_master, graph, plan, io_.get(), probes_.get(), promise, prep.storage, prep.restore, log_);
  }
  ~EmbeddedJob() override {
    if (result_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) cancel();
    result_.wait();
    master_ = nullptr;
    io_.reset();   // finishes outstanding I/O while the actors can still be told
    sys_.reset();  // waits for every actor to quit
  }
  /// The result, once the I/O of the job's last messages (a sink's final commit) is done.
  JobResult wait() override {
    auto r = result_.get();
    if (io_) io_->drain();
    return r;
  }
  void cancel() override {
    if (master_) caf::anon_send(master_, cancel_atom::value);
  }
  std::vector<TaskProbe> probes() const override { return probes_->snapshot(); }
  std::vector<CheckpointInfo> checkpoints() const override {
    std::lock_guard<std::mutex> l(log_->mu);
    return log_->infos;
  }
  int64_t trigger_checkpoint(bool savepoint) override { return ask(savepoint_atom::value, savepoint); }
  int64_t stop_with_savepoint(bool drain) override { return ask(stop_atom::value, drain); }

 private:
  /// Asks the master for a checkpoint and waits for its id (or its error sentence).
  template <class Atom>
  int64_t ask(Atom atom, bool flag) {
    if (!master_) throw JobError("the job is not running");
    caf::scoped_actor self(*sys_);
    int64_t id = 0;
    std::string error;
    self->request(master_, caf::infinite, atom, flag)
        .receive([&](int64_t i, const std::string& e) { id = i, error = e; },
                 [&](const caf::error& e) { error = "the job master did not answer: " + sys_->render(e); });
    if (!error.empty()) throw JobError(error);
    return id;
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<ProbeRegistry> probes_;
  std::unique_ptr<IoExecutor> io_;
  std::unique_ptr<caf::actor_system> sys_;
  std::shared_ptr<CheckpointLog> log_ = std::make_shared<CheckpointLog>();
  std::shared_future<JobResult> result_;
  caf::actor master_;
};

class EmbeddedExecutor final : public Executor {
 public:
  std::shared_ptr<JobHandle> submit(JobGraph graph) override {
    return std::make_shared<EmbeddedJob>(std::move(graph));
  }
};

/// Registers the embedded executor when libsluice loads, and keeps glibc from returning
/// batch-sized memory to the system after every free (a 10x slowdown measured here).
struct Registrar {
  Registrar() {
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    register_executor(std::make_unique<EmbeddedExecutor>());
  }
} registrar;

}  // namespace
}  // namespace sluice::runtime
