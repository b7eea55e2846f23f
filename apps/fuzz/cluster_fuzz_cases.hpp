// apps/fuzz/cluster_fuzz_cases.hpp — attacks on a cluster port (the master's control port or an agent's data port), one connection each, and the check that the port still authenticates a genuine peer.
#pragma once

#include <chrono>
#include <random>
#include <string>

namespace sluice::fuzz {

enum class Attack {
  random_bytes,        ///< up to 3000 random bytes, then hang up
  oversized,           ///< a length prefix far over any limit
  truncated,           ///< a genuine hello cut short
  replayed_handshake,  ///< a genuine session's hello and proof, sent again on a new connection
  garbage_after_auth,  ///< authenticated with the secret, then a frame of random words
};
inline constexpr int attack_kinds = 5;
const char* attack_name(Attack a);

/// Carries out `a` on `address` (host:port); `secret` is the cluster's (for the attacks that
/// need a genuine peer's part). Returns what the target answered, in words, for the log:
/// network errors are the target's answer, not the attacker's failure.
std::string attack(const std::string& address, Attack a, std::mt19937_64& rng, const std::string& secret,
                   std::chrono::milliseconds timeout);

/// True when `address` completes a genuine handshake with `secret` (role agent, as both the
/// master's and the agents' ports take).
bool still_serves(const std::string& address, const std::string& secret, std::chrono::milliseconds timeout,
                  std::string* why = nullptr);

}  // namespace sluice::fuzz
