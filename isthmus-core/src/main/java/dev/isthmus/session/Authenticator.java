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
 * the socket reports them, and {@code /proc}) against what it claims and what the server allows.
 *
 * <p>This is safety, not security: it keeps the wrong program (or the right one run by the wrong user)
 * from talking to a server by mistake; an attacker running as the same user can do anything that user can.
 */
final class Authenticator {
    private Authenticator() {
    }

    /**
     * The kernel's credentials of the peer of a socket.
     *
     * @param pid the peer's process id
     * @param uid its user id
     * @param gid its group id
     */
    record PeerCredentials(long pid, int uid, int gid) {
    }

    /**
     * Checks a connecting client.
     *
     * @param server      the server, with its allowed clients
     * @param claimedName the client app name the peer claims
     * @param claimedUid  the user id the peer claims
     * @param claimedGid  the group id the peer claims
     * @param peer        the kernel's credentials of the peer
     * @return the allowed client's definition, or a rejection reason
     */
    static Result check(final ServerApp server, final String claimedName, final int claimedUid, final int claimedGid,
                        final PeerCredentials peer) {
        final ClientApp allowed = server.allowedClients().get(claimedName);
        if (allowed == null) {
            return Result.rejected("client app \"" + claimedName + "\" is not among the clients server app \""
                + server.name() + "\" allows " + server.allowedClients().keySet(),
                "server app \"" + server.name() + "\" does not allow client app \"" + claimedName + "\"");
        }
        if (peer.uid() != claimedUid || peer.gid() != claimedGid) {
            final String reason = "the connecting process (pid " + peer.pid() + ") runs as uid " + peer.uid() + ", gid "
                + peer.gid() + " but claims uid " + claimedUid + ", gid " + claimedGid;
            return Result.rejected(reason, reason);
        }
        if (peer.uid() != allowed.uid() || peer.gid() != allowed.gid()) {
            return Result.rejected("client app \"" + claimedName + "\" must run as uid " + allowed.uid() + ", gid "
                + allowed.gid() + "; the connecting process (pid " + peer.pid() + ") runs as uid " + peer.uid() + ", gid "
                + peer.gid(), "client app \"" + claimedName + "\" may not run as uid " + peer.uid() + ", gid " + peer.gid());
        }
        final ProcessIdentity before = ProcessIdentity.of(peer.pid());
        final Optional<ProcessInfo> info = ProcessInfo.of(peer.pid());
        if (before == null || info.isEmpty() || !before.equals(ProcessIdentity.of(peer.pid()))) {
            return Result.rejected("the connecting process (pid " + peer.pid() + ") vanished during authentication");
        }
        final ProcessInfo process = info.get();
        if (allowed.executable().isPresent()) {
            if (process.executable().isEmpty()) {
                return Result.rejected("the executable of the connecting process (pid " + peer.pid() + ") cannot be read"
                    + " by this server (it runs as another user); client app \"" + claimedName + "\" is checked by"
                    + " executable");
            }
            if (!sameFile(process.executable().get(), allowed.executable().get())) {
                return Result.rejected("client app \"" + claimedName + "\" must run " + allowed.executable().get()
                    + "; the connecting process (pid " + peer.pid() + ") runs " + process.executable().get());
            }
        }
        if (allowed.mainClass().isPresent() && !allowed.mainClass().equals(process.mainClass())) {
            return Result.rejected("client app \"" + claimedName + "\" must run main class " + allowed.mainClass().get()
                + "; the connecting process (pid " + peer.pid() + ") runs "
                + process.mainClass().map(c -> "main class " + c).orElse(process.jar().map(j -> "jar " + j)
                .orElse("no recognisable Java main class")));
        }
        if (allowed.jar().isPresent()
            && (process.jar().isEmpty() || !sameFile(process.jar().get(), allowed.jar().get()))) {
            return Result.rejected("client app \"" + claimedName + "\" must run jar " + allowed.jar().get()
                + "; the connecting process (pid " + peer.pid() + ") runs "
                + process.jar().map(j -> "jar " + j).orElse(process.mainClass().map(c -> "main class " + c)
                .orElse("no recognisable jar")));
        }
        return Result.accepted(allowed, before);
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
