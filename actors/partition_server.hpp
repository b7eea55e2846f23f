// actors/partition_server.hpp — an agent's BATCH partition files served to consumers on other agents: frames read as their credits arrive, one reader per consumer channel, a run's directory removed when it ends.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>

#include "actors/data_link.hpp"
#include "actors/io_executor.hpp"

namespace sluice::runtime {

/// The producer's side of a blocking exchange across agents. A consumer on another agent
/// grants credits for channel `file_channel` of the partition file its producer (`edge`,
/// `producer`) wrote here during BATCH run `batch`; the server answers with as many frames,
/// read from the file in order, each carrying the consumer's route and the frames the file
/// still holds for it (its backlog), or with one sentence when the file cannot be read.
/// Flow control stays the consumer's: nothing is read ahead of its credits. Thread-safe:
/// data links' reader threads call it.
class PartitionServer {
 public:
  /// `root`: where each run's directory is made (`<root>/batch-<n>`); `agent` names this
  /// agent in the sentences. With `io_threads`, files are read on threads of its own (each
  /// channel's credits in order), not on the caller's: a data link's reader goes on at once.
  /// Without, on_credit reads before it returns.
  PartitionServer(std::filesystem::path root, std::string agent, int io_threads = 0);
  /// Removes every run's directory.
  ~PartitionServer();
  PartitionServer(const PartitionServer&) = delete;
  PartitionServer& operator=(const PartitionServer&) = delete;

  /// The directory of run `batch` on this agent, created: its subtasks write their partition
  /// files and spill their sorts there.
  std::filesystem::path directory(uint32_t batch);

  using Reply = std::function<void(DataEnvelope&&)>;
  /// A file credit from a consumer on agent `peer`: the frames it pays for, or a file error,
  /// go to `reply` (on an I/O thread, when the server has them).
  void on_credit(const std::string& peer, const DataEnvelope& credit, const Reply& reply);
  /// Run `batch` ended: its readers close and its directory goes.
  void release(uint32_t batch);
  /// The link to `peer` is gone: its consumers' readers close (a rerun asks again, on a newer route).
  void drop_peer(const std::string& peer);
  /// Every run's readers and directory go (the agent starts or stops; a master that lost the
  /// agent for a while may still want the files, so losing it keeps them).
  void release_all();
  /// Channels served (or being served) of the runs not released yet.
  size_t readers() const;

 private:
  struct Reader;
  void serve(Reader& r, const DataEnvelope& credit, const Reply& reply);
  static constexpr const char* run_prefix = "batch-";
  /// `<root>/batch-<n>`.
  std::filesystem::path run_dir(uint32_t batch) const;
  using Key = std::tuple<uint32_t, uint32_t, uint32_t, uint32_t>;  // batch, edge, producer, consumer

  std::filesystem::path root_;
  std::string agent_;
  mutable std::mutex mu_;
  std::map<Key, std::shared_ptr<Reader>> readers_;
  std::set<uint32_t> released_;     // runs over: credits for them are dropped
  std::unique_ptr<IoExecutor> io_;  // last: its threads finish before the rest goes
};

}  // namespace sluice::runtime
