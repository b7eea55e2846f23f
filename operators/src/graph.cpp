// operators/src/graph.cpp — job graph checks and chaining-independent operator ids.
#include "sluice/graph.hpp"

#include <cstdio>

#include "sluice/error.hpp"
#include "sluice/hash.hpp"

namespace sluice {

namespace detail {
}  // namespace detail

int JobGraph::parallelism_of(int node) const {
  auto p = nodes.at(size_t(node)).parallelism;
  return p > 0 ? p : config.effective_parallelism();
}

std::vector<std::string> JobGraph::operator_ids() const {
  // Nodes are added in topological order (an operator after its inputs), so one pass suffices.
  std::vector<uint64_t> ids(nodes.size());
  std::vector<std::string> out;
  for (const auto& n : nodes) {
    uint64_t h;
    if (!n.uid.empty()) {
      h = (uint64_t(murmur3_32(n.uid.data(), n.uid.size(), 1)) << 32) |
          murmur3_32(n.uid.data(), n.uid.size(), 2);
    } else {
      std::string basis = n.name;
      for (const auto& e : edges)
        if (e.target == n.id) basis += "|" + std::to_string(ids[size_t(e.source)]) + ":" + e.port;
      basis += "#" + std::to_string(n.id);
      h = (uint64_t(murmur3_32(basis.data(), basis.size(), 3)) << 32) |
          murmur3_32(basis.data(), basis.size(), 4);
    }
    ids[size_t(n.id)] = h;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    out.emplace_back(buf);
  }
  return out;
}

bool JobGraph::batch() const {
  if (config.execution_mode == ExecutionMode::streaming) return false;
  if (config.execution_mode == ExecutionMode::batch) return true;
  for (const auto& n : nodes)
    if (n.is_source && !n.bounded) return false;
  return true;
}

void JobGraph::validate() const {
  if (config.max_parallelism < 1 || config.max_parallelism > 32768)
    throw UsageError("max parallelism must be between 1 and 32768, got " +
                   std::to_string(config.max_parallelism));
  if (config.exclusive_buffers < 1)
    throw UsageError("each input channel needs at least 1 exclusive buffer");
  if (config.buffer_size < 1024) throw UsageError("buffer size must be at least 1kb");
  bool any_source = false;
  for (const auto& n : nodes) {
    any_source |= n.is_source;
    if (n.keyed && parallelism_of(n.id) > config.max_parallelism)
      throw UsageError("operator '" + n.name + "' has parallelism " +
                     std::to_string(parallelism_of(n.id)) + " above the max parallelism " +
                     std::to_string(config.max_parallelism));
  }
  if (!any_source) throw UsageError("job '" + name + "' has no source");
  if (config.execution_mode == ExecutionMode::batch)
    for (const auto& n : nodes)
      if (n.is_source && !n.bounded)
        throw UsageError("job '" + name + "' cannot run in BATCH mode: source '" + n.name +
                         "' is unbounded (use --execution-mode streaming or automatic)");
  for (const auto& e : edges) {
    if (e.partitioning == detail::Partitioning::forward &&
        parallelism_of(e.source) != parallelism_of(e.target))
      throw UsageError("forward edge from '" + nodes[size_t(e.source)].name + "' (parallelism " +
                     std::to_string(parallelism_of(e.source)) + ") to '" +
                     nodes[size_t(e.target)].name + "' (parallelism " +
                     std::to_string(parallelism_of(e.target)) +
                     ") needs equal parallelism; use rebalance()");
  }
}

}  // namespace sluice

namespace sluice::detail {
void rethrow_in(const OperatorContext& ctx) {
  try {
    throw;
  } catch (const OperatorFailure&) {
    throw;
  } catch (const std::exception& e) {
    throw OperatorFailure("operator " + ctx.describe() + " failed: " + e.what());
  } catch (...) {
    throw OperatorFailure("operator " + ctx.describe() + " failed with an unknown exception");
  }
}
}  // namespace sluice::detail
