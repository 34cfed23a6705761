/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.examples.featurestore;

import dev.isthmus.test.ChildJvm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs the example as its README section does: a server JVM and three client JVMs reading while it updates.
 */
class FeatureStoreExampleTest {
    private static final Duration LONG = Duration.ofSeconds(120);

    @Test
    void shouldServeWholeFeaturesToConcurrentClientsWhileUpdatingThem(@TempDir final Path runDir) {
        try (ChildJvm server = ChildJvm.start(FeatureStoreServer.class, runDir.toString())) {
            assertEquals("READY " + FeatureStore.USERS + " users", server.awaitLine("READY", LONG));
            final List<ChildJvm> clients = new ArrayList<>();
            try {
                for (int i = 0; i < 3; i++) {
                    clients.add(ChildJvm.start(FeatureStoreClient.class, runDir.toString(), "2000000"));
                }
                for (final ChildJvm client : clients) {
                    final String[] result = client.awaitLine("LOOKUPS", LONG).split(" ");
                    assertEquals("2000000", result[1]);
                    assertEquals("0", result[3], "no client ever sees a torn feature vector");
                    assertTrue(Long.parseLong(result[5]) > 0, "clients see the server's updates");
                    assertEquals("REFUSED", result[7], "a read-only borrower cannot write");
                    client.assertExit(0, LONG);
                }
            } finally {
                clients.forEach(ChildJvm::close);
            }
            server.process().getOutputStream().close();
            final long updates = Long.parseLong(server.awaitLine("UPDATES", LONG).substring(8));
            assertTrue(updates > 0);
            server.assertExit(0, LONG);
        } catch (final java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
