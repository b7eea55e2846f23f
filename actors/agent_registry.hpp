// actors/agent_registry.hpp — the master's table of node agents: registration, heartbeats, loss by timeout or broken connection (pure, time passed in).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/placement.hpp"

namespace sluice::runtime {

/// An agent the master knows, reached over one control connection.
struct AgentInfo {
  std::string name;
  int slots = 0;
  std::string data_address;
  uint64_t connection = 0;  ///< the shell's id of its control connection
  int64_t registered_ms = 0;
  int64_t last_heartbeat_ms = 0;
};

/// An agent the master gave up on, and why, in words for the log.
struct LostAgent {
  AgentInfo agent;
  std::string why;
};

class AgentRegistry {
 public:
  explicit AgentRegistry(int64_t heartbeat_timeout_ms) : timeout_ms_(heartbeat_timeout_ms) {}

  /// Registers `name` on `connection`. An agent that registers again under its name (it
  /// lost the master and came back, or restarted) replaces its old entry: the old
  /// connection, if another, is returned for the shell to close.
  std::optional<uint64_t> on_register(const std::string& name, int slots, const std::string& data_address,
                                      uint64_t connection, int64_t now_ms);
  /// A heartbeat arrived on `connection`; false when no agent is registered there.
  bool on_heartbeat(uint64_t connection, int64_t now_ms);
  /// `connection` broke or closed: its agent, if one was registered there, is lost.
  std::optional<LostAgent> on_disconnect(uint64_t connection);
  /// Agents silent for longer than the heartbeat timeout are lost (removed and returned).
  std::vector<LostAgent> expire(int64_t now_ms);

  /// Free slots of every agent, in registration order (for scheduler::place).
  std::vector<scheduler::AgentSlots> free_slots() const;
  const AgentInfo* find(const std::string& name) const;
  /// Every registered agent, in registration order.
  const std::vector<AgentInfo>& agents() const { return agents_; }
  size_t size() const { return agents_.size(); }

 private:
  int64_t timeout_ms_;
  std::vector<AgentInfo> agents_;  // in registration order
};

}  // namespace sluice::runtime
