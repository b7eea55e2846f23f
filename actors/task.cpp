// actors/task.cpp — the subtask state machine: chain assembly, the processing step, end of input, probes.
#include "task.hpp"

#include <atomic>
#include <deque>
#include <filesystem>
#include <map>

#include "actors/credit.hpp"
#include "actors/partition.hpp"
#include "actors/restore.hpp"
#include "actors/snapshot.hpp"
#include "actors/watermark_valve.hpp"
#include "checkpoint/barrier_handler.hpp"
#include "scheduler/plan.hpp"
#include "sluice/error.hpp"
#include "sluice/state.hpp"

namespace sluice::runtime {

const char* task_state_name(TaskState s) {
  switch (s) {
    case TaskState::created: return "created";
    case TaskState::running: return "running";
    case TaskState::finishing: return "finishing";
    case TaskState::finished: return "finished";
    case TaskState::failed: return "failed";
    case TaskState::canceled: return "canceled";
  }
  return "?";
}

namespace {

struct InFrame {
  FrameBuffer buffer;
  std::unique_ptr<FrameView> view;
  size_t cursor = 0;
};

struct InChannel {
  InChannel() = default;
  InChannel(InChannel&&) = default;
  InChannel(const InChannel&) = delete;
  LazyQueue<InFrame> queue;
  uint64_t expected_sequence = 0;
  uint64_t queued_bytes = 0;
  bool end_of_data = false;
  bool closed = false;
  bool blocked = false;    // aligned checkpoint: delivered the barrier, waits for the others
  bool recording = false;  // unaligned checkpoint: arriving records are channel state
  int valve_index = 0;     // this channel's slot in its input's watermark valve
  int flat = 0;            // index over all gates (the barrier handler's channel)
};

/// The receiving side of one exchange at this subtask.
struct InputGate {
  const scheduler::Exchange* exchange = nullptr;
  std::vector<InChannel> channels;
  std::unique_ptr<InputCredit> credit;
  std::unique_ptr<detail::RecordDecoder> reader;
  int input = 0;  // index into Impl::inputs
  int offset = 0;  // flat index of channel 0
};

/// One logical input of the head operator, fed by one or more gates (a union).
struct HeadInput {
  ElementSink* target = nullptr;
  int channels = 0;
  int ended = 0;
  bool end_delivered = false;
  std::unique_ptr<WatermarkValve> valve;
};

enum class Activity { busy, backpressured, idle };

}  // namespace

struct TaskRuntime::Impl final : IoService {
  /// What one operator of the chain sees of the runtime.
  struct OpContext final : OperatorContext {
    Impl* task = nullptr;
    int index = 0;
    std::string name;
    std::unique_ptr<KeyedStateBackend> keyed;
    OperatorStateStore op_state;
    bool available = true;
    bool checkpointing() const override { return task->spec.storage != nullptr; }
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
      task->transport->request_wakeup(index, delay);
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
  std::map<int, const scheduler::Exchange*> out_exchange_by_edge;
  std::vector<std::unique_ptr<ElementSink>> owned_outputs;  // writers and fan-outs
  std::vector<InputGate> gates;
  std::map<int, int> gate_by_edge;
  std::vector<HeadInput> inputs;
  Availability availability;
  int io_pending = 0;
  bool resume_scheduled = false;
  /// Flat indices of the channels with a queued frame, in turn order (each once): picking the
  /// next input costs the same at any parallelism, not a scan over all p channels.
  std::deque<int> ready;
  std::vector<bool> in_ready;  // by flat channel
  int closed_channels = 0, total_channels = 0;
  int64_t watermark = min_watermark;
  std::vector<Grant> grants;  // scratch

  // checkpoints (DESIGN.md §7)
  using BarrierActions = checkpoint::BarrierActions;
  struct Pending {
    int64_t id = 0;
    std::shared_ptr<SubtaskSnapshot> snap;
    std::vector<ChannelRecords> recorded;  // by flat channel
    std::vector<std::pair<size_t, KeyedStateBackend::DeferredSnapshot>> deferred;  // keyed state, by operator
    int64_t snapshot_ns = 0;
    double alignment_ms = 0, sync_ms = 0;
    bool unaligned = false;
    bool inputs_done = false;
    bool savepoint = false;  // aligned whatever the mode; never turned unaligned
  };
  checkpoint::CheckpointMode cp_mode = checkpoint::CheckpointMode::aligned;
  std::unique_ptr<checkpoint::BarrierHandler> barriers;
  std::vector<std::pair<InputGate*, InChannel*>> flat_channels;
  std::optional<Pending> pending;
  int64_t align_id = -1, align_start_ns = 0;
  int64_t savepoint_id = -1;  // the checkpoint being aligned is a savepoint
  int64_t last_snapshot_id = 0;
  std::vector<std::string> op_ids;
  bool source_ended = false;
  bool input_ended = false;
  int64_t ended_after = -1;  // a completed checkpoint above this id lets an ended task close
  bool final_done = false;
  std::vector<ChannelRecords> replay_inputs;
  TaskProbe cp_stats;  // checkpoint fields only
  /// What the I/O executor learns when it has written a snapshot: its duration and size.
  struct Written {
    std::atomic<double> async_ms{0};
    std::atomic<uint64_t> bytes{0};
  };
  std::shared_ptr<Written> written = std::make_shared<Written>();

  // probes
  uint64_t records_in = 0, bytes_in = 0;
  uint64_t queued_bytes_in = 0, max_queued_bytes_in = 0, queued_buffers_in = 0;
  Activity activity = Activity::idle;
  int64_t since = 0;
  int64_t spent[3] = {0, 0, 0};

  std::unique_ptr<KeyedStateBackend> make_backend() {
    auto now = [this] { return processing_time(); };
    if (config->state_backend == StateBackendKind::heap) return make_heap_backend(now);
    auto dir = config->state_dir.empty() ? std::filesystem::temp_directory_path().string() : config->state_dir;
    return make_rocksdb_backend(dir, now);
  }

  int64_t processing_time() const {
    return config->clock ? config->clock->now() : system_clock.now();
  }
  SystemClock system_clock;

  // ---- IoService
  void submit(std::function<void()> job) override {
    ++io_pending;
    transport->submit_io(std::move(job));
  }

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
      if (n.keyed) ctx->keyed = make_backend();
      ops.push_back(n.factory(spec.subtask, parallelism));
      contexts.push_back(std::move(ctx));
    }
    if (g.nodes[size_t(task->nodes.front())].is_source)
      source = dynamic_cast<SourceOperatorBase*>(ops.front().get());

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
            sinks.push_back(ops[size_t(op_of_node.at(e->target))]->input(e->input_index));
            continue;
          }
          const auto* x = exchange_of_edge.at(e->id);
          std::vector<int> consumers;
          for (int ch = 0; ch < x->channels_per_producer(); ++ch)
            consumers.push_back(x->consumer_of(spec.subtask, ch));
          auto part = std::make_unique<ResultPartition>(
              uint32_t(e->id), spec.subtask, consumers, *config, availability,
              [t = transport](const ChannelId& ch, uint32_t backlog, FrameBuffer&& f) {
                t->send_frame(ch, backlog, std::move(f));
              });
          owned_outputs.push_back(
              e->type->writer(*part, x->partitioning, spec.subtask, config->max_parallelism));
          sinks.push_back(owned_outputs.back().get());
          partition_by_edge[e->id] = part.get();
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
      InputGate gate;
      gate.exchange = &x;
      gate.input = input_of[key];
      int n = x.channels_per_consumer();
      gate.channels.resize(size_t(n));
      auto& in = inputs[size_t(gate.input)];
      for (auto& c : gate.channels) c.valve_index = in.channels++;
      gate.credit = std::make_unique<InputCredit>(n, config->exclusive_buffers, config->floating_buffers);
      gate.reader = e.type->reader(in.target);
      gate.offset = total_channels;
      total_channels += n;
      gate_by_edge[x.edge] = int(gates.size());
      gates.push_back(std::move(gate));
    }
    for (auto& in : inputs) in.valve = std::make_unique<WatermarkValve>(in.channels);
    for (auto& gate : gates)
      for (auto& c : gate.channels) {
        c.flat = gate.offset + int(&c - gate.channels.data());
        flat_channels.emplace_back(&gate, &c);
      }
    in_ready.assign(flat_channels.size(), false);
    if (spec.storage) {
      const auto& cc = config->checkpoint;
      switch (cc.mode) {
        case CheckpointingMode::aligned: cp_mode = checkpoint::CheckpointMode::aligned; break;
        case CheckpointingMode::unaligned: cp_mode = checkpoint::CheckpointMode::unaligned; break;
        case CheckpointingMode::aligned_with_timeout: cp_mode = checkpoint::CheckpointMode::aligned_with_timeout; break;
        case CheckpointingMode::at_least_once: cp_mode = checkpoint::CheckpointMode::at_least_once; break;
      }
      barriers = std::make_unique<checkpoint::BarrierHandler>(total_channels, cp_mode, cc.alignment_timeout.count());
    }
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
      auto g = gate_by_edge.find(int(in.channel.edge));
      if (g == gate_by_edge.end())
        throw JobError(describe() + " cannot restore in-flight data of " + in.channel.describe() +
                       ": the job has no such channel");
      auto& gate = gates[size_t(g->second)];
      for (const auto& [ts, bytes] : in.records) {
        gate.reader->decode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), ts);
        ++records_in;
      }
    }
    replay_inputs.clear();
  }

  std::string describe() const {
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
    for (auto& gate : gates) send_grants(gate, gate.credit->start());
    if (source) maybe_resume();
  }

  void fail(const std::string& what) {
    if (state == TaskState::failed || state == TaskState::canceled) return;
    state = TaskState::failed;
    error = "job '" + spec.graph->name + "' failed: " + what;
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
  bool has_input() const { return !ready.empty(); }
  bool can_process() const {
    return state == TaskState::running && availability.ok() && io_pending < config->io_queue_limit;
  }
  bool source_active() const { return source && !source_waiting && !source_ended; }
  void settle() {
    bool work = has_input() || (source_active() && state == TaskState::running);
    enter(work && !can_process() && state == TaskState::running ? Activity::backpressured
                                                                : Activity::idle);
  }
  void maybe_resume() {
    if (resume_scheduled || !can_process()) return;
    if (has_input() || source_active()) {
      resume_scheduled = true;
      transport->request_resume();
    }
  }

  // ---- input
  void send_grants(InputGate& gate, const std::vector<Grant>& gs) {
    for (const auto& gr : gs) {
      auto producer = gate.exchange->producer_of(spec.subtask, gr.channel);
      transport->send_credit(
          ChannelId{uint32_t(gate.exchange->edge), uint32_t(producer), uint32_t(spec.subtask)},
          gr.credits);
    }
  }

  void on_frame(uint32_t backlog, FrameBuffer&& buf) {
    InFrame f;
    f.view = std::make_unique<FrameView>(buf);
    f.buffer = std::move(buf);
    auto id = f.view->channel();
    auto git = gate_by_edge.find(int(id.edge));
    if (git == gate_by_edge.end() || id.consumer != uint32_t(spec.subtask))
      throw FrameError("frame for " + id.describe() + " reached " + describe() +
                       ", which has no such input channel");
    auto& gate = gates[size_t(git->second)];
    if (id.producer >= uint32_t(gate.exchange->producers))
      throw FrameError("frame from unknown producer on " + id.describe());
    int ch = gate.exchange->input_channel(int(id.producer));
    auto& c = gate.channels[size_t(ch)];
    if (c.closed) throw FrameError("frame after EndOfPartition on " + id.describe());
    if (f.view->priority()) {
      if (f.view->kind() != FrameKind::barrier)
        throw FrameError("priority frame of kind " + std::string(frame_kind_name(f.view->kind())) + " on " + id.describe());
      auto cp = f.view->value();
      f.view.reset();
      BufferPool::instance().release(std::move(f.buffer));
      if (barriers) on_priority_barrier(c, cp);
      return;
    }
    if (f.view->sequence() != c.expected_sequence)
      throw FrameError("frame out of order on " + id.describe() + ": expected sequence " +
                       std::to_string(c.expected_sequence) + ", got " +
                       std::to_string(f.view->sequence()));
    ++c.expected_sequence;
    grants.clear();
    if (!gate.credit->on_frame(ch, backlog, grants))
      throw FrameError("frame without credit on " + id.describe());
    send_grants(gate, grants);
    auto bytes = f.buffer.size() * 8;
    c.queued_bytes += bytes;
    queued_bytes_in += bytes;
    bytes_in += bytes;
    if (queued_bytes_in > max_queued_bytes_in) max_queued_bytes_in = queued_bytes_in;
    ++queued_buffers_in;
    c.queue.push_back(std::move(f));
    make_ready(c);
    const auto& v = *c.queue.back().view;
    if (c.recording && pending && v.kind() == FrameKind::records) append_records(v, 0, pending->recorded[size_t(c.flat)]);
    if (v.kind() == FrameKind::barrier && barriers) on_barrier_arrival(c, v.value(), v.aligned_only());
    maybe_resume();
  }

  /// Queues `c` for its turn when it holds a frame and may be read.
  void make_ready(InChannel& c) {
    if (in_ready[size_t(c.flat)] || c.blocked || c.queue.empty()) return;
    in_ready[size_t(c.flat)] = true;
    ready.push_back(c.flat);
  }

  /// The next channel with a queued frame, round robin; a frame partly read comes first (its
  /// channel stays at the front until consume_front).
  std::pair<InputGate*, InChannel*> next_input() {
    while (!ready.empty()) {
      auto [gate, c] = flat_channels[size_t(ready.front())];
      if (!c->blocked && !c->queue.empty()) return {gate, c};
      in_ready[size_t(ready.front())] = false;  // blocked since: back in turn once unblocked
      ready.pop_front();
    }
    return {nullptr, nullptr};
  }

  void consume_front(InputGate& gate, InChannel& c) {
    auto f = std::move(c.queue.front());
    c.queue.pop_front();
    auto bytes = f.buffer.size() * 8;
    c.queued_bytes -= bytes;
    queued_bytes_in -= bytes;
    --queued_buffers_in;
    f.view.reset();
    BufferPool::instance().release(std::move(f.buffer));
    int ch = int(&c - gate.channels.data());
    grants.clear();
    gate.credit->on_consumed(ch, grants);
    send_grants(gate, grants);
    // Channels take turns frame by frame: this one goes to the back (next_input returned it
    // from the front).
    if (!ready.empty() && ready.front() == c.flat) {
      ready.pop_front();
      in_ready[size_t(c.flat)] = false;
    }
    make_ready(c);
  }

  void handle_event(InputGate& gate, InChannel& c, const FrameView& v) {
    auto& in = inputs[size_t(gate.input)];
    std::optional<int64_t> wm;
    switch (v.kind()) {
      case FrameKind::watermark: wm = in.valve->on_watermark(c.valve_index, v.value()); break;
      case FrameKind::status: wm = in.valve->on_status(c.valve_index, v.value() != 0); break;
      case FrameKind::end_of_data: end_of_data(in, c); break;
      case FrameKind::end_of_partition:
        end_of_data(in, c);
        c.closed = true;
        ++closed_channels;
        if (barriers) apply(barriers->on_end_of_partition(c.flat, now_ms()));
        break;
      case FrameKind::barrier:
        if (barriers) apply(barrier_at(c, v.value(), false, v.aligned_only()));
        break;
      case FrameKind::records: break;
    }
    if (wm) {
      watermark = *wm;
      in.target->watermark(*wm);
    }
  }

  void end_of_data(HeadInput& in, InChannel& c) {
    if (c.end_of_data) return;
    c.end_of_data = true;
    ++in.ended;
    if (in.ended == in.channels && !in.end_delivered) {
      in.end_delivered = true;
      in.target->end_input();
      for (const auto& other : inputs)
        if (!other.end_delivered) return;
      end_of_input();
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
          end_of_input();
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
    while (budget > 0 && can_process()) {
      auto [gate, c] = next_input();
      if (!gate) break;
      auto& f = c->queue.front();
      const auto& v = *f.view;
      if (v.kind() == FrameKind::records) {
        auto n = v.record_count();
        while (f.cursor < n && budget > 0 && availability.ok()) {
          try {
            gate->reader->decode(v.record_data(f.cursor), v.record_size(f.cursor),
                                 v.timestamp(f.cursor));
          } catch (const DecodeError& e) {
            throw DecodeError("cannot decode record " + std::to_string(f.cursor) + " of frame " +
                              std::to_string(v.sequence()) + " on " + v.channel().describe() +
                              ": " + e.what());
          }
          ++f.cursor;
          ++records_in;
          --budget;
        }
        if (f.cursor < n) break;  // resumes this frame first: next_input() still points here
      } else {
        handle_event(*gate, *c, v);
      }
      consume_front(*gate, *c);
      if (closed_channels == total_channels) {
        maybe_close();
        return;
      }
    }
  }

  void on_resume() {
    resume_scheduled = false;
    if (state != TaskState::running) return;
    enter(Activity::busy);
    guard([&] { step(); });
    settle();
    maybe_resume();
  }

  // ---- end of input and closing (FLIP-147)
  /// The source ended, or EndOfData came on every input channel.
  void end_of_input() {
    if (input_ended) return;
    input_ended = true;
    if (spec.storage) {
      ended_after = last_snapshot_id;
      transport->input_ended(ended_after);
    }
    maybe_close();
  }
  /// Closes once input ended, every input channel closed, and (with checkpoints) a
  /// checkpoint taken after the end completed, so that the last records are committed.
  void maybe_close() {
    if (state != TaskState::running || !input_ended || closed_channels != total_channels) return;
    if (spec.storage && !final_done) return;
    finish();
  }

  // ---- checkpoints
  int64_t now_ms() { return transport->now_ns() / 1000000; }
  void decline(int64_t id, const std::string& why) { transport->reporter()(id, nullptr, why); }

  BarrierActions barrier_at(InChannel& c, int64_t id, bool priority, bool aligned_only = false) {
    if (barriers->pending() != id && id > barriers->last_done() && align_id != id) {
      align_id = id;
      align_start_ns = transport->now_ns();
    }
    if (aligned_only && barriers->pending() != id) savepoint_id = id;
    return barriers->on_barrier(c.flat, id, now_ms(), priority, aligned_only);
  }

  /// An in-band barrier was received (it stays queued until consumed). Once a checkpoint is
  /// unaligned, a barrier counts from its arrival: what is queued behind it is after it.
  void on_barrier_arrival(InChannel& c, int64_t id, bool aligned_only) {
    if (barriers->unaligned_now() && barriers->pending() == id) {
      apply(barrier_at(c, id, false));
    } else if (cp_mode == checkpoint::CheckpointMode::aligned_with_timeout && !aligned_only) {
      if (align_id != id && id > barriers->last_done()) {
        align_id = id;
        align_start_ns = transport->now_ns();
      }
      apply(barriers->on_announcement(id, now_ms()));
    }
  }

  /// A priority barrier overtook the records queued on its channel: they precede it.
  void on_priority_barrier(InChannel& c, int64_t id) {
    // A channel already recording has its queued records in the channel state already.
    bool accepted = id > barriers->last_done() && !(barriers->pending() == id && barriers->arrived(c.flat)) &&
                    !c.recording;
    ChannelRecords ahead;
    if (accepted) record_queued(c, id, ahead);
    apply(barrier_at(c, id, true), [&] {
      if (!accepted || !pending || pending->id != id) return;
      auto& rec = pending->recorded[size_t(c.flat)].records;
      rec.insert(rec.end(), std::make_move_iterator(ahead.records.begin()),
                 std::make_move_iterator(ahead.records.end()));
    });
  }

  /// Appends the unconsumed records queued on `c` up to barrier `id`; true if that barrier
  /// is queued there.
  bool record_queued(InChannel& c, int64_t id, ChannelRecords& out) {
    for (const auto& f : c.queue) {
      if (f.view->kind() == FrameKind::barrier && f.view->value() == id) return true;
      append_records(*f.view, f.cursor, out);
    }
    return false;
  }

  void apply(const BarrierActions& a, const std::function<void()>& before_complete = {}) {
    for (int ch : a.block) {
      auto [gate, c] = flat_channels[size_t(ch)];
      c->blocked = true;
      gate->credit->block(ch - gate->offset);
    }
    for (int ch : a.unblock) {
      auto [gate, c] = flat_channels[size_t(ch)];
      c->blocked = false;
      make_ready(*c);
      grants.clear();
      gate->credit->unblock(ch - gate->offset, grants);
      send_grants(*gate, grants);
    }
    if (a.snapshot) take_snapshot(*a.snapshot, a.overtake, *a.snapshot == savepoint_id);
    std::vector<InChannel*> found;
    for (int ch : a.start_recording) {
      auto* c = flat_channels[size_t(ch)].second;
      c->recording = true;
      if (pending && record_queued(*c, pending->id, pending->recorded[size_t(ch)])) found.push_back(c);
    }
    for (int ch : a.stop_recording) flat_channels[size_t(ch)].second->recording = false;
    if (before_complete) before_complete();
    if (a.completed && pending && pending->id == *a.completed) {
      pending->inputs_done = true;
      maybe_ack();
    }
    if (a.aborted) {
      if (pending && pending->id == *a.aborted) pending.reset();
      decline(*a.aborted, describe() + " gave up checkpoint " + std::to_string(*a.aborted) +
                                         ": a newer checkpoint's barrier overtook it");
    }
    // Barriers already queued on channels that now record count as arrived.
    int64_t id = pending ? pending->id : -1;
    for (auto* c : found)
      if (barriers->pending() == id) apply(barrier_at(*c, id, false));
    if (a.snapshot || a.completed || a.unblock.size()) maybe_resume();
  }

  /// The synchronous part of a checkpoint: every operator's state, copied; then the barrier
  /// goes downstream (ahead of queued output when `overtake`).
  void take_snapshot(int64_t id, bool overtake, bool savepoint) {
    auto t0 = transport->now_ns();
    if (pending) {
      decline(pending->id, describe() + " gave up checkpoint " + std::to_string(pending->id) +
                                          " for checkpoint " + std::to_string(id));
      pending.reset();
    }
    Pending p;
    p.id = id;
    p.snap = std::make_shared<SubtaskSnapshot>();
    p.snap->parallelism = parallelism;
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
        request.share = [storage = spec.storage, id](const std::string& from, const std::string& name) {
          auto f = storage->share_file(uint64_t(id), from, name);
          return std::pair{f.size, f.checksum};
        };
        p.deferred.emplace_back(i, ctx.keyed->snapshot_deferred(request));
      }
      o.lists = ctx.op_state.snapshot();
      p.snap->operators.push_back(std::move(o));
    }
    for (auto& part : partitions) {
      if (overtake) part->priority_barrier(id, p.snap->outputs);
      else part->barrier(id, savepoint);
    }
    p.savepoint = savepoint;
    p.recorded.resize(size_t(total_channels));
    for (auto [gate, c] : flat_channels)
      p.recorded[size_t(c->flat)].channel =
          ChannelId{uint32_t(gate->exchange->edge), uint32_t(gate->exchange->producer_of(spec.subtask, c->flat - gate->offset)),
                    uint32_t(spec.subtask)};
    p.unaligned = overtake;
    p.snapshot_ns = transport->now_ns();
    p.sync_ms = double(p.snapshot_ns - t0) / 1e6;
    p.alignment_ms = align_id == id ? double(t0 - align_start_ns) / 1e6 : 0;
    pending = std::move(p);
    last_snapshot_id = id;
  }

  /// Writes the snapshot once every input delivered its barrier (and, with an alignment
  /// timeout, once the barrier left every output queue), then acknowledges.
  void maybe_ack() {
    if (!pending || !pending->inputs_done) return;
    if (cp_mode == checkpoint::CheckpointMode::aligned_with_timeout && !pending->savepoint)
      for (const auto& part : partitions)
        if (part->barrier_queued(pending->id)) return;
    auto snap = pending->snap;
    for (auto& rec : pending->recorded)
      if (!rec.records.empty()) snap->inputs.push_back(std::move(rec));
    uint64_t inflight = 0;
    for (const auto* list : {&snap->inputs, &snap->outputs})
      for (const auto& ch : *list)
        for (const auto& r : ch.records) inflight += r.second.size();
    auto ack = std::make_shared<CheckpointAck>();
    ack->checkpoint_id = pending->id;
    ack->task = spec.task;
    ack->subtask = spec.subtask;
    ack->unaligned = pending->unaligned || !snap->outputs.empty() || !snap->inputs.empty();
    ack->alignment_ms = pending->alignment_ms;
    ack->sync_ms = pending->sync_ms;
    ack->inflight_bytes = inflight;
    cp_stats.checkpoint_id = ack->checkpoint_id;
    cp_stats.checkpoint_unaligned = ack->unaligned;
    cp_stats.checkpoint_alignment_ms = ack->alignment_ms;
    cp_stats.checkpoint_sync_ms = ack->sync_ms;
    cp_stats.checkpoint_inflight_bytes = inflight;
    auto storage = spec.storage;
    auto report = transport->reporter();
    auto name = "task-" + std::to_string(spec.task) + "-" + std::to_string(spec.subtask);
    auto who = describe();
    int64_t id = pending->id;
    auto deferred = std::make_shared<decltype(pending->deferred)>(std::move(pending->deferred));
    pending.reset();
    auto written_out = written;
    submit([storage, report, name, who, id, snap, ack, deferred, written_out] {
      auto t0 = std::chrono::steady_clock::now();
      try {
        for (auto& [op, finish] : *deferred) snap->operators[op].keyed_state = finish();
        deferred->clear();
        ack->file = storage->write_file(uint64_t(id), name, encode_snapshot(*snap));
        ack->file.subtask = uint32_t(ack->subtask);
        uint64_t bytes = ack->file.size;  // what this checkpoint wrote: its file and newly shared ones
        for (const auto& op : snap->operators) {
          for (const auto& [state, codec] : op.keyed_state.fingerprints)
            ack->states.emplace_back(op.operator_id, checkpoint::StateFingerprint{state, codec});
          for (const auto& f : op.keyed_state.files) {
            if (f.shared.empty()) continue;
            ack->shared.emplace_back(op.operator_id,
                                     checkpoint::FileRef{checkpoint::CheckpointStorage::shared_ref(f.shared), f.size,
                                                         f.checksum, uint32_t(ack->subtask), 0, 0});
            if (f.fresh) bytes += f.size;
          }
        }
        ack->bytes = bytes;
        ack->async_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        written_out->async_ms.store(ack->async_ms);
        written_out->bytes.store(bytes);
        report(id, ack, {});
      } catch (const std::exception& e) {
        report(id, nullptr, who + " could not write checkpoint " + std::to_string(id) + ": " + e.what());
      }
    });
  }

  void trigger(int64_t id, bool savepoint) {
    if (!spec.storage) return;
    // A closing task is about to report itself finished; the coordinator stops waiting then.
    if (state != TaskState::running) return;
    // The extended frontier can race the barrier: it may have snapshotted this one already.
    if (id <= last_snapshot_id) return;
    if (barriers) apply(barriers->on_trigger(id));
    take_snapshot(id, cp_mode == checkpoint::CheckpointMode::unaligned && !savepoint, savepoint);
    pending->inputs_done = true;
    maybe_ack();
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

  /// With an alignment timeout: barriers waiting too long, in front of data at a receiver
  /// or in an output queue here, turn unaligned.
  void check_alignment_timeout() {
    if (!barriers || cp_mode != checkpoint::CheckpointMode::aligned_with_timeout) return;
    apply(barriers->on_time(now_ms()));
    if (!pending || pending->savepoint) return;
    auto timeout_ns = config->checkpoint.alignment_timeout.count() * 1000000;
    if (transport->now_ns() - pending->snapshot_ns < timeout_ns) return;
    for (auto& part : partitions) {
      if (!part->barrier_queued(pending->id)) continue;
      part->overtake_barrier(pending->id, pending->snap->outputs);
      pending->unaligned = true;
    }
    maybe_ack();
  }

  /// All input ended: close the operators, close the partitions, wait until all is sent.
  void finish() {
    if (state != TaskState::running) return;
    state = TaskState::finishing;
    for (auto& op : ops) op->close();
    for (auto& p : partitions) p->end_partition();
    check_done();
  }

  void check_done() {
    if (state != TaskState::finishing || io_pending > 0) return;
    for (auto& p : partitions)
      if (!p->drained()) return;
    state = TaskState::finished;
    enter(Activity::idle);
  }

  TaskProbe probe() const {
    TaskProbe p;
    p.task = task ? task->name : "";
    p.subtask = spec.subtask;
    p.parallelism = parallelism;
    p.status = task_state_name(state);
    p.records_in = records_in;
    p.bytes_in = bytes_in;
    for (const auto& part : partitions) {
      p.records_out += part->records_out();
      p.bytes_out += part->bytes_out();
      p.queued_buffers_out += part->queued_buffers();
      p.queued_bytes_out += part->queued_bytes();
      p.max_queued_bytes_out += part->max_queued_bytes();
      p.credits_available += part->credits();
    }
    p.queued_buffers_in = queued_buffers_in;
    p.queued_bytes_in = queued_bytes_in;
    p.max_queued_bytes_in = max_queued_bytes_in;
    for (const auto& g : gates) {
      p.credits_granted += g.credit->total_outstanding();
      p.input_buffer_capacity += g.credit->capacity();
    }
    auto now = transport->now_ns();
    int64_t t[3] = {spent[0], spent[1], spent[2]};
    t[int(activity)] += now - since;
    p.busy_ms = double(t[0]) / 1e6;
    p.backpressured_ms = double(t[1]) / 1e6;
    p.idle_ms = double(t[2]) / 1e6;
    p.watermark = watermark;
    p.checkpoint_id = cp_stats.checkpoint_id;
    p.checkpoint_unaligned = cp_stats.checkpoint_unaligned;
    p.checkpoint_alignment_ms = cp_stats.checkpoint_alignment_ms;
    p.checkpoint_sync_ms = cp_stats.checkpoint_sync_ms;
    p.checkpoint_async_ms = written->async_ms.load();
    p.checkpoint_bytes = written->bytes.load();
    p.checkpoint_inflight_bytes = cp_stats.checkpoint_inflight_bytes;
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
  if (t.pending) t.guard([&] { t.maybe_ack(); });
  t.maybe_resume();
}

void TaskRuntime::on_resume() { impl_->on_resume(); }

void TaskRuntime::on_flush_timer() {
  auto& t = *impl_;
  if (t.state != TaskState::running) return;
  t.guard([&] {
    for (auto& p : t.partitions) p->flush_all();
    for (auto& op : t.ops) op->flush();
    t.check_alignment_timeout();
  });
}

void TaskRuntime::on_wakeup(int op) {
  auto& t = *impl_;
  if (t.state != TaskState::running) return;
  if (op < 0) {
    t.source_waiting = false;
  } else {
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
    if (t.pending && t.pending->id == id) t.pending.reset();
    if (t.barriers) t.apply(t.barriers->on_abort(id));
  });
  t.maybe_resume();
}

void TaskRuntime::drain() {
  auto& t = *impl_;
  if (t.state != TaskState::running || !t.source || t.source_ended) return;
  t.guard([&] {
    t.source->finish();
    t.source_ended = true;
    t.end_of_input();
  });
  t.maybe_resume();
}

TaskState TaskRuntime::state() const { return impl_->state; }
const std::string& TaskRuntime::error() const { return impl_->error; }
bool TaskRuntime::failed_restoring() const { return impl_->state == TaskState::failed && impl_->restore_refused; }
std::string TaskRuntime::describe() const { return impl_->describe(); }
TaskProbe TaskRuntime::probe() const { return impl_->probe(); }

}  // namespace sluice::runtime
