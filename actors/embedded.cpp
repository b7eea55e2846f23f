// actors/embedded.cpp — the embedded executor: one actor system per job, a job master actor (a shell around JobMaster), every subtask an actor.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <random>

#include "actors/io_executor.hpp"
#include "actors/job_master.hpp"
#include "actors/messages.hpp"
#include "actors/probe_registry.hpp"
#include "checkpoint/restore.hpp"
#include "actors/task_actor.hpp"
#include "checkpoint/storage.hpp"
#include "scheduler/plan.hpp"
#include "sluice/error.hpp"
#include "sluice/executor.hpp"
#include "sluice/logging.hpp"

#include <spdlog/spdlog.h>

namespace sluice::runtime {

namespace {

using checkpoint::CheckpointMetadata;
using checkpoint::CheckpointCommitter;
using checkpoint::CheckpointWriter;

std::shared_ptr<spdlog::logger> cplog() { return log::get("checkpoint"); }

/// The checkpoints of a job, written by the master, read by job clients.
struct CheckpointLog {
  mutable std::mutex mu;
  std::vector<CheckpointInfo> infos;
  CheckpointInfo* find(int64_t id) {  // from the newest: the one asked for is nearly always recent
    for (auto it = infos.rbegin(); it != infos.rend(); ++it)
      if (it->id == id) return &*it;
    return nullptr;
  }
};

struct MasterState {
  std::unique_ptr<JobMaster> master;
  std::shared_ptr<const JobGraph> graph;
  std::shared_ptr<const scheduler::ExecutionPlan> plan;
  IoExecutor* io = nullptr;
  ProbeRegistry* probes = nullptr;
  std::shared_ptr<std::promise<JobResult>> promise;
  std::chrono::steady_clock::time_point started;

  std::vector<caf::actor> flat;  // the current attempt's subtasks, by flat index
  std::map<caf::actor_addr, std::pair<int32_t, int>> subtask_of;  // (attempt, flat index) of every live actor
  std::map<RequestId, caf::response_promise> clients;
  RequestId next_request = 1;
  /// By attempt: where the I/O strand puts the checkpoint that attempt restarts from.
  std::map<int32_t, std::shared_ptr<std::shared_ptr<const RestoreState>>> restart_points;

  std::shared_ptr<CheckpointCommitter> committer;  // null: the job does not checkpoint
  std::shared_ptr<CheckpointWriter> writer;      // what the tasks write with; null likewise
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

/// Spawns every subtask of attempt `attempt`, starting from `restore`, each from its deployment.
void deploy(Self* self, int32_t attempt, std::shared_ptr<const RestoreState> restore) {
  auto& s = self->state;
  s.flat.clear();
  for (size_t index = 0; index < s.master->subtasks(); ++index) {
    TaskEnv env{caf::actor_cast<caf::actor>(self), s.io, s.probes, index, attempt};
    TaskSpec spec{s.graph, s.plan, 0, 0, s.writer, restore, {}};
    auto a = spawn_task(self->system(), std::move(spec), encode(s.master->deployment(int(index))), env);
    self->monitor(a);
    s.subtask_of[a.address()] = {attempt, int(index)};
    s.flat.push_back(a);
  }
  // One message each, shared by every subtask.
  auto wire = caf::make_message(wire_atom::value, s.flat);
  auto start = caf::make_message(command_atom::value, encode(TaskCommand{TaskCommand::Kind::start}));
  for (auto& a : s.flat) self->send(a, wire);
  for (auto& a : s.flat) self->send(a, start);
}

/// Carries out what the job master decided, in the order MasterActions states.
void carry_out(Self* self, MasterActions&& a) {
  auto& s = self->state;
  auto me = caf::actor_cast<caf::actor>(self);
  for (const auto& c : a.commands) {
    auto m = caf::make_message(command_atom::value, encode(c));
    if (c.index >= 0) self->send(s.flat[size_t(c.index)], m);
    else
      for (auto& actor : s.flat) self->send(actor, m);
  }
  for (auto id : a.discard) {
    // What its subtasks wrote goes, so a full disk frees up for the next checkpoint.
    s.io->post(s.strand, [committer = s.committer, id] { committer->discard(uint64_t(id)); },
               [](const std::string& err) {
                 if (!err.empty()) cplog()->warn("{}", err);
               });
  }
  if (a.commit) {
    auto attempt = s.master->attempt();
    auto id = int64_t(a.commit->checkpoint_id);
    s.io->post(s.strand,
               [committer = s.committer, m = a.commit, completed = s.completed] {
                 committer->commit(*m);
                 completed->push_back(int64_t(m->checkpoint_id));
               },
               [me, attempt, id](const std::string& err) { caf::anon_send(me, committed_atom::value, attempt, id, err); });
  }
  for (auto& r : a.replies) {
    auto it = s.clients.find(r.request);
    if (it == s.clients.end()) continue;
    it->second.deliver(encode(ClientReply{r.checkpoint, r.error}));
    s.clients.erase(it);
  }
  if (!a.changed.empty()) {  // a few recent entries: both searches start from the newest
    std::lock_guard<std::mutex> l(s.log->mu);
    for (auto id : a.changed) {
      const auto* i = s.master->checkpoint(id);
      if (!i) continue;
      if (auto* mine = s.log->find(id)) *mine = *i;
      else s.log->infos.push_back(*i);
    }
  }
  if (a.deploy) deploy(self, *a.deploy, std::move(a.restore));
  if (a.restart_after_ms)
    self->delayed_send(self, std::chrono::milliseconds(a.restart_after_ms->second), restart_atom::value,
                       a.restart_after_ms->first);
  if (a.find_restart_point) {
    // Reads the checkpoint to restart from off the actor threads.
    auto attempt = *a.find_restart_point;
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
    for (auto& [r, rp] : s.clients) rp.deliver(encode(ClientReply{0, "job '" + s.graph->name + "' ended"}));
    s.clients.clear();
    s.promise->set_value(std::move(*a.result));
    self->quit();
  }
}

/// The master actor: a thin shell that routes messages into JobMaster and carries out its
/// decisions with actors, timers and the I/O strand.
caf::behavior job_master(Self* self, std::shared_ptr<const JobGraph> graph,
                         std::shared_ptr<const scheduler::ExecutionPlan> plan, IoExecutor* io, ProbeRegistry* probes,
                         std::shared_ptr<std::promise<JobResult>> promise, std::shared_ptr<CheckpointCommitter> committer,
                         std::shared_ptr<const RestoreState> restore, std::shared_ptr<CheckpointLog> cplog_,
                         std::string job_id) {
  auto& st = self->state;
  st.graph = graph;
  st.plan = plan;
  st.io = io;
  st.probes = probes;
  st.promise = promise;
  st.started = std::chrono::steady_clock::now();
  st.committer = committer;
  if (committer) st.writer = std::make_shared<CheckpointWriter>(committer->directory());
  if (restore && restore->checkpoint_id > 0) st.origin = restore->path;
  st.log = cplog_;
  st.strand = io->make_strand();
  st.master = std::make_unique<JobMaster>(graph, plan, committer != nullptr, committer ? committer->highest_id() : 0, restore,
                                          std::move(job_id));
  carry_out(self, st.master->start(st.now_ms()));
  auto tick = std::chrono::milliseconds(
      std::clamp<int64_t>(graph->config.checkpoint.interval.count() / 10, 5, 100));
  if (committer) self->send(self, tick_atom::value);

  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& s = self->state;
    auto it = s.subtask_of.find(dm.source);
    if (it == s.subtask_of.end()) return;
    auto [attempt, index] = it->second;
    s.subtask_of.erase(it);
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
          rp.deliver(encode(ClientReply{0, e.what()}));
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
        }
      },
      [self, tick](tick_atom) {
        auto& s = self->state;
        if (s.master->ended()) return;
        carry_out(self, s.master->on_time(s.now_ms()));
        self->delayed_send(self, tick, tick_atom::value);
      },
      [self](committed_atom, int32_t attempt, int64_t id, const std::string& err) {
        auto& s = self->state;
        carry_out(self, s.master->on_committed(attempt, id, err, s.now_ms()));
      },
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

/// Opens the checkpoint directory and reads the checkpoint to start from, before any actor
/// runs. Throws JobError or CheckpointError with one sentence.
struct Prepared {
  std::shared_ptr<CheckpointCommitter> committer;
  std::shared_ptr<const RestoreState> restore;
  bool already_finished = false;
};

Prepared prepare(const JobGraph& g) {
  Prepared p;
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
  explicit EmbeddedJob(JobGraph g) : id_(new_job_id()), name_(g.name) {
    auto graph = std::make_shared<const JobGraph>(std::move(g));
    auto plan = std::make_shared<const scheduler::ExecutionPlan>(scheduler::plan(*graph));
    probes_ = std::make_unique<ProbeRegistry>(plan->subtask_count());
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
    master_ = sys_->spawn(job_master, graph, plan, io_.get(), probes_.get(), promise, prep.committer, prep.restore, log_, id_);
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
    if (io_) io_->wait_idle();
    return r;
  }
  void cancel() override {
    if (master_) caf::anon_send(master_, client_atom::value, encode(ClientRequest{ClientRequest::Kind::cancel, false}));
  }
  const std::string& id() const override { return id_; }
  const std::string& name() const override { return name_; }
  bool done() const override { return result_.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }
  std::vector<TaskProbe> probes() const override { return probes_->snapshot(); }
  std::vector<CheckpointInfo> checkpoints() const override {
    std::lock_guard<std::mutex> l(log_->mu);
    return log_->infos;
  }
  int64_t trigger_checkpoint(bool savepoint) override {
    return ask({savepoint ? ClientRequest::Kind::savepoint : ClientRequest::Kind::checkpoint, false});
  }
  int64_t stop_with_savepoint(bool drain) override { return ask({ClientRequest::Kind::stop, drain}); }

 private:
  /// Asks the master for a checkpoint and waits for its id (or its error sentence).
  int64_t ask(const ClientRequest& q) {
    if (!master_) throw JobError("the job is not running");
    caf::scoped_actor self(*sys_);
    ClientReply reply;
    self->request(master_, caf::infinite, client_atom::value, encode(q))
        .receive([&](const ControlBuffer& b) { reply = decode_reply(b); },
                 [&](const caf::error& e) { reply.error = "the job master did not answer: " + sys_->render(e); });
    if (!reply.error.empty()) throw JobError(reply.error);
    return reply.checkpoint;
  }

  static std::string new_job_id() {
    std::random_device rd;
    char text[17];
    std::snprintf(text, sizeof text, "%08x%08x", rd(), rd());
    return text;
  }

  std::string id_, name_;
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
    auto job = std::make_shared<EmbeddedJob>(std::move(graph));
    register_job(job);
    return job;
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
