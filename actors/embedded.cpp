// actors/embedded.cpp — the embedded executor: one actor system per job, a job master actor (a shell around JobMaster), every subtask an actor.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
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

#include "actors/actor_system.hpp"
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

/// A new directory for one BATCH job's partition files, below batch_base.
std::filesystem::path make_batch_directory(const ExecutionConfig& c) {
  static std::atomic<uint64_t> jobs{0};
  auto dir = std::filesystem::path(batch_base(c)) / ("sluice-batch-" + std::to_string(::getpid()) + "-" + std::to_string(jobs++));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw UsageError("cannot create the BATCH partition directory '" + dir.string() + "': " + ec.message());
  return dir;
}

/// Subtasks as actors of the job's own actor system, monitored by the master.
class LocalHost final : public SubtaskHost {
 public:
  /// `batch_dir`: the BATCH job's partition directory (make_batch_directory), removed with the host.
  LocalHost(std::shared_ptr<const JobGraph> graph, std::shared_ptr<const scheduler::ExecutionPlan> plan, IoExecutor* io,
            ProbeRegistry* probes, std::shared_ptr<checkpoint::CheckpointWriter> writer, std::filesystem::path batch_dir)
      : graph_(std::move(graph)),
        plan_(std::move(plan)),
        batch_dir_(std::move(batch_dir)),
        io_(io),
        probes_(probes),
        writer_(std::move(writer)) {}
  ~LocalHost() override { remove_batch_directory(); }
  /// The job ended: its blocking partitions go, before the client hears of the end.
  void on_end() override { remove_batch_directory(); }
  void remove_batch_directory() {
    std::error_code ec;
    if (!batch_dir_.empty()) std::filesystem::remove_all(batch_dir_, ec);
  }

  void deploy(caf::event_based_actor* self, JobMaster& master, int32_t attempt) override {
    flat_.resize(master.subtasks());
    auto restore = master.restore_of(attempt);
    std::vector<caf::actor> fresh;
    for (int index : master.subtasks_of(attempt)) {
      TaskEnv env{caf::actor_cast<caf::actor>(self), io_, probes_, size_t(index), attempt, {}, {}, {}};
      TaskSpec spec{graph_, plan_, 0, 0, writer_, restore, {}, batch_dir_.string()};
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
  std::filesystem::path batch_dir_;
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
  std::vector<TaskProbe> probes() const override {
    std::lock_guard<std::mutex> l(handle_mu_);
    return probes_->snapshot();
  }

 private:
  std::shared_future<JobResult> current_result() const {
    std::lock_guard<std::mutex> l(handle_mu_);
    return result_;
  }
  void wait_io() override {
    if (io_) io_->wait_idle();
  }
  void check_fits(const JobGraph& next, const scheduler::ExecutionPlan& plan) const override {
    refuse_what_cannot_fit(next, plan);
  }

  /// Starts a run of the job in this process (MasterJobHandle::start).
  void start(std::shared_ptr<const JobGraph> graph) override {
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
    std::filesystem::path batch_dir;
    try {
      refuse_what_cannot_fit(*graph, *plan);
      if (plan->batch && graph->config.checkpoint.enabled()) {
        // Flink's BATCH mode takes no checkpoints either: a failed task reruns from its inputs.
        log::runtime()->warn("job '{}' runs in BATCH mode: checkpointing is off", graph->name);
        auto copy = std::make_shared<JobGraph>(*graph);
        copy->config.checkpoint.interval = std::chrono::milliseconds(0);
        graph = graph_ = copy;
      }
      prep = prepare_start(*graph);
      if (plan->batch) batch_dir = make_batch_directory(graph->config);
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
      configure_actor_system(cfg_, size_t(graph->config.effective_worker_threads()),
                             size_t(graph->config.max_throughput));
      sys_ = std::make_unique<caf::actor_system>(cfg_);
    }
    committer_ = prep.committer;
    auto writer = prep.committer ? std::make_shared<checkpoint::CheckpointWriter>(prep.committer->directory()) : nullptr;
    auto host = std::make_shared<LocalHost>(graph, plan, io_.get(), probes_.get(), writer, std::move(batch_dir));
    master_ = spawn_job_master(*sys_, {graph, plan, io_.get(), promise, prep.committer, prep.restore, log_, id_}, host);
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<ProbeRegistry> probes_;
  std::vector<std::unique_ptr<ProbeRegistry>> retired_probes_;
  std::unique_ptr<IoExecutor> io_;
  std::unique_ptr<caf::actor_system> sys_;
};

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
