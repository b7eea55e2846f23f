// actors/connection.hpp — a cluster control connection: length-framed Cap'n Proto messages over an nng byte stream (TCP), with size limits, timeouts and the authenticating handshake.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/control.hpp"
#include "actors/handshake.hpp"

struct nng_stream;
struct nng_stream_listener;

namespace sluice::runtime {

/// The largest message a connection takes before the peer has authenticated (handshake
/// messages are small) and after (a job library travels in one message); a frame announcing
/// more is refused before anything is allocated for it.
inline constexpr size_t max_handshake_message_bytes = 64u << 10;
inline constexpr size_t max_control_message_bytes = 512u << 20;

/// One connection. Each message travels as its byte length (4 bytes, little-endian, a
/// multiple of 8) and the message's words. Any thread may send (each message is written whole,
/// one sender at a time); one thread receives.
class Connection {
 public:
  explicit Connection(nng_stream* stream, std::string peer);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Throws NetworkError with a sentence naming the peer when the stream fails or times out.
  void send(const ControlBuffer& message, std::chrono::milliseconds timeout);
  /// The next message; nothing when `timeout` passed before it began or the peer closed
  /// (then closed() holds). A message once begun must arrive whole within
  /// `frame_timeout`. Throws DecodeError when the peer announces a frame over the limit or
  /// not of whole words, or stalls or hangs up inside one, and NetworkError when the stream fails.
  std::optional<ControlBuffer> receive(std::chrono::milliseconds timeout);
  /// The peer closed the connection (or it broke).
  bool closed() const { return closed_; }
  /// The largest message receive() takes: max_handshake_message_bytes until the handshake
  /// succeeded, then max_control_message_bytes.
  void set_max_message_bytes(size_t n) { max_bytes_ = n; }
  /// Sends raw bytes, bypassing the framing: for tests that play a broken peer.
  void send_raw(const std::string& bytes, std::chrono::milliseconds timeout);
  /// Sends `a` then `b` as one write, without copying either (the data plane's header and frame).
  void send_parts(const void* a, size_t a_size, const void* b, size_t b_size, std::chrono::milliseconds timeout);
  /// Sends every part in order as one gather write, copying none (several envelopes at once).
  void send_gather(const std::vector<std::pair<const void*, size_t>>& parts, std::chrono::milliseconds timeout);
  /// Reads exactly `size` bytes into `into`, with receive()'s rules: false when `timeout`
  /// passed before the first byte or the peer closed; the rest must follow within frame_timeout.
  bool read_exactly(void* into, size_t size, std::chrono::milliseconds timeout);
  void close();
  /// Who is at the other end: the address dialed or accepted from.
  const std::string& peer() const { return peer_; }

 private:
  nng_stream* stream_;
  std::string peer_;
  std::atomic<bool> closed_{false};
  std::mutex send_mu_;
  size_t max_bytes_ = max_handshake_message_bytes;
};

/// How long the rest of a begun message may take to arrive.
inline constexpr std::chrono::milliseconds frame_timeout{10'000};

/// A failure of the network itself (refused, reset, timed out), in one sentence.
struct NetworkError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Connects to `host:port` over TCP.
std::unique_ptr<Connection> dial(const std::string& host_port, std::chrono::milliseconds timeout);

/// Whether `host` names this machine only (the rule for listening without a secret).
inline bool loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

/// Accepts connections on `host:port` (port 0: a free one, see port()).
class Listener {
 public:
  explicit Listener(const std::string& host_port);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  int port() const { return port_; }
  /// The next connection, or null when `timeout` passed first.
  std::unique_ptr<Connection> accept(std::chrono::milliseconds timeout);

 private:
  nng_stream_listener* listener_ = nullptr;
  int port_ = 0;
};

/// The agent's or client's side of the handshake on a fresh connection: returns once the
/// master accepted; throws AuthenticationError with the sentence either side gave.
void authenticate_to_master(Connection& c, const std::string& secret, PeerRole role, const std::string& name,
                            std::chrono::milliseconds timeout);
/// The master's side: the peer's role and name once it proved the secret; otherwise the
/// refusal is sent and AuthenticationError thrown. Nothing but handshake messages is read.
std::pair<PeerRole, std::string> authenticate_peer(Connection& c, const std::string& secret,
                                                   std::chrono::milliseconds timeout);

struct AuthenticationError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace sluice::runtime
