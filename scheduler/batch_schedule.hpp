// scheduler/batch_schedule.hpp — BATCH stage scheduling as a pure class: which subtasks start when (inputs complete, within the slots, in waves).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "scheduler/plan.hpp"

namespace sluice::scheduler {

/// Decides when each subtask of a BATCH job runs. Every exchange is blocking (its producer
/// writes a partition file that consumers read after it finished), so a task's subtasks may
/// start once every task feeding it has finished all of its subtasks; its *stage* is its
/// depth below the sources. At most `slots` subtasks run at once: a stage wider than the free
/// slots runs its subtasks in *waves* of `slots`, lowest subtask first, and tasks earlier in
/// the plan go first. A subtask that fails keeps its slot while the master reruns it alone
/// (its inputs are files that stay until the job ends, so the stages before it do not run
/// again). The master routes events in and deploys what `next` returns.
class BatchSchedule {
 public:
  /// `slots` >= 1.
  BatchSchedule(const ExecutionPlan& plan, int slots);

  /// A subtask to deploy now.
  struct Start {
    int task = 0;
    int subtask = 0;
    int stage = 0;
    int wave = 1;     ///< 1 + subtask / slots
    int waves = 1;    ///< waves of the task: parallelism / slots, rounded up
  };
  /// What may start now, in order; each is then running (it holds a slot) until finished.
  std::vector<Start> next();
  /// Subtask (`task`, `subtask`) finished: its slot is free, and its consumers may start once
  /// all of the task's subtasks did.
  void finished(int task, int subtask);

  /// BATCH on a cluster: the partition file of finished subtask (`task`, `subtask`) is lost
  /// (its agent is gone). When a task it feeds has a subtask not finished yet, it waits to run
  /// again (its consumers wait for it) and this returns true; else its file is needed no more.
  bool lost(int task, int subtask);
  /// Subtask (`task`, `subtask`) failed while its inputs are incomplete (a producer's file was
  /// lost): it gives back its slot and waits until they are complete again. False when its
  /// inputs are complete: it reruns at once, in its slot.
  bool requeue(int task, int subtask);

  /// At most `slots` (>= 1) subtasks run from now on (the cluster lost an agent); those
  /// running go on.
  void set_slots(int slots) { slots_ = std::max(1, slots); }

  /// Every subtask finished.
  bool done() const { return finished_subtasks_ == total_; }
  int running() const { return running_; }
  int stages() const;
  /// One line for the log about a Start: "stage 1: task 'map' subtask 3 of 8 (wave 2 of 4)".
  std::string describe(const Start& s) const;

 private:
  enum class State : uint8_t { waiting, running, finished };
  bool inputs_complete(int task) const;

  const ExecutionPlan* plan_;
  int slots_;
  std::vector<int> stage_;                    // by task
  std::vector<std::vector<State>> state_;     // by task, subtask
  std::vector<int> finished_of_task_;
  std::vector<std::vector<int>> producers_;   // by task: the tasks feeding it
  int running_ = 0;
  uint64_t finished_subtasks_ = 0, total_ = 0;
};

}  // namespace sluice::scheduler
