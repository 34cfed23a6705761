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
 *  |             Sequence (the futex word, bumped per wake-up)     |  0
 *  +-+-------------+---------------+-------------------------------+
 *  |S|  reserved   |     Mode      |           reserved            |  4
 *  +-+-------------+---------------+-------------------------------+
 * </pre>
 *
 * <ul>
 *   <li><b>S</b> ({@link #SLEEPING}, bit 0 of the state word): a sleeper has announced itself since the last
 *       wake-up. Sleepers set it before every sleep; the waker that sees it clears it and makes one
 *       {@code FUTEX_WAKE}. It is a flag, not a count: a sleeper killed while asleep, or a peer that sets
 *       it for no reason, costs at most one system call per announcement.</li>
 *   <li><b>Mode</b> (bits 8–15): the fence protocol both sides follow, recorded once by the first process
 *       that attaches ({@link #MODE_FENCED} or {@link #MODE_ASYMMETRIC}); {@link #MODE_UNSET} until then.
 *       Any other value is treated as fenced by the waker.</li>
 * </ul>
 *
 * <p>Both fields are written only when a side goes to sleep or wakes one up, never per message, so a
 * doorbell may share a cache line with fields of the side that sleeps on it.
 */
public final class DoorbellDescriptor {
    /** Offset of the sequence, the futex word. */
    public static final int SEQUENCE_OFFSET = 0;
    /** Offset of the state word: the sleeper flag and the mode. */
    public static final int STATE_OFFSET = 4;
    /** The sleeper flag in the state word. */
    public static final int SLEEPING = 1;
    /** How far the mode is shifted in the state word. */
    public static final int MODE_SHIFT = 8;
    /** The mode's bits in the state word. */
    public static final int MODE_MASK = 0xFF << MODE_SHIFT;
    /** Mode: not recorded yet (the doorbell's bytes are still zero). */
    public static final int MODE_UNSET = 0;
    /** Mode: the waker issues a full fence before it reads the state word. */
    public static final int MODE_FENCED = 1;
    /** Mode: the waker skips the fence; every sleeper issues a global {@code membarrier} instead. */
    public static final int MODE_ASYMMETRIC = 2;
    /** The length of a doorbell in bytes. */
    public static final int LENGTH = 8;
    /** The alignment a doorbell needs. */
    public static final int ALIGNMENT = 8;

    private DoorbellDescriptor() {
    }

    /**
     * {@return the mode recorded in a state word}
     *
     * @param state the state word
     */
    public static int mode(final int state) {
        return (state & MODE_MASK) >>> MODE_SHIFT;
    }
}
