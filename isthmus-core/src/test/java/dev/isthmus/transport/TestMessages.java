/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * Self-checking test messages: {@code [sequence (8)][checksum of the rest (8)][pseudo-random bytes]},
 * with a length and content derived from the sequence number, so that a receiver detects any message
 * lost, duplicated, reordered, truncated or corrupted.
 */
public final class TestMessages {
    /** The shortest message: sequence and checksum. */
    public static final int MIN_LENGTH = 16;

    private TestMessages() {
    }

    /**
     * {@return the length of message {@code sequence}, in [16, maxLength]}
     *
     * @param sequence  the message's sequence number
     * @param maxLength the longest message
     */
    public static int length(final long sequence, final int maxLength) {
        return MIN_LENGTH + (int) Long.remainderUnsigned(mix(sequence ^ 0x5bd1e995L), maxLength - MIN_LENGTH + 1);
    }

    /**
     * Writes message {@code sequence} of {@code length} bytes at {@code offset}.
     *
     * @param target   where to write
     * @param offset   the offset
     * @param sequence the sequence number
     * @param length   the length, at least {@link #MIN_LENGTH}
     */
    public static void write(final MemorySegment target, final long offset, final long sequence, final int length) {
        target.set(JAVA_LONG_UNALIGNED, offset, sequence);
        long state = sequence * 0x9e3779b97f4a7c15L + 1;
        int i = MIN_LENGTH;
        for (; i + 8 <= length; i += 8) {
            state = mix(state);
            target.set(JAVA_LONG_UNALIGNED, offset + i, state);
        }
        state = mix(state);
        for (; i < length; i++) {
            target.set(JAVA_BYTE, offset + i, (byte) (state >>> (i & 7) * 8));
        }
        target.set(JAVA_LONG_UNALIGNED, offset + 8, checksum(target, offset + MIN_LENGTH, length - MIN_LENGTH));
    }

    /**
     * Checks a received message.
     *
     * @param source           where it is
     * @param offset           its offset
     * @param length           its length
     * @param expectedSequence the sequence number it must carry
     * @param maxLength        the longest message of the stream
     * @return {@code null} if it is right, else what is wrong
     */
    public static String verify(final MemorySegment source, final long offset, final int length,
                                final long expectedSequence, final int maxLength) {
        if (length < MIN_LENGTH) {
            return "message " + expectedSequence + " is " + length + " bytes long, shorter than " + MIN_LENGTH;
        }
        final long sequence = source.get(JAVA_LONG_UNALIGNED, offset);
        if (sequence != expectedSequence) {
            return "expected message " + expectedSequence + ", got " + sequence + " (length " + length + ")";
        }
        if (length != length(sequence, maxLength)) {
            return "message " + sequence + " has length " + length + ", expected " + length(sequence, maxLength);
        }
        final long checksum = checksum(source, offset + MIN_LENGTH, length - MIN_LENGTH);
        if (checksum != source.get(JAVA_LONG_UNALIGNED, offset + 8)) {
            return "message " + sequence + " is corrupt: checksum " + Long.toHexString(checksum) + " != carried "
                + Long.toHexString(source.get(JAVA_LONG_UNALIGNED, offset + 8));
        }
        if (checksum != expectedChecksum(sequence, length)) {
            return "message " + sequence + " has the wrong content";
        }
        return null;
    }

    private static long expectedChecksum(final long sequence, final int length) {
        MemorySegment scratch = SCRATCH.get();
        if (scratch.byteSize() < length) {
            scratch = MemorySegment.ofArray(new byte[Integer.highestOneBit(length - 1) << 1]);
            SCRATCH.set(scratch);
        }
        write(scratch, 0, sequence, length);
        return scratch.get(JAVA_LONG_UNALIGNED, 8);
    }

    /**
     * Each verifying thread's scratch copy, as long as the longest message it checked: tests run a hundred
     * such threads in one JVM, and a large buffer each made every young collection copy hundreds of MiB
     * (pauses of seconds on a loaded machine, long enough for peers to give the process up for dead).
     */
    private static final ThreadLocal<MemorySegment> SCRATCH =
        ThreadLocal.withInitial(() -> MemorySegment.ofArray(new byte[4096]));

    static long checksum(final MemorySegment source, final long offset, final int length) {
        long hash = 0xcbf29ce484222325L ^ length;
        int i = 0;
        for (; i + 8 <= length; i += 8) {
            hash = mix(hash ^ source.get(JAVA_LONG_UNALIGNED, offset + i));
        }
        for (; i < length; i++) {
            hash = (hash ^ source.get(JAVA_BYTE, offset + i)) * 0x100000001b3L;
        }
        return mix(hash);
    }

    static long mix(final long value) {
        long z = value + 0x9e3779b97f4a7c15L;
        z = (z ^ z >>> 30) * 0xbf58476d1ce4e5b9L;
        z = (z ^ z >>> 27) * 0x94d049bb133111ebL;
        return z ^ z >>> 31;
    }
}
