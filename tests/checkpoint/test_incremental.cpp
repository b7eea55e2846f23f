// tests/checkpoint/test_incremental.cpp — incremental RocksDB checkpoints: SST files shared once and referenced after, restore and rescale from them, and the shared area's reference counts.
#include <catch2/catch.hpp>

#include "checkpoint/rocksdb_backend.hpp"

#include <sluice/detail/state_impl.hpp>
#include <sluice/state.hpp>

#include <fstream>
#include <functional>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <future>
#include <thread>
#include <set>

#include "checkpoint/fault_injection.hpp"
#include "checkpoint/storage.hpp"
#include "support/temp_dir.hpp"

using namespace sluice;
using namespace sluice::checkpoint;
namespace fs = std::filesystem;

namespace {

std::string key_of(int i) { return "key-" + std::to_string(i); }
int group_of(int i) { return i % 128; }

/// Puts keys [from, to) with value "v<i>" into the backend's state "count".
void put_keys(KeyedStateBackend& b, int from, int to) {
  auto* store = b.byte_store();
  auto space = store->keyspace("count");
  std::string k;
  for (int i = from; i < to; ++i) {
    detail::compose_key(k, group_of(i), key_of(i));
    store->put(space, k, "v" + std::to_string(i));
  }
}

std::optional<std::string> get_key(KeyedStateBackend& b, int i) {
  auto* store = b.byte_store();
  std::string k;
  detail::compose_key(k, group_of(i), key_of(i));
  return store->get(store->keyspace("count"), k);
}

/// Shares files by copying them into `dir`, as the checkpoint storage does.
struct SharedArea {
  fs::path dir;
  std::vector<std::string> shared;  // names, in the order shared
  SnapshotRequest request(int64_t id, bool incremental = true) {
    SnapshotRequest r;
    r.checkpoint_id = id;
    r.incremental = incremental;
    r.share = [this](const std::string& from, const std::string& name) {
      fs::create_directories(dir);
      fs::copy_file(from, dir / name, fs::copy_options::overwrite_existing);
      shared.push_back(name);
      return std::pair<uint64_t, uint64_t>{fs::file_size(dir / name), 0};
    };
    return r;
  }
  /// The snapshot as a restore sees it: shared files located.
  BackendSnapshot located(BackendSnapshot s) const {
    for (auto& f : s.files)
      if (!f.shared.empty()) f.path = (dir / f.shared).string();
    return s;
  }
};

/// A RocksDB backend holding keys 0..999 ("v<i>"), its shared area, and restores of its snapshots.
struct Stored {
  test_support::TempDir dir;
  SharedArea area{dir.path() / "shared", {}};
  std::function<int64_t()> now = [] { return int64_t(0); };
  std::unique_ptr<CheckpointableBackend> b = checkpoint::make_rocksdb_backend(dir.file("state"), now);
  Stored() { put_keys(*b, 0, 1000); }
  /// A new backend restored from `s` (all key groups).
  std::unique_ptr<CheckpointableBackend> restored(BackendSnapshot s) {
    auto r = checkpoint::make_rocksdb_backend(dir.file("state"), now);
    r->restore(area.located(std::move(s)), KeyGroupRange{0, 128}, KeyGroupRange{0, 128});
    return r;
  }
};

std::set<std::string> shared_names(const BackendSnapshot& s) {
  std::set<std::string> out;
  for (const auto& f : s.files)
    if (!f.shared.empty()) out.insert(f.shared);
  return out;
}

}  // namespace

TEST_CASE("RocksDB checkpoints share each SST file once and later checkpoints reference it", "[incremental]") {
  test_support::TempDir dir;
  SharedArea area{dir.path() / "shared", {}};
  auto now = [] { return int64_t(0); };
  auto b = checkpoint::make_rocksdb_backend(dir.file("state"), now);
  put_keys(*b, 0, 1000);

  auto first = b->snapshot_deferred(area.request(1))();
  CHECK(first.entries.empty());
  auto first_shared = shared_names(first);
  REQUIRE_FALSE(first_shared.empty());  // the memtable was flushed into an SST file
  CHECK(std::set<std::string>(area.shared.begin(), area.shared.end()) == first_shared);
  bool manifest_inline = false;
  for (const auto& f : first.files)
    if (f.name.rfind("MANIFEST", 0) == 0) manifest_inline = f.shared.empty() && !f.bytes.empty();
  CHECK(manifest_inline);

  // Once checkpoint 1 completed, checkpoint 2 references its files and shares only new ones.
  b->notify_checkpoint_complete(1);
  put_keys(*b, 1000, 2000);
  auto shares_before = area.shared.size();
  auto second = b->snapshot_deferred(area.request(2))();
  auto second_shared = shared_names(second);
  for (const auto& name : first_shared) CHECK(second_shared.count(name) == 1);
  std::set<std::string> newly(area.shared.begin() + long(shares_before), area.shared.end());
  CHECK(newly.size() >= 1);
  CHECK(newly.size() < second_shared.size());
  for (const auto& name : newly) CHECK(first_shared.count(name) == 0);

  // Checkpoint 2 was never confirmed: checkpoint 3 shares again what only it had shared, under
  // the same names (a name identifies a file in every checkpoint that contains it).
  shares_before = area.shared.size();
  auto third = b->snapshot_deferred(area.request(3))();
  std::set<std::string> again(area.shared.begin() + long(shares_before), area.shared.end());
  std::set<std::string> expected_again;
  for (const auto& name : shared_names(third))
    if (!first_shared.count(name)) expected_again.insert(name);
  CHECK(again == expected_again);
  for (const auto& name : newly)
    if (shared_names(third).count(name)) CHECK(again.count(name) == 1);

  SECTION("restoring the same key groups makes the files the store") {
    auto r = checkpoint::make_rocksdb_backend(dir.file("state"), now);
    r->restore(area.located(second), KeyGroupRange{0, 128}, KeyGroupRange{0, 128});
    for (int i = 0; i < 2000; ++i) REQUIRE(get_key(*r, i) == "v" + std::to_string(i));
    CHECK_FALSE(get_key(*r, 2000));
    // The first checkpoint after a restore shares everything anew, under its own names.
    auto shares_before_restore = area.shared.size();
    auto after = r->snapshot_deferred(area.request(7))();
    std::set<std::string> shared_after(area.shared.begin() + long(shares_before_restore), area.shared.end());
    CHECK(shared_after == shared_names(after));
    for (const auto& name : shared_after) CHECK(second_shared.count(name) == 0);
  }
  SECTION("restoring half the key groups keeps only those") {
    auto low = checkpoint::make_rocksdb_backend(dir.file("state"), now);
    auto high = checkpoint::make_rocksdb_backend(dir.file("state"), now);
    low->restore(area.located(second), KeyGroupRange{0, 64}, KeyGroupRange{0, 128});
    high->restore(area.located(second), KeyGroupRange{64, 128}, KeyGroupRange{0, 128});
    for (int i = 0; i < 2000; ++i) {
      auto& owner = group_of(i) < 64 ? *low : *high;
      auto& other = group_of(i) < 64 ? *high : *low;
      REQUIRE(get_key(owner, i) == "v" + std::to_string(i));
      REQUIRE_FALSE(get_key(other, i));
    }
  }
  SECTION("savepoints hold entries, which any backend restores") {
    auto savepoint = b->snapshot_deferred(area.request(4, false))();
    CHECK(savepoint.files.empty());
    CHECK(savepoint.entries.size() == 2000);
  }
  SECTION("the heap backend refuses RocksDB files with a sentence") {
    auto heap = make_heap_keyed_backend(now);
    CHECK_THROWS_WITH(heap->restore(area.located(second), KeyGroupRange{0, 128}, KeyGroupRange{0, 128}),
                      Catch::Contains("only the RocksDB state backend restores"));
  }
}

TEST_CASE("a RocksDB checkpoint holds the state of its synchronous part while the flush runs behind writes",
          "[incremental]") {
  Stored f;
  auto& b = f.b;
  auto& area = f.area;
  auto finish = b->snapshot_deferred(area.request(1));
  // Overwrites and new keys after the synchronous part, before its flush is waited for.
  auto* store = b->byte_store();
  auto space = store->keyspace("count");
  std::string k;
  for (int i = 0; i < 1500; ++i) {
    detail::compose_key(k, group_of(i), key_of(i));
    store->put(space, k, "late");
  }
  store->scan(space, "", [](std::string_view, std::string_view) {});  // writes the cache to a memtable
  auto r = f.restored(finish());
  bool as_before = true;
  for (int i = 0; i < 1000; ++i) as_before = as_before && get_key(*r, i) == "v" + std::to_string(i);
  CHECK(as_before);
  CHECK_FALSE(get_key(*r, 1000));
  CHECK(get_key(*b, 0) == "late");  // the writes stand
}

namespace {
/// Holds a RocksDB checkpoint's lister back (at IoPoint::link) until `open` says so; or fails it.
struct ListerGate : FaultInjector {
  std::function<bool()> open;
  int error = 0;
  int fail(IoPoint point, const fs::path&, uint64_t) override {
    if (point != IoPoint::link) return 0;
    while (open && !open()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return error;
  }
};
}  // namespace

TEST_CASE("writes past several memtables before a RocksDB checkpoint's files are listed stay out of it",
          "[incremental]") {
  Stored f;
  auto& b = f.b;
  auto& area = f.area;
  auto incremental = GENERATE(true, false);
  constexpr int late = 32 * 1024;
  std::atomic<int> written{0};
  // The lister starts once the writes are done or held back (no progress for 100 ms): without
  // the hold, later memtables would be sealed and flushed before it lists the files.
  auto gate = std::make_shared<ListerGate>();
  int seen = -1;
  auto last = std::chrono::steady_clock::now();
  gate->open = [&] {
    if (written == late) return true;
    if (written != seen) {
      seen = written;
      last = std::chrono::steady_clock::now();
    }
    return std::chrono::steady_clock::now() - last > std::chrono::milliseconds(100);
  };
  ScopedFaultInjector installed(gate);
  auto finish = b->snapshot_deferred(area.request(1, incremental));
  // Four memtables' worth (8 MiB each) of new records: past the record cache, they fill and
  // seal memtables after the one the checkpoint flushes.
  auto* store = b->byte_store();
  auto space = store->keyspace("count");
  std::string k, value(1024, 'x');
  for (int i = 0; i < late; ++i) {
    detail::compose_key(k, group_of(i), "late-" + std::to_string(i));
    store->put(space, k, value);
    ++written;
  }
  auto snapshot = finish();
  auto late_key = [&](int i) {
    detail::compose_key(k, group_of(i), "late-" + std::to_string(i));
    return k;
  };
  {
    auto r = f.restored(std::move(snapshot));
    CHECK(get_key(*r, 999) == "v999");
    int leaked = 0;
    for (int i = 0; i < late; ++i) leaked += r->byte_store()->get(space, late_key(i)).has_value();
    CHECK(leaked == 0);
  }
  // The next checkpoint has everything.
  auto r = f.restored(b->snapshot_deferred(area.request(2, incremental))());
  CHECK(get_key(*r, 999) == "v999");
  CHECK(r->byte_store()->get(r->byte_store()->keyspace("count"), late_key(late - 1)) == value);
}

TEST_CASE("a RocksDB checkpoint whose files cannot be linked is declined with the reason, and the next one is whole",
          "[incremental]") {
  Stored f;
  auto& b = f.b;
  auto& area = f.area;
  {
    auto gate = std::make_shared<ListerGate>();
    gate->error = EIO;
    ScopedFaultInjector installed(gate);
    auto finish = b->snapshot_deferred(area.request(1, GENERATE(true, false)));
    put_keys(*b, 1000, 1100);
    CHECK_THROWS_WITH(finish(), Catch::Contains("could not take checkpoint 1") &&
                                    Catch::Contains(std::strerror(EIO)));
  }
  auto r = f.restored(b->snapshot_deferred(area.request(2))());
  CHECK(get_key(*r, 1099) == "v1099");
}

namespace {
FileRef share(CheckpointCommitter& s, uint64_t id, const fs::path& scratch, const std::string& name) {
  {
    std::ofstream out(scratch / "sst", std::ios::binary | std::ios::trunc);
    out << "table file " << name;
  }
  return CheckpointWriter(s.directory()).share_file(id, scratch / "sst", name);
}

CheckpointMetadata commit(CheckpointCommitter& s, uint64_t id, std::vector<FileRef> shared, bool savepoint = false) {
  CheckpointMetadata m;
  m.checkpoint_id = id;
  m.savepoint = savepoint;
  m.job_name = "job";
  OperatorState op;
  op.operator_id = "00ff";
  op.parallelism = 1;
  op.files.push_back(CheckpointWriter(s.directory()).write_file(id, "task-0-0", "subtask at " + std::to_string(id)));
  op.shared = std::move(shared);
  m.operators.push_back(op);
  s.commit(m);
  return m;
}
}  // namespace

TEST_CASE("shared files live while a retained checkpoint references them, and counts are rebuilt on open", "[incremental]") {
  test_support::TempDir dir;
  auto root = dir.path() / "chk";
  auto shared = root / "shared";
  fs::create_directories(dir.path() / "scratch");
  {
    CheckpointCommitter s(root, 2);
    auto a = share(s, 1, dir.path() / "scratch", "1-x-000010.sst");
    CHECK(a.path == "../shared/1-x-000010.sst");
    commit(s, 1, {a});
    CHECK(s.shared_references().at("1-x-000010.sst") == 1);
    auto b = share(s, 2, dir.path() / "scratch", "2-x-000011.sst");
    commit(s, 2, {a, b});
    CHECK(s.shared_references().at("1-x-000010.sst") == 2);

    share(s, 3, dir.path() / "scratch", "3-x-000012.sst");  // checkpoint 3 was aborted
    share(s, 5, dir.path() / "scratch", "5-x-000013.sst");  // checkpoint 5 is still being written
    commit(s, 4, {b});
    // Retained: 2 and 4. Checkpoint 1 went; its file stays, for checkpoint 2.
    CHECK(s.complete_ids() == std::vector<uint64_t>{2, 4});
    CHECK(s.shared_references().at("1-x-000010.sst") == 1);
    CHECK(s.shared_references().at("2-x-000011.sst") == 2);
    CHECK(fs::exists(shared / "1-x-000010.sst"));
    CHECK_FALSE(fs::exists(shared / "3-x-000012.sst"));  // aborted: nobody references it
    CHECK(fs::exists(shared / "5-x-000013.sst"));        // newer than what completed

    // A checkpoint is verified with its shared files.
    CHECK(CheckpointCommitter::load(s.checkpoint_dir(4)).operators[0].shared == std::vector<FileRef>{b});
    share(s, 7, dir.path() / "scratch", "1-x-000010.sst");  // checkpoint 7, still being written, shares it again
    commit(s, 6, {});
    CHECK(fs::exists(shared / "1-x-000010.sst"));  // checkpoint 2 went, but checkpoint 7 may still complete
    CHECK(fs::exists(shared / "2-x-000011.sst"));  // checkpoint 4 still has it
    commit(s, 8, {b});
    CHECK_FALSE(fs::exists(shared / "1-x-000010.sst"));  // 7 never completed: no reference left
    CHECK(s.complete_ids() == std::vector<uint64_t>{6, 8});
    CHECK(s.shared_references().at("2-x-000011.sst") == 1);  // 4 went, 8 came
    {
      std::fstream f(shared / "2-x-000011.sst", std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(0);
      f.put('X');
    }
    CHECK_THROWS_WITH(CheckpointCommitter::load(s.checkpoint_dir(8)),
                      Catch::Contains("2-x-000011.sst") && Catch::Contains("corrupt"));
  }
  // A new process (say, after kill -9) counts again from the retained _metadata and removes
  // what no complete checkpoint references.
  CheckpointCommitter again(root, 2);
  CHECK(again.shared_references() == std::map<std::string, int>{{"2-x-000011.sst", 1}});
  CHECK(fs::exists(shared / "2-x-000011.sst"));
  CHECK_FALSE(fs::exists(shared / "5-x-000013.sst"));
}

TEST_CASE("savepoints do not push checkpoints out: the newest checkpoint and its shared files stay", "[incremental]") {
  test_support::TempDir dir;
  fs::create_directories(dir.path() / "scratch");
  CheckpointCommitter s(dir.path() / "chk", 1);
  auto a = share(s, 1, dir.path() / "scratch", "x-000010.sst");
  commit(s, 1, {a});
  commit(s, 2, {}, true);
  commit(s, 3, {}, true);
  CHECK(s.complete_ids() == std::vector<uint64_t>{1, 2, 3});
  CHECK(fs::exists(dir.path() / "chk" / "shared" / "x-000010.sst"));
  CHECK(s.shared_references().at("x-000010.sst") == 1);
  // The next checkpoint, built on checkpoint 1, references the same file: 1 goes, the file stays.
  commit(s, 4, {a});
  CHECK(s.complete_ids() == std::vector<uint64_t>{2, 3, 4});
  CHECK(fs::exists(dir.path() / "chk" / "shared" / "x-000010.sst"));
  CHECK(s.shared_references().at("x-000010.sst") == 1);
}
