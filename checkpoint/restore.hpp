// checkpoint/restore.hpp — a checkpoint or savepoint read back for a job: each operator's state by old subtask, matched to the job's operators by id.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/snapshot.hpp"
#include "checkpoint/storage.hpp"
#include "sluice/graph.hpp"

namespace sluice::checkpoint {

/// One operator's state at the restored checkpoint.
struct RestoredOperator {
  std::string name;
  int parallelism = 0;
  /// By old subtask; empty for a subtask that had finished (FLIP-147).
  std::vector<std::optional<OperatorSnapshot>> subtasks;
  /// Channel state of the chain this operator headed, by old subtask (unaligned checkpoints).
  std::vector<std::vector<ChannelRecords>> inputs, outputs;
};

/// What a job starts from.
struct RestoreState {
  uint64_t checkpoint_id = 0;
  std::string path;
  std::map<std::string, RestoredOperator> operators;  ///< by operator id
};

/// What a run starts from when it recovers but no checkpoint is usable: nothing is restored,
/// and the operators see checkpoint 0 as the one they resume from (sinks roll back all).
inline std::shared_ptr<const RestoreState> from_scratch() { return std::make_shared<RestoreState>(); }

/// Reads checkpoint `m` (loaded from directory `dir`) for `graph`: every file is verified and
/// decoded. Throws JobError with one sentence when the checkpoint does not fit the job: another
/// max parallelism, state of an operator the job does not have (unless
/// `allow_non_restored_state`), or in-flight data of an operator whose parallelism changed.
std::shared_ptr<const RestoreState> read_restore_state(const checkpoint::CheckpointMetadata& m,
                                                       const std::string& dir, const JobGraph& graph);

}  // namespace sluice::checkpoint
