// apps/fuzz/cluster_fuzz_cases.cpp — the attacks: raw bytes, bad lengths, cut messages, replayed handshakes and garbage after a genuine handshake, each on a connection of its own.
#include "cluster_fuzz_cases.hpp"

#include <variant>

#include "actors/connection.hpp"
#include "actors/handshake.hpp"
#include "sluice/error.hpp"

namespace sluice::fuzz {

using namespace runtime;

namespace {

/// A message as Connection::send frames it: length (LE) and words.
std::string framed(const ControlBuffer& b) {
  uint32_t bytes = uint32_t(b.size() * sizeof(uint64_t));
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[size_t(i)] = char(bytes >> (8 * i));
  out.append(reinterpret_cast<const char*>(b.data()), bytes);
  return out;
}

/// Reads until the target hangs up or `timeout` passes; says which.
std::string outcome(Connection& c, std::chrono::milliseconds timeout) {
  try {
    for (auto give_up = std::chrono::steady_clock::now() + timeout; std::chrono::steady_clock::now() < give_up;) {
      auto b = c.receive(std::chrono::milliseconds(100));
      if (!b && c.closed()) return "hung up";
      if (b) {
        try {
          auto m = decode_handshake(*b);
          if (m.kind == HandshakeMessage::Kind::verdict && !m.accepted) return "refused: " + m.reason;
        } catch (const DecodeError&) {
        }
      }
    }
    return "kept the connection open";
  } catch (const std::exception& e) {
    return std::string("dropped it: ") + e.what();
  }
}

Nonce nonce_from(std::mt19937_64& rng) {
  Nonce n{};
  for (auto& b : n) b = uint8_t(rng());
  return n;
}

}  // namespace

const char* attack_name(Attack a) {
  switch (a) {
    case Attack::random_bytes: return "random bytes";
    case Attack::oversized: return "an oversized length";
    case Attack::truncated: return "a truncated hello";
    case Attack::replayed_handshake: return "a replayed handshake";
    case Attack::garbage_after_auth: return "garbage after the handshake";
  }
  return "?";
}

std::string attack(const std::string& address, Attack a, std::mt19937_64& rng, const std::string& secret,
                   std::chrono::milliseconds timeout) {
  try {
    auto c = dial(address, timeout);
    switch (a) {
      case Attack::random_bytes: {
        std::string bytes;
        for (int i = 0, n = int(rng() % 3000); i < n; ++i) bytes.push_back(char(rng()));
        c->send_raw(bytes, timeout);
        break;
      }
      case Attack::oversized: c->send_raw(std::string("\xf8\xff\xff\xff", 4) + "12345678", timeout); break;
      case Attack::truncated: {
        HandshakeInitiator me(secret, PeerRole::agent, "fuzz", nonce_from(rng));
        auto whole = framed(encode(me.hello()));
        c->send_raw(whole.substr(0, 1 + rng() % (whole.size() - 1)), timeout);
        c->close();
        return "cut after a part of the hello";
      }
      case Attack::replayed_handshake: {
        // A genuine session first: what its peer sent is what an eavesdropper has.
        HandshakeInitiator me(secret, PeerRole::agent, "fuzz-replay", nonce_from(rng));
        auto hello = encode(me.hello());
        c->send(hello, timeout);
        auto challenge = c->receive(timeout);
        if (!challenge) return "did not challenge a genuine hello";
        auto proof = me.on_challenge(decode_handshake(*challenge));
        if (!std::holds_alternative<HandshakeMessage>(proof)) return "failed to prove the secret to a genuine peer";
        auto recorded = encode(std::get<HandshakeMessage>(proof));
        c->send(recorded, timeout);
        c->receive(timeout);
        c->close();
        // The replay: the same hello and proof, on a new connection with a new challenge.
        c = dial(address, timeout);
        c->send(hello, timeout);
        c->receive(timeout);
        c->send(recorded, timeout);
        break;
      }
      case Attack::garbage_after_auth: {
        authenticate_to_master(*c, secret, PeerRole::agent, "fuzz-" + std::to_string(rng() % 1000), timeout);
        ControlBuffer words(5 + rng() % 60);  // at least a data envelope's header
        for (auto& w : words) w = rng();
        // Half the time a frame of the data plane's shape (a 32-byte header), half a control frame.
        if (rng() % 2) c->send(words, timeout);
        else c->send_raw(std::string(reinterpret_cast<const char*>(words.data()), words.size() * 8), timeout);
        break;
      }
    }
    return outcome(*c, timeout);
  } catch (const std::exception& e) {
    return std::string("dropped it: ") + e.what();
  }
}

bool still_serves(const std::string& address, const std::string& secret, std::chrono::milliseconds timeout,
                  std::string* why) {
  try {
    auto c = dial(address, timeout);
    authenticate_to_master(*c, secret, PeerRole::agent, "fuzz-check", timeout);
    return true;
  } catch (const std::exception& e) {
    if (why) *why = e.what();
    return false;
  }
}

}  // namespace sluice::fuzz
