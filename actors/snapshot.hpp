// actors/snapshot.hpp — what one subtask writes for a checkpoint: each operator's state and the channel state of unaligned checkpoints, as bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "actors/frame.hpp"
#include "sluice/state.hpp"

namespace sluice::runtime {

/// One operator of the chain.
struct OperatorSnapshot {
  std::string operator_id;
  bool keyed = false;
  KeyedStateSnapshot keyed_state;
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

}  // namespace sluice::runtime
