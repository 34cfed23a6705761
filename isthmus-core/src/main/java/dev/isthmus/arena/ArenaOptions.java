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
 */
public record ArenaOptions(long poolBytes, PermissionLevel permissions, Path directory, boolean prefault) {
    /** The default pool size: 64 MiB. */
    public static final long DEFAULT_POOL_BYTES = 64L << 20;

    /**
     * Validates the options.
     *
     * @throws IllegalArgumentException if the pool size is not a power of two of at least 1 MiB
     */
    public ArenaOptions {
        if (poolBytes < 1 << 20 || Long.bitCount(poolBytes) != 1) {
            throw new IllegalArgumentException("poolBytes=" + poolBytes + " must be a power of two >= 1 MiB");
        }
        Objects.requireNonNull(permissions, "permissions");
        Objects.requireNonNull(directory, "directory");
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
        return new ArenaOptions(poolBytes, level, directory, prefault);
    }

    /**
     * {@return these options with another pool size}
     *
     * @param bytes a power of two of at least 1 MiB
     */
    public ArenaOptions withPoolBytes(final long bytes) {
        return new ArenaOptions(bytes, permissions, directory, prefault);
    }
}
