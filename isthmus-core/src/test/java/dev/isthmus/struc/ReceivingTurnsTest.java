/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.stat.StatRecord;
import dev.isthmus.transport.BlobChannel;
import dev.isthmus.transport.BlobHandler;
import dev.isthmus.transport.ShmBlobChannel;
import dev.isthmus.transport.ShmQueueOptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Who receives, and when the others get their turn: a thread taking the receive lock from the driver, callers
 * of a channel without a driver thread waiting behind the one receiving, and what a handler or a peer can
 * leave behind at those hand-overs. Every wait here is a deadline far below the one-second poll slice that
 * a lost turn used to cost, and far above what a turn takes.
 */
class ReceivingTurnsTest {
    private static final AtomicInteger IDS = new AtomicInteger();
    private static final Duration LONG = Duration.ofSeconds(30);
    /** Well below the receiving loop's one-second slice, which a caller that missed its turn waited out. */
    private static final long PROMPT_MS = 400;
    private static final int HELD = StructuredChannelTest.HELD;
    private static final int UNHANDLED = 9;

    private static String text(final Received<byte[]> message) {
        return new String(message.root(), StandardCharsets.UTF_8);
    }

    private static Outgoing<BytesCodec.Message> message(final StructuredChannel<byte[], BytesCodec.Message> channel,
                                                        final int type, final String text) {
        final Outgoing<BytesCodec.Message> message = channel.newMessage();
        message.root().set(type, text.getBytes(StandardCharsets.UTF_8));
        return message;
    }

    private static ResourceName name() {
        return ResourceName.of("structurn", "queue", "t" + IDS.incrementAndGet());
    }

    private static void await(final BooleanSupplier condition, final String what) throws InterruptedException {
        final long deadline = System.nanoTime() + LONG.toNanos();
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out waiting until " + what);
            Thread.sleep(1);
        }
    }

    private static Replier<BytesCodec.Message> next(final BlockingQueue<Replier<BytesCodec.Message>> repliers)
        throws InterruptedException {
        final Replier<BytesCodec.Message> replier = repliers.poll(LONG.toSeconds(), TimeUnit.SECONDS);
        assertNotNull(replier, "the request reached the server");
        return replier;
    }

    /**
     * A thread preempted just after waking the driver's poll (played by a channel whose first wake-ups
     * sleep after waking): the driver leaves its poll, finds the lock free, and used to take it back for a
     * whole slice before the thread queued on it.
     */
    @Test
    void shouldLetAThreadPreemptedAfterWakingTheDriverTakeTheLockAtOnce() throws Exception {
        final ResourceName name = name();
        try (ShmBlobChannel peer = ShmBlobChannel.create(name, ShmQueueOptions.defaults())) {
            final PreemptedWaker waker = new PreemptedWaker(ShmBlobChannel.open(name, ShmQueueOptions.defaults()));
            try (StructuredChannel<byte[], BytesCodec.Message> channel = StructuredChannel.open(waker, new BytesCodec(),
                     StructuredChannelOptions.defaults())) {
                for (int i = 0; i < 5; i++) {
                    // The driver is in its poll again.
                    Thread.sleep(20);
                    waker.preemptNextWakeUps(1);
                    final long start = System.nanoTime();
                    // Takes the receive lock from the driver.
                    assertEquals(0, channel.unhandledCount());
                    final long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                    assertTrue(tookMs < PROMPT_MS, "taking the receive lock from the driver took " + tookMs + " ms");
                }
            }
        }
    }

    /**
     * Without a driver thread: the caller receiving gets its response and stops; the caller waiting behind
     * it must take over at once, not when its own slice ends. In the slot and in the map (the slot taken by
     * the other caller), and with the roles swapped.
     */
    @Test
    void shouldHandTheReceivingToTheNextCallerWhenTheOneReceivingHasItsResponse() throws Exception {
        final StructuredChannelOptions callerDriven = StructuredChannelOptions.builder().driverThread(false).build();
        try (StructuredChannelTest.Pair pair = StructuredChannelTest.pair(callerDriven, new BytesCodec(),
                 StructuredChannelOptions.defaults(), new BytesCodec())) {
            final StructuredChannel<byte[], BytesCodec.Message> client = pair.client();
            final StructuredChannel<byte[], BytesCodec.Message> server = pair.server();
            final BlockingQueue<Replier<BytesCodec.Message>> repliers = StructuredChannelTest.holdReplies(server);
            for (int round = 0; round < 3; round++) {
                final CompletableFuture<Long> first = timedRequest(client, "first " + round);
                final Replier<BytesCodec.Message> firstReplier = next(repliers);
                final CompletableFuture<Long> second = timedRequest(client, "second " + round);
                final Replier<BytesCodec.Message> secondReplier = next(repliers);
                // Both callers are waiting now, one of them receiving.
                Thread.sleep(50);
                final boolean secondAnsweredFirst = round == 1;
                final Replier<BytesCodec.Message> early = secondAnsweredFirst ? secondReplier : firstReplier;
                final Replier<BytesCodec.Message> late = secondAnsweredFirst ? firstReplier : secondReplier;
                early.reply(message(server, HELD, "early"));
                (secondAnsweredFirst ? second : first).get(LONG.toSeconds(), TimeUnit.SECONDS);
                // The receiving caller may be gone: the other is alone, waiting.
                Thread.sleep(50);
                final long answered = System.nanoTime();
                late.reply(message(server, HELD, "late"));
                final long finished = (secondAnsweredFirst ? first : second).get(LONG.toSeconds(), TimeUnit.SECONDS);
                final long tookMs = TimeUnit.NANOSECONDS.toMillis(finished - answered);
                assertTrue(tookMs < PROMPT_MS, "round " + round + ": the caller left waiting got its response " + tookMs
                    + " ms after it was sent");
            }
            assertTrue(client.isOpen());
        }
    }

    /**
     * Without a driver thread: closing the channel ends the waits of the caller receiving and of the one
     * parked, at once. (The close wakes the channel once; the caller that received consumes the wake-up, and
     * the one that takes over must not start a poll of a whole slice on a channel closing.) Fifteen rounds.
     */
    @Test
    void shouldEndEveryCallersWaitPromptlyWhenTheChannelCloses() throws Exception {
        final StructuredChannelOptions callerDriven = StructuredChannelOptions.builder().driverThread(false).build();
        for (int round = 0; round < 15; round++) {
            try (StructuredChannelTest.Pair pair = StructuredChannelTest.pair(callerDriven, new BytesCodec(),
                     StructuredChannelOptions.defaults(), new BytesCodec())) {
                final StructuredChannel<byte[], BytesCodec.Message> client = pair.client();
                final StructuredChannel<byte[], BytesCodec.Message> server = pair.server();
                final BlockingQueue<Replier<BytesCodec.Message>> repliers = StructuredChannelTest.holdReplies(server);
                final CompletableFuture<Long> first = timedRequest(client, "first");
                next(repliers);
                final CompletableFuture<Long> second = timedRequest(client, "second");
                next(repliers);
                Thread.sleep(50);
                final long closing = System.nanoTime();
                client.close();
                final long closeMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - closing);
                for (final CompletableFuture<Long> request : java.util.List.of(first, second)) {
                    final java.util.concurrent.ExecutionException failed = assertThrows(
                        java.util.concurrent.ExecutionException.class,
                        () -> request.get(LONG.toSeconds(), TimeUnit.SECONDS));
                    assertTrue(failed.getCause() instanceof dev.isthmus.ChannelClosedException, failed.getCause().toString());
                }
                final long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - closing);
                assertTrue(tookMs < PROMPT_MS, "round " + round + ": the waits ended " + tookMs + " ms after the close,"
                    + " which took " + closeMs + " ms");
            }
        }
    }

    /**
     * Without a driver thread: a caller waiting in the map is preempted between finding the lock taken and
     * registering for its turn (played by a thread whose hashCode, which registering calls, sleeps once
     * there). Meanwhile its response arrives: the caller receiving completes it, lets go (no one registered
     * to wake) and polls again. The late caller must see its response, not park for a slice.
     */
    @Test
    void shouldNotParkACallerWhoseResponseCameBeforeItRegisteredForItsTurn() throws Exception {
        final StructuredChannelOptions callerDriven = StructuredChannelOptions.builder().driverThread(false).build();
        try (StructuredChannelTest.Pair pair = StructuredChannelTest.pair(callerDriven, new BytesCodec(),
                 StructuredChannelOptions.defaults(), new BytesCodec())) {
            final StructuredChannel<byte[], BytesCodec.Message> client = pair.client();
            final StructuredChannel<byte[], BytesCodec.Message> server = pair.server();
            final BlockingQueue<Replier<BytesCodec.Message>> repliers = StructuredChannelTest.holdReplies(server);
            final CompletableFuture<Long> receiving = timedRequest(client, "receives");
            final Replier<BytesCodec.Message> receivingReplier = next(repliers);
            // It is in its poll, holding the receive lock.
            Thread.sleep(50);
            final java.util.concurrent.CountDownLatch preempted = new java.util.concurrent.CountDownLatch(1);
            final java.util.concurrent.atomic.AtomicBoolean armed = new java.util.concurrent.atomic.AtomicBoolean(true);
            final CompletableFuture<Long> late = new CompletableFuture<>();
            final Thread waiter = new Thread(() -> {
                try (Received<byte[]> response = client.request(message(client, HELD, "late"), LONG)) {
                    response.root();
                    late.complete(System.nanoTime());
                } catch (final Throwable e) {
                    late.completeExceptionally(e);
                }
            }) {
                @Override
                public int hashCode() {
                    if (Thread.currentThread() == this && registeringForATurn() && armed.getAndSet(false)) {
                        preempted.countDown();
                        try {
                            Thread.sleep(200);
                        } catch (final InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    return super.hashCode();
                }
            };
            waiter.start();
            final Replier<BytesCodec.Message> lateReplier = next(repliers);
            assertTrue(preempted.await(LONG.toSeconds(), TimeUnit.SECONDS), "the caller came to register for its turn");
            final long answered = System.nanoTime();
            lateReplier.reply(message(server, HELD, "late"));
            final long tookMs = TimeUnit.NANOSECONDS.toMillis(late.get(LONG.toSeconds(), TimeUnit.SECONDS) - answered);
            receivingReplier.reply(message(server, HELD, "receives"));
            receiving.get(LONG.toSeconds(), TimeUnit.SECONDS);
            // 200 ms of it is the preemption played.
            assertTrue(tookMs < 200 + PROMPT_MS, "the caller got its response " + tookMs + " ms after it was sent");
        }
    }

    private static boolean registeringForATurn() {
        return StackWalker.getInstance().walk(frames -> frames.anyMatch(f -> f.getMethodName().equals("awaitTurn")));
    }

    /**
     * Without a driver thread: unhandledCount and poll(int) ("without waiting") while another caller receives
     * for itself in a one-second poll take the lock from it at once, instead of waiting out its slice.
     */
    @Test
    void shouldTakeTheLockFromACallerReceivingForItselfAtOnce() throws Exception {
        final StructuredChannelOptions callerDriven = StructuredChannelOptions.builder().driverThread(false).build();
        try (StructuredChannelTest.Pair pair = StructuredChannelTest.pair(callerDriven, new BytesCodec(),
                 StructuredChannelOptions.defaults(), new BytesCodec())) {
            final StructuredChannel<byte[], BytesCodec.Message> client = pair.client();
            final StructuredChannel<byte[], BytesCodec.Message> server = pair.server();
            final BlockingQueue<Replier<BytesCodec.Message>> repliers = StructuredChannelTest.holdReplies(server);
            final CompletableFuture<Long> receiving = timedRequest(client, "receives");
            final Replier<BytesCodec.Message> replier = next(repliers);
            for (int i = 0; i < 5; i++) {
                Thread.sleep(50);
                long start = System.nanoTime();
                assertEquals(0, client.unhandledCount());
                final long countMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                Thread.sleep(50);
                start = System.nanoTime();
                assertEquals(0, client.poll(16));
                final long pollMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertTrue(countMs < PROMPT_MS && pollMs < PROMPT_MS, "unhandledCount took " + countMs + " ms, poll(16) "
                    + pollMs + " ms");
            }
            replier.reply(message(server, HELD, "receives"));
            receiving.get(LONG.toSeconds(), TimeUnit.SECONDS);
        }
    }

    /**
     * With a driver thread: eight threads taking the receive lock back to back (unhandledCount) must not keep
     * the driver from receiving: the fair lock gives it its turn between theirs.
     */
    @Test
    void shouldNotStarveTheDriverWhileOtherThreadsTakeTheLockBackToBack() throws Exception {
        try (StructuredChannelTest.Pair pair = StructuredChannelTest.pair(StructuredChannelOptions.defaults(), new BytesCodec(),
                 StructuredChannelOptions.defaults(), new BytesCodec())) {
            final StructuredChannel<byte[], BytesCodec.Message> client = pair.client();
            final StructuredChannel<byte[], BytesCodec.Message> server = pair.server();
            server.onMessage(HELD, (request, replier) -> replier.reply(message(server, HELD, "echo")));
            final java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            final Thread[] takers = new Thread[8];
            for (int i = 0; i < takers.length; i++) {
                takers[i] = Thread.ofPlatform().start(() -> {
                    while (!stop.get()) {
                        server.unhandledCount();
                    }
                });
            }
            try {
                Thread.sleep(50);
                for (int i = 0; i < 10; i++) {
                    final long start = System.nanoTime();
                    try (Received<byte[]> response = client.request(message(client, HELD, "ping"), LONG)) {
                        assertEquals("echo", text(response));
                    }
                    final long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                    assertTrue(tookMs < PROMPT_MS, "request " + i + " took " + tookMs + " ms");
                }
            } finally {
                stop.set(true);
                for (final Thread taker : takers) {
                    taker.join();
                }
            }
        }
    }

    /**
     * With a driver thread: while one thread holds the receive lock for long (a slow handler handed a waiting
     * message by onMessage) and another waits to take it, the driver waits on the lock, not in a spin.
     */
    @Test
    void shouldNotSpinTheDriverWhileOthersHoldAndWantTheLock() throws Exception {
        final java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
        try (StructuredChannelTest.Pair pair = StructuredChannelTest.pair(StructuredChannelOptions.builder().driverThread(false).build(), new BytesCodec(),
                 StructuredChannelOptions.builder().name("turns-driver-cpu").build(), new BytesCodec())) {
            final StructuredChannel<byte[], BytesCodec.Message> client = pair.client();
            final StructuredChannel<byte[], BytesCodec.Message> server = pair.server();
            final Thread driver = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().equals("turns-driver-cpu-driver")).findFirst().orElseThrow();
            client.send(message(client, UNHANDLED, "waiting"));
            await(() -> server.unhandledCount() == 1, "the server keeps the message");
            final java.util.concurrent.CountDownLatch inHandler = new java.util.concurrent.CountDownLatch(1);
            final Thread holder = Thread.ofPlatform().start(() -> server.onMessage(UNHANDLED, (message, replier) -> {
                inHandler.countDown();
                Thread.sleep(1_000);
            }));
            assertTrue(inHandler.await(LONG.toSeconds(), TimeUnit.SECONDS));
            final Thread wanting = Thread.ofPlatform().start(server::unhandledCount);
            Thread.sleep(50);
            final long cpuBefore = threads.getThreadCpuTime(driver.threadId());
            Thread.sleep(500);
            final long cpuMs = TimeUnit.NANOSECONDS.toMillis(threads.getThreadCpuTime(driver.threadId()) - cpuBefore);
            holder.join();
            wanting.join();
            assertTrue(cpuMs < 100, "the driver used " + cpuMs + " ms of CPU in 500 ms while waiting for the lock");
        }
    }

    /**
     * A handler that makes a blocking request (or polls) on its own channel, on the thread that receives for
     * it, is refused at once with why: it would wait for a response only that thread can receive (with a
     * driver: until its timeout), or, receiving in turn, be handed the message it handles again (without
     * one: it recursed, once per nested request). With and without a driver thread.
     */
    @Test
    void shouldRefuseABlockingRequestOrAPollFromAHandlerOnTheReceivingThread() throws Exception {
        for (final boolean driverThread : new boolean[] {true, false}) {
            final StructuredChannelOptions clientOptions = StructuredChannelOptions.builder().driverThread(driverThread)
                .errorHandler(e -> { }).build();
            try (StructuredChannelTest.Pair pair = StructuredChannelTest.pair(clientOptions, new BytesCodec(),
                     StructuredChannelOptions.defaults(), new BytesCodec())) {
                final StructuredChannel<byte[], BytesCodec.Message> client = pair.client();
                final StructuredChannel<byte[], BytesCodec.Message> server = pair.server();
                final BlockingQueue<Replier<BytesCodec.Message>> repliers = StructuredChannelTest.holdReplies(server);
                final AtomicInteger calls = new AtomicInteger();
                final java.util.List<String> refusals = new java.util.concurrent.CopyOnWriteArrayList<>();
                final int callBack = 8;
                client.onMessage(callBack, (request, replier) -> {
                    calls.incrementAndGet();
                    try (Received<byte[]> nested = client.request(message(client, HELD, "nested"), Duration.ofSeconds(5))) {
                        refusals.add("answered: " + text(nested));
                    } catch (final IllegalStateException e) {
                        refusals.add(e.getMessage());
                    }
                    try {
                        client.poll(16);
                        refusals.add("polled");
                    } catch (final IllegalStateException e) {
                        refusals.add(e.getMessage());
                    }
                    replier.reply(message(client, callBack, "done"));
                });
                // Without a driver, a caller receives for the channel: one waiting for a response of its own.
                final CompletableFuture<Long> receiving = driverThread ? null : timedRequest(client, "receives");
                final Replier<BytesCodec.Message> receivingReplier = driverThread ? null : next(repliers);
                final long start = System.nanoTime();
                try (Received<byte[]> done = server.request(message(server, callBack, "call back"), LONG)) {
                    assertEquals("done", text(done));
                }
                final long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                assertEquals(1, calls.get(), "the handler ran once");
                assertEquals(2, refusals.size(), refusals.toString());
                for (final String refusal : refusals) {
                    assertTrue(refusal.contains("from a handler, on the thread that receives for this channel"), refusal);
                }
                assertTrue(tookMs < PROMPT_MS, "refused after " + tookMs + " ms");
                assertTrue(client.isOpen());
                if (!driverThread) {
                    receivingReplier.reply(message(server, HELD, "receives"));
                    receiving.get(LONG.toSeconds(), TimeUnit.SECONDS);
                }
            }
        }
    }

    /** Sends a blocking request from a thread of its own; completes with when the response was read. */
    private static CompletableFuture<Long> timedRequest(final StructuredChannel<byte[], BytesCodec.Message> client,
                                                        final String text) {
        final CompletableFuture<Long> done = new CompletableFuture<>();
        Thread.ofPlatform().start(() -> {
            try (Received<byte[]> response = client.request(message(client, HELD, text), LONG)) {
                response.root();
                done.complete(System.nanoTime());
            } catch (final Throwable e) {
                done.completeExceptionally(e);
            }
        });
        return done;
    }

    /**
     * A peer answering a plain request with stream parts ({@code replyMore}) before its response: the request
     * gets the final response, in the map as in the slot; each part is released and counted; nothing is left
     * waiting for the request once it is answered.
     */
    @Test
    void shouldReleaseStreamPartsAnsweringAPlainRequestAndGiveItTheFinalResponse() throws Exception {
        final ObservedCodec clientCodec = new ObservedCodec();
        try (StructuredChannelTest.Pair pair = StructuredChannelTest.pair(StructuredChannelOptions.defaults(), clientCodec,
                 StructuredChannelOptions.defaults(), new BytesCodec())) {
            final StructuredChannel<byte[], BytesCodec.Message> client = pair.client();
            final StructuredChannel<byte[], BytesCodec.Message> server = pair.server();
            final BlockingQueue<Replier<BytesCodec.Message>> repliers = StructuredChannelTest.holdReplies(server);
            // The map: an asynchronous request.
            final CompletableFuture<Received<byte[]>> async = client.requestAsync(message(client, HELD, "async"));
            final Replier<BytesCodec.Message> asyncReplier = next(repliers);
            asyncReplier.replyMore(message(server, HELD, "part"));
            asyncReplier.replyMore(message(server, HELD, "part"));
            await(() -> client.lateResponses() == 2, "both parts are counted");
            assertFalse(async.isDone(), "a stream part is not the response");
            asyncReplier.reply(message(server, HELD, "final"));
            try (Received<byte[]> response = async.get(LONG.toSeconds(), TimeUnit.SECONDS)) {
                assertEquals("final", text(response));
            }

            // The slot: a blocking request.
            final CompletableFuture<String> blocking = new CompletableFuture<>();
            Thread.ofPlatform().start(() -> {
                try (Received<byte[]> response = client.request(message(client, HELD, "blocking"), LONG)) {
                    blocking.complete(text(response));
                } catch (final Throwable e) {
                    blocking.completeExceptionally(e);
                }
            });
            final Replier<BytesCodec.Message> blockingReplier = next(repliers);
            blockingReplier.replyMore(message(server, HELD, "part"));
            await(() -> client.lateResponses() == 3, "the part is counted");
            blockingReplier.reply(message(server, HELD, "final"));
            assertEquals("final", blocking.get(LONG.toSeconds(), TimeUnit.SECONDS));
            await(() -> clientCodec.closed() == clientCodec.opened(), "every message is closed");
            assertEquals(5, clientCodec.opened());
            assertEquals(3, client.lateResponses());
            assertTrue(client.isOpen());
        }
    }

    /**
     * {@code onMessage} hands the messages that waited for a handler to the new one; a handler that throws an
     * {@link Error} stops the hand-over, and the messages it did not reach are closed, not left open.
     */
    @Test
    void shouldCloseTheWaitingMessagesAHandlerThatThrowsAnErrorDidNotReach() throws Exception {
        final ObservedCodec serverCodec = new ObservedCodec();
        try (StructuredChannelTest.Pair pair = StructuredChannelTest.pair(StructuredChannelOptions.defaults(), new BytesCodec(),
                 StructuredChannelOptions.defaults(), serverCodec)) {
            final StructuredChannel<byte[], BytesCodec.Message> client = pair.client();
            final StructuredChannel<byte[], BytesCodec.Message> server = pair.server();
            for (int i = 0; i < 3; i++) {
                client.send(message(client, UNHANDLED, "waiting " + i));
            }
            await(() -> server.unhandledCount() == 3, "the server keeps three messages");
            final AssertionError thrown = new AssertionError("the handler gives up");
            final AssertionError caught = assertThrows(AssertionError.class,
                () -> server.onMessage(UNHANDLED, (message, replier) -> {
                    throw thrown;
                }));
            assertSame(thrown, caught);
            assertEquals(3, serverCodec.opened());
            assertEquals(3, serverCodec.closed(), "every message handed over is closed");
            assertEquals(0, server.unhandledCount());
        }
    }

    /**
     * A blob channel whose next wake-ups, when asked, sleep after waking the poll: the waking thread is
     * preempted there, as the scheduler may do to any thread.
     */
    private static final class PreemptedWaker implements BlobChannel {
        private final BlobChannel delegate;
        private final AtomicInteger preempted = new AtomicInteger();

        PreemptedWaker(final BlobChannel delegate) {
            this.delegate = delegate;
        }

        void preemptNextWakeUps(final int count) {
            preempted.set(count);
        }

        @Override
        public boolean wakeUp() {
            final boolean woken = delegate.wakeUp();
            if (preempted.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                try {
                    Thread.sleep(50);
                } catch (final InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return woken;
        }

        @Override
        public int maxMessageLength() {
            return delegate.maxMessageLength();
        }

        @Override
        public boolean offer(final MemorySegment source, final long offset, final int length) {
            return delegate.offer(source, offset, length);
        }

        @Override
        public boolean offer(final MemorySegment source, final long offset, final int length, final long timeoutNs) {
            return delegate.offer(source, offset, length, timeoutNs);
        }

        @Override
        public long tryClaim(final int length) {
            return delegate.tryClaim(length);
        }

        @Override
        public long tryClaim(final int length, final long timeoutNs) {
            return delegate.tryClaim(length, timeoutNs);
        }

        @Override
        public MemorySegment claimBuffer() {
            return delegate.claimBuffer();
        }

        @Override
        public void commit(final long claim) {
            delegate.commit(claim);
        }

        @Override
        public void abort(final long claim) {
            delegate.abort(claim);
        }

        @Override
        public void flush() {
            delegate.flush();
        }

        @Override
        public int poll(final BlobHandler handler, final int limit) {
            return delegate.poll(handler, limit);
        }

        @Override
        public int poll(final BlobHandler handler, final int limit, final long timeoutNs) {
            return delegate.poll(handler, limit, timeoutNs);
        }

        @Override
        public boolean isOpen() {
            return delegate.isOpen();
        }

        @Override
        public StatRecord stats() {
            return delegate.stats();
        }

        @Override
        public void close() {
            delegate.close();
        }
    }
}
