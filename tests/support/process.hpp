// tests/support/process.hpp — the child process of multi-process tests (apps/common/child_process.hpp), under the tests' namespace.
#pragma once

#include "child_process.hpp"

namespace test_support {
using Process = sluice::cli::Process;
}  // namespace test_support
