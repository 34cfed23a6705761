/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * A {@code byte} member of a {@link StructType}, read and written in place: a flyweight holding the member's
 * offset, made once by {@link StructType#byteField} and kept, ideally in a {@code static final}
 * field, where the JIT treats the offset as a constant.
 *
 * <p>Plain accesses only (a byte is never torn, but has no atomic read-modify-write across processes). Every access is bounds-checked against the segment given, so a record of a peer's memory, sliced
 * to the length that was validated when it was borrowed, can never be read or written beyond.
 *
 * <p>Thread safety: immutable; the memory-ordering of each access is in its name.
 *
 * @param offset the member's offset within its record
 */
public record ByteField(long offset) {
    private static final VarHandle HANDLE = ValueLayout.JAVA_BYTE.varHandle();

    /**
     * {@return the member's value (a plain read)}
     *
     * @param record the record's memory
     */
    public byte get(final MemorySegment record) {
        return (byte) HANDLE.get(record, offset);
    }

    /**
     * {@return the member's value in the record at {@code recordOffset} of {@code memory} (a plain read)}: for
     * an array of records, without a slice per element
     *
     * @param memory       the memory holding the record
     * @param recordOffset the record's offset in it
     */
    public byte get(final MemorySegment memory, final long recordOffset) {
        return (byte) HANDLE.get(memory, recordOffset + offset);
    }

    /**
     * Writes the member (a plain write).
     *
     * @param record the record's memory
     * @param value  the value
     * @throws IllegalArgumentException if the memory is read-only, as a record borrowed read-only is
     */
    public void set(final MemorySegment record, final byte value) {
        HANDLE.set(record, offset, value);
    }

    /**
     * Writes the member of the record at {@code recordOffset} of {@code memory} (a plain write).
     *
     * @param memory       the memory holding the record
     * @param recordOffset the record's offset in it
     * @param value        the value
     */
    public void set(final MemorySegment memory, final long recordOffset, final byte value) {
        HANDLE.set(memory, recordOffset + offset, value);
    }
}
