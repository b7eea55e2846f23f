// actors/introspection.cpp — probe history and rates, the bottleneck rule, the REST documents (nlohmann-json) and the Prometheus text.
#include "actors/introspection.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>
#include <tuple>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace sluice::runtime {

using nlohmann::json;

void ProbeHistory::add(const std::string& job, int64_t now_ms, std::vector<TaskProbe> probes, int64_t min_gap_ms) {
  auto& samples = samples_[job];
  // Another run of the job (a rescale changed its tasks): its counters are not comparable.
  auto layout = [](const std::vector<TaskProbe>& ps) {
    std::set<std::tuple<int, int, std::string>> out;
    for (const auto& p : ps) out.emplace(p.task_id, p.subtask, p.task);
    return out;
  };
  if (!samples.empty() && layout(samples.back().probes) != layout(probes)) samples.clear();
  if (samples.size() >= 2 && now_ms - samples[samples.size() - 2].at_ms < min_gap_ms) samples.pop_back();
  samples.push_back({now_ms, std::move(probes)});
  while (samples.size() > 2 && now_ms - samples[1].at_ms >= keep_ms_) samples.pop_front();
}

std::vector<SubtaskRates> ProbeHistory::rates(const std::string& job, int64_t window_ms) const {
  std::vector<SubtaskRates> out;
  auto it = samples_.find(job);
  if (it == samples_.end() || it->second.empty()) return out;
  const auto& samples = it->second;
  const auto& last = samples.back();
  // The latest sample at least window_ms older than the newest, else the oldest.
  const Sample* first = &samples.front();
  for (auto s = samples.rbegin() + 1; s < samples.rend(); ++s) {
    if (last.at_ms - s->at_ms >= window_ms) {
      first = &*s;
      break;
    }
  }
  std::map<std::pair<int, int>, const TaskProbe*> before;
  if (first != &last)
    for (const auto& p : first->probes) before[{p.task_id, p.subtask}] = &p;
  double seconds = double(last.at_ms - first->at_ms) / 1000.0;
  for (const auto& p : last.probes) {
    SubtaskRates r;
    r.probe = p;
    auto b = before.find({p.task_id, p.subtask});
    if (seconds > 0 && b != before.end()) {
      const TaskProbe& o = *b->second;
      r.window_s = seconds;
      // A restarted subtask starts its counters again: its rate counts from zero.
      auto per_s = [&](double now, double then) { return (now >= then ? now - then : now) / seconds; };
      r.busy_ms_per_s = per_s(p.busy_ms, o.busy_ms);
      r.backpressured_ms_per_s = per_s(p.backpressured_ms, o.backpressured_ms);
      r.idle_ms_per_s = per_s(p.idle_ms, o.idle_ms);
      r.records_in_per_s = per_s(double(p.records_in), double(o.records_in));
      r.records_out_per_s = per_s(double(p.records_out), double(o.records_out));
      r.bytes_in_per_s = per_s(double(p.bytes_in), double(o.bytes_in));
      r.bytes_out_per_s = per_s(double(p.bytes_out), double(o.bytes_out));
    }
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const SubtaskRates& a, const SubtaskRates& b) {
    return std::pair(a.probe.task_id, a.probe.subtask) < std::pair(b.probe.task_id, b.probe.subtask);
  });
  return out;
}

void ProbeHistory::retain(const std::vector<std::string>& keep) {
  std::set<std::string> wanted(keep.begin(), keep.end());
  std::erase_if(samples_, [&](const auto& e) { return !wanted.count(e.first); });
}

PressureLevel pressure_level(double backpressured_ms_per_s) {
  if (backpressured_ms_per_s > 500) return PressureLevel::high;
  if (backpressured_ms_per_s > 100) return PressureLevel::low;
  return PressureLevel::ok;
}

const char* pressure_word(PressureLevel l) {
  switch (l) {
    case PressureLevel::ok: return "ok";
    case PressureLevel::low: return "low";
    case PressureLevel::high: return "high";
  }
  return "?";
}

std::vector<TaskRates> task_rates(const JobShape& shape, const std::vector<SubtaskRates>& subtasks) {
  std::vector<TaskRates> out;
  for (const auto& t : shape.tasks) {
    TaskRates r;
    r.task = t.id;
    int n = 0;
    for (const auto& s : subtasks) {
      if (s.probe.task_id != t.id) continue;
      ++n;
      r.busy_ms_per_s += s.busy_ms_per_s;
      r.backpressured_ms_per_s += s.backpressured_ms_per_s;
      r.idle_ms_per_s += s.idle_ms_per_s;
      r.max_busy_ms_per_s = std::max(r.max_busy_ms_per_s, s.busy_ms_per_s);
      r.max_backpressured_ms_per_s = std::max(r.max_backpressured_ms_per_s, s.backpressured_ms_per_s);
      r.records_in_per_s += s.records_in_per_s;
      r.records_out_per_s += s.records_out_per_s;
      r.watermark = n == 1 ? s.probe.watermark : std::min(r.watermark, s.probe.watermark);
    }
    if (n > 0) {
      r.busy_ms_per_s /= n;
      r.backpressured_ms_per_s /= n;
      r.idle_ms_per_s /= n;
    }
    out.push_back(r);
  }
  return out;
}

std::optional<Bottleneck> find_bottleneck(const JobShape& shape, const std::vector<SubtaskRates>& subtasks) {
  auto rates = task_rates(shape, subtasks);
  auto pressured = [&](int task) {
    return size_t(task) < rates.size() && pressure_level(rates[size_t(task)].max_backpressured_ms_per_s) != PressureLevel::ok;
  };
  // Upstream of each task, directly or through others.
  std::vector<std::set<int>> upstream(shape.tasks.size());
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& e : shape.edges) {
      if (size_t(e.target_task) >= upstream.size() || size_t(e.source_task) >= upstream.size()) continue;
      auto& up = upstream[size_t(e.target_task)];
      size_t before = up.size();
      up.insert(e.source_task);
      up.insert(upstream[size_t(e.source_task)].begin(), upstream[size_t(e.source_task)].end());
      grew = grew || up.size() != before;
    }
  }
  std::optional<int> best;
  for (const auto& t : shape.tasks) {
    if (pressured(t.id)) continue;
    bool pressed = std::any_of(upstream[size_t(t.id)].begin(), upstream[size_t(t.id)].end(), pressured);
    if (!pressed) continue;
    if (!best || rates[size_t(t.id)].max_busy_ms_per_s > rates[size_t(*best)].max_busy_ms_per_s) best = t.id;
  }
  if (!best || rates[size_t(*best)].max_busy_ms_per_s <= 0) return std::nullopt;
  Bottleneck b{*best, 0, -1};
  for (const auto& s : subtasks)
    if (s.probe.task_id == *best && s.busy_ms_per_s > b.busy_ms_per_s) b = {*best, s.probe.subtask, s.busy_ms_per_s};
  return b;
}

namespace {
JsonValue from_nlohmann(const json& j) {
  JsonValue v;
  switch (j.type()) {
    case json::value_t::null: v.kind = JsonValue::Kind::null, v.text = "null"; break;
    case json::value_t::boolean:
      v.kind = JsonValue::Kind::boolean;
      v.boolean = j.get<bool>();
      v.text = v.boolean ? "true" : "false";
      break;
    case json::value_t::string: v.kind = JsonValue::Kind::string, v.text = j.get<std::string>(); break;
    case json::value_t::array:
      v.kind = JsonValue::Kind::array;
      for (const auto& x : j) v.items.push_back(from_nlohmann(x));
      break;
    case json::value_t::object:
      v.kind = JsonValue::Kind::object;
      for (const auto& [k, x] : j.items()) v.fields.emplace_back(k, from_nlohmann(x));
      break;
    default: v.kind = JsonValue::Kind::number, v.text = j.dump(); break;
  }
  return v;
}
}  // namespace

JsonValue parse_key_text(const std::string& text) {
  try {
    auto v = from_nlohmann(json::parse(text));
    // A number keeps the literal typed (1.50 stays 1.50 for a string key; dump() would not).
    if (v.kind == JsonValue::Kind::number) {
      auto first = text.find_first_not_of(" \t\r\n"), last = text.find_last_not_of(" \t\r\n");
      v.text = text.substr(first, last - first + 1);
    }
    return v;
  } catch (const json::exception&) {
    JsonValue v;
    v.kind = JsonValue::Kind::string;
    v.text = text;
    return v;
  }
}

std::string job_state(JobHandle& job) {
  if (!job.done()) return "RUNNING";
  return job.wait().succeeded ? "FINISHED" : "FAILED";
}

namespace rest {
namespace {

/// Rates are shown to a tenth.
double tenth(double v) { return std::round(v * 10.0) / 10.0; }

json watermark_json(int64_t w) { return w == INT64_MIN ? json(nullptr) : json(w); }

int64_t last_completed(const std::vector<CheckpointInfo>& infos) {
  for (auto it = infos.rbegin(); it != infos.rend(); ++it)
    if (it->status == CheckpointInfo::Status::completed) return it->id;
  return 0;
}

int parallelism(const JobShape& s) {
  int p = 0;
  for (const auto& t : s.tasks) p = std::max(p, t.parallelism);
  return p;
}

std::string task_name(const JobShape& s, int task) {
  return size_t(task) < s.tasks.size() ? s.tasks[size_t(task)].name : std::string();
}

json actor_json(const JobShape& shape, const SubtaskRates& r) {
  const auto& p = r.probe;
  uint64_t entries = 0, bytes = 0;
  for (const auto& o : p.operators) {
    entries += o.state_entries;
    bytes += o.state_bytes;
  }
  json input_credits = json::array();
  for (const auto& c : p.channels)
    if (c.input) input_credits.push_back(c.credits);
  return json{{"task", p.task_id},
              {"task_name", task_name(shape, p.task_id)},
              {"subtask", p.subtask},
              {"agent", p.agent},
              {"status", p.status},
              {"mailbox_depth", p.mailbox_depth},
              {"queued_buffers_in", p.queued_buffers_in},
              {"queued_buffers_out", p.queued_buffers_out},
              {"queued_bytes_in", p.queued_bytes_in},
              {"queued_bytes_out", p.queued_bytes_out},
              {"credits_available", p.credits_available},
              {"credits_granted", p.credits_granted},
              {"input_credits", input_credits},
              {"waiting_for", p.waiting_for},
              {"waiting_ms", tenth(p.waiting_ms)},
              {"busy_ms_per_s", tenth(r.busy_ms_per_s)},
              {"backpressured_ms_per_s", tenth(r.backpressured_ms_per_s)},
              {"idle_ms_per_s", tenth(r.idle_ms_per_s)},
              {"records_in_per_s", tenth(r.records_in_per_s)},
              {"records_out_per_s", tenth(r.records_out_per_s)},
              {"bytes_in_per_s", tenth(r.bytes_in_per_s)},
              {"bytes_out_per_s", tenth(r.bytes_out_per_s)},
              {"records_in", p.records_in},
              {"records_out", p.records_out},
              {"watermark", watermark_json(p.watermark)},
              {"state_entries", entries},
              {"state_bytes", bytes},
              {"checkpoint",
               {{"id", p.checkpoint_id},
                {"unaligned", p.checkpoint_unaligned},
                {"alignment_ms", tenth(p.checkpoint_alignment_ms)},
                {"sync_ms", tenth(p.checkpoint_sync_ms)},
                {"async_ms", tenth(p.checkpoint_async_ms)},
                {"bytes", p.checkpoint_bytes},
                {"inflight_bytes", p.checkpoint_inflight_bytes}}}};
}

double window_of(const std::vector<SubtaskRates>& rates) {
  double w = 0;
  for (const auto& r : rates) w = std::max(w, r.window_s);
  return tenth(w);
}

}  // namespace

std::string agents(const std::vector<AgentView>& agents) {
  json list = json::array();
  for (const auto& a : agents)
    list.push_back({{"name", a.name},
                    {"address", a.address},
                    {"slots", a.slots},
                    {"slots_used", a.slots_used},
                    {"slots_free", a.slots - a.slots_used},
                    {"last_heartbeat_ms_ago", a.last_heartbeat_ms_ago},
                    {"uptime_ms", a.uptime_ms}});
  return json{{"agents", list}}.dump();
}

std::string jobs(const std::vector<std::shared_ptr<JobHandle>>& jobs, int64_t now_ms) {
  json list = json::array();
  for (const auto& j : jobs) {
    auto shape = j->shape();
    list.push_back({{"id", j->id()},
                    {"name", j->name()},
                    {"state", job_state(*j)},
                    {"uptime_ms", std::max<int64_t>(0, now_ms - j->submitted_ms())},
                    {"parallelism", parallelism(shape)},
                    {"restarts", j->restarts()},
                    {"last_checkpoint", last_completed(j->checkpoints())}});
  }
  return json{{"jobs", list}}.dump();
}

std::string job(const JobHandle& job, const std::vector<SubtaskRates>& rates, int64_t now_ms) {
  auto& handle = const_cast<JobHandle&>(job);
  auto shape = job.shape();
  auto per_task = task_rates(shape, rates);
  json tasks = json::array();
  for (const auto& t : shape.tasks) {
    const auto& r = per_task[size_t(t.id)];
    json ops = json::array();
    for (size_t i = 0; i < t.operator_ids.size(); ++i) {
      uint64_t in = 0, out = 0, entries = 0, bytes = 0;
      for (const auto& s : rates) {
        if (s.probe.task_id != t.id || i >= s.probe.operators.size()) continue;
        const auto& o = s.probe.operators[i];
        in += o.records_in;
        out += o.records_out;
        entries += o.state_entries;
        bytes += o.state_bytes;
      }
      ops.push_back({{"id", t.operator_ids[i]},
                     {"name", t.operator_names[i]},
                     {"records_in", in},
                     {"records_out", out},
                     {"state_entries", entries},
                     {"state_bytes", bytes}});
    }
    std::set<std::string> statuses;
    for (const auto& s : rates)
      if (s.probe.task_id == t.id) statuses.insert(s.probe.status);
    std::string status = statuses.size() == 1 ? *statuses.begin() : statuses.empty() ? "created" : "mixed";
    json lag = r.watermark == INT64_MIN ? json(nullptr) : json(now_ms - r.watermark);
    tasks.push_back({{"id", t.id},
                     {"name", t.name},
                     {"operators", ops},
                     {"parallelism", t.parallelism},
                     {"source", t.source},
                     {"status", status},
                     {"busy_ms_per_s", tenth(r.busy_ms_per_s)},
                     {"max_busy_ms_per_s", tenth(r.max_busy_ms_per_s)},
                     {"backpressured_ms_per_s", tenth(r.backpressured_ms_per_s)},
                     {"max_backpressured_ms_per_s", tenth(r.max_backpressured_ms_per_s)},
                     {"backpressure", pressure_word(pressure_level(r.max_backpressured_ms_per_s))},
                     {"idle_ms_per_s", tenth(r.idle_ms_per_s)},
                     {"records_in_per_s", tenth(r.records_in_per_s)},
                     {"records_out_per_s", tenth(r.records_out_per_s)},
                     {"watermark", watermark_json(r.watermark)},
                     {"watermark_lag_ms", lag}});
  }
  json edges = json::array();
  for (const auto& e : shape.edges) {
    double rate = size_t(e.source_task) < per_task.size() ? per_task[size_t(e.source_task)].records_out_per_s : 0;
    edges.push_back({{"source", e.source_task},
                     {"target", e.target_task},
                     {"partitioning", e.partitioning},
                     {"records_per_s", tenth(rate)}});
  }
  return json{{"id", job.id()},
              {"name", job.name()},
              {"state", job_state(handle)},
              {"uptime_ms", std::max<int64_t>(0, now_ms - job.submitted_ms())},
              {"restarts", job.restarts()},
              {"max_parallelism", shape.max_parallelism},
              {"window_s", window_of(rates)},
              {"tasks", tasks},
              {"edges", edges}}
      .dump();
}

std::string actors(const JobHandle& job, const std::vector<SubtaskRates>& rates, int task) {
  auto shape = job.shape();
  json list = json::array();
  for (const auto& r : rates)
    if (task < 0 || r.probe.task_id == task) list.push_back(actor_json(shape, r));
  return json{{"job", job.id()}, {"window_s", window_of(rates)}, {"actors", list}}.dump();
}

std::string top(const JobHandle& job, const std::vector<SubtaskRates>& rates, const std::string& by, int limit) {
  std::function<double(const SubtaskRates&)> key;
  if (by == "busy") key = [](const SubtaskRates& r) { return r.busy_ms_per_s; };
  else if (by == "backpressure") key = [](const SubtaskRates& r) { return r.backpressured_ms_per_s; };
  else if (by == "mailbox") key = [](const SubtaskRates& r) { return double(r.probe.mailbox_depth); };
  else if (by == "state")
    key = [](const SubtaskRates& r) {
      double bytes = 0;
      for (const auto& o : r.probe.operators) bytes += double(o.state_bytes);
      return bytes;
    };
  else throw std::invalid_argument("'" + by + "' is no ranking; use busy, backpressure, mailbox or state");
  auto sorted = rates;
  std::stable_sort(sorted.begin(), sorted.end(), [&](const auto& a, const auto& b) { return key(a) > key(b); });
  if (limit >= 0 && sorted.size() > size_t(limit)) sorted.resize(size_t(limit));
  auto shape = job.shape();
  json list = json::array();
  for (const auto& r : sorted) list.push_back(actor_json(shape, r));
  return json{{"job", job.id()}, {"by", by}, {"window_s", window_of(rates)}, {"actors", list}}.dump();
}

std::string backpressure(const JobHandle& job, const std::vector<SubtaskRates>& rates) {
  auto shape = job.shape();
  auto per_task = task_rates(shape, rates);
  json tasks = json::array();
  bool any = false;
  for (const auto& t : shape.tasks) {
    const auto& r = per_task[size_t(t.id)];
    auto level = pressure_level(r.max_backpressured_ms_per_s);
    any = any || level != PressureLevel::ok;
    tasks.push_back({{"task", t.id},
                     {"name", t.name},
                     {"busy_ms_per_s", tenth(r.max_busy_ms_per_s)},
                     {"backpressured_ms_per_s", tenth(r.max_backpressured_ms_per_s)},
                     {"level", pressure_word(level)}});
  }
  json doc{{"job", job.id()}, {"window_s", window_of(rates)}, {"tasks", tasks}};
  auto b = find_bottleneck(shape, rates);
  if (b) {
    auto name = task_name(shape, b->task);
    doc["bottleneck"] = {{"task", b->task}, {"name", name}, {"subtask", b->subtask}, {"busy_ms_per_s", tenth(b->busy_ms_per_s)}};
    std::ostringstream s;
    s << "task " << b->task << " ('" << name << "') is the bottleneck: subtask " << b->subtask << " is busy "
      << int(std::lround(b->busy_ms_per_s)) << " ms/s while the tasks upstream of it wait for credit";
    doc["sentence"] = s.str();
  } else {
    doc["bottleneck"] = nullptr;
    doc["sentence"] = any ? "tasks wait for credit, but no busy task downstream of them stands out"
                          : "no task is back-pressured";
  }
  return doc.dump();
}

namespace {
const SubtaskRates& subtask_of(const JobHandle& job, const std::vector<SubtaskRates>& rates, int task, int subtask) {
  for (const auto& r : rates)
    if (r.probe.task_id == task && r.probe.subtask == subtask) return r;
  throw std::out_of_range("job '" + job.name() + "' has no subtask " + std::to_string(subtask) + " of task " +
                          std::to_string(task) + " (or it has not reported yet)");
}

json channel_json(const ChannelProbe& c) {
  return json{{"direction", c.input ? "input" : "output"},
              {"edge", c.edge},
              {"peer_task", c.peer_task},
              {"peer_subtask", c.peer_subtask},
              {"credits", c.credits},
              {"backlog", c.backlog},
              {"queued_buffers", c.queued_buffers},
              {"queued_bytes", c.queued_bytes},
              {"sequence", c.sequence},
              {"blocked", c.blocked},
              {"closed", c.closed}};
}
}  // namespace

std::string why(const JobHandle& job, const std::vector<SubtaskRates>& rates, int task, int subtask) {
  const auto& r = subtask_of(job, rates, task, subtask);
  const auto& p = r.probe;
  auto shape = job.shape();
  json blocked = json::array();
  for (const auto& c : p.channels)
    if (c.blocked) blocked.push_back(channel_json(c));
  return json{{"job", job.id()},
              {"task", task},
              {"task_name", task_name(shape, task)},
              {"subtask", subtask},
              {"agent", p.agent},
              {"status", p.status},
              {"waiting_for", p.waiting_for},
              {"waiting_ms", tenth(p.waiting_ms)},
              {"busy_ms_per_s", tenth(r.busy_ms_per_s)},
              {"backpressured_ms_per_s", tenth(r.backpressured_ms_per_s)},
              {"idle_ms_per_s", tenth(r.idle_ms_per_s)},
              {"blocked_channels", blocked}}
      .dump();
}

std::string channels(const JobHandle& job, const std::vector<SubtaskRates>& rates, int task, int subtask) {
  const auto& p = subtask_of(job, rates, task, subtask).probe;
  json list = json::array();
  for (const auto& c : p.channels) list.push_back(channel_json(c));
  return json{{"job", job.id()}, {"task", task}, {"subtask", subtask}, {"channels", list}}.dump();
}

std::string checkpoints(const JobHandle& job) {
  auto infos = job.checkpoints();
  json list = json::array();
  int completed = 0, failed = 0, pending = 0;
  for (const auto& i : infos) {
    const char* status = "pending";
    if (i.status == CheckpointInfo::Status::completed) {
      status = "completed";
      ++completed;
    } else if (i.status == CheckpointInfo::Status::aborted) {
      status = "failed";
      ++failed;
    } else {
      ++pending;
    }
    list.push_back({{"id", i.id},
                    {"kind", i.savepoint ? "savepoint" : i.unaligned ? "unaligned" : "aligned"},
                    {"final", i.final},
                    {"status", status},
                    {"trigger_time_ms", job.submitted_ms() + i.triggered_ms},
                    {"duration_ms", i.status == CheckpointInfo::Status::pending ? json(nullptr)
                                                                                 : json(i.ended_ms - i.triggered_ms)},
                    {"bytes", i.bytes},
                    {"alignment_ms", tenth(i.alignment_ms)},
                    {"inflight_bytes", i.inflight_bytes},
                    {"reason", i.reason}});
  }
  return json{{"job", job.id()},
              {"counts", {{"completed", completed}, {"failed", failed}, {"pending", pending}}},
              {"checkpoints", list}}
      .dump();
}

std::string rescale_result(const JobHandle& job, const RescaleResult& r) {
  return json{{"job", job.id()},        {"command", "rescale"},         {"savepoint", r.savepoint},
              {"from", r.from},         {"to", r.to},                   {"downtime_ms", r.downtime_ms},
              {"savepoint_ms", r.savepoint_ms}, {"fixed", r.fixed}}
      .dump();
}

std::string state_answer(const std::string& answer) {
  auto doc = json::parse(answer);
  bool found = false;
  for (const auto& [name, value] : doc["states"].items()) found = found || !value.is_null();
  doc["found"] = found;
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string command_result(const JobHandle& job, const std::string& command, int64_t checkpoint) {
  return json{{"job", job.id()}, {"command", command}, {"checkpoint", checkpoint}}.dump();
}

std::string error(const std::string& sentence) {
  return json{{"error", sentence}}.dump(-1, ' ', false, json::error_handler_t::replace);  // names may not be UTF-8
}

}  // namespace rest

namespace {

/// A label value with Prometheus' escapes: backslash, double quote and newline.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

}  // namespace

std::string prometheus_text(const std::vector<std::pair<std::shared_ptr<JobHandle>, std::vector<SubtaskRates>>>& jobs) {
  struct Metric {
    const char* name;
    const char* help;
    std::function<double(const SubtaskRates&)> value;
  };
  const std::vector<Metric> subtask_metrics = {
      {"busyTimeMsPerSecond", "Time per second the subtask handled elements.",
       [](const SubtaskRates& r) { return r.busy_ms_per_s; }},
      {"backPressuredTimeMsPerSecond", "Time per second the subtask waited for credit with work at hand.",
       [](const SubtaskRates& r) { return r.backpressured_ms_per_s; }},
      {"idleTimeMsPerSecond", "Time per second the subtask had nothing to do.",
       [](const SubtaskRates& r) { return r.idle_ms_per_s; }},
      {"numRecordsInPerSecond", "Records per second into the subtask.",
       [](const SubtaskRates& r) { return r.records_in_per_s; }},
      {"numRecordsOutPerSecond", "Records per second out of the subtask.",
       [](const SubtaskRates& r) { return r.records_out_per_s; }},
      {"numBytesInPerSecond", "Bytes per second received over the subtask's input channels.",
       [](const SubtaskRates& r) { return r.bytes_in_per_s; }},
      {"currentInputWatermark", "The subtask's watermark (ms since the epoch; absent before the first).",
       [](const SubtaskRates& r) { return r.probe.watermark == INT64_MIN ? std::nan("") : double(r.probe.watermark); }},
      {"checkpointAlignmentTime", "First barrier to snapshot in the subtask's last checkpoint, ms.",
       [](const SubtaskRates& r) { return r.probe.checkpoint_alignment_ms; }},
  };
  std::ostringstream out;
  for (const auto& m : subtask_metrics) {
    out << "# HELP sluice_" << m.name << " " << m.help << "\n# TYPE sluice_" << m.name << " gauge\n";
    for (const auto& [job, rates] : jobs) {
      auto shape = job->shape();
      for (const auto& r : rates) {
        double v = m.value(r);
        if (std::isnan(v)) continue;
        out << "sluice_" << m.name << "{job=\"" << label(job->name()) << "\",job_id=\"" << job->id() << "\",task=\""
            << label(rest::task_name(shape, r.probe.task_id)) << "\",task_id=\"" << r.probe.task_id
            << "\",subtask=\"" << r.probe.subtask << "\",agent=\"" << label(r.probe.agent) << "\"} " << number(v)
            << "\n";
      }
    }
  }
  struct JobMetric {
    const char* name;
    const char* type;
    const char* help;
  };
  const JobMetric job_metrics[] = {
      {"numberOfCompletedCheckpoints", "counter", "Checkpoints of the job that completed."},
      {"numberOfFailedCheckpoints", "counter", "Checkpoints of the job that failed or expired."},
      {"numRestarts", "counter", "Restarts of the job from a checkpoint."},
      {"lastCheckpointDuration", "gauge", "Trigger to completion of the last completed checkpoint, ms."},
      {"lastCheckpointSize", "gauge", "Bytes of the last completed checkpoint."},
  };
  std::vector<std::array<double, 5>> values;
  for (const auto& [job, rates] : jobs) {
    std::array<double, 5> v{0, 0, double(job->restarts()), std::nan(""), std::nan("")};
    for (const auto& i : job->checkpoints()) {
      if (i.status == CheckpointInfo::Status::completed) {
        v[0] += 1;
        v[3] = double(i.ended_ms - i.triggered_ms);
        v[4] = double(i.bytes);
      } else if (i.status == CheckpointInfo::Status::aborted) {
        v[1] += 1;
      }
    }
    values.push_back(v);
  }
  for (size_t m = 0; m < 5; ++m) {
    out << "# HELP sluice_" << job_metrics[m].name << " " << job_metrics[m].help << "\n# TYPE sluice_"
        << job_metrics[m].name << " " << job_metrics[m].type << "\n";
    for (size_t j = 0; j < jobs.size(); ++j) {
      if (std::isnan(values[j][m])) continue;
      out << "sluice_" << job_metrics[m].name << "{job=\"" << label(jobs[j].first->name()) << "\",job_id=\""
          << jobs[j].first->id() << "\"} " << number(values[j][m]) << "\n";
    }
  }
  return out.str();
}

}  // namespace sluice::runtime
