// tests/actors/test_control.cpp — every control message survives its Cap'n Proto wire form, and bad bytes get one sentence, never a crash.
#include <catch2/catch.hpp>

#include <random>

#include "actors/control.hpp"
#include "sluice/error.hpp"

using namespace sluice;
using namespace sluice::runtime;

namespace {

checkpoint::FileRef file(const std::string& path, uint32_t subtask) {
  return {path, 1234, 0xfeedbeefcafeull, subtask, 16, 32};
}

TaskDeployment deployment() {
  TaskDeployment d;
  d.job_id = "5f0c2a9e81b34d7a";
  d.job_name = "q5 'hot items'";
  d.attempt = 3;
  d.task = 2;
  d.subtask = 1;
  d.parallelism = 4;
  d.max_parallelism = 128;
  d.key_groups = {32, 64};
  d.restore = {RestoreHandle::Kind::checkpoint, 17, "/var/ckpt/q5/chk-17"};
  d.peers = {"", "", "agent-2:6123", "agent-3:6123"};
  return d;
}

TaskReport report_of(TaskReport::Kind kind) {
  TaskReport r;
  r.kind = kind;
  r.attempt = 2;
  r.task = 1;
  r.subtask = 3;
  return r;
}

std::vector<TaskReport> reports() {
  std::vector<TaskReport> out;
  TaskReport r;
  r.attempt = 2;
  r.task = 1;
  r.subtask = 3;
  out.push_back(r);  // finished
  r.kind = TaskReport::Kind::failed;
  r.error = "job 'x' failed: operator 'Sum' (subtask 4/4) threw: boom";
  r.permanent = true;
  out.push_back(r);
  r = report_of(TaskReport::Kind::ack);
  r.ack.checkpoint_id = 9;
  r.ack.task = 1;
  r.ack.subtask = 3;
  r.ack.file = file("op-1-3.state", 3);
  r.ack.shared = {{"a1b2", file("../shared/a1b2-000012.sst", 3)}, {"c3d4", file("../shared/c3d4-000007.sst", 3)}};
  r.ack.states = {{"a1b2", {"count", "i64"}}, {"c3d4", {"window", "pair<str,i64>"}}};
  r.ack.bytes = 1 << 20;
  r.ack.unaligned = true;
  r.ack.alignment_ms = 1.5;
  r.ack.sync_ms = 0.25;
  r.ack.async_ms = 12.75;
  r.ack.inflight_bytes = 4096;
  out.push_back(r);
  r = report_of(TaskReport::Kind::decline);
  r.checkpoint = 10;
  r.error = "cannot write 'chk-10/op-1-3.state': No space left on device";
  out.push_back(r);
  r = report_of(TaskReport::Kind::input_ended);
  r.checkpoint = 8;
  out.push_back(r);
  r = report_of(TaskReport::Kind::answer);
  r.query = 7;
  r.owner = true;
  r.text = R"({"operator":"count","key":42,"key_group":3,"subtask":1,"states":{"count":104}})";
  out.push_back(r);
  r.owner = false;
  r.text.clear();
  r.error = "the key 'abc' does not fit the keys of operator 'count': 'abc' is not a whole number";
  out.push_back(r);
  return out;
}

TaskProbe probe() {
  TaskProbe p;
  p.job_id = "5f0c2a9e81b34d7a";
  p.task_id = 1;
  p.task = "KeyedProcess -> Sink";
  p.subtask = 3;
  p.parallelism = 4;
  p.status = "running";
  p.records_in = 1000;
  p.records_out = 990;
  p.bytes_in = 1 << 20;
  p.busy_ms = 12.5;
  p.backpressured_ms = 3.25;
  p.queued_buffers_in = 2;
  p.credits_granted = 8;
  p.watermark = -5;
  p.checkpoint_id = 7;
  p.checkpoint_unaligned = true;
  p.checkpoint_async_ms = 1.75;
  p.operators = {{"a1b2", "KeyedProcess", 1000, 995, true, 50, 6400}, {"c3d4", "Sink", 995, 0, false, 0, 0}};
  p.waiting_for = "credit on output channel 2 to task 2 subtask 0";
  p.waiting_ms = 41.5;
  p.channels = {{true, 1, 0, 2, 3, 4, 1, 32768, 17, true, false}, {false, 2, 2, 0, 0, 0, 8, 262144, 99, true, true}};
  return p;
}

std::vector<TaskCommand> commands() {
  using K = TaskCommand::Kind;
  return {{K::start, -1, 0, false}, {K::trigger, -1, 12, true}, {K::trigger, -1, 13, false},
          {K::complete, -1, 12, false}, {K::abort, -1, 13, false}, {K::cancel, -1, 0, false},
          {K::drain, -1, 0, false},
          {K::query, -1, 0, false, {TaskQuery::Kind::state, 7, "5f1e2d3c4b5a6978", "[1,\"a\"]", "count"}},
          {K::query, -1, 0, false, {TaskQuery::Kind::keys, 8, "5f1e2d3c4b5a6978", "", "", -1, -1, 25}},
          {K::query, -1, 0, false, {TaskQuery::Kind::trace, 9, "", "", "", 2, 1, 10}},
          {K::query, -1, 0, false, {TaskQuery::Kind::log, 10, "", "", "", 0, 3, 50}}};
}

std::vector<ClientRequest> requests() {
  using K = ClientRequest::Kind;
  return {{K::checkpoint, false}, {K::savepoint, false}, {K::stop, false}, {K::stop, true}, {K::cancel, false},
          {K::query, false, {TaskQuery::Kind::state, 0, "count", "42", ""}},
          {K::query, false, {TaskQuery::Kind::trace, 0, "", "", "", 1, 0, 20}}};
}

/// Decodes `b` with `decode`; anything but a value or a DecodeError fails the test.
template <class F>
void survives(const ControlBuffer& b, F decode) {
  try {
    decode(b);
  } catch (const DecodeError& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("malformed "));
  }
}

}  // namespace

TEST_CASE("every control message type round-trips through its wire form", "[control]") {
  auto d = deployment();
  CHECK(decode_deployment(encode(d)) == d);
  d.restore = {RestoreHandle::Kind::from_scratch, 0, ""};
  d.peers.clear();
  CHECK(decode_deployment(encode(d)) == d);
  d.restore = {};
  CHECK(decode_deployment(encode(d)) == d);
  for (const auto& r : reports()) CHECK(decode_report(encode(r)) == r);
  for (const auto& c : commands()) CHECK(decode_command(encode(c)) == c);
  for (const auto& q : requests()) CHECK(decode_request(encode(q)) == q);
  ClientReply ok{42, ""}, failed{0, "job 'x' does not checkpoint (set a checkpoint interval)"},
      answered{0, "", R"({"states":{}})"};
  CHECK(decode_reply(encode(answered)) == answered);
  CHECK(decode_reply(encode(ok)) == ok);
  CHECK(decode_reply(encode(failed)) == failed);
  CHECK(decode_probe(encode(probe())) == probe());
}

TEST_CASE("truncated, empty and garbage control messages get one sentence naming the message", "[control]") {
  auto b = encode(reports()[2]);
  auto cut = b;
  cut.resize(b.size() / 2);
  CHECK_THROWS_WITH(decode_report(cut), Catch::StartsWith("malformed task report"));
  CHECK_THROWS_WITH(decode_deployment(ControlBuffer{}), Catch::StartsWith("malformed task deployment"));
  CHECK_THROWS_WITH(decode_command(ControlBuffer{0xffffffffffffffffull, 0x1234}),
                    Catch::StartsWith("malformed task command"));
  // A well-formed message with values no deployment can have.
  auto d = deployment();
  d.key_groups = {64, 200};
  CHECK_THROWS_WITH(decode_deployment(encode(d)), Catch::Contains("key groups [64, 200) of 128"));
  d = deployment();
  d.subtask = 4;
  CHECK_THROWS_WITH(decode_deployment(encode(d)), Catch::Contains("subtask 4 of 4"));
}

TEST_CASE("random corruption of every message kind decodes or is refused, never crashes", "[control]") {
  std::mt19937_64 rng(20261203);
  std::vector<std::pair<ControlBuffer, int>> samples;
  samples.emplace_back(encode(deployment()), 0);
  for (const auto& r : reports()) samples.emplace_back(encode(r), 1);
  for (const auto& c : commands()) samples.emplace_back(encode(c), 2);
  for (const auto& q : requests()) samples.emplace_back(encode(q), 3);
  samples.emplace_back(encode(ClientReply{7, "e"}), 4);
  samples.emplace_back(encode(probe()), 5);
  for (int round = 0; round < 2000; ++round) {
    auto [b, kind] = samples[rng() % samples.size()];
    for (int flips = 1 + int(rng() % 4); flips > 0; --flips) b[rng() % b.size()] ^= uint64_t(1) << (rng() % 64);
    if (rng() % 4 == 0) b.resize(rng() % (b.size() + 1));
    switch (kind) {
      case 0: survives(b, decode_deployment); break;
      case 1: survives(b, decode_report); break;
      case 2: survives(b, decode_command); break;
      case 3: survives(b, decode_request); break;
      case 4: survives(b, decode_reply); break;
      default: survives(b, decode_probe); break;
    }
  }
}
