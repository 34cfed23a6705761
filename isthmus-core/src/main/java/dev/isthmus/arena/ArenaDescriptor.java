/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.arena;

/**
 * The layout of an arena pool: a shared-memory segment whose data part is a header page followed by
 * blocks, each with a 64-byte header.
 *
 * <h2>Pool header (first page of the data part)</h2>
 * <pre>
 *   0   +-----------------------------------------------------------------+
 *       | magic "ISTHPOOL" (8)                                            |
 *   8   | layout version (4)           | pool index (4)                   |
 *  16   | owner pid (4)                | reserved (4)                     |
 *  24   | owner start time (8)                                            |
 *  32   | group (8): the session the pool belongs to                      |
 *  40   | pool length (8): header page and blocks                         |
 *       +-----------------------------------------------------------------+
 * 128   | RETURN STACK, written by borrowers (pools opened by name)       |
 *       | head (8): offset of the last block returned by a borrower, or 0 |
 *       +-----------------------------------------------------------------+
 * 192   | RETURNS CONSUMED (8), sealed pools: how many entries of the     |
 *       | borrower's return ring the owner has taken back                 |
 *       +-----------------------------------------------------------------+
 * 4096  | blocks ...                                                      |
 *       +-----------------------------------------------------------------+
 * </pre>
 *
 * <h2>Block header (64 bytes, then the payload)</h2>
 * <pre>
 *   0   +-------------------------------+---------------------------------+
 *       | magic "BLK1" (4)              | state (4): 1 allocated, 2 free  |
 *   8   | generation (4)                | reference count (4)             |
 *  16   | block size (8): header and payload, a power of two              |
 *  24   | next (8): link in the return stack                              |
 *  32   | reserved ...                                                    |
 *  64   +-----------------------------------------------------------------+
 *       | payload (block size - 64 bytes)                                 |
 *       +-----------------------------------------------------------------+
 * </pre>
 * Blocks are aligned to their size (at least 256 bytes), so the payload is 64-byte aligned. The owner
 * sets the header when it allocates, the generation changes each time a block is freed, and the reference
 * count is changed atomically by the owner and by borrowers; a borrower that drops the last reference
 * pushes the block on the return stack (a compare-and-set on the head) for the owner to take back.
 *
 * <h2>Sealed pools and return rings</h2>
 * A session's arena is one sealed anonymous pool of fixed length, handed to the peer read-only: the peer
 * cannot write a byte of it, so it counts nothing there. Each borrower returns blocks through a ring in
 * memory it owns (a sealed file handed to the owner read-only), one entry per borrow, and the owner
 * records in its pool header how far it has read:
 * <pre>
 *   0   +-----------------------------------------------------------------+
 *       | magic "ISTHMRET" (8)                                            |
 *   8   | layout version (4)           | capacity in entries (4)          |
 *  64   | published (8): entries written so far, written by the borrower  |
 * 128   | entries (8 each): pool index &lt;&lt; 48 | block offset             |
 *       +-----------------------------------------------------------------+
 * </pre>
 */
public final class ArenaDescriptor {
    /** "ISTHPOOL" read as a little-endian long. */
    public static final long POOL_MAGIC = 0x4c4f4f5048545349L;
    /** The layout version. */
    public static final int VERSION = 1;

    /** Offset of the pool magic, a long. */
    public static final int POOL_MAGIC_OFFSET = 0;
    /** Offset of the layout version, an int. */
    public static final int VERSION_OFFSET = 8;
    /** Offset of the pool index, an int. */
    public static final int POOL_INDEX_OFFSET = 12;
    /** Offset of the owner's pid, an int. */
    public static final int OWNER_PID_OFFSET = 16;
    /** Offset of the owner's start time, a long. */
    public static final int OWNER_START_TIME_OFFSET = 24;
    /** Offset of the group, a long. */
    public static final int GROUP_OFFSET = 32;
    /** Offset of the pool length, a long. */
    public static final int POOL_LENGTH_OFFSET = 40;
    /** Offset of the return stack's head, a long. */
    public static final int RETURN_HEAD_OFFSET = 128;
    /** Offset of the count of return-ring entries the owner has taken back (sealed pools), a long. */
    public static final int RETURNS_CONSUMED_OFFSET = 192;
    /** Where blocks start. */
    public static final int FIRST_BLOCK_OFFSET = 4096;

    /** "ISTHMRET" read as a little-endian long. */
    public static final long RING_MAGIC = 0x5445524d48545349L;
    /** Offset of a return ring's layout version, an int. */
    public static final int RING_VERSION_OFFSET = 8;
    /** Offset of a return ring's capacity in entries, an int. */
    public static final int RING_CAPACITY_OFFSET = 12;
    /** Offset of the count of entries the borrower has published, a long. */
    public static final int RING_PUBLISHED_OFFSET = 64;
    /** Offset of the first return-ring entry. */
    public static final int RING_ENTRIES_OFFSET = 128;
    /** Entries in a return ring: far more blocks than one peer holds borrowed at once. */
    public static final int RING_CAPACITY = 8192;

    /** "BLK1" read as a little-endian int. */
    public static final int BLOCK_MAGIC = 0x314b4c42;
    /** Offset of a block's magic, an int. */
    public static final int BLOCK_MAGIC_OFFSET = 0;
    /** Offset of a block's state, an int. */
    public static final int BLOCK_STATE_OFFSET = 4;
    /** Offset of a block's generation, an int. */
    public static final int BLOCK_GENERATION_OFFSET = 8;
    /** Offset of a block's reference count, an int. */
    public static final int BLOCK_REFERENCES_OFFSET = 12;
    /** Offset of a block's size, a long. */
    public static final int BLOCK_SIZE_OFFSET = 16;
    /** Offset of a block's return-stack link, a long. */
    public static final int BLOCK_NEXT_OFFSET = 24;
    /** The block header length: where the payload starts. */
    public static final int BLOCK_HEADER_LENGTH = 64;
    /** The smallest block. */
    public static final long MIN_BLOCK_SIZE = 256;

    /** A block in use. */
    public static final int STATE_ALLOCATED = 1;
    /** A block free for reuse. */
    public static final int STATE_FREE = 2;

    private ArenaDescriptor() {
    }

    /**
     * {@return the size of the smallest block whose payload holds {@code length} bytes}
     *
     * @param length the payload length
     */
    public static long blockSizeFor(final long length) {
        final long needed = Math.max(MIN_BLOCK_SIZE, length + BLOCK_HEADER_LENGTH);
        return Long.highestOneBit(needed - 1) << 1;
    }
}
