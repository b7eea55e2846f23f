// operators/include/sluice/graph.hpp — the logical job graph the DataStream API builds: operator nodes and typed edges.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/config.hpp"
#include "sluice/detail/record_io.hpp"
#include "sluice/element.hpp"

namespace sluice {

/// One operator of the job, before parallel instances exist.
struct JobNode {
  int id = 0;
  std::string name;
  /// Stable identity given by the user (matches state across job versions); may be empty.
  std::string uid;
  /// 0 means the job's default parallelism.
  int parallelism = 0;
  /// False when the user asked this operator never to be chained.
  bool chainable = true;
  bool is_source = false;
  /// Keyed operators get a keyed state backend.
  bool keyed = false;
  /// BATCH sorts this operator's input by the sort key its edges carry (sort_partition).
  bool sorts_input = false;
  /// Bounded sources end; a job ends when every source has.
  bool bounded = true;
  /// Makes the instance for one subtask: (subtask index, parallelism).
  std::function<std::unique_ptr<OperatorBase>(int, int)> factory;
  /// A sink whose records belong to the job's main: Sink::receiver. Empty for other nodes.
  std::function<void(std::string_view)> receiver;
};

/// A stream from an output port of one node to an input of another.
struct JobEdge {
  int id = 0;
  int source = 0;
  /// "" for the main output, otherwise a side-output tag id.
  std::string port;
  int target = 0;
  int input_index = 0;
  detail::Partitioning partitioning = detail::Partitioning::unset;
  std::shared_ptr<const detail::EdgeType> type;
};

/// The logical job: what the DataStream API produced and the scheduler plans from.
struct JobGraph {
  std::string name;
  ExecutionConfig config;
  std::vector<JobNode> nodes;
  std::vector<JobEdge> edges;

  /// Operator ids that do not depend on chaining: a hash of the uid when one is given,
  /// otherwise of the node's position (its name and the ids of its inputs, in order).
  std::vector<std::string> operator_ids() const;
  /// Throws JobError naming the operator when the graph cannot run (e.g. a forward edge
  /// between different parallelisms, or BATCH with an unbounded source).
  void validate() const;
  /// Whether the job runs in BATCH mode: asked for, or AUTOMATIC with every source bounded.
  bool batch() const;
  int parallelism_of(int node) const;
};

}  // namespace sluice
