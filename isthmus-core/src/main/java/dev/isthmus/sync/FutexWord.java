/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.sync;

import dev.isthmus.internal.linux.Futex;
import dev.isthmus.internal.linux.Platform;

import java.lang.foreign.MemorySegment;

import static dev.isthmus.internal.MemoryAccess.compareAndSetInt;
import static dev.isthmus.internal.MemoryAccess.getAndAddInt;
import static dev.isthmus.internal.MemoryAccess.getIntAcquire;
import static dev.isthmus.internal.MemoryAccess.getIntVolatile;
import static dev.isthmus.internal.MemoryAccess.putIntRelease;

/**
 * A 4-byte word in shared memory that processes can sleep on and wake each other through: a
 * <em>shared</em> futex, which works across processes (a private futex would not).
 *
 * <p>This is the raw mechanism; most code wants the announce-and-recheck protocol of {@link Doorbell}.
 *
 * <p>Thread safety: all methods are thread-safe and work across processes.
 */
public final class FutexWord {
    /** {@link #await} returned because of a wake-up, or spuriously. */
    public static final int WOKEN = Futex.WOKEN;
    /** {@link #await} returned at once because the word no longer held the expected value. */
    public static final int VALUE_CHANGED = Futex.VALUE_CHANGED;
    /** {@link #await} returned because the timeout elapsed. */
    public static final int TIMED_OUT = Futex.TIMED_OUT;

    private final MemorySegment word;

    /**
     * Wraps the word at {@code offset} in {@code segment}.
     *
     * @param segment a native segment, typically a shared mapping
     * @param offset  a 4-byte aligned offset within it
     * @throws IllegalArgumentException if the segment is not native, or the word is misaligned or out of bounds
     * @throws UnsupportedOperationException if the platform is not supported
     */
    public FutexWord(final MemorySegment segment, final long offset) {
        Platform.requireSupported();
        if (!segment.isNative()) {
            throw new IllegalArgumentException("a futex word must be in native memory: " + segment);
        }
        if (offset < 0 || offset > segment.byteSize() - Integer.BYTES) {
            throw new IllegalArgumentException("offset=" + offset + " is outside the segment of " + segment.byteSize()
                + " bytes");
        }
        if ((segment.address() + offset & 3) != 0) {
            throw new IllegalArgumentException("offset=" + offset + " is not 4-byte aligned");
        }
        this.word = segment.asSlice(offset, Integer.BYTES);
    }

    /**
     * {@return the current value, with volatile semantics}
     */
    public int getVolatile() {
        return getIntVolatile(word, 0);
    }

    /**
     * {@return the current value, with acquire semantics}
     */
    public int getAcquire() {
        return getIntAcquire(word, 0);
    }

    /**
     * Stores a value with release semantics.
     *
     * @param value the value
     */
    public void putRelease(final int value) {
        putIntRelease(word, 0, value);
    }

    /**
     * Atomically adds to the value.
     *
     * @param delta the amount to add
     * @return the previous value
     */
    public int getAndAdd(final int delta) {
        return getAndAddInt(word, 0, delta);
    }

    /**
     * Atomically sets the value if it holds {@code expected}.
     *
     * @param expected the value it must hold
     * @param value    the new value
     * @return whether it was set
     */
    public boolean compareAndSet(final int expected, final int value) {
        return compareAndSetInt(word, 0, expected, value);
    }

    /**
     * Sleeps while the word holds {@code expected}, until woken, or the timeout elapses. May return
     * spuriously: callers re-check their condition.
     *
     * @param expected  the value the caller saw
     * @param timeoutNs the longest sleep, or a negative value to sleep until woken
     * @return {@link #WOKEN}, {@link #VALUE_CHANGED} or {@link #TIMED_OUT}
     */
    public int await(final int expected, final long timeoutNs) {
        return Futex.await(word, expected, timeoutNs);
    }

    /**
     * Wakes up to {@code count} sleepers.
     *
     * @param count the most to wake
     * @return how many were woken
     */
    public int wake(final int count) {
        return Futex.wake(word, count);
    }

    /**
     * Wakes every sleeper.
     *
     * @return how many were woken
     */
    public int wakeAll() {
        return Futex.wake(word, Integer.MAX_VALUE);
    }
}
