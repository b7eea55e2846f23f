// actors/task_actor.hpp — the CAF actor that hosts one subtask: routes messages into its TaskRuntime.
#pragma once

#include <caf/fwd.hpp>
#include <caf/actor.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "actors/io_executor.hpp"
#include "actors/probe_registry.hpp"
#include "actors/task.hpp"

namespace sluice::runtime {

class DataLink;

/// A peer subtask on another agent: the data link to that agent, and the route its agent
/// knows this attempt of the job by.
struct RemotePeer {
  std::shared_ptr<DataLink> link;
  uint32_t route = 0;
};

/// What a task actor needs besides its spec: whom to report to and where blocking work goes.
struct TaskEnv {
  caf::actor master;
  IoExecutor* io = nullptr;
  ProbeRegistry* probes = nullptr;
  /// The subtask's flat index in the job (tasks in plan order, subtasks within).
  size_t index = 0;
  /// Which attempt of the job this is (restarts count up); reports carry it. Set from the deployment.
  int32_t attempt = 0;
  /// By flat index: peers on other agents (a null link: a peer in this process, reached as an
  /// actor). Empty when every subtask runs in this process.
  std::vector<RemotePeer> remote;
  /// Where print sinks write; empty: this process's standard output.
  std::function<void(const std::string&)> print;
  /// Where collecting sinks send their batches, by sink node; empty: the main is in this process.
  std::function<void(int, std::string&&)> results;
  /// BATCH on a cluster: the run's number (DeployOrder::batch) that file credits carry.
  uint32_t batch = 0;
};

/// Spawns the actor of the subtask `deployment` (an encoded TaskDeployment) names; its task,
/// subtask and attempt come from there. It waits for (wire_atom, peers) and a start command, then
/// follows the master's commands (command_atom) and reports to it (report_atom): a finished
/// or failed report is its last before it quits.
caf::actor spawn_task(caf::actor_system& sys, TaskSpec spec, const ControlBuffer& deployment, TaskEnv env);

}  // namespace sluice::runtime
