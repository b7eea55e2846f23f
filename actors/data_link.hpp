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
///
/// BATCH adds two kinds. A consumer whose producer wrote its partition file on another agent
/// grants that agent credits for the file (`file_credit`: the job run's `batch`, the file's
/// channel and the credits); the agent answers with frames read from the file, routed to the
/// consumer like any frame, or with `file_error` and one sentence when it cannot read it.
struct DataEnvelope {
  enum class Kind : uint8_t { frame = 1, credit = 2, file_credit = 3, file_error = 4 };
  Kind kind = Kind::frame;
  /// Which job attempt on the receiving agent the channel belongs to (its agent's route); for
  /// `file_credit`, the consumer's route, which the frames going back carry.
  uint32_t route = 0;
  ChannelId channel;
  uint32_t backlog = 0;   ///< frame
  uint32_t credits = 0;   ///< credit, file_credit
  bool priority = false;  ///< frame: a priority element, sent ahead of other channels' queued frames
  FrameBuffer frame;      ///< frame: the Cap'n Proto frame's words
  uint32_t batch = 0;         ///< file_credit: the BATCH run (DeployOrder::batch)
  uint32_t file_channel = 0;  ///< file_credit: the channel of the producer's partition file
  std::string error;          ///< file_error: why the file cannot be served
};

/// The largest frame a data link takes (a buffer is at most 32 MiB, with room to spare).
inline constexpr size_t max_data_frame_bytes = 64u << 20;

/// One end of a data link. Envelopes given to send() are written by a writer thread, priority
/// ones first; a reader thread hands each arriving envelope to `deliver`. A malformed
/// envelope or a broken connection ends the link: `failed` gets one sentence, once.
/// On the wire an envelope is a 32-byte header (payload bytes, kind, flags, edge, producer,
/// consumer, backlog or credits, route, 4 reserved zero bytes; little-endian) and the frame's words, written from and read
/// into the frame's own buffer: no other copy on either side. A file credit's payload is one
/// word (batch, file channel); a file error's is its sentence (at most 4 KiB), padded to whole
/// words, its length in the backlog field.
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
