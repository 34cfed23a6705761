/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

/**
 * What the peer of a session may do with an object this process allocates in shared memory and lends: the
 * lender chooses when it {@linkplain SharedData#allocate(StructType, PeerAccess) allocates}, and the
 * kernel enforces it in the borrower.
 */
public enum PeerAccess {
    /**
     * The peer reads the object in place and cannot write a byte of it: it lives in the pool the peer maps
     * read-only, so a stray write in the borrower throws there (or faults in native code), never reaching the
     * lender. The default.
     */
    READ_ONLY,
    /**
     * The peer reads and writes the object in place: it lives in the pool the peer maps read-write, and both
     * processes order their accesses with the field flyweights' acquire/release and atomic operations, which
     * work across processes. Whatever the lender reads back from such an object is as untrusted as anything
     * the peer sends: references in it are checked when followed, as a borrower checks them.
     */
    READ_WRITE
}
