/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.arena;

import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import dev.isthmus.shm.NoSuchResourceException;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
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
import static dev.isthmus.arena.ArenaDescriptor.POOL_MAGIC;
import static dev.isthmus.arena.ArenaDescriptor.POOL_MAGIC_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.RETURNS_CONSUMED_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.RETURN_HEAD_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.RING_CAPACITY;
import static dev.isthmus.arena.ArenaDescriptor.RING_CAPACITY_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.RING_ENTRIES_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.RING_MAGIC;
import static dev.isthmus.arena.ArenaDescriptor.RING_PUBLISHED_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.RING_VERSION_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.STATE_ALLOCATED;
import static dev.isthmus.arena.ArenaDescriptor.VERSION;
import static dev.isthmus.arena.ArenaDescriptor.VERSION_OFFSET;
import static dev.isthmus.internal.MemoryAccess.compareAndSetLong;
import static dev.isthmus.internal.MemoryAccess.getIntVolatile;
import static dev.isthmus.internal.MemoryAccess.getLongAcquire;
import static dev.isthmus.internal.MemoryAccess.getLongVolatile;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A peer's {@link ShmArena} seen from this process: turns handles the peer sent into blocks read in place.
 *
 * <p>Every handle is checked before anything is read through it. A pool is checked once, when it is mapped:
 * it must be the peer's (its header names the peer's process and this view's group). Then {@link #borrow}
 * and {@link #resolve} check that the offset falls on a block inside the pool, that the block is allocated
 * with the handle's generation (a freed or reused block is refused: a reference kept in shared data after
 * its object was freed is stale), and that the length fits in it. {@link #borrowLent}, for the handles of a
 * message whose sender lent them before sending, is a bounds check alone in a sealed view: nothing of the
 * pool is read, so the block's header line never moves between the processes (the sender keeps what it
 * knows of its blocks in its own memory and refuses the return of a handle it did not lend). A hostile or
 * stale handle is an {@link IsthmusException} naming the problem; no read ever leaves the pool's mapping.
 *
 * <p>Thread safety: thread-safe.
 */
public final class ArenaView implements AutoCloseable, ShmBlock.Releaser {
    /** Blocks borrowed through this view and not yet released; under this view's lock. */
    private long borrowedNow;
    /** Where the gauge goes (a session's record), or null; under this view's lock. */
    private dev.isthmus.stat.StatRecord stats;

    /**
     * Pools beyond this index are refused before any name is derived from them: far below
     * {@code vm.max_map_count}, so a peer cannot exhaust this process's mappings.
     */
    static final int MAX_POOLS = 1 << 10;
    /** The most bytes of a peer's pools one view maps: a peer cannot make it map sparse terabytes. */
    static final long MAX_MAPPED_BYTES = 1L << 40;

    private final String app;
    private final ProcessIdentity owner;
    private final String group;
    private final long groupTag;
    private final ArenaOptions options;
    private final List<SharedMemory> pools = new ArrayList<>();
    /**
     * Sealed: the read-only pool's segment, itself read-only, which blocks borrowed from it are slices of: a
     * stray write through one is an exception here rather than a fault of the read-only mapping.
     */
    private MemorySegment readOnlyPool;
    /** Sealed: {@link #readOnlyPool} as one buffer, which borrowed blocks' buffers are slices of; null if larger. */
    private java.nio.ByteBuffer readOnlyPoolBuffer;
    /** The bytes of the peer's pools this view has mapped, bounded by {@link #MAX_MAPPED_BYTES}. */
    private long mappedBytes;
    private boolean closed;

    /** Sealed: this view's return ring, in memory it owns, handed to the owner read-only; null for named pools. */
    private final SharedMemory returns;
    /** Sealed: returns the ring had no room for yet, as ring entries; sent before any newer one. */
    private long[] pendingReturns = new long[0];
    private int pendingCount;
    private long returnsPublished;
    /**
     * Sealed: the owner's count of entries taken back, as last read. The ring has room for the entries before
     * {@code returnsConsumedSeen + RING_CAPACITY} at least; the owner's count is read again only when that is not
     * enough, so a return does not pull in the line the owner writes at every read of the ring.
     */
    private long returnsConsumedSeen;
    private long droppedReturns;
    /** The most returns a sealed view keeps waiting for room in its ring: 512 KiB of entries. */
    static final int MAX_PENDING_RETURNS = 1 << 16;

    private ArenaView(final String app, final ProcessIdentity owner, final String group, final long groupTag,
                      final ArenaOptions options, final SharedMemory returns) {
        this.app = app;
        this.owner = owner;
        this.group = group;
        this.groupTag = groupTag;
        this.options = options;
        this.returns = returns;
    }

    /**
     * Creates a view of a peer's sealed arena ({@link ShmArena#createSealed}): its read-only pool arrives as a
     * read-only descriptor ({@link #attachPool}), its peer-writable pool as a read-write one
     * ({@link #attachWritablePool}), and this view returns borrowed blocks through a ring in its
     * own memory, a sealed file the owner maps read-only ({@link #returnsDescriptor()}).
     *
     * @param app      the peer's application name
     * @param owner    the peer process, which must own the pool
     * @param group    the arena's group
     * @param groupTag the arena's group tag
     * @param options  {@link ArenaOptions#sealedPoolBytes()} and {@link ArenaOptions#writablePoolBytes()} bound
     *                 what is mapped of the peer's pools; the ring gets {@link ArenaOptions#permissions()}
     * @return the view, its return ring created
     */
    public static ArenaView createSealed(final String app, final ProcessIdentity owner, final String group,
                                         final long groupTag, final ArenaOptions options) {
        final SharedMemory ring = SharedMemory.builder(new ResourceName(ResourceName.configuredPrefix(), app,
                ProcessHandle.current().pid(), "arena", group + "-r"))
            .lengthBytes(RING_ENTRIES_OFFSET + RING_CAPACITY * 8L)
            .permissions(options.permissions())
            .fixedLength()
            .writableOnlyHere()
            .createSealed();
        ring.segment().set(JAVA_INT, RING_VERSION_OFFSET, VERSION);
        ring.segment().set(JAVA_INT, RING_CAPACITY_OFFSET, RING_CAPACITY);
        // release: publishes the ring's header; pairs with adoptRing()'s getLongAcquire(RING_MAGIC).
        dev.isthmus.internal.MemoryAccess.putLongRelease(ring.segment(), 0, RING_MAGIC);
        return new ArenaView(app, owner, group, groupTag, options, ring);
    }

    /** Maps a peer's return ring read-only, after checking its seals, length and header. */
    static SharedMemory adoptRing(final int fd, final ResourceName name) {
        final long length = RING_ENTRIES_OFFSET + RING_CAPACITY * 8L;
        final SharedMemory ring = SharedMemory.adopt(fd, name, false, length);
        try {
            final MemorySegment header = ring.segment();
            if (header.byteSize() != length || getLongAcquire(header, 0) != RING_MAGIC
                || header.get(JAVA_INT, RING_VERSION_OFFSET) != VERSION
                || header.get(JAVA_INT, RING_CAPACITY_OFFSET) != RING_CAPACITY) {
                throw new CorruptDataException("the return ring " + ring.path() + " the peer handed over is not a return"
                    + " ring of " + RING_CAPACITY + " entries and layout version " + VERSION);
            }
            return ring;
        } catch (final RuntimeException | Error e) {
            ring.close();
            throw e;
        }
    }

    /**
     * {@return a read-only descriptor of this view's return ring, the caller's to close once handed to the owner}
     *
     * @throws IllegalStateException if this view is not sealed
     */
    public int returnsDescriptor() {
        if (returns == null) {
            throw new IllegalStateException("arena view " + group + " is not sealed");
        }
        return returns.duplicateDescriptor(true);
    }

    /**
     * Maps the peer's sealed pool, handed over read-only ({@link ShmArena#poolDescriptor()}), after checking its
     * seals and length and that its header names the peer and this view's group.
     *
     * @param fd the descriptor, owned by the view from now on (closed if this fails)
     * @throws CorruptDataException  if the file is not sealed, too large, or not the peer's pool of this group
     * @throws IllegalStateException if this view is not sealed or has its pool
     */
    public synchronized void attachPool(final int fd) {
        if (returns == null || !pools.isEmpty() || closed) {
            dev.isthmus.internal.linux.FileIo.close(fd);
            throw new IllegalStateException("arena view " + group + " is not sealed, is closed, or has its pool");
        }
        final SharedMemory memory = SharedMemory.adopt(fd, ShmArena.poolName(app, owner.pid(), group, 0), false,
            options.sealedPoolBytes());
        try {
            check(memory, 0);
        } catch (final RuntimeException | Error e) {
            memory.close();
            throw e;
        }
        pools.add(memory);
        readOnlyPool = memory.segment().asReadOnly();
        readOnlyPoolBuffer = readOnlyPool.byteSize() <= Integer.MAX_VALUE ? readOnlyPool.asByteBuffer() : null;
    }

    /**
     * Maps the peer's sealed peer-writable pool, handed over read-write ({@link ShmArena#writablePoolDescriptor()}),
     * after checking it as {@link #attachPool} does; from then on, blocks the peer allocated there
     * ({@link ShmArena#allocatePeerWritable}) are borrowed writable. Optional: a view without it refuses
     * handles of that pool.
     *
     * <p>Anything this process writes there, the owner reads as untrusted; anything it reads there, the owner
     * may be writing at the same moment (including the block headers this view checks: a block the owner
     * frees while borrowed here can be reused and rewritten, always within the pool).
     *
     * @param fd the descriptor, owned by the view from now on (closed if this fails)
     * @throws CorruptDataException  if the file is not sealed, too large, read-only, or not the peer's writable
     *                               pool of this group
     * @throws IllegalStateException if this view is not sealed, has no read-only pool yet, or has this one
     */
    public synchronized void attachWritablePool(final int fd) {
        if (returns == null || pools.size() != 1 || closed) {
            dev.isthmus.internal.linux.FileIo.close(fd);
            throw new IllegalStateException("arena view " + group + " is not sealed, is closed, has no read-only pool"
                + " yet, or has its writable pool");
        }
        final SharedMemory memory = SharedMemory.adopt(fd, ShmArena.poolName(app, owner.pid(), group,
            ShmArena.WRITABLE_POOL), true, options.writablePoolBytes());
        try {
            check(memory, ShmArena.WRITABLE_POOL);
        } catch (final RuntimeException | Error e) {
            memory.close();
            throw e;
        }
        pools.add(memory);
    }

    /**
     * {@return whether the owner lent the blocks of pool {@code index} writable}: only a sealed arena's
     * peer-writable pool, once attached ({@link #attachWritablePool}). The pools of an arena of named pools
     * are mapped read-write, but nothing in them is lent writable: views of them should be read-only.
     *
     * @param index a pool index, as in {@link ShmHandle#pool()}
     */
    public synchronized boolean isLentWritable(final int index) {
        return returns != null && index == ShmArena.WRITABLE_POOL && pools.size() > ShmArena.WRITABLE_POOL;
    }

    @Override
    public boolean countsInSharedMemory() {
        return returns == null;
    }

    /**
     * {@return how many returns this sealed view dropped because the owner read none of them for
     * {@value #MAX_PENDING_RETURNS} returns: the owner keeps those blocks until its arena closes}
     */
    public synchronized long droppedReturns() {
        return droppedReturns;
    }

    /** {@return this view's return ring, writable: for tests that play a hostile borrower} */
    MemorySegment ringForTests() {
        return returns.segment();
    }

    /**
     * Creates a view of a peer's arena; its pools are mapped as handles name them.
     *
     * @param app      the peer arena's application name
     * @param owner    the peer process, which must own every pool
     * @param group    the arena's group, as the peer created it
     * @param groupTag the arena's group tag
     * @param options  the directory where pools live
     * @return the view
     */
    public static ArenaView of(final String app, final ProcessIdentity owner, final String group, final long groupTag,
                               final ArenaOptions options) {
        ShmArena.poolName(app, owner.pid(), group, 0);
        return new ArenaView(app, owner, group, groupTag, options, null);
    }

    /**
     * Checks a handle and returns the block it names, holding the reference the peer lent with it.
     *
     * @param handle what the peer sent
     * @return the block; close it to give the reference back
     * @throws CorruptDataException if the handle is out of range, names a block that is not allocated or has
     *                              another generation, or a pool of another process or group
     * @throws NoSuchResourceException if the pool does not exist
     */
    public ShmBlock borrow(final ShmHandle handle) {
        return borrow(handle.pool(), handle.generation(), handle.offset(), handle.length());
    }

    /**
     * {@link #borrow(ShmHandle)} for a handle given by its fields, as read from a payload: no handle object.
     *
     * @param poolIndex  the handle's pool
     * @param generation the handle's generation
     * @param offset     the handle's block offset
     * @param length     the handle's payload length
     * @return the block; close it to give the reference back
     * @throws CorruptDataException    as {@link #borrow(ShmHandle)} does
     * @throws NoSuchResourceException if the pool does not exist
     */
    public ShmBlock borrow(final int poolIndex, final int generation, final long offset, final long length) {
        return borrowAgain(null, poolIndex, generation, offset, length);
    }

    /**
     * {@link #borrow(int, int, long, long)}, reusing {@code reuse} for the new reference if it is a reference
     * this view gave out, closed since, to the same block in the same generation: for a holder that keeps the
     * object between messages over the same memory (a codec reading a response the peer sends again and again)
     * and allocates nothing per borrow. The handle is checked as {@code borrow} checks it either way.
     *
     * <p>Only the one holder of {@code reuse} may call this with it: reusing a reference that someone else
     * still refers to would hand them an open reference they believe closed.
     *
     * @param reuse      a closed reference of this view's to reuse, or {@code null}
     * @param poolIndex  the handle's pool
     * @param generation the handle's generation
     * @param offset     the handle's block offset
     * @param length     the handle's payload length
     * @return {@code reuse}, open again, if it could be reused; a new reference otherwise
     * @throws CorruptDataException    as {@link #borrow(ShmHandle)} does
     * @throws NoSuchResourceException if the pool does not exist
     */
    public ShmBlock borrowAgain(final ShmBlock reuse, final int poolIndex, final int generation,
                                final long offset, final long length) {
        return borrow(reuse, poolIndex, generation, offset, length, false);
    }

    /**
     * {@link #borrowAgain}, for a handle that came with a message whose sender lent its block before sending
     * it: in a sealed view, only its bounds against the pool's mapping are checked, and nothing of the pool
     * is read. The sender counted the reference before the message left, so an honest sender's handle cannot
     * be stale; a lying one's reads the sender's bytes where it points, within the pool this process maps in
     * full anyway, and its return is refused by the sender, which checks every return against its own
     * records. A named view ({@link #of}) checks the block's header as {@link #borrow} does: its reference
     * count lives there.
     *
     * @param reuse      a closed reference of this view's to reuse, or {@code null}
     * @param poolIndex  the handle's pool
     * @param generation the handle's generation (given back with the return, for the owner to check)
     * @param offset     the handle's block offset
     * @param length     the handle's payload length
     * @return {@code reuse}, open again, if it could be reused; a new reference otherwise
     * @throws CorruptDataException    if the handle's offset is not a block offset of the pool, or its
     *                                 length runs past the pool; for a named view, as {@link #borrow} does
     * @throws NoSuchResourceException if the pool does not exist
     */
    public ShmBlock borrowLent(final ShmBlock reuse, final int poolIndex, final int generation, final long offset,
                               final long length) {
        return borrow(reuse, poolIndex, generation, offset, length, true);
    }

    private synchronized ShmBlock borrow(final ShmBlock reuse, final int poolIndex, final int generation,
                                         final long offset, final long length, final boolean boundsOnly) {
        final MemorySegment pool = check(poolIndex, generation, offset, length, boundsOnly);
        if (returns == null && getIntVolatile(pool, offset + BLOCK_REFERENCES_OFFSET) <= 0) {
            throw reject(poolIndex, generation, offset, length, "the block holds no reference for this process");
        }
        borrowedNow++;
        if (stats != null) {
            stats.set(dev.isthmus.stat.StatKind.Session.BLOCKS_BORROWED_NOW, borrowedNow);
        }
        if (reuse != null && reuse.reopen(this, pool, poolIndex, generation, offset, length)) {
            return reuse;
        }
        return new ShmBlock(this, pool, pool == readOnlyPool ? readOnlyPoolBuffer : null, poolIndex, generation, offset,
            length);
    }

    /**
     * Checks a handle as {@link #borrow} does and returns the payload it names, without taking a reference:
     * for data the peer refers to from a block this process borrowed. The peer decides how long the block
     * stays allocated; if it frees and reuses it, what is read through the segment is whatever the peer writes
     * there next, always within its pool (the mapping stays valid until this view closes).
     *
     * @param handle a handle found in the peer's data
     * @return the payload, {@code handle.length()} bytes, read-only for a sealed arena's read-only pool
     * @throws CorruptDataException as {@link #borrow} does
     * @throws NoSuchResourceException if the pool does not exist
     */
    public synchronized MemorySegment resolve(final ShmHandle handle) {
        return check(handle.pool(), handle.generation(), handle.offset(), handle.length())
            .asSlice(handle.offset() + BLOCK_HEADER_LENGTH, handle.length());
    }

    private MemorySegment check(final int poolIndex, final int generation, final long offset, final long length) {
        return check(poolIndex, generation, offset, length, false);
    }

    private MemorySegment check(final int poolIndex, final int generation, final long offset, final long length,
                                final boolean boundsOnly) {
        if (closed) {
            throw new IllegalStateException("arena view " + group + " is closed");
        }
        final MemorySegment pool = pool(poolIndex);
        if (offset < FIRST_BLOCK_OFFSET || (offset & MIN_BLOCK_SIZE - 1) != 0
            || offset > pool.byteSize() - BLOCK_HEADER_LENGTH || length < 0) {
            throw reject(poolIndex, generation, offset, length,
                "its offset is not a block offset of the " + pool.byteSize() + "-byte pool");
        }
        if (boundsOnly && returns != null) {
            // Sealed, a handle lent with a message: a bounds check against the mapping, nothing read from the
            // pool, so the block's header line never moves to this process. A handle that names memory the
            // owner did not lend reads its bytes as they are (this process maps the whole pool anyway), and the
            // owner, which checks every return against its own records, refuses its return.
            if (length > pool.byteSize() - offset - BLOCK_HEADER_LENGTH) {
                throw reject(poolIndex, generation, offset, length,
                    "its length runs past the end of the " + pool.byteSize() + "-byte pool");
            }
            return pool;
        }
        if (pool.get(JAVA_INT, offset + BLOCK_MAGIC_OFFSET) != BLOCK_MAGIC) {
            throw reject(poolIndex, generation, offset, length, "no block starts there");
        }
        final long size = pool.get(JAVA_LONG, offset + BLOCK_SIZE_OFFSET);
        if (Long.bitCount(size) != 1 || size < MIN_BLOCK_SIZE || size > pool.byteSize() - offset) {
            throw reject(poolIndex, generation, offset, length, "the block's size " + size + " is impossible");
        }
        if (length > size - BLOCK_HEADER_LENGTH) {
            throw reject(poolIndex, generation, offset, length,
                "its length exceeds the block's " + (size - BLOCK_HEADER_LENGTH) + " bytes");
        }
        if (pool.get(JAVA_INT, offset + BLOCK_STATE_OFFSET) != STATE_ALLOCATED
            || pool.get(JAVA_INT, offset + BLOCK_GENERATION_OFFSET) != generation) {
            throw reject(poolIndex, generation, offset, length, "the block was freed (stale handle: generation "
                + pool.get(JAVA_INT, offset + BLOCK_GENERATION_OFFSET) + ")");
        }
        return pool;
    }

    private static long key(final int pool, final long offset) {
        return (long) pool << 48 | offset;
    }

    private CorruptDataException reject(final int poolIndex, final int generation, final long offset,
                                        final long length, final String why) {
        return new CorruptDataException("handle " + new ShmHandle(poolIndex, generation, offset, length) + " of arena "
            + group + " (pid " + owner.pid() + ") is refused: " + why);
    }

    private MemorySegment pool(final int index) {
        if (returns != null) {
            if (index < 0 || index >= pools.size()) {
                throw new CorruptDataException("handle names pool " + index + " of arena " + group + ", which has "
                    + (pools.isEmpty() ? "not arrived yet" : pools.size() == 1 ? "one pool here, 0"
                    : "two pools, 0 (read-only) and 1 (writable)"));
            }
            return index == 0 ? readOnlyPool : pools.get(index).segment();
        }
        if (index < 0 || index >= MAX_POOLS) {
            throw new CorruptDataException("handle names pool " + index + " of arena " + group + ", outside [0, "
                + MAX_POOLS + ")");
        }
        while (pools.size() <= index) {
            pools.add(null);
        }
        SharedMemory memory = pools.get(index);
        if (memory == null) {
            memory = SharedMemory.open(options.directory(), ShmArena.poolName(app, owner.pid(), group, index), true,
                MAX_MAPPED_BYTES - mappedBytes);
            try {
                check(memory, index);
            } catch (final RuntimeException e) {
                memory.close();
                throw e;
            }
            pools.set(index, memory);
            mappedBytes += memory.lengthBytes();
        }
        return memory.segment();
    }

    private void check(final SharedMemory memory, final int index) {
        final MemorySegment header = memory.segment();
        final String what = "arena pool " + memory.path();
        if (header.byteSize() < FIRST_BLOCK_OFFSET) {
            throw new CorruptDataException(what + " is too short: " + header.byteSize() + " bytes");
        }
        // acquire: pairs with ShmArena's putLongRelease(POOL_MAGIC).
        if (getLongAcquire(header, POOL_MAGIC_OFFSET) != POOL_MAGIC || header.get(JAVA_INT, VERSION_OFFSET) != VERSION) {
            throw new CorruptDataException(what + " is not an arena pool of layout version " + VERSION);
        }
        final ProcessIdentity poolOwner = new ProcessIdentity(header.get(JAVA_INT, OWNER_PID_OFFSET),
            header.get(JAVA_LONG, OWNER_START_TIME_OFFSET));
        if (!poolOwner.equals(owner)) {
            throw new CorruptDataException(what + " belongs to process " + poolOwner + ", not to the peer " + owner);
        }
        if (header.get(JAVA_LONG, GROUP_OFFSET) != groupTag) {
            throw new CorruptDataException(what + " belongs to another session (group " + header.get(JAVA_LONG, GROUP_OFFSET)
                + ", expected " + groupTag + ")");
        }
        if (header.get(JAVA_INT, POOL_INDEX_OFFSET) != index) {
            throw new CorruptDataException(what + " says it is pool " + header.get(JAVA_INT, POOL_INDEX_OFFSET)
                + ", expected " + index);
        }
    }

    @Override
    public void closed(final ShmBlock block, final boolean lastReference) {
        synchronized (this) {
            borrowedNow--;
            if (stats != null) {
                stats.set(dev.isthmus.stat.StatKind.Session.BLOCKS_BORROWED_NOW, borrowedNow);
            }
            if (returns != null) {
                if (!closed) {
                    returnToRing(key(block.poolIndex(), block.offset()));
                }
                return;
            }
        }
        if (lastReference) {
            giveBack(block);
        }
    }

    /**
     * Sealed: writes a return into this view's ring, after any that waited for room; what finds no room
     * waits here, in this process's memory, for the owner to read on.
     */
    private void returnToRing(final long entry) {
        if (pendingCount == MAX_PENDING_RETURNS) {
            // The owner has not read its returns for a long while (stopped, or lying about how far it read):
            // this view's memory stays bounded, and the block stays with the owner until its arena closes.
            droppedReturns++;
        } else {
            if (pendingCount == pendingReturns.length) {
                pendingReturns = java.util.Arrays.copyOf(pendingReturns, Math.max(16, pendingCount * 2));
            }
            pendingReturns[pendingCount++] = entry;
        }
        final MemorySegment ring = returns.segment();
        long consumed = returnsConsumedSeen;
        if (returnsPublished + pendingCount - consumed > RING_CAPACITY) {
            // acquire: pairs with the owner's putLongRelease(RETURNS_CONSUMED) after it read the entries; a slot
            // is written again only once a count read this way says its entry was read. A lying owner only loses
            // its own returns.
            consumed = getLongAcquire(pools.getFirst().segment(), RETURNS_CONSUMED_OFFSET);
            returnsConsumedSeen = consumed;
        }
        int sent = 0;
        while (sent < pendingCount && returnsPublished - consumed < RING_CAPACITY) {
            ring.set(JAVA_LONG, RING_ENTRIES_OFFSET + (returnsPublished & RING_CAPACITY - 1) * 8, pendingReturns[sent++]);
            returnsPublished++;
        }
        if (sent > 0) {
            System.arraycopy(pendingReturns, sent, pendingReturns, 0, pendingCount - sent);
            pendingCount -= sent;
            // release: the entries are written before the count that publishes them; pairs with the owner's
            // getLongAcquire(RING_PUBLISHED).
            dev.isthmus.internal.MemoryAccess.putLongRelease(ring, RING_PUBLISHED_OFFSET, returnsPublished);
        }
    }

    @Override
    public void dropped(final ShmBlock block) {
        giveBack(block);
    }

    /**
     * Keeps {@code record}'s gauge of blocks borrowed now ({@link dev.isthmus.stat.StatKind.Session#BLOCKS_BORROWED_NOW})
     * up to date from now on.
     *
     * @param record a session's record
     */
    public synchronized void stats(final dev.isthmus.stat.StatRecord record) {
        stats = record;
        record.set(dev.isthmus.stat.StatKind.Session.BLOCKS_BORROWED_NOW, borrowedNow);
    }

    /** The last reference to a borrowed block was dropped here: push it on its pool's return stack. */
    private void giveBack(final ShmBlock block) {
        final MemorySegment pool = block.pool();
        final long offset = block.offset();
        long head;
        do {
            head = getLongVolatile(pool, RETURN_HEAD_OFFSET);
            pool.set(JAVA_LONG, offset + BLOCK_NEXT_OFFSET, head);
            // release (CAS): the link is written before the block is published on the stack; pairs with the
            // owner's getAndSetLong(RETURN_HEAD) in ShmArena.drainReturns().
        } while (!compareAndSetLong(pool, RETURN_HEAD_OFFSET, head, offset));
    }

    /**
     * {@return the peer process that owns the arena}
     */
    public ProcessIdentity owner() {
        return owner;
    }

    /**
     * Unmaps every pool this view mapped; blocks borrowed through it become unusable. Idempotent.
     *
     * @param unlink whether to remove the pools' names too, as the survivor does when the owner died
     */
    public synchronized void close(final boolean unlink) {
        if (closed) {
            return;
        }
        closed = true;
        if (returns != null) {
            returns.close();
        }
        for (final SharedMemory memory : pools) {
            if (memory != null) {
                if (unlink) {
                    memory.unlink();
                }
                memory.close();
            }
        }
    }

    /** Unmaps every pool this view mapped. Idempotent. */
    @Override
    public void close() {
        close(false);
    }
}
