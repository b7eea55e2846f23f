// checkpoint/fault_injection.hpp — makes checkpoint storage I/O fail on purpose at named points (ENOSPC, EIO, ...), for tests and `nexmark run --inject-disk-full`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

namespace sluice::checkpoint {

/// Where the checkpoint writers and the committer ask before doing I/O.
enum class IoPoint {
  write,   ///< writing a task file or `_metadata` (before any byte is written)
  fsync,   ///< flushing it
  rename,  ///< moving it to its final name
  share,   ///< copying a file into the shared area
  link,    ///< hard-linking a RocksDB store's files into a local checkpoint (its lister thread)
};

/// Decides, per I/O call, whether it fails and with which errno. Called from any I/O thread.
class FaultInjector {
 public:
  virtual ~FaultInjector() = default;
  /// The errno the call at `point` on `path` for checkpoint `checkpoint_id` fails with; 0: it
  /// goes ahead.
  virtual int fail(IoPoint point, const std::filesystem::path& path, uint64_t checkpoint_id) = 0;
};

/// Installs `injector` for every checkpoint writer and committer of the process (null removes it). Off unless
/// a test or a testing flag installs one: the check is one atomic load per I/O call.
void set_fault_injector(std::shared_ptr<FaultInjector> injector);

/// Installs an injector for one scope (tests), and removes it at the end.
struct ScopedFaultInjector {
  explicit ScopedFaultInjector(std::shared_ptr<FaultInjector> injector) { set_fault_injector(std::move(injector)); }
  ~ScopedFaultInjector() { set_fault_injector(nullptr); }
  ScopedFaultInjector(const ScopedFaultInjector&) = delete;
  ScopedFaultInjector& operator=(const ScopedFaultInjector&) = delete;
};

/// The errno injected at `point` (0 when none is installed or it lets the call go ahead).
int injected_fault(IoPoint point, const std::filesystem::path& path, uint64_t checkpoint_id);

}  // namespace sluice::checkpoint
