// tests/cluster/test_cluster.cpp — `sluice master` and `sluice agent` as processes on loopback: registration, loss by a broken connection or by silence, retries before the master is up, secrets, the loopback rule, random, oversized, truncated and replayed messages on the master's and an agent's ports.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "actors/connection.hpp"
#include "cluster_fuzz_cases.hpp"
#include "support/cluster.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace std::chrono_literals;
using test_support::Process;
using namespace test_support::cluster;


TEST_CASE("three agents register with a master on a free port, and one killed with -9 is lost at once",
          "[cluster][processes]") {
  test_support::TempDir dir;
  Master master(dir);
  std::vector<std::unique_ptr<Process>> agents;
  for (const auto* name : {"a1", "a2", "a3"}) agents.push_back(agent(dir, name, master.address()));
  for (const auto* name : {"a1", "a2", "a3"}) {
    await(dir.file(std::string(name) + ".out"),
          "sluice agent " + std::string(name) + " registered with " + master.address() + " (2 slots)\n");
    await(master.out, "agent " + std::string(name) + " registered from 127.0.0.1:");
  }
  agents[1]->kill();
  await(master.out, "agent a2 lost: its connection closed\n");
  CHECK(read(master.out).find("agent a1 lost") == std::string::npos);
  master.process->signal(SIGTERM);
  int status = master.process->wait();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a frozen agent is lost after the heartbeat timeout and registers again once it thaws",
          "[cluster][processes]") {
  test_support::TempDir dir;
  Master master(dir, {}, 0, "1s");
  auto a = agent(dir, "sleepy", master.address());
  await(master.out, "agent sleepy registered from");
  a->signal(SIGSTOP);
  await(master.out, "agent sleepy lost: no heartbeat for ");
  a->signal(SIGCONT);
  await(master.out, "agent sleepy registered from", 2);
  await(dir.file("sleepy.out"), "sluice agent sleepy registered with", 2);
  CHECK_THAT(read(dir.file("sleepy.err")), Catch::Contains("agent sleepy: lost the master " + master.address()));
}

TEST_CASE("an agent started before its master retries with back-off and registers once the master is up",
          "[cluster][processes]") {
  test_support::TempDir dir;
  int port = free_port();
  auto a = agent(dir, "early", "127.0.0.1:" + std::to_string(port));
  await(dir.file("early.err"),
        "retrying in 200 ms");  // the second attempt waits twice the first's 100 ms
  CHECK_THAT(read(dir.file("early.err")),
             Catch::Contains("agent early: master 127.0.0.1:" + std::to_string(port) + " unreachable (cannot connect"));
  Master master(dir, {}, port);
  await(dir.file("early.out"), "sluice agent early registered with 127.0.0.1:" + std::to_string(port) + " (2 slots)");
  await(master.out, "agent early registered from");
}

TEST_CASE("an agent with the wrong secret is refused with a sentence on both sides and exits 2",
          "[cluster][processes]") {
  test_support::TempDir dir;
  std::ofstream(dir.file("secret")) << "right horse battery staple\n";
  std::ofstream(dir.file("wrong")) << "wrong\n";
  Master master(dir, {"--secret-file", dir.file("secret")});
  auto bad = agent(dir, "intruder", master.address(), {"--secret-file", dir.file("wrong")});
  int status = bad->wait();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);
  CHECK_THAT(read(dir.file("intruder.err")), Catch::Contains("agent intruder was refused by " + master.address() +
                                                             ": the master does not hold the secret intruder has"));
  await(master.out, "refused a connection: 'intruder' at 127.0.0.1:");
  // Without a secret at all the agent fails the master's check instead.
  auto none = agent(dir, "nosecret", master.address());
  CHECK(WEXITSTATUS(none->wait()) == 2);
  // The right secret registers.
  auto good = agent(dir, "member", master.address(), {"--secret-file", dir.file("secret")});
  await(master.out, "agent member registered from");
}

TEST_CASE("a master reachable from other hosts needs a secret or --insecure", "[cluster][processes]") {
  test_support::TempDir dir;
  {
    Process open({SLUICE_BINARY, "master", "--host", "0.0.0.0", "--port", "0"}, dir.file("open.out"),
                 dir.file("open.err"));
    int status = open.wait();
    CHECK(WEXITSTATUS(status) == 2);
    CHECK(read(dir.file("open.err")) ==
          "sluice master: --host 0.0.0.0 is reachable from other hosts: give --secret-file, or "
          "--insecure to run "
          "without one\n");
  }
  Process insecure({SLUICE_BINARY, "master", "--host", "0.0.0.0", "--port", "0", "--insecure", "--console-port", "0"},
                   dir.file("insecure.out"), dir.file("insecure.err"));
  await(dir.file("insecure.out"), "sluice master listening on 0.0.0.0:");
  insecure.signal(SIGTERM);
  CHECK(WEXITSTATUS(insecure.wait()) == 0);
}

TEST_CASE("random, oversized, truncated and replayed messages on the master's and an agent's ports are dropped, and both keep serving",
          "[cluster][processes]") {
  test_support::TempDir dir;
  std::ofstream(dir.file("secret")) << "correct horse battery staple\n";
  Master master(dir, {"--secret-file", dir.file("secret")});
  int data_port = free_port();
  auto a = agent(dir, "target", master.address(),
                 {"--secret-file", dir.file("secret"), "--data-port", std::to_string(data_port)});
  await(master.out, "agent target registered from");
  const std::string data = "127.0.0.1:" + std::to_string(data_port);
  std::mt19937_64 rng(20261203);
  int replays = 0;
  for (int round = 0; round < 60; ++round) {
    auto attack = sluice::fuzz::Attack(round % sluice::fuzz::attack_kinds);
    const auto& port = round % 2 ? master.address() : data;
    auto answer = sluice::fuzz::attack(port, attack, rng, "correct horse battery staple", 10s);
    INFO(sluice::fuzz::attack_name(attack) << " on " << port << ": " << answer);
    CHECK(answer != "kept the connection open");
    if (attack == sluice::fuzz::Attack::replayed_handshake) {
      CHECK_THAT(answer, Catch::Contains("refused"));
      ++replays;
    }
  }
  CHECK(replays == 12);
  std::string why;
  CHECK(sluice::fuzz::still_serves(master.address(), "correct horse battery staple", 10s, &why));
  CHECK(sluice::fuzz::still_serves(data, "correct horse battery staple", 10s, &why));
  INFO(why);
  CHECK_THAT(read(master.out), Catch::Contains("over the limit"));
  CHECK_THAT(read(dir.file("target.err")), Catch::Contains("refused a data connection"));
  CHECK_THAT(read(dir.file("target.err")), Catch::Contains("dropped the data link"));
  auto after = agent(dir, "after-fuzz", master.address(), {"--secret-file", dir.file("secret")});
  await(master.out, "agent after-fuzz registered from");
  CHECK(!a->poll());  // the attacked agent still runs
}
