// tests/operators/state_backends.hpp — the backends every state test runs against.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sluice/state.hpp>

namespace test_support {

struct BackendCase {
  std::string name;
  std::function<std::unique_ptr<sluice::KeyedStateBackend>(std::function<int64_t()>)> make;
};

/// Every keyed state backend: each state test runs once per entry.
inline std::vector<BackendCase> state_backends() {
  return {{"heap", [](std::function<int64_t()> now) { return sluice::make_heap_backend(std::move(now)); }}};
}

}  // namespace test_support
