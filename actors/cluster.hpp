// actors/cluster.hpp — the messages between agents, clients and the master after the handshake (registration, heartbeats, job libraries) as values, and their wire form (actors/cluster.capnp).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "actors/control.hpp"

namespace sluice::runtime {

struct ClusterMessage {
  enum class Kind {
    register_agent,
    registered,
    heartbeat,
    refused,
    upload_library,
    library_stored,
    fetch_library,
    library
  } kind = Kind::heartbeat;
  int32_t slots = 0;                  ///< register_agent: at least 1
  std::string data_address;           ///< register_agent: host:port of its data plane
  int64_t heartbeat_interval_ms = 0;  ///< registered
  int64_t heartbeat_timeout_ms = 0;   ///< registered
  std::string reason;                 ///< refused
  std::string hash;                   ///< library_stored, fetch_library: SHA-256, 64 hex digits
  std::string bytes;                  ///< upload_library, library: the job library
  bool operator==(const ClusterMessage&) const = default;

  static ClusterMessage registration(int32_t slots, std::string data_address) {
    ClusterMessage m;
    m.kind = Kind::register_agent;
    m.slots = slots;
    m.data_address = std::move(data_address);
    return m;
  }
  static ClusterMessage registered_with(int64_t interval_ms, int64_t timeout_ms) {
    ClusterMessage m;
    m.kind = Kind::registered;
    m.heartbeat_interval_ms = interval_ms;
    m.heartbeat_timeout_ms = timeout_ms;
    return m;
  }
  static ClusterMessage refusal(std::string reason) {
    ClusterMessage m;
    m.kind = Kind::refused;
    m.reason = std::move(reason);
    return m;
  }
  /// upload_library or library, with the library's bytes.
  static ClusterMessage with_library(Kind kind, std::string bytes) {
    ClusterMessage m;
    m.kind = kind;
    m.bytes = std::move(bytes);
    return m;
  }
  /// library_stored or fetch_library, with the library's hash.
  static ClusterMessage with_hash(Kind kind, std::string hash) {
    ClusterMessage m;
    m.kind = kind;
    m.hash = std::move(hash);
    return m;
  }
};

ControlBuffer encode(const ClusterMessage& m);
/// Throws DecodeError with one sentence when `b` is not a well-formed cluster message (a
/// registration of fewer than one slot, a heartbeat interval not below its timeout).
ClusterMessage decode_cluster(const ControlBuffer& b);

}  // namespace sluice::runtime
