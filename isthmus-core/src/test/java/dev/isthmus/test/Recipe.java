/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.test;

import java.util.Arrays;

/**
 * Reads a fuzz test's input as a recipe: unsigned bytes and little-endian integers in order, missing bytes
 * read as zero, so that every input, however short, is a complete recipe.
 */
public final class Recipe {
    private final byte[] bytes;
    private int at;

    /**
     * Reads {@code bytes} from the start.
     *
     * @param bytes the fuzzer's input
     */
    public Recipe(final byte[] bytes) {
        this.bytes = bytes;
    }

    /** {@return the next byte, unsigned} */
    public int u8() {
        return at < bytes.length ? bytes[at++] & 0xff : 0;
    }

    /** {@return the next four bytes, little-endian} */
    public int i32() {
        return u8() | u8() << 8 | u8() << 16 | u8() << 24;
    }

    /** {@return the next eight bytes, little-endian} */
    public long i64() {
        return i32() & 0xffffffffL | (long) i32() << 32;
    }

    /**
     * {@return the next {@code count} bytes, zero where the input ran out}
     *
     * @param count how many
     */
    public byte[] bytes(final int count) {
        final int from = Math.min(at, bytes.length);
        final byte[] out = Arrays.copyOf(Arrays.copyOfRange(bytes, from, Math.min(bytes.length, from + count)), count);
        at = from + count;
        return out;
    }
}
