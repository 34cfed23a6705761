/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

/**
 * Who is at the other end of a Unix-socket connection, as the kernel recorded it ({@code SO_PEERCRED}):
 * for the accepting side, the process that connected, at the time it connected; for the connecting side,
 * the process that created the listening socket. Nothing the peer says can change these values, so they
 * can authenticate it.
 *
 * @param pid the peer's process id, in this process's pid namespace
 * @param uid the peer's effective user id
 * @param gid the peer's effective group id
 */
public record PeerCredentials(long pid, int uid, int gid) {
    @Override
    public String toString() {
        return "pid " + pid + ", uid " + Integer.toUnsignedString(uid) + ", gid " + Integer.toUnsignedString(gid);
    }
}
