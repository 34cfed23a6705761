/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.examples.guide;

import dev.isthmus.session.ClientApp;
import dev.isthmus.session.ServerApp;
import dev.isthmus.shm.PermissionLevel;

import java.nio.file.Path;

/**
 * The guide's deployment: a server run by systemd, and a client of another user, or in a sidecar container.
 */
public final class Deployment {
    // guide:deployment:begin
    // The client runs as another user of the server's group, possibly in a container of its own: it is
    // checked by uid and gid only, since the server may not see its /proc entry.
    static final ClientApp SIDECAR = ClientApp.builder("sidecar").user(1001, 1000).build();
    static final ServerApp PRICER = ServerApp.builder("pricer")
        .user(1000, 1000)
        .mainClass("com.example.Pricer")
        .runDirectory(Path.of("/run/pricer"))          // the unit's RuntimeDirectory=pricer, shared with the client
        .permissions(PermissionLevel.GROUP_ACCESS)     // socket 0660, pid file 0640, directory 0750
        .acceptOtherPidNamespaces()                    // the client may run in another pid namespace
        .allowedClients(SIDECAR)
        .build();
    // guide:deployment:end

    private Deployment() {
    }
}
