// apps/bench/checkpoint_bench.cpp — what checkpoints cost: throughput with and without them, their duration and size, unaligned vs aligned under full backpressure, and recovery time after a fault.
//
//   checkpoint_bench [--parallelism N] [--events N] [--repeat N] [--seconds S] [--keys N]
//                    [--fault-after N] [--only throughput,backpressure,recovery] [--quick]
//
// Prints four tables and a CSV block, one line per figure. Not a test: figures vary with the
// machine. Every wait is bounded; a job that does not end is canceled with a message.
#include <sluice/logging.hpp>
#include <sluice/sluice.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

namespace {

struct Event {
  int64_t key = 0;
  int64_t amount = 0;
};

}  // namespace

SLUICE_CODEC(Event, key, amount);

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using KeySum = std::pair<int64_t, int64_t>;  // (count, sum) in state; (key, sum) emitted

struct Options {
  int parallelism = 2;
  int64_t events = 0;  ///< per throughput run; 0 calibrates each pipeline and backend to `seconds`
  double seconds = 6;
  int repeat = 3;
  int64_t keys = 100'000;
  int64_t fault_after = 1'000'000;
  bool quick = false;
  std::string log_level = "error";
  std::string pipeline;  ///< empty: both
  std::string backend;   ///< empty: both
};

// ---------------------------------------------------------------------------------------------
// Output: tables go to stdout as they fill; every figure also becomes one CSV line at the end.

std::vector<std::string> csv_lines;

void figure(const std::string& section, const std::string& pipeline, const std::string& backend,
            const std::string& setting, const std::string& metric, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  csv_lines.push_back(section + "," + pipeline + "," + backend + "," + setting + "," + metric + "," + buf);
}

std::string rate_text(double r) {
  char buf[32];
  if (std::isnan(r)) return "-";
  if (r >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2f M", r / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.0f k", r / 1e3);
  return buf;
}

/// `v` with `digits` decimals and `unit`, or "-" when there is no figure (NaN).
std::string fixed(double v, int digits, const char* unit = "") {
  if (std::isnan(v)) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f%s", digits, v, unit);
  return buf;
}

std::string bytes_text(double b) {
  char buf[32];
  if (std::isnan(b)) return "-";
  if (b >= 1 << 20)
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1 << 20));
  else if (b >= 1 << 10)
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / (1 << 10));
  else
    std::snprintf(buf, sizeof buf, "%.0f B", b);
  return buf;
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double max_of(const std::vector<double>& v) { return v.empty() ? NAN : *std::max_element(v.begin(), v.end()); }
double min_of(const std::vector<double>& v) { return v.empty() ? NAN : *std::min_element(v.begin(), v.end()); }

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

const char* backend_name(sluice::StateBackendKind b) { return b == sluice::StateBackendKind::heap ? "heap" : "rocksdb"; }

// ---------------------------------------------------------------------------------------------
// A temporary directory for checkpoints and RocksDB state, removed at the end (also when the
// program gives up on a stuck job).

std::string temp_root;

void print_csv() {
  std::printf("\nsection,pipeline,backend,setting,metric,value\n");
  for (const auto& l : csv_lines) std::printf("%s\n", l.c_str());
  std::fflush(stdout);
}

[[noreturn]] void give_up(const std::string& why) {
  std::fprintf(stderr, "checkpoint_bench: %s; giving up\n", why.c_str());
  std::printf("\n(incomplete: %s)\n", why.c_str());
  print_csv();
  std::error_code ec;
  if (!temp_root.empty()) std::filesystem::remove_all(temp_root, ec);
  std::_Exit(3);
}

/// Ends the program with a message when one job, its construction and destruction included,
/// outlives its bound: the public API has blocking calls (submitting, the job handle's
/// destructor) that no future can bound.
class Watchdog {
 public:
  Watchdog() {
    std::thread([this] {
      for (;;) {
        std::this_thread::sleep_for(1s);
        std::lock_guard<std::mutex> l(mu_);
        if (armed_ && Clock::now() > deadline_)
          give_up(what_ + " has not ended within " + std::to_string(limit_s_) + " s (stuck in the runtime)");
      }
    }).detach();
  }
  void arm(const std::string& what, std::chrono::seconds limit) {
    std::lock_guard<std::mutex> l(mu_);
    armed_ = true;
    what_ = what;
    limit_s_ = int64_t(limit.count());
    deadline_ = Clock::now() + limit;
  }
  void disarm() {
    std::lock_guard<std::mutex> l(mu_);
    armed_ = false;
  }

 private:
  std::mutex mu_;
  bool armed_ = false;
  std::string what_;
  int64_t limit_s_ = 0;
  Clock::time_point deadline_;
};

Watchdog& watchdog() {
  static Watchdog* w = new Watchdog;  // never destroyed: its thread outlives main
  return *w;
}

/// Arms the watchdog for the scope: declare it before the environment and the client, so
/// their destructors are covered too.
struct Watched {
  Watched(const std::string& what, std::chrono::seconds limit) { watchdog().arm(what, limit); }
  ~Watched() { watchdog().disarm(); }
  Watched(const Watched&) = delete;
  Watched& operator=(const Watched&) = delete;
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "checkpoint_bench-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temporary directory " + pattern);
    path_ = pattern;
    temp_root = path_;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    temp_root.clear();
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  /// A fresh, empty subdirectory name for one run.
  std::string fresh(const std::string& prefix) { return file(prefix + "-" + std::to_string(++runs_)); }
  static void remove(const std::string& p) {
    std::error_code ec;
    std::filesystem::remove_all(p, ec);
  }

 private:
  std::string path_;
  int runs_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Bounded waits.

struct Ended {
  bool succeeded = false;
  sluice::JobResult result;
  std::string error;
};

/// Waits at most `limit` for the job's end; past it, cancels the job, and gives up on the
/// program if even that does not end it within 30 s.
Ended finish(sluice::JobClient client, std::chrono::seconds limit, const std::string& what,
             const std::function<void()>& tick = {}) {
  auto done = std::async(std::launch::async, [client]() mutable { return client.wait(); });
  auto deadline = Clock::now() + limit;
  while (tick && Clock::now() < deadline && done.wait_for(50ms) != std::future_status::ready) tick();
  if (done.wait_until(deadline) != std::future_status::ready) {
    std::fprintf(stderr, "checkpoint_bench: %s did not end within %lld s; canceling it\n", what.c_str(),
                 static_cast<long long>(limit.count()));
    client.cancel();
    if (done.wait_for(30s) != std::future_status::ready) give_up(what + " did not end 30 s after cancel");
  }
  Ended e;
  try {
    e.result = done.get();
    e.succeeded = e.result.succeeded;
    e.error = e.result.error;
  } catch (const std::exception& ex) {
    e.error = ex.what();
  }
  return e;
}

template <class F>
bool poll_until(F done, std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

// ---------------------------------------------------------------------------------------------
// The jobs.

/// Events spread over `keys` keys in a scrambled order (7919 is prime, so every key comes once
/// per `keys` events).
std::function<Event(int64_t)> events_over(int64_t keys) {
  return [keys](int64_t i) { return Event{(i * 7919) % keys, i % 1000}; };
}

/// Per key, the count and sum of amounts in value state; emits (key, running sum).
class KeyedSum : public sluice::KeyedProcessFunction<int64_t, Event, KeySum> {
 public:
  void open(sluice::RuntimeContext& rc) override {
    state_ = &rc.state(sluice::ValueStateDescriptor<KeySum>{"count-sum"});
  }
  void process(const Event& e, Context& ctx, sluice::Collector<KeySum>& out) override {
    auto s = state_->value().value_or(KeySum{0, 0});
    s.first += 1;
    s.second += e.amount;
    state_->update(s);
    out.collect({ctx.current_key(), s.second});
  }

 private:
  sluice::ValueState<KeySum>* state_ = nullptr;
};

enum class Pipeline { stateful, stateless };
const char* pipeline_name(Pipeline p) { return p == Pipeline::stateful ? "stateful" : "stateless"; }

void build(sluice::StreamEnvironment& env, Pipeline p, int64_t events, int64_t keys) {
  auto src = env.from_generator(events, events_over(keys)).uid("source");
  if (p == Pipeline::stateful) {
    src.key_by([](const Event& e) { return e.key; }).process(KeyedSum(), "keyed-sum").uid("sum").sink_to(
        sluice::DiscardSink<KeySum>());
  } else {
    src.map(
           [](Event e) {
             e.amount = e.amount * 3 + 1;
             return e;
           },
           "map")
        .uid("map")
        .sink_to(sluice::DiscardSink<Event>());
  }
}

sluice::ExecutionConfig base_config(const Options& o, sluice::StateBackendKind backend, TempDir& tmp) {
  sluice::ExecutionConfig c;
  c.parallelism = o.parallelism;
  c.worker_threads = o.parallelism;
  c.state_backend = backend;
  c.state_dir = tmp.file("state");
  return c;
}

// ---------------------------------------------------------------------------------------------
// 1 and 2: throughput with and without checkpoints; duration and size of the checkpoints.

struct RunFigures {
  double rate = 0;
  double seconds = 0;
  double cpu_seconds = 0;            ///< of this process (all threads) during the run
  std::vector<double> durations_ms;  ///< of completed, non-final checkpoints
  std::vector<double> sizes;
  std::vector<double> align_ms, sync_ms, async_ms;  ///< of those the probes showed: max over subtasks
  int completed = 0, aborted = 0;
};

/// The cost of one checkpoint as the subtasks' probes showed it: the largest of each part.
struct Phases {
  double align = 0, sync = 0, async = 0;
};

/// Notes what the probes show of each checkpoint. Each subtask shows only its last one and
/// publishes every probe interval, so at short checkpoint intervals some are missed.
void sample_phases(const sluice::JobClient& client, std::map<int64_t, Phases>& seen) {
  for (const auto& p : client.probes()) {
    if (p.checkpoint_id <= 0) continue;
    auto& ph = seen[p.checkpoint_id];
    ph.align = std::max(ph.align, p.checkpoint_alignment_ms);
    ph.sync = std::max(ph.sync, p.checkpoint_sync_ms);
    ph.async = std::max(ph.async, p.checkpoint_async_ms);
  }
}

RunFigures run_throughput(const Options& o, Pipeline p, sluice::StateBackendKind backend,
                          std::chrono::milliseconds interval, int64_t events, TempDir& tmp) {
  auto what = std::string(pipeline_name(p)) + "/" + backend_name(backend) + " job";
  auto limit = std::chrono::seconds(int64_t(o.seconds * 20) + 120);
  Watched watched(what, limit + 60s);
  auto cfg = base_config(o, backend, tmp);
  std::string dir;
  if (interval.count() > 0) {
    dir = tmp.fresh("chk");
    cfg.checkpoint.interval = interval;
    cfg.checkpoint.dir = dir;
  }
  sluice::StreamEnvironment env(cfg);
  build(env, p, events, o.keys);
  std::map<int64_t, Phases> phases;
  auto cpu0 = cpu_seconds();
  auto t0 = Clock::now();
  auto client = env.execute_async(what);
  std::function<void()> tick;
  if (interval.count() > 0) tick = [&] { sample_phases(client, phases); };
  auto end = finish(client, limit, what, tick);
  RunFigures f;
  f.seconds = ms_since(t0) / 1e3;
  f.cpu_seconds = cpu_seconds() - cpu0;
  if (!end.succeeded) {
    std::fprintf(stderr, "checkpoint_bench: %s failed: %s\n", what.c_str(), end.error.c_str());
    f.rate = NAN;
  } else {
    f.rate = double(events) / f.seconds;
  }
  for (const auto& c : client.checkpoints()) {
    if (c.status == sluice::CheckpointInfo::Status::aborted) ++f.aborted;
    if (c.status != sluice::CheckpointInfo::Status::completed) continue;
    ++f.completed;
    if (c.final) continue;
    f.durations_ms.push_back(double(c.ended_ms - c.triggered_ms));
    f.sizes.push_back(double(c.bytes));
    auto it = phases.find(c.id);
    if (it == phases.end()) continue;
    f.align_ms.push_back(it->second.align);
    f.sync_ms.push_back(it->second.sync);
    f.async_ms.push_back(it->second.async);
  }
  if (!dir.empty()) TempDir::remove(dir);
  return f;
}

/// Events for about `o.seconds` of a run without checkpoints: grows a probe run until it takes
/// a quarter of that (so job start-up weighs little; it also warms up code and allocator),
/// then scales.
int64_t calibrate(const Options& o, Pipeline p, sluice::StateBackendKind backend, TempDir& tmp) {
  int64_t n = o.quick ? 100'000 : 500'000;
  double target = o.seconds / 4;
  for (;;) {
    auto f = run_throughput(o, p, backend, 0ms, n, tmp);
    if (std::isnan(f.rate)) give_up("the calibration run failed");
    if (f.seconds >= target || n > (int64_t(1) << 34)) {
      double want = f.rate * o.seconds;
      double step = std::pow(10.0, std::floor(std::log10(want)) - 1);  // two significant digits
      return std::max<int64_t>(100'000, int64_t(std::ceil(want / step) * step));
    }
    n *= std::clamp<int64_t>(int64_t(std::ceil(target / std::max(f.seconds, 0.01) * 1.2)), 2, 16);
  }
}

struct Setting {
  const char* name;
  std::chrono::milliseconds interval;
};
const Setting settings[] = {{"none", 0ms}, {"1s", 1000ms}, {"100ms", 100ms}};

void throughput_and_checkpoints(const Options& o, TempDir& tmp) {
  const Pipeline pipelines[] = {Pipeline::stateful, Pipeline::stateless};
  const sluice::StateBackendKind backends[] = {sluice::StateBackendKind::heap, sluice::StateBackendKind::rocksdb};
  int cores = std::min<int>(o.parallelism, std::max(1u, std::thread::hardware_concurrency()));

  struct Cell {
    Pipeline p;
    sluice::StateBackendKind b;
    int64_t events = 0;
    std::vector<RunFigures> runs[3];  // per setting
  };
  std::vector<Cell> cells;
  for (auto p : pipelines)
    for (auto b : backends)
      if ((o.pipeline.empty() || o.pipeline == pipeline_name(p)) && (o.backend.empty() || o.backend == backend_name(b)))
        cells.push_back(Cell{p, b, 0, {}});

  std::printf("1. Throughput cost of checkpointing\n");
  std::printf("   parallelism %d, %d worker threads (%d cores counted), %lld keys (stateful), aligned checkpoints,\n",
              o.parallelism, o.parallelism, cores, static_cast<long long>(o.keys));
  std::printf("   median of %d interleaved runs; ratio = over the same figure without checkpoints, same program run;\n",
              o.repeat);
  std::printf("   per cpu-s = events per CPU second this process used (steadier than events/s on a shared machine)\n");
  std::fflush(stdout);
  for (auto& c : cells) {
    c.events = o.events > 0 ? o.events : calibrate(o, c.p, c.b, tmp);
    std::fprintf(stderr, "checkpoint_bench: %s/%s: %lld events per run\n", pipeline_name(c.p), backend_name(c.b),
                 static_cast<long long>(c.events));
  }
  for (int r = 0; r < o.repeat; ++r)
    for (auto& c : cells)
      for (int s = 0; s < 3; ++s) {
        c.runs[s].push_back(run_throughput(o, c.p, c.b, settings[s].interval, c.events, tmp));
        std::fprintf(stderr, "checkpoint_bench: run %d/%d %s/%s checkpoints %s: %.2f s\n", r + 1, o.repeat,
                     pipeline_name(c.p), backend_name(c.b), settings[s].name, c.runs[s].back().seconds);
      }

  std::printf("\n   %-9s %-8s %-11s %11s %8s %11s %10s %7s %11s %7s %9s\n", "pipeline", "backend", "checkpoints",
              "events", "seconds", "events/s", "per core", "ratio", "per cpu-s", "ratio", "completed");
  for (auto& c : cells) {
    double base = NAN, cpu_base = NAN;
    for (int s = 0; s < 3; ++s) {
      std::vector<double> rates, per_cpu, secs, done;
      for (auto& f : c.runs[s]) {
        if (!std::isnan(f.rate)) {
          rates.push_back(f.rate);
          per_cpu.push_back(double(c.events) / f.cpu_seconds);
        }
        secs.push_back(f.seconds);
        done.push_back(f.completed);
      }
      double rate = median(rates), sec = median(secs), cpu_rate = median(per_cpu);
      if (s == 0) base = rate, cpu_base = cpu_rate;
      double ratio = rate / base, cpu_ratio = cpu_rate / cpu_base;
      std::printf("   %-9s %-8s %-11s %11lld %8.2f %11s %10s %7s %11s %7s %9.0f\n", pipeline_name(c.p),
                  backend_name(c.b), settings[s].name, static_cast<long long>(c.events), sec, rate_text(rate).c_str(),
                  rate_text(rate / cores).c_str(), fixed(ratio, 3).c_str(), rate_text(cpu_rate).c_str(),
                  fixed(cpu_ratio, 3).c_str(), median(done));
      std::string pn = pipeline_name(c.p), bn = backend_name(c.b);
      figure("throughput", pn, bn, settings[s].name, "events", double(c.events));
      figure("throughput", pn, bn, settings[s].name, "seconds", sec);
      figure("throughput", pn, bn, settings[s].name, "events_per_s", rate);
      figure("throughput", pn, bn, settings[s].name, "events_per_s_per_core", rate / cores);
      figure("throughput", pn, bn, settings[s].name, "ratio_vs_none", ratio);
      figure("throughput", pn, bn, settings[s].name, "events_per_cpu_s", cpu_rate);
      figure("throughput", pn, bn, settings[s].name, "cpu_ratio_vs_none", cpu_ratio);
    }
  }

  std::printf("\n2. Checkpoint duration (ended - triggered, as the coordinator saw it) and size, over the runs above\n");
  std::printf("   (completed checkpoints, not the final one a bounded job takes at its end). align, sync, async:\n");
  std::printf("   medians over the checkpoints the probes showed (sampled) of the largest value over subtasks\n\n");
  std::printf("   %-9s %-8s %-8s %6s %7s %10s %9s %11s %11s %8s %8s %8s %7s\n", "pipeline", "backend", "interval",
              "count", "aborted", "median ms", "max ms", "median size", "max size", "align", "sync", "async", "sampled");
  for (auto& c : cells)
    for (int s = 1; s < 3; ++s) {
      std::vector<double> dur, size, align, sync, async;
      int aborted = 0;
      for (auto& f : c.runs[s]) {
        dur.insert(dur.end(), f.durations_ms.begin(), f.durations_ms.end());
        size.insert(size.end(), f.sizes.begin(), f.sizes.end());
        align.insert(align.end(), f.align_ms.begin(), f.align_ms.end());
        sync.insert(sync.end(), f.sync_ms.begin(), f.sync_ms.end());
        async.insert(async.end(), f.async_ms.begin(), f.async_ms.end());
        aborted += f.aborted;
      }
      std::printf("   %-9s %-8s %-8s %6zu %7d %10s %9s %11s %11s %8s %8s %8s %7zu\n", pipeline_name(c.p),
                  backend_name(c.b), settings[s].name, dur.size(), aborted, fixed(median(dur), 1).c_str(),
                  fixed(max_of(dur), 1).c_str(), bytes_text(median(size)).c_str(), bytes_text(max_of(size)).c_str(),
                  fixed(median(align), 1).c_str(), fixed(median(sync), 1).c_str(), fixed(median(async), 1).c_str(),
                  align.size());
      std::string pn = pipeline_name(c.p), bn = backend_name(c.b);
      figure("checkpoint", pn, bn, settings[s].name, "count", double(dur.size()));
      figure("checkpoint", pn, bn, settings[s].name, "aborted", double(aborted));
      figure("checkpoint", pn, bn, settings[s].name, "duration_ms_median", median(dur));
      figure("checkpoint", pn, bn, settings[s].name, "duration_ms_max", max_of(dur));
      figure("checkpoint", pn, bn, settings[s].name, "bytes_median", median(size));
      figure("checkpoint", pn, bn, settings[s].name, "bytes_max", max_of(size));
      figure("checkpoint", pn, bn, settings[s].name, "alignment_ms_median", median(align));
      figure("checkpoint", pn, bn, settings[s].name, "sync_ms_median", median(sync));
      figure("checkpoint", pn, bn, settings[s].name, "async_ms_median", median(async));
    }
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// 3: a checkpoint under full backpressure.

/// Opens when the benchmark says so; until then the sink takes nothing.
struct Latch {
  std::atomic<bool> open{false};
};

/// A sink that takes nothing until its latch opens, so every buffer up to the source fills.
class LatchedSink final : public sluice::Sink<int64_t> {
 public:
  explicit LatchedSink(std::shared_ptr<Latch> l) : latch_(std::move(l)) {}
  std::unique_ptr<sluice::SinkWriter<int64_t>> create_writer(int, int) const override {
    return std::make_unique<Writer>(latch_);
  }
  std::string name() const override { return "Latched Sink"; }

 private:
  class Writer final : public sluice::SinkWriter<int64_t> {
   public:
    explicit Writer(std::shared_ptr<Latch> l) : latch_(std::move(l)) {}
    void open(sluice::OperatorContext& ctx) override {
      ctx_ = &ctx;
      on_wakeup();
    }
    void write(int64_t&&, int64_t) override {}
    void on_wakeup() override {
      bool open = latch_->open.load();
      ctx_->set_available(open);
      if (!open) ctx_->request_wakeup(2ms);
    }

   private:
    std::shared_ptr<Latch> latch_;
    sluice::OperatorContext* ctx_ = nullptr;
  };
  std::shared_ptr<Latch> latch_;
};

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

struct BackpressureFigures {
  bool completed = false;
  bool completed_while_latched = false;  ///< aligned: before the latch opened (not expected)
  double coordinator_ms = NAN;           ///< triggered -> completed
  double client_ms = NAN;                ///< checkpoint() call -> return
  double after_latch_ms = NAN;           ///< aligned: latch opened -> completed
  double held_ms = 0;                    ///< aligned: how long it was seen not to complete
  uint64_t inflight = 0, bytes = 0;
  bool unaligned = false;
  std::string note;
};

BackpressureFigures under_backpressure(const Options& o, sluice::CheckpointingMode mode, TempDir& tmp) {
  using sluice::CheckpointingMode;
  std::string what = std::string("backpressured job (") + sluice::checkpointing_mode_name(mode) + ")";
  Watched watched(what, 300s);
  auto cfg = base_config(o, sluice::StateBackendKind::heap, tmp);
  cfg.chaining = false;
  auto dir = tmp.fresh("chk");
  cfg.checkpoint.interval = std::chrono::hours(1);  // only on demand
  cfg.checkpoint.dir = dir;
  cfg.checkpoint.mode = mode;
  cfg.checkpoint.alignment_timeout = 50ms;
  cfg.checkpoint.timeout = 120s;
  sluice::StreamEnvironment env(cfg);
  auto latch = std::make_shared<Latch>();
  env.from_generator(-1, [](int64_t i) { return i; }).map([](int64_t v) { return v + 1; }).sink_to(LatchedSink(latch));
  auto client = env.execute_async(what);
  BackpressureFigures f;
  auto stop = [&] {
    latch->open = true;
    client.cancel();
    finish(client, 30s, what);  // ends "canceled"
    TempDir::remove(dir);
  };

  // Full: no task before the sink has credit, and each has its output queues full.
  bool full = poll_until(
      [&] {
        int seen = 0;
        for (const auto& p : client.probes()) {
          if (!starts_with(p.task, "Generator") && !starts_with(p.task, "Map")) continue;
          if (p.credits_available != 0 || p.queued_buffers_out < cfg.output_queue_buffers + cfg.output_floating_buffers)
            return false;
          ++seen;
        }
        return seen == 2 * o.parallelism;
      },
      60s);
  if (!full) {
    f.note = "the pipeline did not fill up within 60 s";
    stop();
    return f;
  }
  std::this_thread::sleep_for(200ms);  // settled
  auto t0 = Clock::now();
  auto done = std::async(std::launch::async, [client]() mutable { return client.checkpoint(); });
  Clock::time_point opened{};
  if (mode == CheckpointingMode::aligned) {
    // The barrier waits behind full buffers: the sources snapshot, the sink cannot.
    auto hold = o.quick ? 500ms : 2000ms;
    bool sources = poll_until(
        [&] {
          for (const auto& p : client.probes())
            if (starts_with(p.task, "Generator") && p.checkpoint_id > 0) return true;
          return false;
        },
        30s);
    if (!sources) f.note = "sources did not snapshot within 30 s; ";
    f.completed_while_latched = done.wait_for(hold) == std::future_status::ready;
    f.held_ms = ms_since(t0);
    opened = Clock::now();
    latch->open = true;
  }
  if (done.wait_for(60s) != std::future_status::ready) {
    f.note += "the checkpoint did not complete within 60 s";
    client.cancel();
    if (done.wait_for(30s) != std::future_status::ready) give_up(what + ": checkpoint() did not return after cancel");
    try {
      done.get();
    } catch (...) {
    }
    stop();
    return f;
  }
  f.client_ms = ms_since(t0);
  if (mode == CheckpointingMode::aligned) f.after_latch_ms = ms_since(opened);
  int64_t id = 0;
  try {
    id = done.get();
    f.completed = true;
  } catch (const std::exception& e) {
    f.note += std::string("checkpoint failed: ") + e.what();
    stop();
    return f;
  }
  for (const auto& c : client.checkpoints())
    if (c.id == id) {
      f.coordinator_ms = double(c.ended_ms - c.triggered_ms);
      f.bytes = c.bytes;
    }
  // Probes lag the checkpoint by up to a probe interval.
  bool reported = poll_until(
      [&] {
        auto probes = client.probes();
        return !probes.empty() && std::all_of(probes.begin(), probes.end(),
                                               [&](const sluice::TaskProbe& p) { return p.checkpoint_id >= id; });
      },
      5s);
  for (const auto& p : client.probes())
    if (p.checkpoint_id == id) {
      f.inflight += p.checkpoint_inflight_bytes;
      f.unaligned = f.unaligned || p.checkpoint_unaligned;
    }
  if (!reported) f.note += "not every task's probe reported the checkpoint within 5 s; ";
  stop();
  return f;
}

void backpressure(const Options& o, TempDir& tmp) {
  using sluice::CheckpointingMode;
  std::printf("\n3. A checkpoint under full backpressure (generator -> map -> sink that takes nothing, unchained,\n");
  std::printf("   parallelism %d; triggered once every buffer is full; alignment timeout 50 ms)\n\n", o.parallelism);
  std::printf("   %-21s %9s %14s %11s %15s %12s %12s\n", "mode", "completed", "trigger->done", "barriers",
              "in-flight saved", "size", "after latch");
  for (auto mode : {CheckpointingMode::unaligned, CheckpointingMode::aligned_with_timeout, CheckpointingMode::aligned}) {
    auto f = under_backpressure(o, mode, tmp);
    std::string name = sluice::checkpointing_mode_name(mode);
    std::string slug = name;
    std::replace(slug.begin(), slug.end(), ' ', '-');
    auto trig = fixed(f.coordinator_ms, 0, " ms");
    auto after = mode == CheckpointingMode::aligned ? fixed(f.after_latch_ms, 0, " ms") : std::string("-");
    const char* done = !f.completed ? "no" : mode != CheckpointingMode::aligned ? "latched" : "unlatched";
    std::printf("   %-21s %9s %14s %11s %15s %12s %12s\n", name.c_str(), done, trig.c_str(),
                f.completed ? (f.unaligned ? "unaligned" : "aligned") : "-", bytes_text(double(f.inflight)).c_str(),
                bytes_text(double(f.bytes)).c_str(), after.c_str());
    if (mode == CheckpointingMode::aligned && f.completed)
      std::printf("   %-21s %s\n", "",
                  f.completed_while_latched
                      ? "(completed while the sink was latched: not expected for aligned)"
                      : ("(not complete " + std::to_string(int(f.held_ms)) +
                         " ms after the trigger with the sink latched; completed after the latch opened)")
                            .c_str());
    if (!f.note.empty()) std::printf("   %-21s note: %s\n", "", f.note.c_str());
    figure("backpressure", "latched", "heap", slug, "completed", f.completed ? 1 : 0);
    figure("backpressure", "latched", "heap", slug, "trigger_to_complete_ms", f.coordinator_ms);
    figure("backpressure", "latched", "heap", slug, "client_wait_ms", f.client_ms);
    figure("backpressure", "latched", "heap", slug, "inflight_bytes", double(f.inflight));
    figure("backpressure", "latched", "heap", slug, "checkpoint_bytes", double(f.bytes));
    if (mode == CheckpointingMode::aligned) {
      figure("backpressure", "latched", "heap", slug, "completed_while_latched", f.completed_while_latched ? 1 : 0);
      figure("backpressure", "latched", "heap", slug, "latched_wait_ms", f.held_ms);
      figure("backpressure", "latched", "heap", slug, "after_latch_open_ms", f.after_latch_ms);
    }
    std::fflush(stdout);
  }
}

// ---------------------------------------------------------------------------------------------
// 4: recovery time after one injected fault.

/// What the faulty function records, shared by all its copies over all runs of the job.
struct FaultClock {
  int64_t after = 0;                      ///< records (all subtasks) before the fault
  std::atomic<int64_t> seen{0};           ///< records of the first run
  std::atomic<int64_t> last_completed{0}; ///< newest checkpoint notified complete
  std::atomic<int> completed{0};
  std::atomic<bool> fired{false};
  std::atomic<int64_t> restored_from{0};  ///< newest complete checkpoint when the fault fired
  std::atomic<int64_t> thrown_ns{0}, reopened_ns{0}, first_ns{0};
};

/// KeyedSum that throws once, after `after` records and two completed checkpoints, and notes
/// the time of the throw, of the first open() of the restarted run, and of its first record.
class FaultyKeyedSum final : public sluice::KeyedProcessFunction<int64_t, Event, KeySum> {
 public:
  explicit FaultyKeyedSum(std::shared_ptr<FaultClock> c) : clock_(std::move(c)) {}
  void open(sluice::RuntimeContext& rc) override {
    state_ = &rc.state(sluice::ValueStateDescriptor<KeySum>{"count-sum"});
    restarted_ = clock_->fired.load();
    first_seen_ = false;
    if (restarted_) {
      int64_t zero = 0;
      clock_->reopened_ns.compare_exchange_strong(zero, now_ns());
    }
  }
  void process(const Event& e, Context& ctx, sluice::Collector<KeySum>& out) override {
    if (restarted_) {
      if (!first_seen_) {
        first_seen_ = true;
        int64_t zero = 0;
        clock_->first_ns.compare_exchange_strong(zero, now_ns());
      }
    } else if (clock_->seen.fetch_add(1) + 1 >= clock_->after && clock_->completed.load() >= 2) {
      auto t = now_ns();
      bool no = false;
      if (clock_->fired.compare_exchange_strong(no, true)) {
        clock_->restored_from = clock_->last_completed.load();
        clock_->thrown_ns = t;
        throw std::runtime_error("injected fault (checkpoint_bench)");
      }
    }
    auto s = state_->value().value_or(KeySum{0, 0});
    s.first += 1;
    s.second += e.amount;
    state_->update(s);
    out.collect({ctx.current_key(), s.second});
  }
  void notify_checkpoint_complete(int64_t id) override {
    clock_->completed.fetch_add(1);
    auto last = clock_->last_completed.load();
    while (last < id && !clock_->last_completed.compare_exchange_weak(last, id)) {
    }
  }

 private:
  std::shared_ptr<FaultClock> clock_;
  sluice::ValueState<KeySum>* state_ = nullptr;
  bool restarted_ = false;
  bool first_seen_ = false;
};

/// The benchmark's events, split among subtasks as the generator splits them, until `stop()`
/// says the source has ended (then the job ends by itself, and its result tells the restarts).
class UntilSource final : public sluice::Source<Event> {
 public:
  UntilSource(int64_t keys, std::function<bool()> stop) : events_(events_over(keys)), stop_(std::move(stop)) {}
  std::unique_ptr<sluice::SourceReader<Event>> create_reader(int subtask, int parallelism) const override {
    return std::make_unique<Reader>(*this, subtask, parallelism);
  }
  std::unique_ptr<sluice::SourceReader<Event>> resume_reader(int, int parallelism,
                                                             const std::string& position) const override {
    int64_t next = 0;
    if (position.size() != sizeof next) throw sluice::JobError("Until Source: a position must be 8 bytes");
    std::memcpy(&next, position.data(), sizeof next);
    return std::make_unique<Reader>(*this, next, parallelism);
  }
  bool bounded() const override { return true; }
  std::string name() const override { return "Until Source"; }

 private:
  class Reader final : public sluice::SourceReader<Event> {
   public:
    Reader(const UntilSource& s, int64_t next, int step) : s_(s), next_(next), step_(step) {}
    sluice::SourceStatus poll(sluice::Output<Event>& out, int max_records) override {
      if (s_.stop_()) return sluice::SourceStatus::finished;
      for (int i = 0; i < max_records; ++i, next_ += step_) out.push(s_.events_(next_), sluice::no_timestamp);
      return sluice::SourceStatus::more;
    }
    std::string position() const override { return std::string(reinterpret_cast<const char*>(&next_), sizeof next_); }

   private:
    const UntilSource& s_;
    int64_t next_;
    int64_t step_;
  };
  std::function<Event(int64_t)> events_;
  std::function<bool()> stop_;
};

struct RecoveryFigures {
  bool ok = false;
  double to_open_ms = NAN, to_first_ms = NAN;
  double restored_bytes = NAN;
  int restarts = 0;
  std::string note;
};

RecoveryFigures recover_once(const Options& o, sluice::StateBackendKind backend, TempDir& tmp) {
  std::string what = std::string("recovery job (") + backend_name(backend) + ")";
  Watched watched(what, 300s);
  auto cfg = base_config(o, backend, tmp);
  auto dir = tmp.fresh("chk");
  cfg.checkpoint.interval = 100ms;
  cfg.checkpoint.dir = dir;
  cfg.checkpoint.restart = sluice::parse_restart_strategy("fixed-delay:1:0ms");
  auto clock = std::make_shared<FaultClock>();
  clock->after = o.fault_after;
  // The source ends 200 ms after the restarted run's first record.
  auto stop = [clock] {
    auto first = clock->first_ns.load();
    return first != 0 && now_ns() - first > 200'000'000;
  };
  sluice::StreamEnvironment env(cfg);
  env.from_source<Event>(UntilSource(o.keys, stop))
      .uid("source")
      .key_by([](const Event& e) { return e.key; })
      .process(FaultyKeyedSum(clock), "keyed-sum")
      .uid("sum")
      .sink_to(sluice::DiscardSink<KeySum>())
      .uid("sink");
  auto client = env.execute_async(what);
  auto end = finish(client, 240s, what);
  RecoveryFigures f;
  f.restarts = end.result.restarts;
  if (!end.succeeded) f.note = "job failed: " + end.error + "; ";
  if (!clock->fired.load()) {
    f.note += "the fault never fired";
  } else if (clock->first_ns.load() == 0) {
    f.note += "the restarted run processed no record";
  } else {
    f.ok = end.succeeded;
    f.to_first_ms = double(clock->first_ns - clock->thrown_ns) / 1e6;
    if (clock->reopened_ns.load()) f.to_open_ms = double(clock->reopened_ns - clock->thrown_ns) / 1e6;
  }
  for (const auto& c : client.checkpoints())
    if (c.id == clock->restored_from.load()) f.restored_bytes = double(c.bytes);
  TempDir::remove(dir);
  return f;
}

void recovery(const Options& o, TempDir& tmp) {
  std::printf("\n4. Recovery: source -> key_by -> keyed count/sum (%lld keys) -> discard, parallelism %d,\n",
              static_cast<long long>(o.keys), o.parallelism);
  std::printf("   checkpoints every 100 ms, one fault after %lld records (and 2 completed checkpoints), restart fixed-delay:1:0ms; %d runs each.\n",
              static_cast<long long>(o.fault_after), o.repeat);
  std::printf("   From the throw to the first open() of the restarted function, and to its first record.\n\n");
  std::printf("   %-8s %14s %15s %15s %10s %10s %9s %9s\n", "backend", "restored from", "throw->open", "throw->record",
              "min", "max", "runs ok", "restarts");
  for (auto backend : {sluice::StateBackendKind::heap, sluice::StateBackendKind::rocksdb}) {
    std::vector<double> open, first, bytes, restarts;
    std::string notes;
    for (int r = 0; r < o.repeat; ++r) {
      auto f = recover_once(o, backend, tmp);
      std::fprintf(stderr, "checkpoint_bench: recovery %s run %d: %.1f ms%s%s\n", backend_name(backend), r + 1,
                   f.to_first_ms, f.note.empty() ? "" : ", ", f.note.c_str());
      if (!f.note.empty()) notes += (notes.empty() ? "" : "; ") + f.note;
      restarts.push_back(f.restarts);
      if (!f.ok) continue;
      first.push_back(f.to_first_ms);
      if (!std::isnan(f.to_open_ms)) open.push_back(f.to_open_ms);
      if (!std::isnan(f.restored_bytes)) bytes.push_back(f.restored_bytes);
    }
    std::printf("   %-8s %14s %15s %15s %10s %10s %6zu/%-2d %9s\n", backend_name(backend),
                bytes_text(median(bytes)).c_str(), fixed(median(open), 1, " ms").c_str(),
                fixed(median(first), 1, " ms").c_str(), fixed(min_of(first), 1, " ms").c_str(),
                fixed(max_of(first), 1, " ms").c_str(), first.size(), o.repeat, fixed(median(restarts), 0).c_str());
    if (!notes.empty()) std::printf("   %-8s note: %s\n", "", notes.c_str());
    std::string bn = backend_name(backend);
    figure("recovery", "keyed-sum", bn, "100ms", "restored_checkpoint_bytes", median(bytes));
    figure("recovery", "keyed-sum", bn, "100ms", "throw_to_open_ms_median", median(open));
    figure("recovery", "keyed-sum", bn, "100ms", "throw_to_first_record_ms_median", median(first));
    figure("recovery", "keyed-sum", bn, "100ms", "throw_to_first_record_ms_min", min_of(first));
    figure("recovery", "keyed-sum", bn, "100ms", "throw_to_first_record_ms_max", max_of(first));
    figure("recovery", "keyed-sum", bn, "100ms", "runs_ok", double(first.size()));
    figure("recovery", "keyed-sum", bn, "100ms", "restarts_median", median(restarts));
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"checkpoint_bench: what checkpoints cost (throughput, duration and size, backpressure, recovery)",
               "checkpoint_bench"};
  app.add_option("-p,--parallelism", o.parallelism, "parallelism and worker threads (default 2)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--events", o.events,
                 "events per throughput run (default: calibrated to --seconds per pipeline and backend)")
      ->check(CLI::Range(int64_t(1000), int64_t(1) << 40));
  app.add_option("--seconds", o.seconds, "target length of a throughput run when calibrated (default 6)")
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--repeat", o.repeat, "runs per configuration, the median reported (default 3)")
      ->check(CLI::Range(1, 100));
  app.add_option("--keys", o.keys, "keys of the stateful pipelines (default 100000)")->check(CLI::Range(int64_t(1), int64_t(1) << 32));
  app.add_option("--fault-after", o.fault_after, "records before the injected fault (default 1000000)")
      ->check(CLI::Range(int64_t(1000), int64_t(1) << 40));
  std::vector<std::string> only;
  app.add_option("--only", only, "run only these parts: throughput (tables 1 and 2), backpressure, recovery")
      ->check(CLI::IsMember({"throughput", "backpressure", "recovery"}))
      ->delimiter(',');
  app.add_option("--pipeline", o.pipeline, "throughput: only this pipeline (default both)")
      ->check(CLI::IsMember({"stateful", "stateless"}));
  app.add_option("--backend", o.backend, "throughput: only this state backend (default both)")
      ->check(CLI::IsMember({"heap", "rocksdb"}));
  bool quick = false;
  app.add_flag("--quick", quick, "small sizes and one run each, for a smoke run");
  app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error or off (default error)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // usage errors exit 2, as `sluice` does
  }
  if (quick) {
    o.quick = true;
    if (app.count("--seconds") == 0) o.seconds = 0.5;
    if (app.count("--repeat") == 0) o.repeat = 1;
    if (app.count("--keys") == 0) o.keys = 10'000;
    if (app.count("--fault-after") == 0) o.fault_after = 100'000;
  }
  try {
    sluice::log::set_level(o.log_level);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "checkpoint_bench: %s\n", e.what());
    return 2;
  }
  try {
    TempDir tmp;
    std::fprintf(stderr, "checkpoint_bench: checkpoints and state under %s\n", tmp.file("").c_str());
    auto wanted = [&](const char* part) { return only.empty() || std::find(only.begin(), only.end(), part) != only.end(); };
    if (wanted("throughput")) throughput_and_checkpoints(o, tmp);
    if (wanted("backpressure")) backpressure(o, tmp);
    if (wanted("recovery")) recovery(o, tmp);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint_bench: %s\n", e.what());
    return 1;
  }
  print_csv();
  return 0;
}
