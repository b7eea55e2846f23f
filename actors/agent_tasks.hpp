// actors/agent_tasks.hpp — an agent's subtasks: deployments from the master turned into task actors (library fetched, graph rebuilt and checked), their reports relayed back, and the data plane to the other agents.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/cluster.hpp"
#include "sluice/job.hpp"

namespace sluice::runtime {

class Connection;

struct AgentTasksOptions {
  std::string name;
  std::string master;  ///< host:port, to fetch job libraries from
  std::string secret;
  /// Where fetched job libraries are kept; empty: a directory of this process under the temp directory.
  std::string work_dir;
  std::string data_host = "127.0.0.1";
  int data_port = 0;  ///< 0: a free port
  int worker_threads = 2;
  /// `sluice run` options and job arguments to a JobContext; throws with one sentence.
  std::function<JobContext(const std::vector<std::string>&)> parse_options;
  std::chrono::milliseconds connect_timeout{5000};
};

/// Everything an agent runs. Thread-safe: the control connection's thread hands it the
/// master's messages, data links' threads their envelopes, actors their reports.
class AgentTasks {
 public:
  /// Starts listening for data links. Notable events go to `log`, one sentence each.
  AgentTasks(AgentTasksOptions options, std::function<void(const std::string&)> log);
  ~AgentTasks();
  AgentTasks(const AgentTasks&) = delete;
  AgentTasks& operator=(const AgentTasks&) = delete;

  /// host:port of the data plane, for the registration.
  std::string data_address() const;
  /// The control connection reports go over, once registered; null when the master is lost,
  /// which cancels every subtask (the master fails their jobs over).
  void set_master(std::shared_ptr<Connection> master);
  /// A deploy or command from the master; returns at once (deployments run on a thread of their own).
  void on_message(const ClusterMessage& m);
  /// Cancels every subtask and closes the data plane.
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sluice::runtime
