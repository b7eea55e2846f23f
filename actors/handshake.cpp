// actors/handshake.cpp — HMAC challenge and response for cluster control connections, and the handshake's wire form.
#include "actors/handshake.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "actors/capnp_buffer.hpp"
#include "actors/handshake.capnp.h"
#include "sluice/error.hpp"

namespace sluice::runtime {

namespace schema = handshake_schema;
using capnp_io::read;
using capnp_io::to_buffer;

Mac hmac_sha256(std::string_view key, std::string_view data) {
  Mac out{};
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
            out.data(), &len) ||
      len != out.size())
    throw std::runtime_error("HMAC-SHA256 failed in OpenSSL");
  return out;
}

Nonce random_nonce() {
  Nonce n{};
  if (RAND_bytes(n.data(), int(n.size())) != 1) throw std::runtime_error("OpenSSL's random source gave no bytes");
  return n;
}

namespace {

std::string_view bytes_of(const std::array<uint8_t, 32>& a) {
  return {reinterpret_cast<const char*>(a.data()), a.size()};
}

/// What the master's proof covers: the peer's nonce first, so it cannot be replayed to
/// another peer, and its own nonce.
Mac master_proof(const std::string& secret, const Nonce& peer, const Nonce& master) {
  std::string data = "sluice master";
  data.append(bytes_of(peer)).append(bytes_of(master));
  return hmac_sha256(secret, data);
}

/// What a peer's proof covers: who it says it is and both nonces, the master's first (a
/// proof recorded on another connection names another master nonce). The label differs
/// from the master's, so a proof cannot be reflected back.
Mac peer_proof(const std::string& secret, PeerRole role, const std::string& name, const Nonce& master,
               const Nonce& peer) {
  std::string data = "sluice peer";
  data.push_back(role == PeerRole::agent ? 'a' : 'c');
  auto n = uint32_t(name.size());
  for (int i = 0; i < 4; ++i) data.push_back(char((n >> (8 * i)) & 0xff));
  data.append(name).append(bytes_of(master)).append(bytes_of(peer));
  return hmac_sha256(secret, data);
}

bool same(const Mac& a, const Mac& b) { return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0; }

template <class D>
void set_bytes(D setter, const std::array<uint8_t, 32>& a) {
  setter(capnp::Data::Reader(a.data(), a.size()));
}

void get_bytes(capnp::Data::Reader r, std::array<uint8_t, 32>& out, const char* what) {
  if (r.size() != out.size())
    throw DecodeError(std::string("malformed handshake message: the ") + what + " has " + std::to_string(r.size()) +
                      " bytes, not 32");
  std::memcpy(out.data(), r.begin(), out.size());
}

const char* role_name(PeerRole r) { return r == PeerRole::agent ? "agent" : "client"; }

}  // namespace

ControlBuffer encode(const HandshakeMessage& m) {
  capnp::MallocMessageBuilder b;
  auto h = b.initRoot<schema::Handshake>();
  switch (m.kind) {
    case HandshakeMessage::Kind::hello: {
      auto x = h.initHello();
      x.setProtocol(m.protocol);
      x.setRole(m.role == PeerRole::agent ? schema::Role::AGENT : schema::Role::CLIENT);
      x.setName(m.name);
      set_bytes([&](auto d) { x.setNonce(d); }, m.nonce);
      break;
    }
    case HandshakeMessage::Kind::challenge: {
      auto x = h.initChallenge();
      set_bytes([&](auto d) { x.setNonce(d); }, m.nonce);
      set_bytes([&](auto d) { x.setProof(d); }, m.proof);
      break;
    }
    case HandshakeMessage::Kind::proof: set_bytes([&](auto d) { h.initProof().setProof(d); }, m.proof); break;
    case HandshakeMessage::Kind::verdict: {
      auto x = h.initVerdict();
      x.setAccepted(m.accepted);
      x.setReason(m.reason);
      break;
    }
  }
  return to_buffer(b);
}

HandshakeMessage decode_handshake(const ControlBuffer& b) {
  return read<schema::Handshake>(b, "handshake message", [](schema::Handshake::Reader h) {
    HandshakeMessage m;
    switch (h.which()) {
      case schema::Handshake::HELLO: {
        auto x = h.getHello();
        m.kind = HandshakeMessage::Kind::hello;
        m.protocol = x.getProtocol();
        switch (x.getRole()) {
          case schema::Role::AGENT: m.role = PeerRole::agent; break;
          case schema::Role::CLIENT: m.role = PeerRole::client; break;
          default: throw DecodeError("malformed handshake message: unknown role");
        }
        m.name = x.getName();
        get_bytes(x.getNonce(), m.nonce, "nonce");
        break;
      }
      case schema::Handshake::CHALLENGE: {
        auto x = h.getChallenge();
        m.kind = HandshakeMessage::Kind::challenge;
        get_bytes(x.getNonce(), m.nonce, "nonce");
        get_bytes(x.getProof(), m.proof, "proof");
        break;
      }
      case schema::Handshake::PROOF:
        m.kind = HandshakeMessage::Kind::proof;
        get_bytes(h.getProof().getProof(), m.proof, "proof");
        break;
      case schema::Handshake::VERDICT:
        m.kind = HandshakeMessage::Kind::verdict;
        m.accepted = h.getVerdict().getAccepted();
        m.reason = h.getVerdict().getReason();
        break;
      default: throw DecodeError("malformed handshake message: unknown kind");
    }
    return m;
  });
}

HandshakeInitiator::HandshakeInitiator(std::string secret, PeerRole role, std::string name, Nonce nonce)
    : secret_(std::move(secret)), role_(role), name_(std::move(name)), nonce_(nonce) {}

HandshakeMessage HandshakeInitiator::hello() const {
  HandshakeMessage m;
  m.kind = HandshakeMessage::Kind::hello;
  m.role = role_;
  m.name = name_;
  m.nonce = nonce_;
  return m;
}

std::variant<HandshakeMessage, std::string> HandshakeInitiator::on_challenge(const HandshakeMessage& m) {
  if (state_ != State::sent_hello || m.kind != HandshakeMessage::Kind::challenge) {
    state_ = State::refused;
    if (m.kind == HandshakeMessage::Kind::verdict && !m.accepted)
      return "the master refused " + name_ + ": " + m.reason;
    return "the master answered the hello of " + name_ + " out of order";
  }
  if (!same(m.proof, master_proof(secret_, nonce_, m.nonce))) {
    state_ = State::refused;
    return "the master does not hold the secret " + name_ + " has (a wrong --secret-file on one side)";
  }
  state_ = State::sent_proof;
  HandshakeMessage out;
  out.kind = HandshakeMessage::Kind::proof;
  out.proof = peer_proof(secret_, role_, name_, m.nonce, nonce_);
  return out;
}

std::optional<std::string> HandshakeInitiator::on_verdict(const HandshakeMessage& m) {
  if (state_ != State::sent_proof || m.kind != HandshakeMessage::Kind::verdict) {
    state_ = State::refused;
    return "the master answered the proof of " + name_ + " out of order";
  }
  if (!m.accepted) {
    state_ = State::refused;
    return "the master refused " + name_ + ": " + m.reason;
  }
  state_ = State::done;
  return std::nullopt;
}

HandshakeResponder::HandshakeResponder(std::string secret, Nonce nonce) : secret_(std::move(secret)), nonce_(nonce) {}

HandshakeMessage HandshakeResponder::refuse(std::string why) {
  state_ = State::refused;
  HandshakeMessage m;
  m.kind = HandshakeMessage::Kind::verdict;
  m.reason = std::move(why);
  return m;
}

HandshakeMessage HandshakeResponder::on_hello(const HandshakeMessage& m) {
  if (state_ != State::awaiting_hello || m.kind != HandshakeMessage::Kind::hello)
    return refuse("a connection must start with a hello");
  if (m.protocol != cluster_protocol)
    return refuse("'" + m.name + "' speaks cluster protocol " + std::to_string(m.protocol) + ", this master " +
                  std::to_string(cluster_protocol) + ": run the same Sluice version on every host");
  role_ = m.role;
  name_ = m.name;
  peer_nonce_ = m.nonce;
  state_ = State::awaiting_proof;
  HandshakeMessage out;
  out.kind = HandshakeMessage::Kind::challenge;
  out.nonce = nonce_;
  out.proof = master_proof(secret_, peer_nonce_, nonce_);
  return out;
}

HandshakeMessage HandshakeResponder::on_proof(const HandshakeMessage& m) {
  if (state_ != State::awaiting_proof || m.kind != HandshakeMessage::Kind::proof)
    return refuse("a proof must follow the challenge");
  if (!same(m.proof, peer_proof(secret_, role_, name_, nonce_, peer_nonce_)))
    return refuse(std::string(role_name(role_)) + " '" + name_ +
                  "' does not hold the master's secret (a wrong --secret-file on one side)");
  state_ = State::done;
  HandshakeMessage out;
  out.kind = HandshakeMessage::Kind::verdict;
  out.accepted = true;
  return out;
}

}  // namespace sluice::runtime
