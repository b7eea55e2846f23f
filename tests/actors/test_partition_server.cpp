// tests/actors/test_partition_server.cpp — an agent's partition files served to consumers elsewhere: frames only as credits come, in file order with the backlog left, nothing again after the end, a rerun reading from the start, one sentence for a file it cannot read, and the run's directory removed at its end.
#include <catch2/catch.hpp>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "actors/blocking_exchange.hpp"
#include "actors/partition_server.hpp"
#include "support/temp_dir.hpp"

using namespace sluice;
using namespace sluice::runtime;
namespace fs = std::filesystem;

namespace {

/// A frame whose words say which channel and which of its frames it is.
FrameBuffer numbered(int channel, uint64_t n) { return FrameBuffer{uint64_t(channel) << 32 | n, n * 3, 7}; }

/// Producer 1 of edge 4 in run `batch` wrote `frames` frames to each of its 3 channels.
void write_partition(PartitionServer& server, uint32_t batch, uint64_t frames) {
  PartitionFileWriter w(partition_file_path(server.directory(batch), 4, 1), 3, 64);  // a region every few frames
  for (uint64_t n = 0; n < frames; ++n)
    for (int ch = 0; ch < 3; ++ch) w.add(ch, numbered(ch, n));
  w.finish();
}

/// A reply that keeps what the server sends, in order.
PartitionServer::Reply into(std::vector<DataEnvelope>& sent) {
  return [&sent](DataEnvelope&& e) { sent.push_back(std::move(e)); };
}

DataEnvelope credit_for(uint32_t batch, uint32_t route, uint32_t consumer, uint32_t credits) {
  DataEnvelope e;
  e.kind = DataEnvelope::Kind::file_credit;
  e.route = route;
  e.channel = {4, 1, consumer};
  e.credits = credits;
  e.batch = batch;
  e.file_channel = consumer;
  return e;
}

}  // namespace

TEST_CASE("a partition file is served only as credits come, in order, with the backlog left, and nothing after its end",
          "[partition_server][batch]") {
  test_support::TempDir dir;
  PartitionServer server(dir.path(), "a1");
  write_partition(server, 7, 10);
  std::vector<DataEnvelope> sent;
  auto reply = into(sent);
  server.on_credit("a2", credit_for(7, 30, 2, 4), reply);
  REQUIRE(sent.size() == 4);  // no more than the credits
  server.on_credit("a2", credit_for(7, 30, 2, 100), reply);
  REQUIRE(sent.size() == 10);
  for (uint64_t n = 0; n < 10; ++n) {
    CHECK(sent[n].kind == DataEnvelope::Kind::frame);
    CHECK(sent[n].route == 30);  // the consumer's route: it reaches its task actor
    CHECK(sent[n].channel == ChannelId{4, 1, 2});
    CHECK(sent[n].frame == numbered(2, n));
    CHECK(sent[n].backlog == 9 - n);
  }
  // A floating credit after the end reads nothing again.
  server.on_credit("a2", credit_for(7, 30, 2, 8), reply);
  CHECK(sent.size() == 10);
  // Another consumer reads its own channel of the same file.
  server.on_credit("a3", credit_for(7, 31, 0, 3), reply);
  REQUIRE(sent.size() == 13);
  CHECK(sent[10].frame == numbered(0, 0));
  CHECK(sent[12].frame == numbered(0, 2));
}

TEST_CASE(
    "a consumer's rerun (a newer route) reads its channel from the start, and the failed attempt's late credits are "
    "dropped",
    "[partition_server][batch]") {
  test_support::TempDir dir;
  PartitionServer server(dir.path(), "a1");
  write_partition(server, 7, 5);
  std::vector<DataEnvelope> sent;
  auto reply = into(sent);
  server.on_credit("a2", credit_for(7, 30, 1, 3), reply);
  server.on_credit("a2", credit_for(7, 41, 1, 2), reply);  // the rerun, on its new route
  REQUIRE(sent.size() == 5);
  CHECK(sent[2].frame == numbered(1, 2));
  CHECK(sent[3].route == 41);
  CHECK(sent[3].frame == numbered(1, 0));
  CHECK(sent[4].frame == numbered(1, 1));
  server.on_credit("a3", credit_for(7, 30, 1, 2), reply);  // the failed attempt's, late: dropped
  server.on_credit("a2", credit_for(7, 41, 1, 1), reply);
  REQUIRE(sent.size() == 6);
  CHECK(sent[5].frame == numbered(1, 2));
}

TEST_CASE("a partition file that is missing or corrupt is one sentence to the consumer, once",
          "[partition_server][batch]") {
  test_support::TempDir dir;
  PartitionServer server(dir.path(), "a1");
  std::vector<DataEnvelope> sent;
  auto reply = into(sent);
  server.on_credit("a2", credit_for(9, 30, 0, 2), reply);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].kind == DataEnvelope::Kind::file_error);
  CHECK(sent[0].route == 30);
  CHECK_THAT(sent[0].error, Catch::StartsWith("agent a1 cannot serve channel (edge 4, subtask 2 -> 1)") &&
                                Catch::Contains("is not complete: its producer has not finished"));
  server.on_credit("a2", credit_for(9, 30, 0, 2), reply);
  CHECK(sent.size() == 1);
  write_partition(server, 7, 2);
  { std::ofstream(partition_file_path(server.directory(7), 4, 1), std::ios::app) << "trailing bytes"; }
  server.on_credit("a2", credit_for(7, 30, 0, 2), reply);
  REQUIRE(sent.size() == 2);
  CHECK_THAT(sent[1].error, Catch::Contains("is corrupt"));
}

TEST_CASE("a run's release removes its directory and its readers, and other runs stay", "[partition_server][batch]") {
  test_support::TempDir dir;
  auto server = std::make_unique<PartitionServer>(dir.path(), "a1");
  write_partition(*server, 7, 3);
  write_partition(*server, 8, 3);
  std::vector<DataEnvelope> sent;
  auto reply = into(sent);
  server->on_credit("a2", credit_for(7, 30, 0, 1), reply);
  server->on_credit("a2", credit_for(8, 31, 0, 1), reply);
  CHECK(server->readers() == 2);
  server->release(7);
  CHECK_FALSE(fs::exists(dir.path() / "batch-7"));
  CHECK(fs::exists(dir.path() / "batch-8"));
  CHECK(server->readers() == 1);
  server->drop_peer("a2");  // its reader closes; a late credit of its route reads nothing again
  server->on_credit("a2", credit_for(8, 31, 0, 1), reply);
  CHECK(sent.size() == 2);
  server->on_credit("a2", credit_for(7, 30, 1, 1), reply);  // a released run's: dropped
  CHECK(sent.size() == 2);
  server.reset();  // an agent that stops takes every run's files with it
  CHECK_FALSE(fs::exists(dir.path() / "batch-8"));
}

TEST_CASE("with I/O threads of its own, the server answers every credit off the caller's thread, each channel in order",
          "[partition_server][batch]") {
  test_support::TempDir dir;
  std::mutex mu;
  std::condition_variable cv;
  std::map<uint32_t, std::vector<DataEnvelope>> sent;  // by consumer
  std::set<std::thread::id> threads;
  {
    PartitionServer server(dir.path(), "a1", 2);
    write_partition(server, 7, 200);
    auto reply = [&](DataEnvelope&& e) {
      std::lock_guard lock(mu);
      threads.insert(std::this_thread::get_id());
      sent[e.channel.consumer].push_back(std::move(e));
      cv.notify_all();
    };
    for (int round = 0; round < 50; ++round)
      for (uint32_t consumer = 0; consumer < 3; ++consumer)
        server.on_credit("a2", credit_for(7, 30, consumer, 4), reply);
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(30),
                        [&] { return sent[0].size() == 200 && sent[1].size() == 200 && sent[2].size() == 200; }));
  }  // the server finishes its reads before it goes
  CHECK_FALSE(threads.count(std::this_thread::get_id()));
  for (uint32_t consumer = 0; consumer < 3; ++consumer)
    for (uint64_t n = 0; n < 200; ++n) CHECK(sent[consumer][n].frame == numbered(int(consumer), n));
}
