// actors/console_service.cpp — the introspection service over HTTP (cpp-httplib): a sampler thread feeding the probe history, one handler per REST endpoint, the token check.
#include "actors/console_service.hpp"
#include "actors/connection.hpp"
#include "actors/console_page.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include <httplib.h>

#include "sluice/config.hpp"
#include "sluice/error.hpp"
#include "sluice/logging.hpp"

#include <spdlog/spdlog.h>

namespace sluice::runtime {

namespace {
using Clock = std::chrono::steady_clock;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr size_t ended_jobs_kept = 100;

/// What the console keeps of a job that ended: its figures, without the runtime that ran it (an
/// embedded job's handle holds its actor system).
class EndedJob final : public JobHandle {
 public:
  explicit EndedJob(JobHandle& j)
      : id_(j.id()),
        name_(j.name()),
        result_(j.wait()),
        probes_(j.probes()),
        checkpoints_(j.checkpoints()),
        shape_(j.shape()),
        submitted_ms_(j.submitted_ms()),
        restarts_(j.restarts()) {}
  const std::string& id() const override { return id_; }
  const std::string& name() const override { return name_; }
  bool done() const override { return true; }
  JobResult wait() override { return result_; }
  void cancel() override {}
  std::vector<TaskProbe> probes() const override { return probes_; }
  std::vector<CheckpointInfo> checkpoints() const override { return checkpoints_; }
  int64_t trigger_checkpoint(bool) override { throw JobError("job '" + name_ + "' has ended"); }
  int64_t stop_with_savepoint(bool) override { throw JobError("job '" + name_ + "' has ended"); }
  JobShape shape() const override { return shape_; }
  int64_t submitted_ms() const override { return submitted_ms_; }
  int restarts() const override { return restarts_; }

 private:
  std::string id_, name_;
  JobResult result_;
  std::vector<TaskProbe> probes_;
  std::vector<CheckpointInfo> checkpoints_;
  JobShape shape_;
  int64_t submitted_ms_;
  int restarts_;
};
}  // namespace

struct ConsoleService::Impl {
  IntrospectionSource source;
  ConsoleOptions options;
  httplib::Server server;
  int port = 0;
  std::thread listener;
  std::thread sampler;
  Clock::time_point start = Clock::now();

  std::mutex mu;  // guards what follows
  std::condition_variable wake;
  bool stopping = false;
  std::vector<std::shared_ptr<JobHandle>> jobs;  // every job seen, oldest first; ended ones as EndedJob
  std::vector<std::shared_ptr<JobHandle>> released;  // handles of ended jobs, dropped outside the lock
  ProbeHistory history;

  int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  }

  /// Takes the source's jobs in and samples the probes of those still running. Called with `mu` held.
  void sample_locked() {
    for (auto& j : source.jobs ? source.jobs() : std::vector<std::shared_ptr<JobHandle>>{}) {
      bool known = std::any_of(jobs.begin(), jobs.end(), [&](const auto& k) { return k->id() == j->id(); });
      if (!known) jobs.push_back(std::move(j));
    }
    for (auto& j : jobs) {
      if (!j->done() || dynamic_cast<EndedJob*>(j.get())) continue;
      auto now = now_ms();
      history.add(j->id(), now, j->probes(), 0);  // the final counters
      auto ended = std::make_shared<EndedJob>(*j);
      released.push_back(std::exchange(j, ended));
    }
    size_t ended = size_t(std::count_if(jobs.begin(), jobs.end(), [](const auto& j) { return j->done(); }));
    for (auto it = jobs.begin(); ended > ended_jobs_kept && it != jobs.end();) {
      if ((*it)->done()) {
        it = jobs.erase(it);
        --ended;
      } else {
        ++it;
      }
    }
    std::vector<std::string> ids;
    auto now = now_ms();
    for (const auto& j : jobs) {
      ids.push_back(j->id());
      if (!j->done()) history.add(j->id(), now, j->probes());
    }
    history.retain(ids);
  }

  void sample_loop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      try {
        sample_locked();
      } catch (const std::exception& e) {
        log::runtime()->warn("the console service could not sample the jobs' probes: {}", e.what());
      }
      auto gone = std::move(released);
      released.clear();
      lock.unlock();
      gone.clear();  // an embedded job's runtime winds down here, outside the lock
      lock.lock();
      wake.wait_for(lock, options.sample_interval, [&] { return stopping; });
    }
  }

  /// The job whose id is `id` or starts with it; throws std::out_of_range with a sentence.
  std::shared_ptr<JobHandle> find(const std::string& id) {
    std::shared_ptr<JobHandle> found;
    for (const auto& j : jobs) {
      if (j->id() == id) return j;
      if (!id.empty() && j->id().rfind(id, 0) == 0) {
        if (found) throw std::out_of_range("job id '" + id + "' is ambiguous: more than one job starts with it");
        found = j;
      }
    }
    if (!found) throw std::out_of_range("there is no job '" + id + "'");
    return found;
  }

  /// The job of the request's first path group and its rates over `window_ms`, sampled now.
  std::pair<std::shared_ptr<JobHandle>, std::vector<SubtaskRates>> job_and_rates(const httplib::Request& req,
                                                                                 int64_t window_ms) {
    std::lock_guard lock(mu);
    sample_locked();
    auto job = find(req.matches[1]);
    return {job, history.rates(job->id(), window_ms)};
  }

  bool authorized(const httplib::Request& req) const {
    if (options.secret.empty()) return true;
    const std::string want = "Bearer " + options.secret;
    const auto& got = req.get_header_value("Authorization");
    return got.size() == want.size() && CRYPTO_memcmp(got.data(), want.data(), want.size()) == 0;
  }

  void routes();
};

namespace {

void reply(httplib::Response& res, int status, const std::string& body,
           const char* type = "application/json; charset=utf-8") {
  res.status = status;
  res.set_content(body, type);
}

/// Runs `fn`, turning the sentences it throws into JSON errors with their HTTP status.
template <class Fn>
void answer(httplib::Response& res, Fn&& fn) {
  try {
    fn();
  } catch (const std::out_of_range& e) {
    reply(res, 404, rest::error(e.what()));
  } catch (const std::invalid_argument& e) {
    reply(res, 400, rest::error(e.what()));
  } catch (const UsageError& e) {
    reply(res, 400, rest::error(e.what()));
  } catch (const std::exception& e) {
    reply(res, 500, rest::error(e.what()));
  }
}

/// A whole number query parameter, or `fallback` when absent.
int int_param(const httplib::Request& req, const char* name, int fallback) {
  if (!req.has_param(name)) return fallback;
  auto text = req.get_param_value(name);
  try {
    size_t used = 0;
    int v = std::stoi(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw std::invalid_argument("parameter '" + std::string(name) + "' must be a whole number, not '" + text + "'");
}

/// A path's number; the regex let only digits through.
int whole(const std::string& digits, const char* what) {
  if (digits.size() > 9) throw std::out_of_range(std::string("there is no ") + what + " " + digits);
  return std::stoi(digits);
}

/// The status of a failed query to subtasks, by the sentence the job master or subtask
/// wrote: 404 for an operator, state, task or subtask the job lacks, 400 for a key that does
/// not fit, else 409 (ended, no answer in time, restarting, traced already).
int query_error_status(const std::string& sentence) {
  for (const char* unknown : {"' has no operator '", "' has more than one operator named '", "' has no state '",
                              "' has no task ", "' has no subtask "})
    if (sentence.find(unknown) != std::string::npos) return 404;
  if (sentence.find("' does not fit the keys of operator '") != std::string::npos) return 400;
  return 409;
}

/// A whole number parameter within [low, high], or `fallback` when absent.
int bounded_param(const httplib::Request& req, const char* name, int fallback, int low, int high) {
  int v = int_param(req, name, fallback);
  if (v < low || v > high)
    throw std::invalid_argument("parameter '" + std::string(name) + "' must be from " + std::to_string(low) + " to " +
                                std::to_string(high) + ", not " + std::to_string(v));
  return v;
}

bool flag_param(const httplib::Request& req, const char* name) {
  if (!req.has_param(name)) return false;
  auto v = req.get_param_value(name);
  if (v == "" || v == "1" || v == "true") return true;
  if (v == "0" || v == "false") return false;
  throw std::invalid_argument("parameter '" + std::string(name) + "' must be true or false, not '" + v + "'");
}

}  // namespace

void ConsoleService::Impl::routes() {
  const int64_t window = options.window.count();
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // The page holds no data; its requests carry the secret once the user gave it.
    if ((req.path == "/" && req.method == "GET") || authorized(req)) return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("WWW-Authenticate", "Bearer");
    reply(res, 401, rest::error("this endpoint needs the cluster's secret: send 'Authorization: Bearer <secret>'"));
    return httplib::Server::HandlerResponse::Handled;
  });
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, console_page(), "text/html; charset=utf-8");
  });
  server.Get("/v1/agents", [this](const httplib::Request&, httplib::Response& res) {
    answer(res, [&] { reply(res, 200, rest::agents(source.agents ? source.agents() : std::vector<AgentView>{})); });
  });
  server.Get("/v1/jobs", [this](const httplib::Request&, httplib::Response& res) {
    answer(res, [&] {
      std::vector<std::shared_ptr<JobHandle>> list;
      {
        std::lock_guard lock(mu);
        sample_locked();
        list = jobs;
      }
      reply(res, 200, rest::jobs(list, wall_ms()));
    });
  });
  server.Get(R"(/v1/jobs/([^/]+))", [this, window](const httplib::Request& req, httplib::Response& res) {
    answer(res, [&] {
      auto [job, rates] = job_and_rates(req, window);
      reply(res, 200, rest::job(*job, rates, wall_ms()));
    });
  });
  server.Get(R"(/v1/jobs/([^/]+)/actors)", [this, window](const httplib::Request& req, httplib::Response& res) {
    answer(res, [&] {
      int task = int_param(req, "task", -1);
      auto [job, rates] = job_and_rates(req, window);
      if (task >= int(job->shape().tasks.size()))
        throw std::out_of_range("job '" + job->name() + "' has no task " + std::to_string(task));
      reply(res, 200, rest::actors(*job, rates, task));
    });
  });
  server.Get(R"(/v1/jobs/([^/]+)/top)", [this, window](const httplib::Request& req, httplib::Response& res) {
    answer(res, [&] {
      auto by = req.has_param("by") ? req.get_param_value("by") : std::string("busy");
      int64_t w = window * 2;
      if (req.has_param("window")) w = parse_duration(req.get_param_value("window")).count();
      int limit = int_param(req, "limit", 20);
      auto [job, rates] = job_and_rates(req, w);
      reply(res, 200, rest::top(*job, rates, by, limit));
    });
  });
  server.Get(R"(/v1/jobs/([^/]+)/backpressure)", [this, window](const httplib::Request& req, httplib::Response& res) {
    answer(res, [&] {
      auto [job, rates] = job_and_rates(req, window);
      reply(res, 200, rest::backpressure(*job, rates));
    });
  });
  server.Get(R"(/v1/jobs/([^/]+)/tasks/([0-9]+)/subtasks/([0-9]+)/(why|channels))",
             [this, window](const httplib::Request& req, httplib::Response& res) {
               answer(res, [&] {
                 auto [job, rates] = job_and_rates(req, window);
                 int task = whole(req.matches[2], "task"), subtask = whole(req.matches[3], "subtask");
                 reply(res, 200,
                       req.matches[4] == "why" ? rest::why(*job, rates, task, subtask)
                                               : rest::channels(*job, rates, task, subtask));
               });
             });
  server.Get(R"(/v1/jobs/([^/]+)/checkpoints)", [this](const httplib::Request& req, httplib::Response& res) {
    answer(res, [&] {
      std::shared_ptr<JobHandle> job;
      {
        std::lock_guard lock(mu);
        sample_locked();
        job = find(req.matches[1]);
      }
      reply(res, 200, rest::checkpoints(*job));
    });
  });
  // Stop with a savepoint and start again from it at another parallelism, under the same id.
  server.Post(R"(/v1/jobs/([^/]+)/rescale)", [this](const httplib::Request& req, httplib::Response& res) {
    answer(res, [&] {
      int parallelism = int_param(req, "parallelism", -1);
      if (parallelism < 1) throw std::invalid_argument("a rescale needs the parameter 'parallelism', at least 1");
      std::shared_ptr<JobHandle> job;
      {
        std::lock_guard lock(mu);
        sample_locked();
        job = find(req.matches[1]);
      }
      try {
        reply(res, 200, rest::rescale_result(*job, job->rescale(parallelism)));
      } catch (const UsageError& e) {
        reply(res, 400, rest::error(e.what()));
      } catch (const JobError& e) {
        reply(res, 409, rest::error(e.what()));
      }
    });
  });
  // Queries subtasks answer between two messages: a keyed-state lookup (the key's owner),
  // a key listing (every subtask), a trace or the last log lines (the subtask named).
  const auto ask = [this](const httplib::Request& req, httplib::Response& res, const TaskQuery& q,
                          std::string (*shape)(const std::string&)) {
    std::shared_ptr<JobHandle> job;
    {
      std::lock_guard lock(mu);
      sample_locked();
      job = find(req.matches[1]);
    }
    if (job->done()) {
      reply(res, 409, rest::error("job '" + job->name() + "' (" + job->id() + ") has ended"));
      return;
    }
    try {
      auto text = job->query(q);
      reply(res, 200, shape ? shape(text) : text);
    } catch (const JobError& e) {
      reply(res, query_error_status(e.what()), rest::error(e.what()));
    }
  };
  server.Get(R"(/v1/jobs/([^/]+)/state)", [ask](const httplib::Request& req, httplib::Response& res) {
    answer(res, [&] {
      if (!req.has_param("operator") || !req.has_param("key"))
        throw std::invalid_argument("a state lookup needs the parameters 'operator' and 'key'");
      TaskQuery q;
      q.op = req.get_param_value("operator");
      q.key = req.get_param_value("key");
      if (req.has_param("state")) q.state = req.get_param_value("state");
      ask(req, res, q, &rest::state_answer);
    });
  });
  server.Get(R"(/v1/jobs/([^/]+)/state/keys)", [ask](const httplib::Request& req, httplib::Response& res) {
    answer(res, [&] {
      if (!req.has_param("operator")) throw std::invalid_argument("a key listing needs the parameter 'operator'");
      TaskQuery q;
      q.kind = TaskQuery::Kind::keys;
      q.op = req.get_param_value("operator");
      q.limit = uint32_t(bounded_param(req, "limit", 100, 1, 10'000));
      ask(req, res, q, nullptr);
    });
  });
  server.Get(R"(/v1/jobs/([^/]+)/tasks/([0-9]+)/subtasks/([0-9]+)/(trace|log))",
             [ask](const httplib::Request& req, httplib::Response& res) {
               answer(res, [&] {
                 TaskQuery q;
                 q.task = whole(req.matches[2], "task");
                 q.subtask = whole(req.matches[3], "subtask");
                 if (req.matches[4] == "trace") {
                   q.kind = TaskQuery::Kind::trace;
                   q.limit = uint32_t(bounded_param(req, "records", 10, 1, 500));
                 } else {
                   q.kind = TaskQuery::Kind::log;
                   q.limit = uint32_t(bounded_param(req, "lines", 50, 1, 256));
                 }
                 ask(req, res, q, nullptr);
               });
             });
  // Mutating commands: the job's master does the work; the request waits for the checkpoint
  // (the handler runs on one of the server's threads, never a task's).
  server.Post(R"(/v1/jobs/([^/]+)/(savepoint|stop|cancel))", [this](const httplib::Request& req,
                                                                     httplib::Response& res) {
    answer(res, [&] {
      std::shared_ptr<JobHandle> job;
      {
        std::lock_guard lock(mu);
        sample_locked();
        job = find(req.matches[1]);
      }
      std::string what = req.matches[2];
      if (job->done()) {
        reply(res, 409, rest::error("job '" + job->name() + "' (" + job->id() + ") has ended"));
        return;
      }
      try {
        if (what == "cancel") {
          job->cancel();
          reply(res, 200, rest::command_result(*job, what, 0));
        } else {
          int64_t id = what == "savepoint" ? job->trigger_checkpoint(true) : job->stop_with_savepoint(flag_param(req, "drain"));
          reply(res, 200, rest::command_result(*job, what, id));
        }
      } catch (const JobError& e) {
        reply(res, 409, rest::error(e.what()));
      }
    });
  });
  server.Get("/metrics", [this, window](const httplib::Request&, httplib::Response& res) {
    answer(res, [&] {
      std::vector<std::pair<std::shared_ptr<JobHandle>, std::vector<SubtaskRates>>> all;
      {
        std::lock_guard lock(mu);
        sample_locked();
        for (const auto& j : jobs)
          if (!j->done()) all.emplace_back(j, history.rates(j->id(), window));
      }
      reply(res, 200, prometheus_text(all), "text/plain; version=0.0.4; charset=utf-8");
    });
  });
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404 && res.body.empty())
      reply(res, 404, rest::error("there is no endpoint " + req.method + " " + req.path + " (see docs/rest.md)"));
  });
}

ConsoleService::ConsoleService(IntrospectionSource source, ConsoleOptions options)
    : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_;
  s.source = std::move(source);
  s.options = std::move(options);
  if (s.options.secret.empty() && !s.options.insecure && !loopback(s.options.host))
    throw UsageError("the console service listens on '" + s.options.host +
                     "', which is not loopback, without a secret: give it one");
  s.server.new_task_queue = [] { return new httplib::ThreadPool(6); };
  s.server.set_keep_alive_timeout(5);
  s.server.set_payload_max_length(64 * 1024);
  s.routes();
  if (s.options.port == 0) {
    s.port = s.server.bind_to_any_port(s.options.host);
  } else {
    s.port = s.server.bind_to_port(s.options.host, s.options.port) ? s.options.port : -1;
  }
  if (s.port <= 0)
    throw UsageError("the console service could not listen on " + s.options.host + ":" +
                     std::to_string(s.options.port) + " (in use, or not an address of this host)");
  s.listener = std::thread([&s] { s.server.listen_after_bind(); });
  s.sampler = std::thread([&s] { s.sample_loop(); });
}

ConsoleService::~ConsoleService() { stop(); }

int ConsoleService::port() const { return impl_->port; }

std::string ConsoleService::endpoint() const { return impl_->options.host + ":" + std::to_string(impl_->port); }

void ConsoleService::stop() {
  auto& s = *impl_;
  {
    std::lock_guard lock(s.mu);
    if (s.stopping) return;
    s.stopping = true;
  }
  s.wake.notify_all();
  // A stop before the listener thread started listening would leave it listening for good.
  for (int i = 0; i < 2000 && !s.server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  s.server.stop();
  if (s.listener.joinable()) s.listener.join();
  if (s.sampler.joinable()) s.sampler.join();
}

}  // namespace sluice::runtime
