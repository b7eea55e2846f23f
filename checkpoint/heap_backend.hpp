// checkpoint/heap_backend.hpp — the heap keyed state backend: objects in hash maps, one table per named state.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "sluice/state.hpp"

namespace sluice::checkpoint {

/// Keeps keyed state as C++ objects in memory (the fast default backend).
class HeapKeyedStateBackend final : public KeyedStateBackend {
 public:
  void set_current_key(std::string_view key_bytes, int key_group) override {
    key_.assign(key_bytes.data(), key_bytes.size());
    key_group_ = key_group;
  }
  const std::string& current_key() const override { return key_; }
  int current_key_group() const override { return key_group_; }
  StateTable& table(const std::string& name,
                    const std::function<std::unique_ptr<StateTable>()>& make) override;
  /// Entries over all tables (the probes' state size).
  size_t entries() const;

 private:
  std::string key_;
  int key_group_ = 0;
  std::map<std::string, std::unique_ptr<StateTable>> tables_;
};

}  // namespace sluice::checkpoint
