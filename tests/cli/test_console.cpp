// tests/cli/test_console.cpp — the console service against a live embedded job: REST schemas, /metrics parsed, the token, errors, and `sluice console -c` over it.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <sys/wait.h>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <sluice/logging.hpp>
#include <sluice/sluice.hpp>
#include <spdlog/spdlog.h>

#include "actors/console_service.hpp"
#include "child_process.hpp"
#include "cli.hpp"
#include "support/checkpoint_jobs.hpp"
#include "support/temp_dir.hpp"

using namespace sluice;
using nlohmann::json;

namespace {

using test_support::jobs::CountPerKey;

constexpr int64_t records = 10'000;

/// Held Source (p=2) -> count per key (p=2) -> discard: every record is in within a moment,
/// then the source waits until `release` and the job keeps running.
JobGraph held_job(const std::string& checkpoint_dir, std::atomic<bool>& release) {
  StreamEnvironment env;
  env.set_parallelism(2);
  env.config().checkpoint.interval = std::chrono::milliseconds(100);
  env.config().checkpoint.dir = checkpoint_dir;
  env.from_source<int64_t>(test_support::jobs::HeldSource(records, records, [&release] { return release.load(); }))
      .key_by([](int64_t v) { return v % 100; })
      .process(CountPerKey(), "count")
      .sink_to(DiscardSink<int64_t>());
  auto g = env.graph();
  g.name = "console test";
  return g;
}

struct Reply {
  int status = 0;
  json doc;
  std::string body;
};

Reply get(httplib::Client& c, const std::string& path, const httplib::Headers& h = {}) {
  auto r = c.Get(path, h);
  REQUIRE(r);
  Reply out{r->status, {}, r->body};
  if (r->get_header_value("Content-Type").rfind("application/json", 0) == 0) out.doc = json::parse(r->body);
  return out;
}

/// Every key of `want` is in `doc` with that JSON type ("number", "string", "boolean", "array",
/// "object", "number|null").
void require_schema(const json& doc, const std::map<std::string, std::string>& want) {
  for (const auto& [key, type] : want) {
    INFO("key '" << key << "' in " << doc.dump());
    REQUIRE(doc.contains(key));
    const auto& v = doc[key];
    std::string got = v.is_number() ? "number" : v.is_string() ? "string" : v.is_boolean() ? "boolean"
                      : v.is_array() ? "array" : v.is_object() ? "object" : "null";
    CHECK(type.find(got) != std::string::npos);
  }
}

struct Cli {
  int status;
  std::string out, err;
};
Cli console(const std::string& endpoint, std::vector<std::string> args) {
  std::vector<std::string> argv = {"console", "--master", endpoint};
  argv.insert(argv.end(), args.begin(), args.end());
  std::ostringstream out, err;
  int status = cli::main(argv, out, err);
  return {status, out.str(), err.str()};
}

/// Waits (at most 60 s) until `done()`.
template <class F>
void await(F done, const char* what) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) FAIL("timed out waiting until " << what);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

TEST_CASE("the console service shows a running job's graph, actors, checkpoints and metrics", "[console]") {
  test_support::TempDir dir;
  std::atomic<bool> release{false};
  JobClient job(default_executor().submit(held_job(dir.file("chk"), release)));
  runtime::ConsoleOptions options;
  options.sample_interval = std::chrono::milliseconds(50);
  runtime::ConsoleService service({{}, [] { return running_jobs(); }}, options);
  httplib::Client http("127.0.0.1", service.port());
  const std::string id = job.id();

  // Every record counted and checkpoints taken: the figures stop changing but for time.
  await(
      [&] {
        uint64_t in = 0;
        bool snapshotted = true;  // every subtask published a probe after its first checkpoint
        for (const auto& p : job.probes()) {
          snapshotted = snapshotted && p.checkpoint_id >= 1;
          for (const auto& o : p.operators)
            if (o.name == "count") in += o.records_in;
        }
        return in == uint64_t(records) && snapshotted && !job.checkpoints().empty() &&
               job.checkpoints().back().status == CheckpointInfo::Status::completed;
      },
      "every record is counted");

  SECTION("jobs") {
    auto r = get(http, "/v1/jobs");
    REQUIRE(r.status == 200);
    REQUIRE(r.doc["jobs"].is_array());
    json mine;
    for (const auto& j : r.doc["jobs"])
      if (j["id"] == id) mine = j;
    REQUIRE(mine.is_object());
    require_schema(mine, {{"id", "string"}, {"name", "string"}, {"state", "string"}, {"uptime_ms", "number"},
                          {"parallelism", "number"}, {"restarts", "number"}, {"last_checkpoint", "number"}});
    CHECK(mine["name"] == "console test");
    CHECK(mine["state"] == "RUNNING");
    CHECK(mine["parallelism"] == 2);
    CHECK(mine["restarts"] == 0);
    CHECK(mine["last_checkpoint"].get<int64_t>() >= 1);
    CHECK(get(http, "/v1/agents").doc == json{{"agents", json::array()}});
  }

  SECTION("job: tasks, operators with their state, the exchange") {
    auto r = get(http, "/v1/jobs/" + id);
    REQUIRE(r.status == 200);
    require_schema(r.doc, {{"id", "string"}, {"name", "string"}, {"state", "string"}, {"uptime_ms", "number"},
                           {"restarts", "number"}, {"max_parallelism", "number"}, {"window_s", "number"},
                           {"tasks", "array"}, {"edges", "array"}});
    REQUIRE(r.doc["tasks"].size() == 2);
    for (const auto& t : r.doc["tasks"])
      require_schema(t, {{"id", "number"}, {"name", "string"}, {"operators", "array"}, {"parallelism", "number"},
                         {"source", "boolean"}, {"status", "string"}, {"busy_ms_per_s", "number"},
                         {"backpressured_ms_per_s", "number"}, {"idle_ms_per_s", "number"},
                         {"records_in_per_s", "number"}, {"records_out_per_s", "number"},
                         {"backpressure", "string"}, {"watermark", "number|null"},
                         {"watermark_lag_ms", "number|null"}});
    const auto& count_task = r.doc["tasks"][1];
    CHECK(count_task["operators"][0]["name"] == "count");
    CHECK(count_task["operators"][0]["records_in"] == records);
    CHECK(count_task["operators"][0]["state_entries"] == 100);
    CHECK(count_task["status"] == "running");
    CHECK(r.doc["tasks"][0]["source"] == true);
    REQUIRE(r.doc["edges"].size() == 1);
    CHECK(r.doc["edges"][0] == json{{"source", 0}, {"target", 1}, {"partitioning", "hash"},
                                    {"records_per_s", r.doc["edges"][0]["records_per_s"]}});
    // A unique prefix of the id names the job too.
    CHECK(get(http, "/v1/jobs/" + id.substr(0, 6)).doc["id"] == id);
  }

  SECTION("actors, top and back-pressure") {
    auto r = get(http, "/v1/jobs/" + id + "/actors");
    REQUIRE(r.status == 200);
    REQUIRE(r.doc["actors"].size() == 4);
    uint64_t in = 0, entries = 0;
    for (const auto& a : r.doc["actors"]) {
      require_schema(a, {{"task", "number"}, {"subtask", "number"}, {"agent", "string"}, {"status", "string"},
                         {"mailbox_depth", "number"}, {"queued_buffers_in", "number"},
                         {"queued_buffers_out", "number"}, {"credits_available", "number"},
                         {"credits_granted", "number"}, {"busy_ms_per_s", "number"},
                         {"records_in_per_s", "number"}, {"bytes_in_per_s", "number"}, {"watermark", "number|null"},
                         {"state_entries", "number"}, {"state_bytes", "number"}, {"checkpoint", "object"}});
      require_schema(a["checkpoint"], {{"id", "number"}, {"unaligned", "boolean"}, {"alignment_ms", "number"},
                                       {"sync_ms", "number"}, {"async_ms", "number"}, {"bytes", "number"}});
      if (a["task"] == 1) {
        in += a["records_in"].get<uint64_t>();
        entries += a["state_entries"].get<uint64_t>();
        CHECK(a["checkpoint"]["id"].get<int64_t>() >= 1);
      }
    }
    CHECK(in == uint64_t(records));
    CHECK(entries == 100);
    CHECK(get(http, "/v1/jobs/" + id + "/actors?task=1").doc["actors"].size() == 2);
    CHECK(get(http, "/v1/jobs/" + id + "/actors?task=7").status == 404);
    CHECK(get(http, "/v1/jobs/" + id + "/actors?task=x").status == 400);

    auto top = get(http, "/v1/jobs/" + id + "/top?by=state&limit=1&window=2s");
    REQUIRE(top.status == 200);
    REQUIRE(top.doc["actors"].size() == 1);
    CHECK(top.doc["actors"][0]["task"] == 1);
    CHECK(top.doc["by"] == "state");
    CHECK(get(http, "/v1/jobs/" + id + "/top?by=speed").status == 400);
    CHECK(get(http, "/v1/jobs/" + id + "/top?window=soon").status == 400);

    auto bp = get(http, "/v1/jobs/" + id + "/backpressure");
    REQUIRE(bp.status == 200);
    CHECK(bp.doc["bottleneck"].is_null());  // the job idles
    CHECK(bp.doc["tasks"].size() == 2);
  }

  SECTION("checkpoints, and a savepoint taken through the service") {
    auto r = get(http, "/v1/jobs/" + id + "/checkpoints");
    REQUIRE(r.status == 200);
    CHECK(r.doc["counts"]["completed"].get<int>() >= 1);
    for (const auto& c : r.doc["checkpoints"])
      require_schema(c, {{"id", "number"}, {"kind", "string"}, {"status", "string"}, {"trigger_time_ms", "number"},
                         {"duration_ms", "number|null"}, {"bytes", "number"}, {"alignment_ms", "number"},
                         {"inflight_bytes", "number"}, {"reason", "string"}, {"final", "boolean"}});
    auto saved = http.Post("/v1/jobs/" + id + "/savepoint");
    REQUIRE(saved);
    INFO(saved->body);
    REQUIRE(saved->status == 200);
    auto checkpoint = json::parse(saved->body)["checkpoint"].get<int64_t>();
    CHECK(checkpoint >= 1);
    bool found = false;
    auto after = get(http, "/v1/jobs/" + id + "/checkpoints").doc;
    INFO(after.dump());
    for (const auto& c : after["checkpoints"])
      if (c["id"] == checkpoint) {
        found = true;
        CHECK(c["kind"] == "savepoint");
        CHECK(c["status"] == "completed");
        CHECK(c["bytes"].get<uint64_t>() > 0);
      }
    CHECK(found);
  }

  SECTION("/metrics: Prometheus text with a sample per subtask") {
    auto r = http.Get("/metrics");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    CHECK(r->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0) == 0);
    std::istringstream in(r->body);
    std::string line;
    std::map<std::string, int> mine;
    const std::regex sample(R"re(([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (-?[0-9.e+]+))re");
    while (std::getline(in, line)) {
      if (line.rfind("# ", 0) == 0) continue;
      std::smatch m;
      INFO(line);
      REQUIRE(std::regex_match(line, m, sample));
      if (m[2].str().find("job_id=\"" + id + "\"") != std::string::npos) ++mine[m[1]];
    }
    CHECK(mine["sluice_busyTimeMsPerSecond"] == 4);
    CHECK(mine["sluice_numRecordsInPerSecond"] == 4);
    CHECK(mine["sluice_numberOfCompletedCheckpoints"] == 1);
    CHECK(mine["sluice_numRestarts"] == 1);
  }

  SECTION("errors are JSON sentences with their status") {
    auto none = get(http, "/v1/jobs/ffffffffffffffff");
    CHECK(none.status == 404);
    CHECK(none.doc["error"] == "there is no job 'ffffffffffffffff'");
    auto nowhere = get(http, "/v2/everything");
    CHECK(nowhere.status == 404);
    CHECK(nowhere.doc["error"].get<std::string>().find("no endpoint GET /v2/everything") != std::string::npos);
  }

  SECTION("sluice console -c prints tables, or JSON with --json") {
    auto jobs = console(service.endpoint(), {"-c", "jobs"});
    INFO(jobs.err);
    REQUIRE(jobs.status == 0);
    CHECK(jobs.out.find(id) != std::string::npos);
    CHECK(jobs.out.find("RUNNING") != std::string::npos);
    CHECK(jobs.out.find("console test") != std::string::npos);

    auto graph = console(service.endpoint(), {"-c", "job " + id.substr(0, 8)});
    REQUIRE(graph.status == 0);
    CHECK(graph.out.find("Held Source") != std::string::npos);
    CHECK(graph.out.find("count") != std::string::npos);
    CHECK(graph.out.find("hash") != std::string::npos);

    auto actors = console(service.endpoint(), {"-c", "actors " + id + " 1", "--json"});
    REQUIRE(actors.status == 0);
    CHECK(json::parse(actors.out)["actors"].size() == 2);

    auto checkpoints = console(service.endpoint(), {"-c", "checkpoints " + id});
    REQUIRE(checkpoints.status == 0);
    CHECK(checkpoints.out.find("completed") != std::string::npos);

    auto help = console(service.endpoint(), {"-c", "help top"});
    CHECK(help.status == 0);
    CHECK(help.out.find("--by busy|backpressure|mailbox|state") != std::string::npos);

    auto unknown = console(service.endpoint(), {"-c", "frobnicate"});
    CHECK(unknown.status == 2);
    CHECK(unknown.err == "sluice console: there is no command 'frobnicate'; 'help' lists them\n");
    auto usage = console(service.endpoint(), {"-c", "job"});
    CHECK(usage.status == 2);
    CHECK(usage.err == "sluice console: usage: job ID\n");
    auto missing = console(service.endpoint(), {"-c", "job 0123456789abcdef"});
    CHECK(missing.status == 1);
    CHECK(missing.err == "sluice console: there is no job '0123456789abcdef'\n");
    auto watch = console(service.endpoint(), {"-c", "watch jobs"});
    CHECK(watch.status == 2);
  }

  release = true;
  job.wait();
  // The ended job stays listed, as finished, with its figures.
  await(
      [&] {
        auto r = get(http, "/v1/jobs");
        for (const auto& j : r.doc["jobs"])
          if (j["id"] == id) return j["state"] == "FINISHED";
        return false;
      },
      "the job is listed as finished");
  auto ended = get(http, "/v1/jobs/" + id + "/actors?task=1");
  uint64_t in = 0;
  for (const auto& a : ended.doc["actors"]) in += a["records_in"].get<uint64_t>();
  CHECK(in == uint64_t(records));
  auto late = http.Post("/v1/jobs/" + id + "/savepoint");
  REQUIRE(late);
  CHECK(late->status == 409);
}

TEST_CASE("with a secret, the console service asks every request for it", "[console]") {
  runtime::ConsoleOptions options;
  options.secret = "s3cret";
  runtime::ConsoleService service({{}, [] { return running_jobs(); }}, options);
  httplib::Client http("127.0.0.1", service.port());
  auto bare = get(http, "/v1/jobs");
  CHECK(bare.status == 401);
  CHECK(bare.doc["error"].get<std::string>().find("secret") != std::string::npos);
  CHECK(get(http, "/metrics").status == 401);
  CHECK(get(http, "/v1/jobs", {{"Authorization", "Bearer wrong"}}).status == 401);
  CHECK(get(http, "/v1/jobs", {{"Authorization", "Bearer s3cret"}}).status == 200);

  test_support::TempDir dir;
  std::ofstream(dir.file("secret")) << "s3cret\n";
  std::ofstream(dir.file("wrong")) << "guess\n";
  CHECK(console(service.endpoint(), {"--secret-file", dir.file("secret"), "-c", "jobs"}).status == 0);
  auto refused = console(service.endpoint(), {"--secret-file", dir.file("wrong"), "-c", "jobs"});
  CHECK(refused.status == 1);
  CHECK(refused.err.find("secret") != std::string::npos);
}

TEST_CASE("the console says so when nothing serves at the endpoint, or it is no HOST:PORT", "[console]") {
  // A port that was free a moment ago.
  int port;
  {
    runtime::ConsoleService probe({{}, {}}, {});
    port = probe.port();
  }
  auto r = console("127.0.0.1:" + std::to_string(port), {"-c", "jobs"});
  CHECK(r.status == 1);
  CHECK(r.err.rfind("sluice console: cannot reach the console service at 127.0.0.1:" + std::to_string(port), 0) == 0);
  auto bad = console("localhost", {"-c", "jobs"});
  CHECK(bad.status == 2);
  CHECK(bad.err.find("is not HOST:PORT") != std::string::npos);
  CHECK_THROWS_AS(runtime::ConsoleService({{}, {}}, runtime::ConsoleOptions{"0.0.0.0", 0, "", false}), UsageError);
}

namespace {
/// A map that spins 20 µs a record: the bottleneck behind a fast source.
int64_t slow(int64_t v) {
  auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
  while (std::chrono::steady_clock::now() < until) {
  }
  return v;
}

/// An endless source, the slow map and a sink, each a task (p=1), under a console service that
/// samples every 100 ms and reports rates over a second; canceled when the test ends.
struct SlowJob {
  JobClient job;
  runtime::ConsoleService service;
  httplib::Client http;
  SlowJob() : job(submit()), service({{}, [] { return running_jobs(); }}, options()), http("127.0.0.1", service.port()) {}
  ~SlowJob() {
    job.cancel();
    job.result();
  }
  static std::shared_ptr<JobHandle> submit() {
    StreamEnvironment env;
    env.set_parallelism(1);
    env.config().chaining = false;
    env.config().probe_interval = std::chrono::milliseconds(20);
    env.from_generator(-1, [](int64_t i) { return i; })
        .map(
            [](int64_t v) {
              if (v == 0) log::get("user")->info("the slow map took record {}", v);
              return slow(v);
            },
            "slow")
        .sink_to(DiscardSink<int64_t>());
    auto graph = env.graph();
    graph.name = "slow job";
    return default_executor().submit(graph);
  }
  static runtime::ConsoleOptions options() {
    runtime::ConsoleOptions o;
    o.sample_interval = std::chrono::milliseconds(100);
    o.window = std::chrono::milliseconds(1000);
    return o;
  }
};
}  // namespace

TEST_CASE("backpressure and why name a deliberately slow operator", "[console]") {
  SlowJob slow_job;
  auto& [job, service, http] = slow_job;
  const std::string id = job.id(), base = "/v1/jobs/" + id;

  json bp;
  await(
      [&] {
        bp = get(http, base + "/backpressure").doc;
        return bp["bottleneck"].is_object();
      },
      "a bottleneck is named");
  INFO(bp.dump());
  CHECK(bp["bottleneck"]["task"] == 1);
  CHECK(bp["bottleneck"]["name"] == "slow");
  CHECK(bp["sentence"].get<std::string>().rfind("task 1 ('slow') is the bottleneck", 0) == 0);
  CHECK(bp["tasks"][0]["level"] != "ok");

  // The source waits for credit from the slow map; its output channel is full.
  json why;
  await(
      [&] {
        why = get(http, base + "/tasks/0/subtasks/0/why").doc;
        return why["waiting_for"].get<std::string>().rfind("credit", 0) == 0;
      },
      "the source waits for credit");
  CHECK(why["waiting_for"].get<std::string>().find("task 1 subtask 0") != std::string::npos);
  CHECK(why["blocked_channels"].size() == 1);
  CHECK(why["blocked_channels"][0]["peer_task"] == 1);
  auto channels = get(http, base + "/tasks/0/subtasks/0/channels").doc;
  REQUIRE(channels["channels"].size() == 1);
  CHECK(channels["channels"][0]["direction"] == "output");
  CHECK(channels["channels"][0]["sequence"].get<uint64_t>() > 0);
  auto slow_channels = get(http, base + "/tasks/1/subtasks/0/channels").doc;
  REQUIRE(slow_channels["channels"].size() == 2);  // from the source, to the sink
  CHECK(slow_channels["channels"][0]["direction"] == "input");
  CHECK(slow_channels["channels"][0]["peer_task"] == 0);
  CHECK(slow_channels["channels"][1]["peer_task"] == 2);
  CHECK(get(http, base + "/tasks/9/subtasks/0/why").status == 404);

  auto said = console(service.endpoint(), {"-c", "backpressure " + id});
  CHECK(said.status == 0);
  CHECK(said.out.find("task 1 ('slow') is the bottleneck") != std::string::npos);
  auto table = console(service.endpoint(), {"-c", "channels " + id + " 1 0"});
  CHECK(table.status == 0);
  CHECK(table.out.find("task 0 subtask 0") != std::string::npos);
  CHECK(console(service.endpoint(), {"-c", "why " + id + " 0 x"}).status == 2);
}

TEST_CASE("trace samples the records a subtask takes in or a source sends, decoded, and log shows its lines", "[console]") {
  SlowJob slow_job;
  auto& [job, service, http] = slow_job;
  const std::string id = job.id(), base = "/v1/jobs/" + id;
  // Into the slow map: the source's numbers, in order, as they arrive.
  auto in = get(http, base + "/tasks/1/subtasks/0/trace?records=5");
  INFO(in.body);
  REQUIRE(in.status == 200);
  CHECK(in.doc["task"] == 1);
  CHECK(in.doc["subtask"] == 0);
  REQUIRE(in.doc["records"].size() == 5);
  int64_t last = -1;
  for (const auto& r : in.doc["records"]) {
    CHECK(r["direction"] == "input");
    CHECK(r["channel"] == "0->0");
    REQUIRE(r["record"].is_number_integer());
    CHECK(r["record"].get<int64_t>() > last);  // sampled in arrival order, at most one per 10 ms
    last = r["record"].get<int64_t>();
  }
  // Out of the source, which has no input.
  auto out = get(http, base + "/tasks/0/subtasks/0/trace?records=3");
  INFO(out.body);
  REQUIRE(out.status == 200);
  REQUIRE(out.doc["records"].size() == 3);
  CHECK(out.doc["records"][0]["direction"] == "output");
  CHECK(out.doc["records"][0]["record"].is_number_integer());
  CHECK(get(http, base + "/tasks/1/subtasks/1/trace").status == 404);
  CHECK(get(http, base + "/tasks/1/subtasks/0/trace?records=0").status == 400);

  auto shown = console(service.endpoint(), {"-c", "trace " + id + " 1 0 --records 2"});
  INFO(shown.err);
  CHECK(shown.status == 0);
  CHECK(shown.out.find("2 records of task 1 subtask 0") != std::string::npos);
  CHECK(shown.out.find("in  edge ") != std::string::npos);

  // The slow map's lines: the runtime's, and the one its function logged on its first record.
  auto lines = get(http, base + "/tasks/1/subtasks/0/log");
  INFO(lines.body);
  REQUIRE(lines.status == 200);
  std::string all;
  for (const auto& l : lines.doc["lines"]) all += l.get<std::string>() + "\n";
  CHECK(all.find("task 'slow' (subtask 1/1) started") != std::string::npos);
  CHECK(all.find("[sluice.user] the slow map took record 0") != std::string::npos);
  auto source_lines = get(http, base + "/tasks/0/subtasks/0/log?lines=10").doc;
  for (const auto& l : source_lines["lines"]) CHECK(l.get<std::string>().find("the slow map") == std::string::npos);
  auto printed = console(service.endpoint(), {"-c", "log " + id + " 1 0 5"});
  CHECK(printed.status == 0);
  CHECK(printed.out.find("the slow map took record 0") != std::string::npos);
  CHECK(console(service.endpoint(), {"-c", "log " + id + " 1"}).status == 2);
}

TEST_CASE("the web page, loaded in headless Chromium, draws the job graph in the tasks' colours", "[console][chromium]") {
  SlowJob slow_job;
  auto& [job, service, http] = slow_job;
  // The source back-pressured, the slow map busy, the sink idle: one of each colour.
  await(
      [&] {
        auto doc = get(http, "/v1/jobs/" + job.id()).doc;
        const auto& t = doc["tasks"];
        return t[0]["max_backpressured_ms_per_s"].get<double>() > 600 && t[1]["max_busy_ms_per_s"].get<double>() > 600 &&
               t[2]["idle_ms_per_s"].get<double>() > 600;
      },
      "the three tasks are back-pressured, busy and idle");
  auto page = http.Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->get_header_value("Content-Type") == "text/html; charset=utf-8");

  test_support::TempDir dir;
  const char* build = std::getenv("SLUICE_BUILD_DIR");
  auto artefacts = std::filesystem::path(build ? build : ".") / "test-artefacts";
  std::filesystem::create_directories(artefacts);
  auto chromium = [&](const std::string& what, const std::string& out) {
    // Virtual time lets the page's fetches and first refreshes finish before the dump.
    cli::Process p({"/usr/bin/timeout", "120", "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--user-data-dir=" + dir.file("profile-" + what), "--window-size=1400,900",
                    "--virtual-time-budget=5000", what, "http://" + service.endpoint() + "/"},
                   out, dir.file(what.substr(2, 10) + ".err"));
    auto status = p.wait();
    INFO("chromium " << what << " exited with " << status << "; is Debian's chromium installed (.ci/install-deps)?");
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  };
  chromium("--dump-dom", dir.file("dom.html"));
  std::ifstream in(dir.file("dom.html"));
  std::stringstream dom_text;
  dom_text << in.rdbuf();
  auto dom = dom_text.str();
  INFO(dom.substr(0, 4000));
  CHECK(dom.find("data-loaded=\"yes\"") != std::string::npos);
  std::map<int, std::string> states;
  const std::regex task(R"re(<g class="task" data-task="([0-9]+)" data-state="([a-z]+)" data-fill="rgb\(([0-9]+),([0-9]+),([0-9]+)\)">)re");
  for (std::sregex_iterator it(dom.begin(), dom.end(), task), end; it != end; ++it) {
    const auto& m = *it;
    states[std::stoi(m[1])] = m[2];
    int r = std::stoi(m[3]), g = std::stoi(m[4]), b = std::stoi(m[5]);
    if (m[2] == "busy") CHECK((r > 150 && r > 2 * b));                 // red
    if (m[2] == "idle") CHECK((b > 150 && b > r));                     // blue
    if (m[2] == "backpressured") CHECK((r < 100 && g < 100 && b < 100));  // black
  }
  CHECK(states == std::map<int, std::string>{{0, "backpressured"}, {1, "busy"}, {2, "idle"}});
  CHECK(std::regex_search(dom, std::regex(R"(<g class="edge" data-source="0" data-target="1">)")));
  CHECK(std::regex_search(dom, std::regex(R"(<g class="edge" data-source="1" data-target="2">)")));
  CHECK(dom.find("slow job") != std::string::npos);
  CHECK(std::regex_search(dom, std::regex(R"(<tr class="subtask">)")));

  chromium("--screenshot=" + (artefacts / "console.png").string(), dir.file("shot.out"));
  std::ifstream png(artefacts / "console.png", std::ios::binary);
  char magic[8] = {};
  png.read(magic, 8);
  CHECK(std::string(magic + 1, 3) == "PNG");
  CHECK(std::filesystem::file_size(artefacts / "console.png") > 10'000);
}

TEST_CASE("state looks a key up in a running job's keyed state and gives what an independent count gives", "[console]") {
  for (auto backend : {StateBackendKind::heap, StateBackendKind::rocksdb}) {
    DYNAMIC_SECTION((backend == StateBackendKind::heap ? "heap" : "rocksdb")) {
      test_support::TempDir dir;
      std::atomic<bool> release{false};
      StreamEnvironment env;
      env.set_parallelism(2);
      env.config().state_backend = backend;
      env.config().state_dir = dir.file("state");
      // Keys 0..96 over 10 000 records: 103 or 104 records each; then the source waits.
      env.from_source<int64_t>(test_support::jobs::HeldSource(records, records, [&release] { return release.load(); }))
          .key_by([](int64_t v) { return v % 97; })
          .process(CountPerKey(), "count")
          .sink_to(DiscardSink<int64_t>());
      auto graph = env.graph();
      graph.name = "state test";
      JobClient job(default_executor().submit(graph));
      runtime::ConsoleService service({{}, [] { return running_jobs(); }}, runtime::ConsoleOptions{});
      httplib::Client http("127.0.0.1", service.port());
      http.set_read_timeout(std::chrono::seconds(30));  // an idle trace answers after its 5 s
      await(
          [&] {
            uint64_t in = 0;
            for (const auto& p : job.probes())
              for (const auto& o : p.operators)
                if (o.name == "count") in += o.records_in;
            return in == uint64_t(records);
          },
          "every record is counted");
      std::map<int64_t, int64_t> oracle;
      for (int64_t v = 0; v < records; ++v) ++oracle[v % 97];

      const std::string base = "/v1/jobs/" + job.id() + "/state?operator=count&key=";
      std::set<int> subtasks;
      for (int64_t key : {0, 5, 42, 96}) {
        auto r = get(http, base + std::to_string(key));
        INFO(r.body);
        REQUIRE(r.status == 200);
        CHECK(r.doc["found"] == true);
        CHECK(r.doc["key"] == key);
        CHECK(r.doc["operator"] == "count");
        CHECK(r.doc["states"]["count"] == oracle[key]);
        subtasks.insert(r.doc["subtask"].get<int>());
        CHECK(r.doc["key_group"].get<int>() >= 0);
      }
      CHECK(subtasks.size() == 2);  // the keys live on both subtasks; each answered for its own
      // One state by name; a key with no state; keys and names that do not fit.
      CHECK(get(http, base + "42&state=count").doc["states"]["count"] == oracle[42]);
      auto absent = get(http, base + "500");
      CHECK(absent.status == 200);
      CHECK(absent.doc["found"] == false);
      CHECK(absent.doc["states"]["count"].is_null());
      auto word = get(http, base + "abc");
      CHECK(word.status == 400);
      CHECK(word.doc["error"].get<std::string>().find("the key 'abc' does not fit the keys of operator 'count'") !=
            std::string::npos);
      auto no_state = get(http, base + "1&state=total");
      CHECK(no_state.status == 404);
      CHECK(no_state.doc["error"] == "operator 'count' has no state 'total' (it has count)");
      auto no_operator = get(http, "/v1/jobs/" + job.id() + "/state?operator=sum&key=1");
      CHECK(no_operator.status == 404);
      CHECK(no_operator.doc["error"] == "job 'state test' has no operator 'sum'");
      CHECK(get(http, "/v1/jobs/" + job.id() + "/state?key=1").status == 400);

      auto shown = console(service.endpoint(), {"-c", "state " + job.id() + " count 42"});
      INFO(shown.err);
      CHECK(shown.status == 0);
      CHECK(shown.out.find("count = " + std::to_string(oracle[42])) != std::string::npos);
      auto none = console(service.endpoint(), {"-c", "state " + job.id() + " count 500"});
      CHECK(none.status == 0);
      CHECK(none.out.find("no state holds a value for this key") != std::string::npos);

      // Listing keys: all 97 from both subtasks, in numeric order; or some of them.
      auto keys = get(http, "/v1/jobs/" + job.id() + "/state/keys?operator=count&limit=200");
      INFO(keys.body);
      REQUIRE(keys.status == 200);
      CHECK(keys.doc["operator"] == "count");
      CHECK(keys.doc["truncated"] == false);
      std::vector<int64_t> listed, want;
      for (const auto& k : keys.doc["keys"]) listed.push_back(k.get<int64_t>());
      for (const auto& [k, n] : oracle) want.push_back(k);
      CHECK(listed == want);
      auto some = get(http, "/v1/jobs/" + job.id() + "/state/keys?operator=count&limit=10").doc;
      CHECK(some["truncated"] == true);
      REQUIRE(some["keys"].size() == 10);
      std::set<int64_t> distinct;
      for (const auto& k : some["keys"]) distinct.insert(k.get<int64_t>());
      CHECK(distinct.size() == 10);
      CHECK(*distinct.rbegin() < 97);
      CHECK(get(http, "/v1/jobs/" + job.id() + "/state/keys?operator=sum").status == 404);
      auto listed_text = console(service.endpoint(), {"-c", "state " + job.id() + " count --keys --limit 3"});
      CHECK(listed_text.status == 0);
      CHECK(listed_text.out.find("3 keys with state in operator 'count' (more not shown)") != std::string::npos);

      // Nothing flows now: a trace of the counting subtask stops by itself after 5 s, empty.
      auto idle = get(http, "/v1/jobs/" + job.id() + "/tasks/1/subtasks/0/trace?records=3");
      INFO(idle.body);
      REQUIRE(idle.status == 200);
      CHECK(idle.doc["records"].empty());
      CHECK(idle.doc["seconds"].get<double>() >= 4.9);
      release = true;
      job.wait();
    }
  }
}
