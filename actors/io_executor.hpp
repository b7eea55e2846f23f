// actors/io_executor.hpp — threads for blocking work (files, later snapshots), so no actor worker ever blocks.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::runtime {

/// A pool of threads running blocking jobs. Jobs posted to the same strand run one after
/// another in posting order; different strands run in parallel.
class IoExecutor {
 public:
  /// Called with the job's error message, empty on success, on the I/O thread.
  using Done = std::function<void(const std::string&)>;
  class Strand;

  explicit IoExecutor(int threads);
  /// Finishes the jobs already posted, then joins the threads.
  ~IoExecutor();
  IoExecutor(const IoExecutor&) = delete;
  IoExecutor& operator=(const IoExecutor&) = delete;

  std::shared_ptr<Strand> make_strand();
  void post(const std::shared_ptr<Strand>& strand, std::function<void()> job, Done done);
  /// Waits until every job posted so far has run.
  void wait_idle();

 private:
  void run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Strand>> ready_;
  bool stopping_ = false;
  int running_ = 0;
  std::condition_variable idle_;
  std::vector<std::thread> threads_;
};

}  // namespace sluice::runtime
