// apps/nexmark/cli.cpp — `nexmark generate | run | bench`: options and exit statuses.
#include "cli.hpp"

#include "cluster_client.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <ostream>
#include <sluice/error.hpp>
#include <sluice/logging.hpp>
#include <thread>

#include "bench.hpp"
#include "cli_options.hpp"
#include "csv.hpp"
#include "faults.hpp"
#include "queries.hpp"
#include "sinks.hpp"

namespace sluice::nexmark {
namespace {

using cli::add_rocksdb_memory_option;
using cli::add_rocksdb_record_cache_option;
using cli::add_execution_mode_option;
using cli::add_slots_option;
using cli::add_batch_memory_option;
using cli::whole_number;

/// The options `generate`, `run` and `bench` share: the stream and its pacing.
struct StreamFlags {
  int64_t events = 0;
  int32_t rate = 10'000;
  int32_t generators = 100;
  bool realtime = false;

  SourceOptions source() const {
    SourceOptions options;
    options.stream.max_events = events;
    options.stream.first_event_rate = rate;
    options.stream.next_event_rate = rate;
    options.stream.num_event_generators = generators;
    options.realtime = realtime;
    return options;
  }
};

/// The options `run` and `bench` share with `sluice run`: where keyed state lives.
struct StateFlags {
  std::string backend = "heap";
  std::string dir;
  uint64_t rocksdb_memory = 0;
  uint64_t rocksdb_record_cache = ExecutionConfig{}.rocksdb_record_cache;
  ExecutionMode execution_mode = ExecutionMode::streaming;
  int slots = 0;
  uint64_t batch_memory = ExecutionConfig{}.batch_memory;

  EngineOptions engine(int parallelism) const {
    EngineOptions options;
    options.parallelism = parallelism;
    options.state_backend =
        backend == "rocksdb" ? StateBackendKind::rocksdb : StateBackendKind::heap;
    options.state_dir = dir;
    options.rocksdb_memory = rocksdb_memory;
    options.rocksdb_record_cache = rocksdb_record_cache;
    options.execution_mode = execution_mode;
    options.slots = slots;
    options.batch_memory = batch_memory;
    return options;
  }
};

void add_state_options(CLI::App& command, StateFlags& flags) {
  command
      .add_option("--state-backend", flags.backend,
                  "where keyed state lives: heap or rocksdb (default heap)")
      ->check(CLI::IsMember({"heap", "rocksdb"}));
  command.add_option("--state-dir", flags.dir,
                     "working directory of RocksDB state (default: the system's temporary "
                     "directory)");
  add_rocksdb_memory_option(command, flags.rocksdb_memory);
  add_rocksdb_record_cache_option(command, flags.rocksdb_record_cache);
  add_execution_mode_option(command, flags.execution_mode);
  add_slots_option(command, flags.slots);
  add_batch_memory_option(command, flags.batch_memory);
}

/// Every query name, for help and errors: `q0, q1, ...`.
std::string known_queries() {
  std::string known;
  for (const Query q : all_queries())
    known += (known.empty() ? "" : ", ") + std::string(query_name(q));
  return known;
}

/// Beam's bound on a stream's events (what `max_events` 0 resolves to).
int64_t max_stream_events() {
  GeneratorConfig unbounded;
  unbounded.max_events = 0;
  return unbounded.resolved_max_events();
}

void add_stream_options(CLI::App& command, StreamFlags& flags, int64_t default_events) {
  flags.events = default_events;
  command
      .add_option("--events", flags.events,
                  "events in the stream (default " + std::to_string(default_events) + ")")
      ->check(whole_number<int64_t>(1, max_stream_events()));
  command
      .add_option("--rate", flags.rate,
                  "events per second the timestamps follow (default 10000; at most 2000000, "
                  "above which Beam's timestamps stop advancing)")
      ->check(whole_number<int32_t>(1, 2'000'000));
  command
      .add_option("--num-event-generators", flags.generators,
                  "logical generators (splits) the stream is made of (default 100)")
      ->check(whole_number<int32_t>(1, 100'000));
  command.add_flag("--realtime", flags.realtime,
                   "pace emission to the wall clock at --rate (default: as fast as possible)");
}

std::optional<std::vector<Query>> parse_queries(const std::vector<std::string>& names,
                                                std::ostream& err, const std::string& command) {
  std::vector<Query> queries;
  for (const std::string& name : names) {
    const auto query = parse_query(name);
    if (!query) {
      err << "nexmark " << command << ": unknown query '" << name << "' (known: " << known_queries()
          << ")\n";
      return std::nullopt;
    }
    queries.push_back(*query);
  }
  return queries;
}

// Writes the stream as event CSV in the order one source subtask reading every split emits it.
int generate(const StreamFlags& flags, const std::string& path, std::ostream& out) {
  const SourceOptions options = flags.source();
  const std::vector<GeneratorConfig> splits = stream_splits(options.stream);
  SplitInterleaver events(splits, initial_reader_state(static_cast<int32_t>(splits.size()), 0, 1));
  std::optional<Pacer> pacer;
  if (options.realtime) pacer.emplace(options.clock);
  AtomicFileWriter file(path);
  file.write_line(event_csv_header());
  std::string row;
  int64_t written = 0;
  while (events.has_next()) {
    if (pacer) {
      const auto wait = pacer->wait_for(events.next_timestamp());
      if (wait.count() > 0) std::this_thread::sleep_for(wait);
    }
    row.clear();
    append_event_csv(row, events.next().event);
    file.write_line(row);
    ++written;
  }
  file.commit();
  out << "nexmark generate: wrote " << written << " events to " << path << "\n";
  return 0;
}

int run(const StreamFlags& flags, const StateFlags& state, const CheckpointConfig& checkpoint,
        const FaultOptions& faults, Query query, int parallelism, const std::string& path, bool leave_parts,
        std::ostream& out) {
  const SourceOptions options = flags.source();
  const int p = parallelism > 0 ? parallelism : hardware_threads();
  EngineOptions engine = state.engine(p);
  engine.checkpoint = checkpoint;
  const std::string name(query_name(query));
  std::error_code ec;
  if (!path.empty() && std::filesystem::is_directory(path, ec))
    throw UsageError("--output '" + path + "' is a directory; give the path of the CSV file to write");
  const auto start = std::chrono::steady_clock::now();
  uint64_t rows = 0;
  if (path.empty()) {
    CountingSink sink;
    const auto count = sink.count();
    run_query(query, options, engine, std::move(sink));
    rows = count->rows.load();
  } else if (checkpoint.enabled()) {
    // Exactly once across kills and restores: the rows are committed with the checkpoints,
    // and the CSV file is assembled from them once the job has succeeded. The parts directory
    // is the sink's own: a fresh run clears it, a restored one rolls it back to the restored
    // checkpoint, each only once the job holds its checkpoint directory.
    const std::string parts = parts_dir(path);
    inject_disk_full(faults);
    auto committing = std::make_shared<CommittingFileSink<std::string>>(parts, /*owns_dir=*/true);
    run_query(query, options, engine, FailingSink<std::string>(committing, faults.task_failures));
    if (!leave_parts) assemble_csv(parts, path, std::string(header(query)));
  } else {
    run_query(query, options, engine, SortedCsvSink(path, std::string(header(query))), 1);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out << "nexmark run: " << name << " over " << flags.events << " events at parallelism " << p
      << " (" << state.backend << " state)";
  if (path.empty())
    out << ": " << rows << " rows";
  else
    out << ": rows written to " << path;
  char timing[96];
  std::snprintf(
      timing, sizeof timing, " in %.3f s (%s events/s)\n", seconds,
      format_millions(seconds > 0 ? static_cast<double>(flags.events) / seconds : 0).c_str());
  out << timing;
  return 0;
}

/// `nexmark run --master`: the same arguments, without the client's own, as the main of the
/// suite's job library on the cluster; the master runs it. With --output and checkpoints the
/// agents commit the part files and this client assembles the CSV from them once the job
/// succeeded (the paths are the agents' hosts' and the client's: a shared mount).
int run_on_cluster(const cli::ClusterClient& cluster, std::string library, const std::vector<std::string>& args,
                   const StreamFlags& flags, Query query, int parallelism, const std::string& path,
                   bool checkpointing, std::ostream& out, std::ostream& err) {
  if (library.empty()) {
    // Beside this program in a build tree, else where the install put it.
    std::error_code ec;
    auto here = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
    library = (here / "nexmark_job.so").string();
    if (!std::filesystem::exists(library, ec)) library = (here / NEXMARK_JOB_FROM_BIN / "nexmark_job.so").string();
  }
  std::vector<std::string> job_args;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--job-library") {
      ++i;
      continue;
    }
    if (args[i].rfind("--job-library=", 0) == 0) continue;
    job_args.push_back(args[i]);
  }
  job_args = cli::without_client_options(job_args);
  const bool assemble = !path.empty() && checkpointing;
  if (assemble) job_args.push_back("--leave-parts");
  std::vector<std::string> options = {library, "--"};
  options.insert(options.end(), job_args.begin(), job_args.end());
  const auto start = std::chrono::steady_clock::now();
  int status = cli::submit_to_cluster(cluster, library, options, out, err, "nexmark run");
  if (status != 0 || cluster.detached) return status;
  if (assemble) assemble_csv(parts_dir(path), path, std::string(header(query)));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char timing[160];
  std::snprintf(timing, sizeof timing, " in %.3f s (%s events/s)\n", seconds,
                format_millions(seconds > 0 ? static_cast<double>(flags.events) / seconds : 0).c_str());
  out << "nexmark run: " << query_name(query) << " over " << flags.events << " events at parallelism "
      << (parallelism > 0 ? std::to_string(parallelism) : std::string("(each agent's cores)")) << " on the cluster at "
      << cluster.master << timing;
  return 0;
}

int bench(const StreamFlags& flags, const StateFlags& state, const std::vector<Query>& queries,
          int parallelism, bool compare_modes, std::ostream& out, std::ostream& err) {
  BenchOptions options;
  options.parallelism = parallelism;
  options.compare_modes = compare_modes;
  options.source = flags.source();
  options.queries = queries;
  options.engine = state.engine(0);
  const BenchResult result = run_bench(
      options, [&](const std::string& line) { err << "nexmark bench: " << line << std::endl; });
  out << "Nexmark bench: " << result.events << " events, rate " << flags.rate << "/s, "
      << flags.generators << " generators" << (flags.realtime ? ", engine paced to real time" : "")
      << ", " << state.backend << " state"
      << "; events/s of wall time. COST and engine both build each result row's CSV string and\n"
         "count it (neither stores nor sorts rows); engine runs end in a counting sink.\n\n";
  if (compare_modes) {
    print_modes(result, out);
    for (const BenchRow& row : result.rows) {
      // BATCH emits a rolling aggregate's final values only: its rows may be fewer (q4).
      if (row.streaming_heap_rows != row.cost_rows || row.streaming_rocksdb_rows != row.cost_rows ||
          row.batch_rows > row.cost_rows || row.batch_rows == 0) {
        err << "nexmark bench: " << query_name(row.query) << " produced " << row.streaming_heap_rows << ", "
            << row.streaming_rocksdb_rows << " and " << row.batch_rows
            << " rows in STREAMING on the heap, on RocksDB and in BATCH, but the COST loop produced " << row.cost_rows
            << "\n";
        return 1;
      }
    }
    return 0;
  }
  print_bench_table(result, out);
  out << "\n";
  print_bench_csv(result, out);
  for (const BenchRow& row : result.rows) {
    if (row.engine_p1_rows != row.cost_rows || row.engine_pn_rows != row.cost_rows) {
      err << "nexmark bench: " << query_name(row.query) << " produced " << row.engine_p1_rows
          << " rows at parallelism 1 and " << row.engine_pn_rows << " at parallelism "
          << result.cores << " but the COST loop produced " << row.cost_rows << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace

int cli_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app{
      "Nexmark on Sluice: Beam's event generator, the queries as Sluice jobs, COST "
      "baselines",
      "nexmark"};
  app.require_subcommand(1);

  StreamFlags generate_flags;
  std::string generate_path;
  auto* generate_command = app.add_subcommand("generate", "write the event stream as CSV");
  add_stream_options(*generate_command, generate_flags, 1'000'000);
  generate_command->add_option("--output", generate_path, "the CSV file to write")->required();

  StreamFlags run_flags;
  std::string run_query_name;
  int run_parallelism = 0;
  std::string run_path;
  auto* run_command = app.add_subcommand("run", "run one query embedded");
  add_stream_options(*run_command, run_flags, 1'000'000);
  run_command->add_option("--query", run_query_name, "the query: " + known_queries())->required();
  run_command
      ->add_option("--parallelism", run_parallelism,
                   "parallelism of the source and the query (default: hardware threads)")
      ->check(whole_number<int>(1, 1024));
  run_command->add_option("--output", run_path,
                          "write the result as one sorted CSV file with a header, atomically "
                          "(default: count the rows only); with checkpoints, the rows are "
                          "committed to FILE.parts/ and FILE is assembled from them at the end, "
                          "equal to an uninterrupted run's across kills and restores");
  bool leave_parts = false;
  run_command
      ->add_flag("--leave-parts", leave_parts,
                 "with --output and checkpoints: commit the part files but leave assembling FILE to the "
                 "caller (nexmark run --master assembles it on the client)")
      ->group("");  // hidden
  StateFlags run_state;
  add_state_options(*run_command, run_state);
  CheckpointConfig run_checkpoint;
  cli::add_checkpoint_options(*run_command, run_checkpoint);
  FaultOptions run_faults;
  run_command
      ->add_option("--inject-task-failures", run_faults.task_failures,
                   "testing: fail a task N times, each after a checkpoint completed (with --output "
                   "and checkpoints)")
      ->check(whole_number<int>(0, 1000))
      ->group("");  // hidden
  std::string disk_full;
  run_command
      ->add_option("--inject-disk-full", disk_full,
                   "testing: FROM:COUNT, checkpoints FROM.. find the disk full (with --output and "
                   "checkpoints)")
      ->group("");
  cli::ClusterClient run_cluster;
  cli::add_cluster_client_options(*run_command, run_cluster);
  cli::ConsoleServiceFlags run_console;
  cli::add_console_service_options(*run_command, run_console);
  std::string job_library;
  run_command
      ->add_option("--job-library", job_library,
                   "with --master: the suite's job library (default: nexmark_job.so beside this program)")
      ->group("Cluster");
  std::string run_log_level = "warn";
  run_command
      ->add_option("--log-level", run_log_level,
                   "trace, debug, info, warn, error or off, as sluice run (default warn; info "
                   "logs every checkpoint)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  StreamFlags bench_flags;
  std::vector<std::string> bench_queries;
  auto* bench_command =
      app.add_subcommand("bench", "generator, COST loop and engine at 1 and N cores, per query");
  // Sized so that all ten queries take about a minute on two cores (heap state).
  add_stream_options(*bench_command, bench_flags, 1'500'000);
  bench_command->add_option("--queries", bench_queries, "queries to run (default all)")
      ->delimiter(',');
  int bench_parallelism = 0;
  bench_command
      ->add_option("--parallelism", bench_parallelism,
                   "the N of the second engine run (default: hardware threads)")
      ->check(whole_number<int>(1, 1024));
  StateFlags bench_state;
  add_state_options(*bench_command, bench_state);
  bool compare_modes = false;
  bench_command->add_flag("--compare-modes", compare_modes,
                          "instead of the engine at 1 and N: at N in STREAMING on the heap, on RocksDB, and in BATCH");

  const auto& first = args.empty() ? std::string() : args.front();
  if (!first.empty() && !first.starts_with('-') && first != "generate" && first != "run" &&
      first != "bench") {
    err << "nexmark: unknown command '" << args.front() << "' (known: generate, run, bench)\n";
    return 2;
  }
  CLI::App* failing = &app;
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    for (auto* command : {generate_command, run_command, bench_command}) {
      if (command->parsed()) {
        out << command->help();
        return 0;
      }
    }
    out << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    for (auto* command : {generate_command, run_command, bench_command}) {
      if (command->parsed()) failing = command;
    }
    err << "nexmark" << (failing == &app ? "" : " " + failing->get_name()) << ": " << e.what()
        << "\n";
    return 2;
  }

  const std::string command = app.get_subcommands().front()->get_name();
  try {
    if (command == "generate") return generate(generate_flags, generate_path, out);
    if (command == "run") {
      const auto queries = parse_queries({run_query_name}, err, command);
      if (!queries) return 2;
      // Only when asked: on a cluster this main runs inside the master, whose log level is its own.
      if (run_command->count("--log-level") > 0) log::set_level(run_log_level);
      if (!disk_full.empty()) {
        const auto colon = disk_full.find(':');
        try {
          run_faults.disk_full_from = std::stoll(disk_full.substr(0, colon));
          run_faults.disk_full_for = colon == std::string::npos ? 1 : std::stoi(disk_full.substr(colon + 1));
        } catch (const std::exception&) {
          err << "nexmark run: --inject-disk-full: '" << disk_full << "' is not FROM:COUNT\n";
          return 2;
        }
      }
      if (!run_cluster.master.empty() && run_console.port >= 0) {
        err << "nexmark run: --console-port serves the console of an embedded run; a cluster's master serves its "
               "own\n";
        return 2;
      }
      if (!run_cluster.master.empty())
        return run_on_cluster(run_cluster, job_library, args, run_flags, queries->front(), run_parallelism, run_path,
                              run_checkpoint.enabled(), out, err);
      auto console = cli::start_console_service(run_console, run_cluster.secret_file, err);
      return run(run_flags, run_state, run_checkpoint, run_faults, queries->front(), run_parallelism,
                 run_path, leave_parts, out);
    }
    std::vector<Query> queries = all_queries();
    if (!bench_queries.empty()) {
      const auto parsed = parse_queries(bench_queries, err, command);
      if (!parsed) return 2;
      queries = *parsed;
    }
    return bench(bench_flags, bench_state, queries, bench_parallelism, compare_modes, out, err);
  } catch (const UsageError& e) {
    err << "nexmark " << command << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    err << "nexmark " << command << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace sluice::nexmark
