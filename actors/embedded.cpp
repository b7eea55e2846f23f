// actors/embedded.cpp — the embedded executor: one actor system per job, a job master actor, every subtask an actor.
#include <malloc.h>

#include <chrono>
#include <future>

#include "actors/io_executor.hpp"
#include "actors/messages.hpp"
#include "actors/probe_registry.hpp"
#include "actors/task_actor.hpp"
#include "scheduler/plan.hpp"
#include "sluice/error.hpp"
#include "sluice/executor.hpp"
#include "sluice/logging.hpp"

#include <spdlog/spdlog.h>

namespace sluice::runtime {

namespace {

struct MasterState {
  std::shared_ptr<const JobGraph> graph;
  std::shared_ptr<const scheduler::ExecutionPlan> plan;
  std::shared_ptr<ActorTable> actors;
  size_t remaining = 0;
  std::shared_ptr<std::promise<JobResult>> promise;
  std::chrono::steady_clock::time_point started;
  bool ended = false;

  JobResult result(bool ok, std::string error) const {
    JobResult r;
    r.job_name = graph->name;
    r.succeeded = ok;
    r.error = std::move(error);
    r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    return r;
  }
};

/// Deploys the job's subtasks, waits for all to finish, and cancels everything on the first
/// failure. It makes no protocol decisions of its own.
caf::behavior job_master(caf::stateful_actor<MasterState>* self,
                         std::shared_ptr<const JobGraph> graph,
                         std::shared_ptr<const scheduler::ExecutionPlan> plan, IoExecutor* io,
                         ProbeRegistry* probes, std::shared_ptr<std::promise<JobResult>> promise) {
  auto& st = self->state;
  st.graph = graph;
  st.plan = plan;
  st.promise = promise;
  st.started = std::chrono::steady_clock::now();
  st.actors = std::make_shared<ActorTable>();
  size_t slot = 0;
  for (const auto& t : plan->tasks) {
    st.actors->emplace_back();
    for (int s = 0; s < t.parallelism; ++s) {
      TaskEnv env{caf::actor_cast<caf::actor>(self), io, probes, slot++};
      auto a = spawn_task(self->system(), TaskSpec{graph, plan, t.id, s}, env);
      self->monitor(a);
      st.actors->back().push_back(a);
      ++st.remaining;
    }
  }
  std::shared_ptr<const ActorTable> table = st.actors;
  for (auto& row : *st.actors)
    for (auto& a : row) self->send(a, wire_atom::value, table);
  for (auto& row : *st.actors)
    for (auto& a : row) self->send(a, start_atom::value);
  log::runtime()->info("job '{}' deployed: {} tasks, {} subtasks", graph->name, plan->tasks.size(),
                       st.remaining);

  auto end = [self](bool ok, std::string error) {
    auto& s = self->state;
    if (s.ended) return;
    s.ended = true;
    if (!ok) {
      log::runtime()->info("{}", error);
      for (auto& row : *s.actors)
        for (auto& a : row) self->send(a, cancel_atom::value);
    } else {
      log::runtime()->info("job '{}' finished", s.graph->name);
    }
    s.promise->set_value(s.result(ok, std::move(error)));
    self->quit();
  };
  self->set_down_handler([self, end](const caf::down_msg& dm) {
    if (dm.reason && !self->state.ended)
      end(false, "job '" + self->state.graph->name + "' failed: a task actor stopped: " +
                     self->system().render(dm.reason));
  });
  return {
      [self, end](done_atom, int32_t, int32_t) {
        if (--self->state.remaining == 0) end(true, {});
      },
      [end](failed_atom, const std::string& error) { end(false, error); },
      [self, end](cancel_atom) { end(false, "job '" + self->state.graph->name + "' was canceled"); },
  };
}

class EmbeddedJob final : public JobHandle {
 public:
  explicit EmbeddedJob(JobGraph g) {
    auto graph = std::make_shared<const JobGraph>(std::move(g));
    auto plan = std::make_shared<const scheduler::ExecutionPlan>(scheduler::plan(*graph));
    size_t slots = 0;
    for (const auto& t : plan->tasks) slots += size_t(t.parallelism);
    probes_ = std::make_unique<ProbeRegistry>(slots);
    io_ = std::make_unique<IoExecutor>(2);
    cfg_.set("scheduler.max-threads", size_t(graph->config.effective_worker_threads()));
    cfg_.set("scheduler.max-throughput", size_t(graph->config.max_throughput));
    cfg_.set("logger.verbosity", caf::atom("quiet"));
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    auto promise = std::make_shared<std::promise<JobResult>>();
    result_ = promise->get_future().share();
    master_ = sys_->spawn(job_master, graph, plan, io_.get(), probes_.get(), promise);
  }
  ~EmbeddedJob() override {
    if (result_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) cancel();
    result_.wait();
    master_ = nullptr;
    io_.reset();   // finishes outstanding I/O while the actors can still be told
    sys_.reset();  // waits for every actor to quit
  }
  JobResult wait() override { return result_.get(); }
  void cancel() override { caf::anon_send(master_, cancel_atom::value); }
  std::vector<TaskProbe> probes() const override { return probes_->snapshot(); }

 private:
  caf::actor_system_config cfg_;
  std::unique_ptr<ProbeRegistry> probes_;
  std::unique_ptr<IoExecutor> io_;
  std::unique_ptr<caf::actor_system> sys_;
  std::shared_future<JobResult> result_;
  caf::actor master_;
};

class EmbeddedExecutor final : public Executor {
 public:
  std::shared_ptr<JobHandle> submit(JobGraph graph) override {
    return std::make_shared<EmbeddedJob>(std::move(graph));
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
