// checkpoint/rocksdb_backend.hpp — the RocksDB keyed state backend: serialised state in an embedded store per operator subtask.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "sluice/state.hpp"

namespace sluice::checkpoint {

/// Keeps keyed state as bytes in one RocksDB instance per keyed operator subtask; the state
/// handles compose keys (key group first) and encode values with the records' codecs.
///
/// The instance lives in a fresh working directory under the base directory given at
/// construction, and that directory is removed with the backend: RocksDB's files are a
/// per-run working copy, never checkpoint files (checkpoints provide durability, so writes
/// skip RocksDB's write-ahead log). Each named state is its own column family, created on
/// first use. Every RocksDB failure becomes a JobError naming the directory and the state.
/// Not thread-safe: one subtask's thread uses it.
class RocksDbKeyedStateBackend final : public StoringKeyedStateBackend, public ByteStore {
 public:
  /// Opens a new, empty store in a new directory under `base_dir` (created if missing).
  /// `now` gives processing time in ms (for TTL).
  RocksDbKeyedStateBackend(const std::string& base_dir, std::function<int64_t()> now);
  /// Closes the store without flushing and removes its working directory.
  ~RocksDbKeyedStateBackend() override;
  RocksDbKeyedStateBackend(const RocksDbKeyedStateBackend&) = delete;
  RocksDbKeyedStateBackend& operator=(const RocksDbKeyedStateBackend&) = delete;

  // KeyedStateBackend
  /// Always null: this backend never keeps objects.
  StateTable* heap_table(const std::string& name,
                         const std::function<std::unique_ptr<StateTable>()>& make) override;
  ByteStore* byte_store() override { return this; }

  // ByteStore (snapshot/restore below)
  int keyspace(const std::string& name) override;
  std::optional<std::string> get(int space, std::string_view key) override;
  void put(int space, std::string_view key, std::string_view value) override;
  void remove(int space, std::string_view key) override;
  void scan(int space, std::string_view prefix,
            const std::function<void(std::string_view, std::string_view)>& fn) override;

  /// Pins a RocksDB snapshot now; the returned function reads it (on another thread).
  DeferredSnapshot snapshot_deferred(int max_parallelism) override;

  /// The working directory of this instance (removed on destruction).
  const std::filesystem::path& directory() const { return dir_; }

 protected:
  void snapshot_entries(int max_parallelism, std::vector<KeyedStateSnapshot::Entry>& out) override;
  void restore_entries(std::vector<KeyedStateSnapshot::Entry> entries) override;

 private:
  struct Store;
  std::filesystem::path dir_;
  std::shared_ptr<Store> store_;  // shared with deferred snapshots still reading it
};

}  // namespace sluice::checkpoint
