// tests/actors/test_frame.cpp — frames encode and decode in place; malformed bytes are refused with a FrameError.
#include <catch2/catch.hpp>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>
#include <random>

#include "actors/frame.hpp"
#include "actors/wire.capnp.h"

using namespace sluice::runtime;

TEST_CASE("a record batch round-trips through a frame", "[frame]") {
  RecordBatch b;
  for (int i = 0; i < 100; ++i) {
    std::string rec = "record-" + std::to_string(i);
    b.data.insert(b.data.end(), rec.begin(), rec.end());
    b.ends.push_back(uint32_t(b.data.size()));
    b.timestamps.push_back(1000 + i);
  }
  ChannelId ch{3, 1, 2};
  auto buf = encode_records(ch, 17, b);
  CHECK(buf.size() * 8 <= RecordBatch::encoded_bound(b.size(), b.data.size()));
  FrameView v(buf);
  CHECK(v.channel() == ch);
  CHECK(v.sequence() == 17);
  REQUIRE(v.kind() == FrameKind::records);
  REQUIRE(v.record_count() == 100);
  for (size_t i = 0; i < 100; ++i) {
    std::string rec(reinterpret_cast<const char*>(v.record_data(i)), v.record_size(i));
    CHECK(rec == "record-" + std::to_string(i));
    CHECK(v.timestamp(i) == int64_t(1000 + i));
  }
}

TEST_CASE("watermarks travel between the records of a frame, in order", "[frame]") {
  RecordBatch b;
  auto add = [&](const std::string& rec, int64_t ts) {
    b.data.insert(b.data.end(), rec.begin(), rec.end());
    b.ends.push_back(uint32_t(b.data.size()));
    b.timestamps.push_back(ts);
  };
  b.mark_watermark(1);  // before any record
  add("a", 5);
  b.mark_watermark(4);
  b.mark_watermark(5);  // right after the last: replaces it
  add("b", 9);
  add("c", 7);
  b.mark_watermark(9);  // after every record
  REQUIRE(b.marks.size() == 3);
  auto buf = encode_records(ChannelId{1, 0, 0}, 4, b);
  CHECK(buf.size() * 8 <= RecordBatch::encoded_bound(b.size(), b.data.size(), b.marks.size()));
  FrameView v(buf);
  REQUIRE(v.kind() == FrameKind::records);
  CHECK(v.record_count() == 3);
  REQUIRE(v.marks().size() == 3);
  CHECK(v.marks()[0].after == 0);
  CHECK(v.marks()[0].watermark == 1);
  CHECK(v.marks()[1].after == 1);
  CHECK(v.marks()[1].watermark == 5);
  CHECK(v.marks()[2].after == 3);
  CHECK(v.marks()[2].watermark == 9);

  // A frame of watermarks only.
  RecordBatch only;
  only.mark_watermark(-3);
  FrameView w(encode_records(ChannelId{}, 0, only));
  CHECK(w.record_count() == 0);
  REQUIRE(w.marks().size() == 1);
  CHECK(w.marks()[0].watermark == -3);
}

TEST_CASE("a watermark placed outside its frame's records, or before the one ahead of it, is refused", "[frame]") {
  RecordBatch b;
  b.data = {1, 2};
  b.ends = {1, 2};
  b.timestamps = {0, 0};
  b.marks = {{3, 10}};
  CHECK_THROWS_WITH(FrameView(encode_records(ChannelId{}, 0, b)),
                    Catch::Contains("watermark 0 of a frame of 2 records comes after record 3"));
  b.marks = {{2, 10}, {1, 11}};
  CHECK_THROWS_WITH(FrameView(encode_records(ChannelId{}, 0, b)), Catch::Contains("before the watermark ahead of it"));
  b.marks = {{1, 10}, {1, 11}, {2, 12}};
  CHECK(FrameView(encode_records(ChannelId{}, 0, b)).marks().size() == 3);
}

TEST_CASE("event frames carry their kind and value", "[frame]") {
  ChannelId ch{0, 0, 0};
  {
    auto buf = encode_element(ch, 1, FrameKind::barrier, -5);
    FrameView v(buf);
    CHECK(v.kind() == FrameKind::barrier);
    CHECK(v.value() == -5);
  }
  {  // A watermark of its own, as frames carried them before Records.marks, is refused.
    capnp::MallocMessageBuilder msg;
    msg.initRoot<Frame>().setRetiredWatermark(-5);
    auto words = capnp::messageToFlatArray(msg);
    FrameBuffer buf(words.size());
    std::memcpy(buf.data(), words.begin(), words.size() * sizeof(capnp::word));
    CHECK_THROWS_WITH(FrameView(buf), Catch::Contains("frame of unknown kind"));
  }
  for (auto k : {FrameKind::end_of_data, FrameKind::end_of_partition}) {
    auto buf = encode_element(ch, 2, k);
    FrameView v(buf);
    CHECK(v.kind() == k);
  }
  auto buf = encode_element(ch, 3, FrameKind::status, 1);
  CHECK(FrameView(buf).value() == 1);
}

TEST_CASE("malformed frames are refused, never read out of bounds", "[frame]") {
  CHECK_THROWS_AS(FrameView(FrameBuffer{}), FrameError);
  RecordBatch b;
  b.data = {1, 2, 3};
  b.ends = {3};
  b.timestamps = {0};
  auto good = encode_records(ChannelId{}, 0, b);
  // Truncations and random corruption: either a clean decode or a FrameError.
  for (size_t n = 1; n < good.size(); ++n) {
    FrameBuffer cut(good.begin(), good.begin() + long(n));
    CHECK_THROWS_AS(FrameView(cut), FrameError);
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    auto bad = good;
    bad[rng() % bad.size()] ^= rng();
    try {
      FrameView v(bad);
      for (size_t r = 0; r < v.record_count(); ++r) {
        auto end = v.record_data(r) + v.record_size(r);
        (void)end;
      }
    } catch (const FrameError&) {
    }
  }
}
