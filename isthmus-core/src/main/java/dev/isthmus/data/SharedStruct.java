/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.CorruptDataException;
import dev.isthmus.arena.ShmBlock;
import dev.isthmus.arena.ShmHandle;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A record of a {@link StructType} in shared memory, read and written in place through the type's field
 * flyweights, or copied to and from a Java {@code record} with a {@link RecordMapper}.
 *
 * {@snippet :
 * try (SharedStruct quote = data.allocate(QUOTE)) {
 *     BID.set(quote.segment(), 101_25L);
 *     data.lend(quote, channel.blobs(), timeoutNs);     // the peer calls data.borrowStruct(ref, QUOTE)
 * }
 * }
 *
 * <p>Thread safety: as {@link SharedObject}.
 */
public final class SharedStruct extends SharedObject {
    private final StructType type;

    SharedStruct(final SharedData data, final ShmBlock block, final ShmHandle handle, final StructType type,
                 final MemorySegment payload, final boolean borrowed) {
        super(data, block, handle, type.typeTag(), payload, borrowed);
        this.type = type;
    }

    /** {@return the record's type} */
    public StructType type() {
        return type;
    }

    /**
     * {@return the record this one refers to through {@code field}, checked, or null if the reference is null}
     *
     * @param field the reference member
     * @param type  the type the referred record must have
     * @throws CorruptDataException if the reference names no allocated block of the owner's arena, a freed one,
     *                              or an object of another kind or type
     */
    public SharedStruct follow(final RefField field, final StructType type) {
        final DataRef ref = field.get(payload);
        return ref == null ? null : data.followStruct(this, ref, type);
    }

    /**
     * {@return the array of records this one refers to through {@code field}, checked, or null if the reference is null}
     *
     * @param field   the reference member
     * @param element the type of the array's elements
     * @throws CorruptDataException as {@link #follow} does
     */
    public SharedArray followArray(final RefField field, final StructType element) {
        final DataRef ref = field.get(payload);
        return ref == null ? null : data.followArray(this, ref, DataDescriptor.arrayTag(element.typeTag()),
            element.byteSize(), null, element);
    }

    /**
     * {@return the array of primitive values this one refers to through {@code field}, checked, or null}
     *
     * @param field   the reference member
     * @param element the values' layout, e.g. {@link ValueLayout#JAVA_LONG}
     * @throws CorruptDataException as {@link #follow} does
     */
    public SharedArray followArray(final RefField field, final ValueLayout element) {
        final DataRef ref = field.get(payload);
        return ref == null ? null : data.followArray(this, ref, DataDescriptor.arrayTag(element), element.byteSize(),
            element, null);
    }

    /**
     * {@return the string this record refers to through {@code field}, checked, or null if the reference is null}
     *
     * @param field the reference member
     * @throws CorruptDataException as {@link #follow} does
     */
    public SharedString followString(final RefField field) {
        final DataRef ref = field.get(payload);
        return ref == null ? null : data.followString(this, ref);
    }

    /**
     * Makes {@code field} refer to {@code target}, or clears it. A reference names an object of the arena the
     * record lives in: in a record this process allocated, an object it allocated too; in a record it borrowed
     * writable ({@link PeerAccess#READ_WRITE}), an object borrowed from (or reached in) the same peer's arena.
     *
     * @param field  the reference member
     * @param target an object of the same arena as this record, through the same {@link SharedData}, or null
     * @throws IllegalArgumentException if the target is of another arena than this record, or this record is
     *                                  read-only (borrowed from a peer that lent it so)
     */
    public void set(final RefField field, final SharedObject target) {
        if (target != null && (target.borrowed != borrowed || target.data != data)) {
            throw new IllegalArgumentException("a reference can only point at an object of the arena its record lives"
                + " in: " + (target.data != data ? "the target is of another SharedData"
                : borrowed ? "this record is the peer's and the target is this process's own"
                : "this record is this process's own and the target is the peer's"));
        }
        field.set(payload, target == null ? null : target.ref());
    }

    @Override
    public String toString() {
        return "SharedStruct[" + type.name() + ", " + handle + (borrowed ? ", borrowed" : "") + "]";
    }
}
