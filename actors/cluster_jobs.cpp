// actors/cluster_jobs.cpp — application mode on the master: the main on its own thread with a cluster executor, a job master actor per job, and the AgentHost that places and deploys its subtasks on agents.
#include "actors/cluster_jobs.hpp"

#include <atomic>
#include <filesystem>
#include <future>
#include <optional>
#include <random>
#include <set>

#include "actors/actor_system.hpp"
#include "actors/io_executor.hpp"
#include "actors/job_master_actor.hpp"
#include "actors/messages.hpp"
#include "checkpoint/storage.hpp"
#include "scheduler/placement.hpp"
#include "scheduler/topology.hpp"
#include "sluice/error.hpp"
#include "sluice/executor.hpp"
#include "sluice/logging.hpp"

#include <spdlog/spdlog.h>

namespace sluice::runtime {

using Clock = std::chrono::steady_clock;

struct ClusterJobs::Shared {
  ClusterJobsOptions options;
  LibraryStore& libraries;
  AgentDirectory directory;
  std::function<void(const std::string&)> say;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<IoExecutor> io = std::make_unique<IoExecutor>(2);

  std::mutex mu;
  RouteTable routes;
  std::map<uint64_t, caf::actor> masters;  // by job key: the job master actors of running jobs
  std::map<uint64_t, std::function<bool(const ClusterMessage&)>> clients;  // by job key: its main's client
  /// By job key: when and why it last lost subtasks, until records flow again.
  std::map<uint64_t, std::pair<Clock::time_point, std::string>> recovering;
  std::map<uint64_t, std::string> names;  // by job key
  std::map<uint64_t, std::shared_ptr<const JobGraph>> graphs;  // by job key: as its main built it
  /// By job key: the latest probe of each subtask, by (task, subtask), as agents sent them.
  std::map<uint64_t, std::map<std::pair<int, int>, TaskProbe>> probes;
  std::vector<std::shared_ptr<JobHandle>> jobs;  // every job, oldest first (ended ones: the last 100)
  uint64_t next_job = 1;
  /// BATCH runs are numbered from here (DeployOrder::batch): another master's numbers differ.
  uint32_t batch_seed = uint32_t(std::random_device{}());
  /// Slots the registered agents offer, but `except`'s. Reads the directory: call it without `mu`.
  int32_t slots(const std::string& except = {}) const {
    int32_t n = 0;
    for (const auto& a : directory.agents())
      if (a.name != except) n += a.slots;
    return n;
  }
  struct Main {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Main> mains;
  bool stopping = false;

  Shared(ClusterJobsOptions o, LibraryStore& l, AgentDirectory d, std::function<void(const std::string&)> s)
      : options(std::move(o)), libraries(l), directory(std::move(d)), say(std::move(s)) {
    configure_actor_system(cfg, 2);
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  /// Hands route events to their job masters. Called with `mu` held.
  void dispatch(const std::vector<RouteEvent>& events) {
    for (const auto& e : events) {
      if (e.kind == RouteEvent::Kind::gone && !e.error.empty() && !recovering.count(e.job))
        recovering[e.job] = {Clock::now(), e.error};
      auto it = masters.find(e.job);
      if (it == masters.end()) continue;
      if (e.kind == RouteEvent::Kind::gone) caf::anon_send(it->second, gone_atom::value, e.attempt, int32_t(e.index), e.error);
      else caf::anon_send(it->second, quiet_atom::value, e.attempt);
    }
  }
};

namespace {

using Shared = ClusterJobs::Shared;

/// One run of a library's main, as its client submitted it.
struct Application {
  std::string hash;
  std::vector<std::string> options;
  std::string client;
  std::function<bool(const ClusterMessage&)> reply;
  int submitted = 0;
};

/// A job's subtasks on agents: each attempt (one pipelined region) is placed when deployed
/// (slots wait up to the slot timeout) and gets a route of its own, one DeployOrder per agent;
/// commands go to the agent and route of each subtask.
class AgentHost final : public SubtaskHost {
 public:
  AgentHost(Shared* shared, uint64_t job, DeployOrder order,
            std::shared_ptr<const scheduler::ExecutionPlan> plan, std::string name)
      : shared_(shared), job_(job), order_(std::move(order)), plan_(std::move(plan)), name_(std::move(name)) {}

  void deploy(caf::event_based_actor* self, JobMaster& master, int32_t attempt) override {
    pending_[attempt] = Clock::now() + shared_->options.slot_timeout;
    try_deploy(self, master, attempt);
  }
  void on_retry(caf::event_based_actor* self, JobMaster& master, int32_t attempt) override {
    if (pending_.count(attempt)) try_deploy(self, master, attempt);
  }
  void command(caf::event_based_actor* self, const TaskCommand& c) override {
    // An attempt still waiting for slots: a cancel ends it, anything else waits with it.
    bool cancel = c.kind == TaskCommand::Kind::cancel;
    if (c.index >= 0) {
      const auto& at = at_[size_t(c.index)];
      if (pending_.count(at.attempt)) {
        if (cancel) abandon(self, at.attempt, "");
      } else if (at.route) {
        shared_->directory.send(at.agent,
                                ClusterMessage::routed(ClusterMessage::Kind::command, at.route, c.index, encode(c)));
      }
      return;
    }
    if (cancel)
      for (const auto& [attempt, until] : decltype(pending_)(pending_)) abandon(self, attempt, "");
    auto body = encode(c);
    std::set<std::pair<std::string, uint32_t>> sent;  // one command per agent and route
    for (const auto& at : at_)
      if (at.route && !pending_.count(at.attempt) && sent.emplace(at.agent, at.route).second)
        shared_->directory.send(at.agent, ClusterMessage::routed(ClusterMessage::Kind::command, at.route, -1, body));
  }
  bool subtask_of(const caf::actor_addr&, int32_t&, int&) override { return false; }
  void on_end() override {
    // BATCH: every agent drops the run's partition files (an agent that has none ignores it).
    if (order_.batch)
      for (const auto& a : shared_->directory.agents()) shared_->directory.send(a.name, ClusterMessage::release_of(order_.batch));
    std::lock_guard lock(shared_->mu);
    shared_->masters.erase(job_);
    shared_->clients.erase(job_);
    shared_->recovering.erase(job_);
    shared_->names.erase(job_);
    shared_->probes.erase(job_);
    shared_->graphs.erase(job_);
  }

 private:
  /// Where one subtask's newest attempt runs (route 0: not deployed yet).
  struct At {
    int32_t attempt = -1;
    std::string agent;
    uint32_t route = 0;
  };

  void try_deploy(caf::event_based_actor* self, JobMaster& master, int32_t attempt) {
    const auto& indexes = master.subtasks_of(attempt);
    if (at_.empty()) at_.resize(master.subtasks());
    for (int i : indexes) at_[size_t(i)] = {attempt, {}, 0};
    std::vector<scheduler::AgentSlots> free;
    std::map<std::string, std::string> address;
    auto agents = shared_->directory.agents();
    std::lock_guard lock(shared_->mu);
    for (const auto& a : agents) {
      free.push_back({a.name, a.slots - shared_->routes.used(a.name)});
      address[a.name] = a.data_address;
    }
    // BATCH deploys each subtask alone, in one slot; a pipelined region takes a slot per
    // subtask of its widest task.
    auto placed = plan_->batch ? scheduler::place_subtask(*plan_, free, name_, indexes.front())
                               : scheduler::place(*plan_, free, name_,
                                                  master.regions() == 1 ? std::vector<int>{} : master.tasks_of(attempt));
    if (auto* why = std::get_if<std::string>(&placed)) {
      if (Clock::now() < pending_[attempt]) {
        self->delayed_send(self, std::chrono::milliseconds(100), host_atom::value, attempt);
        return;
      }
      auto waited = std::chrono::duration_cast<std::chrono::seconds>(shared_->options.slot_timeout).count();
      abandon(self, attempt, *why + " (waited " + std::to_string(waited) + " s)");
      return;
    }
    auto& p = std::get<scheduler::Placement>(placed);
    pending_.erase(attempt);
    master.set_placement(attempt, p);
    auto agent_of = p.agents();
    auto route = shared_->routes.add(job_, attempt, agent_of, p.taken);
    std::map<std::string, DeployOrder> orders;
    std::set<std::string> named;  // every agent the deployments name: the attempt's, and in BATCH the inputs' files'
    for (int i : indexes) {
      at_[size_t(i)] = {attempt, agent_of[size_t(i)], route};
      auto [it, fresh] = orders.try_emplace(agent_of[size_t(i)], order_);
      if (fresh) it->second.route = route;
      auto d = master.deployment(i);
      for (const auto& peer : d.peers)
        if (!peer.empty()) named.insert(peer);
      it->second.tasks.push_back(encode(d));
    }
    for (auto& [agent, order] : orders)
      for (const auto& peer : named)
        if (address.count(peer)) order.agents.emplace_back(peer, address[peer]);
    std::string where;
    for (const auto& [agent, order] : orders)
      where += (where.empty() ? "" : ", ") + agent + " (" + std::to_string(order.tasks.size()) + ")";
    shared_->say("job '" + name_ + "' attempt " + std::to_string(attempt) + " deployed on " + where);
    for (auto& [agent, order] : orders) {
      if (shared_->directory.send(agent, ClusterMessage::deployment(std::move(order)))) continue;
      shared_->dispatch(shared_->routes.on_lost(agent, "agent " + agent + " was gone before its subtasks were deployed"));
    }
  }

  /// Ends attempt `attempt` before anything was deployed: the failure (unless `error` is
  /// empty), then every subtask of it gone and quiet, as the job master counts them.
  void abandon(caf::event_based_actor* self, int32_t attempt, const std::string& error) {
    pending_.erase(attempt);
    if (!error.empty()) {
      TaskReport r;
      r.kind = TaskReport::Kind::failed;
      r.attempt = attempt;
      r.error = error;
      self->send(self, report_atom::value, encode(r));
    }
    for (size_t i = 0; i < at_.size(); ++i) {
      if (at_[i].attempt != attempt) continue;
      self->send(self, gone_atom::value, attempt, int32_t(i), error);
      self->send(self, quiet_atom::value, attempt);
    }
  }

  Shared* shared_;  // outlives every job: ClusterJobs keeps it until the mains returned
  uint64_t job_;
  DeployOrder order_;  // what every agent's order has in common
  std::shared_ptr<const scheduler::ExecutionPlan> plan_;
  std::string name_;
  std::map<int32_t, Clock::time_point> pending_;  // attempts waiting for slots, until when
  std::vector<At> at_;                            // by flat index
};

/// A job running on the agents, as its main sees it. Each run (a rescale starts another) has
/// a job key of its own among the master's, with its master actor, AgentHost and routes.
class ClusterJob final : public MasterJobHandle {
 public:
  ClusterJob(Shared* shared, JobGraph g, Application& app)
      : MasterJobHandle(g.name), shared_(shared), client_(app.client), reply_(app.reply) {
    if (g.config.checkpoint.dir.empty()) {
      std::filesystem::path base = shared->options.checkpoint_dir.empty() ? "checkpoints" : shared->options.checkpoint_dir;
      g.config.checkpoint.dir = std::filesystem::absolute(base / g.name).string();
    }
    checkpoint_dir_ = g.config.checkpoint.dir;
    order_.hash = app.hash;
    order_.options = app.options;
    order_.graph_index = app.submitted++;
    order_.checkpoint_dir = g.config.checkpoint.dir;
    std::lock_guard<std::mutex> l(handle_mu_);
    start(std::make_shared<const JobGraph>(std::move(g)));
  }
  const std::string& checkpoint_dir() const { return checkpoint_dir_; }
  std::vector<TaskProbe> probes() const override {
    std::lock_guard lock(shared_->mu);
    std::vector<TaskProbe> out;
    if (auto it = shared_->probes.find(key_); it != shared_->probes.end())
      for (const auto& [where, p] : it->second) out.push_back(p);
    return out;
  }

 private:
  void wait_io() override { shared_->io->wait_idle(); }
  /// The rescaled job must find its slots among what other jobs leave free.
  void check_fits(const JobGraph& next, const scheduler::ExecutionPlan& plan) const override {
    (void)next;
    std::vector<scheduler::AgentSlots> free;
    auto agents = shared_->directory.agents();
    std::lock_guard lock(shared_->mu);
    for (const auto& a : agents) free.push_back({a.name, a.slots - shared_->routes.used(a.name, key_)});
    auto placed = scheduler::place(plan, free, name_, {});
    if (auto* why = std::get_if<std::string>(&placed)) throw JobError(*why);
  }

  /// Starts a run on the agents (MasterJobHandle::start): a new job key, its master actor and
  /// the AgentHost that places and deploys it.
  void start(std::shared_ptr<const JobGraph> graph) override {
    bool first = run_++ == 0;
    // BATCH runs its stages in waves of the cluster's slots, as many as are registered now
    // (or fewer, when --slots says so); agents that come and go change that as it runs.
    int slots = graph->batch() ? shared_->slots() : 0;
    graph_ = graph;
    auto plan = std::make_shared<const scheduler::ExecutionPlan>(scheduler::plan(*graph));
    shape_ = shape_of(*graph, *plan);
    auto promise = std::make_shared<std::promise<JobResult>>();
    result_ = promise->get_future().share();
    master_ = nullptr;
    PreparedStart prep;
    try {
      prep = prepare_start(*graph);
    } catch (const std::exception& e) {
      JobResult r;
      r.job_name = graph->name;
      r.error = "job '" + graph->name + "' cannot start: " + e.what();
      r.usage_error = true;
      promise->set_value(r);
      return;
    }
    committer_ = prep.committer;
    DeployOrder order = order_;
    order.topology = scheduler::topology(*graph, *plan);
    if (!first) {  // agents rebuild the main's graph: this run's parallelisms replace its own
      order.rescaled = true;
      order.parallelism = graph->config.parallelism;
      for (const auto& n : graph->nodes) order.node_parallelism.push_back(n.parallelism);
    }
    std::lock_guard lock(shared_->mu);  // before the first route event can name the job
    key_ = shared_->next_job++;
    // BATCH: a number for the run's partition directories on the agents, unlike any earlier
    // master's (an agent may have served one before this master started).
    if (plan->batch) order.batch = std::max<uint32_t>(1, shared_->batch_seed + uint32_t(key_));
    auto host = std::make_shared<AgentHost>(shared_, key_, std::move(order), plan, graph->name);
    master_ = spawn_job_master(*shared_->sys, {graph, plan, shared_->io.get(), promise, prep.committer, prep.restore,
                                               log_, id_, graph->batch() ? std::max(1, slots) : 0},
                               host);
    shared_->masters[key_] = master_;
    shared_->clients[key_] = reply_;
    shared_->names[key_] = name_;
    shared_->graphs[key_] = graph;
    shared_->say(first ? "job " + id_ + " ('" + name_ + "') submitted by '" + client_ + "'"
                       : "job " + id_ + " ('" + name_ + "') starts again at parallelism " +
                             std::to_string(graph->config.parallelism) + " from " + graph->config.checkpoint.restore);
  }

  Shared* shared_;  // outlives every job: ClusterJobs keeps it until the mains returned
  std::string checkpoint_dir_;
  std::string client_;
  std::function<bool(const ClusterMessage&)> reply_;  // the main's client: what the job prints
  DeployOrder order_;  // what every run's orders have in common
  uint64_t key_ = 0;   // the current run's key among the master's jobs (under shared_->mu)
};

/// What a main submits to when it runs in the master: each job goes to the agents.
class ClusterExecutor final : public Executor {
 public:
  ClusterExecutor(Shared* shared, Application& app) : shared_(shared), app_(app) {}
  std::shared_ptr<JobHandle> submit(JobGraph graph) override {
    bool first = app_.submitted == 0;
    auto job = std::make_shared<ClusterJob>(shared_, std::move(graph), app_);
    // Jobs are asked whether they ended without shared_->mu held: a job's own lock comes first
    // (a rescale holds it while it registers its next run under shared_->mu).
    std::set<const JobHandle*> ended;
    for (const auto& j : ClusterJobs::jobs_of(*shared_))
      if (j->done()) ended.insert(j.get());
    bool stopping;
    {
      std::lock_guard lock(shared_->mu);
      auto& jobs = shared_->jobs;
      size_t n = ended.size();
      for (auto it = jobs.begin(); n > 100 && it != jobs.end();) {
        if (ended.count(it->get())) {
          it = jobs.erase(it);
          --n;
        } else {
          ++it;
        }
      }
      jobs.push_back(job);
      stopping = shared_->stopping;
    }
    if (stopping) job->cancel();
    register_job(job);
    if (first) app_.reply(ClusterMessage::with_text(ClusterMessage::Kind::accepted, job->id()));
    return job;
  }

 private:
  Shared* shared_;  // outlives every job: ClusterJobs keeps it until the mains returned
  Application& app_;
};

}  // namespace

ClusterJobs::ClusterJobs(ClusterJobsOptions options, LibraryStore& libraries, AgentDirectory agents,
                         std::function<void(const std::string&)> say)
    : shared_(std::make_shared<Shared>(std::move(options), libraries, std::move(agents), std::move(say))) {}

ClusterJobs::~ClusterJobs() {
  if (stop()) return;
  // A main still runs (its job cannot end without agents): what it uses stays, to the process's end.
  new std::shared_ptr<Shared>(shared_);
}

bool ClusterJobs::stop() {
  std::vector<Shared::Main> mains;
  std::vector<std::shared_ptr<JobHandle>> jobs;
  {
    std::lock_guard lock(shared_->mu);
    shared_->stopping = true;  // jobs submitted from now on are canceled as they come
    jobs = shared_->jobs;
    mains.swap(shared_->mains);
  }
  for (auto& j : jobs) j->cancel();
  auto deadline = Clock::now() + std::chrono::seconds(10);
  bool all = detached_ == 0;
  for (auto& m : mains) {
    while (!*m.done && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (*m.done) {
      m.thread.join();
    } else {
      m.thread.detach();
      ++detached_;
      all = false;
    }
  }
  return all;
}

void ClusterJobs::submit(const ClusterMessage& m, const std::string& client,
                         std::function<bool(const ClusterMessage&)> reply) {
  auto refuse = [&](const std::string& why) { reply(ClusterMessage::ending(2, why)); };
  auto path = shared_->libraries.find(m.hash);
  if (!path) return refuse("the master has no job library " + m.hash + "; upload it first");
  JobLibrary lib;
  JobContext ctx;
  try {
    lib = open_job_library(path->string());
    ctx = shared_->options.parse_options(m.options);
  } catch (const std::exception& e) {
    return refuse(e.what());
  }
  auto app = std::make_shared<Application>(Application{m.hash, m.options, client, std::move(reply), 0});
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::lock_guard lock(shared_->mu);
  if (shared_->stopping) {
    app->reply(ClusterMessage::ending(1, "the master is stopping"));
    return;
  }
  // Mains that returned are joined here, so a long-lived master does not pile up threads.
  for (auto it = shared_->mains.begin(); it != shared_->mains.end();) {
    if (*it->done) {
      it->thread.join();
      it = shared_->mains.erase(it);
    } else {
      ++it;
    }
  }
  std::thread t([shared = shared_.get(), lib, ctx, app, done]() mutable {
    ClusterExecutor executor(shared, *app);
    char error[4096] = {0};
    int status = 0;
    with_thread_executor(executor, [&] { status = lib.entry(build_fingerprint, &ctx, error, sizeof error); });
    int code = status == 2 ? 2 : status == 0 ? 0 : 1;
    std::string why = code == 0 ? "" : error[0] ? error : "the job failed";
    shared->say("the main of job library " + app->hash.substr(0, 12) + " from '" + app->client + "' returned " +
                std::to_string(code) + (why.empty() ? "" : ": " + why));
    app->reply(ClusterMessage::ending(code, why));
    *done = true;
  });
  shared_->mains.push_back({std::move(t), done});
}

namespace {
/// One line per subtask: `key=value` pairs, the task's operators last.
std::string probe_lines(const std::vector<TaskProbe>& probes) {
  std::string out;
  for (const auto& p : probes) {
    out += "task_id=" + std::to_string(p.task_id) + " subtask=" + std::to_string(p.subtask) + " status=" + p.status +
           " records_in=" + std::to_string(p.records_in) + " records_out=" + std::to_string(p.records_out) +
           " queued_buffers_in=" + std::to_string(p.queued_buffers_in) +
           " queued_bytes_in=" + std::to_string(p.queued_bytes_in) +
           " max_queued_bytes_in=" + std::to_string(p.max_queued_bytes_in) +
           " max_queued_bytes_out=" + std::to_string(p.max_queued_bytes_out) +
           " credits_granted=" + std::to_string(p.credits_granted) +
           " input_buffer_capacity=" + std::to_string(p.input_buffer_capacity) + " task=" + p.task + "\n";
  }
  return out;
}
}  // namespace

ClusterMessage ClusterJobs::answer(const ClusterMessage& m) {
  std::shared_ptr<JobHandle> job;
  std::string list;
  {
    for (const auto& j : jobs_of(*shared_)) {
      if (m.request == ClusterMessage::Request::list) {
        std::string state = "RUNNING";
        if (j->done()) {
          auto r = j->wait();
          state = r.succeeded ? "FINISHED" : "FAILED";
        }
        list += j->id() + "  " + state + "  " + j->name() + "\n";
      } else if (j->id() == m.text) {
        job = j;
      }
    }
  }
  if (m.request == ClusterMessage::Request::list) return ClusterMessage::job_reply_of(list, "");
  if (!job) return ClusterMessage::job_reply_of("", "the master has no job " + m.text);
  if (job->done()) return ClusterMessage::job_reply_of("", "job " + m.text + " ('" + job->name() + "') has ended");
  try {
    int64_t id = 0;
    switch (m.request) {
      case ClusterMessage::Request::cancel: job->cancel(); return ClusterMessage::job_reply_of("", "");
      case ClusterMessage::Request::probes: return ClusterMessage::job_reply_of(probe_lines(job->probes()), "");
      case ClusterMessage::Request::savepoint: id = job->trigger_checkpoint(true); break;
      case ClusterMessage::Request::stop: id = job->stop_with_savepoint(m.drain); break;
      case ClusterMessage::Request::list: break;
    }
    auto where = std::filesystem::path(static_cast<const ClusterJob&>(*job).checkpoint_dir()) / ("chk-" + std::to_string(id));
    if (!m.dir.empty()) where = checkpoint::export_checkpoint(where, m.dir);  // a path on the master's host
    return ClusterMessage::job_reply_of(where.string(), "");
  } catch (const std::exception& e) {
    return ClusterMessage::job_reply_of("", e.what());
  }
}

void ClusterJobs::on_agent_message(const std::string& agent, const ClusterMessage& m) {
  if (m.kind == ClusterMessage::Kind::results) {
    // A collecting sink's batch goes to the sink in the graph its main built; decoded outside
    // the lock.
    std::function<void(std::string_view)> keep;
    std::string job;
    {
      std::lock_guard lock(shared_->mu);
      auto key = shared_->routes.find(m.route);
      if (!key) return;
      auto g = shared_->graphs.find(key->first);
      if (g == shared_->graphs.end()) return;
      job = g->second->name;
      if (size_t(m.index) < g->second->nodes.size()) keep = g->second->nodes[size_t(m.index)].receiver;
    }
    try {
      if (!keep) throw DecodeError("node " + std::to_string(m.index) + " is no collecting sink");
      keep(m.bytes);
    } catch (const std::exception& e) {
      shared_->say("results of job '" + job + "' from agent " + agent + " were dropped: " + e.what());
    }
    return;
  }
  std::lock_guard lock(shared_->mu);
  auto& routes = shared_->routes;
  switch (m.kind) {
    case ClusterMessage::Kind::report: {
      auto job = routes.find(m.route);
      if (!job) return;
      auto it = shared_->masters.find(job->first);
      if (it != shared_->masters.end()) caf::anon_send(it->second, report_atom::value, m.body);
      return;
    }
    case ClusterMessage::Kind::output: {
      auto job = routes.find(m.route);
      if (!job) return;
      auto it = shared_->clients.find(job->first);
      if (it != shared_->clients.end()) it->second(ClusterMessage::printed(0, m.text));
      return;
    }
    case ClusterMessage::Kind::probes: {
      auto job = routes.find(m.route);
      if (!job || !shared_->masters.count(job->first)) return;
      auto& mine = shared_->probes[job->first];
      for (const auto& b : m.probes) {
        try {
          auto p = decode_probe(b);
          p.agent = agent;
          mine[{p.task_id, p.subtask}] = std::move(p);
        } catch (const DecodeError& e) {
          shared_->say("a probe from agent " + agent + " was dropped: " + e.what());
        }
      }
      return;
    }
    case ClusterMessage::Kind::flowing: {
      auto job = routes.find(m.route);
      if (!job || job->second == 0) return;  // a first attempt is no recovery
      auto it = shared_->recovering.find(job->first);
      if (it == shared_->recovering.end()) return;
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - it->second.first).count();
      shared_->say("job '" + shared_->names[job->first] + "' processes records again (attempt " +
                   std::to_string(job->second) + ") " + std::to_string(ms) + " ms after it lost subtasks: " +
                   it->second.second);
      shared_->recovering.erase(it);
      return;
    }
    case ClusterMessage::Kind::gone:
      if (auto e = routes.on_gone(m.route, agent, m.index, m.reason)) shared_->dispatch({*e});
      return;
    case ClusterMessage::Kind::quiet:
      if (auto e = routes.on_quiet(m.route, agent)) shared_->dispatch({*e});
      return;
    default: return;
  }
}

std::vector<std::shared_ptr<JobHandle>> ClusterJobs::jobs() const { return jobs_of(*shared_); }

std::vector<std::shared_ptr<JobHandle>> ClusterJobs::jobs_of(Shared& shared) {
  std::lock_guard lock(shared.mu);
  return shared.jobs;
}

int ClusterJobs::slots_used(const std::string& agent) const {
  std::lock_guard lock(shared_->mu);
  return shared_->routes.used(agent);
}

void ClusterJobs::on_agent_lost(const std::string& agent, const std::string& why) {
  int32_t slots = shared_->slots(agent);  // left on the cluster
  std::lock_guard lock(shared_->mu);
  shared_->dispatch(shared_->routes.on_lost(agent, "agent " + agent + " lost: " + why));
  // After its subtasks' ends: a BATCH job reruns what wrote the files the agent held, on the
  // slots left.
  for (const auto& [job, master] : shared_->masters) caf::anon_send(master, lost_atom::value, agent, slots);
}

void ClusterJobs::on_slots_changed() {
  int32_t slots = shared_->slots();
  std::lock_guard lock(shared_->mu);
  for (const auto& [job, master] : shared_->masters) caf::anon_send(master, slots_atom::value, slots);
}

}  // namespace sluice::runtime
