// checkpoint/file_ref_wire.hpp — a FileRef to and from its Cap'n Proto form (checkpoint/metadata.capnp), for `_metadata` and for acknowledgements on the wire.
#pragma once

#include "checkpoint/metadata.capnp.h"
#include "checkpoint/storage.hpp"

namespace sluice::checkpoint {

inline void to_wire(capnp_schema::FileRef::Builder out, const FileRef& f) {
  out.setPath(f.path);
  out.setSize(f.size);
  out.setChecksum(f.checksum);
  out.setSubtask(f.subtask);
  out.setKeyGroupStart(f.key_group_start);
  out.setKeyGroupEnd(f.key_group_end);
}

inline FileRef from_wire(capnp_schema::FileRef::Reader in) {
  return {in.getPath().cStr(), in.getSize(), in.getChecksum(), in.getSubtask(), in.getKeyGroupStart(),
          in.getKeyGroupEnd()};
}

}  // namespace sluice::checkpoint
