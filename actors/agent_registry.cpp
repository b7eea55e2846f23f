// actors/agent_registry.cpp — registration, heartbeats and loss of node agents.
#include "actors/agent_registry.hpp"

#include <algorithm>

namespace sluice::runtime {

std::optional<uint64_t> AgentRegistry::on_register(const std::string& name, int slots, const std::string& data_address,
                                                   uint64_t connection, int64_t now_ms) {
  std::optional<uint64_t> replaced;
  auto it = std::find_if(agents_.begin(), agents_.end(), [&](const AgentInfo& a) { return a.name == name; });
  if (it != agents_.end()) {
    if (it->connection != connection) replaced = it->connection;
    agents_.erase(it);
  }
  // A connection carries one agent: a second name on it replaces the first.
  std::erase_if(agents_, [&](const AgentInfo& a) { return a.connection == connection; });
  agents_.push_back({name, slots, data_address, connection, now_ms, now_ms});
  return replaced;
}

bool AgentRegistry::on_heartbeat(uint64_t connection, int64_t now_ms) {
  for (auto& a : agents_)
    if (a.connection == connection) {
      a.last_heartbeat_ms = std::max(a.last_heartbeat_ms, now_ms);
      return true;
    }
  return false;
}

std::optional<LostAgent> AgentRegistry::on_disconnect(uint64_t connection) {
  auto it =
      std::find_if(agents_.begin(), agents_.end(), [&](const AgentInfo& a) { return a.connection == connection; });
  if (it == agents_.end()) return std::nullopt;
  LostAgent lost{*it, "its connection closed"};
  agents_.erase(it);
  return lost;
}

std::vector<LostAgent> AgentRegistry::expire(int64_t now_ms) {
  std::vector<LostAgent> out;
  for (auto it = agents_.begin(); it != agents_.end();) {
    int64_t silent = now_ms - it->last_heartbeat_ms;
    if (silent > timeout_ms_) {
      out.push_back(
          {*it, "no heartbeat for " + std::to_string(silent) + " ms (timeout " + std::to_string(timeout_ms_) + " ms)"});
      it = agents_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<scheduler::AgentSlots> AgentRegistry::free_slots() const {
  std::vector<scheduler::AgentSlots> out;
  for (const auto& a : agents_) out.push_back({a.name, a.slots});
  return out;
}

const AgentInfo* AgentRegistry::find(const std::string& name) const {
  for (const auto& a : agents_)
    if (a.name == name) return &a;
  return nullptr;
}

}  // namespace sluice::runtime
