// operators/src/spill_buffer.cpp — the SpillBuffer of an operator outside a task: everything held in memory.
#include <string>
#include <vector>

#include "sluice/element.hpp"

namespace sluice::detail {
namespace {

class MemorySpillBuffer final : public SpillBuffer {
 public:
  void add(std::string_view bytes) override { held_.emplace_back(bytes); }
  void finish() override {}
  bool next(std::string_view& out) override {
    if (next_ == held_.size()) return false;
    out = held_[next_++];
    return true;
  }

 private:
  std::vector<std::string> held_;
  size_t next_ = 0;
};

}  // namespace

std::unique_ptr<SpillBuffer> memory_spill_buffer() { return std::make_unique<MemorySpillBuffer>(); }

}  // namespace sluice::detail
