// tests/actors/test_handshake.cpp — the cluster handshake: both sides prove the shared secret, a wrong secret, a replayed proof or a message out of order is refused with one sentence, and bad bytes never crash the decoder.
#include <catch2/catch.hpp>
#include <random>

#include "actors/handshake.hpp"
#include "sluice/error.hpp"

using namespace sluice;
using namespace sluice::runtime;

namespace {

Nonce nonce_of(uint8_t seed) {
  Nonce n{};
  for (size_t i = 0; i < n.size(); ++i) n[i] = uint8_t(seed + i * 7);
  return n;
}

std::string hex(const Mac& m) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto b : m) out += {digits[b >> 4], digits[b & 15]};
  return out;
}

/// Runs the handshake through its wire form; gives each side's outcome.
struct Outcome {
  std::optional<std::string> peer_error;  // what the agent or client was told or found
  HandshakeResponder master;
};
Outcome run(const std::string& peer_secret, const std::string& master_secret, uint8_t peer_seed = 1,
            uint8_t master_seed = 2) {
  HandshakeInitiator peer(peer_secret, PeerRole::agent, "agent-1", nonce_of(peer_seed));
  Outcome o{std::nullopt, HandshakeResponder(master_secret, nonce_of(master_seed))};
  auto challenge = decode_handshake(encode(o.master.on_hello(decode_handshake(encode(peer.hello())))));
  auto proof = peer.on_challenge(challenge);
  if (auto* why = std::get_if<std::string>(&proof)) {
    o.peer_error = *why;
    return o;
  }
  auto verdict =
      decode_handshake(encode(o.master.on_proof(decode_handshake(encode(std::get<HandshakeMessage>(proof))))));
  o.peer_error = peer.on_verdict(verdict);
  return o;
}

}  // namespace

TEST_CASE("HMAC-SHA256 gives RFC 4231's answer", "[handshake]") {
  CHECK(hex(hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(random_nonce() != random_nonce());
}

TEST_CASE("peers holding the same secret authenticate each other", "[handshake]") {
  auto o = run("s3cret", "s3cret");
  CHECK_FALSE(o.peer_error);
  CHECK(o.master.authenticated());
  CHECK(o.master.peer_name() == "agent-1");
  CHECK(o.master.peer_role() == PeerRole::agent);
}

TEST_CASE("a wrong secret is refused with a sentence on both sides", "[handshake]") {
  SECTION("the peer finds that the master does not hold its secret, and sends nothing more") {
    auto o = run("wrong", "s3cret");
    REQUIRE(o.peer_error);
    CHECK(*o.peer_error == "the master does not hold the secret agent-1 has (a wrong --secret-file on one side)");
    CHECK_FALSE(o.master.authenticated());
  }
  SECTION("the master refuses a proof made with another secret, and the peer hears why") {
    HandshakeInitiator peer("wrong", PeerRole::client, "cli", nonce_of(1));
    HandshakeResponder master("s3cret", nonce_of(2));
    auto challenge = master.on_hello(peer.hello());
    // A peer that ignored the master's bad proof (or forged one) still gets nowhere.
    HandshakeMessage forged;
    forged.kind = HandshakeMessage::Kind::proof;
    forged.proof = hmac_sha256("wrong", "anything");
    auto verdict = master.on_proof(forged);
    CHECK(master.refused());
    CHECK_FALSE(verdict.accepted);
    CHECK(verdict.reason == "client 'cli' does not hold the master's secret (a wrong --secret-file on one side)");
    (void)challenge;
  }
}

TEST_CASE("a proof recorded on one connection is refused on another", "[handshake]") {
  HandshakeInitiator peer("s3cret", PeerRole::agent, "agent-1", nonce_of(1));
  HandshakeResponder first("s3cret", nonce_of(2));
  auto proof = std::get<HandshakeMessage>(peer.on_challenge(first.on_hello(peer.hello())));
  CHECK(first.on_proof(proof).accepted);
  // An eavesdropper replays the hello and the proof to the master; the new connection has a
  // new master nonce, so the old proof does not cover it.
  HandshakeResponder second("s3cret", nonce_of(9));
  second.on_hello(peer.hello());
  auto verdict = second.on_proof(proof);
  CHECK_FALSE(verdict.accepted);
  CHECK(second.refused());
  // Reflecting the master's own challenge proof back as the peer's proof fails too.
  HandshakeResponder third("s3cret", nonce_of(5));
  auto challenge = third.on_hello(peer.hello());
  HandshakeMessage reflected;
  reflected.kind = HandshakeMessage::Kind::proof;
  reflected.proof = challenge.proof;
  CHECK_FALSE(third.on_proof(reflected).accepted);
}

TEST_CASE("messages out of order and other protocols are refused", "[handshake]") {
  SECTION("a proof before the hello") {
    HandshakeResponder master("s", nonce_of(2));
    HandshakeMessage proof;
    proof.kind = HandshakeMessage::Kind::proof;
    auto v = master.on_proof(proof);
    CHECK_FALSE(v.accepted);
    CHECK(v.reason == "a proof must follow the challenge");
  }
  SECTION("a second hello") {
    HandshakeResponder master("s", nonce_of(2));
    HandshakeInitiator peer("s", PeerRole::agent, "a", nonce_of(1));
    master.on_hello(peer.hello());
    CHECK(master.on_hello(peer.hello()).reason == "a connection must start with a hello");
  }
  SECTION("another protocol version, which the peer hears") {
    HandshakeInitiator peer("s", PeerRole::agent, "old-agent", nonce_of(1));
    auto hello = peer.hello();
    hello.protocol = cluster_protocol + 1;
    HandshakeResponder master("s", nonce_of(2));
    auto answer = master.on_hello(hello);
    CHECK(master.refused());
    auto told = peer.on_challenge(answer);
    REQUIRE(std::holds_alternative<std::string>(told));
    CHECK_THAT(std::get<std::string>(told),
               Catch::Contains("'old-agent' speaks cluster protocol " + std::to_string(cluster_protocol + 1)) &&
                   Catch::Contains("run the same Sluice version on every host"));
  }
  SECTION("a verdict before the proof") {
    HandshakeInitiator peer("s", PeerRole::client, "c", nonce_of(1));
    HandshakeMessage v;
    v.kind = HandshakeMessage::Kind::verdict;
    v.accepted = true;
    CHECK(peer.on_verdict(v) == std::optional<std::string>("the master answered the proof of c out of order"));
    CHECK_FALSE(peer.authenticated());
  }
}

TEST_CASE("every handshake message round-trips, and bad bytes are refused, never crash", "[handshake]") {
  HandshakeInitiator peer("s", PeerRole::client, "console on host-7", nonce_of(3));
  HandshakeResponder master("s", nonce_of(4));
  auto hello = peer.hello();
  auto challenge = master.on_hello(hello);
  auto proof = std::get<HandshakeMessage>(peer.on_challenge(challenge));
  auto verdict = master.on_proof(proof);
  HandshakeMessage refusal;
  refusal.kind = HandshakeMessage::Kind::verdict;
  refusal.reason = "no";
  std::vector<ControlBuffer> samples;
  for (const auto& m : {hello, challenge, proof, verdict, refusal}) {
    auto back = decode_handshake(encode(m));
    CHECK(back.kind == m.kind);
    CHECK(back.name == m.name);
    CHECK(back.nonce == m.nonce);
    CHECK(back.proof == m.proof);
    CHECK(back.accepted == m.accepted);
    CHECK(back.reason == m.reason);
    CHECK(back.role == m.role);
    samples.push_back(encode(m));
  }
  CHECK_THROWS_WITH(decode_handshake(ControlBuffer{}), Catch::StartsWith("malformed handshake message"));

  std::mt19937_64 rng(20261203);
  int refused = 0;
  for (int round = 0; round < 3000; ++round) {
    auto b = samples[rng() % samples.size()];
    for (int flips = 1 + int(rng() % 4); flips > 0; --flips) b[rng() % b.size()] ^= uint64_t(1) << (rng() % 64);
    if (rng() % 4 == 0) b.resize(rng() % (b.size() + 1));
    if (rng() % 8 == 0)
      for (auto& w : b) w = rng();
    try {
      decode_handshake(b);
    } catch (const DecodeError& e) {
      ++refused;
      CHECK_THAT(e.what(), Catch::StartsWith("malformed handshake message"));
    }
  }
  CHECK(refused > 0);
}
