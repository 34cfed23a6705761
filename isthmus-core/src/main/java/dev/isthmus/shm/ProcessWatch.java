/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import dev.isthmus.internal.linux.Pidfd;

/**
 * Watches one process for exit, cheaply and without allocating: through a process descriptor (pidfd)
 * where the kernel has them, else through {@link ProcessIdentity#isAlive()}.
 *
 * <p>The pidfd is opened only after checking that the pid still belongs to the identity's process, so
 * pid reuse cannot make a dead peer look alive.
 *
 * <p>Thread safety: thread-safe.
 */
public final class ProcessWatch implements AutoCloseable {
    private final ProcessIdentity identity;
    private final Pidfd.Probe probe;
    private volatile boolean exited;
    /** Why the process counts as dead although it may run, if someone {@linkplain #declareDead declared} it. */
    private volatile String declared;

    /**
     * Starts watching.
     *
     * @param identity the process
     */
    public ProcessWatch(final ProcessIdentity identity) {
        this.identity = identity;
        final int fd = Pidfd.open(identity.pid());
        if (fd >= 0 && !identity.isAlive()) {
            // The pid was reused (or the process is a zombie): the descriptor is not our process.
            dev.isthmus.internal.linux.FileIo.close(fd);
            this.probe = null;
            this.exited = true;
        } else {
            this.probe = fd >= 0 ? new Pidfd.Probe(fd) : null;
            this.exited = fd < 0 && !identity.isAlive();
        }
    }

    private ProcessWatch(final ProcessIdentity identity, final Pidfd.Probe probe) {
        this.identity = identity;
        this.probe = probe;
    }

    /**
     * Watches the process a process descriptor refers to, e.g. one from {@code SO_PEERPIDFD}: no pid is
     * looked up, so this works for a process in a pid namespace this one cannot see into, and pid reuse
     * cannot fool it.
     *
     * @param pidfd    a process descriptor, which the watch then owns
     * @param identity what is known of the process: its pid and start time here, or pid 0 if it is not
     *                 visible from this pid namespace; for messages only
     * @return the watch
     */
    public static ProcessWatch ofPidfd(final int pidfd, final ProcessIdentity identity) {
        return new ProcessWatch(identity, new Pidfd.Probe(pidfd));
    }

    /**
     * {@return the watched process}
     */
    public ProcessIdentity identity() {
        return identity;
    }

    /**
     * {@return whether the process still runs}
     */
    public boolean isAlive() {
        return declared == null && !hasExited();
    }

    /**
     * {@return whether the process has really exited, whatever it was {@linkplain #declareDead declared};
     * {@code true} once this watch is closed (nothing can be told any more)}
     */
    public boolean hasExited() {
        if (exited) {
            return true;
        }
        final boolean gone = probe != null ? probe.hasExited() : !identity.isAlive();
        if (gone) {
            exited = true;
        }
        return gone;
    }

    /**
     * Declares the process dead from now on, although it may still run: e.g. a session that gave up on a
     * peer that stopped answering (SIGSTOP, a pause longer than the idle timeout), so that everything
     * judging the peer by this watch fails at its next check instead of waiting on a process that may
     * never move again. Irreversible.
     *
     * @param reason what happened, e.g. {@code "stopped answering for PT5S"}
     */
    public void declareDead(final String reason) {
        declared = java.util.Objects.requireNonNull(reason, "reason");
    }

    /**
     * {@return whether the process was {@linkplain #declareDead declared dead} (or this watch closed): a
     * volatile read, no system call}
     */
    public boolean isDeclaredDead() {
        return declared != null;
    }

    /**
     * {@return how the process ended, for messages: {@code "died"}, or the reason it was declared dead}
     */
    public String fate() {
        final String reason = declared;
        return reason == null ? "died" : "was declared dead (" + reason + ")";
    }

    /** Stops watching. Idempotent. */
    @Override
    public void close() {
        if (declared == null) {
            declared = "its watch was closed";
        }
        if (probe != null) {
            probe.close();
        }
    }
}
