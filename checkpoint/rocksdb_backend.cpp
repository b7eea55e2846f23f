// checkpoint/rocksdb_backend.cpp — the RocksDB keyed state backend: options, column families, errors.
#include "rocksdb_backend.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <mutex>
#include <set>
#include <system_error>
#include <vector>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include "sluice/detail/state_impl.hpp"
#include "sluice/error.hpp"

namespace sluice::checkpoint {

namespace {

/// Block cache shared by every RocksDB backend of the process, so that memory for reads is
/// bounded once rather than per subtask and per state (RocksDB's default is an 8 MiB cache
/// per column family). 64 MiB: the hot set of these stores sits in memtables anyway.
std::shared_ptr<rocksdb::Cache> shared_block_cache() {
  static const std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(64 << 20);
  return cache;
}

rocksdb::DBOptions db_options() {
  rocksdb::DBOptions o;
  // Default false: the working directory is new and empty.
  o.create_if_missing = true;
  // Default false: when closing, RocksDB would flush memtables that the WAL does not cover;
  // the directory is removed right after, so that flush is wasted work.
  o.avoid_flush_during_shutdown = true;
  // Default INFO: RocksDB's LOG file in the working directory then records every flush and
  // compaction; warnings and errors are enough for a throwaway per-run store.
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // Default 1000 old info LOG files kept: one is enough in a store that lives for one run.
  o.keep_log_file_num = 1;
  return o;
}

rocksdb::ColumnFamilyOptions state_options() {
  rocksdb::ColumnFamilyOptions o;
  // Default 64 MiB: every named state of every keyed subtask has its own memtables (at most
  // max_write_buffer_number = 2 of them, the default), so keep each small. 8 MiB memtables
  // still absorb hot keys' repeated updates before a flush.
  o.write_buffer_size = 8 << 20;
  // Defaults false and 0: a whole-key Bloom filter over each memtable (10% of its size) lets
  // a get skip the memtables that do not hold the key; ~10% more get+put per second measured.
  o.memtable_whole_key_filtering = true;
  o.memtable_prefix_bloom_size_ratio = 0.1;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = shared_block_cache();
  // Default none: a 10-bit-per-key Bloom filter (~1% false positives) lets a get of a key
  // without state (a new key's first record) skip SST files without reading them.
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

/// The first key after every key that starts with `prefix`; empty when there is none (the
/// prefix is all 0xff bytes).
std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

rocksdb::Slice slice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view view(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

/// A new directory under `base` that no other backend (of this or another process) uses.
/// Removes working directories of processes that no longer run (killed with -9, say): they
/// are per-run copies that nothing will read again. Once per base directory and process.
void remove_stale_directories(const std::string& base) {
  static std::mutex mu;
  static std::set<std::string> swept;
  std::lock_guard<std::mutex> l(mu);
  if (!swept.insert(base).second) return;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
    auto name = entry.path().filename().string();
    if (name.rfind("rocksdb-", 0) != 0) continue;
    auto dash = name.find('-', 8);
    if (dash == std::string::npos) continue;
    pid_t pid = 0;
    try {
      pid = pid_t(std::stol(name.substr(8, dash - 8)));
    } catch (const std::exception&) {
      continue;
    }
    if (pid <= 0 || pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code rm;
    std::filesystem::remove_all(entry.path(), rm);
  }
}

std::filesystem::path new_working_directory(const std::string& base) {
  static std::atomic<uint64_t> next{0};
  std::error_code ec;
  std::filesystem::create_directories(base, ec);
  if (ec)
    throw JobError("RocksDB state backend could not create its base directory '" + base +
                   "': " + ec.message());
  remove_stale_directories(base);
  for (;;) {
    auto dir = std::filesystem::path(base) /
               ("rocksdb-" + std::to_string(::getpid()) + "-" + std::to_string(next++));
    if (std::filesystem::create_directory(dir, ec)) return dir;
    if (ec)
      throw JobError("RocksDB state backend could not create its working directory '" +
                     dir.string() + "': " + ec.message());
  }
}

/// One sentence naming the directory, the operation, the state and RocksDB's status.
[[noreturn]] void fail(const std::filesystem::path& dir, const std::string& what, const std::string& state,
                       const rocksdb::Status& s) {
  throw JobError("RocksDB state backend in '" + dir.string() + "' could not " + what + " state '" +
                 state + "': " + s.ToString());
}

}  // namespace

struct RocksDbKeyedStateBackend::Store {
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyOptions state_options = checkpoint::state_options();
  /// Column family and state name per keyspace id.
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  std::vector<std::string> names;
  rocksdb::ReadOptions read;
  rocksdb::WriteOptions write;

  Store() {
    // Default false: checkpoints make state durable, so RocksDB's own log is pure overhead.
    write.disableWAL = true;
  }
  /// The working directory, removed with the last user of the store.
  std::filesystem::path dir;
  ~Store() {
    if (db) {
      for (auto* cf : families) db->DestroyColumnFamilyHandle(cf);
      db->Close();  // errors here cannot be acted on: the directory is removed next
    }
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

RocksDbKeyedStateBackend::RocksDbKeyedStateBackend(const std::string& base_dir,
                                                   std::function<int64_t()> now)
    : StoringKeyedStateBackend(std::move(now)), dir_(new_working_directory(base_dir)), store_(std::make_shared<Store>()) {
  rocksdb::Options options(db_options(), store_->state_options);
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::Open(options, dir_.string(), &db);
  if (!s.ok()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw JobError("RocksDB state backend could not open a store in '" + dir_.string() +
                   "': " + s.ToString());
  }
  store_->db.reset(db);
  store_->dir = dir_;
}

RocksDbKeyedStateBackend::~RocksDbKeyedStateBackend() = default;

StateTable* RocksDbKeyedStateBackend::heap_table(const std::string&,
                                                 const std::function<std::unique_ptr<StateTable>()>&) {
  return nullptr;
}

int RocksDbKeyedStateBackend::keyspace(const std::string& name) {
  auto& st = *store_;
  for (size_t i = 0; i < st.names.size(); ++i)
    if (st.names[i] == name) return int(i);
  rocksdb::ColumnFamilyHandle* cf = nullptr;
  // Prefixed, so that a state called "default" does not meet RocksDB's default family.
  auto s = st.db->CreateColumnFamily(st.state_options, "state:" + name, &cf);
  if (!s.ok()) fail(dir_, "create", name, s);
  st.families.push_back(cf);
  st.names.push_back(name);
  return int(st.families.size() - 1);
}

std::optional<std::string> RocksDbKeyedStateBackend::get(int space, std::string_view key) {
  auto& st = *store_;
  std::string value;
  auto s = st.db->Get(st.read, st.families.at(size_t(space)), slice(key), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) fail(dir_, "read", st.names[size_t(space)], s);
  return value;
}

void RocksDbKeyedStateBackend::put(int space, std::string_view key, std::string_view value) {
  auto& st = *store_;
  auto s = st.db->Put(st.write, st.families.at(size_t(space)), slice(key), slice(value));
  if (!s.ok()) fail(dir_, "write", st.names[size_t(space)], s);
}

void RocksDbKeyedStateBackend::remove(int space, std::string_view key) {
  auto& st = *store_;
  auto s = st.db->Delete(st.write, st.families.at(size_t(space)), slice(key));
  if (!s.ok()) fail(dir_, "delete from", st.names[size_t(space)], s);
}

void RocksDbKeyedStateBackend::scan(int space, std::string_view prefix,
                                    const std::function<void(std::string_view, std::string_view)>& fn) {
  auto& st = *store_;
  auto* cf = st.families.at(size_t(space));
  // Bounds let RocksDB stop at the prefix's end instead of stepping over what follows it
  // (deleted entries included); the slices must outlive the iterator.
  std::string start(prefix);  // never a null slice, even for the empty prefix (a full scan)
  rocksdb::Slice lower(start);
  std::string end = prefix_end(prefix);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro = st.read;
  ro.iterate_lower_bound = &lower;
  if (!end.empty()) ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(st.db->NewIterator(ro, cf));
  for (it->Seek(lower); it->Valid(); it->Next()) {
    auto k = view(it->key());
    if (!k.starts_with(prefix)) break;
    fn(k, view(it->value()));
  }
  if (!it->status().ok()) fail(dir_, "scan", st.names[size_t(space)], it->status());
}

void RocksDbKeyedStateBackend::snapshot_entries(int, std::vector<KeyedStateSnapshot::Entry>& out) {
  auto& st = *store_;
  for (size_t space = 0; space < st.names.size(); ++space) {
    const auto& name = st.names[space];
    scan(int(space), {}, [&](std::string_view k, std::string_view v) {
      KeyedStateSnapshot::Entry e;
      e.state = name;
      if (!detail::split_key(k, e.key_group, e.key, e.user_key))
        throw JobError("RocksDB state backend in '" + dir_.string() + "' holds a malformed key in state '" +
                       name + "'");
      e.map = !e.user_key.empty();
      e.value.assign(v);
      out.push_back(std::move(e));
    });
  }
}

KeyedStateBackend::DeferredSnapshot RocksDbKeyedStateBackend::snapshot_deferred(int) {
  auto store = store_;
  auto timers = std::make_shared<KeyedStateSnapshot>();
  timers->fingerprints = fingerprints();
  timers->event_timers.assign(event_timers().all().begin(), event_timers().all().end());
  timers->processing_timers.assign(processing_timers().all().begin(), processing_timers().all().end());
  // The DB snapshot is released with the last copy of the function, read or not.
  std::shared_ptr<const rocksdb::Snapshot> pinned(store->db->GetSnapshot(),
                                                  [store](const rocksdb::Snapshot* p) { store->db->ReleaseSnapshot(p); });
  auto families = store->families;
  auto names = store->names;
  auto dir = dir_;
  return [store, timers, pinned, families, names, dir] {
    KeyedStateSnapshot out = std::move(*timers);
    for (size_t space = 0; space < families.size(); ++space) {
      rocksdb::ReadOptions ro = store->read;
      ro.snapshot = pinned.get();
      std::unique_ptr<rocksdb::Iterator> it(store->db->NewIterator(ro, families[space]));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        KeyedStateSnapshot::Entry e;
        e.state = names[space];
        if (!detail::split_key(view(it->key()), e.key_group, e.key, e.user_key))
          throw JobError("RocksDB state backend in '" + dir.string() + "' holds a malformed key in state '" +
                         names[space] + "'");
        e.map = !e.user_key.empty();
        e.value.assign(view(it->value()));
        out.entries.push_back(std::move(e));
      }
      if (!it->status().ok())
        throw JobError("RocksDB state backend in '" + dir.string() + "' could not snapshot state '" + names[space] +
                       "': " + it->status().ToString());
    }
    return out;
  };
}

void RocksDbKeyedStateBackend::restore_entries(std::vector<KeyedStateSnapshot::Entry> entries) {
  std::string key;
  for (const auto& e : entries) {
    detail::compose_key(key, e.key_group, e.key);
    key += e.user_key;
    put(keyspace(e.state), key, e.value);
  }
}

}  // namespace sluice::checkpoint

namespace sluice {
std::unique_ptr<KeyedStateBackend> make_rocksdb_backend(const std::string& base_dir,
                                                        std::function<int64_t()> now) {
  return std::make_unique<checkpoint::RocksDbKeyedStateBackend>(base_dir, std::move(now));
}
}  // namespace sluice
