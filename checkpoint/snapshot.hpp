// checkpoint/snapshot.hpp — what one subtask writes for a checkpoint: each operator's state and the channel state of unaligned checkpoints, as bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "operators/engine/keyed_backend.hpp"

namespace sluice::checkpoint {

/// Identifies a channel by what it connects, never by actor handle: (edge, producer subtask,
/// consumer subtask).
struct ChannelId {
  uint32_t edge = 0;
  uint32_t producer = 0;
  uint32_t consumer = 0;
  bool operator==(const ChannelId&) const = default;
  std::string describe() const;
};

/// In-flight records of one channel persisted by an unaligned checkpoint: (timestamp, bytes).
struct ChannelRecords {
  ChannelId channel;
  std::vector<std::pair<int64_t, std::string>> records;
};

/// One operator of the chain.
struct OperatorSnapshot {
  std::string operator_id;
  bool keyed = false;
  BackendSnapshot keyed_state;
  OperatorStateStore::Encoded lists;
  /// What OperatorBase::snapshot_state returned (a source's position, a sink's transactions).
  std::string custom;
};

/// One subtask's part of a checkpoint: the file `task-<t>-<s>` of `chk-<n>/`.
struct SubtaskSnapshot {
  int32_t parallelism = 0;
  std::vector<OperatorSnapshot> operators;
  /// Unaligned: records that arrived on a channel before its barrier and were not processed
  /// when the snapshot was taken.
  std::vector<ChannelRecords> inputs;
  /// Unaligned: records the barrier overtook in this subtask's output queues.
  std::vector<ChannelRecords> outputs;
};

std::string encode_snapshot(const SubtaskSnapshot& s);
/// Throws DecodeError naming `where` on bytes that are not a subtask snapshot.
SubtaskSnapshot decode_snapshot(std::string_view bytes, const std::string& where);

}  // namespace sluice::checkpoint
