// apps/nexmark/faults.cpp — the full disk of `nexmark run --inject-disk-full`, through the checkpoint storage's fault injector.
#include "faults.hpp"

#include <cerrno>

#include "checkpoint/fault_injection.hpp"

namespace sluice::nexmark {

namespace {
class DiskFull final : public checkpoint::FaultInjector {
 public:
  DiskFull(int64_t from, int count) : from_(from), to_(from + count) {}
  int fail(checkpoint::IoPoint point, const std::filesystem::path&, uint64_t id) override {
    bool full = int64_t(id) >= from_ && int64_t(id) < to_;
    return full && (point == checkpoint::IoPoint::write || point == checkpoint::IoPoint::share) ? ENOSPC : 0;
  }

 private:
  int64_t from_, to_;
};
}  // namespace

void inject_disk_full(const FaultOptions& options) {
  if (options.disk_full_for <= 0) return;
  checkpoint::set_fault_injector(std::make_shared<DiskFull>(options.disk_full_from, options.disk_full_for));
}

}  // namespace sluice::nexmark
