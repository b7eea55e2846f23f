// checkpoint/snapshot.cpp — the byte form of a subtask snapshot, built from the engine's codecs.
#include "snapshot.hpp"

#include "sluice/codec.hpp"

namespace sluice::checkpoint {

std::string ChannelId::describe() const {
  return "channel (edge " + std::to_string(edge) + ", subtask " + std::to_string(producer + 1) +
         " -> " + std::to_string(consumer + 1) + ")";
}


namespace {

constexpr uint32_t format_version = 2;  // 2 added a backend's files to keyed state; 1 still reads

using FileTuple = std::tuple<std::string, std::string, uint64_t, uint64_t, std::string>;
using TimerTuple = std::tuple<int64_t, std::string, std::string, int32_t>;
using ChannelTuple = std::tuple<uint32_t, uint32_t, uint32_t, std::vector<std::pair<int64_t, std::string>>>;

std::vector<TimerTuple> timers_out(const std::vector<detail::Timer>& ts) {
  std::vector<TimerTuple> out;
  out.reserve(ts.size());
  for (const auto& t : ts) out.emplace_back(t.time, t.key, t.ns, int32_t(t.key_group));
  return out;
}
std::vector<detail::Timer> timers_in(std::vector<TimerTuple> ts) {
  std::vector<detail::Timer> out;
  out.reserve(ts.size());
  for (auto& [time, key, ns, kg] : ts) out.push_back(detail::Timer{time, std::move(key), std::move(ns), kg});
  return out;
}
std::vector<ChannelTuple> channels_out(const std::vector<ChannelRecords>& cs) {
  std::vector<ChannelTuple> out;
  for (const auto& c : cs) out.emplace_back(c.channel.edge, c.channel.producer, c.channel.consumer, c.records);
  return out;
}
std::vector<ChannelRecords> channels_in(std::vector<ChannelTuple> cs) {
  std::vector<ChannelRecords> out;
  for (auto& [e, p, c, records] : cs) out.push_back(ChannelRecords{ChannelId{e, p, c}, std::move(records)});
  return out;
}

}  // namespace

std::string encode_snapshot(const SubtaskSnapshot& s) {
  std::vector<uint8_t> bytes;
  ByteWriter w(bytes);
  Codec<uint32_t>::encode(format_version, w);
  Codec<int32_t>::encode(s.parallelism, w);
  w.write_varint(s.operators.size());
  for (const auto& op : s.operators) {
    Codec<std::string>::encode(op.operator_id, w);
    Codec<bool>::encode(op.keyed, w);
    // The entries as a count, then each in the file form: Entry objects, then those written so.
    const auto& encoded = op.keyed_state.encoded;
    w.write_varint(op.keyed_state.entries.size() + encoded.count());
    for (const auto& e : op.keyed_state.entries)
      EntryWriter::write(w, e.state, e.key_group, e.key, e.map, e.user_key, e.value);
    w.write(encoded.bytes().data(), encoded.bytes().size());
    std::vector<FileTuple> files;
    for (const auto& f : op.keyed_state.files) files.emplace_back(f.name, f.shared, f.size, f.checksum, f.bytes);
    Codec<std::vector<FileTuple>>::encode(files, w);
    Codec<std::vector<TimerTuple>>::encode(timers_out(op.keyed_state.event_timers), w);
    Codec<std::vector<TimerTuple>>::encode(timers_out(op.keyed_state.processing_timers), w);
    Codec<std::vector<std::pair<std::string, std::string>>>::encode(op.keyed_state.fingerprints, w);
    Codec<OperatorStateStore::Encoded>::encode(op.lists, w);
    Codec<std::string>::encode(op.custom, w);
  }
  Codec<std::vector<ChannelTuple>>::encode(channels_out(s.inputs), w);
  Codec<std::vector<ChannelTuple>>::encode(channels_out(s.outputs), w);
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

SubtaskSnapshot decode_snapshot(std::string_view bytes, const std::string& where) {
  try {
    ByteReader r(bytes);
    auto version = Codec<uint32_t>::decode(r);
    if (version < 1 || version > format_version)
      throw DecodeError("format version " + std::to_string(version) + ", expected 1 to " +
                        std::to_string(format_version));
    SubtaskSnapshot s;
    s.parallelism = Codec<int32_t>::decode(r);
    auto n = r.read_varint();
    for (uint64_t i = 0; i < n; ++i) {
      OperatorSnapshot op;
      op.operator_id = Codec<std::string>::decode(r);
      op.keyed = Codec<bool>::decode(r);
      auto entries = r.read_varint();
      if (entries > r.remaining()) throw DecodeError("entry count exceeds the file's bytes");
      op.keyed_state.entries.reserve(entries);
      for (uint64_t e = 0; e < entries; ++e) op.keyed_state.entries.push_back(EntryWriter::read(r));
      if (version >= 2)
        for (auto& [name, shared, size, checksum, bytes] : Codec<std::vector<FileTuple>>::decode(r))
          op.keyed_state.files.push_back(
              BackendSnapshot::File{std::move(name), std::move(shared), size, checksum, std::move(bytes), {}, false});
      op.keyed_state.event_timers = timers_in(Codec<std::vector<TimerTuple>>::decode(r));
      op.keyed_state.processing_timers = timers_in(Codec<std::vector<TimerTuple>>::decode(r));
      op.keyed_state.fingerprints = Codec<std::vector<std::pair<std::string, std::string>>>::decode(r);
      op.lists = Codec<OperatorStateStore::Encoded>::decode(r);
      op.custom = Codec<std::string>::decode(r);
      s.operators.push_back(std::move(op));
    }
    s.inputs = channels_in(Codec<std::vector<ChannelTuple>>::decode(r));
    s.outputs = channels_in(Codec<std::vector<ChannelTuple>>::decode(r));
    if (r.remaining() != 0) throw DecodeError(std::to_string(r.remaining()) + " trailing bytes");
    return s;
  } catch (const DecodeError& e) {
    throw DecodeError("checkpoint file '" + where + "' is not a subtask snapshot: " + e.what());
  }
}

}  // namespace sluice::checkpoint
