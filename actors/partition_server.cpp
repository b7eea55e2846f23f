// actors/partition_server.cpp — partition files read for consumers on other agents, as their credits come.
#include "actors/partition_server.hpp"

#include <atomic>

#include "actors/blocking_exchange.hpp"
#include "actors/io_executor.hpp"

namespace sluice::runtime {

struct PartitionServer::Reader {
  std::string peer;
  uint32_t route = 0;
  std::mutex mu;  // one credit at a time: frames leave in file order
  std::unique_ptr<BlockingInput> in;
  bool over = false;                 // every frame went, or the error did: later credits (floating ones) are dropped
  std::atomic<bool> dropped{false};  // its link went (drop_peer): the next credit closes it
  std::shared_ptr<IoExecutor::Strand> strand;  // with I/O threads: its credits' reads, in order
};

PartitionServer::PartitionServer(std::filesystem::path root, std::string agent, int io_threads)
    : root_(std::move(root)),
      agent_(std::move(agent)),
      io_(io_threads > 0 ? std::make_unique<IoExecutor>(io_threads) : nullptr) {}

PartitionServer::~PartitionServer() {
  io_.reset();  // the reads already asked for first
  release_all();
}

std::filesystem::path PartitionServer::run_dir(uint32_t batch) const {
  return root_ / (run_prefix + std::to_string(batch));
}

std::filesystem::path PartitionServer::directory(uint32_t batch) {
  auto dir = run_dir(batch);
  std::filesystem::create_directories(dir);
  return dir;
}

void PartitionServer::on_credit(const std::string& peer, const DataEnvelope& credit, const Reply& reply) {
  Key key{credit.batch, credit.channel.edge, credit.channel.producer, credit.channel.consumer};
  std::shared_ptr<Reader> r;
  {
    std::lock_guard lock(mu_);
    if (released_.count(credit.batch)) return;  // the run is over: a late credit
    auto& slot = readers_[key];
    // Routes only grow: a credit of a newer route is a rerun of the consumer, which reads the
    // file from the start; one of an older route (a failed attempt's, late) is dropped.
    if (slot && credit.route < slot->route) return;
    if (!slot || slot->route != credit.route || slot->peer != peer) {
      slot = std::make_shared<Reader>();
      slot->peer = peer;
      slot->route = credit.route;
      if (io_) slot->strand = io_->make_strand();
    }
    r = slot;
  }
  if (!io_) return serve(*r, credit, reply);
  io_->post(
      r->strand, [this, r, credit, reply] { serve(*r, credit, reply); }, [](const std::string&) {});
}

void PartitionServer::serve(Reader& r, const DataEnvelope& credit, const Reply& reply) {
  // Read under the reader's lock, answer without it: `reply` may wait on a link, and a link's
  // own threads come here (drop_peer) while it fails.
  std::vector<DataEnvelope> out;
  {
    std::lock_guard lock(r.mu);
    if (r.dropped.load() && !r.over) {
      r.in.reset();
      r.over = true;
    }
    if (r.over) return;
    try {
      if (!r.in) {
        auto path = partition_file_path(run_dir(credit.batch), credit.channel.edge, int(credit.channel.producer));
        r.in = std::make_unique<BlockingInput>(path, int(credit.file_channel));
      }
      auto frames = r.in->take(credit.credits);
      for (size_t i = 0; i < frames.size(); ++i) {
        DataEnvelope& e = out.emplace_back();
        e.route = credit.route;
        e.channel = credit.channel;
        e.backlog = r.in->remaining() + uint32_t(frames.size() - 1 - i);  // the frames behind this one
        e.frame = std::move(frames[i]);
      }
      if (r.in->exhausted()) {  // the file closes; the reader stays, so that a late credit reads nothing again
        r.in.reset();
        r.over = true;
      }
    } catch (const std::exception& err) {
      r.in.reset();
      r.over = true;
      DataEnvelope& e = out.emplace_back();
      e.kind = DataEnvelope::Kind::file_error;
      e.route = credit.route;
      e.channel = credit.channel;
      e.error = "agent " + agent_ + " cannot serve " + credit.channel.describe() + ": " + err.what();
    }
  }
  for (auto& e : out) reply(std::move(e));
}

void PartitionServer::release(uint32_t batch) {
  {
    std::lock_guard lock(mu_);
    released_.insert(batch);
    for (auto it = readers_.begin(); it != readers_.end();)
      it = std::get<0>(it->first) == batch ? readers_.erase(it) : std::next(it);
  }
  std::error_code ec;
  std::filesystem::remove_all(run_dir(batch), ec);
}

void PartitionServer::drop_peer(const std::string& peer) {
  // Closed at its next credit, but kept: a late credit of the same route reads nothing again;
  // a rerun's newer route starts afresh. No reader's lock here: a read may hold it.
  std::lock_guard lock(mu_);
  for (auto& [key, r] : readers_)
    if (r->peer == peer) r->dropped = true;
}

void PartitionServer::release_all() {
  {
    std::lock_guard lock(mu_);
    readers_.clear();
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root_, ec))
    if (entry.path().filename().string().rfind(run_prefix, 0) == 0) std::filesystem::remove_all(entry.path(), ec);
}

size_t PartitionServer::readers() const {
  std::lock_guard lock(mu_);
  return readers_.size();
}

}  // namespace sluice::runtime
