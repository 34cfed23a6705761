/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.arena.ShmHandle;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;

import static dev.isthmus.data.DataDescriptor.REF_BLOCK_OFFSET;
import static dev.isthmus.data.DataDescriptor.REF_GENERATION_OFFSET;
import static dev.isthmus.data.DataDescriptor.REF_LENGTH_OFFSET;
import static dev.isthmus.data.DataDescriptor.REF_POOL_OFFSET;
import static dev.isthmus.data.DataDescriptor.REF_TYPE_TAG_OFFSET;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A reference member of a {@link StructType}: a record's pointer to another shared object of the same
 * arena (a record, an array, a string), stored as an arena-relative {@link DataRef} and checked every time it
 * is followed ({@link SharedStruct#follow}).
 *
 * <p>Declare the member with {@link #LAYOUT}, named: {@code RefField.LAYOUT.withName("name")}; get the
 * flyweight with {@link StructType#refField}. A reference whose offset is zero is null.
 *
 * <p>Thread safety: immutable. Writing a reference is four plain stores: publish the record that holds it
 * (lend it, or a release store of a flag) after writing it.
 *
 * @param offset the member's offset within its record
 */
public record RefField(long offset) {
    /** The layout of a reference member: 32 bytes, 8-byte aligned. */
    public static final StructLayout LAYOUT = MemoryLayout.structLayout(
        JAVA_INT.withName("pool"),
        JAVA_INT.withName("generation"),
        JAVA_LONG.withName("offset"),
        JAVA_LONG.withName("length"),
        JAVA_LONG.withName("typeTag")).withName("ref");

    static boolean isRefLayout(final StructLayout layout) {
        return layout.withoutName().equals(LAYOUT.withoutName());
    }

    /**
     * {@return the reference stored in the record, or null if it is null (not validated: it is checked when followed)}
     *
     * @param record the record's memory
     */
    public DataRef get(final MemorySegment record) {
        return get(record, 0);
    }

    /**
     * {@return the reference stored in the record at {@code base} in {@code memory}, as
     * {@link #get(MemorySegment)} returns it}
     */
    DataRef get(final MemorySegment memory, final long base) {
        final long at = base + offset;
        final long block = memory.get(JAVA_LONG, at + REF_BLOCK_OFFSET);
        if (block == 0) {
            return null;
        }
        return new DataRef(new ShmHandle(memory.get(JAVA_INT, at + REF_POOL_OFFSET),
            memory.get(JAVA_INT, at + REF_GENERATION_OFFSET), block,
            memory.get(JAVA_LONG, at + REF_LENGTH_OFFSET)), memory.get(JAVA_LONG, at + REF_TYPE_TAG_OFFSET));
    }

    /**
     * {@return whether the reference is null}
     *
     * @param record the record's memory
     */
    public boolean isNull(final MemorySegment record) {
        return record.get(JAVA_LONG, offset + REF_BLOCK_OFFSET) == 0;
    }

    /**
     * Stores a reference, or clears it.
     *
     * @param record the record's memory
     * @param ref    the reference, or null
     */
    public void set(final MemorySegment record, final DataRef ref) {
        set(record, 0, ref);
    }

    /** Stores a reference, or clears it, in the record at {@code base} in {@code memory}, without a slice. */
    void set(final MemorySegment memory, final long base, final DataRef ref) {
        final long at = base + offset;
        if (ref == null) {
            memory.asSlice(at, DataDescriptor.REF_LENGTH).fill((byte) 0);
            return;
        }
        memory.set(JAVA_INT, at + REF_POOL_OFFSET, ref.handle().pool());
        memory.set(JAVA_INT, at + REF_GENERATION_OFFSET, ref.handle().generation());
        memory.set(JAVA_LONG, at + REF_LENGTH_OFFSET, ref.handle().length());
        memory.set(JAVA_LONG, at + REF_TYPE_TAG_OFFSET, ref.typeTag());
        memory.set(JAVA_LONG, at + REF_BLOCK_OFFSET, ref.handle().offset());
    }
}
