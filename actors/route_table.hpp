// actors/route_table.hpp — the master's routes: which agent runs each subtask of every job attempt it deployed, what each agent still owes (subtasks gone, I/O quiet), and the slots each attempt holds (pure).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sluice::runtime {

/// What the master of job `job` hears about its attempt `attempt`: a subtask gone (error
/// empty: it quit normally) or one subtask actor's I/O done.
struct RouteEvent {
  enum class Kind { gone, quiet };
  Kind kind = Kind::gone;
  uint64_t job = 0;
  int32_t attempt = 0;
  int index = 0;  ///< gone: the subtask's flat index
  std::string error;
  bool operator==(const RouteEvent&) const = default;
};

/// A route is one attempt of one job deployed on agents; data envelopes and agents' messages
/// name it. Every subtask is gone once and quiet once, whether its agent says so or is lost;
/// an agent's slots stay held until its last subtask of the route is gone.
class RouteTable {
 public:
  /// Registers attempt `attempt` of `job` with the agent of every subtask (by flat index; ""
  /// for subtasks of other regions) and the slots it takes from each; returns its route
  /// (never 0, never reused).
  uint32_t add(uint64_t job, int32_t attempt, const std::vector<std::string>& agent_of,
               const std::vector<std::pair<std::string, int>>& slots);
  /// Agent `agent` says subtask `index` of `route` is gone; nothing when it was not live there.
  std::optional<RouteEvent> on_gone(uint32_t route, const std::string& agent, int index, const std::string& error);
  /// Agent `agent` says one subtask actor of `route` has done its I/O.
  std::optional<RouteEvent> on_quiet(uint32_t route, const std::string& agent);
  /// Agent `agent` is lost: each of its live subtasks is gone with `why`, and quiet.
  std::vector<RouteEvent> on_lost(const std::string& agent, const std::string& why);

  /// The job and attempt of `route`, while any of it is live or owes I/O.
  std::optional<std::pair<uint64_t, int32_t>> find(uint32_t route) const;
  /// The agents `route`'s subtasks run on, by flat index.
  const std::vector<std::string>* agents_of(uint32_t route) const;
  /// Slots held on `agent` by routes with subtasks live there, but for those of job `except`.
  int used(const std::string& agent, uint64_t except = 0) const;
  size_t size() const { return routes_.size(); }

 private:
  struct OnAgent {
    int slots = 0;
    int live = 0;   // subtasks not gone
    int owed = 0;   // quiet messages still due
  };
  struct Route {
    uint64_t job = 0;
    int32_t attempt = 0;
    std::vector<std::string> agent_of;
    std::vector<bool> live;
    std::map<std::string, OnAgent> agents;
  };
  void forget_if_done(uint32_t route);

  std::map<uint32_t, Route> routes_;
  uint32_t next_ = 1;
};

}  // namespace sluice::runtime
