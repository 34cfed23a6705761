# Copyright 2026 The Isthmus Authors
# SPDX-License-Identifier: Apache-2.0
#
# The cache demo's messages (after Flow-IPC's perf_demo): a client asks for a file by name, the server
# answers with the file's parts, each carrying its size and hash so that the client can verify it.
# Body's anonymous union is the message type that structured channels route on.

@0xcf43cfa17acc2cf8;

using Java = import "/java.capnp";
$Java.package("dev.isthmus.capnp.demo");
$Java.outerClassname("CacheDemo");

struct Body {
  union {
    getCacheReq @0 :GetCacheReq;
    getCacheRsp @1 :GetCacheRsp;
  }
}

struct GetCacheReq {
  fileName @0 :Text;
}

struct GetCacheRsp {
  # The server returns the file in parts, each (about) equally sized at its discretion.
  struct FilePart {
    data @0 :Data;
    dataSizeToVerify @1 :UInt64;
    # The recipient can verify that `data` has this many bytes.
    dataHashToVerify @2 :Hash;
    # The recipient can hash `data` and verify it is this.
  }

  fileParts @0 :List(FilePart);
}

struct Hash {
  # A 128-bit digest of a part's data; the application chooses the function (Isthmus' demo and tests
  # use the first 128 bits of SHA-256, big-endian: high is bytes 0..7, low is bytes 8..15).
  high @0 :UInt64;
  low @1 :UInt64;
}
