/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.examples.featurestore;

import dev.isthmus.data.ShmMap;
import dev.isthmus.session.ClientSession;
import dev.isthmus.session.Session;
import dev.isthmus.session.SessionOptions;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A feature store client: opens a session with the server, borrows its map read-only, and looks users up
 * in place while the server updates them, checking that every value it reads is whole.
 *
 * <p>Usage: {@code FeatureStoreClient <run directory> <lookups>}. Prints one line:
 * {@code LOOKUPS <n> TORN <n> NEWEST <highest version seen> WRITE <what happened when it tried to write>}.
 */
public final class FeatureStoreClient {
    private FeatureStoreClient() {
    }

    /**
     * Runs the client.
     *
     * @param args the run directory and the number of lookups
     */
    public static void main(final String[] args) {
        final Path runDir = Path.of(args[0]);
        final long lookups = Long.parseLong(args[1]);
        try (Session session = ClientSession.connect(FeatureStore.client(), FeatureStore.server(runDir),
                 SessionOptions.defaults().initChannels(1));
             ShmMap features = ShmMap.borrow(session.initChannels().getFirst().handles(), TimeUnit.SECONDS.toNanos(30))) {
            final MemorySegment value = Arena.ofAuto().allocate(FeatureStore.VALUE_BYTES, 8);
            final SplittableRandom random = new SplittableRandom(ProcessHandle.current().pid());
            long torn = 0;
            long newest = 0;
            for (long i = 0; i < lookups; i++) {
                final long user = random.nextLong(FeatureStore.USERS);
                if (features.get(user, value) != FeatureStore.VALUE_BYTES || !FeatureStore.isWhole(user, value)) {
                    torn++;
                }
                newest = Math.max(newest, value.getAtIndex(JAVA_LONG, 0));
            }
            String write;
            try {
                features.put(0L, value);
                write = "ALLOWED";
            } catch (final IllegalStateException | UnsupportedOperationException e) {
                write = "REFUSED";
            }
            System.out.println("LOOKUPS " + lookups + " TORN " + torn + " NEWEST " + newest + " WRITE " + write);
        }
    }
}
