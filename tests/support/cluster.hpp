// tests/support/cluster.hpp — a master and agents as `sluice` processes for the cluster tests: start, await a line, free ports, the counts job's oracle, the master's deployments and checkpoints.
#pragma once

#include <catch2/catch.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "actors/connection.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace test_support::cluster {

using namespace std::chrono_literals;

/// Far beyond what any step takes on a loaded machine: a guard against hangs, not a timing check.
inline constexpr auto patience = 60s;

inline std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Waits until `path` holds `text` `times` times; fails the test when it never does.
inline void await(const std::string& path, const std::string& text, int times = 1) {
  auto give_up = std::chrono::steady_clock::now() + patience;
  while (std::chrono::steady_clock::now() < give_up) {
    auto all = read(path);
    int n = 0;
    for (size_t at = all.find(text); at != std::string::npos; at = all.find(text, at + 1)) ++n;
    if (n >= times) return;
    std::this_thread::sleep_for(20ms);
  }
  FAIL("'" << path << "' never held '" << text << "' " << times << " time(s); it holds:\n" << read(path));
}

struct Master {
  std::string out;
  std::unique_ptr<test_support::Process> process;
  int port = 0;
  /// Heartbeats every 200 ms; an agent is lost after `timeout` of silence (its broken
  /// connection is seen at once whatever the timeout).
  Master(const test_support::TempDir& dir, std::vector<std::string> extra = {}, int at_port = 0,
         const std::string& timeout = "10s") {
    out = dir.file("master.out");
    std::vector<std::string> argv = {
        SLUICE_BINARY,         "master", "--port", std::to_string(at_port), "--heartbeat-interval", "200ms",
        "--heartbeat-timeout", timeout, "--console-port", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process = std::make_unique<test_support::Process>(argv, out, dir.file("master.err"));
    await(out, "\n");
    std::smatch m;
    auto first = read(out).substr(0, read(out).find('\n'));
    REQUIRE(std::regex_match(first, m, std::regex("sluice master listening on 127\\.0\\.0\\.1:([0-9]+)")));
    port = std::stoi(m[1]);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

inline std::unique_ptr<test_support::Process> agent(const test_support::TempDir& dir, const std::string& name, const std::string& master,
                               std::vector<std::string> extra = {}, int slots = 2) {
  std::vector<std::string> argv = {SLUICE_BINARY, "agent", "--master", master, "--slots", std::to_string(slots), "--name", name};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<test_support::Process>(argv, dir.file(name + ".out"), dir.file(name + ".err"));
}

/// A port nothing listens on now (bound, then released).
inline int free_port() {
  sluice::runtime::Listener l("127.0.0.1:0");
  return l.port();
}


/// What the counts job must commit for `records` records: every 50th count of each key and
/// each key's final count (tests/cluster/job_counts.cpp).
inline std::vector<std::string> counts_oracle(int64_t records) {
  std::map<int64_t, int64_t> n;
  for (int64_t i = 0; i < records; ++i) ++n[i % 61];
  std::vector<std::string> out;
  for (auto [key, count] : n) {
    for (int64_t c = 50; c <= count; c += 50) out.push_back("(" + std::to_string(key) + "," + std::to_string(c) + ")");
    out.push_back("(" + std::to_string(key + 1000000) + "," + std::to_string(count) + ")");
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The newest checkpoint in `dir` with its `_metadata` written; 0 when none.
inline int64_t newest_checkpoint(const std::filesystem::path& dir) {
  int64_t newest = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    auto name = e.path().filename().string();
    if (name.rfind("chk-", 0) == 0 && std::filesystem::exists(e.path() / "_metadata"))
      newest = std::max<int64_t>(newest, std::stoll(name.substr(4)));
  }
  return newest;
}

/// Every "job 'NAME' attempt N deployed on A (n), B (m)" line of the master: the agents of
/// each attempt N.
inline std::map<int, std::vector<std::string>> deployments(const std::string& master_out, const std::string& job) {
  std::regex line("job '" + job + "' attempt ([0-9]+) deployed on (.*)");
  std::map<int, std::vector<std::string>> out;
  std::istringstream in(read(master_out));
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (!std::regex_match(l, m, line)) continue;
    auto& agents = out[std::stoi(m[1])];
    agents.clear();
    std::regex agent("([A-Za-z0-9_-]+) \\([0-9]+\\)");
    auto list = m[2].str();
    for (std::sregex_iterator it(list.begin(), list.end(), agent), end; it != end; ++it) agents.push_back((*it)[1]);
  }
  return out;
}

/// The latest deployment of `job` (attempts only grow): N and the agents; -1 before the first.
inline std::pair<int, std::vector<std::string>> latest_deployment(const std::string& master_out, const std::string& job) {
  auto all = deployments(master_out, job);
  if (all.empty()) return {-1, {}};
  return *all.rbegin();
}

/// Waits for a client or embedded run and gives its exit status (-1: killed by a signal).
inline int exit_status(Process& p) {
  auto give_up = std::chrono::steady_clock::now() + 3 * patience;
  while (!p.poll()) {
    if (std::chrono::steady_clock::now() > give_up) {
      p.kill();
      FAIL("the run never ended");
    }
    std::this_thread::sleep_for(20ms);
  }
  int status = *p.poll();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Waits until `done` holds; fails the test with `what` when it never does.
inline void await_that(const std::function<bool()>& done, const std::string& what) {
  auto give_up = std::chrono::steady_clock::now() + patience;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) FAIL("never saw " << what);
    std::this_thread::sleep_for(20ms);
  }
}

}  // namespace test_support::cluster
