# Copyright 2026 The Isthmus Authors
# SPDX-License-Identifier: Apache-2.0
#
# Messages for the codec's own tests.

@0xc396583740836277;

using Java = import "/java.capnp";
$Java.package("dev.isthmus.capnp.test");
$Java.outerClassname("TestMessages");

struct Envelope {
  union {
    chain @0 :Node;
    text @1 :Text;
  }
}

struct Node {
  # A linked list, to nest pointers as deep as a test needs.
  value @0 :UInt64;
  next @1 :Node;
}

struct NoUnion {
  # A root without an anonymous union: no message type, refused by the codec.
  value @0 :UInt64;
}
