// actors/io_executor.cpp — the blocking-work thread pool with ordered strands.
#include "io_executor.hpp"

namespace sluice::runtime {

class IoExecutor::Strand {
 public:
  std::deque<std::pair<std::function<void()>, Done>> jobs;
  bool scheduled = false;  // in ready_ or running
};

IoExecutor::IoExecutor(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

IoExecutor::~IoExecutor() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

std::shared_ptr<IoExecutor::Strand> IoExecutor::make_strand() { return std::make_shared<Strand>(); }

void IoExecutor::post(const std::shared_ptr<Strand>& strand, std::function<void()> job, Done done) {
  {
    std::lock_guard<std::mutex> l(mu_);
    strand->jobs.emplace_back(std::move(job), std::move(done));
    if (strand->scheduled) return;
    strand->scheduled = true;
    ready_.push_back(strand);
  }
  cv_.notify_one();
}

void IoExecutor::wait_idle() {
  std::unique_lock<std::mutex> l(mu_);
  idle_.wait(l, [&] { return running_ == 0 && ready_.empty(); });
}

void IoExecutor::run() {
  for (;;) {
    std::shared_ptr<Strand> s;
    std::pair<std::function<void()>, Done> job;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stopping_ || !ready_.empty(); });
      if (ready_.empty()) return;  // stopping and nothing left
      s = std::move(ready_.front());
      ready_.pop_front();
      ++running_;
      job = std::move(s->jobs.front());
      s->jobs.pop_front();
    }
    std::string error;
    try {
      job.first();
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "I/O job failed";
    } catch (...) {
      error = "I/O job failed with an unknown exception";
    }
    if (job.second) job.second(error);
    {
      std::lock_guard<std::mutex> l(mu_);
      --running_;
      if (s->jobs.empty()) {
        s->scheduled = false;
      } else {
        ready_.push_back(std::move(s));
        cv_.notify_one();
      }
      if (running_ == 0 && ready_.empty()) idle_.notify_all();
    }
  }
}

}  // namespace sluice::runtime
