// operators/include/sluice/hash.hpp — murmur3 over key bytes, key groups and their subtask ranges.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice {

/// MurmurHash3 x86_32 (Austin Appleby's reference algorithm) over bytes: the one hash that
/// decides where keys live. Never std::hash, whose values differ between builds.
uint32_t murmur3_32(const void* data, size_t len, uint32_t seed = 0);

/// Default number of key groups, the upper bound of a keyed operator's parallelism.
inline constexpr int default_max_parallelism = 128;

/// The key group of a key's encoded bytes: murmur3(bytes) mod max_parallelism.
inline int key_group_of(std::string_view key_bytes, int max_parallelism) {
  return int(murmur3_32(key_bytes.data(), key_bytes.size()) % uint32_t(max_parallelism));
}

/// The subtask that owns a key group; each subtask owns a contiguous range (as Flink).
inline int subtask_for_key_group(int key_group, int max_parallelism, int parallelism) {
  return int(int64_t(key_group) * parallelism / max_parallelism);
}

/// The first and one-past-last key group owned by `subtask`.
struct KeyGroupRange {
  int first = 0;
  int end = 0;
  bool contains(int kg) const { return kg >= first && kg < end; }
  bool overlaps(const KeyGroupRange& o) const { return first < o.end && o.first < end; }
  bool operator==(const KeyGroupRange&) const = default;
};
inline KeyGroupRange key_group_range(int subtask, int max_parallelism, int parallelism) {
  auto start = (int64_t(subtask) * max_parallelism + parallelism - 1) / parallelism;
  auto stop = (int64_t(subtask + 1) * max_parallelism + parallelism - 1) / parallelism;
  return {int(start), int(stop)};
}

}  // namespace sluice
