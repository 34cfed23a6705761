/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.sync;

/**
 * The layout of a {@link Doorbell} in shared memory: two ints, 8 bytes, 8-byte aligned.
 *
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |             Sequence (the futex word, bumped per ring)        |  0
 *  +---------------------------------------------------------------+
 *  |             Sleepers (announced, not yet withdrawn)           |  4
 *  +---------------------------------------------------------------+
 * </pre>
 *
 * <p>Both fields are written only when a side goes to sleep or wakes one up, never per message, so a
 * doorbell may share a cache line with fields of the side that sleeps on it.
 */
public final class DoorbellDescriptor {
    /** Offset of the sequence, the futex word. */
    public static final int SEQUENCE_OFFSET = 0;
    /** Offset of the count of announced sleepers. */
    public static final int SLEEPERS_OFFSET = 4;
    /** The length of a doorbell in bytes. */
    public static final int LENGTH = 8;
    /** The alignment a doorbell needs. */
    public static final int ALIGNMENT = 8;

    private DoorbellDescriptor() {
    }
}
