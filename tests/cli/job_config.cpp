// tests/cli/job_config.cpp — a job library for the CLI tests: writes the checkpoint settings it was handed, runs nothing.
#include <fstream>
#include <sluice/sluice.hpp>

namespace {
int job(sluice::JobContext& ctx) {
  if (ctx.args.size() != 1) throw std::invalid_argument("usage: job_config OUTPUT");
  const sluice::CheckpointConfig& c = ctx.config.checkpoint;
  std::ofstream out(ctx.args[0]);
  out << "interval=" << c.interval.count() << "\n"
      << "dir=" << c.dir << "\n"
      << "mode=" << sluice::checkpointing_mode_name(c.mode) << "\n"
      << "alignment_timeout=" << c.alignment_timeout.count() << "\n"
      << "timeout=" << c.timeout.count() << "\n"
      << "min_pause=" << c.min_pause.count() << "\n"
      << "tolerable_failures=" << c.tolerable_failures << "\n"
      << "retained=" << c.retained << "\n"
      << "restore=" << c.restore << "\n"
      << "allow_non_restored_state=" << c.allow_non_restored_state << "\n"
      << "restart=" << int(c.restart.kind) << ":" << c.restart.limit << ":"
      << c.restart.delay.count() << ":" << c.restart.max_delay.count() << ":"
      << c.restart.interval.count() << "\n";
  return 0;
}
}  // namespace

SLUICE_JOB_MAIN(job)
