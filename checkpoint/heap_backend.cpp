// checkpoint/heap_backend.cpp — the heap keyed state backend.
#include "heap_backend.hpp"

namespace sluice::checkpoint {

StateTable* HeapKeyedStateBackend::heap_table(const std::string& name,
                                              const std::function<std::unique_ptr<StateTable>()>& make) {
  auto it = tables_.find(name);
  if (it == tables_.end()) it = tables_.emplace(name, make()).first;
  return it->second.get();
}

size_t HeapKeyedStateBackend::entries() const {
  size_t n = 0;
  for (const auto& [name, t] : tables_) n += t->size();
  return n;
}

}  // namespace sluice::checkpoint

namespace sluice {
std::unique_ptr<KeyedStateBackend> make_heap_backend(std::function<int64_t()> now) {
  return std::make_unique<checkpoint::HeapKeyedStateBackend>(std::move(now));
}
}  // namespace sluice
