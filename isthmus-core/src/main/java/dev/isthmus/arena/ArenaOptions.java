/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.arena;

import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.shm.SharedMemory;

import java.nio.file.Path;
import java.util.Objects;

/**
 * How an arena lays out its pools. Immutable; start from {@link #defaults()}.
 *
 * @param poolBytes   the size of a regular pool; larger blocks get a pool of their own
 * @param permissions who may open the pools
 * @param directory   where the pools live
 * @param prefault    whether fresh blocks are faulted in when first allocated (recommended: first touches
 *                    cost microseconds per page, and blocks are reused)
 * @param sealedPoolBytes the length of a sealed (session) arena's read-only pool: the most its blocks hold at
 *                    once, and the most of a peer's pool this side maps; address space, not memory
 * @param writablePoolBytes the length of a sealed arena's second pool, the one the peer maps read-write
 *                    ({@link ShmArena#allocatePeerWritable}): the most its peer-writable blocks hold at once,
 *                    the most of a peer's writable pool this side maps, and the most memory a peer can make
 *                    this side's pool commit by writing to it
 */
public record ArenaOptions(long poolBytes, PermissionLevel permissions, Path directory, boolean prefault,
                           long sealedPoolBytes, long writablePoolBytes) {
    /** The default pool size: 64 MiB. */
    public static final long DEFAULT_POOL_BYTES = 64L << 20;
    /**
     * The default length of a sealed (session) arena's one pool: 64 GiB of address space, of which only
     * the pages of blocks actually used take memory.
     */
    public static final long DEFAULT_SEALED_POOL_BYTES = 64L << 30;
    /**
     * The default length of a sealed arena's peer-writable pool: 1 GiB of address space, of which only the
     * pages of blocks actually used take memory.
     */
    public static final long DEFAULT_WRITABLE_POOL_BYTES = 1L << 30;

    /**
     * Validates the options.
     *
     * @throws IllegalArgumentException if the pool size is not a power of two of at least 1 MiB, or a sealed
     *                                  pool's length is outside [1 MiB, {@link SharedMemory#MAX_LENGTH_BYTES} / 2]
     */
    public ArenaOptions {
        if (poolBytes < 1 << 20 || Long.bitCount(poolBytes) != 1) {
            throw new IllegalArgumentException("poolBytes=" + poolBytes + " must be a power of two >= 1 MiB");
        }
        Objects.requireNonNull(permissions, "permissions");
        Objects.requireNonNull(directory, "directory");
        if (sealedPoolBytes < 1 << 20 || sealedPoolBytes > SharedMemory.MAX_LENGTH_BYTES / 2) {
            throw new IllegalArgumentException("sealedPoolBytes=" + sealedPoolBytes + " must be in [1 MiB, "
                + SharedMemory.MAX_LENGTH_BYTES / 2 + "]");
        }
        if (writablePoolBytes < 1 << 20 || writablePoolBytes > SharedMemory.MAX_LENGTH_BYTES / 2) {
            throw new IllegalArgumentException("writablePoolBytes=" + writablePoolBytes + " must be in [1 MiB, "
                + SharedMemory.MAX_LENGTH_BYTES / 2 + "]");
        }
    }

    /**
     * Options with the default peer-writable pool length.
     *
     * @param poolBytes       the length of each pool opened by name
     * @param permissions     the permission level of the pools
     * @param directory       where named pools live
     * @param prefault        whether blocks' pages are faulted in when first carved
     * @param sealedPoolBytes the length of a sealed arena's read-only pool
     */
    public ArenaOptions(final long poolBytes, final PermissionLevel permissions, final Path directory,
                        final boolean prefault, final long sealedPoolBytes) {
        this(poolBytes, permissions, directory, prefault, sealedPoolBytes, DEFAULT_WRITABLE_POOL_BYTES);
    }

    /**
     * Options with the default sealed pool length.
     *
     * @param poolBytes   the length of each pool opened by name
     * @param permissions the permission level of the pools
     * @param directory   where named pools live
     * @param prefault    whether blocks' pages are faulted in when first carved
     */
    public ArenaOptions(final long poolBytes, final PermissionLevel permissions, final Path directory,
                        final boolean prefault) {
        this(poolBytes, permissions, directory, prefault, DEFAULT_SEALED_POOL_BYTES);
    }

    /**
     * {@return the defaults: 64 MiB pools, user access, the default segment directory, pre-faulting}
     */
    public static ArenaOptions defaults() {
        return new ArenaOptions(DEFAULT_POOL_BYTES, PermissionLevel.USER_ACCESS, SharedMemory.DEFAULT_DIRECTORY, true);
    }

    /**
     * {@return these options with another permission level}
     *
     * @param level the level
     */
    public ArenaOptions withPermissions(final PermissionLevel level) {
        return new ArenaOptions(poolBytes, level, directory, prefault, sealedPoolBytes, writablePoolBytes);
    }

    /**
     * {@return these options with another length for a sealed arena's one pool (the most a session's arena
     * holds at once, and the most this side maps of the peer's)}
     *
     * @param bytes at least 1 MiB
     */
    public ArenaOptions withSealedPoolBytes(final long bytes) {
        return new ArenaOptions(poolBytes, permissions, directory, prefault, bytes, writablePoolBytes);
    }

    /**
     * {@return these options with another length for a sealed arena's peer-writable pool (the most its
     * peer-writable blocks hold at once, and the most this side maps of the peer's)}
     *
     * @param bytes at least 1 MiB
     */
    public ArenaOptions withWritablePoolBytes(final long bytes) {
        return new ArenaOptions(poolBytes, permissions, directory, prefault, sealedPoolBytes, bytes);
    }

    /**
     * {@return these options with another pool size}
     *
     * @param bytes a power of two of at least 1 MiB
     */
    public ArenaOptions withPoolBytes(final long bytes) {
        return new ArenaOptions(bytes, permissions, directory, prefault, sealedPoolBytes, writablePoolBytes);
    }
}
