/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.AuthenticationException;
import dev.isthmus.internal.linux.Errno;
import dev.isthmus.internal.linux.Pidfd;
import dev.isthmus.internal.linux.Processes;
import dev.isthmus.internal.linux.Sockets;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ProcessWatch;
import dev.isthmus.transport.PeerCredentials;
import dev.isthmus.transport.UnixSocketBlobChannel;

/**
 * The process at the other end of a session's control socket, bound to that one process: a process
 * descriptor from {@code SO_PEERPIDFD} (Linux 6.5) where the kernel has it, so that authentication,
 * liveness and the checks of {@code /proc} all refer to the process that connected, whichever pid namespace
 * it lives in and however soon its pid is reused.
 *
 * <p>Its identity is the one it claims for itself (its pid in its own pid namespace, and its start time),
 * which is how it names what it creates; the claim is checked against the kernel's view as far as this
 * process can see: the pid against the innermost pid the process descriptor shows, the start time against
 * {@code /proc}. A process in a pid namespace this one cannot see into (a sidecar container) shows no pid
 * here: only its uid and gid are known, and its liveness, from the descriptor.
 *
 * <p>Thread safety: thread-safe.
 */
final class PeerProcess implements AutoCloseable {
    private final PeerCredentials credentials;
    private final long localPid;
    private final boolean sameNamespace;
    private final ProcessIdentity identity;
    private final ProcessWatch watch;
    private final String binding;

    private PeerProcess(final PeerCredentials credentials, final long localPid, final boolean sameNamespace,
                        final ProcessIdentity identity, final ProcessWatch watch, final String binding) {
        this.credentials = credentials;
        this.localPid = localPid;
        this.sameNamespace = sameNamespace;
        this.identity = identity;
        this.watch = watch;
        this.binding = binding;
    }

    /**
     * Binds to the process at the other end of {@code control} and checks what it claims of itself.
     *
     * @param control      the connected control socket
     * @param claimedPid   the pid the peer says it has, in its own pid namespace
     * @param claimedStart the start time the peer says it has, in clock ticks after boot
     * @return the peer, whose watch the caller closes with {@link #close()}
     * @throws AuthenticationException if the claims contradict the kernel, or the process has exited
     */
    static PeerProcess of(final UnixSocketBlobChannel control, final long claimedPid, final long claimedStart) {
        final PeerCredentials credentials = control.peerCredentials();
        final int pidfd = control.openPeerPidfd();
        if (pidfd == -Errno.ESRCH || pidfd == -Errno.EINVAL) {
            // Kernels report an exited peer either way: never a reason to fall back to the pid, which the
            // socket's new holder could make name another process.
            throw new AuthenticationException("the process at the other end of " + control + " has exited");
        }
        if (pidfd < 0) {
            return fallback(control, credentials, claimedPid, claimedStart, pidfd == -Sockets.ENOPROTOOPT
                ? "this kernel has no SO_PEERPIDFD (Linux 6.5)" : "SO_PEERPIDFD failed with " + Errno.name(-pidfd));
        }
        ProcessWatch watch = null;
        try {
            final long[] pids = Pidfd.namespacePids(pidfd);
            final long localPid = pids[0];
            final ProcessIdentity claimed = new ProcessIdentity(claimedPid, claimedStart);
            watch = ProcessWatch.ofPidfd(pidfd, claimed);
            if (localPid < 0) {
                throw new AuthenticationException("the process at the other end of " + control + " has exited");
            }
            if (localPid > 0) {
                final long ownPid = pids[pids.length - 1];
                if (ownPid != claimedPid) {
                    throw new AuthenticationException("the process at the other end of " + control + " claims pid "
                        + claimedPid + " but is pid " + ownPid + (pids.length > 1 ? " in its pid namespace (pid " + localPid
                        + " here)" : ""));
                }
                checkStartTime(control, localPid, claimedStart, watch);
            }
            final PeerProcess peer = new PeerProcess(credentials, localPid, pids.length == 1 && localPid > 0, claimed,
                watch, "its process descriptor (SO_PEERPIDFD)");
            watch = null;
            return peer;
        } catch (final RuntimeException | Error e) {
            if (watch != null) {
                watch.close();
            } else {
                dev.isthmus.internal.linux.FileIo.close(pidfd);
            }
            throw e;
        }
    }

    /** Without a process descriptor from the socket: the pid the socket recorded, and {@code /proc}. */
    private static PeerProcess fallback(final UnixSocketBlobChannel control, final PeerCredentials credentials,
                                        final long claimedPid, final long claimedStart, final String why) {
        final ProcessIdentity claimed = new ProcessIdentity(claimedPid, claimedStart);
        if (credentials.pid() == 0) {
            // In a pid namespace this one cannot see, without a process descriptor: its liveness cannot be
            // watched (its queues would judge it by a pid that names nothing here).
            throw new AuthenticationException("the process at the other end of " + control + " is in a pid namespace"
                + " this process cannot see into, and " + why + ": its liveness cannot be watched; such peers need"
                + " Linux 6.5 or later");
        }
        if (credentials.pid() != claimedPid) {
            throw new AuthenticationException("the process at the other end of " + control + " claims pid " + claimedPid
                + " but the socket records pid " + credentials.pid() + " (" + why + ", so a process in a nested pid"
                + " namespace cannot be told apart)");
        }
        final ProcessWatch watch = new ProcessWatch(claimed);
        try {
            checkStartTime(control, credentials.pid(), claimedStart, watch);
        } catch (final RuntimeException e) {
            watch.close();
            throw e;
        }
        return new PeerProcess(credentials, credentials.pid(), true, claimed, watch, "its pid and start time (" + why
            + ")");
    }

    private static void checkStartTime(final UnixSocketBlobChannel control, final long localPid, final long claimedStart,
                                       final ProcessWatch watch) {
        final Processes.ProcStat stat = Processes.procStat(localPid);
        // Alive after the read: the pid still named this process while /proc was read (no reuse in between).
        if (stat == null || !watch.isAlive()) {
            throw new AuthenticationException("the process at the other end of " + control + " (pid " + localPid
                + ") has exited");
        }
        if (stat.startTimeTicks() != claimedStart) {
            throw new AuthenticationException("the process at the other end of " + control + " (pid " + localPid
                + ") claims start time " + claimedStart + " but started at " + stat.startTimeTicks());
        }
    }

    /** {@return the kernel's credentials of the peer, as the socket recorded them} */
    PeerCredentials credentials() {
        return credentials;
    }

    /** {@return the peer's pid in this process's pid namespace, 0 if it is not visible from here} */
    long localPid() {
        return localPid;
    }

    /** {@return whether the peer lives in this process's pid namespace (its {@code /proc} is ours)} */
    boolean isInThisPidNamespace() {
        return sameNamespace;
    }

    /** {@return the identity the peer claims, checked as far as this process can see} */
    ProcessIdentity identity() {
        return identity;
    }

    /**
     * {@return the watch of the peer's liveness, or {@code null} when only the socket can tell (no
     * process descriptor and no visible pid)}
     */
    ProcessWatch watch() {
        return watch;
    }

    /** {@return whether the peer still runs and has not been declared dead} */
    boolean isAlive() {
        return watch == null || watch.isAlive();
    }

    /** {@return whether the peer's process has really exited (not merely been declared dead)} */
    boolean hasExited() {
        return watch != null && watch.hasExited();
    }

    /** {@return how the peer is bound, for messages} */
    String binding() {
        return binding;
    }

    @Override
    public void close() {
        if (watch != null) {
            watch.close();
        }
    }

    @Override
    public String toString() {
        return "pid " + identity.pid() + (localPid != identity.pid() ? " (" + (localPid == 0 ? "not visible"
            : "pid " + localPid) + " from this pid namespace)" : "") + ", uid " + Integer.toUnsignedString(credentials.uid());
    }
}
