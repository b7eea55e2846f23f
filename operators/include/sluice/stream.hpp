// operators/include/sluice/stream.hpp — the DataStream API: StreamEnvironment, DataStream<T>, KeyedStream<K,T>.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/config.hpp"
#include "sluice/detail/operators.hpp"
#include "sluice/error.hpp"
#include "sluice/executor.hpp"
#include "sluice/functions.hpp"
#include "sluice/graph.hpp"
#include "sluice/sinks.hpp"
#include "sluice/sources.hpp"
#include "sluice/watermarks.hpp"

namespace sluice {

template <class T>
class DataStream;
template <class K, class T>
class KeyedStream;
template <class K, class T, class W>
class WindowedStream;
template <class A, class B>
class ConnectedStreams;
template <class T>
class BroadcastStream;
template <class K, class In, class B>
class BroadcastConnected;
template <class A, class B>
class JoinedStreams;
template <class T>
class PartitionWindowedStream;
class EndOfStreamWindows;

namespace detail {
template <class In, class Out>
Out process_out(const ProcessFunction<In, Out>*);
template <class K, class In, class Out>
Out keyed_process_out(const KeyedProcessFunction<K, In, Out>*);

/// Adds a node to the graph and returns its id.
int add_node(JobGraph& g, std::string name,
             std::function<std::unique_ptr<OperatorBase>(int, int)> factory, bool keyed = false);
JobNode& node(JobGraph& g, int id);
}  // namespace detail

/// Handle on the operator a call just added, to name and tune it (Flink's
/// SingleOutputStreamOperator / DataStreamSink).
class OperatorHandle {
 public:
  OperatorHandle(std::shared_ptr<JobGraph> g, int node) : g_(std::move(g)), node_(node) {}
  OperatorHandle& name(std::string n) {
    detail::node(*g_, node_).name = std::move(n);
    return *this;
  }
  OperatorHandle& uid(std::string u) {
    detail::node(*g_, node_).uid = std::move(u);
    return *this;
  }
  OperatorHandle& set_parallelism(int p) {
    if (p < 1) throw JobError("parallelism must be at least 1, got " + std::to_string(p));
    detail::node(*g_, node_).parallelism = p;
    return *this;
  }
  OperatorHandle& disable_chaining() {
    detail::node(*g_, node_).chainable = false;
    return *this;
  }
  int node_id() const { return node_; }

 protected:
  std::shared_ptr<JobGraph> g_;
  int node_;
};

/// A stream of records of type T.
template <class T>
class DataStream {
 public:
  /// One producer of the stream: a node's output port and how records are partitioned.
  struct Ref {
    int node;
    std::string port;
    detail::Partitioning partitioning = detail::Partitioning::unset;
    detail::KeyEncoder<T> key;
    detail::KeyEncoder<T> sort;  ///< BATCH sorts the next operator's input by it (sort_partition)
  };

  DataStream(std::shared_ptr<JobGraph> g, int node, std::string port = "")
      : g_(std::move(g)), refs_{Ref{node, std::move(port), detail::Partitioning::unset, {}, {}}} {}
  DataStream(std::shared_ptr<JobGraph> g, std::vector<Ref> refs)
      : g_(std::move(g)), refs_(std::move(refs)) {}

  /// One record out per record in: `f(T) -> U`.
  template <class F>
  auto map(F f, std::string name = "Map") {
    using Out = std::decay_t<std::invoke_result_t<F&, T&&>>;
    return add<Out>(std::move(name), [f](int, int) {
      return std::make_unique<detail::MapOperator<T, Out, F>>(f);
    });
  }
  /// Keeps records for which `f(const T&)` is true.
  template <class F>
  DataStream<T> filter(F f, std::string name = "Filter") {
    return add<T>(std::move(name), [f](int, int) {
      return std::make_unique<detail::FilterOperator<T, F>>(f);
    });
  }
  /// Any number of records out per record in: `f(T, Collector<Out>&)`.
  template <class Out, class F>
  DataStream<Out> flat_map(F f, std::string name = "FlatMap") {
    return add<Out>(std::move(name), [f](int, int) {
      return std::make_unique<detail::FlatMapOperator<T, Out, F>>(f);
    });
  }
  /// Runs a ProcessFunction<T, Out>; `fn` is copied for every subtask.
  template <class Fn>
  auto process(Fn fn, std::string name = "Process") {
    using Out = decltype(detail::process_out(std::declval<Fn*>()));
    return add<Out>(std::move(name), [fn](int, int) {
      return std::make_unique<detail::ProcessOperator<T, Out, Fn>>(fn);
    });
  }
  /// Assigns timestamps and generates watermarks as `strategy` says (chained to its input).
  DataStream<T> assign_timestamps_and_watermarks(WatermarkStrategy<T> strategy,
                                                 std::string name = "Timestamps/Watermarks") {
    auto interval = g_->config.auto_watermark_interval;
    return add<T>(std::move(name), [strategy, interval](int, int) {
      return std::make_unique<detail::TimestampsAndWatermarksOperator<T>>(strategy, interval);
    });
  }
  /// Partitions by key: records with equal keys (equal encoded bytes) meet in one subtask.
  template <class F>
  auto key_by(F f) {
    using K = std::decay_t<std::invoke_result_t<F&, const T&>>;
    return KeyedStream<K, T>(*this, std::function<K(const T&)>(std::move(f)));
  }
  /// Connects another stream: one operator will read both (see connected.hpp).
  template <class B>
  ConnectedStreams<T, B> connect(const DataStream<B>& other) const {
    return ConnectedStreams<T, B>(*this, other);
  }
  /// Window join with another stream (see joins.hpp).
  template <class B>
  JoinedStreams<T, B> join(const DataStream<B>& other) const;
  /// The records of both streams, as one stream.
  DataStream<T> union_with(const DataStream<T>& other) const {
    auto refs = refs_;
    refs.insert(refs.end(), other.refs_.begin(), other.refs_.end());
    return DataStream<T>(g_, std::move(refs));
  }
  DataStream<T> rebalance() const { return partitioned(detail::Partitioning::rebalance); }
  /// Each subtask's whole input as one window, processed at its end: map_partition,
  /// sort_partition, reduce, aggregate (full_partition.hpp; Flink's fullWindowPartition).
  PartitionWindowedStream<T> full_window_partition() const;
  DataStream<T> forward() const { return partitioned(detail::Partitioning::forward); }
  DataStream<T> broadcast() const { return partitioned(detail::Partitioning::broadcast); }
  /// Every element to every subtask of the operator this stream is connected to, which
  /// keeps broadcast state from it (see KeyedBroadcastProcessFunction).
  BroadcastStream<T> broadcast_state() const { return BroadcastStream<T>(*this); }

  /// Writes the stream to a sink; returns the sink operator to name or tune.
  template <class S>
  OperatorHandle sink_to(S sink) {
    auto s = std::make_shared<S>(std::move(sink));
    auto name = s->name();
    int id = detail::add_node(*g_, name, [s](int subtask, int parallelism) {
      return std::make_unique<detail::SinkOperator<T>>(s->create_writer(subtask, parallelism));
    });
    detail::node(*g_, id).receiver = s->receiver();
    connect_to(id, 0);
    return OperatorHandle(g_, id);
  }
  OperatorHandle print() { return sink_to(PrintSink<T>()); }

  /// The records a process function emitted to `tag`.
  template <class X>
  DataStream<X> get_side_output(const OutputTag<X>& tag) const {
    return DataStream<X>(g_, single().node, tag.id());
  }

  /// Tuning of the operator that produced this stream.
  DataStream<T>& name(std::string n) {
    handle().name(std::move(n));
    return *this;
  }
  DataStream<T>& uid(std::string u) {
    handle().uid(std::move(u));
    return *this;
  }
  DataStream<T>& set_parallelism(int p) {
    handle().set_parallelism(p);
    return *this;
  }
  DataStream<T>& disable_chaining() {
    handle().disable_chaining();
    return *this;
  }

  /// Adds the edges from this stream into input `input_index` of node `target`.
  void connect_to(int target, int input_index) const {
    for (auto& r : refs_) {
      JobEdge e;
      e.id = int(g_->edges.size());
      e.source = r.node;
      e.port = r.port;
      e.target = target;
      e.input_index = input_index;
      e.partitioning = r.partitioning;
      e.type = std::make_shared<detail::EdgeTypeOf<T>>(r.key, r.sort);
      g_->edges.push_back(std::move(e));
    }
  }
  /// Adds an operator reading this stream; the internal building block of every method above.
  template <class Out>
  DataStream<Out> add(std::string name, std::function<std::unique_ptr<OperatorBase>(int, int)> factory,
                      bool keyed = false) const {
    int id = detail::add_node(*g_, std::move(name), std::move(factory), keyed);
    connect_to(id, 0);
    return DataStream<Out>(g_, id);
  }
  /// The same stream (partitioned as it is), its edges carrying `key` for BATCH to sort the
  /// next operator's input by.
  DataStream<T> with_sort_key(detail::KeyEncoder<T> key) const {
    auto refs = refs_;
    for (auto& r : refs) r.sort = key;
    return DataStream<T>(g_, std::move(refs));
  }
  DataStream<T> partitioned(detail::Partitioning p, detail::KeyEncoder<T> key = {}) const {
    auto refs = refs_;
    for (auto& r : refs) {
      r.partitioning = p;
      r.key = key;
    }
    return DataStream<T>(g_, std::move(refs));
  }
  const std::shared_ptr<JobGraph>& graph() const { return g_; }
  /// The one node whose main output this stream is, as it leaves it (not repartitioned, no
  /// union); null otherwise.
  std::optional<int> plain_node() const {
    if (refs_.size() != 1 || !refs_.front().port.empty() || refs_.front().partitioning != detail::Partitioning::unset)
      return std::nullopt;
    return refs_.front().node;
  }

 private:
  const Ref& single() const {
    if (refs_.size() != 1)
      throw JobError("a union of streams has no single operator to name or tune");
    return refs_.front();
  }
  OperatorHandle handle() { return OperatorHandle(g_, single().node); }

  std::shared_ptr<JobGraph> g_;
  std::vector<Ref> refs_;
};

/// A stream partitioned by key K; keyed operators see the key and keyed state. Used as a
/// plain DataStream (map, sink_to, ...), it is simply hash-partitioned by the key.
template <class K, class T>
class KeyedStream : public DataStream<T> {
 public:
  using KeyFn = std::function<K(const T&)>;
  KeyedStream(const DataStream<T>& in, KeyFn key)
      : DataStream<T>(in.partitioned(detail::Partitioning::hash,
                                     [key](const T& v, ByteWriter& w) { Codec<K>::encode(key(v), w); })),
        key_(std::move(key)),
        unkeyed_(in) {}

  /// Runs a KeyedProcessFunction<K, T, Out>; `fn` is copied for every subtask.
  template <class Fn>
  auto process(Fn fn, std::string name = "KeyedProcess") {
    using Out = decltype(detail::keyed_process_out(std::declval<Fn*>()));
    auto key = key_;
    return this->template add<Out>(
        std::move(name),
        [key, fn](int, int) {
          return std::make_unique<detail::KeyedProcessOperator<K, T, Out, KeyFn, Fn>>(key, fn);
        },
        true);
  }
  /// Cuts each key's records into windows chosen by `assigner` (TumblingEventTimeWindows,
  /// SlidingEventTimeWindows, EventTimeSessionWindows, GlobalWindows, ...; see windows.hpp),
  /// to be reduced, aggregated or processed when the windows fire.
  template <class A>
  WindowedStream<K, T, typename A::window_type> window(A assigner) const {
    return WindowedStream<K, T, typename A::window_type>(*this, key_, std::move(assigner), unkeyed_);
  }
  /// Each key's whole input as one window, fired when the input ends (FLIP-380 on a keyed
  /// stream; EndOfStreamWindows): reduce, aggregate or process over all of a key's records.
  template <class A = EndOfStreamWindows>
  auto full_window_partition() const {
    return window(A::get());
  }
  /// Rolling reduce: per key, `r(accumulated, next)`; emits every updated value.
  template <class R>
  DataStream<T> reduce(R r, std::string name = "Reduce") {
    auto key = key_;
    return this->template add<T>(
        std::move(name),
        [key, r](int, int) {
          return std::make_unique<detail::ReduceOperator<K, T, KeyFn, R>>(key, r);
        },
        true);
  }
  /// Connects a broadcast stream (see connected.hpp).
  template <class B>
  BroadcastConnected<K, T, B> connect(const BroadcastStream<B>& b) const;
  using DataStream<T>::connect;
  /// Joins with another keyed stream by time interval (see joins.hpp).
  template <class B>
  auto interval_join(const KeyedStream<K, B>& other) const;
  const KeyFn& key_fn() const { return key_; }
  /// The stream before key_by (what a window pre-aggregates before the shuffle).
  const DataStream<T>& unkeyed() const { return unkeyed_; }

  /// Rolling sum: of the values for arithmetic T, of `.second` for pairs.
  DataStream<T> sum(std::string name = "Sum") {
    if constexpr (std::is_arithmetic_v<T>) {
      return reduce([](T a, T b) { return a + b; }, std::move(name));
    } else {
      return reduce(
          [](T a, T b) {
            a.second += b.second;
            return a;
          },
          std::move(name));
    }
  }

 private:
  KeyFn key_;
  DataStream<T> unkeyed_;
};

/// Where a job is built and from where it is run.
class StreamEnvironment {
 public:
  StreamEnvironment();
  explicit StreamEnvironment(ExecutionConfig config);

  ExecutionConfig& config() { return graph_->config; }
  StreamEnvironment& set_parallelism(int p);
  StreamEnvironment& set_max_parallelism(int p);
  StreamEnvironment& set_buffer_timeout(std::chrono::milliseconds t);
  StreamEnvironment& disable_chaining();

  template <class T, class S>
  DataStream<T> from_source(S source, std::string name = "") {
    auto s = std::make_shared<S>(std::move(source));
    if (name.empty()) name = s->name();
    int id = detail::add_node(*graph_, std::move(name), [s](int subtask, int parallelism) {
      return std::make_unique<detail::SourceOperator<T>>(
          s->name(), s->create_reader(subtask, parallelism),
          [s, subtask, parallelism](const std::string& position) {
            return s->resume_reader(subtask, parallelism, position);
          });
    });
    auto& n = detail::node(*graph_, id);
    n.is_source = true;
    n.bounded = s->bounded();
    return DataStream<T>(graph_, id);
  }
  template <class T>
  DataStream<T> from_collection(std::vector<T> items) {
    return from_source<T>(CollectionSource<T>(std::move(items)));
  }
  /// `count` records made by `fn(index)`; count < 0 for an unbounded stream.
  template <class F>
  auto from_generator(int64_t count, F fn) {
    using T = std::decay_t<std::invoke_result_t<F&, int64_t>>;
    return from_source<T>(GeneratorSource<T>(count, std::move(fn)));
  }
  DataStream<std::string> read_text_file(std::string path) {
    return from_source<std::string>(TextFileSource(std::move(path)));
  }

  /// Runs the job and waits for it; throws JobError with one sentence if it fails.
  JobResult execute(const std::string& job_name = "Sluice Job");
  /// Starts the job and returns at once.
  JobClient execute_async(const std::string& job_name = "Sluice Job");
  const JobGraph& graph() const { return *graph_; }

 private:
  std::shared_ptr<JobGraph> graph_;
};

}  // namespace sluice

// Windows build on KeyedStream; included last so that either header may come first.
#include "sluice/windows.hpp"
