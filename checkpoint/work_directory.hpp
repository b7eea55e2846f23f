// checkpoint/work_directory.hpp — per-process working directories under a base (<prefix><pid>-<n>), and those left by processes that no longer run removed.
#pragma once

#include <filesystem>
#include <string>

namespace sluice::checkpoint {

/// A new directory `<base>/<prefix><pid>-<n>` that no other user (of this or another
/// process) has. First, once per base and prefix in a process, removes the directories of
/// that prefix whose process no longer runs (killed with -9, say): they are per-run working
/// copies that nothing reads again. `what` names the user in the one-sentence JobError a
/// failure to create it throws.
std::filesystem::path new_work_directory(const std::filesystem::path& base, const std::string& prefix,
                                         const std::string& what);

}  // namespace sluice::checkpoint
