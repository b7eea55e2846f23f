// scheduler/topology.cpp — the topology lines, their fingerprint, and the sentence when two differ.
#include "scheduler/topology.hpp"

#include <cstdint>

namespace sluice::scheduler {

const char* partitioning_word(Partitioning p) {
  switch (p) {
    case Partitioning::unset: return "unset";
    case Partitioning::forward: return "forward";
    case Partitioning::rebalance: return "rebalance";
    case Partitioning::hash: return "hash";
    case Partitioning::broadcast: return "broadcast";
  }
  return "?";
}

std::vector<std::string> topology(const JobGraph& graph, const ExecutionPlan& plan) {
  std::vector<std::string> lines;
  lines.push_back("max parallelism " + std::to_string(graph.config.max_parallelism));
  for (const auto& t : plan.tasks) {
    std::string line = "task " + std::to_string(t.id) + " parallelism " + std::to_string(t.parallelism) + ":";
    for (int node : t.nodes) line += " " + plan.operator_ids[size_t(node)];
    lines.push_back(std::move(line));
  }
  for (const auto& x : plan.exchanges)
    lines.push_back("exchange of edge " + std::to_string(x.edge) + ": task " + std::to_string(x.source_task) +
                    " to task " + std::to_string(x.target_task) + ", " + partitioning_word(x.partitioning));
  return lines;
}

std::string topology_fingerprint(const std::vector<std::string>& lines) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const auto& line : lines) {
    for (unsigned char c : line + "\n") h = (h ^ c) * 0x100000001b3ull;
  }
  static const char* digits = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[size_t(i)] = digits[h & 15];
  return out;
}

std::optional<std::string> topology_mismatch(const std::vector<std::string>& expected,
                                             const std::vector<std::string>& mine, const std::string& where) {
  if (expected == mine) return std::nullopt;
  size_t i = 0;
  while (i < expected.size() && i < mine.size() && expected[i] == mine[i]) ++i;
  auto line_of = [](const std::vector<std::string>& v, size_t k) {
    return k < v.size() ? "'" + v[k] + "'" : std::string("nothing more");
  };
  return "the job's graph as " + where + " rebuilt it differs from the master's: the master has " +
         line_of(expected, i) + " where " + where + " has " + line_of(mine, i) +
         " (does the job's main build its graph from anything but its arguments?)";
}

}  // namespace sluice::scheduler
