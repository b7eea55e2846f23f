// scheduler/topology.hpp — a job's topology in words (operator ids, chains, parallelism, exchanges) and its fingerprint, which master and agents compare before an agent runs subtasks of a graph it rebuilt.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "scheduler/plan.hpp"

namespace sluice::scheduler {

/// The word for a partitioning in topology lines, the console and its REST documents.
const char* partitioning_word(Partitioning p);

/// One line per fact that deployment depends on: the key groups, each task (its operator
/// ids in chain order and its parallelism), each exchange (edge, tasks, partitioning).
std::vector<std::string> topology(const JobGraph& graph, const ExecutionPlan& plan);
/// FNV-1a 64 of the lines, as 16 hex digits.
std::string topology_fingerprint(const std::vector<std::string>& lines);
/// Nothing when `mine` equals `expected`; else one sentence naming the first line that
/// differs (`where` says whose graph `mine` is, such as "agent worker-2").
std::optional<std::string> topology_mismatch(const std::vector<std::string>& expected,
                                             const std::vector<std::string>& mine, const std::string& where);

}  // namespace sluice::scheduler
