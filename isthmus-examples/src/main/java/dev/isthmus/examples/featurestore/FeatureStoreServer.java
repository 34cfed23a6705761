/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.examples.featurestore;

import dev.isthmus.data.ShmMap;
import dev.isthmus.session.Session;
import dev.isthmus.session.SessionOptions;
import dev.isthmus.session.SessionServer;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The feature store's server: fills a {@link ShmMap} with every user's features, lends it read-only to each
 * client that opens a session, and keeps updating it while they read. Clients read it in place, without a
 * lock and without a message per lookup; none of them can write it.
 *
 * <p>Usage: {@code FeatureStoreServer <run directory>}. Prints {@code READY} when clients may connect,
 * serves until its standard input closes, then prints how many updates it made.
 */
public final class FeatureStoreServer {
    private FeatureStoreServer() {
    }

    /**
     * Runs the server.
     *
     * @param args the run directory
     * @throws Exception if it fails
     */
    public static void main(final String[] args) throws Exception {
        final Path runDir = Path.of(args[0]);
        final AtomicBoolean running = new AtomicBoolean(true);
        final AtomicLong updates = new AtomicLong();
        try (ShmMap features = ShmMap.create("featureStore", "features", FeatureStore.MAP);
             SessionServer server = SessionServer.start(FeatureStore.server(runDir), SessionOptions.defaults())) {
            final MemorySegment value = Arena.ofAuto().allocate(FeatureStore.VALUE_BYTES, 8);
            for (long user = 0; user < FeatureStore.USERS; user++) {
                FeatureStore.features(user, 0, value);
                if (!features.put(user, value)) {
                    throw new IllegalStateException("the map is full at user " + user);
                }
            }
            server.onSession(session -> lend(features, session));
            final Thread updater = Thread.ofPlatform().name("feature-updater").start(() -> {
                final MemorySegment next = Arena.ofAuto().allocate(FeatureStore.VALUE_BYTES, 8);
                final MemorySegment current = Arena.ofAuto().allocate(FeatureStore.VALUE_BYTES, 8);
                final SplittableRandom random = new SplittableRandom(1);
                while (running.get()) {
                    final long user = random.nextLong(FeatureStore.USERS);
                    features.get(user, current);
                    FeatureStore.features(user, current.getAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG, 0) + 1, next);
                    features.put(user, next);
                    updates.incrementAndGet();
                    if ((updates.get() & 0xff) == 0) {
                        Thread.onSpinWait();
                    }
                }
            });
            System.out.println("READY " + features.size() + " users");
            System.out.flush();
            final BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            while (stdin.readLine() != null) {
                // serve until stdin closes
            }
            running.set(false);
            updater.join();
        }
        System.out.println("UPDATES " + updates.get());
    }

    /** Hands the map to a new client, read-only, over its first channel's descriptor pipe. */
    private static void lend(final ShmMap features, final Session session) {
        if (!features.lend(session.initChannels().getFirst().handles(), false, TimeUnit.SECONDS.toNanos(5))) {
            System.err.println("could not lend the map to " + session + ": its pipe stayed full");
            session.close();
        }
    }
}
