// actors/job_master_actor.hpp — the job master's actor: a thin shell around JobMaster that carries out its decisions with timers, the I/O strand and a SubtaskHost (actors in this process, or node agents).
#pragma once

#include <chrono>
#include <condition_variable>
#include <future>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/actor.hpp>

#include "actors/io_executor.hpp"
#include "actors/job_master.hpp"
#include "checkpoint/restore.hpp"
#include "checkpoint/storage.hpp"

namespace sluice::runtime {

/// The checkpoints and restarts of a job, written by the master, read by job clients.
struct CheckpointLog {
  mutable std::mutex mu;
  std::vector<CheckpointInfo> infos;
  int restarts = 0;
  /// Checkpoint `id`, searched from the newest (the one asked for is nearly always recent).
  CheckpointInfo* find(int64_t id);
};

/// Where a job's subtasks run. Called on the master actor's thread only.
class SubtaskHost {
 public:
  virtual ~SubtaskHost() = default;
  /// Starts the subtasks of attempt `attempt` of `master` (master.subtasks_of(attempt): one
  /// pipelined region), each from master.deployment(index), restoring master.restore_of(attempt)
  /// (null: a fresh start). Each subtask's end comes back to the master actor as a down message
  /// or (gone_atom, attempt, index, error), its I/O's end as (quiet_atom, attempt).
  virtual void deploy(caf::event_based_actor* self, JobMaster& master, int32_t attempt) = 0;
  /// Delivers `c` to its subtask's current attempt (every current subtask when c.index < 0).
  virtual void command(caf::event_based_actor* self, const TaskCommand& c) = 0;
  /// A down message of an actor this host monitors: fills (attempt, flat index) and returns
  /// true when it was one of the job's subtasks.
  virtual bool subtask_of(const caf::actor_addr& who, int32_t& attempt, int& index) = 0;
  /// (host_atom, attempt) came back, sent by the host to the master actor itself (a deployment
  /// that waits for slots tries again).
  virtual void on_retry(caf::event_based_actor* self, JobMaster& master, int32_t attempt) { (void)self, (void)master, (void)attempt; }
  /// The job has ended: nothing more is deployed.
  virtual void on_end() {}
};

/// What a job master actor runs.
struct JobMasterSetup {
  std::shared_ptr<const JobGraph> graph;
  std::shared_ptr<const scheduler::ExecutionPlan> plan;
  IoExecutor* io = nullptr;
  std::shared_ptr<std::promise<JobResult>> promise;
  std::shared_ptr<checkpoint::CheckpointCommitter> committer;  ///< null: the job does not checkpoint
  std::shared_ptr<const RestoreState> restore;
  std::shared_ptr<CheckpointLog> log;
  std::string job_id;
  /// BATCH on a cluster: the slots the agents offer as the job starts (0: none to take into
  /// account); its waves take no more, nor more than ExecutionConfig::slots.
  int slots = 0;
};

/// Spawns the master of one job. It answers (client_atom, ControlBuffer) with a ClientReply,
/// takes (report_atom, ControlBuffer) from subtasks, and ends itself once the job's result is
/// handed to `promise`.
caf::actor spawn_job_master(caf::actor_system& sys, JobMasterSetup setup, std::shared_ptr<SubtaskHost> host);

/// A new job id: 16 hex digits.
std::string new_job_id();

/// What the handles of jobs run by a job master actor share (embedded and on a cluster): id and
/// name, the result, the checkpoint log, and cancel and checkpoint requests sent to the master.
class MasterJobHandle : public JobHandle {
 public:
  const std::string& id() const override { return id_; }
  const std::string& name() const override { return name_; }
  /// The result, once the I/O of the job's last messages (a sink's final commit) is done. A
  /// rescale ends one run of the job and starts the next under this handle: the result is the
  /// last run's.
  JobResult wait() override;
  bool done() const override;
  /// Cancels the current run; during a rescale, also the run it was about to start.
  void cancel() override;
  /// Stops the job with a savepoint and starts the next run from it (start()); sources keep
  /// their parallelism, as do operators given one explicitly.
  RescaleResult rescale(int parallelism) override;
  std::vector<CheckpointInfo> checkpoints() const override;
  int64_t trigger_checkpoint(bool savepoint) override;
  int64_t stop_with_savepoint(bool drain) override;
  JobShape shape() const override {
    std::lock_guard<std::mutex> l(handle_mu_);
    return shape_;
  }
  int64_t submitted_ms() const override { return submitted_ms_; }
  int restarts() const override;
  std::string query(const TaskQuery& q) override;

 protected:
  explicit MasterJobHandle(std::string name);
  /// The job master actor now (replaced when an embedded job is rescaled).
  caf::actor master() const;
  /// The tasks and exchanges of a planned job, for shape().
  static JobShape shape_of(const JobGraph& graph, const scheduler::ExecutionPlan& plan);
  /// Asks the master and waits for the checkpoint's id; throws JobError with the master's
  /// sentence when none completed, or when the job never started (no master).
  int64_t ask(const ClientRequest& q);
  /// The same, for any reply, waiting at most `timeout` (none: as long as it takes).
  ClientReply ask_reply(const ClientRequest& q, std::optional<std::chrono::milliseconds> timeout);

  /// Starts a run of `graph`: plans it, prepares its checkpoint directory and restore, spawns
  /// its master; sets graph_, shape_, result_, master_ and committer_ and counts the run.
  /// Called with handle_mu_ held (the constructor's first run, a rescale's next), and it may
  /// take other locks (a cluster job: its master's shared one): whoever holds those never
  /// calls into a handle.
  virtual void start(std::shared_ptr<const JobGraph> graph) = 0;
  /// Refuses (JobError) a rescaled graph that cannot run where the job runs, before anything stops.
  virtual void check_fits(const JobGraph& next, const scheduler::ExecutionPlan& plan) const {
    (void)next, (void)plan;
  }
  /// Waits until the I/O the job's runs posted (a sink's commits) is done.
  virtual void wait_io() = 0;

  /// Guards master_, shape_, result_ and the rescale's fields, which a rescale replaces while
  /// clients read them.
  mutable std::mutex handle_mu_;
  std::shared_ptr<const JobGraph> graph_;                     // the current run's
  std::weak_ptr<checkpoint::CheckpointCommitter> committer_;  // the current run's: it holds the directory
  bool rescaling_ = false;
  bool canceled_ = false;
  int run_ = 0;  // runs started under this handle (a rescale starts one)
  std::condition_variable rescaled_;
  std::string id_, name_;
  std::shared_ptr<CheckpointLog> log_ = std::make_shared<CheckpointLog>();
  std::shared_future<JobResult> result_;
  caf::actor master_;  // none when the job could not start
  JobShape shape_;
  int64_t submitted_ms_ = 0;
};

/// Opens the checkpoint directory of `g` and reads the checkpoint to start from, before any
/// actor runs. Throws UsageError or CheckpointError with one sentence.
struct PreparedStart {
  std::shared_ptr<checkpoint::CheckpointCommitter> committer;
  std::shared_ptr<const RestoreState> restore;
  bool already_finished = false;
};
PreparedStart prepare_start(const JobGraph& g);

}  // namespace sluice::runtime
