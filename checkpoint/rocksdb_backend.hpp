// checkpoint/rocksdb_backend.hpp — the RocksDB keyed state backend: serialised state in an embedded store per operator subtask.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint/record_cache.hpp"
#include "operators/engine/keyed_backend.hpp"

namespace rocksdb {
class ColumnFamilyHandle;
}

namespace sluice::checkpoint {

/// Keeps keyed state as bytes in one RocksDB instance per keyed operator subtask; the state
/// handles compose keys (key group first) and encode values with the records' codecs.
///
/// The instance lives in a fresh working directory under the base directory given at
/// construction, and that directory is removed with the backend: RocksDB's files are a
/// per-run working copy, never checkpoint files (checkpoints provide durability, so writes
/// skip RocksDB's write-ahead log). A restore copies the checkpoint's files in.
///
/// Checkpoints are incremental: each one is a native RocksDB checkpoint whose SST files are
/// copied into the checkpoint storage's shared area (as `<instance>-<file>`) only when the
/// newest completed checkpoint did not already share them (SST files never change once
/// written), so a checkpoint costs what was flushed or compacted since that one. Each named state is its own column family, created on
/// first use. Every RocksDB failure becomes a JobError naming the directory and the state.
/// Reads and writes go through a record cache of `cache_bytes` (RecordCache): hot keys
/// cost no RocksDB call, and writes reach RocksDB in batches, all before any scan or snapshot.
/// Not thread-safe: one subtask's thread uses it.
class RocksDbKeyedStateBackend final : public CheckpointableBackend, public ByteStore {
 public:
  /// Opens a new, empty store in a new directory under `base_dir` (created if missing).
  /// `now` gives processing time in ms (for TTL).
  RocksDbKeyedStateBackend(const std::string& base_dir, std::function<int64_t()> now,
                           size_t cache_bytes = default_cache_bytes);
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
  /// A RocksDB merge: list operands are joined on reads and compactions.
  bool append(int space, std::string_view key, std::string_view items) override;

  /// Incremental checkpoints: a RocksDB checkpoint now, whose new SST files the returned
  /// function shares (on another thread). Savepoints: pins a RocksDB snapshot now; the
  /// returned function reads it into entries.
  DeferredSnapshot snapshot_deferred(const SnapshotRequest& request) override;
  void notify_checkpoint_complete(int64_t id) override;
  /// RocksDB's own estimates (estimate-num-keys, and estimate-live-data-size plus the
  /// memtables), plus what the record cache has not written yet.
  Size size() const override;

  /// The working directory of this instance (removed on destruction).
  const std::filesystem::path& directory() const { return dir_; }

  /// Bytes of records the cache in front of RocksDB holds at most, per backend (keyed
  /// subtask), unless told otherwise (ExecutionConfig::rocksdb_record_cache).
  static constexpr size_t default_cache_bytes = 32 << 20;

 protected:
  void snapshot_entries(int max_parallelism, std::vector<KeyedStateSnapshot::Entry>& out) override;
  void restore_entries(std::vector<KeyedStateSnapshot::Entry> entries) override;
  void restore_files(const std::vector<BackendSnapshot::File>& files, KeyGroupRange range,
                     KeyGroupRange from) override;

 private:
  struct Store;
  /// SST files shared by a checkpoint, by their name in the store.
  using SharedFiles = std::map<std::string, BackendSnapshot::File>;
  DeferredSnapshot incremental_snapshot(const SnapshotRequest& request);
  /// A local checkpoint from its synchronous part until its files are listed (Cut, in the
  /// .cpp): the newest write it covers and the memtables it sealed.
  struct Cut;
  /// The synchronous part of a RocksDB checkpoint of the store into `to`: seals the memtables
  /// (writes skip the log, so they must reach SST files), has them flushed in the background
  /// and starts the cut's lister thread (list_local_checkpoint).
  std::shared_ptr<Cut> start_local_checkpoint(const std::filesystem::path& to, int64_t id);
  /// The lister: waits for that flush, then hard-links the SST files into `to`. Throws when
  /// later writes reached an SST file first.
  static void list_local_checkpoint(Store& store, Cut& cut, const std::filesystem::path& to, int64_t id);
  /// Before writing `bytes` to RocksDB: while a cut is not listed yet, a write that may seal a
  /// memtable waits for it (that memtable would be flushed into the files listed).
  void before_write(size_t bytes);
  /// Writes what the cache has batched (evicted or flushed dirty records) to RocksDB.
  void commit();
  /// Flushes the cache's dirty records to RocksDB: before anything reads RocksDB itself.
  void flush_cache();

  std::filesystem::path dir_;              // the working directory: db/, chk-<n>/, full-<n>-<k>/, restore-<n>/
  std::shared_ptr<Store> store_;           // shared with deferred snapshots still reading it
  std::string token_;                      // makes this instance's shared file names unique
  std::map<int64_t, std::shared_ptr<const SharedFiles>> pending_;  // by checkpoint id, filled on the I/O executor
  std::shared_ptr<const SharedFiles> confirmed_;  // of the newest completed checkpoint
  bool restored_ = false;
  int restores_ = 0;
  int next_local_ = 0;  // makes full snapshots' local checkpoint directories unique
  RecordCache cache_;   // writes into the store's batch; commit() applies it
  std::weak_ptr<Cut> cut_;  // the newest local checkpoint, while its asynchronous part may use it
};

/// Makes the RocksDB backend: state as bytes in an embedded store in a new working directory
/// under `base_dir`, removed with the backend. `now` gives processing time. The engine picks
/// it from ExecutionConfig::state_backend; a job never names it.
std::unique_ptr<CheckpointableBackend> make_rocksdb_backend(
    const std::string& base_dir, std::function<int64_t()> now,
    size_t cache_bytes = RocksDbKeyedStateBackend::default_cache_bytes);

/// Bounds the memory of every RocksDB store of the process (ExecutionConfig::rocksdb_memory):
/// block cache, index and filter blocks and memtables share `budget` bytes, memtables at most
/// half of it. Process-wide, as Flink's managed memory is per task manager: stores opened from
/// now on take it, whichever job they belong to; a budget set again resizes it for all of
/// them; 0 changes nothing. Stores opened before the first budget keep the 64 MiB block cache
/// and their memtables stay uncounted.
void set_rocksdb_memory(uint64_t budget);
/// What the process's RocksDB memory holds now: the budget (0: none), the block cache's
/// capacity and usage (memtables charged to it included), and the memtables' usage and limit.
struct RocksDbMemory {
  uint64_t budget = 0, cache_capacity = 0, cache_usage = 0, memtable_usage = 0, memtable_limit = 0;
};
RocksDbMemory rocksdb_memory();

}  // namespace sluice::checkpoint
