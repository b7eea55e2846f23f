// apps/bench/cluster_bench.cpp — Nexmark q0 and q5 embedded against the same workers on two agents on loopback, and the recovery time from kill -9 of an agent to records flowing again.
//
//   cluster_bench [--workers W] [--q0-events N] [--q5-events N] [--kills K]
//
// Starts `sluice master` and agents (beside this program in the build tree) as child
// processes, runs `nexmark run` embedded and with --master, and prints events/s of wall time
// (each run from its start to its end, the cluster's including the library's upload and
// deployment) and their ratio. Not a test: figures vary with the machine.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

#include "child_process.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using sluice::cli::Process;

namespace {

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Waits up to a minute for `pattern` in `file`; the first match's groups.
std::smatch await(const fs::path& file, const std::string& pattern, size_t after = 0) {
  std::regex re(pattern);
  for (auto give_up = Clock::now() + std::chrono::seconds(60); Clock::now() < give_up;) {
    static std::string text;
    text = read(file);
    std::smatch m;
    if (text.size() > after && std::regex_search(text.cbegin() + long(after), text.cend(), m, re)) return m;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  throw std::runtime_error("'" + file.string() + "' never showed /" + pattern + "/; it holds:\n" + read(file));
}

struct Bench {
  fs::path bin, work;
  std::unique_ptr<Process> master;
  std::map<std::string, std::unique_ptr<Process>> agents;
  std::string address;
  int slots = 1;

  fs::path sluice() const { return bin / "sluice" / "sluice"; }
  fs::path nexmark() const { return bin / "nexmark" / "nexmark"; }

  void start_master() {
    master = std::make_unique<Process>(
        std::vector<std::string>{sluice(), "master", "--port", "0", "--console-port", "0", "--work-dir", work / "master", "--checkpoint-dir",
                                 work / "checkpoints"},
        (work / "master.out").string(), (work / "master.err").string());
    address = "127.0.0.1:" + await(work / "master.out", "listening on 127\\.0\\.0\\.1:([0-9]+)")[1].str();
  }
  void add_agent(const std::string& name) {
    agents[name] = std::make_unique<Process>(
        std::vector<std::string>{sluice(), "agent", "--master", address, "--slots", std::to_string(slots), "--name",
                                 name, "--work-dir", work / name},
        (work / (name + ".out")).string(), (work / (name + ".err")).string());
    await(work / "master.out", "agent " + name + " registered");
  }
  /// Runs `nexmark run ARGS` to its end; its events/s in millions.
  double nexmark_run(std::vector<std::string> args) {
    args.insert(args.begin(), {nexmark(), "run"});
    Process p(args, (work / "run.out").string(), (work / "run.err").string());
    int status = p.wait();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      throw std::runtime_error("nexmark run failed: " + read(work / "run.err"));
    std::smatch m;
    auto out = read(work / "run.out");
    if (!std::regex_search(out, m, std::regex("\\(([0-9.]+) M events/s\\)")))
      throw std::runtime_error("nexmark run printed no rate: " + out);
    return std::stod(m[1]);
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Nexmark embedded against a cluster of two agents, and recovery from kill -9", "cluster_bench"};
  int workers = 2, kills = 3;
  long q0_events = 4'000'000, q5_events = 1'000'000;
  app.add_option("--workers", workers, "worker threads embedded; slots over two agents on the cluster (default 2)")
      ->check(CLI::Range(2, 256));
  app.add_option("--q0-events", q0_events, "events of the q0 runs (default 4000000)");
  app.add_option("--q5-events", q5_events, "events of the q5 runs (default 1000000)");
  app.add_option("--kills", kills, "recovery rounds, one kill -9 each (default 3)");
  CLI11_PARSE(app, argc, argv);

  Bench b;
  b.bin = fs::read_symlink("/proc/self/exe").parent_path().parent_path();
  b.work = fs::temp_directory_path() / ("cluster_bench-" + std::to_string(getpid()));
  fs::create_directories(b.work);
  b.slots = workers / 2;
  try {
    b.start_master();
    b.add_agent("a1");
    b.add_agent("a2");
    const std::string p = std::to_string(workers);
    std::printf("Cluster bench: %d workers; embedded: one process; cluster: 2 agents x %d slots on loopback\n",
                workers, b.slots);
    std::printf("%-6s %10s %16s %16s %10s\n", "query", "events", "embedded M ev/s", "cluster M ev/s", "ratio");
    for (auto [query, events] : {std::pair<std::string, long>{"q0", q0_events}, {"q5", q5_events}}) {
      std::vector<std::string> args = {"--query", query, "--events", std::to_string(events), "--parallelism", p};
      double embedded = b.nexmark_run(args);
      args.insert(args.end(), {"--master", b.address});
      double cluster = b.nexmark_run(args);
      std::printf("%-6s %10ld %16.2f %16.2f %10.2f\n", query.c_str(), events, embedded, cluster, cluster / embedded);
    }

    // Recovery: three agents, so that two remain with the job's slots after a kill.
    b.add_agent("a3");
    std::printf("\nRecovery from kill -9 of an agent (q5 paced at 400k events/s, checkpoints every 500 ms, restart "
                "delay 100 ms, heartbeat 1 s / 5 s):\n");
    for (int k = 0; k < kills; ++k) {
      auto mark = read(b.work / "master.out").size();
      Process run({b.nexmark(), "run", "--query", "q5", "--events", "8000000", "--rate", "400000", "--realtime", "--parallelism", p,
                   "--checkpoint-interval", "500ms", "--checkpoint-dir", (b.work / ("chk-" + std::to_string(k))).string(),
                   "--restart-strategy", "fixed-delay:10:100ms", "--master", b.address},
                  (b.work / "recovery.out").string(), (b.work / "recovery.err").string());
      auto id = await(b.work / "master.out", "job ([0-9a-f]{16}) \\('Nexmark q5'\\) submitted", mark)[1].str();
      auto deployed = await(b.work / "master.out", "job 'Nexmark q5' attempt 0 deployed on ([^\\n]*)", mark);
      std::this_thread::sleep_for(std::chrono::seconds(2));  // a few checkpoints
      std::smatch victim;
      auto where = deployed[1].str();
      std::regex_search(where, victim, std::regex("([A-Za-z0-9-]+) \\("));
      auto name = victim[1].str();
      auto before = read(b.work / "master.out").size();
      auto killed = Clock::now();
      b.agents[name]->kill();
      auto again = await(b.work / "master.out", "processes records again \\(attempt [0-9]+\\) ([0-9]+) ms", before);
      auto seen = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count();
      std::printf("  kill %d (%s): records flowing again %lld ms after the kill (master: %s ms after detecting it)\n",
                  k + 1, name.c_str(), static_cast<long long>(seen), again[1].str().c_str());
      std::fflush(stdout);
      // The job outlives its client (as Flink's): cancel it, so that its slots are free again.
      Process cancel({b.sluice(), "cancel", id, "--master", b.address}, (b.work / "cancel.out").string(),
                     (b.work / "cancel.err").string());
      cancel.wait();
      run.wait();
      b.agents.erase(name);
      b.add_agent("r" + std::to_string(k + 1));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cluster_bench: %s\n", e.what());
    for (auto& [name, agent] : b.agents)
      if (auto status = agent->poll())
        std::fprintf(stderr, "cluster_bench: agent %s ended: %s %d\n", name.c_str(),
                     WIFSIGNALED(*status) ? "signal" : "exit status",
                     WIFSIGNALED(*status) ? WTERMSIG(*status) : WEXITSTATUS(*status));
    return 1;
  }
  std::error_code ec;
  b.agents.clear();
  b.master.reset();
  fs::remove_all(b.work, ec);
  return 0;
}
