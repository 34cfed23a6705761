/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.CorruptDataException;
import dev.isthmus.arena.ShmHandle;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

import static dev.isthmus.data.DataDescriptor.REF_MAGIC;
import static dev.isthmus.data.DataDescriptor.WIRE_REF_LENGTH;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * What crosses a channel, or sits in a {@link RefField}, in place of a shared object: the arena block that
 * holds it and the tag of its type.
 *
 * <p>A reference is only a claim. It is checked before anything is read through it
 * ({@link SharedData#borrowStruct} and friends, {@link SharedStruct#follow}): the block must be allocated in
 * the owner's arena with the reference's generation, its header must name the expected kind and type, and
 * its length must cover what the header says. A forged, stale or mistyped reference is a
 * {@link CorruptDataException}, never a read outside the owner's pool.
 *
 * <p>On the wire it takes {@value DataDescriptor#WIRE_REF_LENGTH} bytes ({@link #writeTo}, {@link #readFrom}):
 * put it in a blob of its own, or in a Cap'n Proto {@code Data} field.
 *
 * @param handle  the block, its generation and the object's length (header included)
 * @param typeTag the tag of the object's type ({@link StructType#typeTag()}, or an array's or a string's)
 */
public record DataRef(ShmHandle handle, long typeTag) {
    /**
     * Creates a reference.
     *
     * @throws NullPointerException if {@code handle} is null
     */
    public DataRef {
        Objects.requireNonNull(handle, "handle");
    }

    /**
     * Writes this reference, as {@value DataDescriptor#WIRE_REF_LENGTH} bytes.
     *
     * @param target where to write
     * @param at     the offset, any alignment
     */
    public void writeTo(final MemorySegment target, final long at) {
        target.set(JAVA_INT_UNALIGNED, at, REF_MAGIC);
        target.set(JAVA_INT_UNALIGNED, at + 4, 0);
        handle.writeTo(target, at + 8);
        target.set(JAVA_LONG_UNALIGNED, at + 8 + dev.isthmus.arena.ShmHandle.ENCODED_LENGTH, typeTag);
    }

    /** {@return this reference as {@value DataDescriptor#WIRE_REF_LENGTH} bytes} */
    public byte[] toBytes() {
        final byte[] bytes = new byte[WIRE_REF_LENGTH];
        writeTo(MemorySegment.ofArray(bytes), 0);
        return bytes;
    }

    /**
     * Reads a reference a peer sent. Nothing is validated but its framing: the reference is checked when
     * something is borrowed through it.
     *
     * @param source the bytes received
     * @param at     the offset, any alignment
     * @return the reference
     * @throws CorruptDataException if fewer than {@value DataDescriptor#WIRE_REF_LENGTH} bytes remain or the
     *                              magic is wrong
     */
    public static DataRef readFrom(final MemorySegment source, final long at) {
        if (at < 0 || source.byteSize() - at < WIRE_REF_LENGTH) {
            throw new CorruptDataException("a data reference needs " + WIRE_REF_LENGTH + " bytes, "
                + Math.max(0, source.byteSize() - Math.max(at, 0)) + " received");
        }
        final int magic = source.get(JAVA_INT_UNALIGNED, at);
        if (magic != REF_MAGIC) {
            throw new CorruptDataException("not a data reference: magic " + Integer.toHexString(magic) + ", expected "
                + Integer.toHexString(REF_MAGIC));
        }
        return new DataRef(ShmHandle.readFrom(source, at + 8),
            source.get(JAVA_LONG_UNALIGNED, at + 8 + ShmHandle.ENCODED_LENGTH));
    }

    /**
     * {@return a reference read from bytes a peer sent}
     *
     * @param bytes the bytes
     * @throws CorruptDataException as {@link #readFrom(MemorySegment, long)} does
     */
    public static DataRef fromBytes(final byte[] bytes) {
        return readFrom(MemorySegment.ofArray(bytes), 0);
    }
}
