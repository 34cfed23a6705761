/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import dev.isthmus.internal.linux.Platform;
import dev.isthmus.internal.linux.Processes;

/**
 * A process identity that survives pid reuse: the pid and the process's start time after boot.
 *
 * <p>A pid alone is ambiguous once its process has died, because the kernel hands it out again. The
 * pair (pid, start time) names exactly one process for as long as the machine runs, so a resource
 * stamped with it can be told live or stale by anyone, at any time.
 *
 * @param pid            the process id
 * @param startTimeTicks the start time after boot in clock ticks, from {@code /proc/<pid>/stat}
 */
public record ProcessIdentity(long pid, long startTimeTicks) {
    private static final ProcessIdentity CURRENT = identify(ProcessHandle.current().pid());

    /**
     * {@return the identity of this process}
     */
    public static ProcessIdentity current() {
        return CURRENT;
    }

    /**
     * {@return the identity of a running process, or {@code null} if there is none with that pid}
     *
     * @param pid the process id
     */
    public static ProcessIdentity of(final long pid) {
        return identify(pid);
    }

    private static ProcessIdentity identify(final long pid) {
        Platform.requireSupported();
        final Processes.ProcStat stat = Processes.procStat(pid);
        return stat == null ? null : new ProcessIdentity(pid, stat.startTimeTicks());
    }

    /**
     * Tells whether this very process still runs: the pid exists, is not a zombie, and started at the
     * recorded time.
     *
     * @return {@code true} if the process is alive
     */
    public boolean isAlive() {
        if (pid <= 0 || pid > Integer.MAX_VALUE) {
            return false;
        }
        if (Processes.signalZero(pid) == Processes.DEAD) {
            return false;
        }
        final Processes.ProcStat stat = Processes.procStat(pid);
        return stat != null && !stat.isZombie() && stat.startTimeTicks() == startTimeTicks;
    }
}
