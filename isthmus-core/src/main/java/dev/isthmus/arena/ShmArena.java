/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.arena;

import dev.isthmus.CorruptDataException;
import dev.isthmus.internal.linux.Mmap;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.isthmus.arena.ArenaDescriptor.BLOCK_GENERATION_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.BLOCK_HEADER_LENGTH;
import static dev.isthmus.arena.ArenaDescriptor.BLOCK_MAGIC;
import static dev.isthmus.arena.ArenaDescriptor.BLOCK_MAGIC_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.BLOCK_NEXT_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.BLOCK_REFERENCES_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.BLOCK_SIZE_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.BLOCK_STATE_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.FIRST_BLOCK_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.GROUP_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.MIN_BLOCK_SIZE;
import static dev.isthmus.arena.ArenaDescriptor.OWNER_PID_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.OWNER_START_TIME_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.POOL_INDEX_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.POOL_LENGTH_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.POOL_MAGIC;
import static dev.isthmus.arena.ArenaDescriptor.POOL_MAGIC_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.RETURN_HEAD_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.STATE_ALLOCATED;
import static dev.isthmus.arena.ArenaDescriptor.STATE_FREE;
import static dev.isthmus.arena.ArenaDescriptor.VERSION;
import static dev.isthmus.arena.ArenaDescriptor.VERSION_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.blockSizeFor;
import static dev.isthmus.internal.MemoryAccess.getAndAddInt;
import static dev.isthmus.internal.MemoryAccess.getIntVolatile;
import static dev.isthmus.internal.MemoryAccess.getLongAcquire;
import static dev.isthmus.internal.MemoryAccess.putLongRelease;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * An allocator inside shared memory, owned by one process: the blocks of zero-copy messages and of any
 * other data lent to peers.
 *
 * <p>The arena allocates only from pools it created itself, so no lock is shared with another process.
 * Blocks are powers of two (256 bytes and up), kept in per-size free lists and reused with their pages
 * already faulted in; a peer that {@linkplain ArenaView#borrow borrows} a block holds a reference counted
 * in shared memory and, when it drops the last one, pushes the block on its pool's return stack, which the
 * owner drains on its next allocation. Closing the arena removes every pool, whatever peers still hold:
 * their mappings stay valid until they close them, and nothing remains in {@code /dev/shm}.
 *
 * {@snippet :
 * try (ShmArena arena = ShmArena.create("cacheSrv", "s1", 1L, ArenaOptions.defaults());
 *      ShmBlock block = arena.allocate(1 << 20)) {
 *     block.segment().fill((byte) 7);
 *     ShmHandle handle = block.lend();       // send the handle; the peer calls ArenaView.borrow(handle)
 * }
 * }
 *
 * <p>Thread safety: thread-safe.
 */
public final class ShmArena implements AutoCloseable, ShmBlock.Releaser {
    private static final int CLASSES = 64;

    private final String app;
    private final String group;
    private final long groupTag;
    private final ArenaOptions options;
    private final ProcessIdentity owner = ProcessIdentity.current();
    private final List<Pool> pools = new ArrayList<>();
    /** Per size class (log2 of the block size), a stack of free blocks encoded by {@link #encode}. */
    private final long[][] free = new long[CLASSES][];
    private final int[] freeCount = new int[CLASSES];
    private Pool bumpPool;
    private long allocatedBytes;
    private boolean unlinked;
    private boolean closed;

    private static final class Pool {
        final int index;
        final SharedMemory memory;
        final MemorySegment segment;
        long bump = FIRST_BLOCK_OFFSET;

        Pool(final int index, final SharedMemory memory) {
            this.index = index;
            this.memory = memory;
            this.segment = memory.segment();
        }
    }

    private ShmArena(final String app, final String group, final long groupTag, final ArenaOptions options) {
        this.app = app;
        this.group = group;
        this.groupTag = groupTag;
        this.options = options;
    }

    /**
     * Creates an empty arena; pools are created as blocks are allocated.
     *
     * @param app      the owning application, for pool names
     * @param group    the session (or other scope) the arena belongs to, for pool names, e.g. {@code s3c1}
     * @param groupTag the same scope as a number, stored in every pool so that borrowers can tell pools of
     *                 another scope
     * @param options  pool size, permissions, pre-faulting
     * @return the arena
     */
    public static ShmArena create(final String app, final String group, final long groupTag, final ArenaOptions options) {
        poolName(app, ProcessHandle.current().pid(), group, 0);
        return new ShmArena(app, group, groupTag, options);
    }

    static ResourceName poolName(final String app, final long pid, final String group, final int index) {
        return new ResourceName(ResourceName.configuredPrefix(), app, pid, "arena", group + "-p" + index);
    }

    /**
     * Allocates a block with a payload of at least {@code length} bytes; the caller holds its one reference.
     * The payload's content is unspecified (zero for fresh memory, the previous content for reused blocks).
     *
     * @param length the payload length, at least 0
     * @return the block
     * @throws IllegalArgumentException if {@code length} is negative or beyond {@link SharedMemory#MAX_LENGTH_BYTES}
     * @throws IllegalStateException    if the arena is closed
     */
    public synchronized ShmBlock allocate(final long length) {
        if (closed) {
            throw new IllegalStateException("arena " + group + " is closed");
        }
        if (length < 0 || length > SharedMemory.MAX_LENGTH_BYTES / 2) {
            throw new IllegalArgumentException("length=" + length + " is not a possible block length");
        }
        drainReturns();
        final long size = blockSizeFor(length);
        final int sizeClass = Long.numberOfTrailingZeros(size);
        final Pool pool;
        final long offset;
        if (freeCount[sizeClass] > 0) {
            final long encoded = free[sizeClass][--freeCount[sizeClass]];
            pool = pools.get((int) (encoded >>> 48));
            offset = encoded & (1L << 48) - 1;
        } else {
            pool = poolWithRoom(size);
            offset = alignUp(pool.bump, Math.min(size, Mmap.pageSize()));
            pool.bump = offset + size;
            pool.segment.set(JAVA_INT, offset + BLOCK_GENERATION_OFFSET, 1);
            pool.segment.set(JAVA_LONG, offset + BLOCK_SIZE_OFFSET, size);
            pool.segment.set(JAVA_INT, offset + BLOCK_MAGIC_OFFSET, BLOCK_MAGIC);
            if (options.prefault()) {
                final long start = alignUp(offset, Mmap.pageSize());
                final long end = offset + size & -Mmap.pageSize();
                if (end > start) {
                    pool.memory.prefault(start, end - start);
                }
            }
        }
        final MemorySegment segment = pool.segment;
        segment.set(JAVA_INT, offset + BLOCK_REFERENCES_OFFSET, 1);
        segment.set(JAVA_LONG, offset + BLOCK_NEXT_OFFSET, 0);
        segment.set(JAVA_INT, offset + BLOCK_STATE_OFFSET, STATE_ALLOCATED);
        allocatedBytes += size;
        return new ShmBlock(this, segment, pool.index, segment.get(JAVA_INT, offset + BLOCK_GENERATION_OFFSET), offset,
            length);
    }

    private Pool poolWithRoom(final long size) {
        final Pool current = bumpPool;
        if (current != null && alignUp(current.bump, Math.min(size, Mmap.pageSize())) + size <= current.segment.byteSize()) {
            return current;
        }
        final long poolLength = Math.max(options.poolBytes(), FIRST_BLOCK_OFFSET + size);
        final int index = pools.size();
        final SharedMemory memory = SharedMemory.builder(poolName(app, owner.pid(), group, index))
            .lengthBytes(poolLength)
            .permissions(options.permissions())
            .directory(options.directory())
            .tag(groupTag)
            .create();
        final MemorySegment header = memory.segment();
        header.set(JAVA_INT, VERSION_OFFSET, VERSION);
        header.set(JAVA_INT, POOL_INDEX_OFFSET, index);
        header.set(JAVA_INT, OWNER_PID_OFFSET, (int) owner.pid());
        header.set(JAVA_LONG, OWNER_START_TIME_OFFSET, owner.startTimeTicks());
        header.set(JAVA_LONG, GROUP_OFFSET, groupTag);
        header.set(JAVA_LONG, POOL_LENGTH_OFFSET, poolLength);
        // release: publishes the pool header; pairs with ArenaView's getLongAcquire(POOL_MAGIC).
        putLongRelease(header, POOL_MAGIC_OFFSET, POOL_MAGIC);
        final Pool pool = new Pool(index, memory);
        pools.add(pool);
        if (unlinked) {
            memory.unlink();
        }
        // A pool made for one huge block is not worth bumping into afterwards.
        if (poolLength == options.poolBytes() || bumpPool == null) {
            bumpPool = pool;
        }
        return pool;
    }

    /** A reference dropped in this process was the last: free the block now. */
    @Override
    public synchronized void release(final ShmBlock block) {
        if (!closed) {
            free(pools.get(block.poolIndex()), block.offset());
        }
    }

    private void free(final Pool pool, final long offset) {
        final MemorySegment segment = pool.segment;
        final long size = segment.get(JAVA_LONG, offset + BLOCK_SIZE_OFFSET);
        segment.set(JAVA_INT, offset + BLOCK_STATE_OFFSET, STATE_FREE);
        segment.set(JAVA_INT, offset + BLOCK_GENERATION_OFFSET, segment.get(JAVA_INT, offset + BLOCK_GENERATION_OFFSET) + 1);
        final int sizeClass = Long.numberOfTrailingZeros(size);
        long[] stack = free[sizeClass];
        if (stack == null || freeCount[sizeClass] == stack.length) {
            stack = free[sizeClass] = stack == null ? new long[16] : Arrays.copyOf(stack, stack.length * 2);
        }
        stack[freeCount[sizeClass]++] = encode(pool.index, offset);
        allocatedBytes -= size;
    }

    /** Takes back the blocks borrowers returned, checking each before trusting it. */
    private void drainReturns() {
        for (final Pool pool : pools) {
            final MemorySegment segment = pool.segment;
            // acquire (a volatile exchange): pairs with the borrowers' compare-and-set that pushed each block
            // after writing its link.
            if (getLongAcquire(segment, RETURN_HEAD_OFFSET) == 0) {
                continue;
            }
            long offset = dev.isthmus.internal.MemoryAccess.getAndSetLong(segment, RETURN_HEAD_OFFSET, 0L);
            int guard = 0;
            while (offset != 0) {
                if (!isBlock(pool, offset) || getIntVolatile(segment, offset + BLOCK_REFERENCES_OFFSET) != 0
                    || segment.get(JAVA_INT, offset + BLOCK_STATE_OFFSET) != STATE_ALLOCATED || ++guard > 1 << 24) {
                    throw new CorruptDataException("arena pool " + pool.memory.path() + ": the return stack holds "
                        + "an impossible block at offset " + offset);
                }
                final long next = segment.get(JAVA_LONG, offset + BLOCK_NEXT_OFFSET);
                free(pool, offset);
                offset = next;
            }
        }
    }

    private static boolean isBlock(final Pool pool, final long offset) {
        final MemorySegment segment = pool.segment;
        if (offset < FIRST_BLOCK_OFFSET || (offset & MIN_BLOCK_SIZE - 1) != 0 || offset + BLOCK_HEADER_LENGTH > pool.bump) {
            return false;
        }
        final long size = segment.get(JAVA_LONG, offset + BLOCK_SIZE_OFFSET);
        return segment.get(JAVA_INT, offset + BLOCK_MAGIC_OFFSET) == BLOCK_MAGIC && Long.bitCount(size) == 1
            && size >= MIN_BLOCK_SIZE && offset + size <= pool.bump;
    }

    /**
     * {@return the bytes in blocks allocated and not yet returned}
     */
    public synchronized long allocatedBytes() {
        drainReturns();
        return allocatedBytes;
    }

    /**
     * {@return how many pools the arena has created}
     */
    public synchronized int poolCount() {
        return pools.size();
    }

    /**
     * {@return the group (session) the arena belongs to}
     */
    public String group() {
        return group;
    }

    /**
     * {@return the group as stored in the pools}
     */
    public long groupTag() {
        return groupTag;
    }

    /**
     * {@return the owning application}
     */
    public String app() {
        return app;
    }

    /**
     * Removes every pool's name, keeping the mappings: nobody can open the pools any more, and nothing
     * remains in the segment directory once this process unmaps them. Idempotent.
     */
    public synchronized void unlink() {
        for (final Pool pool : pools) {
            pool.memory.unlink();
        }
        unlinked = true;
    }

    /**
     * Removes and unmaps every pool. Blocks still referenced here become unusable; peers keep their
     * mappings until they close them. Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (final Pool pool : pools) {
            pool.memory.unlink();
            pool.memory.close();
        }
    }

    private static long encode(final int pool, final long offset) {
        return (long) pool << 48 | offset;
    }

    private static long alignUp(final long value, final long alignment) {
        return value + alignment - 1 & -alignment;
    }
}
