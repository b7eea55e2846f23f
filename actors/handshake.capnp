# actors/handshake.capnp — the first messages on every cluster control connection: each side proves it holds the shared secret before anything else is read.
@0xa6922ec2ddb61ce8;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("sluice::runtime::handshake_schema");

enum Role {
  agent @0;
  client @1;
}

# Peer -> master: who it is, and a fresh nonce the master must prove the secret over.
struct Hello {
  protocol @0 :UInt32;
  role @1 :Role;
  name @2 :Text;
  nonce @3 :Data;
}

# Master -> peer: the master's fresh nonce, and HMAC(secret, "master" | peer nonce | master nonce).
struct Challenge {
  nonce @0 :Data;
  proof @1 :Data;
}

# Peer -> master: HMAC(secret, "peer" | role | name | master nonce | peer nonce).
struct Proof {
  proof @0 :Data;
}

# Master -> peer: the end of the handshake; a refusal says why in one sentence.
struct Verdict {
  accepted @0 :Bool;
  reason @1 :Text;
}

struct Handshake {
  union {
    hello @0 :Hello;
    challenge @1 :Challenge;
    proof @2 :Proof;
    verdict @3 :Verdict;
  }
}
