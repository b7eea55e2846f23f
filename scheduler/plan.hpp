// scheduler/plan.hpp — job graph to execution plan: chaining into tasks, exchanges between them, channels.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "sluice/graph.hpp"

namespace sluice::scheduler {

using detail::Partitioning;

/// Operators chained into one task; each subtask of it is one actor.
struct Task {
  int id = 0;
  /// The chain's nodes in topological order; nodes[0] is the head.
  std::vector<int> nodes;
  int parallelism = 1;
  /// Operator names joined with " -> ".
  std::string name;
  bool is_source = false;
};

/// A job edge whose records cross from one task to another over channels.
struct Exchange {
  int edge = 0;
  int source_task = 0;
  int target_task = 0;
  Partitioning partitioning = Partitioning::forward;
  int producers = 1;
  int consumers = 1;
  /// BATCH: the producer writes partition files that the consumer reads after it finished.
  bool blocking = false;

  /// Forward connects producer i to consumer i only; every other kind is all-to-all.
  bool pointwise() const { return partitioning == Partitioning::forward; }
  /// Output channels of one producer subtask (the partition's channel count).
  int channels_per_producer() const { return pointwise() ? 1 : consumers; }
  /// Input channels of one consumer subtask (the gate's channel count).
  int channels_per_consumer() const { return pointwise() ? 1 : producers; }
  /// The consumer subtask behind output channel `ch` of `producer`.
  int consumer_of(int producer, int ch) const { return pointwise() ? producer : ch; }
  /// The producer subtask behind input channel `ch` of `consumer`.
  int producer_of(int consumer, int ch) const { return pointwise() ? consumer : ch; }
  /// The input channel index at the consumer for records from `producer`.
  int input_channel(int producer) const { return pointwise() ? 0 : producer; }
  /// The output channel index at the producer for records to `consumer`.
  int output_channel(int consumer) const { return pointwise() ? 0 : consumer; }
};

struct ExecutionPlan {
  /// The job runs in BATCH mode (JobGraph::batch): every exchange is blocking.
  bool batch = false;
  std::vector<Task> tasks;
  std::vector<Exchange> exchanges;
  /// Job edges inside a task: records pass as C++ values.
  std::vector<int> chained_edges;
  std::vector<int> task_of_node;
  std::vector<std::string> operator_ids;
  /// The partitioning of every job edge after resolving `unset`.
  std::vector<Partitioning> edge_partitioning;
  /// The pipelined region of every task: tasks joined by pipelined exchanges, directly or
  /// through others, share one (numbered from 0 in task order). A failure restarts only its
  /// region. In BATCH, each task is one.
  std::vector<int> region_of_task;

  int regions() const {
    int n = 0;
    for (int r : region_of_task) n = std::max(n, r + 1);
    return n;
  }
  /// The tasks of region `region`, in plan order.
  std::vector<int> tasks_of_region(int region) const {
    std::vector<int> out;
    for (size_t t = 0; t < region_of_task.size(); ++t)
      if (region_of_task[t] == region) out.push_back(int(t));
    return out;
  }

  /// The flat index of each task's subtask 0 (tasks in plan order, subtasks within), and the
  /// number of subtasks last: how the master, the tasks and the probes number subtasks.
  std::vector<size_t> subtask_offsets() const {
    std::vector<size_t> out{0};
    for (const auto& t : tasks) out.push_back(out.back() + size_t(t.parallelism));
    return out;
  }
  /// Subtasks (actors) of the plan.
  uint64_t subtask_count() const {
    uint64_t n = 0;
    for (const auto& t : tasks) n += uint64_t(t.parallelism);
    return n;
  }
  /// Channels of every exchange: an all-to-all one has producers × consumers.
  uint64_t channel_count() const {
    uint64_t n = 0;
    for (const auto& x : exchanges) n += uint64_t(x.channels_per_consumer()) * uint64_t(x.consumers);
    return n;
  }
};

/// What a plan needs in memory before its first record: about `channel_bytes` for each channel
/// (sender and receiver state, start and end-of-stream messages) and `subtask_bytes` for each
/// subtask (its actor, operator chain and buffers), measured on the embedded runtime.
struct MemoryEstimate {
  static constexpr uint64_t channel_bytes = 1024;
  static constexpr uint64_t subtask_bytes = 64 * 1024;
  uint64_t channels = 0;
  uint64_t subtasks = 0;
  uint64_t bytes() const { return channels * channel_bytes + subtasks * subtask_bytes; }
};
inline MemoryEstimate estimate_memory(const ExecutionPlan& p) { return {p.channel_count(), p.subtask_count()}; }

/// Plans `g` (which must validate): an edge is chained when chaining is on for the job and
/// both nodes, it is forward (explicitly or by default) between equal parallelism, and it is
/// the target's only input.
ExecutionPlan plan(const JobGraph& g);

}  // namespace sluice::scheduler
