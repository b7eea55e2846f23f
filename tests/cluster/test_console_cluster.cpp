// tests/cluster/test_console_cluster.cpp — `sluice console` driven as a person would, under tmux (send-keys, capture-pane), against a master and two agents running Nexmark q5 and a job with a deliberately slow operator.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/cluster.hpp"

using namespace test_support;
using namespace test_support::cluster;
using nlohmann::json;

namespace {

/// A tmux server of its own (its socket named after this process) running one command in a
/// 250×80 window; killed with everything in it when the test ends.
class Tmux {
 public:
  explicit Tmux(const std::string& command) : socket_("sluice-test-" + std::to_string(::getpid()) + "-" + std::to_string(next_++)) {
    REQUIRE(run("new-session -d -s console -x 250 -y 80 " + quote(command)) == 0);
  }
  ~Tmux() { run("kill-server"); }
  /// Types `text` and presses Enter, after clearing the screen and its history.
  void command(const std::string& text) {
    run("send-keys -t console C-l");
    run("clear-history -t console");
    run("send-keys -t console -l " + quote(text));
    run("send-keys -t console Enter");
  }
  void keys(const std::string& keys) { run("send-keys -t console " + keys); }
  std::string screen() const {
    std::string out;
    FILE* p = ::popen(("tmux -L " + socket_ + " capture-pane -p -J -t console -S -300").c_str(), "r");
    if (!p) return out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    ::pclose(p);
    return out;
  }
  /// Waits until the screen shows `text`; fails the test with the screen when it never does.
  std::string await(const std::string& text) const {
    auto give_up = std::chrono::steady_clock::now() + patience;
    for (;;) {
      auto s = screen();
      if (s.find(text) != std::string::npos) return s;
      if (std::chrono::steady_clock::now() > give_up) FAIL("the console never showed '" << text << "'; it shows:\n" << s);
      std::this_thread::sleep_for(50ms);
    }
  }

 private:
  static std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  }
  int run(const std::string& args) const { return std::system(("tmux -L " + socket_ + " " + args + " >/dev/null 2>&1").c_str()); }
  static inline std::atomic<int> next_{0};
  std::string socket_;
};

/// The console endpoint the master printed on stderr.
std::string console_endpoint(const TempDir& dir) {
  await(dir.file("master.err"), "sluice console endpoint on ");
  std::smatch m;
  auto err = read(dir.file("master.err"));
  REQUIRE(std::regex_search(err, m, std::regex("sluice console endpoint on ([0-9.]+:[0-9]+)")));
  return m[1];
}

/// A master with its console on a free port and `agents` agents (a1, a2, …) of two slots, all
/// registered.
struct ConsoleCluster {
  Master master;
  std::vector<std::unique_ptr<Process>> agents;
  std::string endpoint;
  ConsoleCluster(const TempDir& dir, int n)
      : master(dir, {"--checkpoint-dir", dir.file("checkpoints"), "--work-dir", dir.file("master")}) {
    for (int i = 1; i <= n; ++i) agents.push_back(agent(dir, "a" + std::to_string(i), master.address()));
    for (int i = 1; i <= n; ++i) await(master.out, "agent a" + std::to_string(i) + " registered");
    endpoint = console_endpoint(dir);
  }
};

/// Submits with --detached and returns the job id the client printed.
std::string submit(const TempDir& dir, const std::string& name, std::vector<std::string> argv) {
  Process client(argv, dir.file(name + ".out"), dir.file(name + ".err"));
  auto status = client.wait();
  INFO(read(dir.file(name + ".err")));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  auto id = read(dir.file(name + ".out"));
  while (!id.empty() && std::isspace(static_cast<unsigned char>(id.back()))) id.pop_back();
  REQUIRE(std::regex_match(id, std::regex("[0-9a-f]{16}")));
  return id;
}

json get(const std::string& endpoint, const std::string& path) {
  httplib::Client http("http://" + endpoint);
  auto r = http.Get(path);
  REQUIRE(r);
  INFO(path << ": " << r->body);
  REQUIRE(r->status == 200);
  return json::parse(r->body);
}

}  // namespace

TEST_CASE("the console under tmux shows live, consistent figures of q5 on a master and two agents", "[cluster][console][processes]") {
  TempDir dir;
  ConsoleCluster cluster(dir, 2);
  const auto& [master, endpoint] = std::tie(cluster.master, cluster.endpoint);
  // Paced so that it runs for the whole test; canceled from the console at the end.
  auto id = submit(dir, "q5", {NEXMARK_BINARY, "run", "--master", master.address(), "--query", "q5", "--events",
                               "100000000", "--rate", "20000", "--realtime", "--parallelism", "2",
                               "--checkpoint-interval", "500ms", "--detached"});
  // Records flow through every task and a checkpoint completed.
  json graph;
  await_that(
      [&] {
        graph = get(endpoint, "/v1/jobs/" + id);
        return graph["tasks"].size() == 3 && graph["tasks"][1]["records_in_per_s"].get<double>() > 0 &&
               get(endpoint, "/v1/jobs/" + id + "/checkpoints")["counts"]["completed"].get<int>() >= 1;
      },
      "q5 processing records with a completed checkpoint");

  Tmux tmux(std::string(SLUICE_BINARY) + " console --master " + endpoint);
  tmux.await("sluice> ");

  tmux.command("jobs");
  auto jobs = tmux.await("Nexmark q5");
  CHECK(jobs.find(id) != std::string::npos);
  CHECK(jobs.find("RUNNING") != std::string::npos);

  tmux.command("job " + id.substr(0, 6));  // a unique prefix names the job
  auto job = tmux.await("PARTITIONING");
  CHECK(job.find("q5 Bids per Auction") != std::string::npos);
  CHECK(job.find("Nexmark Source") != std::string::npos);
  CHECK(job.find("hash") != std::string::npos);

  tmux.command("actors " + id);
  auto actors = tmux.await("LAST CHK");
  CHECK(actors.find(" a1 ") != std::string::npos);
  CHECK(actors.find(" a2 ") != std::string::npos);
  CHECK(actors.find("running") != std::string::npos);

  tmux.command("top " + id + " --by busy --window 2s");
  tmux.await("subtasks by busy over");
  tmux.await("(every 1s; Ctrl-C stops)");
  tmux.keys("C-c");
  tmux.command("checkpoints " + id);
  auto checkpoints = tmux.await("completed,");
  CHECK(checkpoints.find("aligned") != std::string::npos);

  // The figures behind the tables agree with each other: every subtask runs on one of the two
  // agents, the keyed task takes what the source task sends, and the rates are live.
  auto all = get(endpoint, "/v1/jobs/" + id + "/actors");
  REQUIRE(all["actors"].size() == 6);
  uint64_t received = 0;
  for (const auto& a : all["actors"]) {
    CHECK(a["status"] == "running");
    CHECK((a["agent"] == "a1" || a["agent"] == "a2"));
    if (a["task"] == 1) received += a["records_in"].get<uint64_t>();
    if (a["task"] == 1) CHECK(a["records_in_per_s"].get<double>() > 0);
  }
  CHECK(received > 0);
  // Subtasks publish on their own schedule (each agent's probes reach the master apart), so a
  // later look at the source task must show it sent at least what the keyed task had received.
  await_that(
      [&] {
        auto later = get(endpoint, "/v1/jobs/" + id + "/actors");
        uint64_t sent = 0;
        for (const auto& a : later["actors"])
          if (a["task"] == 0) sent += a["records_out"].get<uint64_t>();
        return sent >= received;
      },
      "the source task having sent what the keyed task received");
  auto agents = get(endpoint, "/v1/agents");
  REQUIRE(agents["agents"].size() == 2);
  for (const auto& a : agents["agents"]) CHECK(a["slots_used"] == 1);

  tmux.command("cancel " + id);
  tmux.await("canceled job " + id);
  await_that([&] { return get(endpoint, "/v1/jobs")["jobs"][0]["state"] != "RUNNING"; }, "the job ends");
  tmux.keys("C-d");
}

TEST_CASE("the console under tmux names the slow operator of a job on the cluster: backpressure and why", "[cluster][console][processes]") {
  TempDir dir;
  ConsoleCluster cluster(dir, 1);
  const auto& [master, endpoint] = std::tie(cluster.master, cluster.endpoint);
  auto id = submit(dir, "slow", {SLUICE_BINARY, "run", SLOW_JOB, "--master", master.address(), "-p", "1", "--detached"});

  Tmux tmux(std::string(SLUICE_BINARY) + " console --master " + endpoint);
  tmux.await("sluice> ");
  tmux.command("watch backpressure " + id);
  auto bp = tmux.await("task 1 ('slow') is the bottleneck");
  CHECK(bp.find("high") != std::string::npos);
  tmux.keys("C-c");
  tmux.command("watch why " + id + " 0 0");
  auto why = tmux.await("waits for credit on the output channels to task 1 subtask 0");
  CHECK(why.find("Generator Source") != std::string::npos);
  tmux.keys("C-c");
  tmux.command("why " + id + " 1 0");
  tmux.await("('slow') subtask 0 on a1");
  // The agent's subtask samples what it takes in and keeps its own log lines.
  tmux.command("trace " + id + " 1 0 --records 3");
  tmux.await("3 records of task 1 subtask 0");
  tmux.command("log " + id + " 1 0");
  tmux.await("task 'slow' (subtask 1/1) started");
  tmux.command("cancel " + id);
  tmux.await("canceled job " + id);
  tmux.keys("C-d");
}

TEST_CASE("the console under tmux looks keys up in the keyed state of a job on the cluster, on both backends", "[cluster][console][processes]") {
  TempDir dir;
  ConsoleCluster cluster(dir, 2);
  const auto& [master, endpoint] = std::tie(cluster.master, cluster.endpoint);
  // Records 0..9 999 pass; the source then waits at its gate: the counts stop changing.
  std::map<int64_t, int64_t> oracle;
  for (int64_t v = 0; v < 10'000; ++v) ++oracle[v % 61];
  Tmux tmux(std::string(SLUICE_BINARY) + " console --master " + endpoint);
  tmux.await("sluice> ");
  for (std::string backend : {"heap", "rocksdb"}) {
    INFO(backend);
    std::filesystem::create_directories(dir.file("gates-" + backend));
    auto id = submit(dir, "counts-" + backend,
                     {SLUICE_BINARY, "run", COUNTS_JOB, "--master", master.address(), "-p", "2", "--state-backend",
                      backend, "--state-dir", dir.file("state"), "--detached", "--", dir.file("out-" + backend),
                      dir.file("gates-" + backend), "20000", "1"});
    await_that(
        [&] {
          uint64_t in = 0;
          auto graph = get(endpoint, "/v1/jobs/" + id);  // kept: the loop reads inside it
          for (const auto& t : graph["tasks"])
            for (const auto& o : t["operators"])
              if (o["name"] == "Count") in += o["records_in"].get<uint64_t>();
          return in == 10'000;
        },
        "the first 10 000 records counted");
    for (int64_t key : {0, 7, 60}) {
      auto doc = get(endpoint, "/v1/jobs/" + id + "/state?operator=Count&key=" + std::to_string(key));
      CHECK(doc["states"]["count"] == oracle[key]);
      CHECK((doc["subtask"] == 0 || doc["subtask"] == 1));
    }
    tmux.command("state " + id + " Count 7");
    tmux.await("count = " + std::to_string(oracle[7]));
    tmux.command("state " + id + " Count 1000");
    tmux.await("no state holds a value for this key");
    tmux.command("state " + id + " Count --keys");  // both agents' subtasks, merged
    tmux.await("61 keys with state in operator 'Count':");
    tmux.command("cancel " + id);
    tmux.await("canceled job " + id);
  }
  tmux.keys("C-d");
}

TEST_CASE("rescale under tmux: q5 on the cluster goes from 2 to 4 and back and writes the uninterrupted run's CSV",
          "[cluster][console][processes][rescale]") {
  TempDir dir;
  const std::string events = "600000";
  {  // The same stream (the rate sets the events' times), embedded and unpaced.
    Process plain({NEXMARK_BINARY, "run", "--query", "q5", "--events", events, "--rate", "50000", "--parallelism", "2",
                   "--output", dir.file("expected.csv")},
                  dir.file("plain.out"), dir.file("plain.err"));
    INFO(read(dir.file("plain.err")));
    REQUIRE(exit_status(plain) == 0);
  }
  const auto reference = read(dir.file("expected.csv"));
  REQUIRE(std::count(reference.begin(), reference.end(), '\n') > 50);

  ConsoleCluster cluster(dir, 2);  // four slots in all
  const auto& [master, endpoint] = std::tie(cluster.master, cluster.endpoint);
  // Paced to the wall clock (about 12 s), so that both rescales land mid-stream.
  Process run({NEXMARK_BINARY, "run", "--master", master.address(), "--query", "q5", "--events", events, "--rate",
               "50000", "--realtime", "--parallelism", "2", "--output", dir.file("q5.csv"), "--checkpoint-interval",
               "300ms"},
              dir.file("run.out"), dir.file("run.err"));
  std::string id;
  await_that(
      [&] {
        auto jobs = get(endpoint, "/v1/jobs")["jobs"];
        if (jobs.empty()) return false;
        id = jobs[0]["id"];
        return jobs[0]["last_checkpoint"].get<int64_t>() >= 1;
      },
      "q5 runs with a completed checkpoint");
  const auto widest = [&] {
    int p = 0;
    auto graph = get(endpoint, "/v1/jobs/" + id);  // kept: the loop reads inside it
    for (const auto& t : graph["tasks"]) p = std::max(p, t["parallelism"].get<int>());
    return p;
  };
  Tmux tmux(std::string(SLUICE_BINARY) + " console --master " + endpoint);
  tmux.await("sluice> ");
  // Five slots are not there: refused before anything stops.
  tmux.command("rescale " + id + " 5");
  tmux.await("cannot run at parallelism 5: job 'Nexmark q5' needs 5 slots");
  CHECK(widest() == 2);
  tmux.command("rescale " + id + " 4");
  auto said = tmux.await("rescaled job " + id + " from parallelism 2 to 4 through savepoint");
  std::smatch downtime;
  INFO(said);
  CHECK(std::regex_search(said, downtime, std::regex("records stood still [0-9.]+m?s")));
  WARN("cluster rescale to 4: " << downtime.str());
  CHECK(widest() == 4);
  CHECK(latest_deployment(master.out, "Nexmark q5").second.size() == 2);  // both agents
  httplib::Client http("http://" + endpoint);
  http.set_read_timeout(std::chrono::seconds(120));
  auto back = http.Post("/v1/jobs/" + id + "/rescale?parallelism=2");
  REQUIRE(back);
  INFO(back->body);
  REQUIRE(back->status == 200);
  WARN("cluster rescale to 2: records stood still " << json::parse(back->body)["downtime_ms"] << " ms");
  CHECK(widest() == 2);
  INFO(read(dir.file("run.err")) << read(master.out));
  REQUIRE(exit_status(run) == 0);
  const auto written = read(dir.file("q5.csv"));
  CHECK(written.size() == reference.size());
  CHECK(written == reference);
}
