// actors/cluster_agent.hpp — `sluice agent`'s link to the master: connect with back-off, authenticate, register its slots, exchange heartbeats, register again after losing the master.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

namespace sluice::runtime {

class AgentTasks;

struct AgentOptions {
  std::string master;  ///< host:port
  int slots = 1;
  std::string name;
  std::string data_address;  ///< host:port its data plane will listen on
  std::string secret;
  /// Back-off between attempts to reach the master: doubles from the first to the last.
  std::chrono::milliseconds first_retry{100}, last_retry{5000};
  std::chrono::milliseconds connect_timeout{5000};
};

/// Runs the agent's side until stop(), or until the master refuses it for good (a wrong
/// secret, another protocol): registration lines go to `say` (stdout), everything else
/// (retries, a lost master) to `log`.
class AgentLink {
 public:
  AgentLink(AgentOptions options, std::function<void(const std::string&)> say,
            std::function<void(const std::string&)> log);
  /// Deployments and commands from the master go to `tasks`, which reports over the same
  /// connection while registered; losing the master cancels its subtasks.
  void attach(AgentTasks& tasks) { tasks_ = &tasks; }
  /// 0 once stopped; 2 when refused for good (the sentence went to `log`).
  int run();
  /// From any thread: run() returns soon after.
  void stop();

 private:
  /// One connection's life, from dial to losing the master; throws Refused when refused for
  /// good, and anything else when the master could not be reached.
  void session();
  void pause(std::chrono::milliseconds d);

  AgentOptions options_;
  std::function<void(const std::string&)> say_, log_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable wake_;
  AgentTasks* tasks_ = nullptr;
};

}  // namespace sluice::runtime
