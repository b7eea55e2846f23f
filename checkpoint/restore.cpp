// checkpoint/restore.cpp — reading a checkpoint back and checking that it fits the job.
#include "restore.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sluice/error.hpp"

namespace sluice::checkpoint {

namespace {
std::string read_verified(const std::filesystem::path& p, const checkpoint::FileRef& f) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw checkpoint::CheckpointError("checkpoint file '" + p.string() + "' is missing");
  std::ostringstream s;
  s << in.rdbuf();
  auto bytes = s.str();
  if (bytes.size() != f.size || checkpoint::fnv1a64(bytes.data(), bytes.size()) != f.checksum)
    throw checkpoint::CheckpointError("checkpoint file '" + p.string() + "' is corrupt: its checksum does not match");
  return bytes;
}
}  // namespace

std::shared_ptr<const RestoreState> read_restore_state(const checkpoint::CheckpointMetadata& m,
                                                       const std::string& dir, const JobGraph& graph) {
  auto out = std::make_shared<RestoreState>();
  out->checkpoint_id = m.checkpoint_id;
  out->path = dir;
  const auto& cfg = graph.config;
  if (int(m.max_parallelism) != cfg.max_parallelism)
    throw JobError("checkpoint '" + dir + "' was taken with max parallelism " + std::to_string(m.max_parallelism) +
                   ", but job '" + graph.name + "' has " + std::to_string(cfg.max_parallelism) +
                   " (key groups cannot be remapped)");
  auto ids = graph.operator_ids();
  std::map<std::string, int> node_of;
  for (size_t i = 0; i < ids.size(); ++i) node_of[ids[i]] = int(i);

  std::map<std::string, SubtaskSnapshot> files;  // each file once
  for (const auto& op : m.operators) {
    auto node = node_of.find(op.operator_id);
    if (node == node_of.end()) {
      if (op.files.empty() && op.finished_subtasks.empty()) continue;
      if (cfg.checkpoint.allow_non_restored_state) continue;
      throw JobError("checkpoint '" + dir + "' holds state of operator '" + op.name + "' (id " + op.operator_id +
                     "), which job '" + graph.name +
                     "' does not have (give operators a stable uid, or pass --allow-non-restored-state)");
    }
    RestoredOperator r;
    r.name = op.name;
    r.parallelism = int(op.parallelism);
    r.subtasks.resize(op.parallelism);
    r.inputs.resize(op.parallelism);
    r.outputs.resize(op.parallelism);
    for (const auto& f : op.files) {
      if (f.subtask >= op.parallelism)
        throw checkpoint::CheckpointError("checkpoint '" + dir + "' names subtask " + std::to_string(f.subtask) +
                                          " of operator '" + op.name + "', which has parallelism " +
                                          std::to_string(op.parallelism));
      auto it = files.find(f.path);
      if (it == files.end()) {
        auto p = std::filesystem::path(dir) / f.path;
        it = files.emplace(f.path, decode_snapshot(read_verified(p, f), p.string())).first;
        for (auto& o : it->second.operators)
          for (auto& kf : o.keyed_state.files)
            if (!kf.shared.empty()) kf.path = checkpoint::layout::shared_path(dir, kf.shared).string();
      }
      const auto& snap = it->second;
      for (size_t i = 0; i < snap.operators.size(); ++i) {
        if (snap.operators[i].operator_id != op.operator_id) continue;
        r.subtasks[f.subtask] = snap.operators[i];
        if (i == 0) {
          r.inputs[f.subtask] = snap.inputs;
          r.outputs[f.subtask] = snap.outputs;
        }
      }
    }
    bool channel_state = false;
    for (uint32_t s = 0; s < op.parallelism; ++s) {
      bool finished = std::find(op.finished_subtasks.begin(), op.finished_subtasks.end(), s) != op.finished_subtasks.end();
      if (!r.subtasks[s] && !finished)
        throw checkpoint::CheckpointError("checkpoint '" + dir + "' lacks subtask " + std::to_string(s + 1) + " of operator '" +
                                          op.name + "'");
      channel_state |= !r.inputs[s].empty() || !r.outputs[s].empty();
    }
    int now = graph.parallelism_of(node->second);
    bool ended = op.finished_subtasks.size() == op.parallelism;
    if (graph.nodes[size_t(node->second)].is_source && now != r.parallelism && !ended)
      throw JobError("checkpoint '" + dir + "' holds the position of source '" + op.name + "' at parallelism " +
                     std::to_string(r.parallelism) + ", which cannot resume at " + std::to_string(now) +
                     " (give the source a fixed parallelism)");
    if (channel_state && now != r.parallelism)
      throw JobError("checkpoint '" + dir + "' holds in-flight data (unaligned) of operator '" + op.name +
                     "' at parallelism " + std::to_string(r.parallelism) + ", which cannot be restored at " +
                     std::to_string(now) + "; rescale from an aligned checkpoint or a savepoint");
    out->operators.emplace(op.operator_id, std::move(r));
  }
  return out;
}

}  // namespace sluice::checkpoint
