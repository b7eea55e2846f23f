// tests/checkpoint/test_snapshot.cpp — the byte form of a subtask snapshot: round trip, the older format still read, bad bytes refused naming the file.
#include <catch2/catch.hpp>

#include "checkpoint/snapshot.hpp"
#include "sluice/codec.hpp"

using namespace sluice;
using namespace sluice::checkpoint;

namespace {
SubtaskSnapshot sample() {
  SubtaskSnapshot s;
  s.parallelism = 3;
  OperatorSnapshot keyed;
  keyed.operator_id = "00aa";
  keyed.keyed = true;
  keyed.keyed_state.entries.push_back({"count", 7, "key", false, {}, "value"});
  keyed.keyed_state.entries.push_back({"map", 9, "k2", true, "uk", std::string("\0\xff", 2)});
  keyed.keyed_state.files.push_back({"000012.sst", "abc-000012.sst", 4096, 0x1234, {}, {}, false});
  keyed.keyed_state.files.push_back({"CURRENT", {}, 0, 0, "MANIFEST-000005\n", {}, false});
  keyed.keyed_state.event_timers.push_back({100, "key", "", 7});
  keyed.keyed_state.fingerprints.push_back({"count", "value<l>"});
  keyed.lists.push_back({"offsets", {"a", "b"}});
  keyed.custom = "position";
  s.operators.push_back(keyed);
  OperatorSnapshot sink;
  sink.operator_id = "00bb";
  sink.custom = "transactions";
  s.operators.push_back(sink);
  s.inputs.push_back({ChannelId{1, 2, 0}, {{5, "in-flight"}}});
  s.outputs.push_back({ChannelId{3, 0, 1}, {{6, "overtaken"}}});
  return s;
}

bool same(const SubtaskSnapshot& a, const SubtaskSnapshot& b) {
  if (a.parallelism != b.parallelism || a.operators.size() != b.operators.size()) return false;
  for (size_t i = 0; i < a.operators.size(); ++i) {
    const auto &x = a.operators[i], &y = b.operators[i];
    if (x.operator_id != y.operator_id || x.keyed != y.keyed || x.keyed_state.entries != y.keyed_state.entries ||
        x.keyed_state.files != y.keyed_state.files || x.keyed_state.fingerprints != y.keyed_state.fingerprints ||
        x.keyed_state.event_timers.size() != y.keyed_state.event_timers.size() || x.lists != y.lists ||
        x.custom != y.custom)
      return false;
  }
  auto channels = [](const std::vector<ChannelRecords>& p, const std::vector<ChannelRecords>& q) {
    if (p.size() != q.size()) return false;
    for (size_t i = 0; i < p.size(); ++i)
      if (!(p[i].channel == q[i].channel) || p[i].records != q[i].records) return false;
    return true;
  };
  return channels(a.inputs, b.inputs) && channels(a.outputs, b.outputs);
}
}  // namespace

TEST_CASE("a subtask snapshot round-trips, RocksDB files included", "[snapshot]") {
  auto s = sample();
  auto back = decode_snapshot(encode_snapshot(s), "task-0-0");
  CHECK(same(back, s));
}

TEST_CASE("a snapshot written before backends' files existed (format 1) still reads", "[snapshot]") {
  // Format 1, written field by field as the previous release did: no file list.
  std::vector<uint8_t> bytes;
  ByteWriter w(bytes);
  Codec<uint32_t>::encode(1, w);
  Codec<int32_t>::encode(2, w);
  w.write_varint(1);
  Codec<std::string>::encode("00aa", w);
  Codec<bool>::encode(true, w);
  using Entry = std::tuple<std::string, int32_t, std::string, bool, std::string, std::string>;
  Codec<std::vector<Entry>>::encode({{"count", 7, "key", false, "", "value"}}, w);
  using Timer = std::tuple<int64_t, std::string, std::string, int32_t>;
  Codec<std::vector<Timer>>::encode({{100, "key", "", 7}}, w);
  Codec<std::vector<Timer>>::encode({}, w);
  Codec<std::vector<std::pair<std::string, std::string>>>::encode({{"count", "value<l>"}}, w);
  Codec<OperatorStateStore::Encoded>::encode({}, w);
  Codec<std::string>::encode("position", w);
  using Channel = std::tuple<uint32_t, uint32_t, uint32_t, std::vector<std::pair<int64_t, std::string>>>;
  Codec<std::vector<Channel>>::encode({}, w);
  Codec<std::vector<Channel>>::encode({}, w);
  auto s = decode_snapshot(std::string(bytes.begin(), bytes.end()), "chk-3/task-0-0");
  REQUIRE(s.operators.size() == 1);
  const auto& ks = s.operators[0].keyed_state;
  CHECK(ks.entries == std::vector<KeyedStateSnapshot::Entry>{{"count", 7, "key", false, {}, "value"}});
  CHECK(ks.files.empty());
  CHECK(ks.event_timers.size() == 1);
  CHECK(s.operators[0].custom == "position");
}

TEST_CASE("bytes that are not a snapshot, or of a newer format, are refused naming the file", "[snapshot]") {
  auto bytes = encode_snapshot(sample());
  CHECK_THROWS_WITH(decode_snapshot(bytes.substr(0, bytes.size() / 2), "chk-4/task-1-0"),
                    Catch::Contains("chk-4/task-1-0") && Catch::Contains("not a subtask snapshot"));
  std::vector<uint8_t> newer;
  ByteWriter w(newer);
  Codec<uint32_t>::encode(99, w);
  CHECK_THROWS_WITH(decode_snapshot(std::string(newer.begin(), newer.end()), "chk-5/task-0-0"),
                    Catch::Contains("chk-5/task-0-0") && Catch::Contains("format version 99"));
}
