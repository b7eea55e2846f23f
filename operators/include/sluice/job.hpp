// operators/include/sluice/job.hpp — a job as a shared library: its context and the one entry point `sluice run` calls.
#pragma once

#include <cstddef>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "sluice/config.hpp"
#include "sluice/error.hpp"
#include "sluice/version.hpp"

namespace sluice {

/// What `sluice run` hands a job library: the settings from the command line and the job's
/// own arguments (those after `--`).
struct JobContext {
  ExecutionConfig config;
  std::vector<std::string> args;
};

namespace detail {
inline void copy_message(char* dst, size_t cap, const std::string& msg) {
  if (cap == 0) return;
  auto n = msg.size() < cap - 1 ? msg.size() : cap - 1;
  std::memcpy(dst, msg.data(), n);
  dst[n] = '\0';
}
}  // namespace detail

}  // namespace sluice

/// Names of the two C symbols a job library exports.
#define SLUICE_JOB_FINGERPRINT_SYMBOL "sluice_job_fingerprint"
#define SLUICE_JOB_ENTRY_SYMBOL "sluice_job_entry"

/// Makes `fn(sluice::JobContext&) -> int` the job's entry point. The entry compares the
/// caller's build fingerprint with the one the library was compiled with and refuses to run
/// (status 2) on a mismatch, before touching any Sluice type; a UsageError from `fn` becomes
/// status 2 and any other exception status 1, with its message.
#define SLUICE_JOB_MAIN(fn)                                                                    \
  extern "C" const char* sluice_job_fingerprint() { return ::sluice::build_fingerprint; }     \
  extern "C" int sluice_job_entry(const char* host_fingerprint, ::sluice::JobContext* ctx,    \
                                  char* error, size_t error_size) {                           \
    if (std::strcmp(host_fingerprint, ::sluice::build_fingerprint) != 0) {                    \
      ::sluice::detail::copy_message(                                                         \
          error, error_size,                                                                  \
          std::string("job library was built against Sluice '") +                            \
              ::sluice::build_fingerprint + "' but this sluice is '" + host_fingerprint +     \
              "'; rebuild the job against this version");                                     \
      return 2;                                                                               \
    }                                                                                         \
    try {                                                                                     \
      return fn(*ctx);                                                                        \
    } catch (const ::sluice::UsageError& e) {                                                 \
      ::sluice::detail::copy_message(error, error_size, e.what());                            \
      return 2;                                                                               \
    } catch (const std::exception& e) {                                                       \
      ::sluice::detail::copy_message(error, error_size, e.what());                            \
      return 1;                                                                               \
    }                                                                                         \
  }
