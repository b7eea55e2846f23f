// operators/include/sluice/state.hpp — keyed state: descriptors, handles, and the backend interface behind them.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sluice {

/// A table of one named state, holding one entry per key. Backends own tables; handles
/// read and write the entry of the backend's current key.
class StateTable {
 public:
  virtual ~StateTable() = default;
  /// Number of keys with an entry (the console's state size).
  virtual size_t size() const = 0;
};

/// Keyed state of one subtask: the current key is set by the runtime before each record.
class KeyedStateBackend {
 public:
  virtual ~KeyedStateBackend() = default;
  /// Sets the key whose entries handles read and write (its encoded bytes and key group).
  virtual void set_current_key(std::string_view key_bytes, int key_group) = 0;
  virtual const std::string& current_key() const = 0;
  virtual int current_key_group() const = 0;
  /// The table named `name`, created with `make` on first use.
  virtual StateTable& table(const std::string& name,
                            const std::function<std::unique_ptr<StateTable>()>& make) = 0;
};

/// Declares a value state: one T per key.
template <class T>
struct ValueStateDescriptor {
  std::string name;
};

/// Heap table for value state: objects, not bytes, so reads cost no decoding.
template <class T>
class HeapValueTable final : public StateTable {
 public:
  std::unordered_map<std::string, T> entries;
  size_t size() const override { return entries.size(); }
};

/// The value of the current key. `value()` is empty when the key has none.
template <class T>
class ValueState {
 public:
  ValueState(KeyedStateBackend& backend, HeapValueTable<T>& table)
      : backend_(&backend), table_(&table) {}
  std::optional<T> value() const {
    auto it = table_->entries.find(backend_->current_key());
    if (it == table_->entries.end()) return std::nullopt;
    return it->second;
  }
  /// A pointer to the stored value (null when absent), for read-modify-write without a copy.
  T* get() {
    auto it = table_->entries.find(backend_->current_key());
    return it == table_->entries.end() ? nullptr : &it->second;
  }
  void update(T v) { table_->entries.insert_or_assign(backend_->current_key(), std::move(v)); }
  void clear() { table_->entries.erase(backend_->current_key()); }

 private:
  KeyedStateBackend* backend_;
  HeapValueTable<T>* table_;
};

/// Opens the handle for `desc` on `backend`.
template <class T>
ValueState<T> get_state(KeyedStateBackend& backend, const ValueStateDescriptor<T>& desc) {
  auto& t = backend.table(desc.name, [] { return std::make_unique<HeapValueTable<T>>(); });
  return ValueState<T>(backend, static_cast<HeapValueTable<T>&>(t));
}

}  // namespace sluice
