/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.arena;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import static dev.isthmus.arena.ArenaDescriptor.BLOCK_HEADER_LENGTH;
import static dev.isthmus.arena.ArenaDescriptor.BLOCK_REFERENCES_OFFSET;
import static dev.isthmus.internal.MemoryAccess.getAndAddInt;

/**
 * One reference to a block of an arena, in the owner's process or a borrower's.
 *
 * <p>{@link #segment()} is the payload, read and written in place. The block stays allocated while any
 * reference to it exists, in any process: {@link #lend()} adds a reference for a peer and returns the
 * handle to send it, and {@link #close()} drops this one. When the last reference goes, the block goes
 * back to its owner for reuse, with its pages still faulted in.
 *
 * <p>Thread safety: thread-safe; {@link #close()} is idempotent. The arena (or view) holding the block may
 * be closed by another thread at any time, even during a call here: {@link #close()} and {@link #unlend()}
 * then do nothing (the arena's close freed everything), and {@link #lend()} and {@link #references()} throw
 * {@link IllegalStateException} saying so. The payload itself is then unmapped: the caller's own accesses to
 * {@link #segment()} fail with {@link IllegalStateException}, as for any closed segment.
 */
public final class ShmBlock implements AutoCloseable {
    private static final VarHandle CLOSED;

    static {
        try {
            CLOSED = MethodHandles.lookup().findVarHandle(ShmBlock.class, "closed", boolean.class);
        } catch (final ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /**
     * Where references end: the owner's arena, which decides from its own private state whether the block
     * is free again, or a peer's view, which returns the block to its owner when the last reference goes.
     * The reference count in shared memory is only a hint that a peer can forge.
     */
    interface Releaser {
        /**
         * This holder closed its reference.
         *
         * @param block         the block
         * @param lastReference whether the shared count says no reference is left
         */
        void closed(ShmBlock block, boolean lastReference);

        /** A reference added by {@link #lend()} was dropped undelivered, and it was the last. */
        void dropped(ShmBlock block);

        /**
         * Whether references are counted in the block header in shared memory, which every holder writes
         * (pools opened by name); if not (sealed pools, read-only to borrowers), the releaser counts them
         * in its own memory through {@link #lent}, {@link #unlent} and {@link #references}.
         */
        default boolean countsInSharedMemory() {
            return true;
        }

        /** A handle of the block is being lent; counted privately. */
        default void lent(final ShmBlock block) {
        }

        /** A lent handle was never delivered; counted privately. */
        default void unlent(final ShmBlock block) {
        }

        /** {@return the references the releaser counts privately} */
        default int references(final ShmBlock block) {
            return 0;
        }
    }

    private final Releaser releaser;
    private final MemorySegment pool;
    private final int poolIndex;
    private final int generation;
    private final long offset;
    private final long length;
    /** The pool as one buffer, or null: {@link #byteBuffer()} slices it. */
    private final java.nio.ByteBuffer poolBuffer;
    /** Made on first use: a borrower that reads through {@link #byteBuffer()} never needs it. */
    private MemorySegment payload;
    @SuppressWarnings("unused") // through CLOSED
    private volatile boolean closed;
    /** What {@link #closeWritten} declared written, or -1: all of {@link #length()} may have been. */
    private long writtenBytes = -1;

    ShmBlock(final Releaser releaser, final MemorySegment pool, final int poolIndex, final int generation,
             final long offset, final long length) {
        this(releaser, pool, null, poolIndex, generation, offset, length);
    }

    /**
     * @param poolBuffer {@code pool} as one buffer (its bytes as the segment's, read-only if it is), or null
     */
    ShmBlock(final Releaser releaser, final MemorySegment pool, final java.nio.ByteBuffer poolBuffer,
             final int poolIndex, final int generation, final long offset, final long length) {
        java.util.Objects.checkFromIndexSize(offset + BLOCK_HEADER_LENGTH, length, pool.byteSize());
        this.releaser = releaser;
        this.pool = pool;
        this.poolBuffer = poolBuffer;
        this.poolIndex = poolIndex;
        this.generation = generation;
        this.offset = offset;
        this.length = length;
    }

    /**
     * {@return the payload, in shared memory}: read-only if this process may only read the block (a block
     * borrowed from a sealed arena's read-only pool)
     */
    public MemorySegment segment() {
        MemorySegment segment = payload;
        if (segment == null) {
            // Racing threads make equal slices; either may be kept.
            segment = pool.asSlice(offset + BLOCK_HEADER_LENGTH, length);
            payload = segment;
        }
        return segment;
    }

    /**
     * {@return the payload as a new {@link java.nio.ByteBuffer}, big-endian as every new buffer is}: read-only if
     * {@link #segment()} is, and, like it, unusable once the arena (or view) holding the block is closed. Made
     * without a segment in between where the arena keeps its pool as one buffer (a pool of at most 2 GiB
     * borrowed from a sealed arena); otherwise {@code segment().asByteBuffer()}.
     *
     * @throws UnsupportedOperationException if the payload is larger than a buffer holds
     */
    public java.nio.ByteBuffer byteBuffer() {
        final java.nio.ByteBuffer whole = poolBuffer;
        if (whole != null && offset + BLOCK_HEADER_LENGTH + length <= whole.capacity()) {
            return whole.slice((int) (offset + BLOCK_HEADER_LENGTH), (int) length);
        }
        return segment().asByteBuffer();
    }

    /**
     * {@return the payload length}
     */
    public long length() {
        return length;
    }

    /**
     * {@return the handle of this block with its whole length; it carries no reference by itself}
     */
    public ShmHandle handle() {
        return handle(length);
    }

    /**
     * {@return the handle of this block with a shorter meaningful length}
     *
     * @param length the meaningful payload length, at most {@link #length()}
     */
    public ShmHandle handle(final long length) {
        if (length < 0 || length > this.length) {
            throw new IllegalArgumentException("length=" + length + " exceeds the block's " + this.length + " bytes");
        }
        return new ShmHandle(poolIndex, generation, offset, length);
    }

    /**
     * Adds a reference for a peer and returns the handle to send it. The peer drops that reference when
     * it closes what it borrowed; if the handle never reaches the peer, call {@link #unlend()}.
     *
     * @return the handle
     * @throws IllegalStateException if this reference is closed, or the arena (or view) holding the block
     */
    public ShmHandle lend() {
        checkOpen();
        try {
            if (releaser.countsInSharedMemory()) {
                getAndAddInt(pool, offset + BLOCK_REFERENCES_OFFSET, 1);
            } else {
                releaser.lent(this);
            }
        } catch (final IllegalStateException e) {
            throw arenaClosedUnderneath(e);
        }
        return handle();
    }

    /**
     * Drops a reference added by {@link #lend()} whose handle was never delivered.
     */
    public void unlend() {
        try {
            if (!releaser.countsInSharedMemory()) {
                releaser.unlent(this);
            } else if (pool.scope().isAlive() && getAndAddInt(pool, offset + BLOCK_REFERENCES_OFFSET, -1) == 1) {
                releaser.dropped(this);
            }
        } catch (final IllegalStateException e) {
            // Closed between the check and the count, by another thread: the arena's close freed everything.
            if (pool.scope().isAlive()) {
                throw e;
            }
        }
    }

    /**
     * {@return the number of references now, in all processes}
     *
     * @throws IllegalStateException if the arena (or view) holding the block is closed
     */
    public int references() {
        try {
            return releaser.countsInSharedMemory()
                ? dev.isthmus.internal.MemoryAccess.getIntVolatile(pool, offset + BLOCK_REFERENCES_OFFSET)
                : releaser.references(this);
        } catch (final IllegalStateException e) {
            throw arenaClosedUnderneath(e);
        }
    }

    /**
     * {@return what a call that failed with {@code failure} throws}: an exception that names this block and
     * says its arena was closed, if the FFM runtime refused the access because another thread closed the
     * arena meanwhile; {@code failure} itself otherwise.
     */
    private IllegalStateException arenaClosedUnderneath(final IllegalStateException failure) {
        if (pool.scope().isAlive()) {
            return failure;
        }
        return new IllegalStateException("block " + handle() + ": its arena (or view) was closed", failure);
    }

    /**
     * Opens this closed reference again as a new one to the same block, if it is one: for
     * {@link ArenaView#borrowAgain}, which has counted the new reference, and whose caller is its only holder.
     *
     * @return whether it named that block of that releaser, was closed, and is open again
     */
    boolean reopen(final Releaser by, final MemorySegment pool, final int poolIndex, final int generation,
                   final long offset, final long length) {
        return releaser == by && this.pool == pool && this.poolIndex == poolIndex && this.generation == generation
            && this.offset == offset && this.length == length
            // release (CAS): pairs with the next close()'s CAS, on whichever thread closes it.
            && CLOSED.compareAndSet(this, true, false);
    }

    int poolIndex() {
        return poolIndex;
    }

    int generation() {
        return generation;
    }

    long offset() {
        return offset;
    }

    MemorySegment pool() {
        return pool;
    }

    /**
     * {@return whether this reference is still held}
     */
    public boolean isOpen() {
        return !closed;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("block " + handle() + " is closed");
        }
    }

    /**
     * Drops this reference; the last one returns the block to its owner. Idempotent; does nothing once the
     * arena (or view) holding the block is closed, since that freed everything.
     */
    @Override
    public void close() {
        if (CLOSED.compareAndSet(this, false, true) && pool.scope().isAlive()) {
            try {
                releaser.closed(this, releaser.countsInSharedMemory()
                    && getAndAddInt(pool, offset + BLOCK_REFERENCES_OFFSET, -1) == 1);
            } catch (final IllegalStateException e) {
                // Closed between the check and the count (or the return to the owner), by another thread: the
                // arena's close freed everything, as if it had come first.
                if (pool.scope().isAlive()) {
                    throw e;
                }
            }
        }
    }

    /**
     * Drops this reference as {@link #close()} does, telling the block's owner that since the block was allocated
     * nothing was written to its payload beyond the first {@code bytes}: a later {@link ShmArena#allocateZeroed}
     * of the same block then clears only those, not the whole length asked for (a Cap'n Proto message of a few
     * hundred bytes in an 8 KiB block clears a few lines, not 128). Only the owner's reference of a block of a
     * sealed arena's read-only pool, which no other process can write, uses it, and only if the block was
     * allocated zeroed or fresh (one from {@link ShmArena#allocate} may hold an earlier holder's bytes, which this
     * holder cannot vouch for); for any other block, and if {@code bytes} is beyond {@link #length()}, this is
     * {@link #close()}. Writing beyond {@code bytes} before, or through a view of the payload kept after this
     * call, leaves bytes that a later zeroed allocation may hand out as they are.
     *
     * @param bytes how many payload bytes, from the first, may have been written; at least 0
     * @throws IllegalArgumentException if {@code bytes} is negative
     */
    public void closeWritten(final long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("bytes=" + bytes + " must be >= 0");
        }
        if (bytes < length) {
            // Plain write, read by the releaser in close() on this thread.
            writtenBytes = bytes;
        }
        close();
    }

    /** {@return the payload bytes that may have been written: what {@link #closeWritten} declared, else the length} */
    long writtenBytes() {
        return writtenBytes < 0 ? length : writtenBytes;
    }

    @Override
    public String toString() {
        return "ShmBlock{pool=" + poolIndex + ", offset=" + offset + ", generation=" + generation + ", length="
            + length + "}";
    }
}
