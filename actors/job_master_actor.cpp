// actors/job_master_actor.cpp — the job master's actor: routes messages into JobMaster and carries out its decisions with timers, the I/O strand and the job's SubtaskHost.
#include "actors/job_master_actor.hpp"

#include "scheduler/topology.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "actors/messages.hpp"
#include "scheduler/topology.hpp"
#include "sluice/error.hpp"
#include "sluice/logging.hpp"

#include <spdlog/spdlog.h>

namespace sluice::runtime {

CheckpointInfo* CheckpointLog::find(int64_t id) {
  for (auto it = infos.rbegin(); it != infos.rend(); ++it)
    if (it->id == id) return &*it;
  return nullptr;
}

namespace {

using checkpoint::CheckpointMetadata;
using checkpoint::CheckpointCommitter;
using checkpoint::CheckpointWriter;

std::shared_ptr<spdlog::logger> cplog() { return log::get("checkpoint"); }

struct MasterState {
  std::unique_ptr<JobMaster> master;
  std::shared_ptr<SubtaskHost> host;
  std::shared_ptr<const JobGraph> graph;
  IoExecutor* io = nullptr;
  std::shared_ptr<std::promise<JobResult>> promise;
  std::chrono::steady_clock::time_point started;

  std::map<RequestId, caf::response_promise> clients;
  RequestId next_request = 1;
  /// By attempt: where the I/O strand puts the checkpoint that attempt restarts from.
  std::map<int32_t, std::shared_ptr<std::shared_ptr<const RestoreState>>> restart_points;

  std::shared_ptr<CheckpointCommitter> committer;  // null: the job does not checkpoint
  std::shared_ptr<IoExecutor::Strand> strand;
  std::shared_ptr<CheckpointLog> log;
  /// Checkpoints this job completed, oldest first, in its current history (a restart to an
  /// older one drops the later ones). Touched only by jobs on `strand`, in order with commits.
  std::shared_ptr<std::vector<int64_t>> completed = std::make_shared<std::vector<int64_t>>();
  std::string origin;  // the checkpoint the job was started from (--restore), if any

  int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  }
};

using Self = caf::stateful_actor<MasterState>;

/// What a restart resumes from: the newest checkpoint this job completed that still verifies,
/// else the checkpoint it was started from (`origin`), else nothing (id 0: from scratch, and
/// two-phase-commit sinks roll back everything). Never another attempt's newer checkpoint in the
/// directory. Each one passed over gets a warning and leaves `completed` (the history goes on
/// from the one used, which is logged). Runs on the master's strand, after every commit
/// posted before it.
std::shared_ptr<const RestoreState> restart_point(const CheckpointCommitter& committer, std::vector<int64_t>& completed,
                                                  const std::string& origin, const JobGraph& graph) {
  auto retained = committer.complete_ids();
  while (!completed.empty()) {
    auto id = completed.back();
    if (std::binary_search(retained.begin(), retained.end(), uint64_t(id))) {
      auto dir = committer.checkpoint_dir(uint64_t(id));
      try {
        auto m = CheckpointCommitter::load(dir);
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
      auto m = CheckpointCommitter::load(origin);
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


/// Carries out what the job master decided, in the order MasterActions states.
void carry_out(Self* self, MasterActions&& a) {
  auto& s = self->state;
  auto me = caf::actor_cast<caf::actor>(self);
  for (const auto& c : a.commands) s.host->command(self, c);
  for (auto id : a.discard) {
    // What its subtasks wrote goes, so a full disk frees up for the next checkpoint.
    s.io->post(s.strand, [committer = s.committer, id] { committer->discard(uint64_t(id)); },
               [](const std::string& err) {
                 if (!err.empty()) cplog()->warn("{}", err);
               });
  }
  if (a.commit) {
    auto id = int64_t(a.commit->checkpoint_id);
    s.io->post(s.strand,
               [committer = s.committer, m = a.commit, completed = s.completed] {
                 committer->commit(*m);
                 completed->push_back(int64_t(m->checkpoint_id));
               },
               [me, id](const std::string& err) { caf::anon_send(me, committed_atom::value, id, err); });
  }
  {
    std::lock_guard<std::mutex> l(s.log->mu);
    s.log->restarts = s.master->restarts();
    for (auto id : a.changed) {  // a few recent entries: both searches start from the newest
      const auto* i = s.master->checkpoint(id);
      if (!i) continue;
      if (auto* mine = s.log->find(id)) *mine = *i;
      else s.log->infos.push_back(*i);
    }
  }
  // After the log: a client that hears of its checkpoint finds it there.
  for (auto& r : a.replies) {
    auto it = s.clients.find(r.request);
    if (it == s.clients.end()) continue;
    it->second.deliver(encode(ClientReply{r.checkpoint, r.error, r.text}));
    s.clients.erase(it);
  }
  for (auto attempt : a.deploy) s.host->deploy(self, *s.master, attempt);
  for (auto [attempt, ms] : a.restart_after_ms)
    self->delayed_send(self, std::chrono::milliseconds(ms), restart_atom::value, attempt);
  for (auto attempt : a.find_restart_point) {
    // Reads the checkpoint to restart from off the actor threads.
    auto out = std::make_shared<std::shared_ptr<const RestoreState>>();
    s.restart_points[attempt] = out;
    s.io->post(
        s.strand,
        [committer = s.committer, graph = s.graph, out, completed = s.completed, origin = s.origin] {
          *out = restart_point(*committer, *completed, origin, *graph);
        },
        [me, attempt](const std::string& err) { caf::anon_send(me, point_atom::value, attempt, err); });
  }
  if (a.result) {
    for (auto& [r, rp] : s.clients) rp.deliver(encode(ClientReply{0, "job '" + s.graph->name + "' ended", ""}));
    s.clients.clear();
    s.host->on_end();
    s.promise->set_value(std::move(*a.result));
    self->quit();
  }
}


/// The master actor: a thin shell that routes messages into JobMaster and carries out its
/// decisions with actors, timers and the I/O strand.
caf::behavior job_master(Self* self, JobMasterSetup setup, std::shared_ptr<SubtaskHost> host) {
  auto& st = self->state;
  st.graph = setup.graph;
  st.host = std::move(host);
  st.io = setup.io;
  st.promise = setup.promise;
  st.started = std::chrono::steady_clock::now();
  st.committer = setup.committer;
  if (setup.restore && setup.restore->checkpoint_id > 0) st.origin = setup.restore->path;
  st.log = setup.log;
  st.strand = st.io->make_strand();
  st.master = std::make_unique<JobMaster>(setup.graph, setup.plan, st.committer != nullptr,
                                          st.committer ? st.committer->highest_id() : 0, setup.restore,
                                          std::move(setup.job_id));
  if (setup.slots > 0) st.master->set_slots(setup.slots);
  carry_out(self, st.master->start(st.now_ms()));
  auto tick = std::chrono::milliseconds(
      std::clamp<int64_t>(st.graph->config.checkpoint.interval.count() / 10, 5, 100));
  if (st.committer) self->send(self, tick_atom::value);

  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& s = self->state;
    int32_t attempt = 0;
    int index = 0;
    if (!s.host->subtask_of(dm.source, attempt, index)) return;
    carry_out(self, s.master->on_subtask_down(attempt, index, dm.reason ? self->system().render(dm.reason) : "",
                                              s.now_ms()));
  });
  return {
      [self](report_atom, const ControlBuffer& b) {
        auto& s = self->state;
        TaskReport r;
        try {
          r = decode_report(b);
        } catch (const DecodeError& e) {
          log::runtime()->error("job '{}': a task report was dropped: {}", s.graph->name, e.what());
          return;
        }
        carry_out(self, s.master->on_report(r, s.now_ms()));
      },
      [self](client_atom, const ControlBuffer& b) {
        auto& s = self->state;
        auto rp = self->make_response_promise();
        ClientRequest q;
        try {
          q = decode_request(b);
        } catch (const DecodeError& e) {
          rp.deliver(encode(ClientReply{0, e.what(), ""}));
          return;
        }
        auto r = s.next_request++;
        s.clients.emplace(r, rp);
        auto now = s.now_ms();
        switch (q.kind) {
          case ClientRequest::Kind::checkpoint: carry_out(self, s.master->on_checkpoint_request(r, false, now)); break;
          case ClientRequest::Kind::savepoint: carry_out(self, s.master->on_checkpoint_request(r, true, now)); break;
          case ClientRequest::Kind::stop: carry_out(self, s.master->on_stop_request(r, q.drain, now)); break;
          case ClientRequest::Kind::cancel:
            s.clients.erase(r);
            rp.deliver(encode(ClientReply{}));
            carry_out(self, s.master->on_cancel(now));
            break;
          case ClientRequest::Kind::query: carry_out(self, s.master->on_query(r, q.query, now)); break;
        }
      },
      [self, tick](tick_atom) {
        auto& s = self->state;
        if (s.master->ended()) return;
        carry_out(self, s.master->on_time(s.now_ms()));
        self->delayed_send(self, tick, tick_atom::value);
      },
      [self](committed_atom, int64_t id, const std::string& err) {
        auto& s = self->state;
        carry_out(self, s.master->on_committed(id, err, s.now_ms()));
      },
      [self](gone_atom, int32_t attempt, int32_t index, const std::string& error) {
        auto& s = self->state;
        carry_out(self, s.master->on_subtask_down(attempt, index, error, s.now_ms()));
      },
      [self](host_atom, int32_t attempt) { self->state.host->on_retry(self, *self->state.master, attempt); },
      [self](lost_atom, const std::string& agent, int32_t slots) {
        carry_out(self, self->state.master->on_agent_lost(agent, slots));
      },
      [self](slots_atom, int32_t slots) { carry_out(self, self->state.master->on_cluster_slots(slots)); },
      [self](quiet_atom, int32_t attempt) { carry_out(self, self->state.master->on_io_done(attempt)); },
      [self](restart_atom, int32_t attempt) { carry_out(self, self->state.master->on_restart_due(attempt)); },
      [self](point_atom, int32_t attempt, const std::string& err) {
        auto& s = self->state;
        auto it = s.restart_points.find(attempt);
        if (it == s.restart_points.end()) return;
        auto restore = std::move(*it->second);
        s.restart_points.erase(it);
        carry_out(self, s.master->on_restart_point(attempt, std::move(restore), err, s.now_ms()));
      },
  };
}

}  // namespace

caf::actor spawn_job_master(caf::actor_system& sys, JobMasterSetup setup, std::shared_ptr<SubtaskHost> host) {
  return sys.spawn(job_master, std::move(setup), std::move(host));
}

MasterJobHandle::MasterJobHandle(std::string name)
    : id_(new_job_id()),
      name_(std::move(name)),
      submitted_ms_(std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count()) {}

JobShape MasterJobHandle::shape_of(const JobGraph& graph, const scheduler::ExecutionPlan& plan) {
  JobShape shape;
  shape.max_parallelism = graph.config.max_parallelism;
  for (const auto& t : plan.tasks) {
    TaskShape task{t.id, t.name, {}, {}, t.parallelism, t.is_source};
    for (int node : t.nodes) {
      task.operator_ids.push_back(plan.operator_ids[size_t(node)]);
      task.operator_names.push_back(graph.nodes[size_t(node)].name);
    }
    shape.tasks.push_back(std::move(task));
  }
  for (const auto& x : plan.exchanges)
    shape.edges.push_back({x.source_task, x.target_task, scheduler::partitioning_word(x.partitioning)});
  return shape;
}

int MasterJobHandle::restarts() const {
  std::lock_guard<std::mutex> l(log_->mu);
  return log_->restarts;
}

caf::actor MasterJobHandle::master() const {
  std::lock_guard<std::mutex> l(handle_mu_);
  return master_;
}

JobResult MasterJobHandle::wait() {
  std::unique_lock<std::mutex> l(handle_mu_);
  for (;;) {
    rescaled_.wait(l, [&] { return !rescaling_; });
    auto result = result_;
    auto run = run_;
    l.unlock();
    auto r = result.get();
    l.lock();
    if (rescaling_ || run != run_) continue;  // a rescale took over: wait for its run
    l.unlock();
    wait_io();
    return r;
  }
}

bool MasterJobHandle::done() const {
  std::lock_guard<std::mutex> l(handle_mu_);
  return !rescaling_ && result_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

void MasterJobHandle::cancel() {
  {
    std::lock_guard<std::mutex> l(handle_mu_);
    canceled_ = true;
  }
  if (auto m = master()) caf::anon_send(m, client_atom::value, encode(ClientRequest{ClientRequest::Kind::cancel, false, {}}));
}

RescaleResult MasterJobHandle::rescale(int parallelism) {
  using Clock = std::chrono::steady_clock;
  if (parallelism < 1) throw UsageError("a job's parallelism must be at least 1, not " + std::to_string(parallelism));
  std::shared_ptr<const JobGraph> before;
  {  // One rescale at a time: checked and claimed together.
    std::lock_guard<std::mutex> l(handle_mu_);
    if (rescaling_) throw JobError("job '" + name_ + "' is being rescaled already");
    if (canceled_ || !graph_ || result_.wait_for(std::chrono::seconds(0)) == std::future_status::ready)
      throw JobError("job '" + name_ + "' has ended");
    before = graph_;
    rescaling_ = true;
  }
  // Whatever happens from here, waiters are let go once this returns or throws.
  struct Release {
    MasterJobHandle* job;
    ~Release() {
      std::lock_guard<std::mutex> l(job->handle_mu_);
      job->rescaling_ = false;
      job->rescaled_.notify_all();
    }
  } release{this};
  // The next run's graph, checked before anything stops: sources keep their parallelism (their
  // positions cannot move between subtasks), as do operators given one explicitly.
  JobGraph next = *before;
  RescaleResult out;
  out.to = parallelism;
  next.config.parallelism = parallelism;
  for (size_t n = 0; n < next.nodes.size(); ++n) {
    auto& node = next.nodes[n];
    if (node.parallelism == 0 && !node.is_source) out.from = std::max(out.from, before->parallelism_of(int(n)));
    if (node.is_source && node.parallelism == 0) node.parallelism = before->parallelism_of(int(n));
    if (node.parallelism != 0) out.fixed.push_back(node.name);
  }
  try {
    next.validate();
    check_fits(next, scheduler::plan(next));
  } catch (const JobError& e) {
    throw UsageError("job '" + name_ + "' cannot run at parallelism " + std::to_string(parallelism) + ": " + e.what());
  }
  auto asked = Clock::now();
  std::shared_future<JobResult> old_result;
  {
    std::lock_guard<std::mutex> l(handle_mu_);
    old_result = result_;
  }
  out.savepoint = stop_with_savepoint(false);  // throws when it cannot: the job runs on as it was
  out.savepoint_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - asked).count();
  auto stopped = old_result.get();
  wait_io();  // its sinks' commits are done
  if (!stopped.succeeded)
    throw JobError("job '" + name_ + "' failed while it stopped for the rescale: " + stopped.error);
  // The stopped run lets go of the checkpoint directory once its master's state is gone.
  for (auto until = Clock::now() + std::chrono::seconds(30); !committer_.expired() && Clock::now() < until;)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto& c = before->config.checkpoint;
  auto dir = c.dir.empty() ? (std::filesystem::path("checkpoints") / before->name) : std::filesystem::path(c.dir);
  next.config.checkpoint.restore = (dir / ("chk-" + std::to_string(out.savepoint))).string();
  {
    std::lock_guard<std::mutex> l(handle_mu_);
    // Canceled while it stopped: the job ends as the stopped run ended, at the savepoint.
    if (canceled_) throw JobError("job '" + name_ + "' was canceled during the rescale; it stopped at savepoint " +
                                  std::to_string(out.savepoint));
    start(std::make_shared<const JobGraph>(std::move(next)));
  }
  log::runtime()->info("job '{}' rescaled from parallelism {} to {} through savepoint {}", name_, out.from, out.to,
                       out.savepoint);
  {
    std::lock_guard<std::mutex> l(handle_mu_);
    rescaling_ = false;
    rescaled_.notify_all();
  }
  // Records flow again once every subtask of the new run is running and its sources emit.
  std::set<int> sources;
  for (const auto& t : shape().tasks)
    if (t.source) sources.insert(t.id);
  auto give_up = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < give_up && !done()) {
    auto now = probes();
    bool running = !now.empty(), emitting = false;
    for (const auto& p : now) {
      running = running && p.status == "running";
      emitting = emitting || (sources.count(p.task_id) && p.records_out > 0);
    }
    if (running && emitting) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  out.downtime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - asked).count();
  if (done()) {
    JobResult r;
    {
      std::lock_guard<std::mutex> l(handle_mu_);
      r = result_.get();
    }
    if (!r.succeeded) throw JobError("job '" + name_ + "' did not start again at parallelism " +
                                     std::to_string(parallelism) + ": " + r.error);
  }
  return out;
}

std::vector<CheckpointInfo> MasterJobHandle::checkpoints() const {
  std::lock_guard<std::mutex> l(log_->mu);
  return log_->infos;
}

int64_t MasterJobHandle::trigger_checkpoint(bool savepoint) {
  return ask({savepoint ? ClientRequest::Kind::savepoint : ClientRequest::Kind::checkpoint, false, {}});
}

int64_t MasterJobHandle::stop_with_savepoint(bool drain) { return ask({ClientRequest::Kind::stop, drain, {}}); }

int64_t MasterJobHandle::ask(const ClientRequest& q) { return ask_reply(q, std::nullopt).checkpoint; }

ClientReply MasterJobHandle::ask_reply(const ClientRequest& q, std::optional<std::chrono::milliseconds> timeout) {
  auto to = master();
  if (!to) throw JobError("the job is not running");
  auto& sys = to.home_system();
  caf::scoped_actor self(sys);
  ClientReply reply;
  self->request(to, timeout ? caf::duration(*timeout) : caf::duration(caf::infinite), client_atom::value,
                encode(q))
      .receive([&](const ControlBuffer& b) { reply = decode_reply(b); },
               [&](const caf::error& e) {
                 reply.error = e == caf::sec::request_timeout
                                   ? "no answer within the time allowed (the subtasks may be restarting or finished)"
                                   : "the job master did not answer: " + sys.render(e);
               });
  if (!reply.error.empty()) throw JobError(reply.error);
  return reply;
}

std::string MasterJobHandle::query(const TaskQuery& q) {
  // A trace samples for up to 5 s before it answers; everything else answers between two messages.
  auto wait = std::chrono::milliseconds(q.kind == TaskQuery::Kind::trace ? 15'000 : 10'000);
  return ask_reply(ClientRequest{ClientRequest::Kind::query, false, q}, wait).text;
}

std::string new_job_id() {
  std::random_device rd;
  char text[17];
  std::snprintf(text, sizeof text, "%08x%08x", rd(), rd());
  return text;
}

PreparedStart prepare_start(const JobGraph& g) {
  PreparedStart p;
  const auto& c = g.config.checkpoint;
  auto dir = c.dir.empty() ? (std::filesystem::path("checkpoints") / g.name).string() : c.dir;
  if (c.enabled() || c.restore == "latest") p.committer = std::make_shared<CheckpointCommitter>(dir, c.retained);
  if (c.restore.empty()) {
    // Retention would delete them within a few checkpoints: never silently.
    auto held = p.committer ? p.committer->complete_ids() : std::vector<uint64_t>{};
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
    m = p.committer->latest(&skipped);
    for (const auto& why : skipped) cplog()->warn("{}", why);
    if (!m) {
      log::runtime()->warn("job '{}': no usable checkpoint in '{}'; starting from scratch", g.name, dir);
      p.restore = from_scratch();  // what newer, unusable checkpoints committed is rolled back
      return p;
    }
    path = p.committer->checkpoint_dir(m->checkpoint_id).string();
  } else {
    path = c.restore;
    if (std::filesystem::is_regular_file(path)) path = std::filesystem::path(path).parent_path().string();
    m = CheckpointCommitter::load(path);
  }
  p.restore = read_restore_state(*m, path, g);
  p.already_finished = !m->operators.empty();
  for (const auto& o : m->operators) p.already_finished &= o.finished;
  log::runtime()->info("job '{}' restores checkpoint {} from '{}'", g.name, m->checkpoint_id, path);
  return p;
}

}  // namespace sluice::runtime
