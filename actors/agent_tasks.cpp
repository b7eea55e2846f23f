// actors/agent_tasks.cpp — an agent's routes (job attempts): deployment on a worker thread, a relay actor per route, envelopes from data links to task actors, links dialed by whichever agent needs one first.
#include "actors/agent_tasks.hpp"

#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "actors/actor_system.hpp"
#include "actors/connection.hpp"
#include "actors/data_link.hpp"
#include "actors/job_library.hpp"
#include "actors/messages.hpp"
#include "actors/partition_server.hpp"
#include "actors/probe_registry.hpp"
#include "actors/task_actor.hpp"
#include "checkpoint/restore.hpp"
#include "checkpoint/storage.hpp"
#include "scheduler/plan.hpp"
#include "scheduler/topology.hpp"
#include "sluice/error.hpp"
#include "sluice/executor.hpp"

namespace sluice::runtime {

namespace {
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr milliseconds poll{100};

/// One job attempt on this agent. Until `ready`, what arrives for it waits here.
struct Route {
  uint32_t id = 0;
  int32_t attempt = 0;
  bool ready = false;
  bool flowing = false;          // the master heard that data of it arrived here
  std::vector<caf::actor> flat;  // by flat index: this agent's subtasks (others are empty)
  std::vector<size_t> base;      // by task: flat index of its subtask 0
  std::vector<std::pair<int, int>> tasks_of_edge;
  std::deque<DataEnvelope> early;
  std::deque<std::pair<int32_t, ControlBuffer>> early_commands;
  std::set<std::string> peers;  // agents at the other end of its channels
  caf::actor relay;
  std::shared_ptr<ProbeRegistry> probes;
};

std::filesystem::path work_dir(const AgentTasksOptions& o) {
  return o.work_dir.empty() ? std::filesystem::temp_directory_path() / ("sluice-agent-" + std::to_string(::getpid()))
                            : std::filesystem::path(o.work_dir);
}
}  // namespace

struct AgentTasks::Impl : std::enable_shared_from_this<AgentTasks::Impl> {
  AgentTasksOptions options;
  std::function<void(const std::string&)> log;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<IoExecutor> io = std::make_unique<IoExecutor>(2);
  LibraryStore store;
  PartitionServer files;  // BATCH: this agent's partition files, served to the other agents
  Listener listener;

  std::mutex mu;
  std::condition_variable changed;
  std::shared_ptr<Connection> master;
  std::map<uint32_t, std::shared_ptr<Route>> routes;
  std::set<uint32_t> ended;  // routes over: what still arrives for them is dropped
  std::map<std::string, std::shared_ptr<DataLink>> links;  // by peer agent: the one this agent sends on
  std::multimap<std::string, std::shared_ptr<DataLink>> spares;  // by peer agent: others it dialed meanwhile
  std::vector<std::shared_ptr<DataLink>> retired;          // broken links not yet closed
  std::deque<DeployOrder> orders;
  bool stopping = false;
  std::thread acceptor, deployer;

  Impl(AgentTasksOptions o, std::function<void(const std::string&)> l)
      : options(std::move(o)),
        log(std::move(l)),
        store(work_dir(options) / "libraries"),
        files(work_dir(options) / "batch", options.name, 2),
        listener(options.data_host + ":" + std::to_string(options.data_port)) {
    configure_actor_system(cfg, size_t(std::max(1, options.worker_threads)));
    sys = std::make_unique<caf::actor_system>(cfg);
    files.release_all();  // an earlier agent's in the same work directory
  }

  void start() {
    acceptor = std::thread([this] { accept_loop(); });
    deployer = std::thread([this] { deploy_loop(); });
  }

  void send_master(const ClusterMessage& m) {
    std::shared_ptr<Connection> c;
    {
      std::lock_guard lock(mu);
      c = master;
    }
    if (!c) return;  // the master is lost: it fails these jobs over without hearing more
    try {
      c->send(encode(m), options.connect_timeout);
    } catch (const std::exception& e) {
      log("agent " + options.name + ": a message to the master was lost: " + e.what());
      c->close();
    }
  }

  // ---- the data plane

  std::shared_ptr<DataLink> make_link(std::unique_ptr<Connection> c, const std::string& peer) {
    std::weak_ptr<Impl> me = shared_from_this();
    // The callbacks run on the link's own threads, which the link outlives: they name it by
    // address or weakly, so that they never hold the last reference (a link cannot join its
    // own thread).
    struct Self {
      const DataLink* address = nullptr;
      std::weak_ptr<DataLink> weak;
    };
    auto self = std::make_shared<Self>();
    auto link = std::make_shared<DataLink>(
        std::move(c),
        [me, peer, self](DataEnvelope&& e) {
          if (auto agent = me.lock()) agent->deliver(peer, self->weak, std::move(e));
        },
        [me, peer, self](const std::string& why) {
          if (auto agent = me.lock()) agent->link_failed(peer, self->address, why);
        });
    self->address = link.get();
    self->weak = link;
    link->start();
    return link;
  }

  /// A new link to `peer` (dialed or accepted): the first one is the one this agent sends on;
  /// one that comes while another is up (both agents dialed at once) stays open beside it, for
  /// what the peer sends on it. Returns the link to send on. Requires `mu`.
  std::shared_ptr<DataLink> add_link(const std::string& peer, std::shared_ptr<DataLink> link) {
    auto& current = links[peer];
    if (!current) current = std::move(link);
    else spares.emplace(peer, std::move(link));
    changed.notify_all();
    return current;
  }

  void accept_loop() {
    while (!stopping) {
      std::unique_ptr<Connection> c;
      try {
        c = listener.accept(poll);
        if (!c) continue;
        auto [role, peer] = authenticate_peer(*c, options.secret, options.connect_timeout);
        if (role != PeerRole::agent) throw AuthenticationError("a " + std::string("client") + " dialed the data plane");
        auto link = make_link(std::move(c), peer);
        std::lock_guard lock(mu);
        add_link(peer, std::move(link));
      } catch (const std::exception& e) {
        log("agent " + options.name + ": refused a data connection: " + e.what());
      }
    }
  }

  /// The link to `peer`, dialed if there is none. Either agent of a pair may dial: a BATCH
  /// consumer needs the agent holding its input files, which has no order of its own to dial.
  std::shared_ptr<DataLink> link_to(const std::string& peer, const std::string& address) {
    {
      std::lock_guard lock(mu);
      if (auto it = links.find(peer); it != links.end() && it->second) return it->second;
    }
    auto c = dial(address, options.connect_timeout);
    authenticate_to_master(*c, options.secret, PeerRole::agent, options.name, options.connect_timeout);
    auto link = make_link(std::move(c), peer);
    std::lock_guard lock(mu);
    return add_link(peer, std::move(link));
  }

  void link_failed(const std::string& peer, const DataLink* which, const std::string& why) {
    log("agent " + options.name + ": " + why);
    std::vector<std::shared_ptr<Route>> hit;
    {
      std::lock_guard lock(mu);
      // Runs on the link's own thread: the link is closed and freed by another (the deployer, or stop).
      if (auto it = links.find(peer); it != links.end() && it->second.get() == which) {
        retired.push_back(std::move(it->second));
        links.erase(it);
      }
      for (auto [it, end] = spares.equal_range(peer); it != end;) {
        if (it->second.get() != which) {
          ++it;
          continue;
        }
        retired.push_back(std::move(it->second));
        it = spares.erase(it);
      }
      // A spare (the peer dialed again, say after it restarted) is the one to send on now.
      if (!links.count(peer))
        if (auto it = spares.find(peer); it != spares.end()) {
          links[peer] = std::move(it->second);
          spares.erase(it);
        }
      changed.notify_all();
      for (auto& [id, r] : routes)
        if (r->peers.count(peer) && r->ready) hit.push_back(r);
    }
    files.drop_peer(peer);
    // The attempts with channels over it fail (their jobs restart); the next one dials afresh.
    for (auto& r : hit) fail_route(*r, "agent " + options.name + ": " + why);
  }

  /// Hands an envelope from agent `peer` to its task actor, or keeps it until its route is
  /// deployed. BATCH: a file credit is answered from this agent's partition files; a file
  /// error fails the consumer's route.
  void deliver(const std::string& peer, const std::weak_ptr<DataLink>& from, DataEnvelope&& e) {
    if (e.kind == DataEnvelope::Kind::file_credit) {  // answered on the link it came on: in order
      files.on_credit(peer, e, [from](DataEnvelope&& out) {
        if (auto link = from.lock()) link->send(std::move(out));  // a link gone meanwhile failed its routes
      });
      return;
    }
    if (e.kind == DataEnvelope::Kind::file_error) {
      std::shared_ptr<Route> r;
      {
        std::lock_guard lock(mu);
        if (auto it = routes.find(e.route); it != routes.end() && it->second->ready) r = it->second;
      }
      if (r) fail_route(*r, e.error);
      return;
    }
    uint32_t first = 0;  // a route whose first data this is: the master times recovery by it
    {
      std::lock_guard lock(mu);
      first = hand_over(std::move(e));
    }
    if (first) send_master(ClusterMessage::flowing_of(first));
  }

  /// deliver() with `mu` held; the route when this was its first frame here.
  uint32_t hand_over(DataEnvelope&& e) {
    auto it = routes.find(e.route);
    if (it == routes.end()) {
      if (ended.count(e.route)) return 0;
      it = routes.emplace(e.route, std::make_shared<Route>()).first;  // its deployment is on its way
      it->second->id = e.route;
    }
    auto& r = *it->second;
    uint32_t first = 0;
    if (!r.flowing && e.kind == DataEnvelope::Kind::frame) {
      r.flowing = true;
      first = r.id;
    }
    if (!r.ready) r.early.push_back(std::move(e));
    else send_envelope(r, std::move(e));
    return first;
  }

  void send_envelope(Route& r, DataEnvelope&& e) {
    if (e.channel.edge >= r.tasks_of_edge.size()) return log("agent " + options.name + ": an envelope of an unknown edge was dropped");
    auto [from, to] = r.tasks_of_edge[e.channel.edge];
    size_t index = e.kind == DataEnvelope::Kind::frame ? r.base[size_t(to)] + e.channel.consumer
                                                       : r.base[size_t(from)] + e.channel.producer;
    if (index >= r.flat.size() || !r.flat[index]) return log("agent " + options.name + ": an envelope for a subtask not here was dropped");
    if (e.kind == DataEnvelope::Kind::frame)
      caf::anon_send(r.flat[index], frame_atom::value, e.backlog, std::move(e.frame));
    else
      caf::anon_send(r.flat[index], credit_atom::value, e.channel.edge, e.channel.producer, e.channel.consumer,
                     e.credits);
  }

  // ---- commands and deployments

  void on_command(uint32_t route, int32_t index, ControlBuffer body) {
    std::lock_guard lock(mu);
    auto it = routes.find(route);
    if (it == routes.end()) return;  // over (or never here): nothing to command
    auto& r = *it->second;
    if (!r.ready) {
      r.early_commands.emplace_back(index, std::move(body));
      return;
    }
    command(r, index, body);
  }

  static void command(Route& r, int32_t index, const ControlBuffer& body) {
    auto m = caf::make_message(command_atom::value, body);
    if (index >= 0) {
      if (size_t(index) < r.flat.size() && r.flat[size_t(index)]) caf::anon_send(r.flat[size_t(index)], m);
      return;
    }
    for (auto& a : r.flat)
      if (a) caf::anon_send(a, m);
  }

  void on_deploy(DeployOrder order) {
    {
      std::lock_guard lock(mu);
      auto& r = routes[order.route];
      if (!r) {
        r = std::make_shared<Route>();
        r->id = order.route;
      }
      orders.push_back(std::move(order));
    }
    changed.notify_all();
  }

  void deploy_loop() {
    for (;;) {
      DeployOrder order;
      {
        std::unique_lock lock(mu);
        changed.wait(lock, [&] { return stopping || !orders.empty() || !retired.empty(); });
        if (stopping) return;
        if (!retired.empty()) {
          auto dead = std::move(retired);
          lock.unlock();
          dead.clear();  // closes them: their threads are not this one
          continue;
        }
        order = std::move(orders.front());
        orders.pop_front();
      }
      std::vector<TaskDeployment> tasks;
      try {
        for (const auto& t : order.tasks) tasks.push_back(decode_deployment(t));
        if (tasks.empty()) throw DecodeError("a deployment without subtasks");
      } catch (const DecodeError& e) {
        log("agent " + options.name + ": a deployment was dropped: " + e.what());
        continue;
      }
      try {
        deploy(order, tasks);
      } catch (const std::exception& e) {
        refuse(order, tasks, e.what());
      }
    }
  }

  /// The library of `hash`: stored here, else fetched over a connection of its own (the control
  /// connection keeps beating meanwhile).
  JobLibrary library(const std::string& hash) {
    std::unique_ptr<Connection> c;
    return fetch_job_library(
        [&]() -> Connection& {
          c = dial(options.master, options.connect_timeout);
          authenticate_to_master(*c, options.secret, PeerRole::agent, options.name, options.connect_timeout);
          return *c;
        },
        store, hash, options.name);
  }

  void deploy(const DeployOrder& order, const std::vector<TaskDeployment>& tasks) {
    const auto& first = tasks.front();
    auto lib = library(order.hash);
    JobGraph g = capture_graph(lib, options.parse_options(order.options), order.graph_index);
    g.config.checkpoint.dir = order.checkpoint_dir;
    if (order.rescaled) {  // the master rescaled the job: its graph, not the main's (the topology check follows)
      if (order.node_parallelism.size() != g.nodes.size())
        throw JobError("job '" + g.name + "': the rescaled deployment names " +
                       std::to_string(order.node_parallelism.size()) + " operators, agent " + options.name +
                       " rebuilt " + std::to_string(g.nodes.size()));
      g.config.parallelism = order.parallelism;
      for (size_t n = 0; n < g.nodes.size(); ++n) g.nodes[n].parallelism = order.node_parallelism[n];
    }
    auto graph = std::make_shared<const JobGraph>(std::move(g));
    auto plan = std::make_shared<const scheduler::ExecutionPlan>(scheduler::plan(*graph));
    if (auto why = scheduler::topology_mismatch(order.topology, scheduler::topology(*graph, *plan),
                                                "agent " + options.name))
      throw JobError("job '" + graph->name + "': " + *why);
    std::shared_ptr<const RestoreState> restore;
    if (first.restore.kind == RestoreHandle::Kind::from_scratch) {
      restore = from_scratch();
    } else if (first.restore.kind == RestoreHandle::Kind::checkpoint) {
      auto m = checkpoint::CheckpointCommitter::load(first.restore.path);
      restore = read_restore_state(m, first.restore.path, *graph);
    }
    const auto& c = graph->config.checkpoint;
    auto writer = c.enabled() || c.restore == "latest" ? std::make_shared<checkpoint::CheckpointWriter>(c.dir) : nullptr;

    // Links to every other agent of the attempt, before any subtask can send.
    std::map<std::string, std::shared_ptr<DataLink>> peer_links;
    for (const auto& [agent, address] : order.agents)
      if (agent != options.name) peer_links[agent] = link_to(agent, address);
    auto subtasks = plan->subtask_count();
    std::vector<RemotePeer> remote(subtasks);
    for (size_t i = 0; i < subtasks && i < first.peers.size(); ++i)
      if (!first.peers[i].empty() && first.peers[i] != options.name) {  // "": another region's
        auto it = peer_links.find(first.peers[i]);
        if (it == peer_links.end())
          throw JobError("agent " + options.name + " got a deployment naming agent " + first.peers[i] + " without its address");
        remote[i] = {it->second, order.route};
      }

    std::weak_ptr<Impl> me = weak_from_this();
    auto print = [me, id = order.route](const std::string& text) {
      if (auto self = me.lock()) self->send_master(ClusterMessage::printed(id, text));
    };
    auto results = [me, id = order.route](int node, std::string&& batch) {
      if (auto self = me.lock()) self->send_master(ClusterMessage::results_of(id, node, std::move(batch)));
    };
    // BATCH: the run's directory here, where its subtasks write their files and spill their sorts.
    if (plan->batch && order.batch == 0)
      throw JobError("job '" + graph->name + "': agent " + options.name + " got a BATCH deployment without its run's number");
    std::string batch_dir = plan->batch ? files.directory(order.batch).string() : std::string();
    auto route = std::make_shared<Route>();
    route->id = order.route;
    route->attempt = first.attempt;
    route->base = plan->subtask_offsets();
    route->tasks_of_edge.resize(graph->edges.size());
    for (const auto& x : plan->exchanges) route->tasks_of_edge[size_t(x.edge)] = {x.source_task, x.target_task};
    route->flat.resize(subtasks);
    route->probes = std::make_shared<ProbeRegistry>(subtasks);
    for (const auto& [agent, link] : peer_links) route->peers.insert(agent);
    route->relay = spawn_relay(order.route, tasks.size(), route->probes,
                               std::max(graph->config.probe_interval, std::chrono::milliseconds(10)));
    for (size_t k = 0; k < tasks.size(); ++k) {
      const auto& d = tasks[k];
      size_t index = route->base[size_t(d.task)] + size_t(d.subtask);
      TaskEnv env{route->relay, io.get(), route->probes.get(), index, d.attempt, remote, print, results, order.batch};
      TaskSpec spec{graph, plan, 0, 0, writer, restore, {}, batch_dir};
      auto a = spawn_task(*sys, std::move(spec), order.tasks[k], env);
      caf::anon_send(route->relay, watch_atom::value, a, int32_t(index));
      route->flat[index] = a;
    }
    auto wire = caf::make_message(wire_atom::value, route->flat);
    auto start = caf::make_message(command_atom::value, encode(TaskCommand{TaskCommand::Kind::start}));
    for (auto& a : route->flat)
      if (a) caf::anon_send(a, wire);
    for (auto& a : route->flat)
      if (a) caf::anon_send(a, start);
    // What arrived meanwhile goes now, in order; from here on, straight to the actors.
    std::lock_guard lock(mu);
    auto& slot = routes[order.route];
    if (slot) {
      route->early = std::move(slot->early);
      route->early_commands = std::move(slot->early_commands);
      route->flowing = slot->flowing;
    }
    slot = route;
    route->ready = true;
    for (auto& [index, body] : route->early_commands) command(*route, index, body);
    route->early_commands.clear();
    while (!route->early.empty()) {
      send_envelope(*route, std::move(route->early.front()));
      route->early.pop_front();
    }
  }

  /// A deployment that could not run: the master hears the failure, and every subtask of it gone.
  void refuse(const DeployOrder& order, const std::vector<TaskDeployment>& tasks, const std::string& why) {
    log("agent " + options.name + ": could not deploy: " + why);
    {
      std::lock_guard lock(mu);
      routes.erase(order.route);
      ended.insert(order.route);
    }
    TaskReport r;
    r.kind = TaskReport::Kind::failed;
    r.attempt = tasks.front().attempt;
    r.task = tasks.front().task;
    r.subtask = tasks.front().subtask;
    r.error = why;
    send_master(ClusterMessage::routed(ClusterMessage::Kind::report, order.route, -1, encode(r)));
    // This agent's subtasks are the flat indices its deployments' peers give it.
    const auto& peers = tasks.front().peers;
    for (size_t i = 0; i < peers.size(); ++i) {
      if (peers[i] != options.name) continue;
      send_master(ClusterMessage::gone_of(order.route, int32_t(i), why));
      send_master(ClusterMessage::quiet_of(order.route));
    }
  }

  /// Fails a running route: its first subtask reports the failure (its job restarts), and every
  /// local subtask is cancelled.
  void fail_route(Route& r, const std::string& why) {
    TaskReport report;
    report.kind = TaskReport::Kind::failed;
    report.attempt = r.attempt;
    report.error = why;
    send_master(ClusterMessage::routed(ClusterMessage::Kind::report, r.id, -1, encode(report)));
    std::lock_guard lock(mu);
    command(r, -1, encode(TaskCommand{TaskCommand::Kind::cancel}));
  }

  caf::actor spawn_relay(uint32_t route, size_t subtasks, std::shared_ptr<ProbeRegistry> probes,
                         std::chrono::milliseconds every);

  /// Every subtask of `route` is gone and its I/O done.
  void end_route(uint32_t route) {
    std::lock_guard lock(mu);
    routes.erase(route);
    ended.insert(route);
  }

  /// Cancels every subtask of every route.
  void cancel_all() {
    std::lock_guard lock(mu);
    auto cancel = encode(TaskCommand{TaskCommand::Kind::cancel});
    for (auto& [id, r] : routes)
      if (r->ready) command(*r, -1, cancel);
  }
};

namespace {

/// Stands for the master towards the subtasks of one route: relays their reports, and says
/// when each is gone and when its I/O is done; quits after the last.
struct RelayState {
  std::map<caf::actor_addr, int32_t> index_of;
  size_t gone = 0, quiet = 0;
};

caf::behavior relay(caf::stateful_actor<RelayState>* self, std::weak_ptr<AgentTasks::Impl> agent, uint32_t route,
                    size_t subtasks, std::shared_ptr<ProbeRegistry> probes, std::chrono::milliseconds every) {
  self->delayed_send(self, every, probe_atom::value);
  auto maybe_end = [self, agent, route, subtasks] {
    auto& s = self->state;
    if (s.gone < subtasks || s.quiet < subtasks) return;
    if (auto a = agent.lock()) a->end_route(route);
    self->quit();
  };
  self->set_down_handler([self, agent, route, maybe_end](const caf::down_msg& dm) {
    auto& s = self->state;
    auto it = s.index_of.find(dm.source);
    if (it == s.index_of.end()) return;
    auto index = it->second;
    s.index_of.erase(it);
    ++s.gone;
    if (auto a = agent.lock())
      a->send_master(ClusterMessage::gone_of(route, index,
                                                   dm.reason ? self->system().render(dm.reason) : ""));
    maybe_end();
  });
  return {
      [self](watch_atom, const caf::actor& task, int32_t index) {
        self->state.index_of[task.address()] = index;
        self->monitor(task);
      },
      [agent, route](report_atom, const ControlBuffer& b) {
        if (auto a = agent.lock()) a->send_master(ClusterMessage::routed(ClusterMessage::Kind::report, route, -1, b));
      },
      [self, agent, route, probes, every](probe_atom) {
        // The latest probes of this agent's subtasks, for the master's job clients.
        auto all = probes->snapshot();
        std::vector<ControlBuffer> mine;
        for (const auto& [actor, index] : self->state.index_of)
          if (size_t(index) < all.size() && !all[size_t(index)].status.empty()) mine.push_back(encode(all[size_t(index)]));
        if (auto a = agent.lock(); a && !mine.empty()) a->send_master(ClusterMessage::probes_of(route, std::move(mine)));
        self->delayed_send(self, every, probe_atom::value);
      },
      [self, agent, route, maybe_end](quiet_atom, int32_t) {
        ++self->state.quiet;
        if (auto a = agent.lock()) a->send_master(ClusterMessage::quiet_of(route));
        maybe_end();
      },
  };
}

}  // namespace

caf::actor AgentTasks::Impl::spawn_relay(uint32_t route, size_t subtasks, std::shared_ptr<ProbeRegistry> probes,
                                         std::chrono::milliseconds every) {
  return sys->spawn(relay, weak_from_this(), route, subtasks, std::move(probes), every);
}

AgentTasks::AgentTasks(AgentTasksOptions options, std::function<void(const std::string&)> log)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(log))) {
  impl_->start();
}

AgentTasks::~AgentTasks() { stop(); }

std::string AgentTasks::data_address() const {
  return impl_->options.data_host + ":" + std::to_string(impl_->listener.port());
}

void AgentTasks::set_master(std::shared_ptr<Connection> master) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->master = master;
  }
  if (!master) impl_->cancel_all();
}

void AgentTasks::on_message(const ClusterMessage& m) {
  if (m.kind == ClusterMessage::Kind::deploy) impl_->on_deploy(m.deploy);
  else if (m.kind == ClusterMessage::Kind::command) impl_->on_command(m.route, m.index, m.body);
  else if (m.kind == ClusterMessage::Kind::release_batch) impl_->files.release(m.batch);
}

void AgentTasks::stop() {
  auto& i = *impl_;
  {
    std::lock_guard lock(i.mu);
    if (i.stopping) return;
    i.stopping = true;
    i.master = nullptr;
  }
  i.changed.notify_all();
  if (i.acceptor.joinable()) i.acceptor.join();
  if (i.deployer.joinable()) i.deployer.join();
  i.cancel_all();
  std::map<std::string, std::shared_ptr<DataLink>> links;
  std::multimap<std::string, std::shared_ptr<DataLink>> spares;
  std::vector<std::shared_ptr<DataLink>> retired;
  std::vector<caf::actor> relays;
  {
    std::lock_guard lock(i.mu);
    links.swap(i.links);
    spares.swap(i.spares);
    retired.swap(i.retired);
    for (auto& [id, r] : i.routes)
      if (r->relay) relays.push_back(r->relay);
  }
  for (auto& [peer, link] : links) link->close();
  for (auto& [peer, link] : spares) link->close();
  retired.clear();
  i.io->wait_idle();
  for (auto& r : relays) caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
  i.sys.reset();  // waits for every actor
  i.files.release_all();  // after the last subtask: none writes any more
}

}  // namespace sluice::runtime
