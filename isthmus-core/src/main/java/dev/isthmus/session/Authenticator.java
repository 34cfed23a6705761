/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.shm.ProcessIdentity;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Decides whether a connecting process may open a session: the kernel's view of it (its credentials as
 * the socket recorded them, its process descriptor, and {@code /proc}) against what it claims and what the
 * server allows.
 *
 * <p>The uid and gid come from the kernel and cannot be forged: they are what gives security, and the
 * permission levels of the run directory, socket and shared memory rest on them. The executable, jar and
 * main-class checks read the process's {@code /proc} entry (bound to the process by its descriptor, so pid
 * reuse cannot substitute another): the executable is the kernel's, but the command line is written by the
 * process itself, so the main-class and jar checks are safety, not security. They keep the wrong program of
 * the right user from talking to a server by mistake; a process of the same user that means harm can
 * claim any main class, and can do anything that user can anyway.
 */
final class Authenticator {
    private Authenticator() {
    }

    /**
     * Checks a connecting client.
     *
     * @param server      the server, with its allowed clients
     * @param claimedName the client app name the peer claims
     * @param claimedUid  the user id the peer claims
     * @param claimedGid  the group id the peer claims
     * @param peer        the process at the other end, bound to its process descriptor
     * @return the allowed client's definition, or a rejection reason
     */
    static Result check(final ServerApp server, final String claimedName, final int claimedUid, final int claimedGid,
                        final PeerProcess peer) {
        final ClientApp allowed = server.allowedClients().get(claimedName);
        final PeerCredentials credentials = new PeerCredentials(peer.localPid(), peer.credentials().uid(),
            peer.credentials().gid());
        if (allowed == null) {
            return Result.rejected("client app \"" + claimedName + "\" is not among the clients server app \""
                + server.name() + "\" allows " + server.allowedClients().keySet(),
                "server app \"" + server.name() + "\" does not allow client app \"" + claimedName + "\"");
        }
        return check(server, allowed, claimedName, claimedUid, claimedGid, credentials, peer);
    }

    private record PeerCredentials(long pid, int uid, int gid) {
    }

    private static Result check(final ServerApp server, final ClientApp allowed, final String claimedName,
                                final int claimedUid, final int claimedGid, final PeerCredentials peer,
                                final PeerProcess process) {
        final String who = "the connecting process (" + process + ")";
        if (peer.uid() != claimedUid || peer.gid() != claimedGid) {
            final String reason = who + " runs as uid " + peer.uid() + ", gid " + peer.gid() + " but claims uid "
                + claimedUid + ", gid " + claimedGid;
            return Result.rejected(reason, reason);
        }
        if (peer.uid() != allowed.uid() || peer.gid() != allowed.gid()) {
            return Result.rejected("client app \"" + claimedName + "\" must run as uid " + allowed.uid() + ", gid "
                + allowed.gid() + "; " + who + " runs as uid " + peer.uid() + ", gid " + peer.gid(),
                "client app \"" + claimedName + "\" may not run as uid " + peer.uid() + ", gid " + peer.gid());
        }
        final boolean checksProcess = allowed.executable().isPresent() || allowed.mainClass().isPresent()
            || allowed.jar().isPresent();
        if (!process.isInThisPidNamespace()) {
            if (!server.otherPidNamespaces()) {
                return Result.rejected(who + " runs in another pid namespace (a container?), and server app \""
                    + server.name() + "\" does not accept clients from other pid namespaces (see"
                    + " ServerApp.Builder.acceptOtherPidNamespaces)");
            }
            if (peer.pid() == 0 && checksProcess) {
                return Result.rejected(who + " runs in a pid namespace this server cannot see into, so the executable,"
                    + " jar or main class that client app \"" + claimedName + "\" is defined with cannot be checked;"
                    + " define it without them to accept it from a sidecar container");
            }
        }
        if (!checksProcess) {
            return Result.accepted(allowed, process.identity());
        }
        final Optional<ProcessInfo> info = ProcessInfo.of(peer.pid());
        // Alive after the read: the pid still named the bound process while /proc was read.
        if (info.isEmpty() || !process.isAlive()) {
            return Result.rejected(who + " vanished during authentication");
        }
        final ProcessInfo found = info.get();
        if (allowed.executable().isPresent()) {
            if (found.executable().isEmpty()) {
                return Result.rejected("the executable of " + who + " cannot be read by this server (it runs as another"
                    + " user); client app \"" + claimedName + "\" is checked by executable");
            }
            if (!sameFile(found.executable().get(), allowed.executable().get())) {
                return Result.rejected("client app \"" + claimedName + "\" must run " + allowed.executable().get()
                    + "; " + who + " runs " + found.executable().get());
            }
        }
        if (allowed.mainClass().isPresent() && !allowed.mainClass().equals(found.mainClass())) {
            return Result.rejected("client app \"" + claimedName + "\" must run main class " + allowed.mainClass().get()
                + "; " + who + " runs "
                + found.mainClass().map(c -> "main class " + c).orElse(found.jar().map(j -> "jar " + j)
                .orElse("no recognisable Java main class")));
        }
        if (allowed.jar().isPresent()
            && (found.jar().isEmpty() || !sameFile(found.jar().get(), allowed.jar().get()))) {
            return Result.rejected("client app \"" + claimedName + "\" must run jar " + allowed.jar().get()
                + "; " + who + " runs "
                + found.jar().map(j -> "jar " + j).orElse(found.mainClass().map(c -> "main class " + c)
                .orElse("no recognisable jar")));
        }
        return Result.accepted(allowed, process.identity());
    }

    private static boolean sameFile(final Path actual, final Path expected) {
        try {
            return Files.isSameFile(actual, expected);
        } catch (final IOException e) {
            return actual.normalize().equals(expected.toAbsolutePath().normalize());
        }
    }

    /**
     * An authentication's outcome.
     *
     * @param client   the allowed client's definition, if accepted
     * @param identity the client process's identity, if accepted
     * @param reason   why it was rejected, if rejected, in full for the server's error handler
     * @param toPeer   what the rejected peer is told: the reason in full if it runs as the client app's
     *                 user, else nothing about the allowed apps, user ids or executables
     */
    record Result(ClientApp client, ProcessIdentity identity, String reason, String toPeer) {
        static Result accepted(final ClientApp client, final ProcessIdentity identity) {
            return new Result(client, identity, null, null);
        }

        /** A rejection whose reason the peer may hear in full (it runs as the client app's user). */
        static Result rejected(final String reason) {
            return new Result(null, null, reason, reason);
        }

        /** A rejection the peer hears in other words: nothing about the allowed apps, users or files. */
        static Result rejected(final String reason, final String toPeer) {
            return new Result(null, null, reason, toPeer);
        }

        boolean isAccepted() {
            return client != null;
        }
    }
}
