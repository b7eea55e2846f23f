// tests/cluster/test_cluster_batch.cpp — BATCH jobs on a master and two agents of one slot, as processes on loopback: stages in waves of the cluster's slots, partition files read across agents, a failed task rerun alone, the files gone at the end.
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "support/cluster.hpp"

using namespace std::chrono_literals;
using namespace test_support::cluster;
using test_support::Process;
namespace fs = std::filesystem;

namespace {

/// A master logging at info (its jobs' stages and restarts, in master.err) and agents a1, a2
/// of one slot each: two slots in all.
struct BatchCluster {
  test_support::TempDir& dir;
  Master master;
  std::vector<std::string> names;
  std::vector<std::unique_ptr<Process>> agents;  // by name's index; null once killed
  /// Agents of one slot each, or of `slots[i]`.
  explicit BatchCluster(test_support::TempDir& d, std::vector<std::string> agent_names = {"a1", "a2"},
                        std::vector<int> slots = {})
      : dir(d), master(d, {"--work-dir", d.file("master-work"), "--log-level", "info"}), names(agent_names) {
    for (size_t i = 0; i < names.size(); ++i) {
      const auto& name = names[i];
      agents.push_back(agent(dir, name, master.address(), {"--work-dir", dir.file(name + "-work")},
                             i < slots.size() ? slots[i] : 1));
      await(master.out, "agent " + name + " registered from");
    }
  }
  std::unique_ptr<Process> start(std::vector<std::string> options) {
    std::vector<std::string> argv = {SLUICE_BINARY,      "run",  BATCH_JOB, "--master", master.address(),
                                     "--execution-mode", "batch"};
    argv.insert(argv.end(), options.begin(), options.end());
    return std::make_unique<Process>(argv, dir.file("run.out"), dir.file("run.err"));
  }
  int run(std::vector<std::string> options) { return exit_status(*start(std::move(options))); }
  std::string log() const { return read(dir.file("master.err")); }
  /// Entries left in both agents' BATCH directories.
  size_t batch_files() const {
    size_t n = 0;
    std::error_code ec;
    for (size_t a = 0; a < names.size(); ++a)
      for (auto it = fs::recursive_directory_iterator(dir.file(names[a] + "-work/batch"), ec);
           it != fs::recursive_directory_iterator(); ++it)
        ++n;
    return n;
  }
};

/// What tests/cluster/job_batch.cpp writes: per bucket (key % 10), the records' count and the
/// sum of their indices.
std::string batch_oracle(int64_t records, int64_t keys) {
  std::map<int64_t, std::pair<int64_t, int64_t>> totals;
  for (int64_t i = 0; i < records; ++i) {
    auto& t = totals[((i * 7919) % keys) % 10];
    ++t.first;
    t.second += i;
  }
  std::string out;
  for (auto [bucket, t] : totals)
    out += std::to_string(bucket) + " " + std::to_string(t.first) + " " + std::to_string(t.second) + "\n";
  return out;
}

/// The master's "stage S: task 'T' subtask K of P (wave W of N)" lines, as (stage, subtask) in order.
std::vector<std::pair<int, int>> stage_lines(const std::string& log) {
  std::vector<std::pair<int, int>> out;
  std::regex line("stage ([0-9]+): task '[^']+' subtask ([0-9]+) of 8 \\(wave [0-9]+ of [0-9]+\\)");
  for (std::sregex_iterator it(log.begin(), log.end(), line), end; it != end; ++it)
    out.emplace_back(std::stoi((*it)[1]), std::stoi((*it)[2]));
  return out;
}

}  // namespace

TEST_CASE(
    "BATCH at parallelism 8 on a cluster of two slots runs three stages in waves, reads partition files across "
    "agents, and removes them at the end",
    "[cluster][processes][batch]") {
  test_support::TempDir dir;
  BatchCluster cluster(dir);
  int status = cluster.run({"-p", "8", "--", "200000", "1000", dir.file("totals.txt")});
  INFO(read(dir.file("run.err")) << cluster.log());
  REQUIRE(status == 0);
  CHECK(read(dir.file("totals.txt")) == batch_oracle(200000, 1000));
  // Every subtask of each stage once, in four waves of the two slots, stage after stage.
  auto lines = stage_lines(cluster.log());
  REQUIRE(lines.size() == 24);
  for (size_t i = 0; i < lines.size(); ++i) CHECK(lines[i] == std::make_pair(int(i / 8) + 1, int(i % 8) + 1));
  CHECK_THAT(cluster.log(), Catch::Contains("subtask 8 of 8 (wave 4 of 4)"));
  // Each subtask is an attempt of its own; the first stage's ran on both agents, so every
  // second-stage subtask read some of its input from the other agent's files.
  auto deployed = deployments(cluster.master.out, "batch stages");
  REQUIRE(deployed.size() == 24);
  std::set<std::string> first_stage;
  for (int attempt = 0; attempt < 8; ++attempt) first_stage.insert(deployed[attempt].begin(), deployed[attempt].end());
  CHECK(first_stage == std::set<std::string>{"a1", "a2"});
  await_that([&] { return cluster.batch_files() == 0; }, "both agents' partition files removed");
}

TEST_CASE(
    "BATCH on a cluster: a second-stage task failing once reruns alone from the partition files, and the first "
    "stage does not run again",
    "[cluster][processes][batch][recovery]") {
  test_support::TempDir dir;
  BatchCluster cluster(dir);
  int status = cluster.run({"-p", "8", "--restart-strategy", "fixed-delay:3:50ms", "--", "200000", "1000",
                            dir.file("totals.txt"), dir.file("failed-once")});
  auto log = cluster.log();
  INFO(read(dir.file("run.err")) << log);
  REQUIRE(status == 0);
  CHECK(fs::exists(dir.file("failed-once")));
  CHECK(read(dir.file("totals.txt")) == batch_oracle(200000, 1000));
  CHECK_THAT(log, Catch::Contains("key 3 fails once, as the test asked"));
  // One restart, of one subtask; each first-stage subtask was deployed once.
  std::regex restart("restarting its pipelined region \\(1 of [0-9]+ subtasks\\)");
  CHECK(std::distance(std::sregex_iterator(log.begin(), log.end(), restart), std::sregex_iterator()) == 1);
  int first_stage = 0;
  for (auto [stage, subtask] : stage_lines(log)) first_stage += stage == 1;
  CHECK(first_stage == 8);
  // 24 subtasks and the rerun: 25 attempts.
  CHECK(deployments(cluster.master.out, "batch stages").size() == 25);
  await_that([&] { return cluster.batch_files() == 0; }, "both agents' partition files removed");
}

TEST_CASE(
    "BATCH on a cluster: an agent killed with -9 takes its partition files with it, the subtasks that wrote them "
    "run again elsewhere, and the output is exact",
    "[cluster][processes][batch][recovery]") {
  test_support::TempDir dir;
  BatchCluster cluster(dir, {"a1", "a2", "a3"});
  auto gate = dir.file("gate");
  auto client = cluster.start({"-p", "8", "--restart-strategy", "fixed-delay:20:50ms", "--", "200000", "1000",
                               dir.file("totals.txt"), "-", gate});
  // The first stage finished on all three agents; the second stage's first wave holds its input.
  await_that([&] { return fs::exists(gate + ".reached"); }, "a second-stage subtask at the gate");
  auto deployed = deployments(cluster.master.out, "batch stages");
  std::set<std::string> first_stage;
  for (int attempt = 0; attempt < 8; ++attempt) first_stage.insert(deployed[attempt].begin(), deployed[attempt].end());
  REQUIRE(first_stage.count("a3") == 1);
  cluster.agents[2]->kill();
  await_that([&] { return cluster.log().find("which is gone: the subtask runs again") != std::string::npos; },
             "the master rerunning what a3 wrote");
  std::ofstream(gate) << "open\n";
  int status = exit_status(*client);
  auto log = cluster.log();
  INFO(read(dir.file("run.err")) << log);
  REQUIRE(status == 0);
  CHECK(read(dir.file("totals.txt")) == batch_oracle(200000, 1000));
  // Every first-stage subtask a3 ran (and only those) ran again.
  std::regex rerun("task 'Generator Source' subtask ([0-9]+) was on agent a3, which is gone");
  int reruns = int(std::distance(std::sregex_iterator(log.begin(), log.end(), rerun), std::sregex_iterator()));
  int on_a3 = 0;
  for (int attempt = 0; attempt < 8; ++attempt) on_a3 += deployed[attempt] == std::vector<std::string>{"a3"};
  CHECK(reruns == on_a3);
  int first = 0;
  for (auto [stage, subtask] : stage_lines(log)) first += stage == 1;
  CHECK(first == 8 + on_a3);
  for (const auto* name : {"a1", "a2"})
    await_that(
        [&] {
          return !fs::exists(dir.file(std::string(name) + "-work/batch")) ||
                 fs::is_empty(dir.file(std::string(name) + "-work/batch"));
        },
        std::string(name) + "'s partition files removed");
}

TEST_CASE("BATCH on a cluster: a consumer alone on the agent whose name sorts last dials the agent holding its input",
          "[cluster][processes][batch]") {
  test_support::TempDir dir;
  // The source's two subtasks go to b (two free slots) and a; the second stage's one subtask
  // usually to b too (unless a's source subtask gave back its slot before b's), which reads
  // a's file. Nothing else of the job runs on a then: only b can dial. With the old rule (the
  // agent that sorts first dials, the other waits) this failed every time it was tried.
  BatchCluster cluster(dir, {"a", "b"}, {1, 2});
  int status = cluster.run({"-p", "1", "--", "100000", "500", dir.file("totals.txt"), "-", "-", "2"});
  auto log = cluster.log();
  INFO(read(dir.file("run.err")) << log << read(dir.file("a.err")) << read(dir.file("b.err")));
  REQUIRE(status == 0);
  CHECK(read(dir.file("totals.txt")) == batch_oracle(100000, 500));
  auto deployed = deployments(cluster.master.out, "batch stages");
  REQUIRE(deployed.size() == 4);  // two source subtasks, then the two later stages' one each
  CHECK(deployed[0] == std::vector<std::string>{"b"});
  CHECK(deployed[1] == std::vector<std::string>{"a"});
  CHECK(log.find("restarting") == std::string::npos);
}

TEST_CASE("nexmark q5 in BATCH at parallelism 4 on the cluster writes the embedded STREAMING run's CSV",
          "[cluster][processes][batch][nexmark]") {
  test_support::TempDir dir;
  BatchCluster cluster(dir);
  auto nexmark = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {NEXMARK_BINARY, "run",    "--query",       "q5",
                                     "--events",     "300000", "--parallelism", "4"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    Process p(argv, dir.file("nexmark.out"), dir.file("nexmark.err"));
    int status = exit_status(p);
    INFO(read(dir.file("nexmark.err")) << cluster.log());
    REQUIRE(status == 0);
  };
  nexmark({"--output", dir.file("embedded.csv")});
  auto embedded = read(dir.file("embedded.csv"));
  REQUIRE(std::count(embedded.begin(), embedded.end(), '\n') > 100);
  nexmark({"--output", dir.file("cluster.csv"), "--execution-mode", "batch", "--master", cluster.master.address()});
  CHECK(read(dir.file("cluster.csv")) == embedded);
  CHECK_THAT(cluster.log(), Catch::Contains("stage 1: task"));
  await_that([&] { return cluster.batch_files() == 0; }, "both agents' partition files removed");
}
