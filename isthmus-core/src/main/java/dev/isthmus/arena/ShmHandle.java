/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.arena;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * What crosses a channel instead of the bytes of a block: which pool of the sender's arena, which block
 * (offset and generation), and how many payload bytes are meaningful.
 *
 * <p>A handle is only a claim: the receiver checks it against the pool before reading anything
 * ({@link ArenaView#borrow}), so a stale or forged handle is rejected, never followed out of bounds.
 *
 * @param pool       the pool index in the owner's arena
 * @param generation the block's generation when it was lent
 * @param offset     the block's offset in the pool's data part
 * @param length     the meaningful payload length
 */
public record ShmHandle(int pool, int generation, long offset, long length) {
    /** The encoded length of a handle. */
    public static final int ENCODED_LENGTH = 24;

    /**
     * Writes this handle.
     *
     * @param target where to write
     * @param at     the offset, any alignment
     */
    public void writeTo(final MemorySegment target, final long at) {
        target.set(JAVA_INT_UNALIGNED, at, pool);
        target.set(JAVA_INT_UNALIGNED, at + 4, generation);
        target.set(JAVA_LONG_UNALIGNED, at + 8, offset);
        target.set(JAVA_LONG_UNALIGNED, at + 16, length);
    }

    /**
     * {@return a handle read from memory (not validated: see {@link ArenaView#borrow})}
     *
     * @param source where to read
     * @param at     the offset, any alignment
     */
    public static ShmHandle readFrom(final MemorySegment source, final long at) {
        return new ShmHandle(source.get(JAVA_INT_UNALIGNED, at), source.get(JAVA_INT_UNALIGNED, at + 4),
            source.get(JAVA_LONG_UNALIGNED, at + 8), source.get(JAVA_LONG_UNALIGNED, at + 16));
    }
}
