/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.demo;

import dev.isthmus.session.ClientApp;
import dev.isthmus.session.ServerApp;
import dev.isthmus.session.SessionOptions;
import dev.isthmus.sync.IdleStrategies;
import dev.isthmus.transport.ShmQueueOptions;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The cache demo's application universe, shared by its two programs as real ones would share it: the
 * cache client (the {@code isthmus demo} command) and the cache server ({@link CacheServerMain}).
 */
final class CacheApps {
    static final String CLIENT = "cacheCli";
    static final String SERVER = "cacheSrv";
    /** Metadata of the classic session: capnp serialized on the heap, copied through a Unix socket. */
    static final String CLASSIC = "classic";
    /** Metadata of the zero-copy session: capnp built in the session arena, read in place. */
    static final String ZERO_COPY = "zero-copy";
    /**
     * Both sides spin this long before sleeping: a cache server answering within microseconds should not
     * pay a kernel wake-up (tens of microseconds on small VMs) between requests that come milliseconds apart.
     */
    static final long SPIN_BUDGET_NS = TimeUnit.MILLISECONDS.toNanos(50);

    private CacheApps() {
    }

    /**
     * {@return the client app: the isthmus tools, run as {@code java -jar} (checked by jar) or from classes
     * (checked by main class)}
     */
    static ClientApp client() {
        final ClientApp.Builder builder = ClientApp.builder(CLIENT);
        final Path code = codeSource();
        if (code != null && Files.isRegularFile(code) && code.toString().endsWith(".jar")) {
            builder.jar(code);
        } else {
            builder.mainClass(dev.isthmus.tools.Main.class);
        }
        return builder.build();
    }

    /**
     * {@return the server app, accepting the cache client}
     */
    static ServerApp server() {
        return ServerApp.builder(SERVER).mainClass(CacheServerMain.class).allowedClients(client()).build();
    }

    /**
     * {@return session options for one of the two sessions}
     *
     * @param zeroCopy whether it is the zero-copy session
     */
    static SessionOptions sessionOptions(final boolean zeroCopy) {
        final SessionOptions base = zeroCopy ? SessionOptions.zeroCopy() : SessionOptions.defaults()
            .transport(dev.isthmus.session.ChannelTransport.UNIX_SOCKET);
        // Zero-copy: channel 0 is served by a spinning thread, channel 1 by one that sleeps on a futex at once.
        return base.initChannels(zeroCopy ? 2 : 1)
            .metadata((zeroCopy ? ZERO_COPY : CLASSIC).getBytes(java.nio.charset.StandardCharsets.US_ASCII))
            .queueOptions(ShmQueueOptions.builder().idleStrategy(() -> IdleStrategies.spinThenFutex(SPIN_BUDGET_NS)).build());
    }

    private static Path codeSource() {
        try {
            return Path.of(CacheApps.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (final URISyntaxException | RuntimeException e) {
            return null;
        }
    }
}
