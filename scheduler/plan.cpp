// scheduler/plan.cpp — chaining and exchange planning.
#include "plan.hpp"

#include <numeric>

namespace sluice::scheduler {

ExecutionPlan plan(const JobGraph& g) {
  ExecutionPlan p;
  p.batch = g.batch();
  auto n = g.nodes.size();
  std::vector<int> inputs(n, 0);
  for (const auto& e : g.edges) ++inputs[size_t(e.target)];

  p.edge_partitioning.resize(g.edges.size());
  std::vector<int> parent(n);
  std::iota(parent.begin(), parent.end(), 0);
  for (const auto& e : g.edges) {
    auto ps = g.parallelism_of(e.source), pt = g.parallelism_of(e.target);
    auto part = e.partitioning;
    if (part == Partitioning::unset) part = ps == pt ? Partitioning::forward : Partitioning::rebalance;
    p.edge_partitioning[size_t(e.id)] = part;
    bool chain = g.config.chaining && g.nodes[size_t(e.source)].chainable &&
                 g.nodes[size_t(e.target)].chainable && part == Partitioning::forward && ps == pt &&
                 inputs[size_t(e.target)] == 1 && !g.nodes[size_t(e.target)].is_source;
    if (chain) {
      // Nodes come in topological order, so the chain's head is the root of its tree.
      parent[size_t(e.target)] = parent[size_t(e.source)];
      p.chained_edges.push_back(e.id);
    }
  }
  p.task_of_node.assign(n, -1);
  for (size_t i = 0; i < n; ++i) {
    int root = parent[i];
    while (parent[size_t(root)] != root) root = parent[size_t(root)];
    if (p.task_of_node[size_t(root)] < 0) {
      Task t;
      t.id = int(p.tasks.size());
      t.parallelism = g.parallelism_of(root);
      t.is_source = g.nodes[size_t(root)].is_source;
      p.task_of_node[size_t(root)] = t.id;
      p.tasks.push_back(t);
    }
    auto& t = p.tasks[size_t(p.task_of_node[size_t(root)])];
    p.task_of_node[i] = t.id;
    t.nodes.push_back(int(i));
    t.name += (t.name.empty() ? "" : " -> ") + g.nodes[i].name;
  }
  std::vector<bool> chained(g.edges.size(), false);
  for (int e : p.chained_edges) chained[size_t(e)] = true;
  for (const auto& e : g.edges) {
    if (chained[size_t(e.id)]) continue;
    Exchange x;
    x.edge = e.id;
    x.source_task = p.task_of_node[size_t(e.source)];
    x.target_task = p.task_of_node[size_t(e.target)];
    x.partitioning = p.edge_partitioning[size_t(e.id)];
    x.producers = g.parallelism_of(e.source);
    x.consumers = g.parallelism_of(e.target);
    x.blocking = p.batch;
    p.exchanges.push_back(x);
  }
  p.operator_ids = g.operator_ids();
  // Pipelined regions: the connected components of tasks and pipelined exchanges (a blocking
  // one separates its ends: in BATCH every task is its own region).
  std::vector<int> root(p.tasks.size());
  std::iota(root.begin(), root.end(), 0);
  auto find = [&](int t) {
    while (root[size_t(t)] != t) t = root[size_t(t)] = root[size_t(root[size_t(t)])];
    return t;
  };
  for (const auto& x : p.exchanges)
    if (!x.blocking) root[size_t(find(x.target_task))] = find(x.source_task);
  std::vector<int> number(p.tasks.size(), -1);
  int regions = 0;
  for (size_t t = 0; t < p.tasks.size(); ++t) {
    auto& r = number[size_t(find(int(t)))];
    if (r < 0) r = regions++;
    p.region_of_task.push_back(r);
  }
  return p;
}

}  // namespace sluice::scheduler
