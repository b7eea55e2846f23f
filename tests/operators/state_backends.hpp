// tests/operators/state_backends.hpp — the backends every state test runs against.
#pragma once

#include "checkpoint/rocksdb_backend.hpp"

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <sluice/state.hpp>

namespace test_support {

struct BackendCase {
  std::string name;
  std::function<std::unique_ptr<sluice::CheckpointableBackend>(std::function<int64_t()>)> make;
};

/// A directory of this test process under the system's temp directory, removed at exit:
/// the base of every RocksDB backend's working directory.
inline const std::string& rocksdb_base_dir() {
  struct TempDir {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("sluice-test-state-" + std::to_string(::getpid()));
    ~TempDir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const TempDir dir;
  static const std::string path = dir.path.string();
  return path;
}

/// Every keyed state backend: each state test runs once per entry.
inline std::vector<BackendCase> state_backends() {
  return {{"heap", [](std::function<int64_t()> now) { return sluice::make_heap_keyed_backend(std::move(now)); }},
          {"rocksdb", [](std::function<int64_t()> now) {
             return sluice::checkpoint::make_rocksdb_backend(rocksdb_base_dir(), std::move(now));
           }}};
}

}  // namespace test_support
