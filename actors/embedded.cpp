// actors/embedded.cpp — the embedded executor: one actor system per job, a job master actor (a shell around JobMaster), every subtask an actor.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <set>
#include <thread>
#include <map>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <random>

#include "actors/io_executor.hpp"
#include "actors/job_master_actor.hpp"
#include "actors/messages.hpp"
#include "actors/probe_registry.hpp"
#include "checkpoint/restore.hpp"
#include "actors/task_actor.hpp"
#include "checkpoint/storage.hpp"
#include "scheduler/plan.hpp"
#include "sluice/error.hpp"
#include "sluice/executor.hpp"
#include "sluice/logging.hpp"

#include <spdlog/spdlog.h>

namespace sluice::runtime {

namespace {

/// Subtasks as actors of the job's own actor system, monitored by the master.
class LocalHost final : public SubtaskHost {
 public:
  LocalHost(std::shared_ptr<const JobGraph> graph, std::shared_ptr<const scheduler::ExecutionPlan> plan, IoExecutor* io,
            ProbeRegistry* probes, std::shared_ptr<checkpoint::CheckpointWriter> writer)
      : graph_(std::move(graph)), plan_(std::move(plan)), io_(io), probes_(probes), writer_(std::move(writer)) {}

  void deploy(caf::event_based_actor* self, JobMaster& master, int32_t attempt) override {
    flat_.resize(master.subtasks());
    auto restore = master.restore_of(attempt);
    std::vector<caf::actor> fresh;
    for (int index : master.subtasks_of(attempt)) {
      TaskEnv env{caf::actor_cast<caf::actor>(self), io_, probes_, size_t(index), attempt, {}, {}, {}};
      TaskSpec spec{graph_, plan_, 0, 0, writer_, restore, {}};
      auto a = spawn_task(self->system(), std::move(spec), encode(master.deployment(index)), env);
      self->monitor(a);
      subtask_of_[a.address()] = {attempt, index};
      flat_[size_t(index)] = a;
      fresh.push_back(a);
    }
    // One message each, shared by every subtask. The region's subtasks only address each other.
    auto wire = caf::make_message(wire_atom::value, flat_);
    auto start = caf::make_message(command_atom::value, encode(TaskCommand{TaskCommand::Kind::start}));
    for (auto& a : fresh) self->send(a, wire);
    for (auto& a : fresh) self->send(a, start);
  }
  void command(caf::event_based_actor* self, const TaskCommand& c) override {
    auto m = caf::make_message(command_atom::value, encode(c));
    if (c.index >= 0) self->send(flat_[size_t(c.index)], m);
    else
      for (auto& actor : flat_)
        if (actor) self->send(actor, m);
  }
  bool subtask_of(const caf::actor_addr& who, int32_t& attempt, int& index) override {
    auto it = subtask_of_.find(who);
    if (it == subtask_of_.end()) return false;
    std::tie(attempt, index) = it->second;
    subtask_of_.erase(it);
    return true;
  }

 private:
  std::shared_ptr<const JobGraph> graph_;
  std::shared_ptr<const scheduler::ExecutionPlan> plan_;
  IoExecutor* io_;
  ProbeRegistry* probes_;
  std::shared_ptr<checkpoint::CheckpointWriter> writer_;  // null: the job does not checkpoint
  std::vector<caf::actor> flat_;  // every subtask's actor of its region's newest attempt, by flat index
  std::map<caf::actor_addr, std::pair<int32_t, int>> subtask_of_;  // (attempt, flat index) of every live actor
};

/// Memory this process may use: the cgroup's limit where one is set, else the machine's.
uint64_t available_memory() {
  uint64_t bytes = uint64_t(sysconf(_SC_PHYS_PAGES)) * uint64_t(sysconf(_SC_PAGESIZE));
  std::ifstream limit("/sys/fs/cgroup/memory.max");
  uint64_t cgroup = 0;
  if (limit >> cgroup && cgroup > 0) bytes = std::min(bytes, cgroup);
  return bytes;
}

std::string gib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GiB", double(bytes) / double(1ull << 30));
  return text;
}

/// Refuses, before any actor exists, a job whose channels and subtasks alone would not fit
/// in memory (an all-to-all exchange at parallelism p has p² channels).
void refuse_what_cannot_fit(const JobGraph& g, const scheduler::ExecutionPlan& plan) {
  auto need = scheduler::estimate_memory(plan);
  auto have = available_memory();
  if (need.bytes() <= have / 10 * 8) return;
  throw UsageError("its " + std::to_string(need.subtasks) + " subtasks and " + std::to_string(need.channels) +
                   " channels need about " + gib(need.bytes()) + " before the first record (" +
                   std::to_string(scheduler::MemoryEstimate::channel_bytes) + " bytes a channel, " +
                   std::to_string(scheduler::MemoryEstimate::subtask_bytes / 1024) +
                   " KiB a subtask), more than 80% of the " + gib(have) + " this process has; lower the " +
                   "parallelism of '" + g.name + "' (an all-to-all exchange has producers × consumers channels)");
}

class EmbeddedJob final : public MasterJobHandle {
 public:
  explicit EmbeddedJob(JobGraph g) : MasterJobHandle(g.name) {
    io_ = std::make_unique<IoExecutor>(2);
    std::lock_guard<std::mutex> l(handle_mu_);
    start(std::make_shared<const JobGraph>(std::move(g)));
  }
  ~EmbeddedJob() override {
    {
      std::unique_lock<std::mutex> l(handle_mu_);
      rescaled_.wait(l, [&] { return !rescaling_; });
    }
    if (!done()) cancel();
    current_result().wait();
    master_ = nullptr;
    io_.reset();   // finishes outstanding I/O while the actors can still be told
    sys_.reset();  // waits for every actor to quit
  }
  /// The result, once the I/O of the job's last messages (a sink's final commit) is done. A
  /// rescale ends one run of the job and starts the next under this handle: the result is the
  /// last run's.
  JobResult wait() override {
    std::unique_lock<std::mutex> l(handle_mu_);
    for (;;) {
      rescaled_.wait(l, [&] { return !rescaling_; });
      auto result = result_;
      auto run = run_;
      l.unlock();
      auto r = result.get();
      l.lock();
      if (rescaling_ || run != run_) continue;  // a rescale took over: wait for its run
      l.unlock();
      if (io_) io_->wait_idle();
      return r;
    }
  }
  bool done() const override {
    std::lock_guard<std::mutex> l(handle_mu_);
    return !rescaling_ && result_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }
  std::vector<TaskProbe> probes() const override {
    std::lock_guard<std::mutex> l(handle_mu_);
    return probes_->snapshot();
  }
  RescaleResult rescale(int parallelism) override;
  /// Cancels the current run; during a rescale, also the run it was about to start.
  void cancel() override {
    {
      std::lock_guard<std::mutex> l(handle_mu_);
      canceled_ = true;
    }
    MasterJobHandle::cancel();
  }

 private:
  std::shared_future<JobResult> current_result() const {
    std::lock_guard<std::mutex> l(handle_mu_);
    return result_;
  }

  /// Starts a run of the job: plans `graph`, prepares its checkpoint directory and restore,
  /// spawns its master. Called with handle_mu_ held.
  void start(std::shared_ptr<const JobGraph> graph) {
    ++run_;
    graph_ = graph;
    auto plan = std::make_shared<const scheduler::ExecutionPlan>(scheduler::plan(*graph));
    shape_ = shape_of(*graph, *plan);
    if (probes_) retired_probes_.push_back(std::move(probes_));  // the old run's actors may still publish
    probes_ = std::make_unique<ProbeRegistry>(plan->subtask_count());
    auto promise = std::make_shared<std::promise<JobResult>>();
    result_ = promise->get_future().share();
    master_ = nullptr;
    PreparedStart prep;
    try {
      refuse_what_cannot_fit(*graph, *plan);
      prep = prepare_start(*graph);
    } catch (const std::exception& e) {
      JobResult r;
      r.job_name = graph->name;
      r.error = "job '" + graph->name + "' cannot start: " + e.what();
      r.usage_error = true;  // the checkpoint directory or the checkpoint to restore does not fit
      promise->set_value(r);
      return;
    }
    // A finished job still runs once from its final checkpoint: every operator is restored as
    // finished, so nothing is read again, but sinks commit what that checkpoint pre-committed
    // (the process may have died between `_metadata` and the commit).
    if (prep.already_finished)
      log::runtime()->warn("job '{}' had already finished at checkpoint {}; completing its commits", graph->name,
                           prep.restore->checkpoint_id);
    if (!sys_) {
      cfg_.set("scheduler.max-threads", size_t(graph->config.effective_worker_threads()));
      cfg_.set("scheduler.max-throughput", size_t(graph->config.max_throughput));
      cfg_.set("logger.verbosity", caf::atom("quiet"));
      sys_ = std::make_unique<caf::actor_system>(cfg_);
    }
    committer_ = prep.committer;
    auto writer = prep.committer ? std::make_shared<checkpoint::CheckpointWriter>(prep.committer->directory()) : nullptr;
    auto host = std::make_shared<LocalHost>(graph, plan, io_.get(), probes_.get(), writer);
    master_ = spawn_job_master(*sys_, {graph, plan, io_.get(), promise, prep.committer, prep.restore, log_, id_}, host);
  }

  caf::actor_system_config cfg_;
  std::shared_ptr<const JobGraph> graph_;  // the current run's
  std::unique_ptr<ProbeRegistry> probes_;
  std::vector<std::unique_ptr<ProbeRegistry>> retired_probes_;
  std::unique_ptr<IoExecutor> io_;
  std::unique_ptr<caf::actor_system> sys_;
  std::weak_ptr<checkpoint::CheckpointCommitter> committer_;  // the current run's: it holds the directory
  bool rescaling_ = false;
  bool canceled_ = false;
  int run_ = 0;  // runs started under this handle (a rescale starts one)
  std::condition_variable rescaled_;
};

RescaleResult EmbeddedJob::rescale(int parallelism) {
  using Clock = std::chrono::steady_clock;
  if (parallelism < 1) throw UsageError("a job's parallelism must be at least 1, not " + std::to_string(parallelism));
  std::shared_ptr<const JobGraph> before;
  {  // One rescale at a time: checked and claimed together.
    std::lock_guard<std::mutex> l(handle_mu_);
    if (rescaling_) throw JobError("job '" + name_ + "' is being rescaled already");
    if (canceled_ || result_.wait_for(std::chrono::seconds(0)) == std::future_status::ready)
      throw JobError("job '" + name_ + "' has ended");
    before = graph_;
    rescaling_ = true;
  }
  // Whatever happens from here, waiters are let go once this returns or throws.
  struct Release {
    EmbeddedJob* job;
    ~Release() {
      std::lock_guard<std::mutex> l(job->handle_mu_);
      job->rescaling_ = false;
      job->rescaled_.notify_all();
    }
  } release{this};
  // The next run's graph, checked before anything stops: sources keep their parallelism (their
  // positions cannot move between subtasks), as do operators given one explicitly.
  JobGraph next = *before;
  RescaleResult out;
  out.to = parallelism;
  next.config.parallelism = parallelism;
  for (size_t n = 0; n < next.nodes.size(); ++n) {
    auto& node = next.nodes[n];
    if (node.parallelism == 0 && !node.is_source) out.from = std::max(out.from, before->parallelism_of(int(n)));
    if (node.is_source && node.parallelism == 0) node.parallelism = before->parallelism_of(int(n));
    if (node.parallelism != 0) out.fixed.push_back(node.name);
  }
  try {
    next.validate();
    refuse_what_cannot_fit(next, scheduler::plan(next));
  } catch (const JobError& e) {
    throw UsageError("job '" + name_ + "' cannot run at parallelism " + std::to_string(parallelism) + ": " + e.what());
  }
  auto asked = Clock::now();
  auto old_result = current_result();
  out.savepoint = stop_with_savepoint(false);  // throws when it cannot: the job runs on as it was
  out.savepoint_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - asked).count();
  auto stopped = old_result.get();
  io_->wait_idle();  // its sinks' commits are done
  if (!stopped.succeeded)
    throw JobError("job '" + name_ + "' failed while it stopped for the rescale: " + stopped.error);
  // The stopped run lets go of the checkpoint directory once its master's state is gone.
  for (auto until = Clock::now() + std::chrono::seconds(30); !committer_.expired() && Clock::now() < until;)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto& c = before->config.checkpoint;
  auto dir = c.dir.empty() ? (std::filesystem::path("checkpoints") / before->name) : std::filesystem::path(c.dir);
  next.config.checkpoint.restore = (dir / ("chk-" + std::to_string(out.savepoint))).string();
  {
    std::lock_guard<std::mutex> l(handle_mu_);
    // Canceled while it stopped: the job ends as the stopped run ended, at the savepoint.
    if (canceled_) throw JobError("job '" + name_ + "' was canceled during the rescale; it stopped at savepoint " +
                                  std::to_string(out.savepoint));
    start(std::make_shared<const JobGraph>(std::move(next)));
  }
  log::runtime()->info("job '{}' rescaled from parallelism {} to {} through savepoint {}", name_, out.from, out.to,
                       out.savepoint);
  {
    std::lock_guard<std::mutex> l(handle_mu_);
    rescaling_ = false;
    rescaled_.notify_all();
  }
  // Records flow again once every subtask of the new run is running and its sources emit.
  std::set<int> sources;
  for (const auto& t : shape().tasks)
    if (t.source) sources.insert(t.id);
  auto give_up = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < give_up && !done()) {
    auto now = probes();
    bool running = !now.empty(), emitting = false;
    for (const auto& p : now) {
      running = running && p.status == "running";
      emitting = emitting || (sources.count(p.task_id) && p.records_out > 0);
    }
    if (running && emitting) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  out.downtime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - asked).count();
  if (done()) {
    auto r = current_result().get();
    if (!r.succeeded) throw JobError("job '" + name_ + "' did not start again at parallelism " +
                                     std::to_string(parallelism) + ": " + r.error);
  }
  return out;
}

class EmbeddedExecutor final : public Executor {
 public:
  std::shared_ptr<JobHandle> submit(JobGraph graph) override {
    auto job = std::make_shared<EmbeddedJob>(std::move(graph));
    register_job(job);
    return job;
  }
};

/// Registers the embedded executor when libsluice loads, and keeps glibc from returning
/// batch-sized memory to the system after every free (a 10x slowdown measured here).
struct Registrar {
  Registrar() {
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    register_executor(std::make_unique<EmbeddedExecutor>());
  }
} registrar;

}  // namespace
}  // namespace sluice::runtime
