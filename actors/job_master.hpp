// actors/job_master.hpp — the job master's decisions as a pure class: deployment bookkeeping, task ends and failures, client checkpoint requests, stop-with-savepoint, _metadata, restarts; time passed in, actions returned.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/control.hpp"
#include "checkpoint/restore.hpp"
#include "actors/task.hpp"
#include "checkpoint/coordinator.hpp"
#include "checkpoint/storage.hpp"
#include "scheduler/batch_schedule.hpp"
#include "scheduler/placement.hpp"
#include "scheduler/plan.hpp"
#include "scheduler/restart_strategy.hpp"
#include "sluice/executor.hpp"
#include "sluice/graph.hpp"

namespace sluice::runtime {

/// A client's request, as the shell around the master names it (the master only echoes it).
using RequestId = uint64_t;

/// The answer to a client's checkpoint request: the checkpoint's id once complete, or why not.
struct Reply {
  RequestId request = 0;
  int64_t checkpoint = 0;
  std::string error;
  std::string text{};  ///< a state query's answer
};

/// What the shell carries out after an event, in this order: commands to the current attempts'
/// subtasks, the discards and the commit (on the I/O strand, in order), replies, then the
/// deployments or the timers.
///
/// An attempt is one deployment of one pipelined region (JobMaster::subtasks_of). A job with
/// several regions starts with one attempt per region, and a failure restarts only the region
/// it hit, as a new attempt; a failure of the whole job (too many failed checkpoints) restarts
/// every region.
struct MasterActions {
  std::vector<TaskCommand> commands;
  /// Checkpoints whose files go (declined, expired, failed over).
  std::vector<int64_t> discard;
  /// Write this checkpoint's `_metadata`; answer with on_committed(id, error).
  std::shared_ptr<const checkpoint::CheckpointMetadata> commit;
  std::vector<Reply> replies;
  /// Spawn the subtasks of these attempts, each from JobMaster::restore_of (null: a fresh start).
  std::vector<int32_t> deploy;
  /// Call on_restart_due(attempt) after this delay, for each.
  std::vector<std::pair<int32_t, int64_t>> restart_after_ms;
  /// Find what these attempts resume from (I/O, after every commit posted so far), then call
  /// on_restart_point for each.
  std::vector<int32_t> find_restart_point;
  /// Checkpoints whose entry in checkpoints() changed (or is new): republish them to clients.
  std::vector<int64_t> changed;
  /// The job is over and no subtask of any attempt is left: hand this result to the client.
  std::optional<JobResult> result;

  MasterActions& operator+=(MasterActions&& o);
};

/// One job's master. It knows subtasks by attempt and flat index; the shell maps
/// those to actors, timers and files. Every event returns what to do; nothing else happens.
class JobMaster {
 public:
  /// `storage_highest`: the highest checkpoint id already in the checkpoint directory (ids go
  /// on past it). `checkpointing` is false when the job has no checkpoint storage.
  JobMaster(std::shared_ptr<const JobGraph> graph, std::shared_ptr<const scheduler::ExecutionPlan> plan,
            bool checkpointing, uint64_t storage_highest, std::shared_ptr<const RestoreState> restore,
            std::string job_id = {});

  /// Deploys the first attempt of every region; in BATCH (a region per subtask), of the
  /// subtasks BatchSchedule lets start, the others as their producers finish and slots free
  /// up (deploy_ready_stages).
  MasterActions start(int64_t now_ms);
  MasterActions on_time(int64_t now_ms);

  /// A subtask's report, as it came over the wire: dispatched to the methods below; one naming
  /// a task or subtask the job does not have is dropped with an error in the log.
  MasterActions on_report(const TaskReport& r, int64_t now_ms);

  // From the current attempts' subtasks (reports of other attempts are ignored).
  MasterActions on_task_finished(int32_t attempt, int task, int subtask, int64_t now_ms);
  /// `permanent`: a restart cannot help (the restore itself failed).
  MasterActions on_task_failed(int32_t attempt, const std::string& error, bool permanent, int64_t now_ms);
  MasterActions on_ack(int32_t attempt, const CheckpointAck& ack, int64_t now_ms);
  MasterActions on_decline(int32_t attempt, int task, int subtask, int64_t id, const std::string& why,
                           int64_t now_ms);
  MasterActions on_input_ended(int32_t attempt, int task, int subtask, int64_t after, int64_t now_ms);

  /// A subtask's actor of attempt `attempt` is gone; `error` is empty when it quit normally.
  MasterActions on_subtask_down(int32_t attempt, int index, const std::string& error, int64_t now_ms);
  /// Every I/O job of one subtask actor of attempt `attempt` has run, after the actor went down.
  MasterActions on_io_done(int32_t attempt);
  /// BATCH on a cluster: `agent` is gone, and the partition files it held with it; `slots`
  /// are left on the cluster (0: unknown). Each finished subtask that ran there (or whose file
  /// an agent lost before took) whose file a task still reads runs again, and so, in turn, do those
  /// feeding it whose files went too. A subtask reading a lost file is cancelled and waits for
  /// it, and one that fails meanwhile too: neither counts against the restart strategy.
  MasterActions on_agent_lost(const std::string& agent, int slots = 0);
  /// BATCH on a cluster: the agents offer `slots` now; waves take as many, up to
  /// ExecutionConfig::slots when that is set.
  MasterActions on_cluster_slots(int slots);
  /// BATCH: waves of `slots` from now on, at most ExecutionConfig::slots when that is set.
  /// Before start(): the slots a cluster offers when the job starts.
  void set_slots(int slots);

  // From the I/O side and the timers.
  MasterActions on_committed(int64_t id, const std::string& error, int64_t now_ms);
  MasterActions on_restart_due(int32_t attempt);
  MasterActions on_restart_point(int32_t attempt, std::shared_ptr<const RestoreState> restore,
                                 const std::string& error, int64_t now_ms);

  // From clients.
  MasterActions on_checkpoint_request(RequestId r, bool savepoint, int64_t now_ms);
  MasterActions on_stop_request(RequestId r, bool drain, int64_t now_ms);
  MasterActions on_cancel(int64_t now_ms);
  /// A console's query (JobHandle::query): a state lookup or a key listing goes to every
  /// current subtask of the operator's task (the key's owner answers a lookup; the listings
  /// are merged), a trace or log to the one subtask named, each if it has not finished.
  /// Unknown operators, tasks and subtasks are refused here; pending queries get an error
  /// when the job restarts or ends, or after 20 s without an answer.
  MasterActions on_query(RequestId r, TaskQuery q, int64_t now_ms);

  /// Where the subtasks of attempt `attempt` run (scheduler::place over its region's tasks);
  /// without one, every subtask runs in this process and deployments carry no peers.
  void set_placement(int32_t attempt, const scheduler::Placement& placement);
  /// What subtask `index` of its region's current attempt is deployed with; once a placement
  /// was set, `peers` names the agent of every subtask of that region ("" for the others).
  TaskDeployment deployment(int index) const;
  /// The flat indexes attempt `attempt` deploys: its region's subtasks.
  const std::vector<int>& subtasks_of(int32_t attempt) const {
    return region_subtasks_[size_t(attempt_region_.at(attempt))];
  }
  /// The tasks attempt `attempt` deploys.
  std::vector<int> tasks_of(int32_t attempt) const {
    if (plan_->batch) return {task_of(subtasks_of(attempt).front())};  // a region per subtask
    return plan_->tasks_of_region(attempt_region_.at(attempt));
  }
  /// What attempt `attempt` restores (null: a fresh start).
  std::shared_ptr<const RestoreState> restore_of(int32_t attempt) const {
    return region_restore_[size_t(attempt_region_.at(attempt))];
  }
  /// Restarts from a checkpoint so far (the restart strategy's count).
  int restarts() const;
  /// Pipelined regions of the job.
  size_t regions() const { return region_subtasks_.size(); }

  const std::vector<CheckpointInfo>& checkpoints() const { return history_; }
  /// Checkpoint `id` in checkpoints(), or null (searched from the newest).
  const CheckpointInfo* checkpoint(int64_t id) const;
  /// The newest attempt of any region.
  int32_t attempt() const { return next_attempt_ - 1; }
  bool ended() const { return ended_; }
  /// Flat index of subtask `subtask` of task `task`.
  int index_of(int task, int subtask) const { return int(base_[size_t(task)]) + subtask; }
  /// The task of flat subtask index `index`.
  int task_of(int index) const;
  size_t subtasks() const { return base_.back(); }
  /// Attempt `attempt` is its region's current one.
  bool current(int32_t attempt) const {
    auto it = attempt_region_.find(attempt);
    return it != attempt_region_.end() && region_attempt_[size_t(it->second)] == attempt;
  }
  /// Subtask actors of attempt `attempt` not yet down.
  size_t live(int32_t attempt) const {
    auto it = live_.find(attempt);
    return it == live_.end() ? 0 : it->second.size();
  }

 private:
  MasterActions deploy(int region);
  /// BATCH: deploys the subtasks the schedule starts now.
  MasterActions deploy_ready_stages();
  MasterActions handle(checkpoint::CoordinatorActions a, int64_t now_ms);
  MasterActions trigger_now(int64_t now_ms);
  MasterActions after_checkpoint(int64_t now_ms);
  /// Fails over `regions` (empty: every one) under the restart strategy.
  MasterActions fail(const std::string& error, bool permanent, int64_t now_ms, std::vector<int> regions = {});
  /// Subtask actors of current attempts not yet down.
  size_t running() const;
  /// An attempt of the same region as `attempt`, older than it, may still run I/O.
  bool earlier_io(int32_t attempt) const;
  MasterActions end(bool ok, std::string error, int64_t now_ms);
  MasterActions finish_when_quiet();
  bool refuse_without_checkpoints(RequestId r, MasterActions& out) const;
  checkpoint::CheckpointMetadata metadata_of(int64_t id);
  CheckpointInfo* info(int64_t id);

  std::shared_ptr<const JobGraph> graph_;
  std::shared_ptr<const scheduler::ExecutionPlan> plan_;
  std::vector<size_t> base_;  // first flat index of each task; back() is the total
  std::vector<std::string> peers_;  // the agent of every subtask, once placed (empty: in this process)
  std::string job_id_;
  bool checkpointing_;

  bool ended_ = false;  // no more events are acted on; the result waits for every actor to go
  std::optional<JobResult> outcome_;
  std::map<int32_t, std::set<int>> live_;  // by attempt: subtask actors not down yet
  std::map<int32_t, size_t> io_pending_;    // by attempt: subtask actors whose I/O may still run
  std::set<int32_t> waiting_;              // restarts due that wait for earlier attempts' I/O

  std::vector<int> region_of_;                          // by flat index
  std::vector<std::vector<int>> region_subtasks_;       // by region: its flat indexes
  std::vector<int32_t> region_attempt_;                 // by region: its current attempt
  std::vector<std::shared_ptr<const RestoreState>> region_restore_;  // by region: what that attempt restores
  std::map<int32_t, int> attempt_region_;               // the region of every attempt
  std::set<int> restarting_;  // regions between a failure and their next deployment
  int32_t next_attempt_ = 0;
  std::set<int> unfinished_;  // subtasks not finished in their current attempt
  std::map<int, std::string> lost_files_;  // BATCH: finished subtasks whose file went with an agent (which)
  /// BATCH: subtask `index` reads a lost file: it waits for it (true), its attempt over, no
  /// restart counted.
  bool requeue(int index, MasterActions& out);

  std::shared_ptr<const RestoreState> restore_;  // what the job started from

  std::unique_ptr<checkpoint::CheckpointCoordinator> coordinator_;
  std::unique_ptr<scheduler::RestartStrategyState> restarts_;
  std::unique_ptr<scheduler::BatchSchedule> schedule_;  // BATCH only
  std::vector<CheckpointInfo> history_;
  std::map<int64_t, std::vector<CheckpointAck>> acks_;
  std::map<int64_t, std::vector<RequestId>> waiters_;  // checkpoints clients asked for
  std::set<int64_t> savepoints_;
  std::deque<std::pair<bool, RequestId>> requests_;  // not started yet: (savepoint, request)
  std::set<int64_t> stop_after_;                     // savepoints after which the job stops
  bool stop_requested_ = false;
  bool stopping_ = false;  // stopped with a savepoint: the job ends once the current attempt is down
  std::optional<RequestId> drain_waiter_;  // stop-with-savepoint with drain
  int64_t next_id_ = 1;
  int64_t last_completed_ = 0;
  struct PendingQuery {
    RequestId request = 0;
    int unanswered = 0;  // subtasks that have not answered
    TaskQuery query;
    std::string op_name;            // state, keys: the operator's name
    std::vector<std::string> keys;  // keys: the subtasks' keys so far, as JSON
    bool truncated = false;
    int64_t asked_ms = 0;           // when it was asked (on_time drops it after 20 s)
  };
  /// Answers every pending query with `error` (the job restarts or ends).
  void drop_queries(const std::string& error, MasterActions& out);
  std::map<uint64_t, PendingQuery> queries_;  // by query id
  uint64_t next_query_ = 1;
  MasterActions on_answer(const TaskReport& r);
};

}  // namespace sluice::runtime
