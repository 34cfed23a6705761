/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.examples.featurestore;

import dev.isthmus.data.ShmMapOptions;
import dev.isthmus.session.ClientApp;
import dev.isthmus.session.ServerApp;
import dev.isthmus.shm.PermissionLevel;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * What the feature store's server and its clients share: the two applications, and the shape of a feature
 * vector. One class linked into both programs, as real ones share one definition.
 *
 * <p>A user's features are eight {@code long}s (64 bytes): a version, six features derived from the user and
 * the version, and a checksum of the seven. A client that ever saw a value whose checksum does not match
 * would have seen a torn write; the map's lock-free reads promise it never does.
 */
public final class FeatureStore {
    /** Users in the store. */
    public static final int USERS = 10_000;
    /** Bytes of one feature vector. */
    public static final int VALUE_BYTES = 64;
    /** The map: room for every user with some to spare, 8-byte keys, 64-byte values. */
    public static final ShmMapOptions MAP = ShmMapOptions.builder()
        .capacity(16_384).maxKeyBytes(8).maxValueBytes(VALUE_BYTES).stripes(64)
        .peersReadOnly()                // only the server writes: no client can, even running as the same user
        .build();

    private FeatureStore() {
    }

    /** {@return the client application: the {@link FeatureStoreClient} program, run by this user} */
    public static ClientApp client() {
        return ClientApp.builder("featureClient").mainClass(FeatureStoreClient.class).build();
    }

    /**
     * {@return the server application, run by this user, open to {@link #client()} only}
     *
     * @param runDir the run directory, where the server's socket lives
     */
    public static ServerApp server(final Path runDir) {
        return ServerApp.builder("featureStore").allowedClients(client())
            .permissions(PermissionLevel.USER_ACCESS).runDirectory(runDir).build();
    }

    /**
     * Writes the feature vector of {@code user} at {@code version}.
     *
     * @param user    the user
     * @param version the version
     * @param out     64 bytes
     */
    public static void features(final long user, final long version, final MemorySegment out) {
        long checksum = version * 0x9E3779B97F4A7C15L;
        out.setAtIndex(JAVA_LONG, 0, version);
        for (int i = 1; i < 7; i++) {
            final long feature = user * 31 + version * 17 + i;
            out.setAtIndex(JAVA_LONG, i, feature);
            checksum = Long.rotateLeft(checksum, 7) ^ feature;
        }
        out.setAtIndex(JAVA_LONG, 7, checksum);
    }

    /**
     * {@return whether a feature vector read for {@code user} is whole: its features and checksum match its version}
     *
     * @param user  the user
     * @param value 64 bytes read from the map
     */
    public static boolean isWhole(final long user, final MemorySegment value) {
        final long version = value.getAtIndex(JAVA_LONG, 0);
        long checksum = version * 0x9E3779B97F4A7C15L;
        for (int i = 1; i < 7; i++) {
            final long feature = value.getAtIndex(JAVA_LONG, i);
            if (feature != user * 31 + version * 17 + i) {
                return false;
            }
            checksum = Long.rotateLeft(checksum, 7) ^ feature;
        }
        return value.getAtIndex(JAVA_LONG, 7) == checksum;
    }
}
