// apps/bench/dataplane_bench.cpp — MB/s between two ends of a data link on loopback against a raw nng byte stream in the same run, and how many channels share the link.
//
//   dataplane_bench [--megabytes N] [--frame-kib K] [--channels C]
//
// Prints one line per transport and their ratio. Not a test: figures vary with the machine.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "actors/data_link.hpp"

using namespace sluice::runtime;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto patience = std::chrono::seconds(60);

std::pair<std::unique_ptr<Connection>, std::unique_ptr<Connection>> connected_pair() {
  Listener l("127.0.0.1:0");
  auto accepted = std::async(std::launch::async, [&l] {
    auto c = l.accept(patience);
    authenticate_peer(*c, "", patience);
    return c;
  });
  auto dialed = dial("127.0.0.1:" + std::to_string(l.port()), patience);
  authenticate_to_master(*dialed, "", PeerRole::agent, "bench", patience);
  return {std::move(dialed), accepted.get()};
}

/// The same bytes in chunks of `chunk` over a bare connection: the ceiling a link can reach.
double raw_mb_per_s(size_t total, size_t chunk) {
  auto [a, b] = connected_pair();
  std::vector<uint8_t> out(chunk, 7), in(chunk);
  auto t0 = Clock::now();
  auto reader = std::async(std::launch::async, [&, conn = b.get()] {
    for (size_t got = 0; got < total; got += chunk) conn->read_exactly(in.data(), chunk, patience);
  });
  for (size_t sent = 0; sent < total; sent += chunk) a->send_parts(out.data(), chunk, nullptr, 0, patience);
  reader.get();
  return double(total) / 1e6 / std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Frames of `chunk` bytes over `channels` channels, each frame a fresh buffer as a task would send.
double link_mb_per_s(size_t total, size_t chunk, uint32_t channels) {
  auto [a, b] = connected_pair();
  std::mutex mu;
  std::condition_variable cv;
  size_t received = 0;
  std::atomic<bool> finished{false};  // the links closing at the end is no failure
  auto report = [&finished](const char* side) {
    return [&finished, side](const std::string& why) {
      if (!finished) std::fprintf(stderr, "%s: %s\n", side, why.c_str());
    };
  };
  DataLink receiver(
      std::move(b),
      [&](DataEnvelope&& e) {
        std::lock_guard lock(mu);
        received += e.frame.size() * sizeof(uint64_t);
        cv.notify_all();
      },
      report("receiver"));
  DataLink sender(
      std::move(a), [](DataEnvelope&&) {}, report("sender"));
  receiver.start();
  sender.start();
  auto t0 = Clock::now();
  size_t frames = total / chunk;
  // At most 64 frames in flight, as credits would allow: the queue stays bounded.
  for (size_t i = 0; i < frames; ++i) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return (i - received / chunk) < 64; });
    }
    DataEnvelope e;
    e.channel = {1, 0, uint32_t(i % channels)};
    e.frame.assign(chunk / sizeof(uint64_t), i);
    sender.send(std::move(e));
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return received >= frames * chunk; });
  }
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  finished = true;
  return double(frames * chunk) / 1e6 / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  size_t megabytes = 1000, frame_kib = 32;
  uint32_t channels = 16;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--megabytes")
      megabytes = std::stoul(argv[i + 1]);
    else if (flag == "--frame-kib")
      frame_kib = std::stoul(argv[i + 1]);
    else if (flag == "--channels")
      channels = uint32_t(std::stoul(argv[i + 1]));
    else {
      std::fprintf(stderr, "dataplane_bench: unknown argument '%s' (use --megabytes N, --frame-kib K, --channels C)\n",
                   argv[i]);
      return 2;
    }
  }
  size_t total = megabytes * 1000 * 1000, chunk = frame_kib * 1024;
  double raw = raw_mb_per_s(total, chunk);
  double link = link_mb_per_s(total, chunk, channels);
  std::printf("raw nng stream   %8.0f MB/s  (%zu KiB writes)\n", raw, frame_kib);
  std::printf("data link        %8.0f MB/s  (%zu KiB frames over %u channels, 64 in flight)\n", link, frame_kib,
              channels);
  std::printf("link / raw       %8.2f\n", link / raw);
  std::printf("transport,megabytes,frame_kib,channels,mb_per_s\nraw,%zu,%zu,1,%.0f\nlink,%zu,%zu,%u,%.0f\n", megabytes,
              frame_kib, raw, megabytes, frame_kib, channels, link);
  return 0;
}
