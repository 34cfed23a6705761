/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.arena.ShmHandle;

/**
 * The payloads a {@link CapnpCodec} puts in a structured message. All integers are little-endian.
 *
 * <h2>{@link Backing#HEAP}: Cap'n Proto's standard stream framing</h2>
 * <pre>
 *   0   +-------------------------------+-------------------------------+
 *       | segment count - 1 (4)         | segment 0 size, in words (4)  |
 *   8   | segment 1 size (4)            | ...  (zero padding to 8 bytes)|
 *       +-------------------------------+-------------------------------+
 *       | segment 0 ...                                                 |
 *       | segment 1 ...                                                 |
 *       +---------------------------------------------------------------+
 * </pre>
 * The receiver checks that the table's sizes add up to the payload's length exactly.
 *
 * <h2>{@link Backing#SESSION_SHM}: one handle per segment</h2>
 * <pre>
 *   0   +-------------------------------+-------------------------------+
 *       | segment count n (4)           | magic "CPSH" (4)              |
 *   8   | handle of segment 0 (24): pool (4), generation (4),           |
 *       |   offset of its block (8), segment length in bytes (8)        |
 *  32   | handle of segment 1 (24) ...                                  |
 *       +---------------------------------------------------------------+
 * </pre>
 * The payload is exactly {@code 8 + 24 * n} bytes with {@code 1 <= n <=} {@value #MAX_SEGMENTS}; every
 * segment length is a whole number of words, segment 0 holds at least the root pointer, no two handles name
 * overlapping memory of one pool (a block's span being its 64-byte header and the segment's length), and
 * each handle is validated by {@link dev.isthmus.arena.ArenaView#borrow} before a byte of its block is read. The handles
 * name blocks of the sender's arena, each lent with one reference for the receiver, who gives it back
 * when it closes the message.
 */
public final class CapnpDescriptor {
    /** The most segments a message may have, in either payload (Cap'n Proto's own stream limit). */
    public static final int MAX_SEGMENTS = 512;
    /** The largest segment, in words: what one {@link java.nio.ByteBuffer} can hold. */
    public static final int MAX_SEGMENT_WORDS = Integer.MAX_VALUE / 8;
    /** A Cap'n Proto word. */
    public static final int BYTES_PER_WORD = 8;

    /** Offset of the shared-memory payload's segment count, an int. */
    public static final int SHM_COUNT_OFFSET = 0;
    /** Offset of the shared-memory payload's magic, an int. */
    public static final int SHM_MAGIC_OFFSET = 4;
    /** "CPSH" read as a little-endian int. */
    public static final int SHM_MAGIC = 0x48535043;
    /** Offset of the first handle. */
    public static final int SHM_HANDLES_OFFSET = 8;
    /** The length of one handle. */
    public static final int SHM_HANDLE_LENGTH = ShmHandle.ENCODED_LENGTH;

    private CapnpDescriptor() {
    }

    /**
     * {@return the exact length of a shared-memory payload naming {@code segments} segments}
     *
     * @param segments the segment count
     */
    public static long shmPayloadLength(final int segments) {
        return SHM_HANDLES_OFFSET + (long) SHM_HANDLE_LENGTH * segments;
    }

    /**
     * {@return the length of the stream framing's segment table for {@code segments} segments: a count and
     * one size per segment, padded to a whole word}
     *
     * @param segments the segment count
     */
    public static long streamTableLength(final int segments) {
        return (4L * (segments + 1) + 7) & ~7L;
    }
}
