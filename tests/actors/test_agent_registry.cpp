// tests/actors/test_agent_registry.cpp — the master's agent table driven directly: registration, heartbeats, loss by silence or a broken connection, re-registration; the cluster messages' wire form.
#include <catch2/catch.hpp>
#include <random>

#include "actors/agent_registry.hpp"
#include "actors/cluster.hpp"
#include "sluice/error.hpp"

using namespace sluice;
using namespace sluice::runtime;

TEST_CASE("agents register, beat, and are lost after the timeout of silence", "[agent_registry]") {
  AgentRegistry r(5000);
  CHECK_FALSE(r.on_register("a", 2, "h1:7000", 1, 0));
  CHECK_FALSE(r.on_register("b", 4, "h2:7000", 2, 100));
  CHECK(r.size() == 2);
  CHECK(r.free_slots() == std::vector<scheduler::AgentSlots>{{"a", 2}, {"b", 4}});
  CHECK(r.on_heartbeat(1, 4000));
  CHECK_FALSE(r.on_heartbeat(9, 4000));  // no agent on connection 9
  CHECK(r.expire(5000).empty());
  auto lost = r.expire(5101);  // b last beat at 100
  REQUIRE(lost.size() == 1);
  CHECK(lost[0].agent.name == "b");
  CHECK(lost[0].why == "no heartbeat for 5001 ms (timeout 5000 ms)");
  CHECK(r.expire(9000).empty());  // a beat at 4000: 5000 ms is not over the timeout
  CHECK(r.expire(9001).size() == 1);
  CHECK(r.size() == 0);
}

TEST_CASE(
    "a broken connection loses its agent, and a re-registration replaces the old entry and names "
    "its connection",
    "[agent_registry]") {
  AgentRegistry r(5000);
  r.on_register("a", 2, "h1:7000", 1, 0);
  r.on_register("b", 2, "h2:7000", 2, 0);
  auto lost = r.on_disconnect(2);
  REQUIRE(lost);
  CHECK(lost->agent.name == "b");
  CHECK(lost->why == "its connection closed");
  CHECK_FALSE(r.on_disconnect(2));
  // a comes back on a new connection before its old one was seen to break.
  CHECK(r.on_register("a", 3, "h1:7001", 5, 1000) == std::optional<uint64_t>(1));
  CHECK(r.size() == 1);
  CHECK(r.find("a")->slots == 3);
  CHECK_FALSE(r.on_disconnect(1));  // the old connection closing later loses nothing
  CHECK(r.find("a"));
  // Registering again on the same connection replaces nothing to close.
  CHECK_FALSE(r.on_register("a", 3, "h1:7001", 5, 2000));
}

TEST_CASE("cluster messages round-trip, and bad ones are refused with a sentence", "[agent_registry]") {
  using Kind = ClusterMessage::Kind;
  auto reg = ClusterMessage::registration(4, "10.0.0.7:7000");
  auto ok = ClusterMessage::registered_with(1000, 5000);
  ClusterMessage beat{};
  auto no = ClusterMessage::refusal("not today");
  std::string hash(64, 'a');
  auto upload = ClusterMessage::with_library(Kind::upload_library, std::string("\x7f"
                                                                               "ELF\0\1",
                                                                               6));
  auto stored = ClusterMessage::with_hash(Kind::library_stored, hash);
  auto fetch = ClusterMessage::with_hash(Kind::fetch_library, hash);
  auto library = ClusterMessage::with_library(Kind::library, std::string(100000, 'x'));
  for (const auto& m : {reg, ok, beat, no, upload, stored, fetch, library}) CHECK(decode_cluster(encode(m)) == m);
  DeployOrder order;
  order.route = 9;
  order.hash = hash;
  order.options = {"job.so", "-p", "4", "--", "in"};
  order.graph_index = 1;
  order.checkpoint_dir = "/shared/chk/q5";
  order.tasks = {ControlBuffer{1, 2, 3}, ControlBuffer{}};
  order.agents = {{"a1", "10.0.0.1:7001"}, {"a2", "10.0.0.2:7001"}};
  order.topology = {"key-groups 128", "task 0 src p=4"};
  DeployOrder batch = order;
  batch.batch = 0xfedcba98;
  for (const auto& m : {ClusterMessage::submission(hash, {"-p", "2"}, true),
                        ClusterMessage::with_text(Kind::accepted, "0123456789abcdef"), ClusterMessage::ending(1, "failed"),
                        ClusterMessage::deployment(order), ClusterMessage::deployment(batch),
                        ClusterMessage::release_of(0xfedcba98), ClusterMessage::routed(Kind::command, 9, -1, {7}),
                        ClusterMessage::routed(Kind::report, 9, 3, {8, 9}),
                        ClusterMessage::gone_of(9, 2, "boom"),
                        ClusterMessage::quiet_of(9), ClusterMessage::flowing_of(9), ClusterMessage::probes_of(9, {{1, 2}, {3}}), ClusterMessage::printed(9, "(a,1)\n"),
                        ClusterMessage::results_of(9, 4, std::string("\0\1batch", 7)),
                        ClusterMessage::job_request_of(ClusterMessage::Request::stop, "0123456789abcdef", true, "/sp"),
                        ClusterMessage::job_reply_of("/chk/chk-3", "")})
    CHECK(decode_cluster(encode(m)) == m);
  auto ended = ClusterMessage::ending(7, "");
  CHECK_THROWS_WITH(decode_cluster(encode(ended)), "malformed cluster message: an exit status of 7");
  auto negative = ClusterMessage::gone_of(9, -1, "");
  CHECK_THROWS_WITH(decode_cluster(encode(negative)), "malformed cluster message: subtask -1");
  auto bad_hash = fetch;
  bad_hash.hash = "../../etc/passwd";
  CHECK_THROWS_WITH(decode_cluster(encode(bad_hash)),
                    "malformed cluster message: '../../etc/passwd' is not a SHA-256 in hex");
  auto zero = reg;
  zero.slots = 0;
  CHECK_THROWS_WITH(decode_cluster(encode(zero)), "malformed cluster message: a registration of 0 slots");
  auto slow = ok;
  slow.heartbeat_interval_ms = 5000;
  CHECK_THROWS_WITH(decode_cluster(encode(slow)), Catch::Contains("heartbeat interval 5000 ms with timeout 5000 ms"));
  std::mt19937_64 rng(7);
  for (int round = 0; round < 2000; ++round) {
    auto b = encode(round % 3 == 0 ? reg : round % 3 == 1 ? ok : ClusterMessage::deployment(order));
    for (int flips = 1 + int(rng() % 4); flips > 0; --flips) b[rng() % b.size()] ^= uint64_t(1) << (rng() % 64);
    if (rng() % 4 == 0) b.resize(rng() % (b.size() + 1));
    try {
      decode_cluster(b);
    } catch (const DecodeError& e) {
      CHECK_THAT(e.what(), Catch::StartsWith("malformed cluster message"));
    }
  }
}
