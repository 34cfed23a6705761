/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.stress;

import dev.isthmus.transport.BlobHandler;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * Messages that say who sent them and in which order, and a consumer-side check of every byte.
 *
 * <p>A message is {@code (producer << 48 | sequence)} in its first 8 bytes, then bytes that depend on both;
 * its length is a function of both too, between 8 and {@code 8 + spread - 1} bytes, so records of many sizes
 * wrap around the ring and leave padding of many sizes.
 */
final class Messages {
    /** The consumer saw every message intact and in order. */
    static final int OK = 0;
    /** A message's length or a byte of it was not what its producer wrote. */
    static final int TORN = -1;
    /** A producer's message came after a later one of the same producer: lost messages. */
    static final int LOST = -2;
    /** A producer's message came again, or before an earlier one. */
    static final int DUPLICATE_OR_REORDERED = -3;
    /** A message named a producer that does not exist. */
    static final int UNKNOWN_PRODUCER = -4;
    /** poll or offer threw. */
    static final int EXCEPTION = -5;

    private Messages() {
    }

    static int length(final int producer, final long sequence, final int spread) {
        return 8 + (int) ((sequence * 7919 + producer * 104729L) % spread);
    }

    static byte patternByte(final int producer, final long sequence, final int index) {
        return (byte) (sequence * 31 + producer * 17 + index);
    }

    /** Writes a producer's next message into its buffer; {@return its length} */
    static int write(final MemorySegment buffer, final int producer, final long sequence, final int spread) {
        final int length = length(producer, sequence, spread);
        buffer.set(JAVA_LONG_UNALIGNED, 0, (long) producer << 48 | sequence);
        for (int i = 8; i < length; i++) {
            buffer.set(JAVA_BYTE, i, patternByte(producer, sequence, i));
        }
        return length;
    }

    /** A producer's state: its own buffer and the sequence number of its next message. */
    static final class Sender {
        final int producer;
        final int spread;
        final MemorySegment buffer;
        long next;

        Sender(final int producer, final int spread) {
            this.producer = producer;
            this.spread = spread;
            this.buffer = Arena.ofAuto().allocate(spread + 8);
        }

        int writeNext() {
            return write(buffer, producer, next, spread);
        }
    }

    /** The consumer's check: the next sequence number expected of each producer, and the first problem. */
    static final class Checker implements BlobHandler {
        private final long[] expected;
        private final int spread;
        int status = OK;

        Checker(final int producers, final int spread) {
            this.expected = new long[producers];
            this.spread = spread;
        }

        @Override
        public void onBlob(final MemorySegment buffer, final long offset, final int length) {
            if (status != OK) {
                return;
            }
            if (length < 8) {
                status = TORN;
                return;
            }
            final long tag = buffer.get(JAVA_LONG_UNALIGNED, offset);
            final int producer = (int) (tag >>> 48);
            final long sequence = tag & (1L << 48) - 1;
            if (producer >= expected.length) {
                status = UNKNOWN_PRODUCER;
                return;
            }
            if (sequence != expected[producer]) {
                status = sequence > expected[producer] ? LOST : DUPLICATE_OR_REORDERED;
                return;
            }
            if (length != length(producer, sequence, spread)) {
                status = TORN;
                return;
            }
            for (int i = 8; i < length; i++) {
                if (buffer.get(JAVA_BYTE, offset + i) != patternByte(producer, sequence, i)) {
                    status = TORN;
                    return;
                }
            }
            expected[producer]++;
        }
    }
}
