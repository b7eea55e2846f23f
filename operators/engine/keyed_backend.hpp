// operators/engine/keyed_backend.hpp — the engine's side of a keyed state backend: snapshots for checkpoints and savepoints, restores, a backend's own files (not installed: jobs never compile against it).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/state.hpp"

namespace sluice {

/// Keyed state as a checkpoint holds it: the backend-independent form, or instead of its
/// entries a backend's own files (RocksDB's incremental checkpoints). Large immutable files
/// are stored once in the checkpoint storage's shared area and referenced by every checkpoint
/// that contains them; small ones are inline. Only the backend that wrote them reads them back.
struct BackendSnapshot : KeyedStateSnapshot {
  struct File {
    std::string name;       ///< its name in the backend's directory (000012.sst, MANIFEST-000005)
    std::string shared;     ///< its name in the shared area; empty: the file is inline in `bytes`
    uint64_t size = 0;      ///< of a shared file
    uint64_t checksum = 0;  ///< of a shared file (FNV-1a 64)
    std::string bytes;
    std::string path;    ///< on restore: where the shared file is (set by the runtime)
    bool fresh = false;  ///< this snapshot copied the shared file (not kept in checkpoints)
    bool operator==(const File&) const = default;
  };
  std::vector<File> files;
  /// More entries, already in the file's form (a heap checkpoint writes them so, not as
  /// Entry objects); a snapshot's entries are these and `entries`.
  EntryWriter encoded;

  BackendSnapshot() = default;
  /// The same state, without files.
  explicit BackendSnapshot(KeyedStateSnapshot s) : KeyedStateSnapshot(std::move(s)) {}
};

/// What a checkpoint asks of a keyed state backend.
struct SnapshotRequest {
  int64_t checkpoint_id = 0;
  int max_parallelism = default_max_parallelism;
  /// Checkpoints may be incremental; savepoints never are (they hold entries, which any
  /// backend restores at any parallelism).
  bool incremental = false;
  /// Copies the file at `local_path` durably into the checkpoint storage's shared area under
  /// `name` (replacing a file of that name, which has the same bytes: names identify files)
  /// and returns its size and checksum. Called on the I/O executor.
  std::function<std::pair<uint64_t, uint64_t>(const std::string& local_path, const std::string& name)> share;
};

/// What every real backend is besides the state handles' view of it: the current key as set,
/// processing time from a function, snapshots and restores. Views over another backend (a
/// window's scope) are plain KeyedStateBackends and never snapshot.
class CheckpointableBackend : public KeyedStateBackend {
 public:
  explicit CheckpointableBackend(std::function<int64_t()> now) : now_(std::move(now)) {}
  void set_current_key(std::string_view key_bytes, int key_group) override {
    key_.assign(key_bytes.data(), key_bytes.size());
    key_group_ = key_group;
  }
  const std::string& current_key() const override { return key_; }
  int current_key_group() const override { return key_group_; }
  int64_t now() const override { return now_(); }

  /// Every entry and timer, in the backend-independent form.
  KeyedStateSnapshot snapshot(int max_parallelism);
  /// A snapshot in two parts, for checkpoints: this call is the synchronous part (on the
  /// task's thread); the returned function finishes it on the I/O executor while the task
  /// goes on processing. The default copies everything now; RocksDB pins a DB snapshot and
  /// reads it later.
  using DeferredSnapshot = std::function<BackendSnapshot()>;
  virtual DeferredSnapshot snapshot_deferred(const SnapshotRequest& request);
  /// Checkpoint `id` completed: files it shares may be referenced by the next ones.
  virtual void notify_checkpoint_complete(int64_t id) { (void)id; }
  /// Adds the entries and timers of `s` whose key groups are in `range` (a subtask's share
  /// after rescaling); `from` is the key-group range of the subtask that wrote `s`. Call
  /// before the operator opens its state.
  void restore(const BackendSnapshot& s, KeyGroupRange range, KeyGroupRange from);
  /// States opened so far, and states restored but not opened, with their fingerprints.
  std::vector<std::pair<std::string, std::string>> fingerprints() const;

 protected:
  virtual void snapshot_entries(int max_parallelism, std::vector<KeyedStateSnapshot::Entry>& out) = 0;
  virtual void restore_entries(std::vector<KeyedStateSnapshot::Entry> entries) = 0;
  /// Restores a backend's own files (an incremental RocksDB checkpoint).
  virtual void restore_files(const std::vector<BackendSnapshot::File>& files, KeyGroupRange range, KeyGroupRange from);

 private:
  std::function<int64_t()> now_;
  std::string key_;
  int key_group_ = 0;
};

/// BATCH's backend for a keyed operator on sorted input (Flink's BatchExecutionKeyedStateBackend):
/// heap tables that hold one key's state at a time, all of it filed under key group 0, and
/// `clear()` between two keys. Never snapshotted: BATCH does not checkpoint.
class BatchKeyedBackend : public CheckpointableBackend {
 public:
  using CheckpointableBackend::CheckpointableBackend;
  /// Drops every entry and timer: the key they belong to is done.
  virtual void clear() = 0;
};
std::unique_ptr<BatchKeyedBackend> make_batch_keyed_backend(std::function<int64_t()> now);

/// The heap backend (make_heap_backend) as the engine uses it.
std::unique_ptr<CheckpointableBackend> make_heap_keyed_backend(std::function<int64_t()> now);

}  // namespace sluice
