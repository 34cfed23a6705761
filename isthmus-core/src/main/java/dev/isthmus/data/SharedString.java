/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.arena.ShmBlock;
import dev.isthmus.arena.ShmHandle;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * An immutable byte string in shared memory, UTF-8 by convention: written once when allocated, then read in
 * place ({@link #segment()}) or copied out ({@link #toString()}, {@link #toByteArray()}).
 *
 * <p>A peer's bytes are not trusted to be valid UTF-8: {@link #toString()} replaces malformed sequences
 * with U+FFFD, as {@link String#String(byte[], java.nio.charset.Charset)} does. Copying out allocates
 * {@link #lengthBytes()} bytes, which for a borrowed string the peer chose (up to its arena's size): check it
 * first where that matters, or read the bytes in place.
 *
 * <p>Thread safety: as {@link SharedObject}.
 */
public final class SharedString extends SharedObject {
    SharedString(final SharedData data, final ShmBlock block, final ShmHandle handle, final MemorySegment payload,
                 final boolean borrowed) {
        super(data, block, handle, DataDescriptor.STRING_TAG, payload, borrowed);
    }

    /** {@return the length in bytes} */
    public long lengthBytes() {
        return payload.byteSize();
    }

    /**
     * {@return a copy of the bytes}
     *
     * @throws IllegalStateException if the string is longer than a Java array can be
     */
    public byte[] toByteArray() {
        return payload.toArray(JAVA_BYTE);
    }

    /**
     * {@return whether the bytes equal the UTF-8 of {@code value}}
     *
     * @param value the string to compare with
     */
    public boolean contentEquals(final String value) {
        return payload.mismatch(MemorySegment.ofArray(value.getBytes(StandardCharsets.UTF_8))) == -1;
    }

    /** {@return the bytes decoded as UTF-8} */
    @Override
    public String toString() {
        return new String(toByteArray(), StandardCharsets.UTF_8);
    }
}
