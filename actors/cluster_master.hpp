// actors/cluster_master.hpp — `sluice master`'s server: accepts authenticated control connections, registers node agents, exchanges heartbeats and declares agents lost.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "actors/agent_registry.hpp"
#include "actors/cluster_jobs.hpp"
#include "actors/connection.hpp"
#include "actors/introspection.hpp"
#include "actors/job_library.hpp"

namespace sluice::runtime {

struct MasterOptions {
  std::string host = "127.0.0.1";
  int port = 6123;  ///< 0: a free port
  std::string secret;
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds heartbeat_timeout{5000};
  /// How long a peer may take over the handshake, or to take a message sent to it.
  std::chrono::milliseconds handshake_timeout{5000};
  /// Where uploaded job libraries are kept (by content hash).
  std::string work_dir;
  ClusterJobsOptions jobs;
};

/// Listens from construction until stop(); one thread accepts, one per connection reads it,
/// one expires silent agents. Clients' submissions and agents' reports go to ClusterJobs. Every event worth a line (an agent registered or lost, a
/// connection refused or dropped) goes to `say`, one sentence each, from any of them.
class MasterServer {
 public:
  MasterServer(MasterOptions options, std::function<void(const std::string&)> say);
  ~MasterServer();
  MasterServer(const MasterServer&) = delete;
  MasterServer& operator=(const MasterServer&) = delete;

  int port() const { return listener_.port(); }
  /// What the console service reads: the registered agents and the jobs.
  IntrospectionSource introspection();
  /// Closes the listener and every connection, and joins the threads.
  void stop();

 private:
  struct Peer {
    std::shared_ptr<Connection> connection;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  void accept_loop();
  void serve(uint64_t id, std::shared_ptr<Connection> c);
  void expire_loop();
  int64_t now_ms() const;
  void close_connection(uint64_t id);
  /// Sends to agent `name` over its control connection; false when it is not connected.
  bool send_to_agent(const std::string& name, const ClusterMessage& m);

  MasterOptions options_;
  std::function<void(const std::string&)> say_;
  Listener listener_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  AgentRegistry registry_;
  LibraryStore libraries_;
  std::map<uint64_t, Peer> peers_;  // by connection id; reaped once done
  uint64_t next_id_ = 1;
  std::unique_ptr<ClusterJobs> jobs_;
  std::thread acceptor_, expirer_;
};

}  // namespace sluice::runtime
