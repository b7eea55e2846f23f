// actors/cluster_master.cpp — the master's control plane: a thread per authenticated connection, registrations and heartbeats into the AgentRegistry.
#include "actors/cluster_master.hpp"

#include <unistd.h>

#include "actors/cluster.hpp"
#include "sluice/error.hpp"

namespace sluice::runtime {

namespace {
constexpr std::chrono::milliseconds poll{100};  // how often blocked threads look at stopping_

/// `<work dir>/libraries`; without a work dir, one of this process under the temp directory.
std::filesystem::path libraries_dir(const MasterOptions& o) {
  std::filesystem::path work =
      o.work_dir.empty() ? std::filesystem::temp_directory_path() / ("sluice-master-" + std::to_string(::getpid()))
                         : std::filesystem::path(o.work_dir);
  return work / "libraries";
}
}  // namespace

MasterServer::MasterServer(MasterOptions options, std::function<void(const std::string&)> say)
    : options_(std::move(options)),
      say_(std::move(say)),
      listener_(options_.host + ":" + std::to_string(options_.port)),
      registry_(options_.heartbeat_timeout.count()),
      libraries_(libraries_dir(options_)) {
  AgentDirectory directory{[this] {
                             std::lock_guard lock(mu_);
                             return registry_.agents();
                           },
                           [this](const std::string& name, const ClusterMessage& m) { return send_to_agent(name, m); }};
  jobs_ = std::make_unique<ClusterJobs>(options_.jobs, libraries_, std::move(directory), say_);
  acceptor_ = std::thread([this] { accept_loop(); });
  expirer_ = std::thread([this] { expire_loop(); });
}

MasterServer::~MasterServer() { stop(); }

IntrospectionSource MasterServer::introspection() {
  auto agents = [this] {
    std::vector<AgentInfo> registered;
    {
      std::lock_guard lock(mu_);
      registered = registry_.agents();
    }
    auto now = now_ms();
    std::vector<AgentView> out;
    for (const auto& a : registered)
      out.push_back({a.name, a.data_address, a.slots, jobs_->slots_used(a.name), now - a.last_heartbeat_ms,
                     now - a.registered_ms});
    return out;
  };
  return {agents, [this] { return jobs_->jobs(); }};
}

int64_t MasterServer::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_).count();
}

bool MasterServer::send_to_agent(const std::string& name, const ClusterMessage& m) {
  std::shared_ptr<Connection> c;
  {
    std::lock_guard lock(mu_);
    const auto* agent = registry_.find(name);
    if (!agent) return false;
    auto it = peers_.find(agent->connection);
    if (it == peers_.end()) return false;
    c = it->second.connection;
  }
  try {
    c->send(encode(m), options_.handshake_timeout);
    return true;
  } catch (const std::exception& e) {
    say_("could not reach agent " + name + ": " + e.what());
    c->close();  // its serve thread sees the break and declares it lost
    return false;
  }
}

void MasterServer::stop() {
  if (stopping_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  jobs_->stop();  // cancels the jobs while the agents can still be told
  if (expirer_.joinable()) expirer_.join();
  std::map<uint64_t, Peer> peers;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, p] : peers_) p.connection->close();
    peers.swap(peers_);
  }
  for (auto& [id, p] : peers) p.thread.join();
}

void MasterServer::accept_loop() {
  while (!stopping_) {
    std::unique_ptr<Connection> c;
    try {
      c = listener_.accept(poll);
    } catch (const NetworkError& e) {
      say_(e.what());  // such as too many open files: wait, rather than spin on it
      std::this_thread::sleep_for(poll);
      continue;
    }
    std::lock_guard lock(mu_);
    // Threads of connections that ended are joined here, so a stream of short connections
    // (a port scan, a fuzzer) does not pile up threads.
    for (auto it = peers_.begin(); it != peers_.end();) {
      if (*it->second.done) {
        it->second.thread.join();
        it = peers_.erase(it);
      } else {
        ++it;
      }
    }
    if (!c) continue;
    uint64_t id = next_id_++;
    std::shared_ptr<Connection> shared(std::move(c));
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::thread t([this, id, shared, done] {
      serve(id, shared);
      *done = true;
    });
    peers_.emplace(id, Peer{shared, std::move(t), done});
  }
}

void MasterServer::close_connection(uint64_t id) {
  auto it = peers_.find(id);
  if (it != peers_.end()) it->second.connection->close();
}

void MasterServer::serve(uint64_t id, std::shared_ptr<Connection> c) {
  std::string name;
  try {
    auto [role, who] = authenticate_peer(*c, options_.secret, options_.handshake_timeout);
    name = who;
    while (!stopping_) {
      auto b = c->receive(poll);
      if (!b) {
        if (c->closed()) break;
        continue;
      }
      auto m = decode_cluster(*b);
      using Kind = ClusterMessage::Kind;
      if (role == PeerRole::agent && (m.kind == Kind::report || m.kind == Kind::gone || m.kind == Kind::quiet ||
                                     m.kind == Kind::output || m.kind == Kind::flowing ||
                                     m.kind == Kind::probes || m.kind == Kind::results)) {
        jobs_->on_agent_message(name, m);  // answered by nothing: the job master acts on it
        continue;
      }
      if (role == PeerRole::client && m.kind == Kind::submit) {
        std::weak_ptr<Connection> to = c;
        auto timeout = options_.handshake_timeout;
        jobs_->submit(m, name, [to, timeout](const ClusterMessage& reply) {
          auto c = to.lock();
          if (!c || c->closed()) return false;
          try {
            c->send(encode(reply), timeout);
            return true;
          } catch (const std::exception&) {
            return false;  // the client left; the job goes on (as detached)
          }
        });
        continue;
      }
      if (role == PeerRole::client && m.kind == Kind::job_request) {
        c->send(encode(jobs_->answer(m)), options_.handshake_timeout);
        continue;
      }
      ClusterMessage reply;
      std::optional<std::string> replaced;  // an agent registered again: its old self is lost
      bool registered = false;
      if (m.kind == Kind::upload_library && role == PeerRole::client) {
        try {
          reply = ClusterMessage::with_hash(Kind::library_stored, libraries_.put(m.bytes));  // outside the lock
          say_("stored job library " + reply.hash + " (" + std::to_string(m.bytes.size()) + " bytes) from '" + name +
               "'");
        } catch (const std::exception& e) {  // a full disk, say: the client hears why, the master goes on
          reply = ClusterMessage::refusal(std::string("the master could not store the job library: ") + e.what());
          say_("could not store a job library from '" + name + "': " + e.what());
        }
      } else if (m.kind == Kind::fetch_library) {
        if (auto bytes = libraries_.read(m.hash)) {
          reply.kind = Kind::library;
          reply.bytes = std::move(*bytes);
        } else {
          reply.kind = Kind::refused;
          reply.reason = "this master has no job library " + m.hash;
        }
      } else {
        std::lock_guard lock(mu_);
        if (m.kind == Kind::register_agent && role == PeerRole::agent) {
          if (registry_.find(name)) replaced = name;
          if (auto old = registry_.on_register(name, m.slots, m.data_address, id, now_ms())) close_connection(*old);
          say_("agent " + name + " registered from " + c->peer() + " (" + std::to_string(m.slots) + " slot" +
               (m.slots == 1 ? "" : "s") + ")");
          reply =
              ClusterMessage::registered_with(options_.heartbeat_interval.count(), options_.heartbeat_timeout.count());
          registered = true;
        } else if (m.kind == Kind::heartbeat && registry_.on_heartbeat(id, now_ms())) {
          reply.kind = Kind::heartbeat;
        } else {
          reply.kind = Kind::refused;
          reply.reason = m.kind == Kind::heartbeat ? "a heartbeat from an agent that is not registered"
                                                   : "the master does not take this message from a" +
                                                         std::string(role == PeerRole::agent ? "n agent" : " client");
        }
      }
      if (replaced) jobs_->on_agent_lost(*replaced, "it registered again");
      if (registered) jobs_->on_slots_changed();
      c->send(encode(reply), options_.handshake_timeout);
      // Refused libraries are answers; anything else refused ends the connection.
      bool about_library = m.kind == Kind::fetch_library || m.kind == Kind::upload_library;
      if (reply.kind == Kind::refused && !about_library) {
        say_("refused " + (name.empty() ? c->peer() : "'" + name + "' at " + c->peer()) + ": " + reply.reason);
        break;
      }
    }
  } catch (const AuthenticationError& e) {
    say_(std::string("refused a connection: ") + e.what());
  } catch (const std::exception& e) {  // the network, or memory for a message: this connection ends, the master goes on
    say_("dropped the connection of '" + name + "' at " + c->peer() + ": " + e.what());
  }
  c->close();
  std::optional<LostAgent> lost;
  {
    std::lock_guard lock(mu_);
    lost = registry_.on_disconnect(id);
  }
  if (lost) {
    say_("agent " + lost->agent.name + " lost: " + lost->why);
    jobs_->on_agent_lost(lost->agent.name, lost->why);
  }
}

void MasterServer::expire_loop() {
  while (!stopping_) {
    std::this_thread::sleep_for(poll);
    std::vector<LostAgent> lost;
    {
      std::lock_guard lock(mu_);
      lost = registry_.expire(now_ms());
      for (const auto& l : lost) close_connection(l.agent.connection);
    }
    for (const auto& l : lost) {
      say_("agent " + l.agent.name + " lost: " + l.why);
      jobs_->on_agent_lost(l.agent.name, l.why);
    }
  }
}

}  // namespace sluice::runtime
