/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.sync.IdleStrategies;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A {@link ShmBlobChannel} closed by one thread while another is inside one of its calls: the other thread
 * gets {@link ChannelClosedException} (never the FFM runtime's "Already closed" of the unmapped memory), soon,
 * whatever it was doing and however it waits; the close itself returns soon and leaves nothing in
 * {@code /dev/shm}.
 */
class ShmCloseWhileInUseTest {
    private static final AtomicInteger IDS = new AtomicInteger();
    private static final long SECOND_NS = TimeUnit.SECONDS.toNanos(1);
    /** How long the other thread may take to fail after the close, and the close to return: generous, for a loaded machine. */
    private static final long BOUND_SECONDS = 5;
    /** Rounds of each race: the close lands at a different point of the other thread's call each time. */
    private static final int ROUNDS = 20;

    private static ShmQueueOptions options(final String idleStrategy) {
        return ShmQueueOptions.builder().initialCapacityBytes(4096).maxCapacityBytes(64 * 1024).maxMessageLengthBytes(1024)
            .idleStrategy(IdleStrategies.byName(idleStrategy)).build();
    }

    private static ShmBlobChannel[] pair(final String idleStrategy) {
        final ResourceName name = ResourceName.of("closetest", "queue", "c" + IDS.incrementAndGet());
        final ShmBlobChannel a = ShmBlobChannel.create(name, options(idleStrategy));
        try {
            return new ShmBlobChannel[] {a, ShmBlobChannel.open(name, options(idleStrategy))};
        } catch (final RuntimeException e) {
            a.close();
            throw e;
        }
    }

    /**
     * Runs {@code call} on its own thread until it throws, closes the channel from this thread after
     * {@code delayMs}, and checks what the call threw.
     */
    static void assertClosedUnderneath(final Runnable call, final long delayMs, final Runnable close) throws Exception {
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
            if (delayMs > 0) {
                Thread.sleep(delayMs);
            }
            final long start = System.nanoTime();
            close.run();
            final long closeMs = (System.nanoTime() - start) / 1_000_000;
            assertTrue(closeMs < BOUND_SECONDS * 1000, "close took " + closeMs + " ms");
            final ExecutionException thrown = assertThrows(ExecutionException.class,
                () -> failed.get(BOUND_SECONDS, TimeUnit.SECONDS));
            final Throwable cause = thrown.getCause();
            // A peer declared dead because its watch was closed under the call would be a subclass, and wrong.
            if (!(cause instanceof ChannelClosedException) || cause instanceof dev.isthmus.PeerDeadException) {
                throw new AssertionError("the call in progress threw " + cause + " instead of ChannelClosedException",
                    cause);
            }
        } finally {
            worker.join(TimeUnit.SECONDS.toMillis(BOUND_SECONDS * 2));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"futex-only", "busy-spin", "spin-then-futex"})
    void shouldFailATimedPollWithChannelClosedWhenItsChannelIsClosed(final String idleStrategy) throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            final ShmBlobChannel[] pair = pair(idleStrategy);
            try {
                // The first rounds close before the poller has gone to sleep, the later ones while it sleeps.
                assertClosedUnderneath(() -> pair[1].poll((buffer, offset, length) -> { }, 16,
                    10 * SECOND_NS), round < 5 ? 0 : 20 + round * 5, pair[1]::close);
            } finally {
                pair[0].close();
                pair[1].close();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"futex-only", "busy-spin"})
    void shouldFailAPollLoopWithChannelClosedWhenItsChannelIsClosed(final String idleStrategy) throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            final ShmBlobChannel[] pair = pair(idleStrategy);
            final byte[] message = new byte[64];
            try {
                // Something to read now and then: the poller is inside its handler part of the time.
                for (int i = 0; i < 32 && pair[0].offer(message, 0, message.length); i++) {
                    pair[0].flush();
                }
                // The handler reads each blob: an access of the unmapped ring from inside it fails the same way.
                final long[] sum = new long[1];
                assertClosedUnderneath(() -> pair[1].poll((buffer, offset, length) -> sum[0] += buffer.get(
                    java.lang.foreign.ValueLayout.JAVA_BYTE, offset + length - 1), 4), round,
                    pair[1]::close);
            } finally {
                pair[0].close();
                pair[1].close();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"futex-only", "busy-spin"})
    void shouldFailAnOfferLoopWithChannelClosedWhenItsChannelIsClosed(final String idleStrategy) throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            final ShmBlobChannel[] pair = pair(idleStrategy);
            final MemorySegment message = MemorySegment.ofArray(new byte[200]);
            final byte[] array = new byte[200];
            final AtomicInteger calls = new AtomicInteger();
            try {
                // The peer drains, so that the loop keeps writing (and growing the ring) instead of only seeing it full.
                final CompletableFuture<Throwable> drained = new CompletableFuture<>();
                final Thread drainer = Thread.ofPlatform().start(() -> {
                    try {
                        while (true) {
                            pair[0].poll((buffer, offset, length) -> { }, 64, SECOND_NS);
                        }
                    } catch (final Throwable e) {
                        // the loop's channel closed (seen from this end), or this end closed below
                        drained.complete(e);
                    }
                });
                assertClosedUnderneath(() -> {
                    final BlobChannel channel = pair[1];
                    switch (calls.incrementAndGet() % 4) {
                        case 0 -> channel.offer(message, 0, 200);
                        case 1 -> channel.offer(array, 0, 200);
                        case 2 -> channel.offer(message, 0, 100, SECOND_NS);
                        default -> {
                            // Nothing written in place: a write of the caller's own into the claim buffer is no call
                            // of the channel, and fails as any access to unmapped memory does.
                            final long claim = channel.tryClaim(64);
                            if (claim >= 0) {
                                if (calls.get() % 8 == 3) {
                                    channel.abort(claim);
                                } else {
                                    channel.commit(claim);
                                }
                            }
                        }
                    }
                }, round, pair[1]::close);
                pair[0].close();
                assertInstanceOf(ChannelClosedException.class, drained.get(BOUND_SECONDS, TimeUnit.SECONDS));
                drainer.join(TimeUnit.SECONDS.toMillis(BOUND_SECONDS));
            } finally {
                pair[0].close();
                pair[1].close();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"futex-only", "busy-spin"})
    void shouldFailAnOfferWaitingForRoomWithChannelClosedWhenItsChannelIsClosed(final String idleStrategy)
        throws Exception {
        for (int round = 0; round < 5; round++) {
            final ShmBlobChannel[] pair = pair(idleStrategy);
            final byte[] message = new byte[1000];
            try {
                // Full: nobody reads, so the offer waits for room (on the futex, with the futex strategy).
                while (pair[1].offer(message, 0, message.length)) {
                    pair[1].flush();
                }
                assertClosedUnderneath(() -> pair[1].offer(message, 0, message.length, 10 * SECOND_NS),
                    50 + round * 20, pair[1]::close);
            } finally {
                pair[0].close();
                pair[1].close();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"futex-only", "busy-spin"})
    void shouldFailABatchedOfferLoopWithChannelClosedWhenItsChannelIsClosed(final String idleStrategy)
        throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            final ResourceName name = ResourceName.of("closetest", "queue", "b" + IDS.incrementAndGet());
            final ShmQueueOptions batched = options(idleStrategy).toBuilder().publishBatchBytes(1024).build();
            final ShmBlobChannel a = ShmBlobChannel.create(name, batched);
            final ShmBlobChannel b = ShmBlobChannel.open(name, batched);
            final byte[] message = new byte[100];
            final AtomicInteger calls = new AtomicInteger();
            try {
                assertClosedUnderneath(() -> {
                    a.offer(message, 0, message.length);
                    if (calls.incrementAndGet() % 3 == 0) {
                        a.flush();
                    }
                    if (calls.get() % 50 == 0) {
                        // Keeps room: the peer's end is polled from here, as a request-reply loop would.
                        b.poll((buffer, offset, length) -> { }, 1000);
                    }
                }, round, a::close);
            } finally {
                a.close();
                b.close();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"futex-only", "busy-spin"})
    void shouldWakeUpAClosedChannelQuietly(final String idleStrategy) {
        // A session wakes its channels' waiters from its own thread (a peer declared dead), which may come just
        // after another thread closed the channel.
        final ShmBlobChannel[] pair = pair(idleStrategy);
        pair[0].close();
        pair[1].close();
        assertTrue(pair[0].wakeUp());
        assertTrue(pair[1].wakeUp());
        assertThrows(ChannelClosedException.class, () -> pair[1].poll((buffer, offset, length) -> { }, 1, SECOND_NS));
    }

    @ParameterizedTest
    @ValueSource(strings = {"futex-only", "busy-spin"})
    void shouldFailAPollWithChannelClosedWhenItsOwnQueueIsClosed(final String idleStrategy) throws Exception {
        // The same underneath the channel: a queue's consumer, its queue closed by another thread.
        for (int round = 0; round < 5; round++) {
            final ResourceName name = ResourceName.of("closetest", "queue", "q" + IDS.incrementAndGet());
            final OneToOneShmQueue queue = OneToOneShmQueue.create(name, options(idleStrategy));
            try {
                final OneToOneShmQueue.Consumer consumer = queue.consumer();
                assertClosedUnderneath(() -> consumer.poll((buffer, offset, length) -> { }, 16,
                    10 * SECOND_NS), round * 30, queue::close);
            } finally {
                queue.close();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"futex-only", "busy-spin"})
    void shouldFailAManyToOnePollAndOfferWithChannelClosedWhenTheQueueIsClosed(final String idleStrategy)
        throws Exception {
        for (int round = 0; round < 5; round++) {
            final ResourceName name = ResourceName.of("closetest", "queue", "m" + IDS.incrementAndGet());
            final ManyToOneShmQueue queue = ManyToOneShmQueue.create(name, options(idleStrategy));
            try {
                final ShmQueue.Consumer consumer = queue.consumer();
                assertClosedUnderneath(() -> consumer.poll((buffer, offset, length) -> { }, 16,
                    10 * SECOND_NS), round * 30, queue::close);
            } finally {
                queue.close();
            }
            final ManyToOneShmQueue other = ManyToOneShmQueue.create(
                ResourceName.of("closetest", "queue", "n" + IDS.incrementAndGet()), options(idleStrategy));
            try {
                final ShmQueue.Producer producer = other.producer();
                final ShmQueue.Consumer consumer = other.consumer();
                final byte[] message = new byte[100];
                final AtomicInteger calls = new AtomicInteger();
                assertClosedUnderneath(() -> {
                    producer.offer(message, 0, message.length);
                    if (calls.incrementAndGet() % 16 == 0) {
                        consumer.poll((buffer, offset, length) -> { }, 64);
                    }
                }, round, other::close);
            } finally {
                other.close();
            }
        }
    }
}
