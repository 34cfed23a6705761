/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import java.nio.file.Path;

/**
 * What {@link Resources#list} found about one Isthmus resource.
 *
 * @param name      the parsed name
 * @param path      the file
 * @param sizeBytes the file's length
 * @param ownerPid  the creating process, from the segment header if it has one, otherwise from the name
 * @param liveness  whether the owner still runs
 * @param detail    how the liveness was decided, or what is wrong with the resource
 */
public record ResourceInfo(ResourceName name, Path path, long sizeBytes, long ownerPid, Liveness liveness,
                           String detail) {
    /** Whether a resource's owner still runs. */
    public enum Liveness {
        /** The owner runs (or may run: a pid that exists is never treated as dead). */
        LIVE,
        /** The owner has exited: the resource is left over and may be removed. */
        STALE
    }

    /**
     * {@return whether the resource is left over by a process that no longer runs}
     */
    public boolean isStale() {
        return liveness == Liveness.STALE;
    }
}
