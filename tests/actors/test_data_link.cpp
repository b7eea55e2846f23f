// tests/actors/test_data_link.cpp — the data plane between two agents on loopback: channels multiplexed in order, credits, priority frames ahead of queued ones, malformed envelopes and a closing peer ending the link with a sentence.
#include <catch2/catch.hpp>
#include <condition_variable>
#include <future>
#include <mutex>

#include "actors/data_link.hpp"

using namespace sluice;
using namespace sluice::runtime;
using namespace std::chrono_literals;

namespace {

constexpr auto patience = 30s;  // a guard against hangs, not a timing check

/// Two authenticated connections of one link, as two agents would hold them.
std::pair<std::unique_ptr<Connection>, std::unique_ptr<Connection>> connected_pair() {
  Listener l("127.0.0.1:0");
  auto accepted = std::async(std::launch::async, [&l] {
    auto c = l.accept(patience);
    authenticate_peer(*c, "s", patience);
    return c;
  });
  auto dialed = dial("127.0.0.1:" + std::to_string(l.port()), patience);
  authenticate_to_master(*dialed, "s", PeerRole::agent, "agent-1", patience);
  return {std::move(dialed), accepted.get()};
}

/// What one side's link delivered and how it failed.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<DataEnvelope> got;
  std::string failure;
  std::function<void(DataEnvelope&&)> deliver() {
    return [this](DataEnvelope&& e) {
      std::lock_guard lock(mu);
      got.push_back(std::move(e));
      cv.notify_all();
    };
  }
  std::function<void(const std::string&)> failed() {
    return [this](const std::string& why) {
      std::lock_guard lock(mu);
      failure = why;
      cv.notify_all();
    };
  }
  bool await(const std::function<bool()>& done) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, patience, done);
  }
};

DataEnvelope frame(uint32_t edge, uint32_t consumer, uint64_t seq, size_t words, bool priority = false) {
  DataEnvelope e;
  e.channel = {edge, 0, consumer};
  e.backlog = uint32_t(seq);
  e.priority = priority;
  e.frame.resize(words);
  for (size_t i = 0; i < words; ++i)
    e.frame[i] = (uint64_t(edge) << 48) ^ (uint64_t(consumer) << 32) ^ (seq * 1000 + i);
  return e;
}

}  // namespace

TEST_CASE("frames of many channels and credits cross one link in order per channel, priority frames ahead of other channels",
          "[data_link]") {
  auto [a, b] = connected_pair();
  Inbox from_b, at_b;
  DataLink sender(std::move(a), from_b.deliver(), from_b.failed());
  DataLink receiver(std::move(b), at_b.deliver(), at_b.failed());
  receiver.start();
  // Queued before the writer starts, so the order it picks is the only order there is.
  for (uint64_t seq = 0; seq < 50; ++seq)
    for (uint32_t ch = 0; ch < 3; ++ch) sender.send(frame(7, ch, seq, 1 + (seq * 37 + ch) % 5000));
  for (uint32_t ch = 0; ch < 3; ++ch) {
    DataEnvelope credit;
    credit.kind = DataEnvelope::Kind::credit;
    credit.channel = {8, ch, 1};
    credit.credits = ch + 2;
    sender.send(std::move(credit));
  }
  sender.send(frame(7, 5, 999, 3, true));  // a barrier on a channel with nothing queued: first
  sender.send(frame(7, 1, 50, 2, true));   // one on channel 1: after channel 1's frames, before the rest
  sender.start();
  REQUIRE(at_b.await([&] { return at_b.got.size() == 50 * 3 + 3 + 2; }));
  std::lock_guard lock(at_b.mu);
  CHECK(at_b.got.front().priority);
  CHECK(at_b.got.front().frame == frame(7, 5, 999, 3).frame);
  auto barrier = std::find_if(at_b.got.begin() + 1, at_b.got.end(), [](const DataEnvelope& e) { return e.priority; });
  REQUIRE(barrier != at_b.got.end());
  CHECK(barrier->frame == frame(7, 1, 50, 2).frame);
  CHECK(barrier->channel.consumer == 1);
  CHECK(std::next(barrier) != at_b.got.end());  // overtook the frames of channels 0 and 2 queued after it
  std::vector<uint64_t> next(4, 0);
  int credits = 0;
  for (size_t i = 1; i < at_b.got.size(); ++i) {
    const auto& e = at_b.got[i];
    if (e.priority) {
      CHECK(next[1] == 50);  // every frame of channel 1 came first
      continue;
    }
    if (e.kind == DataEnvelope::Kind::credit) {
      CHECK(e.credits == e.channel.producer + 2);
      ++credits;
      continue;
    }
    auto ch = e.channel.consumer;
    REQUIRE(ch < 3);
    CHECK(e.backlog == next[ch]);
    CHECK(e.frame == frame(7, ch, next[ch], 1 + (next[ch] * 37 + ch) % 5000).frame);
    ++next[ch];
  }
  CHECK(credits == 3);
  CHECK(next == std::vector<uint64_t>{50, 50, 50, 0});
  CHECK(at_b.failure.empty());
}

// Issue 15: BATCH consumers ask another agent for their partition files' frames.
TEST_CASE("file credits carry their run and file channel, and a file error its sentence, across a link", "[data_link][batch]") {
  auto [a, b] = connected_pair();
  Inbox at_a, at_b;
  DataLink sender(std::move(a), at_a.deliver(), at_a.failed());
  DataLink receiver(std::move(b), at_b.deliver(), at_b.failed());
  sender.start();
  receiver.start();
  DataEnvelope credit;
  credit.kind = DataEnvelope::Kind::file_credit;
  credit.route = 17;
  credit.channel = {2, 5, 3};
  credit.credits = 10;
  credit.batch = 0xdeadbeef;
  credit.file_channel = 3;
  sender.send(std::move(credit));
  for (std::string why : {std::string("agent a2 cannot serve it"), std::string(8, 'x'), std::string(), std::string(9000, 'y')}) {
    DataEnvelope error;
    error.kind = DataEnvelope::Kind::file_error;
    error.route = 17;
    error.channel = {2, 5, 3};
    error.error = why;
    sender.send(std::move(error));
  }
  sender.send(frame(2, 3, 1, 4));  // the link goes on after them
  REQUIRE(at_b.await([&] { return at_b.got.size() == 6; }));
  std::lock_guard lock(at_b.mu);
  const auto& c = at_b.got[0];
  CHECK(c.kind == DataEnvelope::Kind::file_credit);
  CHECK(c.route == 17);
  CHECK(c.channel == ChannelId{2, 5, 3});
  CHECK(c.credits == 10);
  CHECK(c.batch == 0xdeadbeef);
  CHECK(c.file_channel == 3);
  CHECK(at_b.got[1].kind == DataEnvelope::Kind::file_error);
  CHECK(at_b.got[1].error == "agent a2 cannot serve it");
  CHECK(at_b.got[1].channel == ChannelId{2, 5, 3});
  CHECK(at_b.got[2].error == std::string(8, 'x'));
  CHECK(at_b.got[3].error.empty());
  CHECK(at_b.got[4].error == std::string(4096, 'y'));  // cut at 4 KiB
  CHECK(at_b.got[5].frame == frame(2, 3, 1, 4).frame);
  CHECK(at_b.failure.empty());
}

TEST_CASE("a malformed envelope ends the link with a sentence naming what was wrong", "[data_link]") {
  auto header = [](uint32_t payload, uint8_t kind, uint8_t flags) {
    std::string h(32, '\0');
    for (int i = 0; i < 4; ++i) h[size_t(i)] = char(payload >> (8 * i));
    h[4] = char(kind);
    h[5] = char(flags);
    return h;
  };
  for (const auto& [what, bytes, expect] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"unknown kind", header(0, 9, 0), "an envelope of unknown kind 9"},
           {"unknown flags", header(8, 1, 4), "an envelope with unknown flags"},
           {"reserved bytes set", header(8, 1, 0).replace(28, 1, "x"), "an envelope with unknown flags"},
           {"oversized frame", header(0x7fffffff, 1, 0), "over the limit of"},
           {"empty frame", header(0, 1, 0), "a frame of 0 bytes, not a whole number of 8-byte words"},
           {"credit with payload", header(8, 2, 0), "a credit envelope with a payload or a priority"},
           {"file credit without its word", header(0, 3, 0), "a file credit envelope of another shape"},
           {"file error longer than its payload", header(8, 4, 0).replace(20, 1, "\x20"),
            "a file error envelope of another shape"},
           {"cut short", header(64, 1, 0) + "12345678", "the connection ended inside a frame of 64 bytes"}}) {
    DYNAMIC_SECTION(what) {
      auto [a, b] = connected_pair();
      Inbox at_b;
      DataLink receiver(std::move(b), at_b.deliver(), at_b.failed());
      receiver.start();
      a->send_raw(bytes, patience);
      a->close();
      REQUIRE(at_b.await([&] { return !at_b.failure.empty(); }));
      std::lock_guard lock(at_b.mu);
      CHECK_THAT(at_b.failure, Catch::StartsWith("dropped the data link to ") && Catch::Contains(expect));
      CHECK(at_b.got.empty());
    }
  }
}

TEST_CASE("the other side closing its end is reported once, and closing one's own end is silent", "[data_link]") {
  auto [a, b] = connected_pair();
  Inbox at_a, at_b;
  auto sender = std::make_unique<DataLink>(std::move(a), at_a.deliver(), at_a.failed());
  DataLink receiver(std::move(b), at_b.deliver(), at_b.failed());
  sender->start();
  receiver.start();
  sender->send(frame(1, 0, 0, 10));
  REQUIRE(at_b.await([&] { return at_b.got.size() == 1; }));
  sender->close();
  REQUIRE(at_b.await([&] { return !at_b.failure.empty(); }));
  CHECK_THAT(at_b.failure, Catch::EndsWith("was closed by the other side"));
  CHECK(at_a.failure.empty());
}
