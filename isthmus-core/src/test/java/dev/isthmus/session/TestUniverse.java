/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.shm.PermissionLevel;

import java.nio.file.Path;
import java.util.List;

/**
 * The apps of a cross-process session test, built the same way in every process from a few strings, as
 * real programs share one definition.
 *
 * @param serverName  the server app's name
 * @param clientName  the client app's name
 * @param runDir      the run directory
 * @param level       the permission level
 * @param clientMain  the main class the client must run, or {@code "-"} for no check
 * @param clientUid   the uid the client must run as
 * @param clientGid   the gid the client must run as
 * @param serverUid   the uid the server runs as
 * @param serverGid   the gid the server runs as
 * @param otherPidNamespaces whether the server app accepts peers in other pid namespaces
 */
public record TestUniverse(String serverName, String clientName, Path runDir, PermissionLevel level, String clientMain,
                    int clientUid, int clientGid, int serverUid, int serverGid, boolean otherPidNamespaces) {
    TestUniverse(final String serverName, final String clientName, final Path runDir, final PermissionLevel level,
                 final String clientMain, final int clientUid, final int clientGid, final int serverUid,
                 final int serverGid) {
        this(serverName, clientName, runDir, level, clientMain, clientUid, clientGid, serverUid, serverGid, false);
    }

    /** A universe whose server runs as this process's user. */
    public TestUniverse(final String serverName, final String clientName, final Path runDir, final PermissionLevel level,
                 final String clientMain, final int clientUid, final int clientGid) {
        this(serverName, clientName, runDir, level, clientMain, clientUid, clientGid,
            dev.isthmus.internal.linux.Credentials.effectiveUid(), dev.isthmus.internal.linux.Credentials.effectiveGid());
    }

    TestUniverse acrossPidNamespaces() {
        return new TestUniverse(serverName, clientName, runDir, level, clientMain, clientUid, clientGid, serverUid,
            serverGid, true);
    }

    public ClientApp client() {
        final ClientApp.Builder builder = ClientApp.builder(clientName).user(clientUid, clientGid);
        if (!clientMain.equals("-")) {
            builder.mainClass(clientMain);
        }
        return builder.build();
    }

    public ServerApp server() {
        final ServerApp.Builder builder = ServerApp.builder(serverName).user(serverUid, serverGid)
            .allowedClients(client()).permissions(level).runDirectory(runDir);
        if (otherPidNamespaces) {
            builder.acceptOtherPidNamespaces();
        }
        return builder.build();
    }

    public List<String> args() {
        return List.of(serverName, clientName, runDir.toString(), level.name(), clientMain, Integer.toString(clientUid),
            Integer.toString(clientGid), Integer.toString(serverUid), Integer.toString(serverGid),
            Boolean.toString(otherPidNamespaces));
    }

    public static TestUniverse parse(final String[] args, final int from) {
        return new TestUniverse(args[from], args[from + 1], Path.of(args[from + 2]), PermissionLevel.valueOf(args[from + 3]),
            args[from + 4], Integer.parseInt(args[from + 5]), Integer.parseInt(args[from + 6]),
            Integer.parseInt(args[from + 7]), Integer.parseInt(args[from + 8]), Boolean.parseBoolean(args[from + 9]));
    }

    public static final int ARGS = 10;
}
