// actors/task.cpp — the subtask state machine: chain assembly, the processing step, end of input, probes.
#include "task.hpp"

#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>

#include "actors/blocking_exchange.hpp"
#include "actors/input_gate.hpp"
#include "actors/introspection.hpp"
#include "actors/partition.hpp"
#include "actors/sorted_input.hpp"
#include "checkpoint/restore.hpp"
#include "checkpoint/snapshot.hpp"
#include "actors/task_checkpoint.hpp"
#include "actors/watermark_valve.hpp"
#include "checkpoint/rocksdb_backend.hpp"
#include "scheduler/plan.hpp"
#include "sluice/error.hpp"
#include "sluice/json.hpp"
#include "sluice/logging.hpp"
#include "sluice/state.hpp"

namespace sluice::runtime {

std::string batch_base(const ExecutionConfig& c) {
  return !c.batch_dir.empty()   ? c.batch_dir
         : !c.state_dir.empty() ? c.state_dir
                                : std::filesystem::temp_directory_path().string();
}

const char* task_state_name(TaskState s) {
  switch (s) {
    case TaskState::created: return "created";
    case TaskState::running: return "running";
    case TaskState::closing: return "closing";
    case TaskState::finished: return "finished";
    case TaskState::failed: return "failed";
    case TaskState::canceled: return "canceled";
  }
  return "?";
}

namespace {

/// One logical input of the head operator, fed by one or more gates (a union).
struct HeadInput {
  ElementSink* target = nullptr;
  int channels = 0;
  int ended = 0;
  bool end_delivered = false;
  std::unique_ptr<WatermarkValve> valve;
  // BATCH, sorted: the input ended (its end goes to the head after the sorted records), and
  // the watermark it reached meanwhile (held back until then too).
  bool ended_all = false;
  std::optional<int64_t> held_watermark;
};

enum class Activity { busy, backpressured, idle };

/// A full-partition map's SpillBuffer: a Sorter whose records share one key and time, so they
/// come back in the order added; `done` hears what it spilled once its input ends.
class SortedSpill final : public SpillBuffer {
 public:
  SortedSpill(Sorter::Options options, std::function<void(const Sorter::Stats&)> done)
      : sorter_(std::move(options)), done_(std::move(done)) {}
  void add(std::string_view bytes) override { sorter_.add({}, 0, bytes); }
  void finish() override {
    sorter_.finish();
    done_(sorter_.stats());
  }
  bool next(std::string_view& out) override {
    Sorter::Record r;
    if (!sorter_.next(r)) return false;
    out = r.payload;
    return true;
  }

 private:
  Sorter sorter_;
  std::function<void(const Sorter::Stats&)> done_;
};

/// BATCH: bytes of frames a blocking partition pools before writing a region of its file.
constexpr size_t blocking_pool_bytes = 4 << 20;

}  // namespace

struct TaskRuntime::Impl final : IoService, CheckpointedTask {
  /// What one operator of the chain sees of the runtime.
  struct OpContext final : OperatorContext {
    Impl* task = nullptr;
    int index = 0;
    std::string name;
    std::unique_ptr<CheckpointableBackend> keyed;
    OperatorStateStore op_state;
    bool available = true;
    bool sorted = false;  // BATCH: the head's keyed input comes sorted (Impl::sorted)
    bool checkpointing() const override { return task->spec.writer != nullptr; }
    bool sorted_input() const override { return sorted; }
    std::optional<int64_t> restored_checkpoint() const override {
      if (!task->spec.restore) return std::nullopt;
      return int64_t(task->spec.restore->checkpoint_id);
    }

    const std::string& job_name() const override { return task->spec.graph->name; }
    const std::string& operator_name() const override { return name; }
    int subtask_index() const override { return task->spec.subtask; }
    int parallelism() const override { return task->parallelism; }
    int max_parallelism() const override { return task->spec.graph->config.max_parallelism; }
    KeyedStateBackend* keyed_state() override { return keyed.get(); }
    OperatorStateStore& operator_state() override { return op_state; }
    IoService& io() override { return *task; }
    int64_t current_watermark() const override { return task->watermark; }
    int64_t processing_time() const override { return task->processing_time(); }
    void set_available(bool a) override {
      if (a == available) return;
      available = a;
      task->availability.unavailable_operators += a ? -1 : 1;
      if (a) task->maybe_resume();
    }
    void request_wakeup(std::chrono::milliseconds delay) override {
      auto due = task->transport->now_ns() + int64_t(delay.count()) * 1'000'000;
      auto [it, fresh] = task->wakeups.emplace(index, due);
      if (!fresh) it->second = std::min(it->second, due);
      task->transport->request_wakeup(index, delay);
    }
    std::unique_ptr<SpillBuffer> spill_buffer() override {
      return std::make_unique<SortedSpill>(task->sort_options(), [t = task, op = name](const Sorter::Stats& st) {
        log::runtime()->info("job '{}': {} held {} records of '{}' ({} spill files, {} bytes spilled)",
                             t->spec.graph->name, t->describe(), st.records, op, st.runs, st.spilled_bytes);
      });
    }
    std::function<void(std::string&&)> result_channel() override {
      auto to = task->transport->results();
      if (!to) return {};
      return [to, node = task->task->nodes[size_t(index)]](std::string&& batch) { to(node, std::move(batch)); };
    }
  };

  Impl(TaskSpec s, TaskTransport& t) : spec(std::move(s)), transport(&t) {}

  TaskSpec spec;
  TaskTransport* transport;
  const ExecutionConfig* config = nullptr;
  const scheduler::Task* task = nullptr;
  int parallelism = 1;
  TaskState state = TaskState::created;
  std::string error;
  bool restore_refused = false;  // the restored state does not fit: a failure no restart mends

  std::vector<std::unique_ptr<OperatorBase>> ops;
  std::vector<std::unique_ptr<OpContext>> contexts;
  SourceOperatorBase* source = nullptr;
  bool source_waiting = false;
  std::vector<std::unique_ptr<ResultPartition>> partitions;
  std::map<int, ResultPartition*> partition_by_edge;
  // BATCH: partitions written to files, and input channels read from them.
  std::vector<std::unique_ptr<BlockingOutput>> blocking_outputs;
  bool writes_file(const ResultPartition* p) const {
    for (const auto& out : blocking_outputs)
      if (out->partition() == p) return true;
    return false;
  }
  struct BlockingChannel {
    std::unique_ptr<BlockingInput> in;
    uint32_t credits = 0;  // granted by the gate, not yet used
    bool done = false;     // read to its end: the file is closed
  };
  std::map<std::pair<uint32_t, uint32_t>, BlockingChannel> blocking_inputs;  // by (edge, producer)
  std::map<uint32_t, const scheduler::Exchange*> blocking_edges;               // into this task, by edge
  std::map<int, const scheduler::Exchange*> out_exchange_by_edge;
  std::vector<std::unique_ptr<ElementSink>> owned_outputs;  // writers, fan-outs, counters
  /// What each operator's probe adds up: the counter of its chained input (null for the head)
  /// and those of its chained outputs, and the partitions it writes to.
  struct OpCounters {
    const uint64_t* in = nullptr;
    std::vector<const uint64_t*> out;
    std::vector<const ResultPartition*> parts;
  };
  std::vector<OpCounters> counters;  // by operator
  std::deque<uint64_t> hops;         // one counter per chained edge (a deque: addresses stay)
  std::unique_ptr<InputGates> gates;
  std::vector<HeadInput> inputs;
  std::unique_ptr<SortedInput> sorted;  // BATCH: the keyed head's input, sorted by key
  Availability availability;
  int io_pending = 0;
  bool resume_scheduled = false;
  int closed_channels = 0;
  int64_t watermark = min_watermark;

  std::unique_ptr<TaskCheckpoint> checkpoint;  // null: the job does not checkpoint
  std::vector<std::string> op_ids;
  bool source_ended = false;
  bool input_ended = false;
  int64_t ended_after = -1;  // a completed checkpoint above this id lets an ended task close
  bool final_done = false;
  std::vector<ChannelRecords> replay_inputs;

  /// The console's trace of this subtask (TaskQuery::Kind::trace): records sampled as they
  /// arrive (a source's: as they leave), at most one per 10 ms, until `want` are taken or 5 s
  /// have passed.
  struct Trace {
    uint64_t query = 0;
    uint32_t want = 0, taken = 0;
    std::chrono::steady_clock::time_point started, until, next;
    std::string records;  // JSON objects, comma-separated
  };
  std::optional<Trace> trace;
  bool tracing_input = false;
  log::LogRing log_ring;
  // probes
  uint64_t records_in = 0;
  Activity activity = Activity::idle;
  int64_t since = 0;
  int64_t spent[3] = {0, 0, 0};
  std::map<int, int64_t> wakeups;  // by operator: the earliest wakeup it asked for (ns), until it came

  BatchKeyedBackend* batch_keyed = nullptr;  // the keyed head's, when its input is sorted
  /// BATCH: a keyed head whose input is partitioned by key takes it sorted, and so does a
  /// head that asks for it (sort_partition).
  bool sorts_input(const JobNode& head) const {
    if (!spec.plan->batch) return false;
    if (head.sorts_input) return true;
    if (!head.keyed) return false;
    for (const auto& x : spec.plan->exchanges)
      if (x.target_task == spec.task && x.partitioning == detail::Partitioning::hash) return true;
    return false;
  }
  /// Which of the sorting head's input edges are sorted: all of a sort_partition's, the keyed
  /// ones of a keyed operator (a broadcast side passes straight through).
  bool sorted_edge(const scheduler::Exchange& x) const {
    return spec.graph->nodes[size_t(task->nodes.front())].sorts_input || x.partitioning == detail::Partitioning::hash;
  }

  std::unique_ptr<CheckpointableBackend> make_backend() {
    auto now = [this] { return processing_time(); };
    if (config->state_backend == StateBackendKind::heap) return make_heap_keyed_backend(now);
    auto dir = config->state_dir.empty() ? std::filesystem::temp_directory_path().string() : config->state_dir;
    checkpoint::set_rocksdb_memory(config->rocksdb_memory);
    return checkpoint::make_rocksdb_backend(dir, now, size_t(config->rocksdb_record_cache));
  }

  int64_t processing_time() const {
    return config->clock ? config->clock->now() : system_clock.now();
  }
  SystemClock system_clock;

  // ---- IoService and CheckpointedTask
  void submit(std::function<void()> job) override {
    ++io_pending;
    transport->submit_io(std::move(job));
  }
  std::function<void(const std::string&)> standard_output() override { return transport->standard_output(); }

  // ---- building
  void build() {
    config = &spec.graph->config;
    task = &spec.plan->tasks.at(size_t(spec.task));
    parallelism = task->parallelism;
    const auto& g = *spec.graph;
    const auto& plan = *spec.plan;
    std::map<int, int> op_of_node;
    for (int node : task->nodes) {
      const auto& n = g.nodes[size_t(node)];
      op_ids.push_back(plan.operator_ids.at(size_t(node)));
      op_of_node[node] = int(ops.size());
      auto ctx = std::make_unique<OpContext>();
      ctx->task = this;
      ctx->index = int(ops.size());
      ctx->name = n.name;
      if (ops.empty() && sorts_input(n)) {
        ctx->sorted = true;
        if (n.keyed) {
          auto one_key = make_batch_keyed_backend([this] { return processing_time(); });
          batch_keyed = one_key.get();
          ctx->keyed = std::move(one_key);
        }
      } else if (n.keyed) {
        ctx->keyed = make_backend();
      }
      ops.push_back(n.factory(spec.subtask, parallelism));
      contexts.push_back(std::move(ctx));
    }
    if (g.nodes[size_t(task->nodes.front())].is_source)
      source = dynamic_cast<SourceOperatorBase*>(ops.front().get());

    counters.resize(ops.size());
    std::vector<bool> chained(g.edges.size(), false);
    for (int e : plan.chained_edges) chained[size_t(e)] = true;
    std::map<int, const scheduler::Exchange*> exchange_of_edge;
    for (const auto& x : plan.exchanges) exchange_of_edge[x.edge] = &x;

    // Outputs: every port of every chained operator, to chained inputs and partitions.
    for (int node : task->nodes) {
      std::map<std::string, std::vector<const JobEdge*>> ports;
      for (const auto& e : g.edges)
        if (e.source == node) ports[e.port].push_back(&e);
      for (auto& [port, edges] : ports) {
        std::vector<ElementSink*> sinks;
        for (const auto* e : edges) {
          if (chained[size_t(e->id)]) {
            auto target = size_t(op_of_node.at(e->target));
            auto* count = &hops.emplace_back(0);
            owned_outputs.push_back(e->type->counting(ops[target]->input(e->input_index), count));
            sinks.push_back(owned_outputs.back().get());
            counters[target].in = count;
            counters[size_t(op_of_node.at(node))].out.push_back(count);
            continue;
          }
          const auto* x = exchange_of_edge.at(e->id);
          std::vector<int> consumers;
          for (int ch = 0; ch < x->channels_per_producer(); ++ch)
            consumers.push_back(x->consumer_of(spec.subtask, ch));
          ResultPartition::SendFn send = [t = transport](const ChannelId& ch, uint32_t backlog, FrameBuffer&& f) {
            t->send_frame(ch, backlog, std::move(f));
          };
          std::unique_ptr<BlockingOutput> file;
          if (x->blocking) {
            file = std::make_unique<BlockingOutput>(partition_file_path(spec.batch_dir, uint32_t(e->id), spec.subtask),
                                                    x->channels_per_producer(), blocking_pool_bytes);
            send = file->send_fn();
          }
          auto part = std::make_unique<ResultPartition>(uint32_t(e->id), spec.subtask, consumers, *config,
                                                        availability, std::move(send));
          if (file) {
            file->open(*part);
            blocking_outputs.push_back(std::move(file));
          }
          owned_outputs.push_back(
              e->type->writer(*part, x->partitioning, spec.subtask, config->max_parallelism));
          sinks.push_back(owned_outputs.back().get());
          partition_by_edge[e->id] = part.get();
          counters[size_t(op_of_node.at(node))].parts.push_back(part.get());
          out_exchange_by_edge[e->id] = x;
          partitions.push_back(std::move(part));
        }
        ElementSink* out = sinks.front();
        if (sinks.size() > 1) {
          owned_outputs.push_back(edges.front()->type->fan_out(sinks));
          out = owned_outputs.back().get();
        }
        ops[size_t(op_of_node.at(node))]->set_output(port, out);
      }
    }

    // Inputs: one gate per incoming exchange; gates into the same operator input share a valve.
    for (const auto& x : plan.exchanges)
      if (x.target_task == spec.task && x.blocking) blocking_edges[uint32_t(x.edge)] = &x;
    gates = std::make_unique<InputGates>(spec.subtask, config->exclusive_buffers, config->floating_buffers,
                                         [this](const ChannelId& ch, uint32_t n) {
                                           auto x = blocking_edges.find(ch.edge);
                                           if (x == blocking_edges.end()) return transport->send_credit(ch, n);
                                           if (!transport->file_elsewhere(ch)) return blocking_credit(ch, n);
                                           transport->send_file_credit(ch, x->second->output_channel(spec.subtask), n);
                                         });
    std::map<std::pair<int, int>, int> input_of;
    for (const auto& x : plan.exchanges) {
      if (x.target_task != spec.task) continue;
      const auto& e = g.edges[size_t(x.edge)];
      auto key = std::make_pair(e.target, e.input_index);
      if (!input_of.count(key)) {
        input_of[key] = int(inputs.size());
        HeadInput in;
        in.target = ops[size_t(op_of_node.at(e.target))]->input(e.input_index);
        inputs.push_back(std::move(in));
      }
      auto& in = inputs[size_t(input_of[key])];
      gates->add(x, input_of[key], in.channels, e.type->reader(in.target));
      in.channels += x.channels_per_consumer();
    }
    for (auto& in : inputs) in.valve = std::make_unique<WatermarkValve>(in.channels);
    if (contexts.front()->sorted) {
      sorted = std::make_unique<SortedInput>(sort_options(), *ops.front(), batch_keyed);
      std::vector<const scheduler::Exchange*> first(inputs.size(), nullptr);
      for (const auto& x : plan.exchanges) {
        if (x.target_task != spec.task) continue;
        const auto& e = g.edges[size_t(x.edge)];
        auto& f = first[size_t(input_of.at({e.target, e.input_index}))];
        if (!f) f = &x;
      }
      for (size_t i = 0; i < inputs.size(); ++i) {
        const auto& e = g.edges[size_t(first[i]->edge)];
        sorted->add_input(int(i), *e.type, e.type->reader(inputs[i].target), sorted_edge(*first[i]));
      }
    }
    if (spec.writer)
      checkpoint = std::make_unique<TaskCheckpoint>(*this, *gates, *transport, spec.writer, config->checkpoint,
                                                    spec.task, spec.subtask);
  }

  /// Gives each operator its share of the restored checkpoint, before the operators open.
  void restore(const RestoreState& r) {
    int maxp = config->max_parallelism;
    auto range = key_group_range(spec.subtask, maxp, parallelism);
    for (size_t i = 0; i < ops.size(); ++i) {
      auto it = r.operators.find(op_ids[i]);
      if (it == r.operators.end()) continue;
      const auto& ro = it->second;
      auto& ctx = *contexts[i];
      std::vector<std::string> custom(size_t(ro.parallelism));
      OperatorStateStore::Encoded lists;
      std::map<std::string, std::vector<std::string>> pooled;
      std::vector<std::string> order;
      for (int s = 0; s < ro.parallelism; ++s) {
        const auto& os = ro.subtasks[size_t(s)];
        if (!os) continue;
        custom[size_t(s)] = os->custom;
        if (ctx.keyed) ctx.keyed->restore(os->keyed_state, range, key_group_range(s, maxp, ro.parallelism));
        for (const auto& [name, items] : os->lists) {
          if (!pooled.count(name)) order.push_back(name);
          auto& pool = pooled[name];
          if (ro.parallelism == parallelism && s != spec.subtask) continue;
          pool.insert(pool.end(), items.begin(), items.end());
        }
      }
      // At another parallelism, items of all old subtasks are dealt out round robin.
      for (const auto& name : order) {
        auto& pool = pooled[name];
        std::vector<std::string> mine;
        for (size_t k = 0; k < pool.size(); ++k)
          if (ro.parallelism == parallelism || int(k % size_t(parallelism)) == spec.subtask) mine.push_back(pool[k]);
        lists.emplace_back(name, std::move(mine));
      }
      ctx.op_state.restore(std::move(lists));
      ops[i]->restore_state(custom, spec.subtask, parallelism);
      if (i == 0 && ro.parallelism == parallelism) {
        replay_inputs = ro.inputs[size_t(spec.subtask)];
        for (const auto& out : ro.outputs[size_t(spec.subtask)]) {
          auto p = partition_by_edge.find(int(out.channel.edge));
          if (p == partition_by_edge.end())
            throw JobError(describe() + " cannot restore in-flight data of " + out.channel.describe() +
                           ": the job has no such channel");
          p->second->replay(out);
        }
      }
    }
  }

  /// Restored in-flight input goes to the operators before anything new.
  void replay_restored_inputs() {
    for (const auto& in : replay_inputs) {
      auto* gate = gates->gate_of_edge(int(in.channel.edge));
      if (!gate)
        throw JobError(describe() + " cannot restore in-flight data of " + in.channel.describe() +
                       ": the job has no such channel");
      for (const auto& [ts, bytes] : in.records) {
        gate->reader->decode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), ts);
        ++records_in;
      }
    }
    replay_inputs.clear();
  }

  /// Where and in how much memory this task sorts (BATCH's keyed input) or holds a partition.
  Sorter::Options sort_options() const {
    Sorter::Options o;
    o.dir = spec.batch_dir.empty() ? batch_base(*config) : spec.batch_dir;
    o.memory = size_t(config->batch_memory);
    return o;
  }

  std::string describe() const override {
    return "task '" + (task ? task->name : std::string("?")) + "' (subtask " +
           std::to_string(spec.subtask + 1) + "/" + std::to_string(parallelism) + ")";
  }

  // ---- life cycle
  void start() {
    since = transport->now_ns();
    build();
    state = TaskState::running;
    if (spec.restore) {
      try {
        restore(*spec.restore);
      } catch (const JobError&) {  // the state does not fit the job: every retry fails alike
        restore_refused = true;
        throw;
      } catch (const DecodeError&) {
        restore_refused = true;
        throw;
      }  // anything else (a full disk while a RocksDB store is copied in) may pass: retried
    }
    // Open from the tail, so each operator's consumers are ready before it emits.
    for (size_t i = ops.size(); i-- > 0;) ops[i]->open(*contexts[i]);
    replay_restored_inputs();
    gates->start();
    log::runtime()->info("job '{}': {} started{}", spec.graph->name, describe(),
                         spec.restore ? " from checkpoint " + std::to_string(spec.restore->checkpoint_id) : "");
    if (source) maybe_resume();
  }

  void fail(const std::string& what) {
    if (state == TaskState::failed || state == TaskState::canceled) return;
    state = TaskState::failed;
    error = "job '" + spec.graph->name + "' failed: " + what;
    log::runtime()->info("{}", error);  // the master logs it too; this keeps it with the subtask's lines
  }

  /// Runs `body`, turning an exception into the task's failure.
  template <class F>
  void guard(F&& body) {
    try {
      body();
    } catch (const OperatorFailure& e) {
      fail(e.what());
    } catch (const std::exception& e) {
      fail(describe() + ": " + e.what());
    } catch (...) {
      fail(describe() + ": unknown exception");
    }
  }

  void enter(Activity a) {
    auto now = transport->now_ns();
    spent[int(activity)] += now - since;
    since = now;
    activity = a;
  }
  /// A frame waits on a channel that may be read. Frames on channels held back by an aligned
  /// checkpoint do not count: a task with only those would reschedule itself in a loop.
  bool has_input() const { return gates && gates->readable(); }
  bool can_process() const {
    return state == TaskState::running && availability.ok() && io_pending < config->io_queue_limit;
  }
  bool source_active() const { return source && !source_waiting && !source_ended; }
  /// BATCH: every input ended and the sorted records are being fed.
  bool feeding_sorted() const { return sorted && sorted->finished() && !input_ended; }
  void settle() {
    bool work = has_input() || feeding_sorted() || (source_active() && state == TaskState::running);
    enter(work && !can_process() && state == TaskState::running ? Activity::backpressured
                                                                : Activity::idle);
  }
  void resume() override { maybe_resume(); }
  void maybe_resume() {
    if (resume_scheduled || !can_process()) return;
    if (has_input() || source_active() || feeding_sorted()) {
      resume_scheduled = true;
      transport->request_resume();
    }
  }

  // ---- input
  void on_frame(uint32_t backlog, FrameBuffer&& buf) {
    auto view = std::make_unique<FrameView>(buf);
    if (view->priority()) {  // checked and dropped: the buffer stays here until then
      auto id = view->value();
      auto [gate, c] = gates->accept(backlog, std::move(view), FrameBuffer{});
      BufferPool::instance().release(std::move(buf));
      if (checkpoint) checkpoint->on_priority_barrier(*c, id);
      return;
    }
    auto [gate, c] = gates->accept(backlog, std::move(view), std::move(buf));
    if (checkpoint) checkpoint->on_arrival(*c, *c->queue().back().view);
    maybe_resume();
  }

  void handle_element(InputGate& gate, InputChannel& c, const FrameView& v) {
    auto& in = inputs[size_t(gate.input)];
    std::optional<int64_t> wm;
    switch (v.kind()) {
      case FrameKind::status: wm = in.valve->on_status(c.valve_index(), v.value() != 0); break;
      case FrameKind::end_of_data: end_of_data(in, c); break;
      case FrameKind::end_of_partition:
        end_of_data(in, c);
        c.mark_closed();
        ++closed_channels;
        if (checkpoint) checkpoint->on_end_of_partition(c);
        break;
      case FrameKind::barrier:
        if (checkpoint) checkpoint->on_barrier(c, v.value(), v.aligned_only());
        break;
      case FrameKind::records: break;
    }
    advance(in, wm);
  }

  /// The input's watermark moved (its valve says so): the task's and the head operator's follow.
  void advance(HeadInput& in, std::optional<int64_t> wm) {
    if (!wm) return;
    if (sorted && sorted->sorts(int(&in - inputs.data())) && !input_ended) {
      in.held_watermark = *wm;  // BATCH: the head's watermark stays at its minimum until the end
      return;
    }
    watermark = *wm;
    in.target->watermark(*wm);
  }

  void end_of_data(HeadInput& in, InputChannel& c) {
    if (!c.mark_end_of_data()) return;
    ++in.ended;
    if (sorted) {
      if (in.ended < in.channels) return;
      in.ended_all = true;
      for (const auto& other : inputs)
        if (!other.ended_all) return;
      sorted->finish();  // the sorted records follow, in step()
      return;
    }
    if (in.ended == in.channels && !in.end_delivered) {
      in.end_delivered = true;
      in.target->end_input();
      for (const auto& other : inputs)
        if (!other.end_delivered) return;
      on_input_ended();
    }
  }

  void step() {
    int budget = config->step_records;
    if (source) {
      while (budget > 0 && can_process() && source_active()) {
        int n = budget < 256 ? budget : 256;
        auto status = source->poll(n);
        budget -= n;
        if (status == SourceStatus::finished) {
          source->finish();
          source_ended = true;
          on_input_ended();
          return;
        }
        if (status == SourceStatus::waiting) {
          source_waiting = true;
          // A source waiting on I/O is woken by its completion; others are polled again soon.
          if (io_pending == 0) transport->request_wakeup(-1, std::chrono::milliseconds(1));
        }
      }
      return;
    }
    if (feeding_sorted()) return feed_sorted(budget);
    while (budget > 0 && can_process()) {
      auto [gate, c] = gates->next();
      if (!gate) break;
      auto& f = c->queue().front();
      const auto& v = *f.view;
      if (v.kind() == FrameKind::records) {
        auto n = v.record_count();
        const auto& marks = v.marks();
        while (budget > 0 && availability.ok()) {
          if (f.mark < marks.size() && marks[f.mark].after == f.cursor) {
            auto& in = inputs[size_t(gate->input)];
            advance(in, in.valve->on_watermark(c->valve_index(), marks[f.mark++].watermark));
            continue;
          }
          if (f.cursor == n) break;
          if (tracing_input) [[unlikely]]
            trace_record("input", v.channel(), gate->exchange->edge, v.record_data(f.cursor), v.record_size(f.cursor),
                         v.timestamp(f.cursor));
          try {
            if (sorted) sorted->add(gate->input, v.record_data(f.cursor), v.record_size(f.cursor), v.timestamp(f.cursor));
            else gate->reader->decode(v.record_data(f.cursor), v.record_size(f.cursor), v.timestamp(f.cursor));
          } catch (const DecodeError& e) {
            throw DecodeError("cannot decode record " + std::to_string(f.cursor) + " of frame " +
                              std::to_string(v.sequence()) + " on " + v.channel().describe() +
                              ": " + e.what());
          }
          ++f.cursor;
          ++records_in;
          --budget;
        }
        if (f.cursor < n || f.mark < marks.size()) break;  // resumes this frame first: next() still points here
      } else {
        handle_element(*gate, *c, v);
      }
      gates->consume_front(*gate, *c);
      if (closed_channels == gates->channels()) {
        maybe_close();
        return;
      }
    }
  }

  /// BATCH: feeds the head its sorted records; after the last key, each input's watermark
  /// and end, as a streaming task would have passed them on.
  void feed_sorted(int budget) {
    if (!sorted->feed(budget, [this] { return can_process(); })) return;
    const auto& st = sorted->stats();
    log::runtime()->info("job '{}': {} sorted {} records by key ({} spill files, {} bytes spilled)", spec.graph->name,
                         describe(), st.records, st.runs, st.spilled_bytes);
    for (auto& in : inputs) {
      if (in.held_watermark) {
        watermark = *in.held_watermark;
        in.target->watermark(*in.held_watermark);
      }
      in.end_delivered = true;
      in.target->end_input();
    }
    on_input_ended();
    if (closed_channels == gates->channels()) maybe_close();
  }

  /// BATCH: the gate granted buffers to a channel fed from a partition file; the frames are
  /// read on the next resume (the gate is in the middle of an operation now).
  void blocking_credit(const ChannelId& ch, uint32_t n) {
    blocking_inputs[{ch.edge, ch.producer}].credits += n;
    if (!resume_scheduled) {
      resume_scheduled = true;
      transport->request_resume();
    }
  }
  /// Reads the frames that blocking channels have credit for, as if they had arrived.
  void feed_blocking() {
    for (auto& [id, b] : blocking_inputs) {
      if (b.credits == 0 || b.done) continue;
      if (!b.in)  // its producer finished before this task was deployed: the file is sealed
        b.in = std::make_unique<BlockingInput>(partition_file_path(spec.batch_dir, id.first, int(id.second)),
                                               blocking_edges.at(id.first)->output_channel(spec.subtask));
      auto frames = b.in->take(std::exchange(b.credits, 0));
      for (size_t i = 0; i < frames.size(); ++i)  // each with the frames behind it as its backlog
        on_frame(b.in->remaining() + uint32_t(frames.size() - 1 - i), std::move(frames[i]));
      if (b.in->exhausted()) {
        b.in.reset();  // one open file per channel still being read, not per channel
        b.done = true;
      }
    }
  }

  void on_resume() {
    resume_scheduled = false;
    if (state != TaskState::running) return;
    enter(Activity::busy);
    guard([&] {
      feed_blocking();
      step();
    });
    settle();
    maybe_resume();
  }

  // ---- end of input and closing (FLIP-147)
  /// The source ended, or EndOfData came on every input channel.
  void on_input_ended() {
    if (input_ended) return;
    input_ended = true;
    log::runtime()->info("job '{}': {} reached the end of its input", spec.graph->name, describe());
    if (spec.writer) {
      ended_after = checkpoint ? checkpoint->last_snapshot() : 0;
      transport->input_ended(ended_after);
    }
    maybe_close();
  }
  /// Closes once input ended, every input channel closed, and (with checkpoints) a
  /// checkpoint taken after the end completed, so that the last records are committed.
  void maybe_close() {
    if (state != TaskState::running || !input_ended || closed_channels != gates->channels()) return;
    if (spec.writer && !final_done) return;
    close();
  }

  // ---- checkpoints (CheckpointedTask)
  void snapshot_operators(int64_t id, bool savepoint, SubtaskSnapshot& snap, DeferredSnapshots& deferred) override {
    snap.parallelism = parallelism;
    for (size_t i = 0; i < ops.size(); ++i) {
      OperatorSnapshot o;
      o.operator_id = op_ids[i];
      o.custom = ops[i]->snapshot_state(id);
      auto& ctx = *contexts[i];
      if (ctx.keyed) {
        o.keyed = true;
        SnapshotRequest request;
        request.checkpoint_id = id;
        request.max_parallelism = config->max_parallelism;
        request.incremental = !savepoint;
        request.share = [writer = spec.writer, id](const std::string& from, const std::string& name) {
          auto f = writer->share_file(uint64_t(id), from, name);
          return std::pair{f.size, f.checksum};
        };
        deferred.emplace_back(i, ctx.keyed->snapshot_deferred(request));
      }
      o.lists = ctx.op_state.snapshot();
      snap.operators.push_back(std::move(o));
    }
  }
  void emit_barrier(int64_t id, bool overtake, bool savepoint, std::vector<ChannelRecords>& overtaken) override {
    for (auto& part : partitions) {
      if (overtake) part->priority_barrier(id, overtaken);
      else part->barrier(id, savepoint);
    }
  }
  bool barrier_queued(int64_t id) const override {
    for (const auto& part : partitions)
      if (part->barrier_queued(id)) return true;
    return false;
  }
  bool overtake_barrier(int64_t id, std::vector<ChannelRecords>& overtaken) override {
    bool any = false;
    for (auto& part : partitions) {
      if (!part->barrier_queued(id)) continue;
      part->overtake_barrier(id, overtaken);
      any = true;
    }
    return any;
  }

  void trigger(int64_t id, bool savepoint) {
    // A closing task is about to report itself finished; the coordinator stops waiting then.
    if (!checkpoint || state != TaskState::running) return;
    checkpoint->trigger(id, savepoint);
    maybe_resume();
  }

  void checkpoint_complete(int64_t id) {
    for (auto& op : ops) op->notify_checkpoint_complete(id);
    for (auto& ctx : contexts)
      if (ctx->keyed) ctx->keyed->notify_checkpoint_complete(id);
    if (input_ended && id > ended_after) {
      final_done = true;
      maybe_close();
    }
  }

  /// Closes: closes the operators and the partitions, then waits until all is sent.
  void close() {
    if (state != TaskState::running) return;
    state = TaskState::closing;
    for (auto& op : ops) op->close();
    for (auto& p : partitions) p->end_partition();
    check_done();
  }

  void check_done() {
    if (state != TaskState::closing || io_pending > 0) return;
    for (auto& p : partitions)
      if (!p->all_sent()) return;
    state = TaskState::finished;
    enter(Activity::idle);
  }

  /// A console's query (TaskQuery, docs/rest.md): answered between two messages; a trace
  /// answers later (traced()).
  std::optional<TaskReport> answer(const TaskQuery& q) {
    TaskReport r;
    r.kind = TaskReport::Kind::answer;
    r.query = q.id;
    switch (q.kind) {
      case TaskQuery::Kind::state:
      case TaskQuery::Kind::keys: keyed_answer(q, r); break;
      case TaskQuery::Kind::log: {
        r.text = "{\"task\":" + std::to_string(spec.task) + ",\"subtask\":" + std::to_string(spec.subtask) +
                 ",\"dropped\":" + std::to_string(log_ring.dropped()) + ",\"lines\":[";
        bool first = true;
        for (const auto& line : log_ring.last(q.limit)) {
          if (!first) r.text += ',';
          first = false;
          detail::write_json_string(r.text, line);
        }
        r.text += "]}";
        break;
      }
      case TaskQuery::Kind::trace:
        if (!start_trace(q, r)) return std::nullopt;
        break;
    }
    return r;
  }

  /// Arms a trace; false when it started (the answer comes from traced()), true with
  /// `r.error` when it cannot.
  bool start_trace(const TaskQuery& q, TaskReport& r) {
    if (trace) {
      r.error = describe() + " is being traced already";
      return true;
    }
    if (state != TaskState::running) {
      r.error = describe() + " is not running (" + task_state_name(state) + ")";
      return true;
    }
    bool inputs = gates && gates->channels() > 0;
    if (!inputs && partitions.empty()) {
      r.error = describe() + " has no input or output channel to trace (all its operators are chained)";
      return true;
    }
    auto now = std::chrono::steady_clock::now();
    trace = Trace{q.id, std::min<uint32_t>(q.limit, 500), 0, now, now + std::chrono::seconds(5), now, {}};
    if (inputs) {
      tracing_input = true;
    } else {
      for (auto& part : partitions)
        part->set_tap([this, p = part.get()](int ch, const uint8_t* bytes, size_t size, int64_t ts) {
          auto id = ch >= 0 ? p->channel_id(ch) : ChannelId{p->channel_id(0).edge, uint32_t(spec.subtask), ~0u};
          trace_record("output", id, int(id.edge), bytes, size, ts);
        });
    }
    return false;
  }

  /// One record offered to the trace: taken when the rate allows.
  void trace_record(const char* direction, const ChannelId& ch, int edge, const uint8_t* bytes, size_t size,
                    int64_t ts) {
    auto now = std::chrono::steady_clock::now();
    if (trace->taken >= trace->want || now < trace->next) return;
    trace->next = now + std::chrono::milliseconds(10);
    ++trace->taken;
    auto& out = trace->records;
    if (!out.empty()) out += ',';
    out += std::string("{\"direction\":\"") + direction + "\",\"edge\":" + std::to_string(edge) +
           ",\"channel\":\"" + std::to_string(ch.producer) + "->" +
           (ch.consumer == ~0u ? std::string("all") : std::to_string(ch.consumer)) +
           "\",\"timestamp\":" + (ts == no_timestamp ? std::string("null") : std::to_string(ts)) + ",\"record\":";
    try {
      out += spec.graph->edges[size_t(edge)].type->render(bytes, size);
    } catch (const std::exception& e) {
      out += "null,\"error\":";
      detail::write_json_string(out, e.what());
    }
    out += '}';
  }

  /// The trace's answer once it has its records or its time is up (or the task stopped).
  std::optional<TaskReport> traced() {
    if (!trace) return std::nullopt;
    auto now = std::chrono::steady_clock::now();
    bool over = state != TaskState::running && state != TaskState::created;
    if (trace->taken < trace->want && now < trace->until && !over) return std::nullopt;
    TaskReport r;
    r.kind = TaskReport::Kind::answer;
    r.query = trace->query;
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.3f", std::chrono::duration<double>(now - trace->started).count());
    r.text = "{\"task\":" + std::to_string(spec.task) + ",\"subtask\":" + std::to_string(spec.subtask) +
             ",\"seconds\":" + seconds + ",\"records\":[" + trace->records + "]}";
    trace.reset();
    tracing_input = false;
    for (auto& part : partitions) part->set_tap({});
    return r;
  }

  /// A state lookup or a key listing of one operator's keyed state.
  void keyed_answer(const TaskQuery& q, TaskReport& r) {
    auto at = std::find(op_ids.begin(), op_ids.end(), q.op);
    if (at == op_ids.end()) {
      r.error = describe() + " has no operator " + q.op;
      return;
    }
    const auto& ctx = *contexts[size_t(at - op_ids.begin())];
    auto* backend = ctx.keyed.get();
    if (!backend) {
      r.error = "operator '" + ctx.name + "' keeps no keyed state";
      return;
    }
    const auto& text = backend->key_text();
    if (!text.parse) {
      r.error = "operator '" + ctx.name + "' has not opened its keyed state yet";
      return;
    }
    if (q.kind == TaskQuery::Kind::keys) {
      list_keys(ctx, *backend, q.limit, r);
      return;
    }
    std::string bytes;
    try {
      bytes = text.parse(parse_key_text(q.key));
    } catch (const std::exception& e) {
      r.error = "the key '" + q.key + "' does not fit the keys of operator '" + ctx.name + "': " + e.what();
      return;
    }
    const int maxp = config->max_parallelism;
    const int group = key_group_of(bytes, maxp);
    if (!key_group_range(spec.subtask, maxp, parallelism).contains(group)) return;  // another subtask's
    r.owner = true;
    const auto& inspectors = backend->inspectors();
    if (!q.state.empty() && !inspectors.count(q.state)) {
      std::string known;
      for (const auto& [name, view] : inspectors) known += (known.empty() ? "" : ", ") + name;
      r.error = "operator '" + ctx.name + "' has no state '" + q.state + "'" +
                (known.empty() ? " (it has opened none)" : " (it has " + known + ")");
      return;
    }
    KeepKey keep(*backend);
    backend->set_current_key(bytes, group);
    try {
      std::string out = "{\"operator\":";
      detail::write_json_string(out, ctx.name);
      out += ",\"key\":" + text.format(bytes) + ",\"key_group\":" + std::to_string(group) +
             ",\"subtask\":" + std::to_string(spec.subtask) + ",\"states\":{";
      bool first = true;
      for (const auto& [name, view] : inspectors) {
        if (!q.state.empty() && name != q.state) continue;
        if (!first) out += ',';
        first = false;
        detail::write_json_string(out, name);
        out += ':' + view.render();
      }
      out += "}}";
      r.text = std::move(out);
    } catch (const std::exception& e) {
      r.error = "reading the state of operator '" + ctx.name + "' failed: " + e.what();
    } catch (...) {
      r.error = "reading the state of operator '" + ctx.name + "' failed: a user function threw";
    }
  }

  /// The key the operator was at comes back on every path, thrown or not.
  struct KeepKey {
    explicit KeepKey(KeyedStateBackend& b) : backend(&b), key(b.current_key()), group(b.current_key_group()) {}
    ~KeepKey() { backend->set_current_key(key, group); }
    KeepKey(const KeepKey&) = delete;
    KeepKey& operator=(const KeepKey&) = delete;
    KeyedStateBackend* backend;
    std::string key;
    int group;
  };

  /// Up to `limit` keys with a value in some opened state (expired TTL entries are not
  /// values), for JobMaster::on_answer to merge: "+" when there may be more, else "-", then
  /// one key per line as JSON. Each state gives at most `limit` + 1 keys not listed yet, and
  /// only then are they looked at: a lookup may copy a key group a running snapshot holds,
  /// which must not happen under the walk over that group.
  void list_keys(const OpContext& ctx, KeyedStateBackend& backend, uint32_t limit, TaskReport& r) {
    std::set<std::string> keys;
    bool more = false;
    KeepKey keep(backend);
    try {
      for (const auto& [name, view] : backend.inspectors()) {
        std::vector<std::pair<std::string, int>> candidates;
        view.keys([&](const std::string& key, int group) {
          if (!keys.count(key)) candidates.emplace_back(key, group);
          return candidates.size() <= limit;
        });
        if (candidates.size() > limit) more = true;
        for (const auto& [key, group] : candidates) {
          if (keys.size() == limit) {
            more = true;
            break;
          }
          backend.set_current_key(key, group);
          if (view.render() != "null") keys.insert(key);  // else expired
        }
      }
      r.text = more ? "+" : "-";
      for (const auto& k : keys) r.text += "\n" + backend.key_text().format(k);
    } catch (const std::exception& e) {
      r.error = "listing the keys of operator '" + ctx.name + "' failed: " + e.what();
    } catch (...) {
      r.error = "listing the keys of operator '" + ctx.name + "' failed: a user function threw";
    }
  }

  /// Every input channel, then every output channel, with the task at the other end.
  void fill_channels(TaskProbe& p) const {
    if (gates)
      for (int flat = 0; flat < gates->channels(); ++flat) p.channels.push_back(input_channel(flat));
    for (const auto& part : partitions)
      for (int ch = 0; ch < part->channel_count(); ++ch) p.channels.push_back(output_channel(*part, ch));
  }
  ChannelProbe input_channel(int flat) const {
    auto c = gates->channel_probe(flat);
    c.peer_task = gates->channel(flat).first->exchange->source_task;
    return c;
  }
  ChannelProbe output_channel(const ResultPartition& part, int ch) const {
    auto c = part.channel_probe(ch);
    auto x = out_exchange_by_edge.find(c.edge);
    c.peer_task = x == out_exchange_by_edge.end() ? -1 : x->second->target_task;
    return c;
  }

  /// "task 2 subtask 0 (edge 3)": the other end of a channel.
  static std::string peer(const ChannelProbe& c) {
    return "task " + std::to_string(c.peer_task) + " subtask " + std::to_string(c.peer_subtask) + " (edge " +
           std::to_string(c.edge) + ")";
  }

  /// Up to four items joined, and how many more.
  static std::string listed(const std::vector<std::string>& items) {
    std::string out;
    for (size_t i = 0; i < items.size() && i < 4; ++i) out += (i ? ", " : "") + items[i];
    if (items.size() > 4) out += " and " + std::to_string(items.size() - 4) + " more";
    return out;
  }

  /// What the subtask waits for right now, in words, and since when (ns): what `why` shows.
  std::pair<std::string, int64_t> waiting(int64_t now) const {
    if (state != TaskState::running) return {std::string("nothing: the subtask is ") + task_state_name(state), since};
    if (checkpoint)
      if (auto a = checkpoint->alignment()) {
        std::vector<std::string> from;
        for (int flat : a->missing) from.push_back(peer(input_channel(flat)));
        return {"the barrier of checkpoint " + std::to_string(a->id) + " on " + std::to_string(a->missing.size()) +
                    " of " + std::to_string(gates->channels()) + " input channels, from " + listed(from) +
                    " (the channels that delivered it are held back)",
                a->started_ns};
      }
    if (activity == Activity::busy) return {"nothing: it is processing", since};
    if (activity == Activity::backpressured) {
      std::vector<std::string> full;
      for (const auto& part : partitions)
        for (int ch = 0; ch < part->channel_count(); ++ch) {
          auto c = output_channel(*part, ch);
          if (c.blocked) full.push_back(peer(c) + " (" + std::to_string(c.queued_buffers) + " frames queued)");
        }
      if (!full.empty()) return {"credit on the output channels to " + listed(full), since};
      if (io_pending >= config->io_queue_limit)
        return {"the I/O executor: " + std::to_string(io_pending) + " jobs of this subtask are queued there", since};
      return {std::to_string(availability.unavailable_operators) + " operator(s) of its chain that take no input now",
              since};
    }
    // Probes are published between messages: a subtask with work it may do has its next step
    // scheduled already.
    if (has_input() && can_process())
      return {"nothing: " + std::to_string(gates->queued_buffers()) + " frames wait in its input queues, next to process",
              since};
    if (source_active() && can_process()) return {"nothing: its source has records to emit next", since};
    if (io_pending > 0) return {"the I/O executor: " + std::to_string(io_pending) + " jobs", since};
    if (source) {
      if (source_ended) return {"nothing: its source has ended", since};
      if (source_waiting) return {"its source, which has no data now", since};
    }
    if (!wakeups.empty()) {
      auto next = std::min_element(wakeups.begin(), wakeups.end(),
                                   [](const auto& a, const auto& b) { return a.second < b.second; });
      return {"a timer of '" + contexts[size_t(next->first)]->name + "', due in " +
                  std::to_string(std::max<int64_t>(0, next->second - now) / 1'000'000) + " ms",
              since};
    }
    if (gates && closed_channels >= gates->channels()) return {"nothing: every input has ended", since};
    return {gates ? "input: every input channel is empty" : "input", since};
  }

  TaskProbe probe() const {
    TaskProbe p;
    p.job_id = spec.job_id;
    p.task_id = spec.task;
    p.task = task ? task->name : "";
    p.subtask = spec.subtask;
    p.parallelism = parallelism;
    p.status = task_state_name(state);
    p.records_in = records_in;
    p.bytes_in = gates ? gates->bytes_received() : 0;
    for (const auto& part : partitions) {
      p.records_out += part->records_out();
      p.bytes_out += part->bytes_out();
      p.queued_buffers_out += part->queued_buffers();
      p.queued_bytes_out += part->queued_bytes();
      p.max_queued_bytes_out += part->max_queued_bytes();
      p.credits_available += part->credits();
    }
    if (gates) {
      p.queued_buffers_in = gates->queued_buffers();
      p.queued_bytes_in = gates->queued_bytes();
      p.max_queued_bytes_in = gates->max_queued_bytes();
      for (const auto& g : gates->gates()) {
        p.credits_granted += g.credit->total_outstanding();
        p.input_buffer_capacity += g.credit->capacity();
      }
    }
    auto now = transport->now_ns();
    int64_t t[3] = {spent[0], spent[1], spent[2]};
    t[int(activity)] += now - since;
    p.busy_ms = double(t[0]) / 1e6;
    p.backpressured_ms = double(t[1]) / 1e6;
    p.idle_ms = double(t[2]) / 1e6;
    p.watermark = watermark;
    if (checkpoint) checkpoint->fill(p);
    fill_channels(p);
    auto [why, from] = waiting(now);
    p.waiting_for = std::move(why);
    p.waiting_ms = double(std::max<int64_t>(0, now - from)) / 1e6;
    for (size_t i = 0; i < counters.size(); ++i) {
      OperatorProbe o;
      o.operator_id = op_ids[i];
      o.name = contexts[i]->name;
      const auto& c = counters[i];
      o.records_in = c.in ? *c.in : (i == 0 && !source ? records_in : 0);
      for (const auto* n : c.out) o.records_out += *n;
      for (const auto* part : c.parts) o.records_out += part->records_out();
      if (auto* keyed = contexts[i]->keyed.get()) {
        auto size = keyed->size();
        o.keyed = true;
        o.state_entries = size.entries;
        o.state_bytes = size.bytes;
      }
      p.operators.push_back(std::move(o));
    }
    return p;
  }
};

TaskRuntime::TaskRuntime(TaskSpec spec, TaskTransport& transport)
    : impl_(std::make_unique<Impl>(std::move(spec), transport)) {}
TaskRuntime::~TaskRuntime() = default;

void TaskRuntime::start() {
  impl_->guard([&] { impl_->start(); });
}

void TaskRuntime::on_frame(uint32_t backlog, FrameBuffer&& frame) {
  auto& t = *impl_;
  if (t.state != TaskState::running) {
    BufferPool::instance().release(std::move(frame));
    return;
  }
  t.enter(Activity::busy);
  t.guard([&] { t.on_frame(backlog, std::move(frame)); });
  t.settle();
}

void TaskRuntime::on_credit(const ChannelId& ch, uint32_t credits) {
  auto& t = *impl_;
  t.guard([&] {
    auto it = t.partition_by_edge.find(int(ch.edge));
    if (it == t.partition_by_edge.end() || ch.producer != uint32_t(t.spec.subtask))
      throw FrameError("credit for " + ch.describe() + " reached " + t.describe() +
                       ", which has no such output channel");
    it->second->on_credit(t.out_exchange_by_edge.at(int(ch.edge))->output_channel(int(ch.consumer)),
                          credits);
  });
  t.check_done();
  if (t.checkpoint) t.guard([&] { t.checkpoint->on_output_credit(); });
  t.maybe_resume();
}

void TaskRuntime::on_resume() { impl_->on_resume(); }

void TaskRuntime::on_flush_timer() {
  auto& t = *impl_;
  if (t.state != TaskState::running) return;
  t.guard([&] {
    for (auto& p : t.partitions)
      if (!t.writes_file(p.get())) p->flush_all();  // a file has no latency to bound
    for (auto& op : t.ops) op->flush();
    if (t.checkpoint) t.checkpoint->on_time();
  });
}

void TaskRuntime::on_wakeup(int op) {
  auto& t = *impl_;
  if (t.state != TaskState::running) return;
  if (op < 0) {
    t.source_waiting = false;
  } else {
    t.wakeups.erase(op);
    t.guard([&] { t.ops.at(size_t(op))->on_wakeup(); });
  }
  t.maybe_resume();
}

void TaskRuntime::on_io_done(const std::string& error) {
  auto& t = *impl_;
  --t.io_pending;
  if (!error.empty()) t.fail(t.describe() + ": " + error);
  t.source_waiting = false;
  t.check_done();
  t.maybe_resume();
}

void TaskRuntime::cancel() {
  auto& t = *impl_;
  if (t.state == TaskState::finished || t.state == TaskState::failed) return;
  t.state = TaskState::canceled;
}

void TaskRuntime::trigger_checkpoint(int64_t id, bool savepoint) {
  auto& t = *impl_;
  t.guard([&] { t.trigger(id, savepoint); });
}

void TaskRuntime::on_checkpoint_complete(int64_t id) {
  auto& t = *impl_;
  if (t.state != TaskState::running) return;
  t.guard([&] { t.checkpoint_complete(id); });
  t.maybe_resume();
}

void TaskRuntime::on_checkpoint_aborted(int64_t id) {
  auto& t = *impl_;
  if (t.state != TaskState::running) return;
  t.guard([&] {
    if (t.checkpoint) t.checkpoint->on_abort(id);
  });
  t.maybe_resume();
}

void TaskRuntime::drain() {
  auto& t = *impl_;
  if (t.state != TaskState::running || !t.source || t.source_ended) return;
  t.guard([&] {
    t.source->finish();
    t.source_ended = true;
    t.on_input_ended();
  });
  t.maybe_resume();
}

TaskState TaskRuntime::state() const { return impl_->state; }
const std::string& TaskRuntime::error() const { return impl_->error; }
bool TaskRuntime::failed_restoring() const { return impl_->state == TaskState::failed && impl_->restore_refused; }
std::string TaskRuntime::describe() const { return impl_->describe(); }
TaskProbe TaskRuntime::probe() const { return impl_->probe(); }

std::optional<TaskReport> TaskRuntime::answer(const TaskQuery& q) { return impl_->answer(q); }
std::optional<TaskReport> TaskRuntime::traced() { return impl_->traced(); }
log::LogRing& TaskRuntime::log_ring() { return impl_->log_ring; }

}  // namespace sluice::runtime
