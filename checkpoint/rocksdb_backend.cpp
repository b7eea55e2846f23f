// checkpoint/rocksdb_backend.cpp — the RocksDB keyed state backend: options, column families, incremental checkpoints, errors.
#include "rocksdb_backend.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <exception>
#include <fstream>
#include <limits>
#include <condition_variable>
#include <mutex>
#include <random>
#include <sstream>
#include <system_error>
#include <thread>
#include <vector>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/metadata.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include "sluice/detail/state_impl.hpp"
#include "sluice/error.hpp"
#include "checkpoint/fault_injection.hpp"
#include "checkpoint/work_directory.hpp"

namespace sluice::checkpoint {

namespace {

/// The memory of every RocksDB store of the process. Without a budget: one 64 MiB block
/// cache, so that memory for reads is bounded once rather than per subtask and per state
/// (RocksDB's default is an 8 MiB cache per column family; the hot set of these stores sits in
/// memtables anyway), and memtables as each state's options say. With a budget (as Flink's
/// managed memory): a block cache of the budget that also holds index and filter blocks, and a
/// write buffer manager that charges every memtable to that cache and flushes the largest once
/// they pass half of it, so blocks and memtables together stay within the budget.
struct Memory {
  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(64 << 20);
  std::shared_ptr<rocksdb::WriteBufferManager> buffers;  // none without a budget
  uint64_t budget = 0;
};
std::mutex memory_mu;
Memory& memory_locked() {
  static Memory m;
  return m;
}
Memory memory() {
  std::lock_guard<std::mutex> l(memory_mu);
  return memory_locked();
}

rocksdb::Slice slice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view view(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

/// The prefix of a stored key that names the state's key: key group, key length and key
/// (detail::key_prefix_length); what follows is a user key or window. Every entry of one key
/// shares it, so the memtables hash by it and the SST files' Bloom filters hold it.
class KeyPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "sluice.KeyGroupAndKey"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), length(key));
  }
  bool InDomain(const rocksdb::Slice& key) const override { return length(key) > 0; }
  static size_t length(const rocksdb::Slice& k) { return detail::key_prefix_length(view(k)); }
};

/// Appends lists (ListState::add): the stored value and every operand are encoded lists, a
/// varint count then the items, so joining them adds the counts and concatenates the items.
/// Reads and compactions apply the operands in order; a malformed one makes RocksDB report
/// corruption, which the backend turns into a JobError naming the state.
class ListAppend final : public rocksdb::MergeOperator {
 public:
  const char* Name() const override { return "sluice.ListAppend"; }
  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    std::vector<rocksdb::Slice> parts;
    parts.reserve(in.operand_list.size() + 1);
    if (in.existing_value) parts.push_back(*in.existing_value);
    parts.insert(parts.end(), in.operand_list.begin(), in.operand_list.end());
    return join(parts, out->new_value);
  }
  bool PartialMergeMulti(const rocksdb::Slice&, const std::deque<rocksdb::Slice>& operands, std::string* out,
                         rocksdb::Logger*) const override {
    return join(operands, *out);
  }

 private:
  template <class Parts>
  static bool join(const Parts& parts, std::string& out) {
    try {
      uint64_t total = 0;
      for (const auto& part : parts) total += ByteReader(view(part)).read_varint();
      std::vector<uint8_t> bytes;
      ByteWriter w(bytes);
      w.write_varint(total);
      for (const auto& part : parts) {
        ByteReader r(view(part));
        r.read_varint();
        auto items = r.view(r.remaining());
        w.write(items.data(), items.size());
      }
      out.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      return true;
    } catch (const DecodeError&) {
      return false;
    }
  }
};

/// Every store flushes on the one process-wide pool of RocksDB's high-priority threads, which
/// has as many threads as one store asks for (1 by default). A checkpoint flushes every keyed
/// subtask's store at once, so the flushes queued behind each other: of two subtasks', the
/// second took twice as long (checkpoint_bench p2: 125 and 237 ms). One thread per store
/// opened, up to the cores.
void add_flush_thread() {
  static std::atomic<int> stores{0};
  int want = std::min<int>(++stores, int(std::max(1u, std::thread::hardware_concurrency())));
  rocksdb::Env::Default()->IncBackgroundThreadsIfNeeded(want, rocksdb::Env::Priority::HIGH);
}

rocksdb::DBOptions db_options() {
  rocksdb::DBOptions o;
  // Default none: memtables are bounded per column family only. With a budget, they are
  // charged to the shared block cache (Memory).
  o.write_buffer_manager = memory().buffers;
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
  // Default 1 GiB: every checkpoint carries the MANIFEST inline, and RocksDB only starts a new
  // one past this size, so keep it small.
  o.max_manifest_file_size = 4 << 20;
  // Default true, which only the skip-list memtable supports (see state_options); one
  // thread writes each store anyway.
  o.allow_concurrent_memtable_write = false;
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
  // Default a skip list over all entries: every put of a random key walks ~20 levels of
  // pointers (a third of q5's time went there). Hashing entries by their key's prefix
  // makes puts and gets touch one short list; scans within a key stay ordered, and full
  // scans (savepoints, rescaling restores) ask for total order, which sorts a copy.
  o.prefix_extractor = std::make_shared<KeyPrefix>();
  o.memtable_factory.reset(rocksdb::NewHashLinkListRepFactory(1 << 15));
  o.merge_operator = std::make_shared<ListAppend>();
  // Default false: a put of a key the memtable holds as a value at least as long overwrites
  // it there instead of adding a version. A hot key's updates then cost one memtable entry,
  // not one per update, so memtables fill with keys instead of versions, and a checkpoint's
  // flush writes each key once: checkpoint_bench 0.41 -> 1.41 M events/s. The price: no DB
  // snapshots (GetSnapshot gives none), so a full snapshot reads a local checkpoint
  // (snapshot_deferred).
  o.inplace_update_support = true;
  rocksdb::BlockBasedTableOptions t;
  auto m = memory();
  t.block_cache = m.cache;
  if (m.buffers) {
    // Default false: index and filter blocks live outside the cache, unbounded. Under a budget
    // they count, at high priority, and level 0's stay pinned (every get reads them).
    t.cache_index_and_filter_blocks = true;
    t.cache_index_and_filter_blocks_with_high_priority = true;
    t.pin_l0_filter_and_index_blocks_in_cache = true;
  }
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


/// One sentence naming the directory, the operation, the state and RocksDB's status.
[[noreturn]] void fail(const std::filesystem::path& dir, const std::string& what, const std::string& state,
                       const rocksdb::Status& s) {
  throw JobError("RocksDB state backend in '" + dir.string() + "' could not " + what + " state '" +
                 state + "': " + s.ToString());
}

}  // namespace

/// A local checkpoint from its synchronous part until its files are listed. Its lister thread
/// waits for the memtables it sealed to be flushed and hard-links the SST files; meanwhile no
/// newer memtable may be sealed (before_write holds such writes back), since it would be
/// flushed into the files listed.
struct RocksDbKeyedStateBackend::Cut {
  uint64_t seq = 0;  // the newest write the checkpoint covers
  std::vector<rocksdb::ColumnFamilyHandle*> families;  // whose memtables it sealed
  uint64_t errors = 0;  // RocksDB's count of background errors when it was taken
  std::mutex mu;
  std::condition_variable changed;
  bool listed = false;   // its files are known (or it failed): newer memtables may be sealed
  bool tainted = false;  // a newer memtable was sealed before that
  std::exception_ptr error;
  std::thread lister;

  ~Cut() {
    if (lister.joinable()) lister.join();
  }
  void list(std::exception_ptr e) {
    std::lock_guard<std::mutex> l(mu);
    listed = true;
    error = e;
    changed.notify_all();
  }
  /// A memtable whose first write is `first` was sealed.
  void sealed(uint64_t first) {
    std::lock_guard<std::mutex> l(mu);
    if (!listed && first > seq) tainted = true;
  }
  /// Bounded (the lister gives up on the flush after 2 minutes); a cut that times out here is
  /// tainted, since the write that waited goes on.
  void wait_listed() {
    std::unique_lock<std::mutex> l(mu);
    if (!changed.wait_for(l, std::chrono::minutes(3), [&] { return listed; })) tainted = true;
  }
  /// Waits for the files; throws (declining the checkpoint) when listing failed or a newer
  /// memtable was sealed first.
  void result(const std::string& store, int64_t id) {
    wait_listed();
    std::lock_guard<std::mutex> l(mu);
    if (error) std::rethrow_exception(error);
    if (tainted)
      throw JobError("RocksDB state backend in '" + store + "' declined checkpoint " + std::to_string(id) +
                     ": state written after its synchronous part was sealed into a memtable before its files "
                     "were listed");
  }
};

struct RocksDbKeyedStateBackend::Store {
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyOptions state_options = checkpoint::state_options();
  rocksdb::ColumnFamilyHandle* default_family = nullptr;
  /// Column family and state name per keyspace id.
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  std::vector<std::string> names;
  rocksdb::ReadOptions read;
  rocksdb::WriteOptions write;
  rocksdb::WriteBatch batch;  // the record cache's writes, until commit()

  /// Tells the newest cut of every memtable sealed (on the writing thread, inside the write).
  struct SealWatch : rocksdb::EventListener {
    std::mutex mu;
    std::weak_ptr<Cut> cut;
    void OnMemTableSealed(const rocksdb::MemTableInfo& info) override {
      std::shared_ptr<Cut> c;
      {
        std::lock_guard<std::mutex> l(mu);
        c = cut.lock();
      }
      if (c) c->sealed(info.first_seqno);
    }
  };
  std::shared_ptr<SealWatch> seals = std::make_shared<SealWatch>();

  Store() {
    // Default false: checkpoints make state durable, so RocksDB's own log is pure overhead.
    write.disableWAL = true;
  }
  /// The directory to remove with the last user of the store (the backend's working
  /// directory; empty for a store that only reads restored files).
  std::filesystem::path dir;
  ~Store() {
    close();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }

  /// Opens (creating) the store in `path` with every column family it has; a family
  /// "state:<name>" is the keyspace of state <name>. `read_only`: only to read (a local
  /// checkpoint).
  void open(const std::filesystem::path& path, bool read_only = false) {
    std::vector<std::string> existing;
    if (!rocksdb::DB::ListColumnFamilies(db_options(), path.string(), &existing).ok())
      existing = {rocksdb::kDefaultColumnFamilyName};  // a new store
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& n : existing) descriptors.emplace_back(n, state_options);
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    auto options = db_options();
    if (!read_only) {
      add_flush_thread();
      options.listeners.push_back(seals);
    }
    auto s = read_only ? rocksdb::DB::OpenForReadOnly(options, path.string(), descriptors, &handles, &raw)
                       : rocksdb::DB::Open(options, path.string(), descriptors, &handles, &raw);
    if (!s.ok())
      throw JobError("RocksDB state backend could not open a store in '" + path.string() + "': " + s.ToString());
    db.reset(raw);
    for (size_t i = 0; i < existing.size(); ++i) {
      if (existing[i].rfind("state:", 0) == 0) {
        families.push_back(handles[i]);
        names.push_back(existing[i].substr(6));
      } else if (existing[i] == rocksdb::kDefaultColumnFamilyName) {
        default_family = handles[i];
      } else {
        db->DestroyColumnFamilyHandle(handles[i]);
      }
    }
  }

  void close() {
    if (!db) return;
    for (auto* cf : families) db->DestroyColumnFamilyHandle(cf);
    if (default_family) db->DestroyColumnFamilyHandle(default_family);
    db->Close();  // errors here cannot be acted on: the directory is removed next
    db.reset();
    families.clear();
    names.clear();
    default_family = nullptr;
  }
};

RocksDbKeyedStateBackend::RocksDbKeyedStateBackend(const std::string& base_dir,
                                                   std::function<int64_t()> now, size_t cache_bytes)
    : CheckpointableBackend(std::move(now)),
      dir_(new_work_directory(base_dir, "rocksdb-", "RocksDB state backend")),
      store_(std::make_shared<Store>()),
      cache_(cache_bytes, [this](int space, std::string_view key, const RecordCache::Entry& e) {
        auto& st = *store_;
        auto* cf = st.families.at(size_t(space));
        auto s = e.present ? st.batch.Put(cf, slice(key), slice(e.value)) : st.batch.Delete(cf, slice(key));
        if (!s.ok()) fail(dir_, "write", st.names[size_t(space)], s);
      }) {
  store_->dir = dir_;  // removed with the store, also when opening fails
  store_->open(dir_ / "db");
  std::random_device rd;
  token_ = std::to_string(rd()) + std::to_string(rd());
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

void RocksDbKeyedStateBackend::commit() {
  auto& st = *store_;
  if (st.batch.Count() == 0) return;
  before_write(st.batch.GetDataSize());
  auto s = st.db->Write(st.write, &st.batch);
  st.batch.Clear();
  if (!s.ok()) throw JobError("RocksDB state backend in '" + dir_.string() + "' could not write: " + s.ToString());
}

void RocksDbKeyedStateBackend::flush_cache() {
  cache_.flush();
  commit();
}

std::optional<std::string> RocksDbKeyedStateBackend::get(int space, std::string_view key) {
  if (const auto* e = cache_.find(space, key)) {
    commit();  // a hit in the old generation may have rotated it
    if (!e->present) return std::nullopt;
    return e->value;
  }
  auto& st = *store_;
  std::string value;
  auto s = st.db->Get(st.read, st.families.at(size_t(space)), slice(key), &value);
  if (!s.ok() && !s.IsNotFound()) fail(dir_, "read", st.names[size_t(space)], s);
  cache_.set(space, key, value, s.ok(), false);
  commit();
  if (s.IsNotFound()) return std::nullopt;
  return value;
}

void RocksDbKeyedStateBackend::put(int space, std::string_view key, std::string_view value) {
  cache_.set(space, key, value, true, true);
  commit();
}

void RocksDbKeyedStateBackend::remove(int space, std::string_view key) {
  cache_.set(space, key, {}, false, true);
  commit();
}

bool RocksDbKeyedStateBackend::append(int space, std::string_view key, std::string_view items) {
  cache_.drop(space, key);  // the merge below changes the record in RocksDB itself
  commit();
  auto& st = *store_;
  before_write(key.size() + items.size());
  auto s = st.db->Merge(st.write, st.families.at(size_t(space)), slice(key), slice(items));
  if (!s.ok()) fail(dir_, "append to", st.names[size_t(space)], s);
  return true;
}

void RocksDbKeyedStateBackend::scan(int space, std::string_view prefix,
                                    const std::function<void(std::string_view, std::string_view)>& fn) {
  flush_cache();
  auto& st = *store_;
  auto* cf = st.families.at(size_t(space));
  // Bounds let RocksDB stop at the prefix's end instead of stepping over what follows it
  // (deleted entries included); the slices must outlive the iterator.
  std::string start(prefix);  // never a null slice, even for the empty prefix (a full scan)
  rocksdb::Slice lower(start);
  std::string end = prefix_end(prefix);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro = st.read;
  // A scan within one key stays in the key's hash bucket; anything wider needs total order.
  ro.total_order_seek = KeyPrefix::length(lower) == 0;
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

namespace {

/// A local checkpoint of the store (hard links to its SST files, copies of the rest),
/// removed with the last user.
struct LocalCheckpoint {
  std::filesystem::path dir;
  ~LocalCheckpoint() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw JobError("RocksDB state backend could not read '" + p.string() + "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool is_table_file(const std::string& name) { return name.size() > 4 && name.ends_with(".sst"); }

}  // namespace

CheckpointableBackend::DeferredSnapshot RocksDbKeyedStateBackend::snapshot_deferred(const SnapshotRequest& request) {
  flush_cache();
  if (request.incremental && request.share) return incremental_snapshot(request);
  // Memtable entries change in place (inplace_update_support), which is why RocksDB gives no
  // DB snapshots here: the synchronous part takes a local checkpoint (memtables flushed, SST
  // files hard-linked), which the returned function opens and reads.
  auto reader = std::make_shared<Store>();
  reader->dir = dir_ / ("full-" + std::to_string(request.checkpoint_id) + "-" + std::to_string(next_local_++));
  auto cut = start_local_checkpoint(reader->dir, request.checkpoint_id);
  auto out = std::make_shared<BackendSnapshot>();
  out->fingerprints = fingerprints();
  out->event_timers = event_timers().all();
  out->processing_timers = processing_timers().all();
  auto dir = dir_;
  // The store keeps the working directory, which holds the local checkpoint, until read.
  return [store = store_, reader, out, dir, cut, id = request.checkpoint_id] {
    cut->result(dir.string(), id);
    reader->open(reader->dir, true);
    for (size_t space = 0; space < reader->families.size(); ++space) {
      const auto& name = reader->names[space];
      rocksdb::ReadOptions ro = reader->read;
      ro.total_order_seek = true;
      std::unique_ptr<rocksdb::Iterator> it(reader->db->NewIterator(ro, reader->families[space]));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        KeyedStateSnapshot::Entry e;
        e.state = name;
        if (!detail::split_key(view(it->key()), e.key_group, e.key, e.user_key))
          throw JobError("RocksDB state backend in '" + dir.string() + "' holds a malformed key in state '" + name +
                         "'");
        e.map = !e.user_key.empty();
        e.value.assign(view(it->value()));
        out->entries.push_back(std::move(e));
      }
      if (!it->status().ok())
        throw JobError("RocksDB state backend in '" + dir.string() + "' could not snapshot state '" + name +
                       "': " + it->status().ToString());
    }
    reader->close();
    return std::move(*out);
  };
}

std::shared_ptr<RocksDbKeyedStateBackend::Cut> RocksDbKeyedStateBackend::start_local_checkpoint(
    const std::filesystem::path& to, int64_t id) {
  // Sealing memtables now would put this checkpoint's writes into the older one's files.
  if (auto older = cut_.lock()) older->wait_listed();
  auto& st = *store_;
  auto cut = std::make_shared<Cut>();
  cut->seq = st.db->GetLatestSequenceNumber();
  cut->families = st.families;
  st.db->GetIntProperty("rocksdb.background-errors", &cut->errors);
  for (auto* family : cut->families) {
    rocksdb::FlushOptions o;
    o.wait = false;
    // Default false: wait first until the flush would not stall writes (an older memtable
    // still flushing). The task's next writes stall instead, and only if they fill a memtable.
    o.allow_write_stall = true;
    auto s = st.db->Flush(o, family);
    // Writes are stopped (as many sealed memtables as allowed): RocksDB only flushes while
    // waiting for it, as every checkpoint did before.
    if (s.IsTryAgain()) {
      o.wait = true;
      s = st.db->Flush(o, family);
    }
    if (!s.ok())
      throw JobError("RocksDB state backend in '" + dir_.string() + "' could not flush its memtables for checkpoint " +
                     std::to_string(id) + ": " + s.ToString());
  }
  {
    std::lock_guard<std::mutex> l(st.seals->mu);
    st.seals->cut = cut;
  }
  cut_ = cut;
  // Its own thread, not the asynchronous part: that may start late (an unaligned barrier
  // waits for the others), while the task's writes wait for the listing.
  cut->lister = std::thread([store = store_, c = cut.get(), to, id] {
    std::exception_ptr error;
    try {
      list_local_checkpoint(*store, *c, to, id);
    } catch (...) {
      error = std::current_exception();
    }
    c->list(error);
  });
  return cut;
}

void RocksDbKeyedStateBackend::before_write(size_t bytes) {
  auto cut = cut_.lock();
  if (!cut) return;
  {
    std::lock_guard<std::mutex> l(cut->mu);
    if (cut->listed || cut->tainted) return;  // tainted: declined anyway
  }
  // RocksDB seals a memtable once its arena passes the write buffer size, or before that
  // within an arena block (1/8 of it); and under a memory budget, when the budget says so.
  auto& st = *store_;
  auto full = uint64_t(st.state_options.write_buffer_size);
  auto margin = full / 4 + 4 * uint64_t(bytes);
  bool may_seal = memory().buffers && memory().buffers->ShouldFlush();
  for (size_t i = 0; i < st.families.size() && !may_seal; ++i) {
    uint64_t used = 0;
    st.db->GetIntProperty(st.families[i], "rocksdb.cur-size-active-mem-table", &used);
    may_seal = used + margin >= full;
  }
  if (may_seal) cut->wait_listed();
}

void RocksDbKeyedStateBackend::list_local_checkpoint(Store& st, Cut& cut, const std::filesystem::path& to,
                                                     int64_t id) {
  auto failed = [&](const std::string& why) {
    return JobError("RocksDB state backend in '" + st.dir.string() + "' could not take checkpoint " +
                    std::to_string(id) + ": " + why);
  };
  if (int e = injected_fault(IoPoint::link, to, uint64_t(id))) throw failed(std::strerror(e));
  // The memtables sealed by the synchronous part are flushed before any newer one of their
  // family is installed, and no newer one is sealed before the files are listed (before_write;
  // the seal listener taints the cut otherwise).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  for (auto* family : cut.families) {
    uint64_t sealed = 0;
    while (st.db->GetIntProperty(family, "rocksdb.num-immutable-mem-table", &sealed) && sealed > 0) {
      uint64_t errors = 0;
      if (st.db->GetIntProperty("rocksdb.background-errors", &errors) && errors > cut.errors)
        throw failed("a background flush failed");
      if (std::chrono::steady_clock::now() > deadline) throw failed("its memtables were not flushed in 2 minutes");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(to, ec);
  auto live = [&] {
    std::vector<rocksdb::LiveFileMetaData> files;
    st.db->GetLiveFilesMetaData(&files);
    return files;
  };
  auto before = live();
  rocksdb::Checkpoint* raw = nullptr;
  auto s = rocksdb::Checkpoint::Create(st.db.get(), &raw);
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  // log_size_for_flush "max": no flush; what the memtables hold now came after the
  // synchronous part (and is in no log, as writes skip it).
  if (s.ok()) s = cp->CreateCheckpoint(to.string(), std::numeric_limits<uint64_t>::max());
  if (!s.ok()) throw failed(s.ToString());
  auto after = live();
  // A second line behind the seal listener: a file with later writes (a newer memtable
  // flushed, or a compaction that took one in, unless it zeroed the sequence numbers at the
  // bottom level) declines it. Every SST file in it was live just before or just after.
  std::map<std::string, rocksdb::SequenceNumber> newest;
  for (const auto* files : {&before, &after})
    for (const auto& f : *files) newest[std::filesystem::path(f.name).filename().string()] = f.largest_seqno;
  for (const auto& entry : std::filesystem::directory_iterator(to)) {
    auto name = entry.path().filename().string();
    if (!is_table_file(name)) continue;
    auto it = newest.find(name);
    if (it == newest.end()) throw failed("its file " + name + " came and went while it was taken");
    if (it->second > cut.seq)
      throw failed("state written after its synchronous part was flushed before it was taken (declined)");
  }
}

/// The synchronous part: a RocksDB checkpoint of the store (memtables flushed, since writes
/// skip the log; SST files hard-linked). The returned function shares every SST file that
/// the last confirmed checkpoint did not share already, and inlines the small files.
CheckpointableBackend::DeferredSnapshot RocksDbKeyedStateBackend::incremental_snapshot(const SnapshotRequest& request) {
  auto local = std::make_shared<LocalCheckpoint>();
  local->dir = dir_ / ("chk-" + std::to_string(request.checkpoint_id));
  auto cut = start_local_checkpoint(local->dir, request.checkpoint_id);
  auto head = std::make_shared<BackendSnapshot>();
  head->fingerprints = fingerprints();
  head->event_timers = event_timers().all();
  head->processing_timers = processing_timers().all();
  auto shared = std::make_shared<SharedFiles>();
  pending_[request.checkpoint_id] = shared;
  auto base = confirmed_;
  // A file's shared name is the same in every checkpoint that contains it (an SST file never
  // changes), so every complete checkpoint since it was first shared references it.
  auto prefix = token_ + "-";
  auto share = request.share;
  // The store keeps the working directory, which holds the local checkpoint, until read.
  return [store = store_, local, head, shared, base, prefix, share, cut, id = request.checkpoint_id,
          dir = dir_] {
    cut->result(dir.string(), id);
    BackendSnapshot out = std::move(*head);
    std::vector<std::filesystem::path> paths;
    for (const auto& entry : std::filesystem::directory_iterator(local->dir)) paths.push_back(entry.path());
    std::sort(paths.begin(), paths.end());
    for (const auto& p : paths) {
      BackendSnapshot::File f;
      f.name = p.filename().string();
      if (is_table_file(f.name)) {
        auto it = base ? base->find(f.name) : SharedFiles::const_iterator{};
        if (base && it != base->end()) {
          f = it->second;
          (*shared)[f.name] = f;
        } else {
          f.shared = prefix + f.name;
          std::tie(f.size, f.checksum) = share(p.string(), f.shared);
          (*shared)[f.name] = f;  // as later checkpoints reference it: not fresh for them
          f.fresh = true;
        }
      } else {
        f.bytes = read_file(p);
      }
      out.files.push_back(std::move(f));
    }
    return out;
  };
}

KeyedStateBackend::Size RocksDbKeyedStateBackend::size() const {
  Size s;
  for (auto* family : store_->families) {
    uint64_t keys = 0, live = 0, memtables = 0;
    store_->db->GetIntProperty(family, "rocksdb.estimate-num-keys", &keys);
    store_->db->GetIntProperty(family, "rocksdb.estimate-live-data-size", &live);
    store_->db->GetIntProperty(family, "rocksdb.cur-size-all-mem-tables", &memtables);
    s.entries += keys;
    s.bytes += live + memtables;
  }
  auto [records, bytes] = cache_.unwritten();
  s.entries += records;
  s.bytes += bytes;
  return s;
}

void RocksDbKeyedStateBackend::notify_checkpoint_complete(int64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  // The files this checkpoint shared stay referenced by every newer complete checkpoint that
  // contains them, so the next checkpoints may reference them instead of sharing them again.
  confirmed_ = it->second;
  pending_.erase(pending_.begin(), std::next(it));
}

namespace {
/// Puts the files of an incremental snapshot into `dir` (a new store directory).
void materialize(const std::vector<BackendSnapshot::File>& files, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  if (ec) throw JobError("RocksDB state backend could not create '" + dir.string() + "': " + ec.message());
  for (const auto& f : files) {
    auto to = dir / f.name;
    if (!f.shared.empty()) {
      if (f.path.empty())
        throw JobError("RocksDB state backend was given shared file '" + f.shared + "' without its location");
      std::filesystem::copy_file(f.path, to, ec);
      if (ec)
        throw JobError("RocksDB state backend could not copy checkpoint file '" + f.path + "' to '" + to.string() +
                       "': " + ec.message());
    } else {
      std::ofstream out(to, std::ios::binary);
      out.write(f.bytes.data(), std::streamsize(f.bytes.size()));
      if (!out) throw JobError("RocksDB state backend could not write '" + to.string() + "'");
    }
  }
}
}  // namespace

void RocksDbKeyedStateBackend::restore_files(const std::vector<BackendSnapshot::File>& files, KeyGroupRange range,
                                             KeyGroupRange from) {
  // Restored entries of another snapshot may still be cached: write them, then forget the
  // cache, since what follows writes RocksDB itself.
  flush_cache();
  cache_.clear();
  if (auto cut = cut_.lock()) cut->wait_listed();  // its lister reads the store closed below
  auto& st = *store_;
  if (range == from && st.names.empty() && !restored_) {
    // Same key groups, nothing stored yet: the checkpoint's files become the store. The
    // next checkpoint shares all its files anew, so that it does not depend on files of
    // another run (Flink's NO_CLAIM restore).
    st.close();
    materialize(files, dir_ / "db");
    st.open(dir_ / "db");
    restored_ = true;
    return;
  }
  // Another parallelism: read the checkpoint's store and keep this subtask's key groups.
  auto tmp = dir_ / ("restore-" + std::to_string(restores_++));
  materialize(files, tmp);
  Store other;
  other.dir = tmp;
  other.open(tmp);
  // Keys start with their key group (2 bytes, big-endian): seek to the range's first group.
  const char first[2] = {char(uint16_t(range.first) >> 8), char(uint16_t(range.first) & 0xff)};
  for (size_t i = 0; i < other.families.size(); ++i) {
    auto space = keyspace(other.names[i]);
    auto* family = st.families[size_t(space)];
    rocksdb::WriteBatch batch;
    auto write = [&] {
      auto s = st.db->Write(st.write, &batch);
      if (!s.ok()) fail(dir_, "restore", other.names[i], s);
      batch.Clear();
    };
    rocksdb::ReadOptions ro = other.read;
    ro.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> it(other.db->NewIterator(ro, other.families[i]));
    for (it->Seek(rocksdb::Slice(first, 2)); it->Valid(); it->Next()) {
      auto k = it->key();
      if (k.size() < 2) continue;
      int kg = (uint8_t(k[0]) << 8) | uint8_t(k[1]);
      if (kg >= range.end) break;
      batch.Put(family, k, it->value());
      if (batch.GetDataSize() >= (4u << 20)) write();  // bounded memory for large state
    }
    if (!it->status().ok()) fail(tmp, "read restored", other.names[i], it->status());
    write();
  }
  restored_ = true;
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

namespace sluice::checkpoint {
std::unique_ptr<CheckpointableBackend> make_rocksdb_backend(const std::string& base_dir, std::function<int64_t()> now,
                                                            size_t cache_bytes) {
  return std::make_unique<RocksDbKeyedStateBackend>(base_dir, std::move(now), cache_bytes);
}

void set_rocksdb_memory(uint64_t budget) {
  if (budget == 0) return;
  std::lock_guard<std::mutex> l(memory_mu);
  auto& m = memory_locked();
  if (budget == m.budget) return;
  if (!m.buffers) {
    // A tenth of the cache kept for index and filter blocks (high priority), as Flink does.
    m.cache = rocksdb::NewLRUCache(size_t(budget), -1, false, 0.1);
    // No stall (as Flink): a write past the memtables' share flushes its store's largest
    // memtable and goes on, so memtables may pass the share by the flushes still running. A
    // stall would wait for memory that idle stores may never flush.
    m.buffers = std::make_shared<rocksdb::WriteBufferManager>(size_t(budget / 2), m.cache);
  } else {
    m.cache->SetCapacity(size_t(budget));
    m.buffers->SetBufferSize(size_t(budget / 2));
  }
  m.budget = budget;
}

RocksDbMemory rocksdb_memory() {
  auto m = memory();
  return {m.budget, m.cache->GetCapacity(), m.cache->GetUsage(), m.buffers ? m.buffers->memory_usage() : 0,
          m.buffers ? m.buffers->buffer_size() : 0};
}
}  // namespace sluice::checkpoint
