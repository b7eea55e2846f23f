// tests/actors/test_connection.cpp — control connections over nng on loopback: the handshake on the wire, a wrong secret refused on both sides, garbage and oversized frames dropped while the listener keeps serving.
#include <catch2/catch.hpp>
#include <future>
#include <random>
#include <thread>

#include "actors/connection.hpp"
#include "sluice/error.hpp"

using namespace sluice;
using namespace sluice::runtime;
using namespace std::chrono_literals;

namespace {

constexpr auto wait = 20s;  // generous: CI is a noisy 2-core machine; nothing here waits this long when it works

/// The master's side of one connection, on its own thread: the authenticated peer, or the
/// sentence it refused with.
std::future<std::string> master_accepts(Listener& l, const std::string& secret) {
  return std::async(std::launch::async, [&l, secret] {
    auto c = l.accept(wait);
    if (!c) return std::string("no connection");
    try {
      auto [role, name] = authenticate_peer(*c, secret, wait);
      // Echo one message back once authenticated.
      auto m = c->receive(wait);
      if (m) c->send(*m, wait);
      return std::string(role == PeerRole::agent ? "agent " : "client ") + name;
    } catch (const AuthenticationError& e) {
      return std::string("refused: ") + e.what();
    }
  });
}

std::string host_port(const Listener& l) { return "127.0.0.1:" + std::to_string(l.port()); }

}  // namespace

TEST_CASE("an agent and the master authenticate over loopback, then exchange control messages", "[connection]") {
  Listener l("127.0.0.1:0");
  REQUIRE(l.port() > 0);
  auto master = master_accepts(l, "s3cret");
  auto c = dial(host_port(l), wait);
  authenticate_to_master(*c, "s3cret", PeerRole::agent, "agent-1", wait);
  TaskCommand cmd{TaskCommand::Kind::trigger, -1, 17, true};  // the index is not on the wire
  c->send(encode(cmd), wait);
  auto back = c->receive(wait);
  REQUIRE(back);
  CHECK(decode_command(*back) == cmd);
  CHECK(master.get() == "agent agent-1");
}

TEST_CASE("a wrong secret on the wire is refused with a sentence on both sides", "[connection]") {
  Listener l("127.0.0.1:0");
  auto master = master_accepts(l, "s3cret");
  auto c = dial(host_port(l), wait);
  CHECK_THROWS_WITH(authenticate_to_master(*c, "guess", PeerRole::client, "cli", wait),
                    Catch::Contains("the master does not hold the secret cli has"));
  auto said = master.get();
  CHECK_THAT(said, Catch::StartsWith("refused: 'cli' at 127.0.0.1:") &&
                       Catch::Contains("hung up: the master does not hold the secret cli has"));
}

TEST_CASE("garbage, oversized and truncated frames are dropped and the listener keeps serving", "[connection]") {
  Listener l("127.0.0.1:0");
  std::mt19937_64 rng(20261203);
  std::string oversized = "\xff\xff\xff\x7f";
  std::string not_words = std::string("\x05\0\0\0", 4) + "abcde";
  std::string truncated = std::string("\x40\0\0\0", 4) + "only a few bytes";
  std::string random;
  for (int i = 0; i < 4096; ++i) random.push_back(char(rng()));
  std::string random_frame = std::string("\x00\x01\0\0", 4) + random.substr(0, 256);
  for (const auto& [what, bytes, expect] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"an oversized frame", oversized, "over the limit"},
           {"a frame not of whole words", not_words, "not a whole number of 8-byte words"},
           {"a frame cut short", truncated, "the connection ended inside a message"},
           {"random bytes in a frame", random_frame, "malformed handshake message"},
           {"random bytes", random, "sent no hello"}}) {
    DYNAMIC_SECTION(what) {
      auto master = master_accepts(l, "s3cret");
      {
        auto c = dial(host_port(l), wait);
        c->send_raw(bytes, wait);
      }  // closed
      auto said = master.get();
      CHECK_THAT(said, Catch::StartsWith("refused: ") && Catch::Contains(expect));
      // The same listener serves the next, well-behaved peer.
      auto next = master_accepts(l, "s3cret");
      auto c = dial(host_port(l), wait);
      authenticate_to_master(*c, "s3cret", PeerRole::agent, "agent-2", wait);
      c->send(encode(TaskCommand{}), wait);
      CHECK(c->receive(wait));
      CHECK(next.get() == "agent agent-2");
    }
  }
}

TEST_CASE("a silent peer ends the handshake after the timeout, and dialing nothing is one sentence", "[connection]") {
  Listener l("127.0.0.1:0");
  auto master = std::async(std::launch::async, [&l] {
    auto c = l.accept(wait);
    try {
      authenticate_peer(*c, "s", 200ms);
      return std::string("authenticated");
    } catch (const AuthenticationError& e) {
      return std::string(e.what());
    }
  });
  auto c = dial(host_port(l), wait);
  CHECK_THAT(master.get(), Catch::Contains("sent no hello (it closed the connection or took over 200 ms)"));
  c.reset();
  CHECK_THROWS_WITH(dial("127.0.0.1:1", 2s), Catch::StartsWith("cannot connect to 127.0.0.1:1: "));
}
