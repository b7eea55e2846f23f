// operators/src/keyed_backend.cpp — snapshots and restores common to every keyed state backend, and the public calls that reach them.
#include "operators/engine/keyed_backend.hpp"

namespace sluice {

KeyedStateSnapshot::Entry EntryWriter::read(ByteReader& r) {
  KeyedStateSnapshot::Entry e;
  e.state = Codec<std::string>::decode(r);
  e.key_group = Codec<int32_t>::decode(r);
  e.key = Codec<std::string>::decode(r);
  e.map = Codec<bool>::decode(r);
  e.user_key = Codec<std::string>::decode(r);
  e.value = Codec<std::string>::decode(r);
  return e;
}

std::vector<KeyedStateSnapshot::Entry> EntryWriter::entries() const {
  std::vector<KeyedStateSnapshot::Entry> out;
  out.reserve(count_);
  ByteReader r(bytes_.data(), bytes_.size());
  for (uint64_t i = 0; i < count_; ++i) out.push_back(read(r));
  return out;
}

KeyedStateSnapshot CheckpointableBackend::snapshot(int max_parallelism) {
  KeyedStateSnapshot s;
  snapshot_entries(max_parallelism, s.entries);
  s.fingerprints = fingerprints();
  s.event_timers = event_timers().all();
  s.processing_timers = processing_timers().all();
  return s;
}

CheckpointableBackend::DeferredSnapshot CheckpointableBackend::snapshot_deferred(const SnapshotRequest& request) {
  auto s = std::make_shared<BackendSnapshot>(snapshot(request.max_parallelism));
  return [s] { return std::move(*s); };
}

void CheckpointableBackend::restore(const BackendSnapshot& s, KeyGroupRange range, KeyGroupRange from) {
  if (!s.files.empty()) {
    if (range.overlaps(from)) restore_files(s.files, range, from);
  } else {
    std::vector<KeyedStateSnapshot::Entry> mine;
    for (const auto& e : s.entries)
      if (range.contains(e.key_group)) mine.push_back(e);
    for (auto& e : s.encoded.entries())
      if (range.contains(e.key_group)) mine.push_back(std::move(e));
    restore_entries(std::move(mine));
  }
  for (const auto& t : s.event_timers)
    if (range.contains(t.key_group)) event_timers().add(t);
  for (const auto& t : s.processing_timers)
    if (range.contains(t.key_group)) processing_timers().add(t);
  for (const auto& [name, fp] : s.fingerprints) restored_fingerprints_[name] = fp;
}

std::vector<std::pair<std::string, std::string>> CheckpointableBackend::fingerprints() const {
  std::map<std::string, std::string> all = restored_fingerprints_;
  for (const auto& [name, fp] : fingerprints_) all[name] = fp;
  return {all.begin(), all.end()};
}

void CheckpointableBackend::restore_files(const std::vector<BackendSnapshot::File>&, KeyGroupRange, KeyGroupRange) {
  throw JobError(
      "this checkpoint holds RocksDB files, which only the RocksDB state backend restores; "
      "restore it with --state-backend rocksdb, or restore from a savepoint");
}

namespace {
CheckpointableBackend& checkpointable(KeyedStateBackend& backend) {
  auto* b = dynamic_cast<CheckpointableBackend*>(&backend);
  if (!b) throw JobError("this keyed state backend is a view over another one and cannot take or restore snapshots");
  return *b;
}
}  // namespace

KeyedStateSnapshot snapshot_keyed_state(KeyedStateBackend& backend, int max_parallelism) {
  return checkpointable(backend).snapshot(max_parallelism);
}

void restore_keyed_state(KeyedStateBackend& backend, const KeyedStateSnapshot& s, KeyGroupRange range) {
  checkpointable(backend).restore(BackendSnapshot(s), range, range);
}

}  // namespace sluice
