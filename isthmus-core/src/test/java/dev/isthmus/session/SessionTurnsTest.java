/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.IsthmusException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A session without a driver thread, whose callers take turns at receiving the control socket while they wait
 * for their channels to open: every caller gets its answer, the one left waiting when the receiving caller got
 * its own takes over at once, and closing ends every wait.
 */
class SessionTurnsTest {
    private static final Duration LONG = Duration.ofSeconds(30);
    /** A caller that missed its turn waits out the session's receive slice of 100 ms before it looks again. */
    private static final long PROMPT_MS = 30;

    @TempDir
    Path runDirectory;

    /** A thread per caller: the common pool may have one worker on two processors, and callers here block. */
    private final ExecutorService threads = Executors.newCachedThreadPool();

    @AfterEach
    void stopThreads() throws InterruptedException {
        threads.shutdownNow();
        assertTrue(threads.awaitTermination(LONG.toSeconds(), TimeUnit.SECONDS), "a caller thread still runs");
    }

    /** Passive opens whose handler holds the server's driver until the test lets it go, one gate per open. */
    private static final class GatedServer {
        private final BlockingQueue<CountDownLatch> gates = new LinkedBlockingQueue<>();
        private final AtomicInteger handled = new AtomicInteger();

        /** The gate the next passive open's handler waits at, made now. */
        CountDownLatch nextGate() {
            final CountDownLatch gate = new CountDownLatch(1);
            gates.add(gate);
            return gate;
        }

        void handle(final Channel channel) {
            final CountDownLatch gate = gates.poll();
            handled.incrementAndGet();
            if (gate == null) {
                return;
            }
            try {
                gate.await(LONG.toSeconds(), TimeUnit.SECONDS);
            } catch (final InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static SessionOptions callerDriven() {
        return SessionOptions.defaults().driverThread(false);
    }

    private CompletableFuture<Long> timedOpen(final Session session) {
        return CompletableFuture.supplyAsync(() -> {
            session.openChannel(LONG);
            return System.nanoTime();
        }, threads);
    }

    private static void awaitHandled(final GatedServer server, final int count) throws InterruptedException {
        final long deadline = System.nanoTime() + LONG.toNanos();
        while (server.handled.get() < count) {
            assertTrue(System.nanoTime() < deadline, "the server handled " + server.handled.get() + " of " + count
                + " passive opens");
            Thread.sleep(1);
        }
    }

    @Test
    void shouldOpenEveryChannelAskedForByManyCallersAndAPollerAtOnce() throws Exception {
        final SessionTest.Universe universe = SessionTest.universe(runDirectory);
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            final Session[] sessions = SessionTest.connect(universe, server, callerDriven());
            try (Session client = sessions[0]; Session accepted = sessions[1]) {
                final Map<String, Channel> opened = new ConcurrentHashMap<>();
                accepted.onChannel(channel -> opened.put(channel.id(), channel));
                final int callers = 4;
                final int perCaller = 10;
                final AtomicBoolean polling = new AtomicBoolean(true);
                final CompletableFuture<Integer> poller = CompletableFuture.supplyAsync(() -> {
                    int polls = 0;
                    while (polling.get()) {
                        client.poll();
                        polls++;
                    }
                    return polls;
                }, threads);
                final List<CompletableFuture<List<Channel>>> openers = new ArrayList<>();
                for (int c = 0; c < callers; c++) {
                    openers.add(CompletableFuture.supplyAsync(() -> {
                        final List<Channel> mine = new ArrayList<>();
                        for (int i = 0; i < perCaller; i++) {
                            mine.add(client.openChannel(LONG));
                        }
                        return mine;
                    }, threads));
                }
                final List<Channel> channels = new ArrayList<>();
                for (final CompletableFuture<List<Channel>> opener : openers) {
                    channels.addAll(opener.get(LONG.toSeconds(), TimeUnit.SECONDS));
                }
                polling.set(false);
                assertTrue(poller.get(LONG.toSeconds(), TimeUnit.SECONDS) > 0);
                assertEquals(callers * perCaller, channels.size());
                final long deadline = System.nanoTime() + LONG.toNanos();
                while (opened.size() < channels.size()) {
                    assertTrue(System.nanoTime() < deadline, "the server has " + opened.size() + " channels");
                    Thread.sleep(1);
                }
                for (final Channel channel : channels) {
                    final Channel peer = opened.get(channel.id());
                    assertNotNull(peer, "the server's end of " + channel.id());
                    assertEquals(channel.id(), SessionTest.roundTrip(channel.blobs(), peer.blobs(), channel.id()));
                }
                assertTrue(client.isOpen());
            }
        }
    }

    /**
     * Two callers wait for their channels while the server is held, one of them receiving for both. The server
     * answers one and is held again: the other caller, left waiting, must receive its answer as soon as it
     * comes, not after its receive slice. Whichever caller's open the server took first, over fifteen rounds;
     * the median is what is asserted (one slow round is the scheduler's, every round slow is a missed turn).
     */
    @Test
    void shouldHandTheReceivingToTheCallerLeftWaitingWhenTheOneReceivingHasItsAnswer() throws Exception {
        final SessionTest.Universe universe = SessionTest.universe(runDirectory);
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            final Session[] sessions = SessionTest.connect(universe, server, callerDriven());
            try (Session client = sessions[0]; Session accepted = sessions[1]) {
                final GatedServer gated = new GatedServer();
                accepted.onChannel(gated::handle);
                // The server's driver held in the handler of a first channel.
                CountDownLatch holding = gated.nextGate();
                client.openChannel(LONG);
                awaitHandled(gated, 1);
                final int rounds = 15;
                final long[] lateMs = new long[rounds];
                for (int round = 0; round < rounds; round++) {
                    final CompletableFuture<Long> first = timedOpen(client);
                    final CompletableFuture<Long> second = timedOpen(client);
                    // Both callers are waiting now, one of them receiving, the other parked for up to a slice. (The
                    // pauses here add up to well under a slice, so that a parked caller nobody woke is still
                    // parked when its answer comes.)
                    Thread.sleep(20);
                    assertFalse(first.isDone() || second.isDone(), "an answer came while the server was held");
                    final CountDownLatch next = gated.nextGate();
                    holding.countDown();
                    // The server answers one caller, then holds in that channel's handler.
                    awaitHandled(gated, 2 + 2 * round);
                    final CompletableFuture<?> early = CompletableFuture.anyOf(first, second);
                    early.get(LONG.toSeconds(), TimeUnit.SECONDS);
                    final CompletableFuture<Long> late = first.isDone() ? second : first;
                    // The caller that received may be gone: the other is alone, waiting.
                    Thread.sleep(5);
                    assertFalse(late.isDone(), "round " + round + ": both answered while the server was held");
                    holding = gated.nextGate();
                    final long released = System.nanoTime();
                    next.countDown();
                    lateMs[round] = TimeUnit.NANOSECONDS.toMillis(late.get(LONG.toSeconds(), TimeUnit.SECONDS) - released);
                    // The server holds in the late caller's channel's handler: the next round starts held.
                    awaitHandled(gated, 3 + 2 * round);
                }
                holding.countDown();
                final long[] sorted = lateMs.clone();
                Arrays.sort(sorted);
                assertTrue(sorted[rounds / 2] < PROMPT_MS, "the caller left waiting got its answer a median "
                    + sorted[rounds / 2] + " ms after the server sent it: " + Arrays.toString(lateMs));
                assertTrue(client.isOpen());
            }
        }
    }

    /**
     * Two callers wait for channels the server does not answer (its session has no driver either, and nobody
     * polls it): closing the session, or the server's side of it, ends both waits with an exception at once,
     * not at their timeout.
     */
    @Test
    void shouldEndEveryCallersWaitWhenEitherSideClosesTheSession() throws Exception {
        for (final boolean serverCloses : new boolean[] {false, true}) {
            final SessionTest.Universe universe = SessionTest.universe(runDirectory);
            try (SessionServer server = SessionServer.start(universe.server(), callerDriven())) {
                final Session[] sessions = SessionTest.connect(universe, server, callerDriven());
                try (Session client = sessions[0]; Session accepted = sessions[1]) {
                    accepted.onChannel(channel -> { });
                    final CompletableFuture<Long> first = timedOpen(client);
                    final CompletableFuture<Long> second = timedOpen(client);
                    Thread.sleep(50);
                    assertFalse(first.isDone() || second.isDone(), "an answer came from a server nobody polls");
                    final long closing = System.nanoTime();
                    (serverCloses ? accepted : client).close();
                    for (final CompletableFuture<Long> open : List.of(first, second)) {
                        final ExecutionException failed = assertThrows(ExecutionException.class,
                            () -> open.get(LONG.toSeconds(), TimeUnit.SECONDS), "the server closes: " + serverCloses);
                        assertTrue(failed.getCause() instanceof IsthmusException, failed.getCause().toString());
                        if (!serverCloses) {
                            assertTrue(failed.getCause() instanceof ChannelClosedException, failed.getCause().toString());
                        }
                    }
                    final long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - closing);
                    assertTrue(tookMs < LONG.toMillis() / 6, "the waits ended " + tookMs + " ms after the close"
                        + (serverCloses ? " of the server's side" : ""));
                    assertFalse(client.isOpen());
                }
            }
        }
    }
}
