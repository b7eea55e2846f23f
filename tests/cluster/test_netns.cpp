// tests/cluster/test_netns.cpp — a master and three agents in network namespaces of their own, joined by veth pairs to a bridge: an agent's link taken down is seen by the heartbeat timeout, and the job restarts on the others with its committed output exactly the oracle's.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <unistd.h>

#include <sluice/sinks.hpp>

#include "support/cluster.hpp"

using namespace std::chrono_literals;
using namespace test_support::cluster;
using test_support::Process;

namespace {

/// Runs `command` through the shell; its exit status.
int sh(const std::string& command) {
  int status = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Namespaces `<prefix>-sw` (a bridge) and one per host, each joined to the bridge by a veth
/// pair; removed with everything in them when this goes.
struct Network {
  std::string prefix = "sl" + std::to_string(getpid() % 100000);
  std::vector<std::string> hosts;
  bool ok = false;
  std::string ns(const std::string& host) const { return prefix + "-" + host; }
  /// The bridge side of `host`'s cable (interface names have at most 15 characters).
  std::string cable(const std::string& host) const { return "v" + prefix + host; }

  explicit Network(const std::vector<std::pair<std::string, std::string>>& addresses) {
    if (sh("ip netns add " + ns("sw")) != 0) return;
    hosts.push_back("sw");
    bool all = sh("ip -n " + ns("sw") + " link add br0 type bridge") == 0 &&
               sh("ip -n " + ns("sw") + " link set br0 up") == 0;
    for (const auto& [host, ip] : addresses) {
      all = all && sh("ip netns add " + ns(host)) == 0;
      if (all) hosts.push_back(host);
      all = all && sh("ip -n " + ns(host) + " link set lo up") == 0 &&
            sh("ip -n " + ns(host) + " link add eth0 type veth peer name " + cable(host) + " netns " + ns("sw")) == 0 &&
            sh("ip -n " + ns(host) + " addr add " + ip + "/24 dev eth0") == 0 &&
            sh("ip -n " + ns(host) + " link set eth0 up") == 0 &&
            sh("ip -n " + ns("sw") + " link set " + cable(host) + " master br0") == 0 &&
            sh("ip -n " + ns("sw") + " link set " + cable(host) + " up") == 0;
    }
    ok = all;
  }
  ~Network() {
    for (const auto& h : hosts) sh("ip netns del " + ns(h));
  }
  /// argv run inside `host`'s namespace.
  std::vector<std::string> in(const std::string& host, std::vector<std::string> argv) const {
    std::string ip = "/usr/sbin/ip";  // iproute2's place on Debian; Process does not search PATH
    for (const char* at : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
      if (std::filesystem::exists(at)) {
        ip = at;
        break;
      }
    argv.insert(argv.begin(), {ip, "netns", "exec", ns(host)});
    return argv;
  }
  bool unplug(const std::string& host) const { return sh("ip -n " + ns("sw") + " link set " + cable(host) + " down") == 0; }
};

}  // namespace

TEST_CASE("an agent whose network link goes down is lost by heartbeat timeout and the job finishes on the others "
          "exactly once",
          "[cluster][processes][recovery][netns]") {
  Network net({{"m", "10.77.0.1"}, {"a1", "10.77.0.11"}, {"a2", "10.77.0.12"}, {"a3", "10.77.0.13"}});
  if (!net.ok) {
    WARN("skipped: this kernel or user may not create network namespaces and veth pairs (ip netns add failed)");
    return;
  }
  test_support::TempDir dir;
  std::ofstream(dir.file("secret")) << "netns secret\n";
  const std::string master_address = "10.77.0.1:6123";
  Process master(net.in("m", {SLUICE_BINARY, "master", "--host", "10.77.0.1", "--port", "6123", "--secret-file",
                              dir.file("secret"), "--heartbeat-interval", "200ms", "--heartbeat-timeout", "2s",
                              "--checkpoint-dir", dir.file("checkpoints"), "--work-dir", dir.file("master-work")}),
                 dir.file("master.out"), dir.file("master.err"));
  await(dir.file("master.out"), "sluice master listening on " + master_address);
  std::map<std::string, std::unique_ptr<Process>> agents;
  for (const auto* host : {"a1", "a2", "a3"}) {
    std::string ip = std::string("10.77.0.1") + host[1];
    agents[host] = std::make_unique<Process>(
        net.in(host, {SLUICE_BINARY, "agent", "--master", master_address, "--slots", "2", "--name", host, "--host", ip,
                      "--secret-file", dir.file("secret"), "--work-dir", dir.file(std::string(host) + "-work")}),
        dir.file(std::string(host) + ".out"), dir.file(std::string(host) + ".err"));
    await(dir.file("master.out"), "agent " + std::string(host) + " registered from 10.77.0.1" + host[1]);
  }
  std::filesystem::create_directories(dir.file("gates"));
  const int64_t records = 60000;
  Process client(net.in("m", {SLUICE_BINARY, "run", COUNTS_JOB, "--master", master_address, "--secret-file",
                              dir.file("secret"), "-p", "4", "--checkpoint-interval", "100ms", "--restart-strategy",
                              "fixed-delay:100:100ms", "--", dir.file("out"), dir.file("gates"),
                              std::to_string(records), "1"}),
                 dir.file("run.out"), dir.file("run.err"));
  await_that([&] { return latest_deployment(dir.file("master.out"), "counts").first == 0; }, "the deployment");
  const auto checkpoints = std::filesystem::path(dir.file("checkpoints")) / "counts";
  await_that([&] { return newest_checkpoint(checkpoints) > 0; }, "a checkpoint");
  auto running = latest_deployment(dir.file("master.out"), "counts").second;
  REQUIRE(!running.empty());
  auto victim = running[std::mt19937(5)() % running.size()];
  INFO("unplugged " << victim);
  REQUIRE(net.unplug(victim));
  // Nothing breaks a connection when a cable goes: silence is all the master sees.
  await(dir.file("master.out"), "agent " + victim + " lost: no heartbeat for ");
  await_that([&] { return latest_deployment(dir.file("master.out"), "counts").first >= 1; }, "a restart");
  auto after = latest_deployment(dir.file("master.out"), "counts").second;
  CHECK(std::find(after.begin(), after.end(), victim) == after.end());
  std::ofstream(dir.file("gates/open-0"));
  auto give_up = std::chrono::steady_clock::now() + 3 * patience;
  while (!client.poll() && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(20ms);
  REQUIRE(client.poll());
  INFO(read(dir.file("run.err")) << read(dir.file("master.out")) << read(dir.file("master.err")));
  REQUIRE(WIFEXITED(*client.poll()));
  REQUIRE(WEXITSTATUS(*client.poll()) == 0);
  auto committed = sluice::read_committed_lines(dir.file("out"));
  std::sort(committed.begin(), committed.end());
  CHECK(committed == counts_oracle(records));
  // The unplugged agent lost the master too, and cancelled what it ran.
  await(dir.file(victim + ".err"), "agent " + victim + ": lost the master");
}
