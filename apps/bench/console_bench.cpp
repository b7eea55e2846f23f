// apps/bench/console_bench.cpp — what looking costs: a Nexmark query (q5 by default) embedded with no console, and with the console service running while a client asks for every actor (what `watch actors` does) and Prometheus scrapes /metrics, each once a second; alternating runs in one process, medians and their ratio.
//
//   console_bench [--query q5] [--events N] [--parallelism P] [--repeat R] [--every 1s] [--show-actors]
//
// --show-actors prints, at every look, each subtask's busy, back-pressured and idle ms/s: which
// stage bounds the job at this parallelism.
//
// Not a test: figures vary with the machine.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "actors/console_service.hpp"
#include "cost.hpp"
#include "queries.hpp"
#include "sinks.hpp"
#include "sluice/config.hpp"

using namespace sluice;
using namespace sluice::nexmark;

namespace {

struct Run {
  double events_per_s = 0;
  int requests = 0;  // answered with 200
  int failures = 0;
};

/// One line per subtask of a `/v1/jobs/{id}/actors` answer: where its time goes.
void print_actors(const std::string& body) {
  const auto doc = nlohmann::json::parse(body, nullptr, false);
  if (!doc.is_object() || !doc.contains("actors")) return;
  std::string line;
  for (const auto& a : doc["actors"]) {
    char part[160];
    std::snprintf(part, sizeof part, "  %s/%d busy %.0f bp %.0f idle %.0f |",
                  a.value("task_name", std::string("?")).c_str(), a.value("subtask", 0),
                  a.value("busy_ms_per_s", 0.0), a.value("backpressured_ms_per_s", 0.0), a.value("idle_ms_per_s", 0.0));
    line += part;
  }
  std::printf("actors:%s\n", line.c_str());
}

/// `query` over `events` events; with `every` > 0, under a console service and a client that
/// asks for the job's actors and the metrics once per `every`.
Run run_once(Query query, int64_t events, int parallelism, std::chrono::milliseconds every, bool show = false) {
  SourceOptions source;
  source.stream.max_events = events;
  EngineOptions engine;
  engine.parallelism = parallelism;
  std::unique_ptr<runtime::ConsoleService> service;
  std::atomic<bool> done{false};
  Run r;
  std::thread client;
  if (every.count() > 0) {
    service = std::make_unique<runtime::ConsoleService>(
        runtime::IntrospectionSource{{}, [] { return running_jobs(); }}, runtime::ConsoleOptions{});
    client = std::thread([&, port = service->port()] {
      httplib::Client http("127.0.0.1", port);
      http.set_keep_alive(true);
      std::string actors;
      while (!done) {
        auto next = std::chrono::steady_clock::now() + every;
        if (actors.empty()) {
          for (const auto& j : running_jobs()) actors = "/v1/jobs/" + j->id() + "/actors";
        }
        for (const std::string& path : {actors, std::string("/metrics")}) {
          if (path.empty()) continue;
          auto res = http.Get(path);
          (res && res->status == 200 ? r.requests : r.failures)++;
          if (show && res && res->status == 200 && path == actors) print_actors(res->body);
        }
        while (!done && std::chrono::steady_clock::now() < next) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
  }
  auto start = std::chrono::steady_clock::now();
  run_query(query, source, engine, CountingSink());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  done = true;
  if (client.joinable()) client.join();
  r.events_per_s = double(events) / seconds;
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"console_bench: a query's throughput with and without the console looking"};
  int64_t events = 10'000'000;
  int parallelism = 2;
  int repeat = 3;
  std::string every_text = "1s";
  std::string query_text = "q5";
  app.add_option("--query", query_text, "the Nexmark query (default q5)");
  app.add_option("--events", events, "events per run (default 10000000)");
  app.add_option("--parallelism", parallelism, "the query's parallelism (default 2)");
  app.add_option("--repeat", repeat, "runs of each kind, alternating (default 3)");
  app.add_option("--every", every_text, "how often the client asks (default 1s)");
  bool show = false;
  app.add_flag("--show-actors", show, "print each subtask's busy, back-pressured and idle ms/s at every look");
  CLI11_PARSE(app, argc, argv);
  auto every = parse_duration(every_text);
  auto query = parse_query(query_text);
  if (!query) {
    std::fprintf(stderr, "console_bench: '%s' is no Nexmark query\n", query_text.c_str());
    return 2;
  }

  std::vector<double> plain, watched;
  int requests = 0, failures = 0;
  run_once(*query, events / 10, parallelism, {});  // warm-up
  for (int i = 0; i < repeat; ++i) {
    plain.push_back(run_once(*query, events, parallelism, {}).events_per_s);
    auto w = run_once(*query, events, parallelism, every, show);
    watched.push_back(w.events_per_s);
    requests += w.requests;
    failures += w.failures;
    std::printf("run %d: no console %.3f M events/s, console watched %.3f M events/s (%d requests)\n", i + 1,
                plain.back() / 1e6, watched.back() / 1e6, w.requests);
  }
  double a = median(plain), b = median(watched);
  std::printf("\n%s, %lld events, parallelism %d, %d runs each, medians:\n", query_text.c_str(),
              static_cast<long long>(events), parallelism, repeat);
  std::printf("  no console                         %8.3f M events/s\n", a / 1e6);
  std::printf("  actors + /metrics every %-10s %8.3f M events/s\n", every_text.c_str(), b / 1e6);
  std::printf("  watched / plain                    %8.3f   (overhead %.1f %%)\n", b / a, (1 - b / a) * 100);
  std::printf("  requests answered %d, failed %d\n", requests, failures);
  std::printf("\ncsv,query,events,parallelism,plain_events_per_s,watched_events_per_s,ratio\n");
  std::printf("csv,%s,%lld,%d,%.0f,%.0f,%.4f\n", query_text.c_str(), static_cast<long long>(events), parallelism, a,
              b, b / a);
  return failures == 0 ? 0 : 1;
}
