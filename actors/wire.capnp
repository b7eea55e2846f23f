# actors/wire.capnp — frames between tasks: record batches and stream events, one per channel buffer.
@0xc4a9e1f27b3d5a61;

# One buffer on one channel. A channel is (edge, producer subtask, consumer subtask);
# sequence numbers count the frames of a channel from 0 without gaps.
struct Frame {
  edge @0 :UInt32;
  producer @1 :UInt32;
  consumer @2 :UInt32;
  sequence @3 :UInt64;
  union {
    records @4 :Records;
    # A watermark of its own, before watermarks moved into Records.marks: refused.
    retiredWatermark @5 :Int64;
    # Stream status: true when the producer is idle and must not hold back watermarks.
    idle @6 :Bool;
    # No more records follow on this channel (the producer's input ended).
    endOfData @7 :Void;
    # The channel is closed; nothing follows.
    endOfPartition @8 :Void;
    # Checkpoint barrier with the checkpoint's id.
    barrier @9 :Int64;
  }
  # A priority frame (an unaligned barrier) overtakes queued frames: it needs no credit and
  # carries no sequence number.
  priority @10 :Bool;
  # A barrier that must be aligned whatever the checkpointing mode (a savepoint's).
  alignedOnly @11 :Bool;
}

# Whole records: record i is data[ends[i-1], ends[i]) with event timestamp timestamps[i].
# Watermarks travel between them, as Flink writes them into its data buffers: each mark comes
# after the first `after` records (marks in order, `after` never decreasing). A watermark thus
# needs no frame, and no credit, of its own.
struct Records {
  timestamps @0 :List(Int64);
  ends @1 :List(UInt32);
  data @2 :Data;
  marks @3 :List(Mark);
}

struct Mark {
  after @0 :UInt32;
  watermark @1 :Int64;
}
