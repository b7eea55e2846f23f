// actors/data_link.hpp — the data plane between two agents: every channel between them multiplexed on one authenticated connection, frames and credits as envelopes, priority elements ahead of queued frames.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "actors/connection.hpp"
#include "actors/frame.hpp"

namespace sluice::runtime {

/// What crosses a data link for one logical channel: a frame (with the sender's backlog) or
/// credits going back. Flow control stays end to end: a producer sends a frame only with a
/// credit of its consumer, so the receiving side can always take what arrives, and a
/// backpressured channel never stalls the link for the others.
struct DataEnvelope {
  enum class Kind : uint8_t { frame = 1, credit = 2 };
  Kind kind = Kind::frame;
  /// Which job attempt on the receiving agent the channel belongs to (its agent's route).
  uint32_t route = 0;
  ChannelId channel;
  uint32_t backlog = 0;   ///< frame
  uint32_t credits = 0;   ///< credit
  bool priority = false;  ///< frame: a priority element, sent ahead of other channels' queued frames
  FrameBuffer frame;      ///< frame: the Cap'n Proto frame's words
};

/// The largest frame a data link takes (a buffer is at most 32 MiB, with room to spare).
inline constexpr size_t max_data_frame_bytes = 64u << 20;

/// One end of a data link. Envelopes given to send() are written by a writer thread, priority
/// ones first; a reader thread hands each arriving envelope to `deliver`. A malformed
/// envelope or a broken connection ends the link: `failed` gets one sentence, once.
/// On the wire an envelope is a 32-byte header (payload bytes, kind, flags, edge, producer,
/// consumer, backlog or credits, route, 4 reserved zero bytes; little-endian) and the frame's words, written from and read
/// into the frame's own buffer: no other copy on either side.
class DataLink {
 public:
  DataLink(std::unique_ptr<Connection> connection, std::function<void(DataEnvelope&&)> deliver,
           std::function<void(const std::string&)> failed);
  ~DataLink();
  DataLink(const DataLink&) = delete;
  DataLink& operator=(const DataLink&) = delete;

  /// Starts the threads; envelopes sent before wait until then.
  void start();
  /// Queues an envelope; never blocks on the network.
  void send(DataEnvelope&& e);
  /// Stops both threads and closes the connection.
  void close();
  const std::string& peer() const { return connection_->peer(); }

 private:
  void write_loop();
  void read_loop();
  void fail(const std::string& why);

  std::unique_ptr<Connection> connection_;
  std::function<void(DataEnvelope&&)> deliver_;
  std::function<void(const std::string&)> failed_;
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<DataEnvelope> urgent_, queued_;
  bool stopping_ = false, failed_once_ = false;
  std::thread writer_, reader_;
};

}  // namespace sluice::runtime
