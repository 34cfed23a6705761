/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.arena.ArenaDescriptor;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.arena.ShmBlock;
import org.capnproto.Allocator;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Places a message's segments in blocks of a {@link ShmArena}: segment {@code i} of the message is block
 * {@code i} of {@link #blocks()}, because the builder asks for segments one at a time, in order.
 *
 * <p>Sizes follow Cap'n Proto's growth heuristic, fitted to the arena: each segment is a whole block (a power
 * of two, minus the block header), the first one 8 KiB, each next one twice the last, up to
 * {@code maxBlockBytes}. An object larger than that gets a segment of its own, as large as it needs (the
 * format requires every object to lie in one segment), at most what one {@link ByteBuffer} can hold.
 *
 * <p>Not thread-safe: used by the one thread that builds the message.
 */
final class ArenaSegmentAllocator implements Allocator {
    /** The first segment's block. */
    static final long FIRST_BLOCK_BYTES = 8 << 10;
    /** The largest segment length a {@link ByteBuffer} can have, in whole words. */
    static final long MAX_BUFFER_BYTES = (long) CapnpDescriptor.MAX_SEGMENT_WORDS * CapnpDescriptor.BYTES_PER_WORD;

    private final ShmArena arena;
    private final long maxBlockBytes;
    private final List<ShmBlock> blocks = new ArrayList<>();
    private long nextBlockBytes = FIRST_BLOCK_BYTES;
    /** The first segment's exact length, or 0 for the usual whole block. */
    private long firstSegmentBytes;

    ArenaSegmentAllocator(final ShmArena arena, final long maxBlockBytes) {
        this.arena = arena;
        this.maxBlockBytes = maxBlockBytes;
    }

    /**
     * Sets the first segment's block size, instead of {@link #FIRST_BLOCK_BYTES}; may exceed the usual
     * maximum, up to what a {@link ByteBuffer} holds.
     *
     * @param bytes a power of two
     */
    void firstBlockBytes(final long bytes) {
        if (blocks.isEmpty()) {
            nextBlockBytes = bytes;
        }
    }

    /**
     * Sets the first segment's length exactly (a whole number of words), in a block rounded up to hold it;
     * the block's pages beyond it are never touched for this message.
     *
     * @param bytes the first segment's length, a multiple of 8 and at most {@link #MAX_BUFFER_BYTES}
     */
    void firstSegmentBytes(final long bytes) {
        if (blocks.isEmpty()) {
            firstSegmentBytes = bytes;
        }
    }

    @Override
    public ByteBuffer allocateSegment(final int minimumSize) {
        final long length;
        final long blockBytes;
        if (blocks.isEmpty() && firstSegmentBytes >= minimumSize) {
            length = firstSegmentBytes;
            blockBytes = FIRST_BLOCK_BYTES;
        } else {
            blockBytes = Math.max(nextBlockBytes, ArenaDescriptor.blockSizeFor(minimumSize));
            length = Math.min(blockBytes - ArenaDescriptor.BLOCK_HEADER_LENGTH, MAX_BUFFER_BYTES);
        }
        // Cap'n Proto requires zeroed segments: a reused block is cleared, fresh memory is zero already.
        final ShmBlock block = arena.allocateZeroed(length);
        blocks.add(block);
        nextBlockBytes = Math.min(maxBlockBytes, Math.max(nextBlockBytes, blockBytes * 2));
        return block.segment().asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * {@return the blocks, one per segment, in segment order}
     */
    List<ShmBlock> blocks() {
        return blocks;
    }
}
