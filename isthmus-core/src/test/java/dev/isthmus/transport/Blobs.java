/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * The blobs of the POSIX MQ tests: blob number {@code seq} has a length and contents that both ends can
 * compute, so that every byte and every boundary is checked.
 */
final class Blobs {
    private Blobs() {
    }

    /**
     * {@return the length of blob {@code seq}: spread over 0 to {@code max}, 0 and {@code max} included}
     *
     * @param seq the blob's number
     * @param max the channel's largest blob
     */
    static int lengthOf(final long seq, final int max) {
        if (seq % 10 == 0) {
            return seq / 10 % 2 == 0 ? 0 : max;
        }
        return (int) (seq * 7919 % (max + 1));
    }

    /**
     * Writes blob {@code seq} of {@code length} bytes.
     *
     * @param segment where
     * @param offset  at which offset
     * @param seq     the blob's number
     * @param length  its length
     */
    static void fill(final MemorySegment segment, final long offset, final long seq, final int length) {
        for (int i = 0; i < length; i++) {
            segment.set(JAVA_BYTE, offset + i, byteAt(seq, i));
        }
    }

    /**
     * Checks a received blob.
     *
     * @param segment  the memory holding it
     * @param offset   where it starts
     * @param length   its length as received
     * @param seq      the number it should have
     * @param expected the length it should have
     * @return {@code null} if it is right, else what is wrong
     */
    static String check(final MemorySegment segment, final long offset, final int length, final long seq,
                        final int expected) {
        if (length != expected) {
            return "blob " + seq + " has " + length + " bytes, expected " + expected;
        }
        for (int i = 0; i < length; i++) {
            if (segment.get(JAVA_BYTE, offset + i) != byteAt(seq, i)) {
                return "blob " + seq + " differs at byte " + i;
            }
        }
        return null;
    }

    private static byte byteAt(final long seq, final int index) {
        return (byte) (seq * 31 + index * 7 + 1);
    }
}
