/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.arena;

import dev.isthmus.internal.LongLongMap;
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
import static dev.isthmus.arena.ArenaDescriptor.RETURNS_CONSUMED_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.RETURN_HEAD_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.RING_CAPACITY;
import static dev.isthmus.arena.ArenaDescriptor.RING_ENTRIES_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.RING_PUBLISHED_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.STATE_ALLOCATED;
import static dev.isthmus.arena.ArenaDescriptor.STATE_FREE;
import static dev.isthmus.arena.ArenaDescriptor.VERSION;
import static dev.isthmus.arena.ArenaDescriptor.VERSION_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.blockSizeFor;
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
 * <p>The arena trusts its peers with nothing. Each block's size class, generation and state live in this
 * process's memory; the block headers and reference counts in the pool are written for borrowers and never
 * read back, except the count, as a hint of when a peer let go. A peer that forges a size, a count, a state
 * or a return can at worst make the owner keep a block until the arena closes (counted in
 * {@link #refusedReturns()}), or reuse a block that the same lying peer still reads; it can never make the
 * arena hand out memory this process still holds, free a block twice, or fail. The same holds for the
 * peer-writable pool of a sealed arena ({@link #allocatePeerWritable}), where the peer may rewrite every
 * header, its pool's included, at any moment.
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
    /** Sealed arenas allocate in two spaces: the pool the peer maps read-only, and the one it maps read-write. */
    private static final int SPACES = 2;
    /** A sealed arena's pool the peer maps read-only. */
    static final int READ_ONLY_POOL = 0;
    /** A sealed arena's pool the peer maps read-write ({@link #allocatePeerWritable}). */
    static final int WRITABLE_POOL = 1;
    /** {@link #meta} state bit: allocated, not free. */
    private static final long ALLOCATED = 1;
    /** {@link #meta} state bit: this process still holds its own reference (the {@link ShmBlock} is open). */
    private static final long OWNER_HELD = 2;
    /** {@link #meta} state bit: the peer returned the block while this process still held it. */
    private static final long RETURNED = 4;
    /** {@link #meta}: one lent reference (sealed arenas count them here), in bits 16 to 31. */
    private static final long LEND = 1L << 16;
    private static final int MAX_LENDS = 0xffff;

    private final String app;
    private final String group;
    private final long groupTag;
    private final ArenaOptions options;
    private final ProcessIdentity owner = ProcessIdentity.current();
    private final List<Pool> pools = new ArrayList<>();
    /**
     * Per space and size class (index {@code space * CLASSES + log2 of the block size}), a stack of free blocks
     * encoded by {@link #encode}: a block freed in the peer-writable pool is reused only there.
     */
    private final long[][] free = new long[SPACES * CLASSES][];
    private final int[] freeCount = new int[SPACES * CLASSES];
    /**
     * The truth about every block this arena ever carved, by {@link #encode}d position, in this process's
     * memory where no peer can write: generation, size class and state ({@link #meta}). What the block header
     * in shared memory says is written for borrowers to check and never read back.
     */
    private final LongLongMap blocks = new LongLongMap(256);
    /**
     * Sealed, read-only pool: per block position, how many of its payload's first bytes may not be zero (beyond
     * them it is zero: fresh from the kernel, or cleared, and written by no one since), shifted left by one, with
     * {@link #DECLARABLE} set if the block was handed out all zero (fresh or zeroed). Only this process writes
     * that pool, and a holder can write only the length it was given; a holder of a block handed out all zero
     * may declare it wrote less ({@link ShmBlock#closeWritten}); so a zeroed allocation clears only these bytes.
     * (A block handed out as it was keeps its earlier holders' bytes, which no declaration of its new holder can
     * vouch for.) Missing: the whole payload.
     */
    private final LongLongMap dirty = new LongLongMap(256);
    /** {@link #dirty}: the holder's declaration may lower the count. */
    private static final long DECLARABLE = 1;
    /**
     * Per block position, the payload length its current (or last) holder was given: {@link #resolve} hands out
     * no more, so nothing writes a block beyond what {@link #dirty} counts.
     */
    private final LongLongMap lengths = new LongLongMap(256);
    private Pool bumpPool;
    private long allocatedBytes;
    /** Where this arena's gauges go (a session's record), or null; written under this arena's lock. */
    private dev.isthmus.stat.StatRecord stats;
    /** References lent to the peer and not yet returned. */
    private long lentNow;
    private long refusedReturns;
    private boolean unlinked;
    private boolean closed;
    /**
     * A sealed arena: two fixed pools, {@link #READ_ONLY_POOL} handed to the peer read-only and
     * {@link #WRITABLE_POOL} read-write, references counted here.
     */
    private final boolean sealed;
    /** Sealed: the borrower's return ring, mapped read-only once attached; null before. */
    private SharedMemory returns;
    private long returnsConsumed;
    private boolean returnsBroken;
    /**
     * Sealed: lends since the return ring was last read. An owner that only lends (a pre-built response
     * sent over and over) reads it every {@link #LENDS_PER_DRAIN} lends, so the ring never fills and no
     * block's lend count reaches its limit while the borrower keeps returning.
     */
    private int lendsSinceDrain;
    static final int LENDS_PER_DRAIN = 1024;

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

    private ShmArena(final String app, final String group, final long groupTag, final ArenaOptions options,
                     final boolean sealed) {
        this.app = app;
        this.group = group;
        this.groupTag = groupTag;
        this.options = options;
        this.sealed = sealed;
    }

    /**
     * Creates a session's arena: one pool of {@link ArenaOptions#sealedPoolBytes()} in a sealed anonymous file
     * of fixed length (nothing in {@code /dev/shm}, freed by the kernel with the last process that maps it),
     * which the peer gets read-only ({@link #poolDescriptor()}), so that it cannot write a byte of it; and a
     * second, of {@link ArenaOptions#writablePoolBytes()}, which the peer gets read-write
     * ({@link #writablePoolDescriptor()}) for the blocks this side allocates with {@link #allocatePeerWritable}.
     * Nothing of what the arena knows about its blocks lives in either pool. The peer returns what it borrowed
     * through a ring in its own memory ({@link #attachReturns}); references are counted in this process.
     *
     * @param app      the owning application, for the pool's diagnostic name
     * @param group    the session the arena belongs to
     * @param groupTag the same scope as a number, stored in the pool so that the peer can tell another scope's
     * @param options  the pool's length, pre-faulting
     * @return the arena, its pool created
     */
    public static ShmArena createSealed(final String app, final String group, final long groupTag,
                                        final ArenaOptions options) {
        final ShmArena arena = new ShmArena(app, group, groupTag, options, true);
        try {
            arena.newPool(options.sealedPoolBytes());
            arena.newPool(options.writablePoolBytes());
        } catch (final RuntimeException | Error e) {
            arena.close();
            throw e;
        }
        return arena;
    }

    /**
     * {@return a read-only descriptor of a sealed arena's pool, the caller's to close once handed to the peer}
     *
     * @throws IllegalStateException if the arena is not sealed, or closed
     */
    public synchronized int poolDescriptor() {
        if (!sealed || closed) {
            throw new IllegalStateException("arena " + group + " is " + (closed ? "closed" : "not sealed"));
        }
        return pools.get(READ_ONLY_POOL).memory.duplicateDescriptor(true);
    }

    /**
     * {@return a read-write descriptor of a sealed arena's peer-writable pool, the caller's to close once handed
     * to the peer ({@link ArenaView#attachWritablePool} on its side)}
     *
     * @throws IllegalStateException if the arena is not sealed, or closed
     */
    public synchronized int writablePoolDescriptor() {
        if (!sealed || closed) {
            throw new IllegalStateException("arena " + group + " is " + (closed ? "closed" : "not sealed"));
        }
        return pools.get(WRITABLE_POOL).memory.duplicateDescriptor(false);
    }

    /**
     * Attaches the ring through which the peer returns the blocks it borrowed from this sealed arena
     * ({@link ArenaView#returnsDescriptor()} on its side), mapped read-only after its seals, length and
     * header are checked.
     *
     * @param fd the descriptor, owned by the arena from now on (closed if this fails)
     * @throws dev.isthmus.CorruptDataException if the file is not a sealed return ring
     * @throws IllegalStateException            if the arena is not sealed, or has one already
     */
    public synchronized void attachReturns(final int fd) {
        if (!sealed || returns != null || closed) {
            dev.isthmus.internal.linux.FileIo.close(fd);
            throw new IllegalStateException("arena " + group + " is not sealed, is closed, or has its returns");
        }
        returns = ArenaView.adoptRing(fd, new ResourceName(ResourceName.configuredPrefix(), app, owner.pid(), "arena",
            group + "-r"));
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
        return new ShmArena(app, group, groupTag, options, false);
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
    public ShmBlock allocate(final long length) {
        return allocate(length, false, false);
    }

    /**
     * Allocates a block as {@link #allocate} does, its first {@code length} payload bytes zero: a reused block
     * is cleared, memory fresh from the kernel (zero already) is not touched, so a large block whose message
     * uses only part of it commits no more pages than that part.
     *
     * @param length the payload length, at least 0
     * @return the block
     * @throws IllegalArgumentException if {@code length} is negative or beyond {@link SharedMemory#MAX_LENGTH_BYTES}
     * @throws IllegalStateException    if the arena is closed
     */
    public ShmBlock allocateZeroed(final long length) {
        return allocate(length, true, false);
    }

    /**
     * Allocates a block, its first {@code length} payload bytes zero, that the peer may write as well as read:
     * a block of the sealed arena's pool handed to the peer read-write. Fresh memory is cleared too (the peer
     * may have written there before it was carved), so the block is zero when returned; the peer may write it
     * at any moment after.
     *
     * <p>What a peer that writes can and cannot cause: it can change the block's bytes at any time, its
     * header included, so whatever this process reads back from the block is as untrusted as anything the
     * peer sends; it cannot change what the arena knows about the block (size, generation, state, references
     * all live in this process's memory), reach the read-only pool, or make this process read outside the
     * pool. The pool's length bounds the memory its writes can commit.
     *
     * @param length the payload length, at least 0
     * @return the block
     * @throws IllegalArgumentException if {@code length} is negative or beyond {@link SharedMemory#MAX_LENGTH_BYTES}
     * @throws IllegalStateException    if the arena is closed, or is not sealed (an arena of named pools has no
     *                                  pool lent writable: {@link ArenaView#isLentWritable} is false for all)
     * @throws dev.isthmus.IsthmusException if the writable pool is full
     */
    public ShmBlock allocatePeerWritable(final long length) {
        if (!sealed) {
            throw new IllegalStateException("arena " + group + " has named pools, none lent writable: only a sealed"
                + " (session) arena allocates blocks its peer may write");
        }
        return allocate(length, true, true);
    }

    /**
     * Keeps {@code record}'s arena gauges ({@link dev.isthmus.stat.StatKind.Session}: bytes in use and
     * mapped, blocks lent now, allocations refused) up to date from now on.
     *
     * @param record a session's record
     */
    public synchronized void stats(final dev.isthmus.stat.StatRecord record) {
        stats = record;
        publishStats();
    }

    /** {@return the bytes of every pool mapped}; called under this arena's lock */
    private long mappedBytes() {
        long mapped = 0;
        for (final Pool pool : pools) {
            mapped += pool.segment.byteSize();
        }
        return mapped;
    }

    /** Under this arena's lock: the gauges, as opaque stores (the lock orders their writers). */
    private void publishStats() {
        final dev.isthmus.stat.StatRecord record = stats;
        if (record != null) {
            record.set(dev.isthmus.stat.StatKind.Session.ARENA_BYTES_IN_USE, allocatedBytes);
            record.set(dev.isthmus.stat.StatKind.Session.ARENA_BYTES_MAPPED, mappedBytes());
            record.set(dev.isthmus.stat.StatKind.Session.BLOCKS_LENT_NOW, lentNow);
        }
    }

    private synchronized ShmBlock allocate(final long length, final boolean zeroed, final boolean peerWritable) {
        if (closed) {
            throw new IllegalStateException("arena " + group + " is closed");
        }
        if (length < 0 || length > SharedMemory.MAX_LENGTH_BYTES / 2) {
            throw new IllegalArgumentException("length=" + length + " is not a possible block length");
        }
        drainReturns();
        final long size = blockSizeFor(length);
        final int sizeClass = Long.numberOfTrailingZeros(size);
        final int space = sealed && peerWritable ? WRITABLE_POOL : READ_ONLY_POOL;
        final int freeIndex = space * CLASSES + sizeClass;
        final Pool pool;
        final long offset;
        final int generation;
        if (freeCount[freeIndex] > 0) {
            final long encoded = free[freeIndex][--freeCount[freeIndex]];
            pool = pools.get((int) (encoded >>> 48));
            offset = encoded & (1L << 48) - 1;
            generation = generation(blocks.get(encoded));
            if (tracksDirty(space)) {
                final long known = dirty.get(encoded);
                final long dirtyBytes = known == LongLongMap.MISSING ? size - BLOCK_HEADER_LENGTH : known >>> 1;
                if (zeroed) {
                    // Beyond dirtyBytes the payload is zero already; cleared, none of it is dirty but what the
                    // new holder may write, and what it declares is all there is.
                    pool.segment.asSlice(offset + BLOCK_HEADER_LENGTH, dirtyBytes).fill((byte) 0);
                    dirty.put(encoded, length << 1 | DECLARABLE);
                } else {
                    // Handed out as it is: the earlier holders' bytes stay, whatever this holder declares.
                    dirty.put(encoded, Math.max(dirtyBytes, length) << 1);
                }
            } else if (zeroed) {
                pool.segment.asSlice(offset + BLOCK_HEADER_LENGTH, length).fill((byte) 0);
            }
        } else {
            try {
                pool = poolWithRoom(size, space);
            } catch (final RuntimeException e) {
                if (stats != null) {
                    stats.increment(dev.isthmus.stat.StatKind.Session.ARENA_EXHAUSTED);
                }
                dev.isthmus.internal.event.SessionEvents.arenaExhausted(group, size, mappedBytes(), e.getMessage());
                throw e;
            }
            offset = alignUp(pool.bump, Math.min(size, Mmap.pageSize()));
            pool.bump = offset + size;
            generation = 1;
            pool.segment.set(JAVA_LONG, offset + BLOCK_SIZE_OFFSET, size);
            pool.segment.set(JAVA_INT, offset + BLOCK_MAGIC_OFFSET, BLOCK_MAGIC);
            if (options.prefault()) {
                // Only what is asked for: a block rounded up to twice the length commits no more than it.
                final long start = alignUp(offset, Mmap.pageSize());
                final long end = offset + BLOCK_HEADER_LENGTH + length & -Mmap.pageSize();
                if (end > start) {
                    pool.memory.prefault(start, end - start);
                }
            }
            if (zeroed && space == WRITABLE_POOL) {
                // Fresh, but the peer maps this pool read-write and may have written here already.
                pool.segment.asSlice(offset + BLOCK_HEADER_LENGTH, length).fill((byte) 0);
            }
            if (tracksDirty(space)) {
                // Fresh from the kernel, zero (the pool is the owner's alone to write): a declaration is all there is.
                dirty.put(encode(pool.index, offset), length << 1 | DECLARABLE);
            }
        }
        blocks.put(encode(pool.index, offset), meta(generation, sizeClass, ALLOCATED | OWNER_HELD));
        lengths.put(encode(pool.index, offset), length);
        // For borrowers to check; a peer may overwrite any of it, and this arena never reads it back.
        final MemorySegment segment = pool.segment;
        segment.set(JAVA_INT, offset + BLOCK_GENERATION_OFFSET, generation);
        segment.set(JAVA_LONG, offset + BLOCK_SIZE_OFFSET, size);
        segment.set(JAVA_INT, offset + BLOCK_MAGIC_OFFSET, BLOCK_MAGIC);
        segment.set(JAVA_INT, offset + BLOCK_REFERENCES_OFFSET, 1);
        segment.set(JAVA_LONG, offset + BLOCK_NEXT_OFFSET, 0);
        segment.set(JAVA_INT, offset + BLOCK_STATE_OFFSET, STATE_ALLOCATED);
        allocatedBytes += size;
        if (stats != null) {
            stats.set(dev.isthmus.stat.StatKind.Session.ARENA_BYTES_IN_USE, allocatedBytes);
        }
        return new ShmBlock(this, segment, pool.index, generation, offset, length);
    }

    /** {@return whether {@link #dirty} is kept for blocks of {@code space}}: a sealed arena's read-only pool */
    private boolean tracksDirty(final int space) {
        return sealed && space == READ_ONLY_POOL;
    }

    private static long meta(final int generation, final int sizeClass, final long state) {
        return (long) generation << 32 | (long) sizeClass << 8 | state;
    }

    private static int generation(final long meta) {
        return (int) (meta >>> 32);
    }

    private static int sizeClass(final long meta) {
        return (int) (meta >>> 8 & 0xff);
    }

    private Pool poolWithRoom(final long size, final int space) {
        final Pool current = sealed ? pools.get(space) : bumpPool;
        if (current != null && alignUp(current.bump, Math.min(size, Mmap.pageSize())) + size <= current.segment.byteSize()) {
            return current;
        }
        if (sealed) {
            final boolean writable = space == WRITABLE_POOL;
            throw new dev.isthmus.IsthmusException("arena " + group + " is full: a block of " + size + " bytes does not"
                + " fit in its " + current.segment.byteSize() + "-byte " + (writable ? "peer-writable " : "") + "pool ("
                + allocatedBytes + " bytes in use in both pools); raise ArenaOptions."
                + (writable ? "writablePoolBytes" : "sealedPoolBytes") + " or free blocks");
        }
        return newPool(Math.max(options.poolBytes(), FIRST_BLOCK_OFFSET + size));
    }

    private Pool newPool(final long poolLength) {
        final int index = pools.size();
        final SharedMemory.Builder builder = SharedMemory.builder(poolName(app, owner.pid(), group, index))
            .lengthBytes(poolLength)
            .permissions(options.permissions())
            .directory(options.directory())
            .tag(groupTag);
        if (sealed && index == READ_ONLY_POOL) {
            // The peer gets a read-only descriptor; running as the same user, it could still fchmod the file and
            // reopen it for writing, which this seal makes useless: no writable mapping but this one, ever.
            builder.writableOnlyHere();
        }
        final SharedMemory memory = sealed ? builder.fixedLength().createSealed() : builder.create();
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

    /**
     * This process closed its reference: the block is free once no peer holds it, as the shared count says
     * (a hint: a peer that lies about it can only make the owner keep the block, or reuse what that same
     * peer still reads), or as a return from the peer said already.
     */
    @Override
    public synchronized void closed(final ShmBlock block, final boolean lastReference) {
        if (closed) {
            return;
        }
        final long key = encode(block.poolIndex(), block.offset());
        final long meta = blocks.get(key);
        if (meta == LongLongMap.MISSING || (meta & OWNER_HELD) == 0 || generation(meta) != block.generation()) {
            return;
        }
        if (tracksDirty(block.poolIndex()) && block.writtenBytes() < block.length()) {
            // The holder of a block handed out all zero wrote less than it was given: the rest is still zero.
            final long known = dirty.get(key);
            if (known != LongLongMap.MISSING && (known & DECLARABLE) != 0) {
                dirty.put(key, block.writtenBytes() << 1 | DECLARABLE);
            }
        }
        if (sealed ? lends(meta) == 0 : lastReference || (meta & RETURNED) != 0) {
            free(key, meta);
        } else {
            blocks.put(key, meta & ~OWNER_HELD);
        }
    }

    @Override
    public boolean countsInSharedMemory() {
        return !sealed;
    }

    @Override
    public synchronized void lent(final ShmBlock block) {
        final long key = encode(block.poolIndex(), block.offset());
        long meta = blocks.get(key);
        if (closed || meta == LongLongMap.MISSING || (meta & ALLOCATED) == 0 || generation(meta) != block.generation()) {
            throw new IllegalStateException("block " + block.handle() + " of arena " + group + " is not allocated");
        }
        if (++lendsSinceDrain >= LENDS_PER_DRAIN || lends(meta) == MAX_LENDS) {
            drainReturnRing();
            meta = blocks.get(key);
        }
        if (lends(meta) == MAX_LENDS) {
            throw new IllegalStateException("block " + block.handle() + " is lent " + MAX_LENDS + " times already");
        }
        blocks.put(key, meta + LEND);
        lentNow++;
        if (stats != null) {
            stats.set(dev.isthmus.stat.StatKind.Session.BLOCKS_LENT_NOW, lentNow);
        }
    }

    @Override
    public synchronized void unlent(final ShmBlock block) {
        final long key = encode(block.poolIndex(), block.offset());
        final long meta = blocks.get(key);
        if (!closed && meta != LongLongMap.MISSING && lends(meta) > 0 && generation(meta) == block.generation()) {
            returnOne(key, meta);
        }
    }

    @Override
    public synchronized int references(final ShmBlock block) {
        final long meta = blocks.get(encode(block.poolIndex(), block.offset()));
        return meta == LongLongMap.MISSING || generation(meta) != block.generation() || (meta & ALLOCATED) == 0 ? 0
            : lends(meta) + ((meta & OWNER_HELD) != 0 ? 1 : 0);
    }

    /** Sealed: one lent reference came back; the block is free when none is left and this process let go. */
    private void returnOne(final long key, final long meta) {
        lentNow--;
        if (stats != null) {
            stats.set(dev.isthmus.stat.StatKind.Session.BLOCKS_LENT_NOW, lentNow);
        }
        final long after = meta - LEND;
        if (lends(after) == 0 && (after & OWNER_HELD) == 0) {
            free(key, after);
        } else {
            blocks.put(key, after);
        }
    }

    private static int lends(final long meta) {
        return (int) (meta >>> 16 & MAX_LENDS);
    }

    /** A reference lent but never delivered was dropped, and the shared count says it was the last. */
    @Override
    public synchronized void dropped(final ShmBlock block) {
        if (closed) {
            return;
        }
        final long key = encode(block.poolIndex(), block.offset());
        final long meta = blocks.get(key);
        if (meta != LongLongMap.MISSING && (meta & (ALLOCATED | OWNER_HELD)) == ALLOCATED
            && generation(meta) == block.generation()) {
            free(key, meta);
        }
    }

    /** Frees an allocated block, by what this process knows of it: its size class and generation. */
    private void free(final long key, final long meta) {
        final Pool pool = pools.get((int) (key >>> 48));
        final long offset = key & (1L << 48) - 1;
        final int sizeClass = sizeClass(meta);
        final long size = 1L << sizeClass;
        final int generation = generation(meta) + 1;
        final int freeIndex = (sealed ? pool.index : READ_ONLY_POOL) * CLASSES + sizeClass;
        blocks.put(key, meta(generation, sizeClass, 0));
        final MemorySegment segment = pool.segment;
        segment.set(JAVA_INT, offset + BLOCK_STATE_OFFSET, STATE_FREE);
        segment.set(JAVA_INT, offset + BLOCK_GENERATION_OFFSET, generation);
        long[] stack = free[freeIndex];
        if (stack == null || freeCount[freeIndex] == stack.length) {
            stack = free[freeIndex] = stack == null ? new long[16] : Arrays.copyOf(stack, stack.length * 2);
        }
        stack[freeCount[freeIndex]++] = key;
        allocatedBytes -= size;
        if (stats != null) {
            stats.set(dev.isthmus.stat.StatKind.Session.ARENA_BYTES_IN_USE, allocatedBytes);
        }
    }

    /**
     * Takes back the blocks borrowers returned. Every entry of a pool's return stack is checked against
     * what this process knows: only a block it allocated and no longer holds itself is freed (one it still
     * holds is freed when it closes it). An entry that names no allocated block ends the walk of that stack,
     * whose link cannot be trusted: the blocks behind it stay allocated until the arena closes (a leak the
     * lying peer caused, counted in {@link #refusedReturns()}), and nothing in use is ever handed out.
     */
    private void drainReturns() {
        if (sealed) {
            drainReturnRing();
            return;
        }
        for (final Pool pool : pools) {
            final MemorySegment segment = pool.segment;
            // acquire (a volatile exchange): pairs with the borrowers' compare-and-set that pushed each block
            // after writing its link.
            if (getLongAcquire(segment, RETURN_HEAD_OFFSET) == 0) {
                continue;
            }
            long offset = dev.isthmus.internal.MemoryAccess.getAndSetLong(segment, RETURN_HEAD_OFFSET, 0L);
            // At most one entry per block carved: a longer walk is a cycle.
            int budget = blocks.size();
            while (offset != 0) {
                final long key = offset >= FIRST_BLOCK_OFFSET && offset < pool.bump
                    && (offset & MIN_BLOCK_SIZE - 1) == 0 ? encode(pool.index, offset) : -1;
                final long meta = key < 0 ? LongLongMap.MISSING : blocks.get(key);
                if (meta == LongLongMap.MISSING || (meta & ALLOCATED) == 0 || --budget < 0) {
                    refusedReturns++;
                    break;
                }
                final long next = segment.get(JAVA_LONG, offset + BLOCK_NEXT_OFFSET);
                if ((meta & OWNER_HELD) != 0) {
                    blocks.put(key, meta | RETURNED);
                } else {
                    free(key, meta);
                }
                offset = next;
            }
        }
    }

    /**
     * Sealed: takes back what the peer published in its return ring since the last time, each entry checked
     * against what this process lent; then records in the pool header how far it read, for the peer to reuse
     * the room. A ring whose counts are impossible is not read again: what it held stays lent until the arena
     * closes.
     */
    private void drainReturnRing() {
        lendsSinceDrain = 0;
        final SharedMemory ring = returns;
        if (ring == null || returnsBroken) {
            return;
        }
        final MemorySegment segment = ring.segment();
        // acquire: pairs with the borrower's putLongRelease(RING_PUBLISHED) after it wrote the entries.
        final long published = getLongAcquire(segment, RING_PUBLISHED_OFFSET);
        final long count = published - returnsConsumed;
        if (count == 0) {
            return;
        }
        if (count < 0 || count > RING_CAPACITY) {
            returnsBroken = true;
            refusedReturns++;
            return;
        }
        for (long i = returnsConsumed; i != published; i++) {
            final long entry = segment.get(JAVA_LONG, RING_ENTRIES_OFFSET + (i & RING_CAPACITY - 1) * 8);
            final long meta = entry < 0 ? LongLongMap.MISSING : blocks.get(entry);
            if (meta == LongLongMap.MISSING || (meta & ALLOCATED) == 0 || lends(meta) == 0) {
                refusedReturns++;
            } else {
                returnOne(entry, meta);
            }
        }
        returnsConsumed = published;
        // release: the entries are read before the borrower may overwrite them; pairs with its
        // getLongAcquire(RETURNS_CONSUMED).
        putLongRelease(pools.get(READ_ONLY_POOL).segment, RETURNS_CONSUMED_OFFSET, published);
    }

    /**
     * Finds the payload of one of this arena's allocated blocks from a handle, checked against this process's
     * private record of its blocks (not against anything in shared memory): for data that refers to other
     * data of the same arena by handle. No reference is taken: the block stays this process's to free.
     *
     * @param handle a handle of a block of this arena, as {@link ShmBlock#handle(long)} made it
     * @return the first {@code handle.length()} bytes of the block's payload
     * @throws dev.isthmus.CorruptDataException if the handle names no block of this arena that is allocated
     *                                          with its generation, or is longer than the length the block
     *                                          was allocated with
     * @throws IllegalStateException            if the arena is closed
     */
    public synchronized MemorySegment resolve(final ShmHandle handle) {
        if (closed) {
            throw new IllegalStateException("arena " + group + " is closed");
        }
        final int index = handle.pool();
        final long offset = handle.offset();
        final Pool pool = index >= 0 && index < pools.size() ? pools.get(index) : null;
        final long meta = pool == null || offset < FIRST_BLOCK_OFFSET || offset >= pool.bump
            || (offset & MIN_BLOCK_SIZE - 1) != 0 ? LongLongMap.MISSING : blocks.get(encode(index, offset));
        if (meta == LongLongMap.MISSING || (meta & ALLOCATED) == 0 || generation(meta) != handle.generation()) {
            throw new dev.isthmus.CorruptDataException("handle " + handle + " names no allocated block of arena "
                + group + (meta == LongLongMap.MISSING ? "" : " (stale: the block is now generation "
                + generation(meta) + (((meta & ALLOCATED) == 0) ? ", free)" : ")")));
        }
        // What the block was allocated with, not its capacity: bytes beyond it were given to no one, and a zeroed
        // reuse need not clear them.
        final long length = lengths.get(encode(index, offset));
        if (handle.length() < 0 || handle.length() > length) {
            throw new dev.isthmus.CorruptDataException("handle " + handle + " of arena " + group + " is longer than"
                + " its block's " + length + " bytes");
        }
        return pool.segment.asSlice(offset + BLOCK_HEADER_LENGTH, handle.length());
    }

    /**
     * {@return whether the blocks of pool {@code index} are lent writable}: only the sealed arena's
     * peer-writable pool's ({@link #allocatePeerWritable})
     *
     * @param index a pool index, as in {@link ShmHandle#pool()}
     */
    public boolean isLentWritable(final int index) {
        return sealed && index == WRITABLE_POOL;
    }

    /** {@return whether this is a sealed (session) arena, {@link #createSealed}} */
    public boolean isSealed() {
        return sealed;
    }

    /**
     * {@return how many returns from peers this arena refused because they named no block it had lent: a
     * sign of a buggy or hostile peer}
     */
    public synchronized long refusedReturns() {
        return refusedReturns;
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
        if (returns != null) {
            returns.close();
        }
    }

    private static long encode(final int pool, final long offset) {
        return (long) pool << 48 | offset;
    }

    private static long alignUp(final long value, final long alignment) {
        return value + alignment - 1 & -alignment;
    }
}
