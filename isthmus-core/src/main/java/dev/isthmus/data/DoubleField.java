/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * A {@code double} member of a {@link StructType}, read and written in place: a flyweight holding the member's
 * offset, made once by {@link StructType#doubleField} and kept, ideally in a {@code static final}
 * field, where the JIT treats the offset as a constant.
 *
 * <p>Plain accesses only (a double is never torn, but has no atomic read-modify-write across processes). Every access is bounds-checked against the segment given, so a record of a peer's memory, sliced
 * to the length that was validated when it was borrowed, can never be read or written beyond.
 *
 * <p>Thread safety: immutable; the memory-ordering of each access is in its name.
 *
 * @param offset the member's offset within its record
 */
public record DoubleField(long offset) {
    private static final VarHandle HANDLE = ValueLayout.JAVA_DOUBLE.varHandle();
    /**
     * Plain accesses skip the alignment check: a {@link StructType} places every member at its natural
     * alignment, so it always holds, and without the check a loop over an array of records is as fast as
     * over heap objects. An aligned plain access is never torn.
     */
    private static final VarHandle PLAIN = ValueLayout.JAVA_DOUBLE_UNALIGNED.varHandle();

    /**
     * {@return the member's value (a plain read)}
     *
     * @param record the record's memory
     */
    public double get(final MemorySegment record) {
        return (double) PLAIN.get(record, offset);
    }

    /**
     * {@return the member's value in the record at {@code recordOffset} of {@code memory} (a plain read)}: for
     * an array of records, without a slice per element
     *
     * @param memory       the memory holding the record
     * @param recordOffset the record's offset in it
     */
    public double get(final MemorySegment memory, final long recordOffset) {
        return (double) PLAIN.get(memory, recordOffset + offset);
    }

    /**
     * Writes the member (a plain write).
     *
     * @param record the record's memory
     * @param value  the value
     * @throws IllegalArgumentException if the memory is read-only, as a record borrowed read-only is
     */
    public void set(final MemorySegment record, final double value) {
        PLAIN.set(record, offset, value);
    }

    /**
     * Writes the member of the record at {@code recordOffset} of {@code memory} (a plain write).
     *
     * @param memory       the memory holding the record
     * @param recordOffset the record's offset in it
     * @param value        the value
     */
    public void set(final MemorySegment memory, final long recordOffset, final double value) {
        PLAIN.set(memory, recordOffset + offset, value);
    }
}
