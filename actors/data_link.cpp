// actors/data_link.cpp — envelopes over one connection per agent pair: a writer thread that sends what is queued in batches, with a priority lane that keeps each channel in order; a reader thread that checks every header.
#include "actors/data_link.hpp"

#include <algorithm>
#include <cstring>

#include "sluice/error.hpp"

namespace sluice::runtime {

namespace {
constexpr size_t header_bytes = 32;
constexpr std::chrono::milliseconds poll{100};
constexpr std::chrono::milliseconds send_timeout{30'000};
constexpr size_t max_file_error_bytes = 4096;

void put32(uint8_t* at, uint32_t v) {
  for (int i = 0; i < 4; ++i) at[i] = uint8_t(v >> (8 * i));
}
uint32_t get32(const uint8_t* at) {
  return uint32_t(at[0]) | uint32_t(at[1]) << 8 | uint32_t(at[2]) << 16 | uint32_t(at[3]) << 24;
}
}  // namespace

DataLink::DataLink(std::unique_ptr<Connection> connection, std::function<void(DataEnvelope&&)> deliver,
                   std::function<void(const std::string&)> failed)
    : connection_(std::move(connection)), deliver_(std::move(deliver)), failed_(std::move(failed)) {}

DataLink::~DataLink() { close(); }

void DataLink::start() {
  writer_ = std::thread([this] { write_loop(); });
  reader_ = std::thread([this] { read_loop(); });
}

void DataLink::send(DataEnvelope&& e) {
  // The payload of the BATCH kinds lives in the frame's words, as a frame's does.
  if (e.kind == DataEnvelope::Kind::file_credit) {
    e.frame.assign(1, uint64_t(e.batch) | uint64_t(e.file_channel) << 32);
  } else if (e.kind == DataEnvelope::Kind::file_error) {
    e.error.resize(std::min(e.error.size(), max_file_error_bytes));
    e.frame.assign((e.error.size() + sizeof(uint64_t) - 1) / sizeof(uint64_t) + (e.error.empty() ? 1 : 0), 0);
    std::memcpy(e.frame.data(), e.error.data(), e.error.size());
  }
  std::lock_guard lock(mu_);
  if (stopping_) return;
  if (!e.priority) {
    queued_.push_back(std::move(e));
  } else {
    // Ahead of other channels' frames, never of its own: a frame sent before a barrier must
    // arrive before it, or the receiver would not count it as in flight at the checkpoint.
    auto same = [&e](const DataEnvelope& q) {
      return q.kind == DataEnvelope::Kind::frame && q.route == e.route && q.channel == e.channel;
    };
    auto last = std::find_if(queued_.rbegin(), queued_.rend(), same);
    if (last == queued_.rend()) urgent_.push_back(std::move(e));
    else queued_.insert(last.base(), std::move(e));
  }
  ready_.notify_one();
}

void DataLink::close() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !writer_.joinable() && !reader_.joinable()) return;
    stopping_ = true;
    ready_.notify_all();
  }
  connection_->close();
  if (writer_.joinable()) writer_.join();
  if (reader_.joinable()) reader_.join();
}

void DataLink::fail(const std::string& why) {
  {
    std::lock_guard lock(mu_);
    if (failed_once_ || stopping_) return;
    failed_once_ = true;
  }
  failed_(why);
}

void DataLink::write_loop() {
  // Whatever is queued goes in one gather write (up to a batch): a credit or a small frame
  // costs a system call and a wake-up of nng's threads, many of them one.
  constexpr size_t batch_envelopes = 32, batch_bytes = 1u << 20;
  std::vector<DataEnvelope> batch;
  std::vector<uint8_t> staging;
  std::vector<std::pair<const void*, size_t>> parts;
  for (;;) {
    batch.clear();
    {
      std::unique_lock lock(mu_);
      ready_.wait(lock, [this] { return stopping_ || !urgent_.empty() || !queued_.empty(); });
      if (stopping_) return;
      size_t bytes = 0;
      while (batch.size() < batch_envelopes && bytes < batch_bytes && (!urgent_.empty() || !queued_.empty())) {
        auto& lane = urgent_.empty() ? queued_ : urgent_;
        bytes += header_bytes + lane.front().frame.size() * sizeof(uint64_t);
        batch.push_back(std::move(lane.front()));
        lane.pop_front();
      }
    }
    // Headers (and credits, which are only a header) are copied into one staging buffer; every
    // frame goes from its own buffer: records are copied once, into the socket, and never here.
    staging.clear();
    std::vector<std::pair<size_t, const DataEnvelope*>> frames;  // staged bytes before each frame
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& e = batch[i];
      uint8_t header[header_bytes] = {0};
      size_t payload = e.kind == DataEnvelope::Kind::credit ? 0 : e.frame.size() * sizeof(uint64_t);
      put32(header, uint32_t(payload));
      header[4] = uint8_t(e.kind);
      header[5] = e.priority ? 1 : 0;
      put32(header + 8, e.channel.edge);
      put32(header + 12, e.channel.producer);
      put32(header + 16, e.channel.consumer);
      put32(header + 20, e.kind == DataEnvelope::Kind::frame        ? e.backlog
                         : e.kind == DataEnvelope::Kind::file_error ? uint32_t(e.error.size())
                                                                    : e.credits);
      put32(header + 24, e.route);
      staging.insert(staging.end(), header, header + header_bytes);
      if (payload) frames.emplace_back(staging.size(), &e);
    }
    parts.clear();
    size_t from = 0;
    for (const auto& [at, e] : frames) {
      if (at > from) parts.emplace_back(staging.data() + from, at - from);
      parts.emplace_back(e->frame.data(), e->frame.size() * sizeof(uint64_t));
      from = at;
    }
    if (staging.size() > from) parts.emplace_back(staging.data() + from, staging.size() - from);
    try {
      connection_->send_gather(parts, send_timeout);
    } catch (const NetworkError& err) {
      fail(std::string("the data link to ") + connection_->peer() + " broke: " + err.what());
      return;
    }
  }
}

void DataLink::read_loop() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    uint8_t header[header_bytes];
    try {
      if (!connection_->read_exactly(header, header_bytes, poll)) {
        if (connection_->closed()) {
          fail("the data link to " + connection_->peer() + " was closed by the other side");
          return;
        }
        continue;
      }
      DataEnvelope e;
      size_t payload = get32(header);
      uint8_t kind = header[4];
      if (kind < uint8_t(DataEnvelope::Kind::frame) || kind > uint8_t(DataEnvelope::Kind::file_error))
        throw DecodeError("an envelope of unknown kind " + std::to_string(kind));
      e.kind = DataEnvelope::Kind(kind);
      if (header[5] > 1 || header[6] != 0 || header[7] != 0 || get32(header + 28) != 0)
        throw DecodeError("an envelope with unknown flags");
      e.route = get32(header + 24);
      e.priority = header[5] == 1;
      e.channel = {get32(header + 8), get32(header + 12), get32(header + 16)};
      if (e.kind == DataEnvelope::Kind::credit) {
        if (payload != 0 || e.priority) throw DecodeError("a credit envelope with a payload or a priority");
        e.credits = get32(header + 20);
      } else if (e.kind == DataEnvelope::Kind::file_credit) {
        if (payload != sizeof(uint64_t) || e.priority) throw DecodeError("a file credit envelope of another shape");
        e.credits = get32(header + 20);
        uint64_t word = 0;
        if (!connection_->read_exactly(&word, sizeof word, frame_timeout))
          throw DecodeError("the connection ended inside a file credit");
        e.batch = uint32_t(word);
        e.file_channel = uint32_t(word >> 32);
      } else if (e.kind == DataEnvelope::Kind::file_error) {
        size_t length = get32(header + 20);
        if (e.priority || length > max_file_error_bytes || payload == 0 || payload % sizeof(uint64_t) != 0 ||
            payload != std::max<size_t>(1, (length + sizeof(uint64_t) - 1) / sizeof(uint64_t)) * sizeof(uint64_t))
          throw DecodeError("a file error envelope of another shape");
        e.frame.resize(payload / sizeof(uint64_t));
        if (!connection_->read_exactly(e.frame.data(), payload, frame_timeout))
          throw DecodeError("the connection ended inside a file error");
        e.error.assign(reinterpret_cast<const char*>(e.frame.data()), length);
        e.frame.clear();
      } else {
        if (payload > max_data_frame_bytes)
          throw DecodeError("a frame of " + std::to_string(payload) + " bytes, over the limit of " +
                            std::to_string(max_data_frame_bytes));
        if (payload == 0 || payload % sizeof(uint64_t) != 0)
          throw DecodeError("a frame of " + std::to_string(payload) + " bytes, not a whole number of 8-byte words");
        e.backlog = get32(header + 20);
        e.frame.resize(payload / sizeof(uint64_t));
        if (!connection_->read_exactly(e.frame.data(), payload, frame_timeout))
          throw DecodeError("the connection ended inside a frame of " + std::to_string(payload) + " bytes");
      }
      deliver_(std::move(e));
    } catch (const DecodeError& err) {
      fail("dropped the data link to " + connection_->peer() + ": " + err.what());
      connection_->close();
      return;
    } catch (const NetworkError& err) {
      fail(std::string("the data link to ") + connection_->peer() + " broke: " + err.what());
      return;
    }
  }
}

}  // namespace sluice::runtime
