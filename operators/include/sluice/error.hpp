// operators/include/sluice/error.hpp — the exceptions that cross the public API.
#pragma once

#include <stdexcept>
#include <string>

namespace sluice {

/// A job could not be built or ran and failed; what() is one sentence naming job, operator
/// and subtask where they are known.
class JobError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The job cannot start because of what the user gave it: a flag, a path, a checkpoint
/// directory that holds another run's checkpoints. Command-line tools exit 2 for it.
class UsageError : public JobError {
 public:
  using JobError::JobError;
};

/// Bytes that a codec cannot read (truncated or malformed record).
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A user function or built-in operator threw; what() names the operator and subtask.
class OperatorFailure : public JobError {
 public:
  using JobError::JobError;
};

}  // namespace sluice
