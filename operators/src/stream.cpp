// operators/src/stream.cpp — the environment: graph building helpers, execution through the registered executor.
#include "sluice/stream.hpp"

#include <mutex>

namespace sluice {

namespace detail {
int add_node(JobGraph& g, std::string name,
             std::function<std::unique_ptr<OperatorBase>(int, int)> factory, bool keyed) {
  JobNode n;
  n.id = int(g.nodes.size());
  n.name = std::move(name);
  n.factory = std::move(factory);
  n.keyed = keyed;
  g.nodes.push_back(std::move(n));
  return g.nodes.back().id;
}
JobNode& node(JobGraph& g, int id) { return g.nodes.at(size_t(id)); }
}  // namespace detail

namespace {
std::mutex executor_mu;
std::unique_ptr<Executor>& registered_executor() {
  static std::unique_ptr<Executor> e;
  return e;
}
}  // namespace

void register_executor(std::unique_ptr<Executor> executor) {
  std::lock_guard<std::mutex> l(executor_mu);
  registered_executor() = std::move(executor);
}

namespace {
thread_local Executor* thread_executor = nullptr;
}  // namespace

void with_thread_executor(Executor& executor, const std::function<void()>& fn) {
  struct Restore {
    Executor* before;
    ~Restore() { thread_executor = before; }
  } restore{thread_executor};
  thread_executor = &executor;
  fn();
}

Executor& default_executor() {
  if (thread_executor) return *thread_executor;
  std::lock_guard<std::mutex> l(executor_mu);
  if (!registered_executor()) throw JobError("no executor is registered (is libsluice linked?)");
  return *registered_executor();
}

namespace {
std::mutex jobs_mu;
std::vector<std::weak_ptr<JobHandle>>& registered_jobs() {
  static std::vector<std::weak_ptr<JobHandle>> jobs;
  return jobs;
}
}  // namespace

void register_job(const std::shared_ptr<JobHandle>& job) {
  std::lock_guard<std::mutex> l(jobs_mu);
  auto& jobs = registered_jobs();
  std::erase_if(jobs, [](const auto& w) { return w.expired(); });
  jobs.push_back(job);
}

std::vector<std::shared_ptr<JobHandle>> running_jobs() {
  std::lock_guard<std::mutex> l(jobs_mu);
  std::vector<std::shared_ptr<JobHandle>> out;
  for (const auto& w : registered_jobs())
    if (auto j = w.lock(); j && !j->done()) out.push_back(std::move(j));
  return out;
}

JobResult JobClient::wait() {
  auto r = handle_->wait();
  if (!r.succeeded && r.usage_error) throw UsageError(r.error);
  if (!r.succeeded) throw JobError(r.error);
  return r;
}

StreamEnvironment::StreamEnvironment() : graph_(std::make_shared<JobGraph>()) {}
StreamEnvironment::StreamEnvironment(ExecutionConfig config) : StreamEnvironment() {
  graph_->config = config;
}

StreamEnvironment& StreamEnvironment::set_parallelism(int p) {
  if (p < 1) throw JobError("parallelism must be at least 1, got " + std::to_string(p));
  graph_->config.parallelism = p;
  return *this;
}
StreamEnvironment& StreamEnvironment::set_max_parallelism(int p) {
  graph_->config.max_parallelism = p;
  return *this;
}
StreamEnvironment& StreamEnvironment::set_buffer_timeout(std::chrono::milliseconds t) {
  graph_->config.buffer_timeout = t;
  return *this;
}
StreamEnvironment& StreamEnvironment::disable_chaining() {
  graph_->config.chaining = false;
  return *this;
}

JobClient StreamEnvironment::execute_async(const std::string& job_name) {
  JobGraph g = *graph_;
  g.name = job_name;
  g.validate();
  return JobClient(default_executor().submit(std::move(g)));
}

JobResult StreamEnvironment::execute(const std::string& job_name) {
  return execute_async(job_name).wait();
}

}  // namespace sluice
