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
 */
record TestUniverse(String serverName, String clientName, Path runDir, PermissionLevel level, String clientMain,
                    int clientUid, int clientGid, int serverUid, int serverGid) {
    ClientApp client() {
        final ClientApp.Builder builder = ClientApp.builder(clientName).user(clientUid, clientGid);
        if (!clientMain.equals("-")) {
            builder.mainClass(clientMain);
        }
        return builder.build();
    }

    ServerApp server() {
        return ServerApp.builder(serverName).user(serverUid, serverGid).allowedClients(client()).permissions(level)
            .runDirectory(runDir).build();
    }

    List<String> args() {
        return List.of(serverName, clientName, runDir.toString(), level.name(), clientMain, Integer.toString(clientUid),
            Integer.toString(clientGid), Integer.toString(serverUid), Integer.toString(serverGid));
    }

    static TestUniverse parse(final String[] args, final int from) {
        return new TestUniverse(args[from], args[from + 1], Path.of(args[from + 2]), PermissionLevel.valueOf(args[from + 3]),
            args[from + 4], Integer.parseInt(args[from + 5]), Integer.parseInt(args[from + 6]),
            Integer.parseInt(args[from + 7]), Integer.parseInt(args[from + 8]));
    }

    static final int ARGS = 9;
}
