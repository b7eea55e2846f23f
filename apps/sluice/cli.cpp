// apps/sluice/cli.cpp — the sluice command line: `run` (options to an ExecutionConfig, loading a job library, exit statuses), `new-job`, `master` and `agent`.
#include "cli.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <ostream>

#include "actors/job_library.hpp"
#include "cli_options.hpp"
#include "cluster_cli.hpp"
#include "console.hpp"
#include "new_job.hpp"
#include "sluice/job.hpp"
#include "sluice/error.hpp"
#include "sluice/logging.hpp"
#include "sluice/version.hpp"

namespace sluice::cli {

namespace {

/// Loads a job library and runs its entry point. Returns the exit status.
int run_job(const std::string& path, JobContext& ctx, std::ostream& err) {
  runtime::JobLibrary lib;
  try {
    lib = runtime::open_job_library(path);
  } catch (const runtime::JobLibraryError& e) {
    err << "sluice run: " << e.what() << "\n";
    return 2;
  }
  char error[4096] = {0};
  int status = lib.entry(build_fingerprint, &ctx, error, sizeof error);
  if (status != 0) err << "sluice run: " << (error[0] ? error : "the job failed") << "\n";
  return status == 2 ? 2 : status == 0 ? 0 : 1;
}


/// Everything `sluice run` takes, as parsed.
struct RunSettings {
  JobContext ctx;
  std::string job_path;
  std::string log_level = "warn";
  std::string backend = "heap";
  bool no_chaining = false;
  ClusterClient cluster;
  ConsoleServiceFlags console;
};

/// Adds the options of `sluice run` to `run`, storing into `s` (which must outlive the parse).
void add_run_options(CLI::App* run, RunSettings& s) {
  auto& ctx = s.ctx;
  run->add_option("job", s.job_path, "the job's shared library (built with sluice_add_job)")->required();
  run->add_option("args", ctx.args, "the job's own arguments, after --");
  run->add_option("-p,--parallelism", ctx.config.parallelism,
                  "default operator parallelism (default: hardware threads)")
      ->check(CLI::Range(1, 32768));
  run->add_option("--max-parallelism", ctx.config.max_parallelism,
                  "key groups, the upper bound of keyed parallelism (default 128)")
      ->check(CLI::Range(1, 32768));
  add_parsed_option(
      *run, "--buffer-size",
      [&ctx](const std::string& text) {
        ctx.config.buffer_size = uint32_t(parse_size_within(text, 1024, uint64_t(1) << 30, "1kb to 1gb"));
      },
      "network buffer size, 1kb to 1gb (default 32kb)")
      ->type_name("SIZE");
  add_parsed_option(
      *run, "--buffer-timeout", [&ctx](const std::string& text) { ctx.config.buffer_timeout = parse_duration(text); },
      "longest wait of a partly filled buffer, e.g. 5ms (default 5ms)")
      ->type_name("DURATION");
  run->add_option("--exclusive-buffers", ctx.config.exclusive_buffers, "buffers per input channel (default 2)")
      ->check(CLI::Range(1, 1024));
  run->add_option("--floating-buffers", ctx.config.floating_buffers, "shared buffers per input gate (default 8)")
      ->check(CLI::Range(0, 65536));
  run->add_option("--worker-threads", ctx.config.worker_threads, "actor worker threads (default: hardware threads)")
      ->check(CLI::Range(1, 1024));
  run->add_option("--state-backend", s.backend, "where keyed state lives: heap or rocksdb (default heap)")
      ->check(CLI::IsMember({"heap", "rocksdb"}));
  run->add_option("--state-dir", ctx.config.state_dir,
                  "working directory of RocksDB state (default: the system's temporary directory)");
  add_rocksdb_memory_option(*run, ctx.config.rocksdb_memory);
  add_rocksdb_record_cache_option(*run, ctx.config.rocksdb_record_cache);
  add_execution_mode_option(*run, ctx.config.execution_mode);
  add_slots_option(*run, ctx.config.slots);
  add_batch_memory_option(*run, ctx.config.batch_memory);
  run->add_flag("--disable-chaining", s.no_chaining, "run every operator as its own task");
  run->add_option("--log-level", s.log_level, "trace, debug, info, warn, error or off (default warn)");
  add_checkpoint_options(*run, ctx.config.checkpoint);
  add_cluster_client_options(*run, s.cluster);
  add_console_service_options(*run, s.console);
}

/// What the flags of `s` say beyond its config.
void settle(RunSettings& s) {
  if (s.no_chaining) s.ctx.config.chaining = false;
  s.ctx.config.state_backend = s.backend == "rocksdb" ? StateBackendKind::rocksdb : StateBackendKind::heap;
}

}  // namespace

JobContext parse_run_options(const std::vector<std::string>& args) {
  CLI::App app{"sluice run", "sluice run"};
  RunSettings s;
  add_run_options(&app, s);
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    throw UsageError(std::string("sluice run: ") + (std::string(e.what()).empty() ? "bad options" : e.what()));
  }
  settle(s);
  return s.ctx;
}

int main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app{"Sluice: a dataflow engine for batch and streaming jobs", "sluice"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("sluice ") + version);

  RunSettings settings;
  auto* run = app.add_subcommand("run", "run a job library embedded (in this process), or on a cluster with --master");
  add_run_options(run, settings);

  std::string new_dir;
  auto* create = app.add_subcommand("new-job", "write a job project (CMake, a KeyedProcessFunction, a test) into DIR");
  create->add_option("dir", new_dir, "a new or empty directory; its name becomes the job's")->required();

  MasterCommand master_command;
  auto* master = add_master_command(app, master_command);
  AgentCommand agent_command;
  auto* agent = add_agent_command(app, agent_command);
  JobCommand job_command;
  auto job_commands = add_job_commands(app, job_command);
  ConsoleCommand console_command;
  auto* console = add_console_command(app, console_command);

  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion&) {
    out << "sluice " << version << "\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    CLI::App* failing = &app;
    for (auto* command : {run, create, master, agent, console})
      if (command->parsed()) failing = command;
    for (auto* command : job_commands)
      if (command->parsed()) failing = command;
    if (std::string(e.what()).empty()) {
      err << failing->help();
    } else {
      err << "sluice" << (failing == &app ? "" : " " + failing->get_name()) << ": " << e.what()
          << "\nRun with --help for usage.\n";
    }
    return 2;
  }
  if (create->parsed()) return new_job(new_dir, out, err);
  if (master->parsed()) return run_master(master_command, out, err);
  if (agent->parsed()) return run_agent(agent_command, out, err);
  if (console->parsed()) return run_console(console_command, out, err);
  for (auto* command : job_commands)
    if (command->parsed()) return run_job_command(command->get_name(), job_command, out, err);
  try {
    log::set_level(settings.log_level);
  } catch (const std::invalid_argument& e) {
    err << "sluice run: " << e.what() << "\n";
    return 2;
  }
  settle(settings);
  if (!settings.cluster.master.empty() && settings.console.port >= 0) {
    err << "sluice run: --console-port serves the console of an embedded run; a cluster's master serves its own\n";
    return 2;
  }
  if (!settings.cluster.master.empty()) {
    // Everything after `run` but the client's own options travels to the master and agents.
    auto from = std::find(args.begin(), args.end(), "run");
    auto forwarded = without_client_options(std::vector<std::string>(from + 1, args.end()));
    return submit_to_cluster(settings.cluster, settings.job_path, forwarded, out, err);
  }
  std::shared_ptr<runtime::ConsoleService> service;
  try {
    service = start_console_service(settings.console, settings.cluster.secret_file, err);
  } catch (const UsageError& e) {
    err << "sluice run: " << e.what() << "\n";
    return 2;
  }
  return run_job(settings.job_path, settings.ctx, err);
}

}  // namespace sluice::cli
