/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.PeerDeadException;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.sync.IdleStrategies;
import dev.isthmus.transport.BlobChannel;
import dev.isthmus.transport.ShmQueueOptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A session (or its server) closed by one thread while another is inside a call on one of its shared-memory
 * channels: that thread gets {@link ChannelClosedException}, soon, never the FFM runtime's "Already closed" of
 * the channel's unmapped memory; nothing is left in {@code /dev/shm} (checked for every class).
 */
class SessionCloseWhileInUseTest {
    private static final AtomicInteger NAMES = new AtomicInteger();
    private static final long SECOND_NS = TimeUnit.SECONDS.toNanos(1);
    private static final long BOUND_SECONDS = 5;

    @TempDir
    Path runDirectory;

    private SessionOptions options(final String idleStrategy) {
        return SessionOptions.defaults().initChannels(1).transport(ChannelTransport.SHM_QUEUE)
            .queueOptions(ShmQueueOptions.defaults().toBuilder().idleStrategy(IdleStrategies.byName(idleStrategy)).build());
    }

    private record Apps(ClientApp client, ServerApp server) {
    }

    private Apps apps() {
        final ClientApp client = ClientApp.builder("ccli" + NAMES.incrementAndGet()).build();
        return new Apps(client, ServerApp.builder("csrv" + NAMES.incrementAndGet()).allowedClients(client)
            .permissions(PermissionLevel.USER_ACCESS).runDirectory(runDirectory).build());
    }

    /** Connects in the background while the server accepts here: {client, accepted}. */
    private static Session[] connect(final Apps apps, final SessionServer server, final SessionOptions options) {
        final CompletableFuture<Session> client = CompletableFuture.supplyAsync(
            () -> ClientSession.connect(apps.client(), apps.server(), options));
        final long deadline = System.nanoTime() + 30 * SECOND_NS;
        while (true) {
            try {
                final Session accepted = server.accept(Duration.ofMillis(100));
                return new Session[] {client.join(), accepted};
            } catch (final IsthmusTimeoutException e) {
                if (client.isCompletedExceptionally()) {
                    try {
                        client.join();
                    } catch (final CompletionException failed) {
                        if (failed.getCause() instanceof RuntimeException cause) {
                            throw cause;
                        }
                        throw failed;
                    }
                }
                if (System.nanoTime() - deadline > 0) {
                    throw e;
                }
            }
        }
    }

    /** Runs {@code call} on its own thread until it throws, runs {@code close} here after {@code delayMs}, checks what the call threw. */
    private static void assertClosedUnderneath(final Runnable call, final long delayMs, final Runnable close)
        throws Exception {
        final CompletableFuture<Void> started = new CompletableFuture<>();
        final CompletableFuture<Void> failed = new CompletableFuture<>();
        final Thread worker = Thread.ofPlatform().name("in-call").start(() -> {
            started.complete(null);
            try {
                while (true) {
                    call.run();
                }
            } catch (final Throwable e) {
                failed.completeExceptionally(e);
            }
        });
        try {
            started.get(BOUND_SECONDS, TimeUnit.SECONDS);
            Thread.sleep(delayMs);
            final long start = System.nanoTime();
            close.run();
            final long closeMs = (System.nanoTime() - start) / 1_000_000;
            assertTrue(closeMs < BOUND_SECONDS * 1000, "close took " + closeMs + " ms");
            final Throwable cause = assertThrows(ExecutionException.class,
                () -> failed.get(BOUND_SECONDS, TimeUnit.SECONDS)).getCause();
            if (!(cause instanceof ChannelClosedException) || cause instanceof PeerDeadException) {
                throw new AssertionError("the call in progress threw " + cause + " instead of ChannelClosedException",
                    cause);
            }
        } finally {
            worker.join(TimeUnit.SECONDS.toMillis(BOUND_SECONDS * 2));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"futex-only", "busy-spin"})
    void shouldFailATimedPollWithChannelClosedWhenTheSessionIsClosed(final String idleStrategy) throws Exception {
        final Apps apps = apps();
        try (SessionServer server = SessionServer.start(apps.server(), options(idleStrategy))) {
            for (int round = 0; round < 4; round++) {
                final Session[] sessions = connect(apps, server, options(idleStrategy));
                try (Session client = sessions[0]; Session accepted = sessions[1]) {
                    final BlobChannel blobs = client.initChannels().getFirst().blobs();
                    assertClosedUnderneath(() -> blobs.poll((buffer, offset, length) -> { }, 16, 10 * SECOND_NS),
                        round * 100, client::close);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"futex-only", "busy-spin"})
    void shouldFailATimedPollWithChannelClosedWhenTheServerIsClosed(final String idleStrategy) throws Exception {
        final Apps apps = apps();
        for (int round = 0; round < 3; round++) {
            final SessionServer server = SessionServer.start(apps.server(), options(idleStrategy));
            try {
                final Session[] sessions = connect(apps, server, options(idleStrategy));
                try (Session client = sessions[0]; Session accepted = sessions[1]) {
                    final BlobChannel blobs = accepted.initChannels().getFirst().blobs();
                    assertClosedUnderneath(() -> blobs.poll((buffer, offset, length) -> { }, 16, 10 * SECOND_NS),
                        round * 100, server::close);
                }
            } finally {
                server.close();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"futex-only", "busy-spin"})
    void shouldFailAnOfferLoopWithChannelClosedWhenTheSessionIsClosed(final String idleStrategy) throws Exception {
        final Apps apps = apps();
        try (SessionServer server = SessionServer.start(apps.server(), options(idleStrategy))) {
            for (int round = 0; round < 4; round++) {
                final Session[] sessions = connect(apps, server, options(idleStrategy));
                try (Session client = sessions[0]; Session accepted = sessions[1]) {
                    final BlobChannel blobs = client.initChannels().getFirst().blobs();
                    final BlobChannel peer = accepted.initChannels().getFirst().blobs();
                    final byte[] message = new byte[256];
                    final AtomicInteger calls = new AtomicInteger();
                    assertClosedUnderneath(() -> {
                        blobs.offer(message, 0, message.length);
                        if (calls.incrementAndGet() % 64 == 0) {
                            // Room again: the peer's end drains from here (it stays open while the client closes).
                            try {
                                peer.poll((buffer, offset, length) -> { }, 1024);
                            } catch (final ChannelClosedException peerSawTheClose) {
                                // the client's BYE reached the server first; the next offer fails too
                            }
                        }
                    }, round * 20, client::close);
                }
            }
        }
    }
}
