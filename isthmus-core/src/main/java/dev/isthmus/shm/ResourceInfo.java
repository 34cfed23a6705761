/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import java.nio.file.Path;

/**
 * What {@link Resources#list} found about one entry under an Isthmus name.
 *
 * <p>Most entries are judged {@linkplain Liveness#LIVE live} or {@linkplain Liveness#STALE stale}. An entry
 * that belongs to another user, or that is not something Isthmus creates there (a FIFO, a symbolic link, a
 * directory, a device), is not judged: it is reported as {@linkplain Liveness#FOREIGN foreign} or
 * {@linkplain Liveness#UNREADABLE unreadable}, with the reason in {@link #detail()}, and no sweep ever reads
 * or removes it. Anyone can create such an entry in a world-writable directory such as {@code /dev/shm};
 * reporting it instead of failing is what keeps it from stopping a server's start, {@code isthmus ls} or
 * {@code isthmus clean}.
 *
 * @param name      the parsed name; for a pid file ({@code <prefix>.<app>.pid}), whose file name has no pid,
 *                  a name made of its app and the pid it holds, or {@link Resources#UNKNOWN_PID} if it was not
 *                  read or holds none
 * @param path      the file
 * @param sizeBytes the file's length (for a message queue: the bytes queued in it)
 * @param ownerPid  the creating process, from the segment header or the pid file if it has one, otherwise
 *                  from the name; 0 if unknown
 * @param liveness  whether the owner still runs, or why that was not judged
 * @param detail    how the liveness was decided, or what is wrong with the entry
 */
public record ResourceInfo(ResourceName name, Path path, long sizeBytes, long ownerPid, Liveness liveness,
                           String detail) {
    /** Whether a resource's owner still runs, or why that was not judged. */
    public enum Liveness {
        /** The owner runs (or may run: a pid that exists, or a pid file's lock that is held, is never treated as dead). */
        LIVE,
        /** The owner has exited: the resource is left over and may be removed. */
        STALE,
        /**
         * The entry belongs to another user (its owner uid is not this process's effective uid): it was
         * neither read nor judged, and is never removed, not even by root. {@link ResourceInfo#detail()}
         * names the owner.
         */
        FOREIGN,
        /**
         * The entry is this user's but is not something Isthmus creates there (a FIFO, a symbolic link, a
         * directory, a device), or could not be read safely: it was not judged, and is never removed.
         * {@link ResourceInfo#detail()} says what it is.
         */
        UNREADABLE
    }

    /**
     * {@return whether the resource is left over by a process that no longer runs}
     */
    public boolean isStale() {
        return liveness == Liveness.STALE;
    }

    /**
     * {@return whether the entry was left alone without judging it: {@link Liveness#FOREIGN} or
     * {@link Liveness#UNREADABLE}}
     */
    public boolean isSkipped() {
        return liveness == Liveness.FOREIGN || liveness == Liveness.UNREADABLE;
    }
}
