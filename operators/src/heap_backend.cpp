// operators/src/heap_backend.cpp — the heap keyed state backend, and BATCH's backend of one key at a time.
#include "heap_backend.hpp"

#include <stdexcept>

namespace sluice::detail {

namespace {
/// Keys with an entry over `tables`, and their memory estimated from each table's entry size.
KeyedStateBackend::Size size_of(const std::map<std::string, std::unique_ptr<StateTable>>& tables) {
  KeyedStateBackend::Size s;
  for (const auto& [name, t] : tables) {
    auto n = t->size();
    s.entries += n;
    s.bytes += n * t->entry_bytes();
  }
  return s;
}
}  // namespace

StateTable* HeapKeyedStateBackend::heap_table(const std::string& name,
                                              const std::function<std::unique_ptr<StateTable>()>& make) {
  auto it = tables_.find(name);
  if (it == tables_.end()) {
    it = tables_.emplace(name, make()).first;
    auto p = pending_.find(name);
    if (p != pending_.end()) {
      it->second->restore(p->second);
      pending_.erase(p);
    }
  }
  return it->second.get();
}

void HeapKeyedStateBackend::snapshot_entries(int, std::vector<KeyedStateSnapshot::Entry>& out) {
  for (const auto& [name, t] : tables_) t->snapshot(name, out);
  for (const auto& [name, entries] : pending_) out.insert(out.end(), entries.begin(), entries.end());
}

CheckpointableBackend::DeferredSnapshot HeapKeyedStateBackend::snapshot_deferred(const SnapshotRequest&) {
  auto s = std::make_shared<BackendSnapshot>();
  s->event_timers = event_timers().all();
  s->processing_timers = processing_timers().all();
  s->fingerprints = fingerprints();
  std::vector<StateTable::DeferredEntries> parts;
  for (const auto& [name, t] : tables_) parts.push_back(t->snapshot_deferred(name));
  for (const auto& [name, entries] : pending_) s->entries.insert(s->entries.end(), entries.begin(), entries.end());
  return [s, parts = std::move(parts)] {
    for (const auto& part : parts) part(s->encoded);
    return std::move(*s);
  };
}

void HeapKeyedStateBackend::restore_entries(std::vector<KeyedStateSnapshot::Entry> entries) {
  std::map<std::string, std::vector<KeyedStateSnapshot::Entry>> by_state;
  for (auto& e : entries) by_state[e.state].push_back(std::move(e));
  for (auto& [name, es] : by_state) {
    auto it = tables_.find(name);
    if (it != tables_.end()) it->second->restore(es);
    else pending_[name].insert(pending_[name].end(), es.begin(), es.end());
  }
}

KeyedStateBackend::Size HeapKeyedStateBackend::size() const { return size_of(tables_); }

namespace {

class OneKeyBackend final : public BatchKeyedBackend {
 public:
  using BatchKeyedBackend::BatchKeyedBackend;
  /// Every key files under group 0: only one key is ever held, and clearing visits one map.
  void set_current_key(std::string_view key_bytes, int) override {
    CheckpointableBackend::set_current_key(key_bytes, 0);
  }
  StateTable* heap_table(const std::string& name, const std::function<std::unique_ptr<StateTable>()>& make) override {
    auto& t = tables_[name];
    if (!t) t = make();
    return t.get();
  }
  ByteStore* byte_store() override { return nullptr; }
  Size size() const override { return size_of(tables_); }
  void clear() override {
    for (auto& [name, t] : tables_) t->clear();
    while (event_timers().pop_until(INT64_MAX)) {
    }
    while (processing_timers().pop_until(INT64_MAX)) {
    }
  }

 protected:
  void snapshot_entries(int, std::vector<KeyedStateSnapshot::Entry>&) override {
    throw std::logic_error("BATCH keyed state is never checkpointed");
  }
  void restore_entries(std::vector<KeyedStateSnapshot::Entry>) override {
    throw std::logic_error("BATCH keyed state is never restored");
  }

 private:
  std::map<std::string, std::unique_ptr<StateTable>> tables_;
};

}  // namespace

}  // namespace sluice::detail

namespace sluice {
std::unique_ptr<BatchKeyedBackend> make_batch_keyed_backend(std::function<int64_t()> now) {
  return std::make_unique<detail::OneKeyBackend>(std::move(now));
}
std::unique_ptr<CheckpointableBackend> make_heap_keyed_backend(std::function<int64_t()> now) {
  return std::make_unique<detail::HeapKeyedStateBackend>(std::move(now));
}
std::unique_ptr<KeyedStateBackend> make_heap_backend(std::function<int64_t()> now) {
  return make_heap_keyed_backend(std::move(now));
}
}  // namespace sluice
