// tests/cluster/test_cluster_jobs.cpp — jobs on a master and three agents of two slots, as processes on loopback: the same output as embedded, agents killed with -9 mid-run and replaced with nothing lost or doubled, slots that never come.
#include <catch2/catch.hpp>
#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <regex>

#include <sluice/sinks.hpp>

#include "support/cluster.hpp"

using namespace std::chrono_literals;
using namespace test_support::cluster;
using test_support::Process;
namespace fs = std::filesystem;

namespace {

/// Lines of every file in `dir` (or the file `dir` itself), sorted.
std::vector<std::string> sorted_lines(const std::string& path) {
  std::vector<std::string> out;
  std::vector<fs::path> files;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::directory_iterator(path))
      if (e.is_regular_file()) files.push_back(e.path());
  } else {
    files.push_back(path);
  }
  for (const auto& f : files) {
    std::ifstream in(f);
    for (std::string line; std::getline(in, line);) out.push_back(line);
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// A master with a checkpoint directory and three agents of two slots each.
struct Cluster {
  test_support::TempDir& dir;
  Master master;
  std::map<std::string, std::unique_ptr<Process>> agents;
  explicit Cluster(test_support::TempDir& d, std::vector<std::string> extra = {})
      : dir(d), master(d, with_checkpoints(d, std::move(extra))) {
    for (const auto* name : {"a1", "a2", "a3"}) add(name);
  }
  static std::vector<std::string> with_checkpoints(test_support::TempDir& d, std::vector<std::string> extra) {
    extra.insert(extra.end(), {"--checkpoint-dir", d.file("checkpoints"), "--work-dir", d.file("master-work")});
    return extra;
  }
  void add(const std::string& name) {
    agents[name] = agent(dir, name, master.address(), {"--work-dir", dir.file(name + "-work")});
    await(master.out, "agent " + name + " registered from");
  }
  /// `sluice run JOB --master ... OPTIONS`, its output in `run.out` and `run.err`.
  std::unique_ptr<Process> run(const std::string& job, std::vector<std::string> options) {
    std::vector<std::string> argv = {SLUICE_BINARY, "run", job, "--master", master.address()};
    argv.insert(argv.end(), options.begin(), options.end());
    return std::make_unique<Process>(argv, dir.file("run.out"), dir.file("run.err"));
  }
};


/// Runs the counts job on `cluster`, kills `kills` agents with -9 (seeded choice among those
/// running its subtasks), each after a checkpoint of the attempt before it, starts a
/// replacement each time, and checks what was committed against the oracle.
void counts_with_kills(test_support::TempDir& dir, const std::vector<std::string>& options, int kills, uint32_t seed) {
  Cluster cluster(dir);
  const int64_t records = 60000;
  fs::create_directories(dir.file("gates"));
  std::vector<std::string> argv = {"-p", "4", "--checkpoint-interval", "100ms", "--restart-strategy",
                                   "fixed-delay:1000:50ms"};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.insert(argv.end(), {"--", dir.file("out"), dir.file("gates"), std::to_string(records), std::to_string(kills)});
  auto client = cluster.run(COUNTS_JOB, argv);
  const fs::path checkpoints = fs::path(dir.file("checkpoints")) / "counts";
  std::mt19937 rng(seed);
  int attempt = 0;
  for (int k = 0; k < kills; ++k) {
    // A checkpoint of the current attempt completes, then one of its agents dies.
    await_that([&] { return latest_deployment(cluster.master.out, "counts").first == attempt; }, "the deployment");
    auto before = newest_checkpoint(checkpoints);
    await_that([&] { return newest_checkpoint(checkpoints) > before; }, "a checkpoint after the deployment");
    auto running = latest_deployment(cluster.master.out, "counts").second;
    REQUIRE(!running.empty());
    auto victim = running[rng() % running.size()];
    INFO("kill " << k + 1 << ": agent " << victim);
    cluster.agents[victim]->kill();
    cluster.agents.erase(victim);
    cluster.add("r" + std::to_string(k + 1));
    await_that([&] { return latest_deployment(cluster.master.out, "counts").first > attempt; }, "a restart");
    attempt = latest_deployment(cluster.master.out, "counts").first;
    std::ofstream(dir.file("gates/open-" + std::to_string(k)));
  }
  int status = exit_status(*client);
  INFO(read(dir.file("run.err")) << read(cluster.master.out));
  REQUIRE(status == 0);
  auto committed = sluice::read_committed_lines(dir.file("out"));
  std::sort(committed.begin(), committed.end());
  CHECK(committed == counts_oracle(records));
  CHECK(latest_deployment(cluster.master.out, "counts").first >= kills);
}

}  // namespace

TEST_CASE("word count at parallelism 4 on a master and three agents of two slots writes what the embedded run writes",
          "[cluster][processes]") {
  test_support::TempDir dir;
  {
    std::ofstream in(dir.file("input.txt"));
    std::mt19937 rng(11);
    for (int line = 0; line < 20000; ++line) {
      for (int w = 0; w < 6; ++w) in << (w ? " " : "") << "w" << rng() % 3000;
      in << "\n";
    }
  }
  Process embedded({SLUICE_BINARY, "run", WORD_COUNT_JOB, "-p", "4", "--", dir.file("input.txt"), dir.file("embedded.txt")},
                   dir.file("embedded.out"), dir.file("embedded.err"));
  REQUIRE(exit_status(embedded) == 0);
  Cluster cluster(dir);
  auto client = cluster.run(WORD_COUNT_JOB, {"-p", "4", "--", dir.file("input.txt"), dir.file("cluster.txt")});
  int status = exit_status(*client);
  INFO(read(dir.file("run.err")) << read(cluster.master.out));
  REQUIRE(status == 0);
  auto expected = sorted_lines(dir.file("embedded.txt"));
  CHECK(expected.size() == 3000);
  CHECK(sorted_lines(dir.file("cluster.txt")) == expected);
  // Four subtasks of each task over three agents: every agent ran some.
  CHECK(latest_deployment(cluster.master.out, "Word count").second.size() == 3);
}

TEST_CASE("an agent killed with -9 mid-run is replaced and the committed output is exactly the oracle's",
          "[cluster][processes][recovery]") {
  test_support::TempDir dir;
  SECTION("heap state, aligned checkpoints") { counts_with_kills(dir, {"--checkpoint-mode", "aligned"}, 1, 1); }
  SECTION("heap state, unaligned checkpoints") { counts_with_kills(dir, {"--checkpoint-mode", "unaligned"}, 1, 2); }
  SECTION("RocksDB state, aligned checkpoints") {
    counts_with_kills(dir, {"--state-backend", "rocksdb", "--checkpoint-mode", "aligned"}, 1, 3);
  }
  SECTION("RocksDB state, unaligned checkpoints") {
    counts_with_kills(dir, {"--state-backend", "rocksdb", "--checkpoint-mode", "unaligned"}, 1, 4);
  }
  SECTION("heap state, aligned checkpoints that turn unaligned after 1 ms") {
    counts_with_kills(dir, {"--checkpoint-mode", "timeout:1ms"}, 1, 5);
  }
}

#ifdef SLUICE_SLOW_TESTS
TEST_CASE("ten agents killed with -9 one after another, each replaced: the committed output is exactly the oracle's",
          "[cluster][processes][recovery][slow]") {
  test_support::TempDir dir;
  SECTION("heap state, unaligned checkpoints") { counts_with_kills(dir, {"--checkpoint-mode", "unaligned"}, 10, 21); }
  SECTION("RocksDB state, aligned checkpoints") {
    counts_with_kills(dir, {"--state-backend", "rocksdb", "--checkpoint-mode", "aligned"}, 10, 22);
  }
}
#endif

TEST_CASE("an agent lost with -9 restarts only the pipelined region it ran: the other region keeps running, both commit exactly once",
          "[cluster][processes][recovery][region]") {
  test_support::TempDir dir;
  Cluster cluster(dir);
  const int64_t records = 60000;
  fs::create_directories(dir.file("gates"));
  auto client = cluster.run(COUNTS_JOB, {"-p", "2", "--checkpoint-interval", "100ms", "--restart-strategy",
                                         "fixed-delay:100:50ms", "--", dir.file("out"), dir.file("gates"),
                                         std::to_string(records), "1", dir.file("out2")});
  // Each pipeline is a region of its own, placed and deployed as an attempt of its own.
  await_that([&] { return deployments(cluster.master.out, "counts").size() == 2; }, "both regions deployed");
  auto placed = deployments(cluster.master.out, "counts");
  REQUIRE(placed.count(0));
  REQUIRE(placed.count(1));
  std::string victim;  // an agent of the first region only
  for (const auto& a : placed[0])
    if (std::find(placed[1].begin(), placed[1].end(), a) == placed[1].end()) victim = a;
  INFO("region 1 on " << placed[0].size() << " agents, region 2 on " << placed[1].size() << "; victim " << victim);
  REQUIRE(!victim.empty());
  const fs::path checkpoints = fs::path(dir.file("checkpoints")) / "counts";
  await_that([&] { return newest_checkpoint(checkpoints) > 0; }, "a checkpoint");
  cluster.agents[victim]->kill();
  cluster.agents.erase(victim);
  cluster.add("r1");
  await_that([&] { return deployments(cluster.master.out, "counts").count(2) > 0; }, "the first region's restart");
  std::ofstream(dir.file("gates/open-0"));
  int status = exit_status(*client);
  INFO(read(dir.file("run.err")) << read(cluster.master.out));
  REQUIRE(status == 0);
  auto after = deployments(cluster.master.out, "counts");
  CHECK(after.size() == 3);  // the second region was never deployed again
  CHECK_THAT(read(dir.file("master.err")), Catch::Contains("restarting its pipelined region (4 of 8 subtasks)"));
  for (const auto* out : {"out", "out2"}) {
    auto committed = sluice::read_committed_lines(dir.file(out));
    std::sort(committed.begin(), committed.end());
    CHECK(committed == counts_oracle(records));
  }
}

TEST_CASE("a job that needs more slots than the cluster has fails after the slot timeout, saying how many",
          "[cluster][processes]") {
  test_support::TempDir dir;
  Cluster cluster(dir, {"--slot-timeout", "1s"});
  auto client = cluster.run(WORD_COUNT_JOB, {"-p", "8", "--", dir.file("none.txt"), dir.file("out.txt")});
  CHECK(exit_status(*client) == 1);
  CHECK_THAT(read(dir.file("run.err")),
             Catch::Contains("job 'Word count' needs 8 slots (its highest parallelism) but 6 are free on 3 agents"));
}

TEST_CASE("a job library of another Sluice version is refused with the reason, and the cluster goes on",
          "[cluster][processes]") {
  test_support::TempDir dir;
  Cluster cluster(dir);
  auto old = cluster.run(OLD_VERSION_JOB, {"--", dir.file("x")});
  CHECK(exit_status(*old) == 2);
  CHECK_THAT(read(dir.file("run.err")), Catch::Contains("sluice-0.0.1/old"));
  auto ok = cluster.run(JOB_OK, {"-p", "2", "--", dir.file("sum.txt")});
  CHECK(exit_status(*ok) == 0);
  // The main ran in the master, its collecting sink on the agents: the records came back to it.
  CHECK(read(dir.file("sum.txt")) == "500500 p=2\n");
}

TEST_CASE("print sink lines reach the client, and jobs, savepoint, stop and cancel act on the cluster's jobs",
          "[cluster][processes]") {
  test_support::TempDir dir;
  Cluster cluster(dir);
  {
    std::ofstream in(dir.file("input.txt"));
    for (int line = 0; line < 500; ++line) in << "a b" << line % 40 << " c\n";
  }
  Process embedded({SLUICE_BINARY, "run", WORD_COUNT_JOB, "-p", "2", "--", dir.file("input.txt")},
                   dir.file("embedded.out"), dir.file("embedded.err"));
  REQUIRE(exit_status(embedded) == 0);
  auto printed = cluster.run(WORD_COUNT_JOB, {"-p", "3", "--", dir.file("input.txt")});
  REQUIRE(exit_status(*printed) == 0);
  auto expected = sorted_lines(dir.file("embedded.out"));
  CHECK(expected.size() == 42);
  CHECK(sorted_lines(dir.file("run.out")) == expected);

  auto command = [&](std::vector<std::string> args) {
    args.insert(args.begin(), SLUICE_BINARY);
    args.insert(args.end(), {"--master", cluster.master.address()});
    Process p(args, dir.file("command.out"), dir.file("command.err"));
    int status = exit_status(p);
    return std::pair{status, read(dir.file("command.out")) + read(dir.file("command.err"))};
  };
  // The id of the counts job `sluice jobs` lists as running (at most one runs at a time here).
  auto running_counts = [&](const std::string& what) {
    std::string id;
    await_that(
        [&] {
          auto [status, text] = command({"jobs"});
          std::smatch m;
          if (status != 0 || !std::regex_search(text, m, std::regex("([0-9a-f]{16})  RUNNING  counts"))) return false;
          id = m[1];
          return true;
        },
        what);
    return id;
  };
  fs::create_directories(dir.file("gates"));
  auto counts = cluster.run(COUNTS_JOB, {"-p", "2", "--checkpoint-interval", "100ms", "--", dir.file("out"),
                                         dir.file("gates"), "20000", "1"});
  auto id = running_counts("the counts job running");
  CHECK_THAT(command({"jobs"}).second, Catch::Contains("  FINISHED  Word count"));
  auto [saved, savepoint] = command({"savepoint", id});
  REQUIRE(saved == 0);
  std::smatch path;
  REQUIRE(std::regex_search(savepoint, path, std::regex("savepoint stored in (.*/chk-[0-9]+)")));
  CHECK(fs::exists(fs::path(path[1].str()) / "_metadata"));
  auto [stopped, stop] = command({"stop", id});
  REQUIRE(stopped == 0);
  CHECK_THAT(stop, Catch::Contains("savepoint stored in "));
  CHECK(exit_status(*counts) == 0);
  CHECK_THAT(command({"jobs"}).second, Catch::Contains(id + "  FINISHED  counts"));
  auto [unknown, why] = command({"cancel", "0123456789abcdef"});
  CHECK(unknown == 1);
  CHECK_THAT(why, Catch::Contains("sluice cancel: the master has no job 0123456789abcdef"));

  // Stop with drain: the sources end where they are (held at the gate, after half the records),
  // windows and timers fire, and the final checkpoint is the savepoint: exactly half's counts.
  fs::remove_all(dir.file("out"));
  auto drained = cluster.run(COUNTS_JOB, {"-p", "2", "--checkpoint-interval", "100ms", "--checkpoint-dir",
                                          dir.file("drain-checkpoints"), "--", dir.file("out"), dir.file("gates"),
                                          "20000", "1"});
  id = running_counts("the drained counts job running");
  // The sources have emitted every record before the gate (their probes say so) and wait there.
  await_that(
      [&] {
        auto text = command({"probes", id}).second;
        std::regex source("records_out=([0-9]+) .* task=Gated");
        uint64_t out = 0;
        for (std::sregex_iterator it(text.begin(), text.end(), source), end; it != end; ++it) out += std::stoull((*it)[1]);
        return out == 10000;
      },
      "the sources at the gate");
  auto [drain_status, drain_text] = command({"stop", id, "--drain"});
  INFO(drain_text);
  REQUIRE(drain_status == 0);
  CHECK(exit_status(*drained) == 0);
  auto committed = sluice::read_committed_lines(dir.file("out"));
  std::sort(committed.begin(), committed.end());
  CHECK(committed == counts_oracle(10000));

  // A cancelled job's client ends with the job's failure.
  fs::remove_all(dir.file("out"));
  auto doomed = cluster.run(COUNTS_JOB, {"-p", "2", "--", dir.file("out"), dir.file("gates"), "20000", "1"});
  id = running_counts("the second counts job running");
  CHECK(command({"cancel", id}).first == 0);
  CHECK(exit_status(*doomed) == 1);
  CHECK_THAT(command({"jobs"}).second, Catch::Contains(id + "  FAILED  counts"));
}

namespace {

/// The fields of one `sluice probes` line.
std::map<std::string, std::string> fields(const std::string& line) {
  std::map<std::string, std::string> out;
  auto task = line.find(" task=");
  std::istringstream in(line.substr(0, task));
  for (std::string kv; in >> kv;)
    if (auto eq = kv.find('='); eq != std::string::npos) out[kv.substr(0, eq)] = kv.substr(eq + 1);
  if (task != std::string::npos) out["task"] = line.substr(task + 6);
  return out;
}

int64_t rss_of(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/statm");
  int64_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

}  // namespace

TEST_CASE("backpressure across agents: a slow sink on another agent keeps records in flight within the credit bound",
          "[cluster][processes][backpressure]") {
#ifdef SLUICE_SLOW_TESTS
  const auto run_for = 20s;
#else
  const auto run_for = 4s;
#endif
  test_support::TempDir dir;
  Cluster cluster(dir);
  auto client = cluster.run(THROTTLED_JOB, {"-p", "2"});
  std::string id;
  auto probes = [&] {
    Process p({SLUICE_BINARY, "probes", id, "--master", cluster.master.address()}, dir.file("probes.out"),
              dir.file("probes.err"));
    exit_status(p);
    std::vector<std::map<std::string, std::string>> out;
    std::istringstream in(read(dir.file("probes.out")));
    for (std::string line; std::getline(in, line);) out.push_back(fields(line));
    return out;
  };
  await_that(
      [&] {
        std::smatch m;
        auto text = read(cluster.master.out);
        if (!std::regex_search(text, m, std::regex("job ([0-9a-f]{16}) \\('throttled'\\) submitted"))) return false;
        id = m[1];
        return latest_deployment(cluster.master.out, "throttled").second.size() == 2;
      },
      "the throttled job deployed on two agents");
  await_that([&] { return probes().size() == 6; }, "probes of all six subtasks");
  // Sources of subtask 0 and 1 run on different agents: half the rebalance's channels cross them.
  const uint64_t buffer = 4096, out_queue = 2, out_floating = 3, min_record_bytes = 8 + 1 + 12;
  uint64_t max_in_flight = 0, sink_at_start = 0, sink_at_end = 0, source_at_end = 0;
  std::map<std::string, int64_t> rss_after_warmup, rss_max;
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < run_for) {
    std::this_thread::sleep_for(100ms);
    uint64_t source_out = 0, sink_in = 0, bound_bytes = 0;
    for (auto& p : probes()) {
      INFO(p["task"] << " subtask " << p["subtask"]);
      auto n = [&p](const char* k) { return std::stoull(p[k]); };
      CHECK(n("credits_granted") + n("queued_buffers_in") <= n("input_buffer_capacity"));
      CHECK(n("max_queued_bytes_in") <= n("input_buffer_capacity") * buffer);
      uint64_t channels = p["task"] == "Generator Source" || p["task"] == "identity" ? 2 : 0;
      uint64_t out_bound = channels ? (channels * (out_queue + 2) + out_floating) * buffer : 0;
      CHECK(n("max_queued_bytes_out") <= out_bound);
      bound_bytes += n("input_buffer_capacity") * buffer + out_bound;
      if (p["task"] == "Generator Source") source_out += n("records_out");
      if (p["task"] == "Throttled Sink") sink_in += n("records_in");
    }
    // Every record the sources emitted and the sinks have not taken sits in a buffer of some
    // subtask or on a link within a consumer's credit.
    if (source_out > sink_in) max_in_flight = std::max(max_in_flight, source_out - sink_in);
    CHECK(source_out - std::min(source_out, sink_in) <= bound_bytes / min_record_bytes + 1);
    if (!sink_at_start) sink_at_start = sink_in;
    sink_at_end = sink_in;
    source_at_end = source_out;
    if (std::chrono::steady_clock::now() - start > 1s)
      for (auto& [name, agent] : cluster.agents) {
        auto rss = rss_of(agent->pid());
        if (!rss_after_warmup[name]) rss_after_warmup[name] = rss;
        rss_max[name] = std::max(rss_max[name], rss);
      }
  }
  CHECK(max_in_flight > 0);
  CHECK(sink_at_end > sink_at_start);  // the sinks keep taking: slow, not stuck
  // An unthrottled source makes millions of records a second; held back, it made about what
  // the sinks took (20,000 a second each) plus the buffers.
  CHECK(source_at_end < sink_at_end + 100000);
#ifndef __SANITIZE_ADDRESS__  // ASan's quarantine holds up to 256 MiB of freed memory on purpose
  for (auto& [name, rss] : rss_max) {
    INFO("agent " << name);
    CHECK(rss - rss_after_warmup[name] < 64 << 20);
  }
#endif
  Process cancel({SLUICE_BINARY, "cancel", id, "--master", cluster.master.address()}, dir.file("cancel.out"),
                 dir.file("cancel.err"));
  CHECK(exit_status(cancel) == 0);
  CHECK(exit_status(*client) == 1);
}

TEST_CASE("nexmark q5 at parallelism 4 on the cluster writes the embedded run's CSV, with and without checkpoints",
          "[cluster][processes][nexmark]") {
  test_support::TempDir dir;
  Cluster cluster(dir);
  std::vector<std::string> query = {"run", "--query", "q5", "--events", "200000", "--parallelism", "4"};
  auto nexmark = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {NEXMARK_BINARY};
    argv.insert(argv.end(), query.begin(), query.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    Process p(argv, dir.file("nexmark.out"), dir.file("nexmark.err"));
    int status = exit_status(p);
    INFO(read(dir.file("nexmark.err")) << read(cluster.master.out));
    REQUIRE(status == 0);
    return read(dir.file("nexmark.out"));
  };
  nexmark({"--output", dir.file("embedded.csv")});
  auto embedded = read(dir.file("embedded.csv"));
  REQUIRE(std::count(embedded.begin(), embedded.end(), '\n') > 100);
  CHECK_THAT(nexmark({"--output", dir.file("cluster.csv"), "--master", cluster.master.address()}),
             Catch::Contains("on the cluster at " + cluster.master.address()));
  CHECK(read(dir.file("cluster.csv")) == embedded);
  nexmark({"--output", dir.file("checkpointed.csv"), "--checkpoint-interval", "100ms", "--checkpoint-dir",
           dir.file("q5-checkpoints"), "--master", cluster.master.address()});
  CHECK(read(dir.file("checkpointed.csv")) == embedded);
  CHECK(newest_checkpoint(dir.file("q5-checkpoints")) > 0);
  CHECK(latest_deployment(cluster.master.out, "Nexmark q5").second.size() == 3);
}

TEST_CASE("a job stopped with a savepoint copied to a directory resumes from the copy at another parallelism exactly once",
          "[cluster][processes][recovery]") {
  test_support::TempDir dir;
  Cluster cluster(dir);
  fs::create_directories(dir.file("gates"));
  const int64_t records = 40000;
  auto args = [&](const std::string& p, std::vector<std::string> extra) {
    std::vector<std::string> argv = {"-p", p, "--checkpoint-interval", "100ms"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), {"--", dir.file("out"), dir.file("gates"), std::to_string(records), "1"});
    return argv;
  };
  auto first = cluster.run(COUNTS_JOB, args("2", {}));
  const auto checkpoints = fs::path(dir.file("checkpoints")) / "counts";
  await_that([&] { return newest_checkpoint(checkpoints) > 0; }, "a checkpoint");
  std::smatch m;
  auto text = read(cluster.master.out);
  REQUIRE(std::regex_search(text, m, std::regex("job ([0-9a-f]{16}) \\('counts'\\) submitted")));
  Process stop({SLUICE_BINARY, "stop", m[1].str(), "--master", cluster.master.address(), "--dir", dir.file("kept")},
               dir.file("stop.out"), dir.file("stop.err"));
  REQUIRE(exit_status(stop) == 0);
  std::smatch path;
  auto said = read(dir.file("stop.out"));
  REQUIRE(std::regex_search(said, path, std::regex("savepoint stored in (.*)\\n")));
  REQUIRE(exit_status(*first) == 0);
  // The copy stands alone: the job's own checkpoint directory goes before the restore.
  CHECK(path[1].str().rfind(dir.file("kept") + "/savepoint-", 0) == 0);
  fs::remove_all(dir.file("checkpoints"));
  std::ofstream(dir.file("gates/open-0"));
  auto second = cluster.run(COUNTS_JOB, args("3", {"--restore", path[1].str()}));
  int status = exit_status(*second);
  INFO(read(dir.file("run.err")) << read(cluster.master.out));
  REQUIRE(status == 0);
  auto committed = sluice::read_committed_lines(dir.file("out"));
  std::sort(committed.begin(), committed.end());
  CHECK(committed == counts_oracle(records));
  CHECK(latest_deployment(cluster.master.out, "counts").second.size() == 3);  // three slots: one on each agent
}

namespace {
/// Lines of /proc/PID/maps naming a file under `dir`.
int mappings_under(int pid, const std::string& dir) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  int n = 0;
  for (std::string line; std::getline(maps, line);) n += line.find(dir) != std::string::npos;
  return n;
}
}  // namespace

TEST_CASE("an agent that ran many jobs of one library maps it once and does not grow with them",
          "[cluster][processes]") {
#ifdef SLUICE_SLOW_TESTS
  const int jobs = 100;
#else
  const int jobs = 25;
#endif
  test_support::TempDir dir;
  Master master(dir, {"--work-dir", dir.file("master-work")});
  auto one = agent(dir, "solo", master.address(), {"--work-dir", dir.file("solo-work")});
  await(master.out, "agent solo registered from");
  int64_t rss_early = 0;
  int maps_early = 0;
  for (int k = 1; k <= jobs; ++k) {
    Process run({SLUICE_BINARY, "run", JOB_OK, "--master", master.address(), "-p", "1", "--", dir.file("sum.txt")},
                dir.file("run.out"), dir.file("run.err"));
    INFO("job " << k << ": " << read(dir.file("run.err")));
    REQUIRE(exit_status(run) == 0);
    if (k == 5) {
      rss_early = rss_of(one->pid());
      maps_early = mappings_under(one->pid(), dir.file("solo-work"));
    }
  }
  // The main ran in the master, its collecting sink on the agent: the records came back to it.
  CHECK(read(dir.file("sum.txt")) == "500500 p=1\n");
  CHECK(maps_early > 0);
  CHECK(mappings_under(one->pid(), dir.file("solo-work")) == maps_early);
  INFO("RSS after 5 jobs " << rss_early << ", after " << jobs << " " << rss_of(one->pid()));
#ifndef __SANITIZE_ADDRESS__  // ASan's quarantine holds up to 256 MiB of freed memory on purpose
  CHECK(rss_of(one->pid()) - rss_early < 48 << 20);
#endif
}
