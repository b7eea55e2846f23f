// actors/handshake.hpp — mutual authentication of a cluster control connection over a shared secret (HMAC-SHA256 challenge and response), as pure classes with their wire form.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "actors/control.hpp"

namespace sluice::runtime {

/// Bumped whenever a cluster message changes: peers of another protocol are refused.
inline constexpr uint32_t cluster_protocol = 2;

using Nonce = std::array<uint8_t, 32>;
using Mac = std::array<uint8_t, 32>;

/// HMAC-SHA256 of `data` under `key` (OpenSSL).
Mac hmac_sha256(std::string_view key, std::string_view data);
/// 32 bytes from the system's cryptographic random source.
Nonce random_nonce();

enum class PeerRole { agent, client };

/// One handshake message; which fields count depends on `kind`.
struct HandshakeMessage {
  enum class Kind { hello, challenge, proof, verdict } kind = Kind::hello;
  uint32_t protocol = cluster_protocol;  ///< hello
  PeerRole role = PeerRole::agent;       ///< hello
  std::string name;                      ///< hello: the agent's or client's name
  Nonce nonce{};                         ///< hello, challenge
  Mac proof{};                           ///< challenge, proof
  bool accepted = false;                 ///< verdict
  std::string reason;                    ///< verdict: why it was refused
};

ControlBuffer encode(const HandshakeMessage& m);
/// Throws DecodeError with one sentence when `b` is not a well-formed handshake message (a
/// nonce or proof of another length included).
HandshakeMessage decode_handshake(const ControlBuffer& b);

/// The side that connects: an agent or a client. hello(), then on_challenge() with the
/// master's answer, then on_verdict().
class HandshakeInitiator {
 public:
  HandshakeInitiator(std::string secret, PeerRole role, std::string name, Nonce nonce);
  HandshakeMessage hello() const;
  /// Checks that the master holds the secret; gives the proof to send, or the sentence why
  /// the master is not trusted (nothing is sent then).
  std::variant<HandshakeMessage, std::string> on_challenge(const HandshakeMessage& m);
  /// Nothing when the master accepted; else the sentence why not.
  std::optional<std::string> on_verdict(const HandshakeMessage& m);
  bool authenticated() const { return state_ == State::done; }

 private:
  enum class State { sent_hello, sent_proof, done, refused } state_ = State::sent_hello;
  std::string secret_;
  PeerRole role_;
  std::string name_;
  Nonce nonce_;
};

/// The side that listens (the master), one per connection: on_hello() answers with a
/// challenge, on_proof() with the verdict. Nothing else is read from a connection until
/// authenticated() holds; a refused connection is closed after its verdict.
class HandshakeResponder {
 public:
  HandshakeResponder(std::string secret, Nonce nonce);
  /// A challenge, or a refusing verdict (another protocol, a message out of order).
  HandshakeMessage on_hello(const HandshakeMessage& m);
  /// The verdict: accepted when the peer's proof is over this connection's nonce.
  HandshakeMessage on_proof(const HandshakeMessage& m);
  bool authenticated() const { return state_ == State::done; }
  bool refused() const { return state_ == State::refused; }
  /// The peer, once it said hello.
  const std::string& peer_name() const { return name_; }
  PeerRole peer_role() const { return role_; }

 private:
  HandshakeMessage refuse(std::string why);
  enum class State { awaiting_hello, awaiting_proof, done, refused } state_ = State::awaiting_hello;
  std::string secret_;
  Nonce nonce_;
  Nonce peer_nonce_{};
  PeerRole role_ = PeerRole::agent;
  std::string name_;
};

}  // namespace sluice::runtime
