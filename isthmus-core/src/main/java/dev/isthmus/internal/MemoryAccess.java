/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * Ordered and atomic access to ints and longs in a {@link MemorySegment}, named by memory order.
 *
 * <p>Every access is bounds-checked by the segment and must be naturally aligned: a misaligned
 * atomic access throws {@link IllegalArgumentException}. These are plain static wrappers around
 * {@code static final} {@link VarHandle}s, which the JIT inlines completely. They work across processes
 * on shared mappings as they do across threads.
 */
public final class MemoryAccess {
    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();
    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();

    private MemoryAccess() {
    }

    /**
     * {@return the int at {@code offset}, with acquire semantics}
     *
     * @param segment the segment
     * @param offset  a 4-byte aligned offset
     */
    public static int getIntAcquire(final MemorySegment segment, final long offset) {
        return (int) INT.getAcquire(segment, offset);
    }

    /**
     * {@return the int at {@code offset}, with volatile semantics}
     *
     * @param segment the segment
     * @param offset  a 4-byte aligned offset
     */
    public static int getIntVolatile(final MemorySegment segment, final long offset) {
        return (int) INT.getVolatile(segment, offset);
    }

    /**
     * Stores an int with release semantics.
     *
     * @param segment the segment
     * @param offset  a 4-byte aligned offset
     * @param value   the value
     */
    public static void putIntRelease(final MemorySegment segment, final long offset, final int value) {
        INT.setRelease(segment, offset, value);
    }

    /**
     * Stores an int with volatile semantics.
     *
     * @param segment the segment
     * @param offset  a 4-byte aligned offset
     * @param value   the value
     */
    public static void putIntVolatile(final MemorySegment segment, final long offset, final int value) {
        INT.setVolatile(segment, offset, value);
    }

    /**
     * Atomically adds to an int.
     *
     * @param segment the segment
     * @param offset  a 4-byte aligned offset
     * @param delta   the amount to add
     * @return the previous value
     */
    public static int getAndAddInt(final MemorySegment segment, final long offset, final int delta) {
        return (int) INT.getAndAdd(segment, offset, delta);
    }

    /**
     * Atomically sets an int if it holds the expected value.
     *
     * @param segment  the segment
     * @param offset   a 4-byte aligned offset
     * @param expected the value it must hold
     * @param value    the new value
     * @return whether the value was set
     */
    public static boolean compareAndSetInt(final MemorySegment segment, final long offset, final int expected,
                                           final int value) {
        return INT.compareAndSet(segment, offset, expected, value);
    }

    /**
     * {@return the long at {@code offset}, with acquire semantics}
     *
     * @param segment the segment
     * @param offset  an 8-byte aligned offset
     */
    public static long getLongAcquire(final MemorySegment segment, final long offset) {
        return (long) LONG.getAcquire(segment, offset);
    }

    /**
     * {@return the long at {@code offset}, with volatile semantics}
     *
     * @param segment the segment
     * @param offset  an 8-byte aligned offset
     */
    public static long getLongVolatile(final MemorySegment segment, final long offset) {
        return (long) LONG.getVolatile(segment, offset);
    }

    /**
     * {@return the long at {@code offset}, with opaque semantics: atomic, but unordered}
     *
     * @param segment the segment
     * @param offset  an 8-byte aligned offset
     */
    public static long getLongOpaque(final MemorySegment segment, final long offset) {
        return (long) LONG.getOpaque(segment, offset);
    }

    /**
     * Stores a long with release semantics.
     *
     * @param segment the segment
     * @param offset  an 8-byte aligned offset
     * @param value   the value
     */
    public static void putLongRelease(final MemorySegment segment, final long offset, final long value) {
        LONG.setRelease(segment, offset, value);
    }

    /**
     * Stores a long with volatile semantics.
     *
     * @param segment the segment
     * @param offset  an 8-byte aligned offset
     * @param value   the value
     */
    public static void putLongVolatile(final MemorySegment segment, final long offset, final long value) {
        LONG.setVolatile(segment, offset, value);
    }

    /**
     * Stores a long with opaque semantics: atomic, but unordered.
     *
     * @param segment the segment
     * @param offset  an 8-byte aligned offset
     * @param value   the value
     */
    public static void putLongOpaque(final MemorySegment segment, final long offset, final long value) {
        LONG.setOpaque(segment, offset, value);
    }

    /**
     * Atomically adds to a long.
     *
     * @param segment the segment
     * @param offset  an 8-byte aligned offset
     * @param delta   the amount to add
     * @return the previous value
     */
    public static long getAndAddLong(final MemorySegment segment, final long offset, final long delta) {
        return (long) LONG.getAndAdd(segment, offset, delta);
    }

    /**
     * Atomically replaces a long.
     *
     * @param segment the segment
     * @param offset  an 8-byte aligned offset
     * @param value   the new value
     * @return the previous value
     */
    public static long getAndSetLong(final MemorySegment segment, final long offset, final long value) {
        return (long) LONG.getAndSet(segment, offset, value);
    }

    /**
     * Atomically sets a long if it holds the expected value.
     *
     * @param segment  the segment
     * @param offset   an 8-byte aligned offset
     * @param expected the value it must hold
     * @param value    the new value
     * @return whether the value was set
     */
    public static boolean compareAndSetLong(final MemorySegment segment, final long offset, final long expected,
                                            final long value) {
        return LONG.compareAndSet(segment, offset, expected, value);
    }
}
