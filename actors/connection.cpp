// actors/connection.cpp — framed control messages over nng byte streams, and the handshake run over them.
#include "actors/connection.hpp"

#include <nng/nng.h>

#include <algorithm>

#include "sluice/error.hpp"

namespace sluice::runtime {

namespace {

/// One nng aio, freed with its scope.
struct Aio {
  nng_aio* aio = nullptr;
  Aio() {
    if (int rv = nng_aio_alloc(&aio, nullptr, nullptr); rv != 0)
      throw NetworkError(std::string("cannot allocate an nng aio: ") + nng_strerror(rv));
  }
  ~Aio() { nng_aio_free(aio); }
  Aio(const Aio&) = delete;
  Aio& operator=(const Aio&) = delete;
  /// Waits for the operation started on it (bounded by the aio's timeout); its nng result.
  int wait() {
    nng_aio_wait(aio);
    return nng_aio_result(aio);
  }
};

std::string url_of(const std::string& host_port) { return "tcp://" + host_port; }

}  // namespace

Connection::Connection(nng_stream* stream, std::string peer) : stream_(stream), peer_(std::move(peer)) {
  // Small messages (credits, heartbeats) go at once: with Nagle's algorithm a credit waits for
  // the peer's delayed acknowledgement, and a credit-bound channel crawls (measured 4x slower).
  nng_stream_set_bool(stream_, NNG_OPT_TCP_NODELAY, true);
}

Connection::~Connection() {
  close();
  nng_stream_free(stream_);
}

void Connection::close() { nng_stream_close(stream_); }

bool Connection::read_exactly(void* into, size_t size, std::chrono::milliseconds timeout) {
  auto* p = static_cast<uint8_t*>(into);
  const size_t total = size;
  Aio a;
  while (size > 0) {
    bool begun = size < total;
    nng_aio_set_timeout(a.aio, nng_duration((begun ? frame_timeout : timeout).count()));
    nng_iov iov{p, size};
    nng_aio_set_iov(a.aio, 1, &iov);
    nng_stream_recv(stream_, a.aio);
    int rv = a.wait();
    if (rv == NNG_ETIMEDOUT && !begun) return false;
    if (rv == NNG_ETIMEDOUT)
      throw DecodeError("malformed frame from " + peer_ + ": it stalled " + std::to_string(frame_timeout.count()) +
                        " ms inside a message");
    if (rv == NNG_ECLOSED || rv == NNG_ECONNSHUT || rv == NNG_ECONNRESET || (rv == 0 && nng_aio_count(a.aio) == 0)) {
      closed_ = true;
      return false;
    }
    if (rv != 0) throw NetworkError("reading from " + peer_ + " failed: " + nng_strerror(rv));
    size_t got = nng_aio_count(a.aio);
    p += got;
    size -= got;
  }
  return true;
}

void Connection::send(const ControlBuffer& message, std::chrono::milliseconds timeout) {
  size_t bytes = message.size() * sizeof(uint64_t);
  if (bytes > max_control_message_bytes)
    throw NetworkError("a control message of " + std::to_string(bytes) + " bytes to " + peer_ +
                       " is over the limit of " + std::to_string(max_control_message_bytes));
  uint8_t head[4];
  for (int i = 0; i < 4; ++i) head[i] = uint8_t((bytes >> (8 * i)) & 0xff);
  send_parts(head, sizeof head, message.data(), bytes, timeout);  // the message's words, not a copy
}

void Connection::send_parts(const void* a, size_t a_size, const void* b, size_t b_size,
                            std::chrono::milliseconds timeout) {
  send_gather({{a, a_size}, {b, b_size}}, timeout);
}

void Connection::send_gather(const std::vector<std::pair<const void*, size_t>>& parts, std::chrono::milliseconds timeout) {
  std::lock_guard lock(send_mu_);
  Aio aio;
  nng_aio_set_timeout(aio.aio, nng_duration(timeout.count()));
  std::vector<nng_iov> rest;
  rest.reserve(parts.size());
  for (const auto& [data, size] : parts)
    if (size > 0) rest.push_back({const_cast<void*>(data), size});
  size_t first = 0;  // the first part not wholly sent
  while (first < rest.size()) {
    // nng's streams take at most 4 parts a call.
    auto n = unsigned(std::min<size_t>(rest.size() - first, 4));
    if (int rv = nng_aio_set_iov(aio.aio, n, rest.data() + first); rv != 0)
      throw NetworkError("sending to " + peer_ + " failed: " + nng_strerror(rv));
    nng_stream_send(stream_, aio.aio);
    if (int rv = aio.wait(); rv != 0) throw NetworkError("sending to " + peer_ + " failed: " + nng_strerror(rv));
    // After a partial send, go on from where it stopped.
    for (size_t sent = nng_aio_count(aio.aio); sent > 0 && first < rest.size();) {
      auto take = std::min(sent, rest[first].iov_len);
      rest[first].iov_buf = static_cast<uint8_t*>(rest[first].iov_buf) + take;
      rest[first].iov_len -= take;
      sent -= take;
      if (rest[first].iov_len == 0) ++first;
    }
  }
}

void Connection::send_raw(const std::string& bytes, std::chrono::milliseconds timeout) {
  send_parts(bytes.data(), bytes.size(), nullptr, 0, timeout);
}

std::optional<ControlBuffer> Connection::receive(std::chrono::milliseconds timeout) {
  uint8_t head[4];
  if (closed_ || !read_exactly(head, sizeof head, timeout)) return std::nullopt;
  size_t bytes = size_t(head[0]) | size_t(head[1]) << 8 | size_t(head[2]) << 16 | size_t(head[3]) << 24;
  if (bytes > max_bytes_)
    throw DecodeError("malformed frame from " + peer_ + ": it announces " + std::to_string(bytes) +
                      " bytes, over the limit of " + std::to_string(max_bytes_));
  if (bytes % sizeof(uint64_t) != 0)
    throw DecodeError("malformed frame from " + peer_ + ": " + std::to_string(bytes) +
                      " bytes is not a whole number of 8-byte words");
  ControlBuffer message(bytes / sizeof(uint64_t));
  if (bytes > 0 && !read_exactly(message.data(), bytes, frame_timeout))
    throw DecodeError("malformed frame from " + peer_ + ": the connection ended inside a message of " +
                      std::to_string(bytes) + " bytes");
  return message;
}

std::unique_ptr<Connection> dial(const std::string& host_port, std::chrono::milliseconds timeout) {
  nng_stream_dialer* d = nullptr;
  if (int rv = nng_stream_dialer_alloc(&d, url_of(host_port).c_str()); rv != 0)
    throw NetworkError("cannot dial '" + host_port + "': " + nng_strerror(rv));
  Aio a;
  nng_aio_set_timeout(a.aio, nng_duration(timeout.count()));
  nng_stream_dialer_dial(d, a.aio);
  int rv = a.wait();
  nng_stream_dialer_free(d);
  if (rv != 0) throw NetworkError("cannot connect to " + host_port + ": " + nng_strerror(rv));
  return std::make_unique<Connection>(static_cast<nng_stream*>(nng_aio_get_output(a.aio, 0)), host_port);
}

Listener::Listener(const std::string& host_port) {
  if (int rv = nng_stream_listener_alloc(&listener_, url_of(host_port).c_str()); rv != 0)
    throw NetworkError("cannot listen on '" + host_port + "': " + nng_strerror(rv));
  if (int rv = nng_stream_listener_listen(listener_); rv != 0) {
    nng_stream_listener_free(listener_);
    throw NetworkError("cannot listen on " + host_port + ": " + nng_strerror(rv));
  }
  nng_stream_listener_get_int(listener_, NNG_OPT_TCP_BOUND_PORT, &port_);
}

Listener::~Listener() {
  nng_stream_listener_close(listener_);
  nng_stream_listener_free(listener_);
}

std::unique_ptr<Connection> Listener::accept(std::chrono::milliseconds timeout) {
  Aio a;
  nng_aio_set_timeout(a.aio, nng_duration(timeout.count()));
  nng_stream_listener_accept(listener_, a.aio);
  int rv = a.wait();
  if (rv == NNG_ETIMEDOUT) return nullptr;
  if (rv != 0) throw NetworkError(std::string("accepting a connection failed: ") + nng_strerror(rv));
  auto* s = static_cast<nng_stream*>(nng_aio_get_output(a.aio, 0));
  std::string peer = "a peer";
  nng_sockaddr addr;
  if (nng_stream_get_addr(s, NNG_OPT_REMADDR, &addr) == 0 && addr.s_family == NNG_AF_INET) {
    auto ip = reinterpret_cast<const uint8_t*>(&addr.s_in.sa_addr);
    auto port = uint16_t((addr.s_in.sa_port >> 8) | (addr.s_in.sa_port << 8));
    peer = std::to_string(ip[0]) + "." + std::to_string(ip[1]) + "." + std::to_string(ip[2]) + "." +
           std::to_string(ip[3]) + ":" + std::to_string(port);
  }
  return std::make_unique<Connection>(s, peer);
}

namespace {
/// The next handshake message; a closed or silent connection, or bytes that are no
/// handshake message, end the handshake with a sentence.
HandshakeMessage next_handshake(Connection& c, std::chrono::milliseconds timeout, const std::string& waiting_for) {
  try {
    auto b = c.receive(timeout);
    if (!b)
      throw AuthenticationError(c.peer() + " sent no " + waiting_for + " (it closed the connection or took over " +
                                std::to_string(timeout.count()) + " ms)");
    return decode_handshake(*b);
  } catch (const DecodeError& e) {
    throw AuthenticationError(c.peer() + " sent no " + waiting_for + ": " + e.what());
  }
}
}  // namespace

void authenticate_to_master(Connection& c, const std::string& secret, PeerRole role, const std::string& name,
                            std::chrono::milliseconds timeout) {
  HandshakeInitiator me(secret, role, name, random_nonce());
  c.send(encode(me.hello()), timeout);
  auto answer = me.on_challenge(next_handshake(c, timeout, "challenge"));
  if (auto* why = std::get_if<std::string>(&answer)) {
    // Tell the master why before hanging up, so that both sides log the cause.
    HandshakeMessage refusal;
    refusal.kind = HandshakeMessage::Kind::verdict;
    refusal.reason = *why;
    try {
      c.send(encode(refusal), timeout);
    } catch (const NetworkError&) {
    }
    throw AuthenticationError(*why + " (master " + c.peer() + ")");
  }
  c.send(encode(std::get<HandshakeMessage>(answer)), timeout);
  if (auto why = me.on_verdict(next_handshake(c, timeout, "verdict")))
    throw AuthenticationError(*why + " (master " + c.peer() + ")");
  c.set_max_message_bytes(max_control_message_bytes);
}

std::pair<PeerRole, std::string> authenticate_peer(Connection& c, const std::string& secret,
                                                   std::chrono::milliseconds timeout) {
  HandshakeResponder master(secret, random_nonce());
  auto refuse = [&](const HandshakeMessage& verdict) {
    try {
      c.send(encode(verdict), timeout);
    } catch (const NetworkError&) {
      // The refusal is a courtesy; the connection is dropped either way.
    }
    throw AuthenticationError("refused " + c.peer() + ": " + verdict.reason);
  };
  auto challenge = master.on_hello(next_handshake(c, timeout, "hello"));
  if (master.refused()) refuse(challenge);
  c.send(encode(challenge), timeout);
  auto proof = next_handshake(c, timeout, "proof");
  if (proof.kind == HandshakeMessage::Kind::verdict && !proof.accepted)
    throw AuthenticationError("'" + master.peer_name() + "' at " + c.peer() + " hung up: " + proof.reason);
  auto verdict = master.on_proof(proof);
  if (master.refused()) refuse(verdict);
  c.send(encode(verdict), timeout);
  c.set_max_message_bytes(max_control_message_bytes);
  return {master.peer_role(), master.peer_name()};
}

}  // namespace sluice::runtime
