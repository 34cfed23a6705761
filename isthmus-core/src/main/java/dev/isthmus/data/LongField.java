/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * A {@code long} member of a {@link StructType}, read and written in place: a flyweight holding the member's
 * offset, made once by {@link StructType#longField} and kept, ideally in a {@code static final}
 * field, where the JIT treats the offset as a constant.
 *
 * <p>Plain, acquire/release, volatile and atomic accesses; atomics work across processes on any record the type allows (the member is naturally aligned, so they are never torn). Every access is bounds-checked against the segment given, so a record of a peer's memory, sliced
 * to the length that was validated when it was borrowed, can never be read or written beyond.
 *
 * <p>Thread safety: immutable; the memory-ordering of each access is in its name.
 *
 * @param offset the member's offset within its record
 */
public record LongField(long offset) {
    private static final VarHandle HANDLE = ValueLayout.JAVA_LONG.varHandle();
    /**
     * Plain accesses skip the alignment check: a {@link StructType} places every member at its natural
     * alignment, so it always holds, and without the check a loop over an array of records is as fast as
     * over heap objects. An aligned plain access is never torn.
     */
    private static final VarHandle PLAIN = ValueLayout.JAVA_LONG_UNALIGNED.varHandle();

    /**
     * {@return the member's value (a plain read)}
     *
     * @param record the record's memory
     */
    public long get(final MemorySegment record) {
        return (long) PLAIN.get(record, offset);
    }

    /**
     * {@return the member's value in the record at {@code recordOffset} of {@code memory} (a plain read)}: for
     * an array of records, without a slice per element
     *
     * @param memory       the memory holding the record
     * @param recordOffset the record's offset in it
     */
    public long get(final MemorySegment memory, final long recordOffset) {
        return (long) PLAIN.get(memory, recordOffset + offset);
    }

    /**
     * Writes the member (a plain write).
     *
     * @param record the record's memory
     * @param value  the value
     * @throws IllegalArgumentException if the memory is read-only, as a record borrowed read-only is
     */
    public void set(final MemorySegment record, final long value) {
        PLAIN.set(record, offset, value);
    }

    /**
     * Writes the member of the record at {@code recordOffset} of {@code memory} (a plain write).
     *
     * @param memory       the memory holding the record
     * @param recordOffset the record's offset in it
     * @param value        the value
     */
    public void set(final MemorySegment memory, final long recordOffset, final long value) {
        PLAIN.set(memory, recordOffset + offset, value);
    }

    /**
     * {@return the member's value, read with acquire semantics}: pairs with a writer's {@link #setRelease}
     *
     * @param record the record's memory
     */
    public long getAcquire(final MemorySegment record) {
        return (long) HANDLE.getAcquire(record, offset);
    }

    /**
     * Writes the member with release semantics: everything written before is visible to a reader that sees
     * this value through {@link #getAcquire}.
     *
     * @param record the record's memory
     * @param value  the value
     */
    public void setRelease(final MemorySegment record, final long value) {
        HANDLE.setRelease(record, offset, value);
    }

    /**
     * {@return the member's value, read as a volatile read}
     *
     * @param record the record's memory
     */
    public long getVolatile(final MemorySegment record) {
        return (long) HANDLE.getVolatile(record, offset);
    }

    /**
     * Writes the member as a volatile write.
     *
     * @param record the record's memory
     * @param value  the value
     */
    public void setVolatile(final MemorySegment record, final long value) {
        HANDLE.setVolatile(record, offset, value);
    }

    /**
     * Atomically sets the member to {@code value} if it holds {@code expected}, across processes.
     *
     * @param record   the record's memory
     * @param expected the value it must hold
     * @param value    the new value
     * @return whether it was set
     */
    public boolean compareAndSet(final MemorySegment record, final long expected, final long value) {
        return HANDLE.compareAndSet(record, offset, expected, value);
    }

    /**
     * Atomically adds to the member, across processes.
     *
     * @param record the record's memory
     * @param delta  what to add
     * @return the value before
     */
    public long getAndAdd(final MemorySegment record, final long delta) {
        return (long) HANDLE.getAndAdd(record, offset, delta);
    }
}
