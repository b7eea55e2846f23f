// apps/sluice/console.cpp — `sluice console`: commands to REST requests, JSON documents to tables, readline with history and completion, `watch` until Ctrl-C.
#include "console.hpp"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <ostream>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <readline/history.h>
#include <readline/readline.h>

#include "cli_options.hpp"
#include "cluster_client.hpp"
#include "sluice/config.hpp"

namespace sluice::cli {

using nlohmann::json;

namespace {

const std::vector<ConsoleVerb> verbs = {
    {"agents", "agents", "the cluster's agents: address, slots used and free, last heartbeat, uptime"},
    {"jobs", "jobs", "the jobs: id, name, state, uptime, parallelism, restarts, last checkpoint"},
    {"job", "job ID", "a job's graph: its tasks with their chained operators and rates, and the exchanges"},
    {"actors", "actors ID [TASK]", "every subtask actor of the job (or of one task) with its queues, credits and rates"},
    {"top", "top ID [--by busy|backpressure|mailbox|state] [--window 10s] [--limit N]",
     "the subtasks ranked over a sliding window; refreshes every second in the interactive console"},
    {"why", "why ID TASK SUBTASK", "what one subtask actor waits for right now (credit, barrier alignment, input, "
                                   "its source, the I/O executor, a timer), and for how long"},
    {"backpressure", "backpressure ID", "each task's back-pressure, and the bottleneck when there is one"},
    {"channels", "channels ID TASK SUBTASK",
     "one subtask's channels: credits, backlog, queued frames and bytes, sequence numbers, blocked or not"},
    {"state", "state ID OPERATOR KEY [STATE] | state ID OPERATOR --keys [--limit N]",
     "look KEY up in the keyed state of OPERATOR (its name or id) while the job runs: text for string and number "
     "keys, JSON otherwise ('[1,\"a\"]'); one STATE or all the operator opened. --keys lists keys that have state "
     "(at most N, default 100)"},
    {"trace", "trace ID TASK SUBTASK [--records N]",
     "a sample of the records entering one subtask (a source's: leaving it), decoded: at most 100 a second, N "
     "records (default 10) or 5 s, whichever comes first"},
    {"log", "log ID TASK SUBTASK [N]", "the last N lines (default 50) one subtask logged, info and above"},
    {"checkpoints", "checkpoints ID", "the job's checkpoints: kind, status, duration, size, alignment, in-flight bytes"},
    {"savepoint", "savepoint ID", "take a savepoint of the job and print its id"},
    {"stop", "stop ID [--drain]", "stop the job with a savepoint (--drain: sources end and windows fire first)"},
    {"cancel", "cancel ID", "cancel the job"},
    {"rescale", "rescale ID P",
     "stop the job with a savepoint and start it again from it at parallelism P (sources keep theirs), "
     "exactly once; prints the downtime"},
    {"watch", "watch COMMAND", "run COMMAND every second until Ctrl-C"},
    {"help", "help [COMMAND]", "the commands, or one command's usage"},
    {"quit", "quit", "leave the console (also Ctrl-D)"},
};

std::atomic<bool> interrupted{false};
void on_interrupt(int) { interrupted = true; }

/// A command the console does not take, or bad arguments: exit status 2.
struct CommandError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
/// The service could not be reached or answered with an error: exit status 1.
struct ServiceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Service {
 public:
  Service(const std::string& endpoint, std::string secret) : endpoint_(endpoint), client_(endpoint), secret_(std::move(secret)) {
    client_.set_connection_timeout(std::chrono::seconds(5));
    client_.set_read_timeout(std::chrono::seconds(120));  // a savepoint takes what it takes
    client_.set_keep_alive(true);
  }
  json get(const std::string& path) { return check(client_.Get(path, headers())); }
  json post(const std::string& path) { return check(client_.Post(path, headers())); }

 private:
  httplib::Headers headers() const {
    if (secret_.empty()) return {};
    return {{"Authorization", "Bearer " + secret_}};
  }
  json check(const httplib::Result& r) {
    if (!r)
      throw ServiceError("cannot reach the console service at " + endpoint_ + ": " + httplib::to_string(r.error()));
    json doc;
    try {
      doc = json::parse(r->body);
    } catch (const json::exception&) {
      throw ServiceError("the service at " + endpoint_ + " answered " + std::to_string(r->status) +
                         " with something that is not JSON (is it a Sluice console endpoint?)");
    }
    if (r->status != 200)
      throw ServiceError(doc.contains("error") ? doc["error"].get<std::string>()
                                               : "the service answered " + std::to_string(r->status));
    return doc;
  }
  std::string endpoint_;
  httplib::Client client_;
  std::string secret_;
};

// ---- formatting ----

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

/// 1234567 -> 1.2M, 12345 -> 12.3k.
std::string count(double v) {
  double a = std::fabs(v);
  if (a >= 1e9) return fixed(v / 1e9, 1) + "G";
  if (a >= 1e6) return fixed(v / 1e6, 1) + "M";
  if (a >= 1e4) return fixed(v / 1e3, 1) + "k";
  return fixed(v, a >= 100 || v == std::floor(v) ? 0 : 1);
}

std::string bytes(double v) {
  if (v >= double(1ull << 30)) return fixed(v / double(1ull << 30), 1) + " GiB";
  if (v >= double(1ull << 20)) return fixed(v / double(1ull << 20), 1) + " MiB";
  if (v >= 1024) return fixed(v / 1024, 1) + " KiB";
  return fixed(v, 0) + " B";
}

std::string duration_ms(double ms) {
  if (ms < 1000) return fixed(ms, ms < 10 ? 1 : 0) + "ms";
  double s = ms / 1000;
  if (s < 60) return fixed(s, 1) + "s";
  auto whole = int64_t(s);
  if (whole < 3600) return std::to_string(whole / 60) + "m" + (whole % 60 < 10 ? "0" : "") + std::to_string(whole % 60) + "s";
  return std::to_string(whole / 3600) + "h" + (whole / 60 % 60 < 10 ? "0" : "") + std::to_string(whole / 60 % 60) + "m";
}

std::string num(const json& v) { return v.is_null() ? "-" : count(v.get<double>()); }
std::string text(const json& v) { return v.is_string() ? v.get<std::string>() : v.is_null() ? "-" : v.dump(); }
std::string watermark(const json& v) { return v.is_null() ? "-" : std::to_string(v.get<int64_t>()); }

/// Columns aligned to their widest cell; numbers right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& out) const {
    std::vector<size_t> width(headers_.size());
    for (size_t c = 0; c < headers_.size(); ++c) {
      width[c] = headers_[c].size();
      for (const auto& r : rows_) width[c] = std::max(width[c], r[c].size());
    }
    auto numeric = [](const std::string& s) {
      return !s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s == "-" || s[0] == '-');
    };
    auto line = [&](const std::vector<std::string>& r, bool header) {
      std::string l;
      for (size_t c = 0; c < r.size(); ++c) {
        bool right = !header && numeric(r[c]) && c + 1 < r.size();
        std::string pad(width[c] - r[c].size(), ' ');
        l += right ? pad + r[c] : r[c] + (c + 1 < r.size() ? pad : "");
        if (c + 1 < r.size()) l += "  ";
      }
      out << l << "\n";
    };
    line(headers_, true);
    for (const auto& r : rows_) line(r, false);
    if (rows_.empty()) out << "(none)\n";
  }

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

/// Credits of each input channel, "2,2,1" (the first eight, then how many more).
std::string credits_per_channel(const json& list) {
  if (list.empty()) return "-";
  std::string out;
  for (size_t i = 0; i < list.size() && i < 8; ++i) out += (i ? "," : "") + std::to_string(list[i].get<int>());
  if (list.size() > 8) out += ",+" + std::to_string(list.size() - 8);
  return out;
}

void print_actors(const json& list, std::ostream& out) {
  Table t({"TASK", "SUBTASK", "AGENT", "STATUS", "MAILBOX", "QUEUED IN", "QUEUED OUT", "IN CREDITS", "OUT CREDITS",
           "BUSY", "BP", "IDLE", "REC IN/S", "REC OUT/S", "BYTES IN/S", "WATERMARK", "STATE", "LAST CHK", "NAME"});
  for (const auto& a : list) {
    const auto& c = a["checkpoint"];
    std::string chk = c["id"].get<int64_t>() == 0
                          ? "-"
                          : std::to_string(c["id"].get<int64_t>()) + " " +
                                duration_ms(c["sync_ms"].get<double>()) + "+" + duration_ms(c["async_ms"].get<double>()) +
                                " " + bytes(c["bytes"].get<double>());
    t.add({std::to_string(a["task"].get<int>()), std::to_string(a["subtask"].get<int>()),
           a["agent"].get<std::string>().empty() ? "local" : a["agent"].get<std::string>(), text(a["status"]),
           num(a["mailbox_depth"]), num(a["queued_buffers_in"]), num(a["queued_buffers_out"]),
           credits_per_channel(a["input_credits"]), num(a["credits_available"]), fixed(a["busy_ms_per_s"].get<double>(), 0),
           fixed(a["backpressured_ms_per_s"].get<double>(), 0), fixed(a["idle_ms_per_s"].get<double>(), 0),
           num(a["records_in_per_s"]), num(a["records_out_per_s"]), bytes(a["bytes_in_per_s"].get<double>()),
           watermark(a["watermark"]),
           a["state_entries"].get<uint64_t>() == 0 ? "-"
                                                   : count(a["state_entries"].get<double>()) + " keys " +
                                                         bytes(a["state_bytes"].get<double>()),
           chk, text(a["task_name"])});
  }
  t.print(out);
}

/// Writes `doc`, the answer to `verb`, as a person reads it.
void render(const std::string& verb, const json& doc, std::ostream& out) {
  if (verb == "agents") {
    Table t({"NAME", "ADDRESS", "SLOTS USED", "SLOTS FREE", "LAST HEARTBEAT", "UPTIME"});
    for (const auto& a : doc["agents"])
      t.add({text(a["name"]), text(a["address"]), num(a["slots_used"]), num(a["slots_free"]),
             duration_ms(a["last_heartbeat_ms_ago"].get<double>()) + " ago", duration_ms(a["uptime_ms"].get<double>())});
    t.print(out);
  } else if (verb == "jobs") {
    Table t({"ID", "STATE", "UPTIME", "PARALLELISM", "RESTARTS", "LAST CHECKPOINT", "NAME"});
    for (const auto& j : doc["jobs"])
      t.add({text(j["id"]), text(j["state"]), duration_ms(j["uptime_ms"].get<double>()), num(j["parallelism"]),
             num(j["restarts"]), j["last_checkpoint"].get<int64_t>() == 0 ? "-" : num(j["last_checkpoint"]),
             text(j["name"])});
    t.print(out);
  } else if (verb == "job") {
    out << "job " << text(doc["id"]) << " '" << text(doc["name"]) << "'  " << text(doc["state"]) << ", up "
        << duration_ms(doc["uptime_ms"].get<double>()) << ", " << doc["restarts"].get<int>() << " restarts"
        << ", rates over " << fixed(doc["window_s"].get<double>(), 1) << " s\n\n";
    Table t({"TASK", "P", "STATUS", "BUSY", "BP", "IDLE", "REC IN/S", "REC OUT/S", "WATERMARK", "LAG", "OPERATORS"});
    for (const auto& task : doc["tasks"]) {
      std::string ops;
      for (const auto& o : task["operators"]) ops += (ops.empty() ? "" : " -> ") + text(o["name"]);
      t.add({std::to_string(task["id"].get<int>()), num(task["parallelism"]), text(task["status"]),
             fixed(task["busy_ms_per_s"].get<double>(), 0),
             fixed(task["backpressured_ms_per_s"].get<double>(), 0) + " " + text(task["backpressure"]),
             fixed(task["idle_ms_per_s"].get<double>(), 0), num(task["records_in_per_s"]),
             num(task["records_out_per_s"]), watermark(task["watermark"]),
             task["watermark_lag_ms"].is_null() ? "-" : duration_ms(task["watermark_lag_ms"].get<double>()), ops});
    }
    t.print(out);
    out << "\n";
    Table e({"FROM", "TO", "PARTITIONING", "RECORDS/S"});
    for (const auto& edge : doc["edges"])
      e.add({std::to_string(edge["source"].get<int>()), std::to_string(edge["target"].get<int>()),
             text(edge["partitioning"]), num(edge["records_per_s"])});
    e.print(out);
  } else if (verb == "actors") {
    print_actors(doc["actors"], out);
  } else if (verb == "top") {
    out << "subtasks by " << text(doc["by"]) << " over " << fixed(doc["window_s"].get<double>(), 1) << " s\n";
    print_actors(doc["actors"], out);
  } else if (verb == "backpressure") {
    Table t({"TASK", "LEVEL", "BP MS/S", "BUSY MS/S", "NAME"});
    for (const auto& task : doc["tasks"])
      t.add({std::to_string(task["task"].get<int>()), text(task["level"]),
             fixed(task["backpressured_ms_per_s"].get<double>(), 0), fixed(task["busy_ms_per_s"].get<double>(), 0),
             text(task["name"])});
    t.print(out);
    out << "\n" << text(doc["sentence"]) << "\n";
  } else if (verb == "why") {
    out << "task " << doc["task"].get<int>() << " ('" << text(doc["task_name"]) << "') subtask "
        << doc["subtask"].get<int>() << (doc["agent"].get<std::string>().empty() ? "" : " on " + text(doc["agent"]))
        << " (" << text(doc["status"]) << ") waits for " << text(doc["waiting_for"]) << ", for "
        << duration_ms(doc["waiting_ms"].get<double>()) << "\n"
        << "busy " << fixed(doc["busy_ms_per_s"].get<double>(), 0) << " ms/s, back-pressured "
        << fixed(doc["backpressured_ms_per_s"].get<double>(), 0) << " ms/s, idle "
        << fixed(doc["idle_ms_per_s"].get<double>(), 0) << " ms/s\n";
  } else if (verb == "channels") {
    Table t({"DIRECTION", "PEER", "EDGE", "CREDITS", "BACKLOG", "QUEUED", "QUEUED BYTES", "SEQUENCE", "BLOCKED",
             "CLOSED"});
    for (const auto& c : doc["channels"])
      t.add({text(c["direction"]),
             "task " + std::to_string(c["peer_task"].get<int>()) + " subtask " +
                 std::to_string(c["peer_subtask"].get<int>()),
             num(c["edge"]), num(c["credits"]), num(c["backlog"]), num(c["queued_buffers"]),
             bytes(c["queued_bytes"].get<double>()), std::to_string(c["sequence"].get<uint64_t>()),
             c["blocked"].get<bool>() ? "yes" : "no", c["closed"].get<bool>() ? "yes" : "no"});
    t.print(out);
  } else if (verb == "state") {
    out << "operator '" << text(doc["operator"]) << "', key " << doc["key"].dump() << " (key group "
        << doc["key_group"].get<int>() << ", subtask " << doc["subtask"].get<int>() << ")";
    if (!doc["found"].get<bool>()) {
      out << ": no state holds a value for this key\n";
      return;
    }
    out << ":\n";
    for (const auto& [name, value] : doc["states"].items())
      out << "  " << name << " = " << (value.is_null() ? "(none)" : value.dump()) << "\n";
  } else if (verb == "keys") {
    const auto& keys = doc["keys"];
    out << keys.size() << " key" << (keys.size() == 1 ? "" : "s") << " with state in operator '"
        << text(doc["operator"]) << "'" << (doc["truncated"].get<bool>() ? " (more not shown)" : "") << ":\n";
    for (const auto& k : keys) out << "  " << (k.is_string() ? k.get<std::string>() : k.dump()) << "\n";
  } else if (verb == "trace") {
    const auto& records = doc["records"];
    out << records.size() << " record" << (records.size() == 1 ? "" : "s") << " of task " << doc["task"].get<int>()
        << " subtask " << doc["subtask"].get<int>() << " in " << fixed(doc["seconds"].get<double>(), 1) << " s\n";
    for (const auto& r : records) {
      out << "  " << (r["direction"] == "input" ? "in  " : "out ") << "edge " << r["edge"].get<int>() << " "
          << text(r["channel"]) << "  ts " << (r["timestamp"].is_null() ? "-" : r["timestamp"].dump()) << "  "
          << r["record"].dump();
      if (r.contains("error")) out << "  (" << text(r["error"]) << ")";
      out << "\n";
    }
  } else if (verb == "log") {
    const auto& lines = doc["lines"];
    if (lines.empty()) out << "(task " << doc["task"].get<int>() << " subtask " << doc["subtask"].get<int>()
                           << " has logged nothing at info or above)\n";
    for (const auto& l : lines) out << text(l) << "\n";
  } else if (verb == "checkpoints") {
    const auto& n = doc["counts"];
    out << n["completed"].get<int>() << " completed, " << n["failed"].get<int>() << " failed, "
        << n["pending"].get<int>() << " in progress\n";
    Table t({"ID", "KIND", "STATUS", "DURATION", "SIZE", "ALIGNMENT", "IN-FLIGHT", "REASON"});
    for (const auto& c : doc["checkpoints"])
      t.add({num(c["id"]), text(c["kind"]) + (c["final"].get<bool>() ? " (final)" : ""), text(c["status"]),
             c["duration_ms"].is_null() ? "-" : duration_ms(c["duration_ms"].get<double>()),
             bytes(c["bytes"].get<double>()), duration_ms(c["alignment_ms"].get<double>()),
             bytes(c["inflight_bytes"].get<double>()), text(c["reason"])});
    t.print(out);
  } else if (verb == "savepoint" || verb == "stop") {
    out << (verb == "stop" ? "stopped job " : "savepoint of job ") << text(doc["job"]) << ": checkpoint "
        << doc["checkpoint"].get<int64_t>() << " (chk-" << doc["checkpoint"].get<int64_t>()
        << " in the job's checkpoint directory)\n";
  } else if (verb == "cancel") {
    out << "canceled job " << text(doc["job"]) << "\n";
  } else if (verb == "rescale") {
    out << "rescaled job " << text(doc["job"]) << " from parallelism " << doc["from"].get<int>() << " to "
        << doc["to"].get<int>() << " through savepoint " << doc["savepoint"].get<int64_t>() << ": records stood still "
        << duration_ms(doc["downtime_ms"].get<double>()) << " (the savepoint took "
        << duration_ms(doc["savepoint_ms"].get<double>()) << ")\n";
    if (!doc["fixed"].empty()) {
      out << "kept their parallelism:";
      for (const auto& f : doc["fixed"]) out << " '" << f.get<std::string>() << "'";
      out << "\n";
    }
  }
}

/// The value of `--name VALUE` among `words` (removed from them), or nothing.
std::optional<std::string> take_option(std::vector<std::string>& words, const std::string& name) {
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i] == name) {
      if (i + 1 >= words.size()) throw CommandError(name + " needs a value");
      std::string v = words[i + 1];
      words.erase(words.begin() + long(i), words.begin() + long(i) + 2);
      return v;
    }
    if (words[i].rfind(name + "=", 0) == 0) {
      std::string v = words[i].substr(name.size() + 1);
      words.erase(words.begin() + long(i));
      return v;
    }
  }
  return std::nullopt;
}

bool take_flag(std::vector<std::string>& words, const std::string& name) {
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i] == name) {
      words.erase(words.begin() + long(i));
      return true;
    }
  }
  return false;
}

/// `word` as a whole number of at most `digits` digits; `what` names it in the error.
const std::string& number_word(const std::string& word, const char* what, size_t digits = 9) {
  if (word.empty() || word.size() > digits || word.find_first_not_of("0123456789") != std::string::npos)
    throw CommandError(std::string(what) + " must be a number, not '" + word + "'");
  return word;
}

const ConsoleVerb* find_verb(const std::string& name) {
  for (const auto& v : verbs)
    if (name == v.name) return &v;
  return nullptr;
}

/// `text` with every byte but letters, digits and -._~ percent-encoded, for a URL's path or query.
std::string url_escape(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// A REST request: the method, the path and the verb whose rendering applies.
struct Request {
  std::string verb;
  std::string path;
  bool post = false;
  bool refreshes = false;  ///< top: refreshes in the interactive console
};

Request request_of(std::vector<std::string> words) {
  const std::string verb = words.front();
  const auto* v = find_verb(verb);
  if (!v) throw CommandError("there is no command '" + verb + "'; 'help' lists them");
  words.erase(words.begin());
  Request r{verb, "", false, false};
  auto usage = [&] { return CommandError("usage: " + std::string(v->usage)); };
  auto job = [&]() -> std::string {
    if (words.empty()) throw usage();
    return "/v1/jobs/" + url_escape(words.front());
  };
  if (verb == "agents" || verb == "jobs") {
    if (!words.empty()) throw usage();
    r.path = "/v1/" + verb;
  } else if (verb == "job" || verb == "backpressure" || verb == "checkpoints") {
    if (words.size() != 1) throw usage();
    r.path = job() + (verb == "job" ? "" : "/" + verb);
  } else if (verb == "actors") {
    if (words.empty() || words.size() > 2) throw usage();
    r.path = job() + "/actors";
    if (words.size() == 2) r.path += "?task=" + number_word(words[1], "TASK");
  } else if (verb == "top") {
    auto by = take_option(words, "--by");
    auto window = take_option(words, "--window");
    auto limit = take_option(words, "--limit");
    if (words.size() != 1) throw usage();
    r.path = job() + "/top?by=" + url_escape(by.value_or("busy"));
    if (window) {
      try {
        parse_duration(*window);
      } catch (const std::invalid_argument& e) {
        throw CommandError(std::string("--window: ") + e.what());
      }
      r.path += "&window=" + url_escape(*window);
    }
    if (limit) r.path += "&limit=" + url_escape(*limit);
    r.refreshes = true;
  } else if (verb == "why" || verb == "channels") {
    if (words.size() != 3) throw usage();
    r.path = job() + "/tasks/" + number_word(words[1], "TASK") + "/subtasks/" + number_word(words[2], "SUBTASK") +
             "/" + verb;
  } else if (verb == "rescale") {
    if (words.size() != 2) throw usage();
    r.path = job() + "/rescale?parallelism=" + number_word(words[1], "P", 5);
    r.post = true;
  } else if (verb == "state") {
    bool keys = take_flag(words, "--keys");
    auto limit = take_option(words, "--limit");
    if (keys) {
      if (words.size() != 2) throw usage();
      r.verb = "keys";
      r.path = job() + "/state/keys?operator=" + url_escape(words[1]);
      if (limit) r.path += "&limit=" + number_word(*limit, "N", 5);
    } else {
      if (limit || (words.size() != 3 && words.size() != 4)) throw usage();
      r.path = job() + "/state?operator=" + url_escape(words[1]) + "&key=" + url_escape(words[2]);
      if (words.size() == 4) r.path += "&state=" + url_escape(words[3]);
    }
  } else if (verb == "trace" || verb == "log") {
    auto records = verb == "trace" ? take_option(words, "--records") : std::nullopt;
    if (words.size() != 3 && !(verb == "log" && words.size() == 4)) throw usage();
    r.path = job() + "/tasks/" + number_word(words[1], "TASK") + "/subtasks/" + number_word(words[2], "SUBTASK") +
             "/" + verb;
    if (records) r.path += "?records=" + number_word(*records, "N", 3);
    if (words.size() == 4) r.path += "?lines=" + number_word(words[3], "N", 3);
  } else if (verb == "savepoint" || verb == "cancel" || verb == "stop") {
    bool drain = verb == "stop" && take_flag(words, "--drain");
    if (words.size() != 1) throw usage();
    r.path = job() + "/" + verb + (drain ? "?drain=true" : "");
    r.post = true;
  } else {
    throw usage();
  }
  return r;
}

/// Runs one request and prints its answer (JSON or a table).
void perform(Service& service, const Request& r, bool as_json, std::ostream& out) {
  auto doc = r.post ? service.post(r.path) : service.get(r.path);
  if (as_json) out << doc.dump(2) << "\n";
  else render(r.verb, doc, out);
}

void help(const std::vector<std::string>& words, std::ostream& out) {
  if (words.size() > 1) {
    const auto* v = find_verb(words[1]);
    if (!v) throw CommandError("there is no command '" + words[1] + "'; 'help' lists them");
    out << v->usage << "\n  " << v->help << "\n";
    return;
  }
  out << "Commands (ID: a job id from 'jobs', or its first digits when unique):\n";
  for (const auto& v : verbs) out << "  " << v.usage << "\n      " << v.help << "\n";
}

/// Runs `words` until Ctrl-C, clearing the screen before each round.
void watch(Service& service, const Request& r, bool as_json, std::ostream& out) {
  interrupted = false;
  while (!interrupted) {
    std::ostringstream frame;
    try {
      perform(service, r, as_json, frame);
    } catch (const ServiceError& e) {
      frame << e.what() << "\n";
    }
    out << "\033[H\033[2J" << frame.str() << "\n(every 1s; Ctrl-C stops)" << std::flush;
    for (int i = 0; i < 10 && !interrupted; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  out << "\n";
}

/// One command line; returns its exit status. `interactive`: `watch` and `top` refresh.
int execute(Service& service, const std::string& line, bool as_json, bool interactive, std::ostream& out,
            std::ostream& err) {
  try {
    auto words = split_command(line);
    if (words.empty()) return 0;
    if (words.front() == "help") {
      help(words, out);
      return 0;
    }
    if (words.front() == "watch") {
      if (words.size() < 2 || words[1] == "watch") throw CommandError("usage: watch COMMAND");
      auto r = request_of(std::vector<std::string>(words.begin() + 1, words.end()));
      if (!interactive) throw CommandError("watch needs the interactive console (it runs until Ctrl-C)");
      watch(service, r, as_json, out);
      return 0;
    }
    auto r = request_of(words);
    if (r.refreshes && interactive) watch(service, r, as_json, out);
    else perform(service, r, as_json, out);
    return 0;
  } catch (const CommandError& e) {
    err << e.what() << "\n";
    return 2;
  } catch (const ServiceError& e) {
    err << e.what() << "\n";
    return 1;
  } catch (const json::exception& e) {
    err << "the service's answer did not have the expected shape: " << e.what() << "\n";
    return 1;
  }
}

bool is_quit(const std::string& line) {
  std::istringstream in(line);
  std::string first, rest;
  in >> first >> rest;
  return rest.empty() && (first == "quit" || first == "exit");
}

// ---- readline ----

Service* completing = nullptr;  // the service completion asks for job ids

std::vector<std::string> candidates;
char* next_candidate(const char* prefix, int state) {
  static size_t i;
  if (state == 0) i = 0;
  while (i < candidates.size()) {
    const auto& c = candidates[i++];
    if (c.rfind(prefix, 0) == 0) return strdup(c.c_str());
  }
  return nullptr;
}

char** complete(const char* prefix, int start, int) {
  rl_attempted_completion_over = 1;  // no file names
  candidates.clear();
  std::string before(rl_line_buffer, size_t(start));
  std::vector<std::string> words;
  try {
    words = split_command(before);
  } catch (const std::invalid_argument&) {
    return nullptr;
  }
  if (!words.empty() && words.front() == "watch") words.erase(words.begin());
  if (words.empty() || (words.size() == 1 && words.front() == "help")) {
    for (const auto& v : verbs) candidates.push_back(v.name);
  } else if (words.size() == 1) {
    try {
      auto doc = completing->get("/v1/jobs");  // kept: the loop reads inside it
      for (const auto& j : doc["jobs"]) candidates.push_back(j["id"].get<std::string>());
    } catch (const std::exception&) {
    }
  } else if (words.front() == "top") {
    if (words.back() == "--by") candidates = {"busy", "backpressure", "mailbox", "state"};
    else candidates = {"--by", "--window", "--limit"};
  } else if (words.front() == "stop") {
    candidates = {"--drain"};
  } else if (words.front() == "trace" && words.size() >= 4) {
    candidates = {"--records"};
  } else if (words.front() == "state" && words.size() == 2) {
    try {  // the job's operators by name
      auto doc = completing->get("/v1/jobs/" + words[1]);
      for (const auto& t : doc["tasks"])
        for (const auto& o : t["operators"]) candidates.push_back(o["name"].get<std::string>());
    } catch (const std::exception&) {
    }
  } else if (words.front() == "state" && words.size() == 3) {
    candidates = {"--keys", "--limit"};
  } else if ((words.front() == "actors" || words.front() == "why" || words.front() == "channels" ||
              words.front() == "trace" || words.front() == "log") &&
             (words.size() == 2 || (words.size() == 3 && words.front() != "actors"))) {
    try {  // task numbers, then a task's subtask numbers
      auto doc = completing->get("/v1/jobs/" + words[1]);
      for (const auto& t : doc["tasks"]) {
        if (words.size() == 2) candidates.push_back(std::to_string(t["id"].get<int>()));
        else if (std::to_string(t["id"].get<int>()) == words[2])
          for (int s = 0; s < t["parallelism"].get<int>(); ++s) candidates.push_back(std::to_string(s));
      }
    } catch (const std::exception&) {
    }
  }
  return rl_completion_matches(prefix, next_candidate);
}

std::string history_file() {
  const char* home = std::getenv("HOME");
  return home ? std::string(home) + "/.sluice_console_history" : std::string();
}

int interactive(Service& service, const ConsoleCommand& c, std::ostream& out, std::ostream& err) {
  completing = &service;
  rl_readline_name = "sluice";
  rl_attempted_completion_function = complete;
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  auto file = history_file();
  if (!file.empty()) read_history(file.c_str());
  out << "sluice console on " << c.master << " ('help' lists the commands, Ctrl-D leaves)" << std::endl;
  for (;;) {
    interrupted = false;
    char* raw = readline("sluice> ");
    if (!raw) break;
    std::string line(raw);
    std::free(raw);
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    add_history(line.c_str());
    if (!file.empty()) append_history(1, file.c_str());
    if (is_quit(line)) break;
    execute(service, line, c.json, true, out, err);
    out << std::flush;
    err << std::flush;
  }
  if (!file.empty()) history_truncate_file(file.c_str(), 1000);
  out << "\n";
  return 0;
}

}  // namespace

const std::vector<ConsoleVerb>& console_verbs() { return verbs; }

std::vector<std::string> split_command(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (char ch : line) {
    if (quote) {
      if (ch == quote) quote = 0;
      else word += ch;
    } else if (ch == '"' || ch == '\'') {
      quote = ch;
      in_word = true;
    } else if (std::isspace(static_cast<unsigned char>(ch))) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += ch;
      in_word = true;
    }
  }
  if (quote) throw std::invalid_argument(std::string("a ") + quote + " quote is not closed");
  if (in_word) words.push_back(std::move(word));
  return words;
}

CLI::App* add_console_command(CLI::App& app, ConsoleCommand& c) {
  auto* console = app.add_subcommand(
      "console", "inspect a running cluster or embedded run: agents, jobs, subtask actors, back-pressure, checkpoints");
  console
      ->add_option("--master", c.master,
                   "the console endpoint HOST:PORT that the master or an embedded run (--console-port) printed")
      ->required();
  console->add_option("--secret-file", c.secret_file, "file holding the secret the endpoint asks for");
  console->add_option("-c,--command", c.command, "run this one command and exit (e.g. -c jobs)");
  console->add_flag("--json", c.json, "print the service's JSON documents instead of tables");
  std::string verbs_help = "\nCommands:\n";
  for (const auto& v : verbs) verbs_help += "  " + std::string(v.usage) + "\n";
  console->footer(verbs_help);
  return console;
}

int run_console(const ConsoleCommand& c, std::ostream& out, std::ostream& err) {
  std::string secret;
  try {
    secret = read_secret(c.secret_file);
    check_host_port(c.master, "--master");
  } catch (const std::invalid_argument& e) {
    err << "sluice console: " << e.what() << "\n";
    return 2;
  }
  Service service(c.master, secret);
  if (!c.command.empty()) {
    std::ostringstream problems;
    int status = execute(service, c.command, c.json, false, out, problems);
    if (status != 0) err << "sluice console: " << problems.str();
    return status;
  }
  if (!isatty(STDIN_FILENO)) {
    // Commands from a pipe, one a line; the worst status is the exit status.
    int worst = 0;
    std::string line;
    while (std::getline(std::cin, line)) {
      if (is_quit(line)) break;
      worst = std::max(worst, execute(service, line, c.json, false, out, err));
    }
    return worst;
  }
  return interactive(service, c, out, err);
}

}  // namespace sluice::cli
