/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.arena.ShmBlock;
import dev.isthmus.arena.ShmHandle;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A fixed-length array in shared memory, of records of a {@link StructType} or of primitive values.
 *
 * <p>Records are read in place with the type's flyweights at {@link #elementOffset(long)}, with no slice per
 * element ({@code BID.get(quotes.segment(), quotes.elementOffset(i))}), or through {@link #element(long)}. In a
 * hot loop, keep the record size in a {@code static final long} and step by it: the JIT then knows the stride,
 * hoists the bounds checks out of the loop, and a scan runs as fast as one over heap objects, or faster:
 * {@snippet :
 * static final long QUOTE_BYTES = QUOTE.byteSize();
 *
 * MemorySegment quotes = array.segment();
 * for (int i = 0; i < array.length(); i++) {
 *     sum += BID.get(quotes, i * QUOTE_BYTES);
 * }
 * }
 * Arrays of primitives have indexed accessors for their carrier ({@link #getLong}, {@link #setLong}, ...).
 * Every index is checked against {@link #length()}, which was checked against the memory when the array was
 * borrowed.
 *
 * <p>Thread safety: as {@link SharedObject}.
 */
public final class SharedArray extends SharedObject {
    private final long length;
    private final long stride;
    private final StructType elementType;
    private final ValueLayout elementLayout;

    SharedArray(final SharedData data, final ShmBlock block, final ShmHandle handle, final long typeTag,
                final MemorySegment payload, final boolean borrowed, final long length, final long stride,
                final StructType elementType, final ValueLayout elementLayout) {
        super(data, block, handle, typeTag, payload, borrowed);
        this.length = length;
        this.stride = stride;
        this.elementType = elementType;
        this.elementLayout = elementLayout;
    }

    /** {@return the number of elements} */
    public long length() {
        return length;
    }

    /** {@return the bytes per element} */
    public long elementBytes() {
        return stride;
    }

    /** {@return the elements' struct type, or null for an array of primitives} */
    public StructType elementType() {
        return elementType;
    }

    /** {@return the elements' value layout, or null for an array of records} */
    public ValueLayout elementLayout() {
        return elementLayout;
    }

    /**
     * {@return the offset of element {@code index} in {@link #segment()}}
     *
     * @param index the element
     * @throws IndexOutOfBoundsException if {@code index} is not in {@code [0, length())}
     */
    public long elementOffset(final long index) {
        return Objects.checkIndex(index, length) * stride;
    }

    /**
     * {@return a slice holding element {@code index}}
     *
     * @param index the element
     * @throws IndexOutOfBoundsException if {@code index} is not in {@code [0, length())}
     */
    public MemorySegment element(final long index) {
        return payload.asSlice(elementOffset(index), stride);
    }

    /**
     * {@return element {@code index} of an array of {@code long}}
     *
     * @param index the element
     * @throws IndexOutOfBoundsException if out of range
     * @throws IllegalStateException     if the elements are not {@code long}s
     */
    public long getLong(final long index) {
        carrier(long.class);
        return payload.getAtIndex(JAVA_LONG, index);
    }

    /**
     * Sets element {@code index} of an array of {@code long}.
     *
     * @param index the element
     * @param value the value
     * @throws IndexOutOfBoundsException     if out of range
     * @throws IllegalStateException         if the elements are not {@code long}s
     * @throws IllegalArgumentException     if the array is read-only (borrowed from a peer that lent it so)
     */
    public void setLong(final long index, final long value) {
        carrier(long.class);
        payload.setAtIndex(JAVA_LONG, index, value);
    }

    /**
     * {@return element {@code index} of an array of {@code int}}
     *
     * @param index the element
     * @throws IndexOutOfBoundsException if out of range
     * @throws IllegalStateException     if the elements are not {@code int}s
     */
    public int getInt(final long index) {
        carrier(int.class);
        return payload.getAtIndex(JAVA_INT, index);
    }

    /**
     * Sets element {@code index} of an array of {@code int}.
     *
     * @param index the element
     * @param value the value
     * @throws IndexOutOfBoundsException     if out of range
     * @throws IllegalStateException         if the elements are not {@code int}s
     * @throws IllegalArgumentException     if the array is read-only (borrowed from a peer that lent it so)
     */
    public void setInt(final long index, final int value) {
        carrier(int.class);
        payload.setAtIndex(JAVA_INT, index, value);
    }

    /**
     * {@return element {@code index} of an array of {@code double}}
     *
     * @param index the element
     * @throws IndexOutOfBoundsException if out of range
     * @throws IllegalStateException     if the elements are not {@code double}s
     */
    public double getDouble(final long index) {
        carrier(double.class);
        return payload.getAtIndex(JAVA_DOUBLE, index);
    }

    /**
     * Sets element {@code index} of an array of {@code double}.
     *
     * @param index the element
     * @param value the value
     * @throws IndexOutOfBoundsException     if out of range
     * @throws IllegalStateException         if the elements are not {@code double}s
     * @throws IllegalArgumentException     if the array is read-only (borrowed from a peer that lent it so)
     */
    public void setDouble(final long index, final double value) {
        carrier(double.class);
        payload.setAtIndex(JAVA_DOUBLE, index, value);
    }

    /**
     * {@return element {@code index} of an array of {@code byte}}
     *
     * @param index the element
     * @throws IndexOutOfBoundsException if out of range
     * @throws IllegalStateException     if the elements are not {@code byte}s
     */
    public byte getByte(final long index) {
        carrier(byte.class);
        return payload.get(JAVA_BYTE, index);
    }

    /**
     * Sets element {@code index} of an array of {@code byte}.
     *
     * @param index the element
     * @param value the value
     * @throws IndexOutOfBoundsException     if out of range
     * @throws IllegalStateException         if the elements are not {@code byte}s
     * @throws IllegalArgumentException     if the array is read-only (borrowed from a peer that lent it so)
     */
    public void setByte(final long index, final byte value) {
        carrier(byte.class);
        payload.set(JAVA_BYTE, index, value);
    }

    private void carrier(final Class<?> carrier) {
        if (elementLayout == null || elementLayout.carrier() != carrier) {
            throw new IllegalStateException("this array holds " + (elementLayout == null ? elementType.name() + " records"
                : elementLayout.carrier().getName() + "s") + ", not " + carrier.getName() + "s");
        }
    }

    @Override
    public String toString() {
        return "SharedArray[" + length + " x " + (elementType != null ? elementType.name()
            : elementLayout.carrier().getName()) + ", " + handle + (borrowed ? ", borrowed" : "") + "]";
    }
}
