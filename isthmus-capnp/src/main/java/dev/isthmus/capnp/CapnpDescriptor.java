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
 * each handle is validated by {@link dev.isthmus.arena.ArenaView#borrowLent} before a byte of its block is read. The handles
 * name blocks of the sender's arena, each lent with one reference for the receiver, who gives it back
 * when it closes the message.
 *
 * <h2>{@link Backing#SESSION_SHM}, inline: a small message in the payload itself</h2>
 * <pre>
 *   0   +-------------------------------+-------------------------------+
 *       | segment length in words w (4) | magic "CPIN" (4)              |
 *   8   | the message's one segment (8 * w)                             |
 *       +---------------------------------------------------------------+
 * </pre>
 * A message without a size hint starts on the heap, and goes this way while it is one segment of at most
 * 1 KiB: nothing is allocated in shared memory, lent or borrowed. The payload is exactly {@code 8 + 8 * w}
 * bytes, {@code w >= 1}, at most {@value #MAX_INLINE_BYTES} bytes; the receiver copies the segment out of the
 * channel before reading it, so the sender cannot change it while it is read.
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

    /** Offset of an inline payload's segment length in words, an int. */
    public static final int INLINE_WORDS_OFFSET = 0;
    /** "CPIN" read as a little-endian int: the magic of an inline payload, where {@link #SHM_MAGIC} is otherwise. */
    public static final int INLINE_MAGIC = 0x4e495043;
    /** Offset of an inline payload's segment. */
    public static final int INLINE_SEGMENT_OFFSET = 8;
    /** The longest inline payload a receiver accepts: the sender inlines at most 1 KiB. */
    public static final int MAX_INLINE_BYTES = 64 << 10;

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
