// tests/integration/test_jobs.cpp — whole jobs on the embedded runtime: results checked against independent computations.
#include <catch2/catch.hpp>

#include <sluice/sluice.hpp>

#include <atomic>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "support/temp_dir.hpp"

using namespace sluice;
using WordCount = std::pair<std::string, int64_t>;

namespace {

std::vector<std::string> make_lines(int n, uint32_t seed) {
  static const std::vector<std::string> vocabulary = {"sluice", "gate", "flow", "credit", "barrier",
                                                      "actor", "key", "group", "water", "record",
                                                      "stream", "batch", "x", "backpressure"};
  std::mt19937 rng(seed);
  std::vector<std::string> lines;
  for (int i = 0; i < n; ++i) {
    std::string line;
    int words = int(rng() % 12);
    for (int w = 0; w < words; ++w) {
      if (w) line += rng() % 5 == 0 ? "  " : " ";
      line += vocabulary[rng() % vocabulary.size()];
    }
    lines.push_back(line);
  }
  return lines;
}

void split(std::string line, Collector<WordCount>& out) {
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ') ++j;
    if (j > i) out.collect({line.substr(i, j - i), 1});
    i = j;
  }
}

std::string write_file(const test_support::TempDir& dir, const std::vector<std::string>& lines,
                       bool trailing_newline = true) {
  auto path = dir.file("input.txt");
  std::ofstream f(path, std::ios::binary);
  for (size_t i = 0; i < lines.size(); ++i) {
    f << lines[i];
    if (i + 1 < lines.size() || trailing_newline) f << "\n";
  }
  return path;
}

template <class T>
std::vector<T> sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("word count over a text file equals an independent count at parallelism 1, 2 and 4", "[job]") {
  test_support::TempDir dir;
  auto lines = make_lines(20000, 42);
  auto path = write_file(dir, lines);
  std::map<std::string, int64_t> expected;
  for (const auto& l : lines) {
    std::istringstream in(l);
    std::string w;
    while (in >> w) ++expected[w];
  }
  struct Case {
    int p;
    StateBackendKind backend;
  };
  for (auto c : {Case{1, StateBackendKind::heap}, Case{2, StateBackendKind::heap}, Case{4, StateBackendKind::heap},
                 Case{2, StateBackendKind::rocksdb}}) {
    int p = c.p;
    DYNAMIC_SECTION("parallelism " << p << (c.backend == StateBackendKind::rocksdb ? " rocksdb" : " heap")) {
      StreamEnvironment env;
      env.set_parallelism(p);
      env.config().state_backend = c.backend;
      env.config().state_dir = dir.path().string();
      CollectSink<WordCount> sink;
      env.read_text_file(path)
          .flat_map<WordCount>(split, "split")
          .key_by([](const WordCount& wc) { return wc.first; })
          .sum("count")
          .sink_to(sink);
      env.execute("word count p" + std::to_string(p));
      // Rolling counts: the final count of a word is its largest.
      std::map<std::string, int64_t> got;
      for (auto& [w, c] : sink.collected()->values()) got[w] = std::max(got[w], c);
      CHECK(got == expected);
    }
  }
}

TEST_CASE("a text file split over subtasks yields every line exactly once", "[job][source]") {
  test_support::TempDir dir;
  std::vector<std::string> lines;
  std::mt19937 rng(3);
  for (int i = 0; i < 5000; ++i) lines.push_back(std::string(rng() % 300, char('a' + i % 26)) + std::to_string(i));
  lines.push_back("");
  lines.push_back("last line without a newline");
  auto path = write_file(dir, lines, false);
  for (int p : {1, 3, 7}) {
    StreamEnvironment env;
    env.set_parallelism(p);
    CollectSink<std::string> sink;
    env.read_text_file(path).sink_to(sink);
    env.execute("split lines");
    CHECK(sorted(sink.collected()->values()) == sorted(lines));
  }
}

TEST_CASE("a missing input file fails the job with the path in the sentence", "[job][source]") {
  StreamEnvironment env;
  env.set_parallelism(1);
  env.read_text_file("/nonexistent/sluice/input.txt").sink_to(DiscardSink<std::string>());
  CHECK_THROWS_WITH(env.execute("missing file"),
                    Catch::Contains("/nonexistent/sluice/input.txt") && Catch::Contains("missing file"));
}

TEST_CASE("union feeds one task from two input gates", "[job][union]") {
  StreamEnvironment env;
  env.set_parallelism(2);
  auto evens = env.from_generator(5000, [](int64_t i) { return 2 * i; });
  auto odds = env.from_generator(5000, [](int64_t i) { return 2 * i + 1; }).set_parallelism(3);
  CollectSink<int64_t> sink;
  evens.union_with(odds).map([](int64_t x) { return x * 10; }, "times ten").sink_to(sink);
  auto client = env.execute_async("union");
  client.wait();
  std::vector<int64_t> expected;
  for (int64_t i = 0; i < 10000; ++i) expected.push_back(i * 10);
  CHECK(sorted(sink.collected()->values()) == expected);
  // The map's task read from two gates: its subtasks' input counts add up to every record.
  uint64_t in = 0;
  for (auto& p : client.probes())
    if (p.task.rfind("times ten", 0) == 0) in += p.records_in;
  CHECK(in == 10000);
}

namespace {
class SplitOdd : public ProcessFunction<int64_t, int64_t> {
 public:
  explicit SplitOdd(OutputTag<std::string> tag) : tag_(std::move(tag)) {}
  void process(const int64_t& v, Context& ctx, Collector<int64_t>& out) override {
    if (v % 2) ctx.output(tag_, "odd " + std::to_string(v));
    else out.collect(v);
  }
  void end_input(Collector<int64_t>& out) override { out.collect(-1); }

 private:
  OutputTag<std::string> tag_;
};
}  // namespace

TEST_CASE("side outputs and end_input reach their own streams", "[job][process]") {
  StreamEnvironment env;
  env.set_parallelism(2);
  OutputTag<std::string> odd("odd");
  auto main = env.from_generator(100, [](int64_t i) { return i; }).process(SplitOdd(odd), "split odd");
  CollectSink<int64_t> evens;
  CollectSink<std::string> odds;
  main.sink_to(evens);
  main.get_side_output(odd).rebalance().sink_to(odds).set_parallelism(1);
  env.execute("side outputs");
  auto e = sorted(evens.collected()->values());
  REQUIRE(e.size() == 52);  // 50 evens and one -1 from each subtask's end_input
  CHECK(e[0] == -1);
  CHECK(e[1] == -1);
  CHECK(e[2] == 0);
  CHECK(odds.collected()->size() == 50);
}

TEST_CASE("broadcast delivers every record to every subtask, and rebalance spreads them", "[job][partitioning]") {
  StreamEnvironment env;
  env.set_parallelism(3);
  CollectSink<int64_t> b, r;
  auto src = env.from_generator(300, [](int64_t i) { return i; }).set_parallelism(1);
  src.broadcast().map([](int64_t x) { return x; }, "after broadcast").sink_to(b);
  src.rebalance().map([](int64_t x) { return x; }, "after rebalance").sink_to(r);
  auto client = env.execute_async("partitioning");
  client.wait();
  CHECK(b.collected()->size() == 900);
  CHECK(sorted(r.collected()->values()).size() == 300);
  for (auto& p : client.probes())
    if (p.task.rfind("after rebalance", 0) == 0) CHECK(p.records_in == 100);
}

TEST_CASE("a user exception fails the job with job, operator, subtask and message", "[job][error]") {
  StreamEnvironment env;
  env.set_parallelism(2);
  env.from_generator(100000, [](int64_t i) { return i; })
      .rebalance()
      .map(
          [](int64_t x) {
            if (x == 4242) throw std::runtime_error("the answer is not 4242");
            return x;
          },
          "picky map")
      .sink_to(DiscardSink<int64_t>());
  try {
    env.execute("doomed job");
    FAIL("the job should have failed");
  } catch (const JobError& e) {
    std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("job 'doomed job' failed"));
    CHECK_THAT(what, Catch::Contains("'picky map' (subtask"));
    CHECK_THAT(what, Catch::Contains("/2)"));
    CHECK_THAT(what, Catch::Contains("the answer is not 4242"));
  }
}

namespace {
/// Encodes fine, but refuses to decode values above 1000: a record that fails to decode.
struct Fragile {
  int64_t v = 0;
};
}  // namespace
template <>
struct sluice::Codec<Fragile> {
  static void encode(const Fragile& f, ByteWriter& w) { Codec<int64_t>::encode(f.v, w); }
  static Fragile decode(ByteReader& r) {
    auto v = Codec<int64_t>::decode(r);
    if (v > 1000) throw DecodeError("value " + std::to_string(v) + " is out of range");
    return Fragile{v};
  }
};

TEST_CASE("a record that fails to decode fails the job naming the channel", "[job][error]") {
  StreamEnvironment env;
  env.set_parallelism(1);
  env.disable_chaining();
  env.from_generator(2000, [](int64_t i) { return Fragile{i}; }).sink_to(DiscardSink<Fragile>());
  CHECK_THROWS_WITH(env.execute("fragile"),
                    Catch::Contains("cannot decode record") && Catch::Contains("channel") &&
                        Catch::Contains("out of range"));
}

namespace {
/// Counts what it receives per source (the tag is the value's sign).
struct Counts {
  std::atomic<int64_t> positive{0}, negative{0};
};
class CountingSink final : public Sink<int64_t> {
 public:
  explicit CountingSink(std::shared_ptr<Counts> c) : c_(std::move(c)) {}
  std::unique_ptr<SinkWriter<int64_t>> create_writer(int, int) const override {
    return std::make_unique<Writer>(c_);
  }
  std::string name() const override { return "Counting Sink"; }

 private:
  class Writer final : public SinkWriter<int64_t> {
   public:
    explicit Writer(std::shared_ptr<Counts> c) : c_(std::move(c)) {}
    void write(int64_t&& v, int64_t) override { (v >= 0 ? c_->positive : c_->negative)++; }

   private:
    std::shared_ptr<Counts> c_;
  };
  std::shared_ptr<Counts> c_;
};
}  // namespace

TEST_CASE("two unbounded sources and a sink all progress on two worker threads", "[job][scheduling]") {
  StreamEnvironment env;
  env.set_parallelism(1);
  env.config().worker_threads = 2;
  env.disable_chaining();
  auto counts = std::make_shared<Counts>();
  auto a = env.from_generator(-1, [](int64_t i) { return i; });
  auto b = env.from_generator(-1, [](int64_t i) { return -1 - i; });
  a.union_with(b).sink_to(CountingSink(counts));
  auto client = env.execute_async("two unbounded sources");
  // Generous bound: this only fails if one source or the sink starves.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((counts->positive < 200000 || counts->negative < 200000) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  client.cancel();
  CHECK_THROWS_WITH(client.wait(), Catch::Contains("canceled"));
  CHECK(counts->positive >= 200000);
  CHECK(counts->negative >= 200000);
}

TEST_CASE("the file sink writes one part file per subtask", "[job][sink]") {
  test_support::TempDir dir;
  StreamEnvironment env;
  env.set_parallelism(2);
  auto out = dir.file("out");
  env.from_generator(1000, [](int64_t i) { return std::make_pair(i, std::string("v") + std::to_string(i)); })
      .sink_to(FileSink<std::pair<int64_t, std::string>>(out));
  env.execute("file sink");
  std::vector<std::string> lines;
  for (int s = 0; s < 2; ++s) {
    std::ifstream f(out + "/part-" + std::to_string(s));
    REQUIRE(f.good());
    std::string l;
    while (std::getline(f, l)) lines.push_back(l);
  }
  std::vector<std::string> expected;
  for (int i = 0; i < 1000; ++i) expected.push_back("(" + std::to_string(i) + ",v" + std::to_string(i) + ")");
  CHECK(sorted(lines) == sorted(expected));
}

TEST_CASE("probes count records through every task of a finished job", "[job][probes]") {
  StreamEnvironment env;
  env.set_parallelism(2);
  env.disable_chaining();
  env.from_generator(10000, [](int64_t i) { return i; })
      .filter([](int64_t x) { return x % 4 == 0; }, "quarter")
      .sink_to(DiscardSink<int64_t>());
  auto client = env.execute_async("probes");
  client.wait();
  std::map<std::string, uint64_t> in, out;
  for (auto& p : client.probes()) {
    CHECK(p.status == "finished");
    in[p.task] += p.records_in;
    out[p.task] += p.records_out;
    CHECK(p.queued_bytes_in == 0);
    CHECK(p.queued_bytes_out == 0);
  }
  CHECK(out["Generator Source"] == 10000);
  CHECK(in["quarter"] == 10000);
  CHECK(out["quarter"] == 2500);
  CHECK(in["Discard Sink"] == 2500);
}

namespace {
/// Emits, at the end of its input, the watermark it saw then and how many records came.
class WatermarkAtEnd : public ProcessFunction<int64_t, std::pair<int64_t, int64_t>> {
 public:
  void process(const int64_t&, Context& ctx, Collector<std::pair<int64_t, int64_t>>&) override {
    ++count_;
    ctx_ = &ctx;
  }
  void end_input(Collector<std::pair<int64_t, int64_t>>& out) override {
    out.collect({ctx_ ? ctx_->current_watermark() : 0, count_});
  }

 private:
  int64_t count_ = 0;
  Context* ctx_ = nullptr;
};
}  // namespace

TEST_CASE("ended sources send the final watermark across the network before EndOfData", "[job][watermark]") {
  StreamEnvironment env;
  env.set_parallelism(3);
  CollectSink<std::pair<int64_t, int64_t>> sink;
  env.from_generator(1000, [](int64_t i) { return i; })
      .rebalance()
      .process(WatermarkAtEnd(), "watermark at end")
      .sink_to(sink);
  env.execute("watermarks");
  auto got = sink.collected()->values();
  REQUIRE(got.size() == 3);
  int64_t total = 0;
  for (auto& [wm, n] : got) {
    CHECK(wm == max_watermark);
    total += n;
  }
  CHECK(total == 1000);
}

TEST_CASE("empty inputs and idle source subtasks still end the job", "[job]") {
  StreamEnvironment env;
  env.set_parallelism(4);
  CollectSink<int> a, b;
  env.from_collection(std::vector<int>{}).sink_to(a);
  env.from_collection(std::vector<int>{7, 8}).key_by([](int x) { return x; }).sum().sink_to(b);
  env.execute("mostly empty");
  CHECK(a.collected()->size() == 0);
  CHECK(sorted(b.collected()->values()) == std::vector<int>{7, 8});
}

// Issue 15: BATCH reruns a failed task alone, from the files of the stage before.
TEST_CASE("BATCH: a task failing once in the second stage reruns alone, and the output is STREAMING's final sums",
          "[batch][job]") {
  static std::atomic<int64_t> generated{0};
  static std::atomic<bool> failed{false};
  using Sum = std::pair<int64_t, int64_t>;
  auto run = [](ExecutionMode mode, bool fail) {
    generated = 0;
    failed = !fail;
    StreamEnvironment env;
    env.set_parallelism(2);
    env.config().execution_mode = mode;
    env.config().checkpoint.restart.delay = std::chrono::milliseconds(10);
    CollectSink<Sum> sink;
    env.from_generator(20'000,
                       [](int64_t i) {
                         ++generated;
                         return i;
                       })
        .set_parallelism(1)  // one producer per key: the rolling sums come in one order
        .map([](int64_t i) { return Sum{i % 13, i}; })
        .set_parallelism(1)
        .key_by([](const Sum& s) { return s.first; })
        .reduce([](Sum a, Sum b) {
          if (b.second == 15'000 && !failed.exchange(true)) throw std::runtime_error("injected failure");
          return Sum{a.first, a.second + b.second};
        })
        .sink_to(sink)
        .set_parallelism(1);  // its own task: it starts once the sums are complete
    auto result = env.execute(std::string("batch rerun ") + execution_mode_name(mode));
    auto rows = sink.collected()->values();
    std::sort(rows.begin(), rows.end());
    return std::make_pair(result, rows);
  };
  auto [streaming, expected] = run(ExecutionMode::streaming, false);
  REQUIRE(expected.size() == 20'000);  // every rolling sum
  CHECK(generated == 20'000);
  // BATCH emits a rolling reduce's final value per key only: STREAMING's last sum of each key.
  std::map<int64_t, int64_t> last;
  for (auto [key, sum] : expected) last[key] = std::max(last[key], sum);
  std::vector<Sum> finals(last.begin(), last.end());
  REQUIRE(finals.size() == 13);
  auto [batch, rows] = run(ExecutionMode::batch, true);
  CHECK(failed);
  CHECK(batch.restarts == 1);
  CHECK(generated == 20'000);  // the source's stage did not run again
  CHECK(rows == finals);
}

TEST_CASE("BATCH refuses an unbounded source by name", "[batch][job]") {
  StreamEnvironment env;
  env.config().execution_mode = ExecutionMode::batch;
  env.from_generator(-1, [](int64_t i) { return i; }).sink_to(DiscardSink<int64_t>());
  CHECK_THROWS_WITH(env.execute("unbounded"), Catch::Contains("cannot run in BATCH mode") &&
                                                  Catch::Contains("is unbounded"));
}
