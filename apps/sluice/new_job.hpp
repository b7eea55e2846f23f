// apps/sluice/new_job.hpp — `sluice new-job DIR`: a job project to build against an installed Sluice.
#pragma once

#include <iosfwd>
#include <string>

namespace sluice::cli {

/// The job's name made from DIR's last component: lower case, letters, digits and '_'.
std::string job_name_of(const std::string& dir);

/// Writes the project into `dir` (new, or an empty directory). Returns the exit status: 0, or
/// 2 with one sentence on `err` when `dir` holds something or cannot be written.
int new_job(const std::string& dir, std::ostream& out, std::ostream& err);

}  // namespace sluice::cli
