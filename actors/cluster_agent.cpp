// actors/cluster_agent.cpp — the agent's control connection to the master: back-off, handshake, registration, heartbeats.
#include "actors/cluster_agent.hpp"

#include <algorithm>

#include "actors/agent_tasks.hpp"
#include "actors/cluster.hpp"
#include "actors/connection.hpp"
#include "sluice/error.hpp"

namespace sluice::runtime {

namespace {
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr milliseconds poll{100};

/// Refusals that trying again cannot fix.
struct Refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace

AgentLink::AgentLink(AgentOptions options, std::function<void(const std::string&)> say,
                     std::function<void(const std::string&)> log)
    : options_(std::move(options)), say_(std::move(say)), log_(std::move(log)) {}

void AgentLink::stop() {
  stopping_ = true;
  std::lock_guard lock(mu_);
  wake_.notify_all();
}

void AgentLink::pause(milliseconds d) {
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, d, [this] { return stopping_.load(); });
}

int AgentLink::run() {
  auto retry = options_.first_retry;
  while (!stopping_) {
    try {
      session();
      retry = options_.first_retry;  // it was registered: start the back-off again
    } catch (const Refused& e) {
      log_(e.what());
      return 2;
    } catch (const std::exception& e) {
      if (stopping_) break;
      log_("agent " + options_.name + ": master " + options_.master + " unreachable (" + e.what() + "); retrying in " +
           std::to_string(retry.count()) + " ms");
      pause(retry);
      retry = std::min(retry * 2, options_.last_retry);
    }
  }
  return 0;
}

void AgentLink::session() {
  std::shared_ptr<Connection> c = dial(options_.master, options_.connect_timeout);
  try {
    authenticate_to_master(*c, options_.secret, PeerRole::agent, options_.name, options_.connect_timeout);
  } catch (const AuthenticationError& e) {
    throw Refused("agent " + options_.name + " was refused by " + options_.master + ": " + e.what());
  }
  c->send(encode(ClusterMessage::registration(options_.slots, options_.data_address)), options_.connect_timeout);
  auto answer = c->receive(options_.connect_timeout);
  if (!answer) throw NetworkError("no answer to the registration");
  auto m = decode_cluster(*answer);
  if (m.kind == ClusterMessage::Kind::refused)
    throw Refused("agent " + options_.name + " was refused by " + options_.master + ": " + m.reason);
  if (m.kind != ClusterMessage::Kind::registered)
    throw NetworkError("the master answered the registration out of order");
  say_("sluice agent " + options_.name + " registered with " + options_.master + " (" + std::to_string(options_.slots) +
       " slot" + (options_.slots == 1 ? "" : "s") + ")");
  // However the session ends, the subtasks of this master go (it fails their jobs over).
  struct Attached {
    AgentTasks* tasks;
    ~Attached() {
      if (tasks) tasks->set_master(nullptr);
    }
  } attached{tasks_};
  if (tasks_) tasks_->set_master(c);

  const milliseconds interval(m.heartbeat_interval_ms), timeout(m.heartbeat_timeout_ms);
  auto last_heard = Clock::now();
  auto next_beat = Clock::now();
  while (!stopping_) {
    auto now = Clock::now();
    if (now >= next_beat) {
      ClusterMessage beat;
      c->send(encode(beat), timeout);
      next_beat = now + interval;
    }
    auto wait = std::clamp(std::chrono::duration_cast<milliseconds>(next_beat - now), milliseconds(1), poll);
    auto b = c->receive(wait);
    if (b) {
      auto in = decode_cluster(*b);
      if (in.kind == ClusterMessage::Kind::refused) {
        log_("agent " + options_.name + ": the master dropped it: " + in.reason + "; registering again");
        return;
      }
      if (tasks_ && (in.kind == ClusterMessage::Kind::deploy || in.kind == ClusterMessage::Kind::command ||
                     in.kind == ClusterMessage::Kind::release_batch))
        tasks_->on_message(in);
      last_heard = Clock::now();
    } else if (c->closed()) {
      log_("agent " + options_.name + ": lost the master " + options_.master +
           " (it closed the connection); registering again");
      return;
    }
    if (Clock::now() - last_heard > timeout) {
      log_("agent " + options_.name + ": lost the master " + options_.master + " (no heartbeat for " +
           std::to_string(timeout.count()) + " ms); registering again");
      return;
    }
  }
}

}  // namespace sluice::runtime
