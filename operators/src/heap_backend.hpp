// operators/src/heap_backend.hpp — the heap keyed state backend: objects in hash maps, one table per named state (the API's own state, which the operator harness uses too).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "operators/engine/keyed_backend.hpp"

namespace sluice::detail {

/// Keeps keyed state as C++ objects in memory (the fast default backend).
class HeapKeyedStateBackend final : public CheckpointableBackend {
 public:
  /// `now` gives processing time in ms (for TTL).
  explicit HeapKeyedStateBackend(std::function<int64_t()> now) : CheckpointableBackend(std::move(now)) {}
  StateTable* heap_table(const std::string& name,
                         const std::function<std::unique_ptr<StateTable>()>& make) override;
  ByteStore* byte_store() override { return nullptr; }
  /// Keys with an entry, over all tables, and their memory estimated from each table's entry size.
  Size size() const override;
  /// Copies every table's objects now; encodes them in the returned function.
  DeferredSnapshot snapshot_deferred(const SnapshotRequest& request) override;

 protected:
  void snapshot_entries(int max_parallelism, std::vector<KeyedStateSnapshot::Entry>& out) override;
  /// Entries wait until their table is opened (the table knows how to decode them).
  void restore_entries(std::vector<KeyedStateSnapshot::Entry> entries) override;

 private:
  std::map<std::string, std::vector<KeyedStateSnapshot::Entry>> pending_;
  std::map<std::string, std::unique_ptr<StateTable>> tables_;
};

}  // namespace sluice::detail
