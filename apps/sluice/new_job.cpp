// apps/sluice/new_job.cpp — `sluice new-job DIR`: writes a job project (CMake, one KeyedProcessFunction, a harness test) that builds against the installed Sluice.
#include "new_job.hpp"

#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace sluice::cli {

namespace {

namespace fs = std::filesystem;

const char* const cmake_lists = R"(# CMakeLists.txt — the @NAME@ job: a library that `sluice run` loads, and its harness test.
cmake_minimum_required(VERSION 3.25)
project(@NAME@ LANGUAGES CXX)

# The Sluice this project was made with is looked for first; -DCMAKE_PREFIX_PATH=... picks another.
find_package(Sluice REQUIRED HINTS "@PREFIX@")

# @NAME@.so: the job library (its build fingerprint must match the sluice that runs it).
sluice_add_job(@NAME@ src/@NAME@.cpp)

enable_testing()
add_executable(@NAME@_test tests/@NAME@_test.cpp)
target_include_directories(@NAME@_test PRIVATE src)
target_link_libraries(@NAME@_test PRIVATE Sluice::sluice)
add_test(NAME @NAME@_test COMMAND @NAME@_test)
)";

const char* const job_header = R"(// src/@NAME@.hpp — the job's logic: click sessions per user, closed by an event-time timer.
#pragma once

#include <sluice/sluice.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

namespace @NAME@ {

/// A click: the user, and when it happened (event time, milliseconds).
using Click = std::pair<std::string, int64_t>;

/// Counts each user's clicks per session. A session ends once `gap_ms` of event time passed
/// after its last click; it is then emitted as "USER: N clicks from FIRST to LAST ms".
class Sessions final : public sluice::KeyedProcessFunction<std::string, Click, std::string> {
 public:
  explicit Sessions(int64_t gap_ms = 30000) : gap_ms_(gap_ms) {}

  void open(sluice::RuntimeContext& rc) override {
    count_ = &rc.state(sluice::ValueStateDescriptor<int64_t>{"count"});
    first_ = &rc.state(sluice::ValueStateDescriptor<int64_t>{"first"});
    last_ = &rc.state(sluice::ValueStateDescriptor<int64_t>{"last"});
  }

  void process(const Click& click, Context& ctx, sluice::Collector<std::string>& out) override {
    auto last = last_->value();
    if (last) ctx.timer_service().delete_event_time_timer(*last + gap_ms_);
    if (last && click.second > *last + gap_ms_) {  // the watermark has not closed the session yet
      emit(ctx.current_key(), out);
      last.reset();
    }
    first_->update(std::min(click.second, first_->value().value_or(click.second)));
    auto newest = std::max(click.second, last.value_or(click.second));
    last_->update(newest);
    count_->update(count_->value().value_or(0) + 1);
    ctx.timer_service().register_event_time_timer(newest + gap_ms_);
  }

  void on_timer(int64_t, OnTimerContext& ctx, sluice::Collector<std::string>& out) override {
    emit(ctx.current_key(), out);
  }

 private:
  void emit(const std::string& user, sluice::Collector<std::string>& out) {
    auto n = count_->value().value_or(0);
    out.collect(user + ": " + std::to_string(n) + (n == 1 ? " click" : " clicks") + " from " +
                std::to_string(first_->value().value_or(0)) + " to " + std::to_string(last_->value().value_or(0)) +
                " ms");
    count_->clear();
    first_->clear();
    last_->clear();
  }

  int64_t gap_ms_;
  sluice::ValueState<int64_t>* count_ = nullptr;
  sluice::ValueState<int64_t>* first_ = nullptr;
  sluice::ValueState<int64_t>* last_ = nullptr;
};

}  // namespace @NAME@
)";

const char* const job_source = R"(// src/@NAME@.cpp — the @NAME@ job: clicks in, sessions per user out. Run it with `sluice run build/@NAME@.so`.
#include "@NAME@.hpp"

#include <chrono>
#include <vector>

namespace {

int job(sluice::JobContext& ctx) {
  using @NAME@::Click;
  // Replace with a real source (read_text_file, from_source) when the logic is right.
  std::vector<Click> clicks = {{"ann", 1000},  {"bob", 2000},  {"ann", 5000},  {"ann", 9000},
                               {"bob", 70000}, {"ann", 90000}, {"bob", 71000}, {"cid", 3000}};
  sluice::StreamEnvironment env(ctx.config);
  // One reader keeps the clicks in time order, within the watermark's bound; the timestamps
  // are taken in the same (chained) task, before any exchange could reorder them.
  env.from_collection(clicks)
      .set_parallelism(1)
      .assign_timestamps_and_watermarks(
          sluice::WatermarkStrategy<Click>::for_bounded_out_of_orderness(std::chrono::seconds(5))
              .with_timestamp_assigner([](const Click& c, int64_t) { return c.second; }))
      .set_parallelism(1)
      .key_by([](const Click& c) { return c.first; })
      .process(@NAME@::Sessions(30000), "Sessions")
      .print();
  env.execute("@NAME@");
  return 0;
}

}  // namespace

SLUICE_JOB_MAIN(job)
)";

const char* const job_test = R"(// tests/@NAME@_test.cpp — the Sessions function driven by Sluice's operator harness: no cluster, event time by hand.
#include "@NAME@.hpp"

#include <sluice/testing/harness.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "FAILED: %s\n", what);
  ++failures;
}

}  // namespace

int main() {
  using @NAME@::Click;
  auto h = sluice::testing::OneInputHarness<Click, std::string>::keyed_process(
      [](const Click& c) { return c.first; }, @NAME@::Sessions(1000));
  h->process_element({"ann", 0}, 0);
  h->process_element({"ann", 500}, 500);
  h->process_element({"bob", 700}, 700);
  h->process_watermark(1499);
  expect(h->output().empty(), "no session closes before its gap has passed");
  h->process_watermark(1500);
  expect(h->output_values() == std::vector<std::string>{"ann: 2 clicks from 0 to 500 ms"},
         "ann's session closes 1000 ms after her last click");
  h->clear_output();
  h->process_element({"ann", 1600}, 1600);
  h->process_element({"ann", 1550}, 1550);  // out of order, within the session
  h->process_element({"ann", 5000}, 5000);  // more than the gap later: her session closes first
  expect(h->output_values() == std::vector<std::string>{"ann: 2 clicks from 1550 to 1600 ms"},
         "a click after the gap closes the open session even before the watermark passed it");
  h->clear_output();
  h->end_input();
  expect(h->output_values() ==
             std::vector<std::string>{"bob: 1 click from 700 to 700 ms", "ann: 1 click from 5000 to 5000 ms"},
         "the end of input closes every open session, in time order");
  if (failures == 0) std::printf("all checks passed\n");
  return failures == 0 ? 0 : 1;
}
)";

const char* const readme = R"(# @NAME@

A Sluice job made by `sluice new-job`.

    cmake -S . -B build            # add -DCMAKE_PREFIX_PATH=PREFIX if Sluice is installed elsewhere
    cmake --build build
    (cd build && ctest --output-on-failure)
    sluice run build/@NAME@.so --parallelism 2

`src/@NAME@.hpp` holds the logic (a KeyedProcessFunction with keyed state and event-time
timers), `src/@NAME@.cpp` the job's dataflow, `tests/@NAME@_test.cpp` a test of the logic
through the operator harness.
)";

std::string fill(std::string text, const std::string& name, const std::string& prefix) {
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"@NAME@", name}, {"@PREFIX@", prefix}})
    for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
      text.replace(at, key.size(), value);
  return text;
}

/// The install prefix of the running sluice (its binary is PREFIX/bin/sluice).
std::string own_prefix() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return exe.parent_path().parent_path().string();
}

}  // namespace

std::string job_name_of(const std::string& dir) {
  auto base = fs::path(dir).lexically_normal().filename().string();
  if (base.empty()) base = fs::path(dir).lexically_normal().parent_path().filename().string();
  std::string name;
  for (char c : base) name += std::isalnum(static_cast<unsigned char>(c)) ? char(std::tolower(c)) : '_';
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) name = "job_" + name;
  return name;
}

int new_job(const std::string& dir, std::ostream& out, std::ostream& err) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !(fs::is_directory(dir, ec) && fs::is_empty(dir, ec))) {
    err << "sluice new-job: '" << dir << "' already exists and is not an empty directory; name a new one\n";
    return 2;
  }
  auto name = job_name_of(dir);
  auto prefix = own_prefix();
  const std::vector<std::pair<std::string, const char*>> files = {
      {"CMakeLists.txt", cmake_lists},
      {"README.md", readme},
      {"src/" + name + ".hpp", job_header},
      {"src/" + name + ".cpp", job_source},
      {"tests/" + name + "_test.cpp", job_test},
  };
  for (const auto& [path, text] : files) {
    auto file = fs::path(dir) / path;
    fs::create_directories(file.parent_path(), ec);
    std::ofstream f(file);
    f << fill(text, name, prefix);
    f.close();
    if (ec || !f) {
      err << "sluice new-job: cannot write '" << file.string() << "'"
          << (ec ? ": " + ec.message() : std::string()) << "\n";
      return 2;
    }
  }
  out << "wrote job '" << name << "' to " << dir << "\n"
      << "  cmake -S " << dir << " -B " << dir << "/build && cmake --build " << dir << "/build\n"
      << "  sluice run " << dir << "/build/" << name << ".so\n";
  return 0;
}

}  // namespace sluice::cli
