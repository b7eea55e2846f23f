// actors/route_table.cpp — the master's routes: subtasks gone and quiet once each, slots held until an agent's last subtask of a route is gone.
#include "actors/route_table.hpp"

namespace sluice::runtime {

uint32_t RouteTable::add(uint64_t job, int32_t attempt, const std::vector<std::string>& agent_of,
                         const std::vector<std::pair<std::string, int>>& slots) {
  uint32_t route = next_++;
  if (next_ == 0) next_ = 1;
  Route r{job, attempt, agent_of, std::vector<bool>(agent_of.size(), false), {}};
  for (const auto& [agent, n] : slots) r.agents[agent].slots = n;
  for (size_t i = 0; i < agent_of.size(); ++i) {
    const auto& agent = agent_of[i];
    if (agent.empty()) continue;  // not a subtask of this attempt's region
    r.live[i] = true;
    auto& a = r.agents[agent];
    ++a.live;
    ++a.owed;
  }
  routes_.emplace(route, std::move(r));
  return route;
}

std::optional<RouteEvent> RouteTable::on_gone(uint32_t route, const std::string& agent, int index,
                                              const std::string& error) {
  auto it = routes_.find(route);
  if (it == routes_.end()) return std::nullopt;
  auto& r = it->second;
  if (index < 0 || size_t(index) >= r.live.size() || !r.live[size_t(index)] || r.agent_of[size_t(index)] != agent)
    return std::nullopt;
  r.live[size_t(index)] = false;
  --r.agents[agent].live;
  RouteEvent e{RouteEvent::Kind::gone, r.job, r.attempt, index, error};
  forget_if_done(route);
  return e;
}

std::optional<RouteEvent> RouteTable::on_quiet(uint32_t route, const std::string& agent) {
  auto it = routes_.find(route);
  if (it == routes_.end()) return std::nullopt;
  auto a = it->second.agents.find(agent);
  if (a == it->second.agents.end() || a->second.owed == 0) return std::nullopt;
  --a->second.owed;
  RouteEvent e{RouteEvent::Kind::quiet, it->second.job, it->second.attempt, 0, {}};
  forget_if_done(route);
  return e;
}

std::vector<RouteEvent> RouteTable::on_lost(const std::string& agent, const std::string& why) {
  std::vector<RouteEvent> out;
  std::vector<uint32_t> touched;
  for (auto& [route, r] : routes_) {
    auto a = r.agents.find(agent);
    if (a == r.agents.end()) continue;
    for (size_t i = 0; i < r.live.size(); ++i) {
      if (!r.live[i] || r.agent_of[i] != agent) continue;
      r.live[i] = false;
      out.push_back({RouteEvent::Kind::gone, r.job, r.attempt, int(i), why});
    }
    a->second.live = 0;
    for (; a->second.owed > 0; --a->second.owed) out.push_back({RouteEvent::Kind::quiet, r.job, r.attempt, 0, {}});
    touched.push_back(route);
  }
  for (auto route : touched) forget_if_done(route);
  return out;
}

void RouteTable::forget_if_done(uint32_t route) {
  auto it = routes_.find(route);
  for (const auto& [agent, a] : it->second.agents)
    if (a.live > 0 || a.owed > 0) return;
  routes_.erase(it);
}

std::optional<std::pair<uint64_t, int32_t>> RouteTable::find(uint32_t route) const {
  auto it = routes_.find(route);
  if (it == routes_.end()) return std::nullopt;
  return std::pair{it->second.job, it->second.attempt};
}

const std::vector<std::string>* RouteTable::agents_of(uint32_t route) const {
  auto it = routes_.find(route);
  return it == routes_.end() ? nullptr : &it->second.agent_of;
}

int RouteTable::used(const std::string& agent, uint64_t except) const {
  int n = 0;
  for (const auto& [route, r] : routes_) {
    if (except != 0 && r.job == except) continue;
    auto a = r.agents.find(agent);
    if (a != r.agents.end() && a->second.live > 0) n += a->second.slots;
  }
  return n;
}

}  // namespace sluice::runtime
