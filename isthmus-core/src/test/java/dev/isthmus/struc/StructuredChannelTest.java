/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.PeerDeadException;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.test.ChildJvm;
import dev.isthmus.transport.ShmBlobChannel;
import dev.isthmus.transport.ShmQueueOptions;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StructuredChannelTest {
    private static final AtomicInteger IDS = new AtomicInteger();
    private static final Duration LONG = Duration.ofSeconds(30);
    static final int ECHO = 1;
    static final int SLOW = 2;
    static final int FAILING = 3;
    static final int STREAM = 4;
    static final int LATE = 5;
    /** Answered by the test, through a replier the server's handler kept, when the test chooses. */
    static final int HELD = 6;
    /** A type no handler is registered for, unless the test registers one. */
    static final int UNHANDLED = 9;

    record Pair(StructuredChannel<byte[], BytesCodec.Message> client, StructuredChannel<byte[], BytesCodec.Message> server)
        implements AutoCloseable {
        @Override
        public void close() {
            client.close();
            server.close();
        }
    }

    private static Pair pair(final StructuredChannelOptions clientOptions, final StructuredChannelOptions serverOptions) {
        return pair(clientOptions, new BytesCodec(), serverOptions, new BytesCodec());
    }

    static Pair pair(final StructuredChannelOptions clientOptions,
                             final Codec<byte[], BytesCodec.Message> clientCodec,
                             final StructuredChannelOptions serverOptions,
                             final Codec<byte[], BytesCodec.Message> serverCodec) {
        final ResourceName name = ResourceName.of("structest", "queue", "s" + IDS.incrementAndGet());
        final ShmBlobChannel a = ShmBlobChannel.create(name, ShmQueueOptions.defaults());
        final ShmBlobChannel b = ShmBlobChannel.open(name, ShmQueueOptions.defaults());
        return new Pair(StructuredChannel.open(a, clientCodec, clientOptions),
            StructuredChannel.open(b, serverCodec, serverOptions));
    }

    private static Pair pair() {
        return pair(StructuredChannelOptions.defaults(), StructuredChannelOptions.defaults());
    }

    private static Outgoing<BytesCodec.Message> message(final StructuredChannel<byte[], BytesCodec.Message> channel,
                                                        final int type, final String text) {
        return message(channel, type, text.getBytes(StandardCharsets.UTF_8));
    }

    private static Outgoing<BytesCodec.Message> message(final StructuredChannel<byte[], BytesCodec.Message> channel,
                                                        final int type, final byte[] data) {
        final Outgoing<BytesCodec.Message> message = channel.newMessage();
        message.root().set(type, data);
        return message;
    }

    static void serveEcho(final StructuredChannel<byte[], BytesCodec.Message> server) {
        server.onMessage(ECHO, (request, replier) -> replier.reply(message(server, ECHO, request.root())));
    }

    /** Keeps the replier of every {@link #HELD} request, for the test to answer when it chooses. */
    static BlockingQueue<Replier<BytesCodec.Message>> holdReplies(final StructuredChannel<byte[], BytesCodec.Message> server) {
        final BlockingQueue<Replier<BytesCodec.Message>> repliers = new LinkedBlockingQueue<>();
        server.onMessage(HELD, (request, replier) -> repliers.add(replier));
        return repliers;
    }

    private static Replier<BytesCodec.Message> nextReplier(final BlockingQueue<Replier<BytesCodec.Message>> repliers)
        throws InterruptedException {
        final Replier<BytesCodec.Message> replier = repliers.poll(LONG.toSeconds(), TimeUnit.SECONDS);
        assertNotNull(replier, "the request reached the server");
        return replier;
    }

    /** Waits, for at most {@link #LONG}, until {@code condition} holds; the caller asserts it afterwards. */
    private static void awaitCondition(final BooleanSupplier condition) throws InterruptedException {
        final long deadline = System.nanoTime() + LONG.toNanos();
        while (!condition.getAsBoolean() && System.nanoTime() < deadline) {
            Thread.sleep(2);
        }
    }

    private static String text(final Received<byte[]> message) {
        return new String(message.root(), StandardCharsets.UTF_8);
    }

    @Test
    void shouldAnswerRequestsWithResponses() {
        try (Pair pair = pair()) {
            serveEcho(pair.server);
            for (int i = 0; i < 100; i++) {
                try (Received<byte[]> response = pair.client.request(message(pair.client, ECHO, "ping " + i), LONG)) {
                    assertEquals("ping " + i, new String(response.root(), StandardCharsets.UTF_8));
                    assertEquals(ECHO, response.type());
                }
            }
        }
    }

    @Test
    void shouldKeepMessagesWithoutAHandlerInOrderUntilOneIsRegistered() throws Exception {
        try (Pair pair = pair()) {
            for (int i = 0; i < 5; i++) {
                pair.client.send(message(pair.client, 9, "note " + i));
            }
            final long deadline = System.nanoTime() + LONG.toNanos();
            while (pair.server.unhandledCount() < 5 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(5, pair.server.unhandledCount(), "nothing is dropped");
            final List<String> received = new CopyOnWriteArrayList<>();
            pair.server.onMessage(9, (message, replier) -> {
                assertFalse(replier.expectsResponse());
                received.add(new String(message.root(), StandardCharsets.UTF_8));
            });
            pair.client.send(message(pair.client, 9, "note 5"));
            while (received.size() < 6 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(List.of("note 0", "note 1", "note 2", "note 3", "note 4", "note 5"), received);
        }
    }

    @Test
    void shouldFailOnlyTheRequestThatTimedOut() throws Exception {
        try (Pair pair = pair()) {
            serveEcho(pair.server);
            pair.server.onMessage(SLOW, (request, replier) -> {
                Thread.sleep(300);
                replier.reply(message(pair.server, SLOW, "late"));
            });
            final IsthmusTimeoutException e = assertThrows(IsthmusTimeoutException.class,
                () -> pair.client.request(message(pair.client, SLOW, "x"), Duration.ofMillis(50)));
            assertTrue(e.getMessage().contains("no response"), e.getMessage());
            try (Received<byte[]> response = pair.client.request(message(pair.client, ECHO, "still works"), LONG)) {
                assertEquals("still works", new String(response.root(), StandardCharsets.UTF_8));
            }
            assertEquals(1, pair.client.lateResponses(), "the late response was released, and counted");
            assertTrue(pair.client.isOpen());
        }
    }

    @Test
    void shouldReportAFailingHandlerToTheRequester() {
        final List<Throwable> serverErrors = Collections.synchronizedList(new ArrayList<>());
        try (Pair pair = pair(StructuredChannelOptions.defaults(),
            StructuredChannelOptions.builder().errorHandler(serverErrors::add).build())) {
            pair.server.onMessage(FAILING, (request, replier) -> {
                throw new IllegalStateException("no such file: " + new String(request.root(), StandardCharsets.UTF_8));
            });
            final RemoteFailureException e = assertThrows(RemoteFailureException.class,
                () -> pair.client.request(message(pair.client, FAILING, "a.bin"), LONG));
            assertTrue(e.getMessage().contains("no such file: a.bin"), e.getMessage());
            assertEquals(1, serverErrors.size());
            assertTrue(pair.server.isOpen());
        }
    }

    /**
     * A response the codec cannot encode (a closed message, one with too many segments) is the handler's
     * failure: the requester gets it at once, not its own timeout, and the request can still be answered.
     */
    @Test
    void shouldReportAResponseThatCannotBeEncodedToTheRequester() {
        final List<Throwable> serverErrors = Collections.synchronizedList(new ArrayList<>());
        final BytesCodec refusing = new BytesCodec() {
            @Override
            public Encoded encode(final Outgoing<Message> message) {
                if (new String(message.root().data, StandardCharsets.UTF_8).startsWith("unencodable")) {
                    throw new IllegalStateException("cannot encode " + new String(message.root().data, StandardCharsets.UTF_8));
                }
                return super.encode(message);
            }
        };
        try (Pair pair = pair(StructuredChannelOptions.defaults(), new BytesCodec(),
            StructuredChannelOptions.builder().errorHandler(serverErrors::add).build(), refusing)) {
            pair.server.onMessage(FAILING, (request, replier) ->
                replier.reply(message(pair.server, FAILING, "unencodable, by " + new String(request.root(), StandardCharsets.UTF_8))));
            pair.server.onMessageInPlace(ECHO, (request, replier) -> {
                try {
                    replier.reply(message(pair.server, ECHO, "unencodable, in place"));
                } catch (final IllegalStateException e) {
                    // Not answered: the same request takes another answer.
                    replier.reply(message(pair.server, ECHO, "answered after all"));
                }
            });
            final Duration timeout = Duration.ofSeconds(10);
            final long start = System.nanoTime();
            final RemoteFailureException e = assertThrows(RemoteFailureException.class,
                () -> pair.client.request(message(pair.client, FAILING, "a handler"), timeout));
            assertTrue(e.getMessage().contains("cannot encode unencodable, by a handler"), e.getMessage());
            assertTrue(System.nanoTime() - start < timeout.toNanos(), "the failure came before the timeout");
            assertEquals(1, serverErrors.size());
            assertEquals("answered after all", pair.client.request(message(pair.client, ECHO, "go"), timeout,
                root -> new String(root, StandardCharsets.UTF_8)));
            assertTrue(pair.server.isOpen());
        }
    }

    /**
     * A response that finds no room in the channel within the send timeout (the requester is not reading) was not
     * sent: the request stays unanswered, and a second try once there is room reaches the requester.
     */
    @Test
    void shouldLeaveARequestUnansweredWhenItsResponseFoundNoRoom() throws Exception {
        final StructuredChannelOptions callerDriven = StructuredChannelOptions.builder().driverThread(false).build();
        final StructuredChannelOptions quickToGiveUp = StructuredChannelOptions.builder().sendTimeout(Duration.ofMillis(200))
            .build();
        try (Pair pair = pair(callerDriven, quickToGiveUp)) {
            final BlockingQueue<Replier<BytesCodec.Message>> repliers = holdReplies(pair.server);
            final AtomicInteger notifications = new AtomicInteger();
            pair.client.onMessage(ECHO, (message, replier) -> notifications.incrementAndGet());
            final CompletableFuture<Received<byte[]>> response = pair.client.requestAsync(message(pair.client, HELD, "held"));
            final Replier<BytesCodec.Message> replier = nextReplier(repliers);
            // The client reads nothing until it polls: notifications fill its side of the channel.
            final byte[] filler = new byte[1024];
            int sent = 0;
            while (true) {
                try {
                    pair.server.send(message(pair.server, ECHO, filler));
                    sent++;
                } catch (final IsthmusTimeoutException full) {
                    break;
                }
            }
            assertTrue(sent > 0 && pair.server.isOpen(), sent + " notifications sent");
            // Larger than what the last notification did not find room for.
            final byte[] large = new byte[2 * filler.length];
            assertThrows(IsthmusTimeoutException.class, () -> replier.reply(message(pair.server, HELD, large)));
            assertFalse(response.isDone());

            final long deadline = System.nanoTime() + LONG.toNanos();
            while (notifications.get() < sent && System.nanoTime() < deadline) {
                pair.client.poll(64);
            }
            assertEquals(sent, notifications.get());
            replier.reply(message(pair.server, HELD, "once there was room"));
            while (!response.isDone() && System.nanoTime() < deadline) {
                pair.client.poll(16);
            }
            try (Received<byte[]> answer = response.get(1, TimeUnit.SECONDS)) {
                assertEquals("once there was room", text(answer));
            }
            assertThrows(IllegalStateException.class, () -> replier.reply(message(pair.server, HELD, "twice")));
            assertTrue(pair.client.isOpen() && pair.server.isOpen());
        }
    }

    @Test
    void shouldStreamResponsesAndCompleteAfterTheLast() throws Exception {
        try (Pair pair = pair()) {
            pair.server.onMessage(STREAM, (request, replier) -> {
                for (int i = 0; i < 3; i++) {
                    replier.replyMore(message(pair.server, STREAM, "part " + i));
                }
                replier.reply(message(pair.server, STREAM, "last"));
            });
            final List<String> parts = new CopyOnWriteArrayList<>();
            final CompletableFuture<Void> done = pair.client.requestStream(message(pair.client, STREAM, "go"), response -> {
                try (response) {
                    parts.add(new String(response.root(), StandardCharsets.UTF_8));
                }
            });
            done.get(30, TimeUnit.SECONDS);
            assertEquals(List.of("part 0", "part 1", "part 2", "last"), parts);
        }
    }

    @Test
    void shouldCompleteAsyncRequests() throws Exception {
        try (Pair pair = pair()) {
            serveEcho(pair.server);
            final List<CompletableFuture<Received<byte[]>>> futures = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                futures.add(pair.client.requestAsync(message(pair.client, ECHO, "async " + i)));
            }
            for (int i = 0; i < 50; i++) {
                try (Received<byte[]> response = futures.get(i).get(30, TimeUnit.SECONDS)) {
                    assertEquals("async " + i, new String(response.root(), StandardCharsets.UTF_8));
                }
            }
        }
    }

    @Test
    void shouldCarryPayloadsLargerThanABlobInParts() {
        try (Pair pair = pair()) {
            serveEcho(pair.server);
            final byte[] big = new byte[5 * 1024 * 1024 + 123];
            new Random(7).nextBytes(big);
            try (Received<byte[]> response = pair.client.request(message(pair.client, ECHO, big), LONG)) {
                assertArrayEquals(big, response.root());
                assertEquals(big.length, response.payloadLength());
            }
        }
    }

    @Test
    void shouldGrowTheBufferOfAPayloadLargerThanWhatIsAllocatedUpFront() {
        final StructuredChannelOptions small = StructuredChannelOptions.builder().upFrontBytes(1 << 20).build();
        try (Pair pair = pair(small, small)) {
            serveEcho(pair.server);
            final byte[] big = new byte[9 * 1024 * 1024 + 77];
            new Random(11).nextBytes(big);
            try (Received<byte[]> response = pair.client.request(message(pair.client, ECHO, big), LONG)) {
                assertArrayEquals(big, response.root());
            }
        }
    }

    @Test
    void shouldNotAllocateWhatAHostilePeerDeclaresBeforeItArrives() {
        final ResourceName name = ResourceName.of("structest", "queue", "s" + IDS.incrementAndGet());
        try (ShmBlobChannel hostile = ShmBlobChannel.create(name, ShmQueueOptions.defaults());
             StructuredChannel<byte[], BytesCodec.Message> victim = StructuredChannel.open(
                 ShmBlobChannel.open(name, ShmQueueOptions.defaults()), new BytesCodec(),
                 StructuredChannelOptions.builder().driverThread(false).build());
             java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            // A notification that declares 1.5 GiB of payload and carries 100 bytes of it.
            final java.lang.foreign.MemorySegment blob = arena.allocate(StructuredDescriptor.HEADER_LENGTH + 100);
            blob.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, StructuredDescriptor.MAGIC_OFFSET,
                StructuredDescriptor.MAGIC);
            blob.set(java.lang.foreign.ValueLayout.JAVA_BYTE, StructuredDescriptor.VERSION_OFFSET, StructuredDescriptor.VERSION);
            blob.set(java.lang.foreign.ValueLayout.JAVA_BYTE, StructuredDescriptor.KIND_OFFSET,
                StructuredDescriptor.KIND_NOTIFICATION);
            blob.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, StructuredDescriptor.TYPE_OFFSET, ECHO);
            blob.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, StructuredDescriptor.ID_OFFSET, 1);
            blob.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, StructuredDescriptor.PAYLOAD_LENGTH_OFFSET,
                1536L << 20);
            assertTrue(hostile.offer(blob, 0, (int) blob.byteSize(), LONG.toNanos()));
            final com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
            final long before = threads.getCurrentThreadAllocatedBytes();
            final long deadline = System.nanoTime() + LONG.toNanos();
            while (victim.poll(16) == 0 && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            final long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            assertTrue(allocated < 32L << 20, "receiving the first part allocated " + allocated + " bytes");
            assertTrue(victim.isOpen());
        }
    }

    @Test
    void shouldWorkWithoutDriverThreadsWhenTheCallerDrives() throws Exception {
        final StructuredChannelOptions callerDriven = StructuredChannelOptions.builder().driverThread(false).build();
        try (Pair pair = pair(callerDriven, callerDriven)) {
            serveEcho(pair.server);
            final Thread serverLoop = Thread.ofPlatform().start(() -> {
                try {
                    while (pair.server.isOpen()) {
                        if (pair.server.poll(16) == 0) {
                            Thread.onSpinWait();
                        }
                    }
                } catch (final ChannelClosedException expected) {
                    // the test ended
                }
            });
            try (Received<byte[]> response = pair.client.request(message(pair.client, ECHO, "self-driven"), LONG)) {
                assertEquals("self-driven", new String(response.root(), StandardCharsets.UTF_8));
            }
            pair.close();
            serverLoop.join(10_000);
            assertFalse(serverLoop.isAlive());
        }
    }

    @Test
    void shouldFailTheChannelOnAForeignSessionToken() throws Exception {
        final List<Throwable> serverErrors = Collections.synchronizedList(new ArrayList<>());
        try (Pair pair = pair(StructuredChannelOptions.builder().token(UUID.randomUUID()).build(),
            StructuredChannelOptions.builder().token(UUID.randomUUID()).errorHandler(serverErrors::add).build())) {
            serveEcho(pair.server);
            pair.client.send(message(pair.client, ECHO, "intruder"));
            final long deadline = System.nanoTime() + LONG.toNanos();
            // The channel is marked failed, then its handler told, on the driver thread: wait for both.
            while ((pair.server.isOpen() || serverErrors.isEmpty()) && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertInstanceOf(CorruptDataException.class, pair.server.failure());
            assertTrue(pair.server.failure().getMessage().contains("wrong session token"));
            Thread.sleep(50);
            assertEquals(1, serverErrors.size(), "reported once");
        }
    }

    @Test
    void shouldFailPendingRequestsWhenThePeerDies() {
        final ResourceName name = ResourceName.of("structest", "queue", "d" + IDS.incrementAndGet());
        try (StructuredChannel<byte[], BytesCodec.Message> client = StructuredChannel.open(
                 ShmBlobChannel.create(name, ShmQueueOptions.defaults()), new BytesCodec(), StructuredChannelOptions.defaults());
             ChildJvm server = ChildJvm.start(SilentServerMain.class, name.toString())) {
            server.awaitReady();
            final CompletableFuture<Received<byte[]>> pending = client.requestAsync(message(client, LATE, "never answered"));
            server.awaitLine("GOT", LONG);
            server.kill9();
            final long killed = System.nanoTime();
            final ExecutionException e = assertThrows(ExecutionException.class, () -> pending.get(10, TimeUnit.SECONDS));
            final long detectedMs = (System.nanoTime() - killed) / 1_000_000;
            assertInstanceOf(PeerDeadException.class, e.getCause());
            assertTrue(detectedMs < 1000, "noticed after " + detectedMs + " ms");
            assertThrows(PeerDeadException.class, () -> client.send(message(client, ECHO, "after")));
        }
    }

    /**
     * One blocking request at a time waits in the channel's slot, the others in its map: from many threads
     * at once, each gets its own response, with a driver thread and with callers that receive for
     * themselves.
     */
    @Test
    void shouldGiveEveryConcurrentRequesterItsOwnResponse() throws Exception {
        for (final boolean driven : new boolean[] {true, false}) {
            final StructuredChannelOptions client = StructuredChannelOptions.builder().driverThread(driven).build();
            try (Pair pair = pair(client, StructuredChannelOptions.defaults())) {
                serveEcho(pair.server);
                final List<Throwable> failures = new CopyOnWriteArrayList<>();
                final List<Thread> threads = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    final int thread = t;
                    threads.add(Thread.ofPlatform().start(() -> {
                        try {
                            for (int i = 0; i < 2_000; i++) {
                                final String text = thread + "/" + i;
                                try (Received<byte[]> response = pair.client.request(message(pair.client, ECHO, text), LONG)) {
                                    assertEquals(text, new String(response.root(), StandardCharsets.UTF_8));
                                }
                            }
                        } catch (final Throwable e) {
                            failures.add(e);
                        }
                    }));
                }
                for (final Thread thread : threads) {
                    thread.join(60_000);
                }
                assertEquals(List.of(), failures, "driver thread: " + driven);
                assertEquals(0, pair.client.lateResponses());
            }
        }
    }

    /** A blocking request (the slot) fails when another thread closes the channel, also without a driver. */
    @Test
    void shouldFailABlockingRequestWhenAnotherThreadCloses() throws Exception {
        for (final boolean driven : new boolean[] {true, false}) {
            final StructuredChannelOptions client = StructuredChannelOptions.builder().driverThread(driven).build();
            final Pair pair = pair(client, StructuredChannelOptions.defaults());
            pair.server.onMessage(LATE, (request, replier) -> { });
            final CompletableFuture<Throwable> outcome = new CompletableFuture<>();
            final Thread requester = Thread.ofPlatform().start(() -> {
                try {
                    pair.client.request(message(pair.client, LATE, "never answered"), LONG).close();
                    outcome.complete(null);
                } catch (final Throwable e) {
                    outcome.complete(e);
                }
            });
            Thread.sleep(200);
            final long closing = System.nanoTime();
            pair.close();
            final Throwable failure = outcome.get(10, TimeUnit.SECONDS);
            final long tookMs = (System.nanoTime() - closing) / 1_000_000;
            assertInstanceOf(ChannelClosedException.class, failure, "driver thread: " + driven);
            assertTrue(tookMs < 5_000, "the waiter noticed after " + tookMs + " ms");
            requester.join(10_000);
        }
    }

    /** A blocking request (the slot) fails with the peer's death, not the timeout. */
    @Test
    void shouldFailABlockingRequestWhenThePeerDies() {
        final ResourceName name = ResourceName.of("structest", "queue", "b" + IDS.incrementAndGet());
        try (StructuredChannel<byte[], BytesCodec.Message> client = StructuredChannel.open(
                 ShmBlobChannel.create(name, ShmQueueOptions.defaults()), new BytesCodec(), StructuredChannelOptions.defaults());
             ChildJvm server = ChildJvm.start(SilentServerMain.class, name.toString())) {
            server.awaitReady();
            final CompletableFuture<Throwable> outcome = new CompletableFuture<>();
            Thread.ofPlatform().start(() -> {
                try {
                    client.request(message(client, LATE, "never answered"), LONG).close();
                    outcome.complete(null);
                } catch (final Throwable e) {
                    outcome.complete(e);
                }
            });
            server.awaitLine("GOT", LONG);
            server.kill9();
            final long killed = System.nanoTime();
            final Throwable failure = assertDoesNotThrow(() -> outcome.get(10, TimeUnit.SECONDS));
            final long detectedMs = (System.nanoTime() - killed) / 1_000_000;
            assertInstanceOf(PeerDeadException.class, failure);
            assertTrue(detectedMs < 1000, "noticed after " + detectedMs + " ms");
        }
    }

    @Test
    void shouldFailPendingRequestsOnClose() {
        final Pair pair = pair();
        final CompletableFuture<Received<byte[]>> pending = pair.client.requestAsync(message(pair.client, LATE, "x"));
        pair.close();
        assertThrows(ExecutionException.class, () -> pending.get(10, TimeUnit.SECONDS));
        assertThrows(ChannelClosedException.class, () -> pair.client.send(message(pair.client, ECHO, "closed")));
    }

    /**
     * A peer that sends messages no handler takes cannot fill the receiver's heap: one beyond
     * maxUnhandledMessages fails the channel, and is not even decoded (nothing is borrowed for it).
     */
    @Test
    void shouldFailTheChannelWhenMoreMessagesThanItsBoundWaitForAHandler() throws Exception {
        final List<Throwable> serverErrors = new CopyOnWriteArrayList<>();
        final ObservedCodec serverCodec = new ObservedCodec();
        final Pair pair = pair(StructuredChannelOptions.defaults(), new BytesCodec(),
            StructuredChannelOptions.builder().name("victim").errorHandler(serverErrors::add).build(), serverCodec);
        try (pair) {
            for (int i = 0; i < 1_025; i++) {
                pair.client.send(message(pair.client, UNHANDLED, "note " + i));
            }
            awaitCondition(() -> !serverErrors.isEmpty());
            final CorruptDataException e = assertInstanceOf(CorruptDataException.class, pair.server.failure());
            assertEquals("victim: more than 1024 messages wait for a handler of their type"
                + " (StructuredChannelOptions.maxUnhandledMessages)", e.getMessage());
            assertEquals(List.of(e), serverErrors, "reported once");
            assertFalse(pair.server.isOpen());
            assertEquals(1_024, serverCodec.opened(), "the message beyond the bound is not decoded");
            assertEquals(0, serverCodec.closed());
            assertEquals(1_024, pair.server.unhandledCount());
            final ChannelClosedException later = assertThrows(ChannelClosedException.class,
                () -> pair.server.send(message(pair.server, ECHO, "after")));
            assertSame(e, later.getCause());
        }
        assertEquals(1_024, serverCodec.closed(), "closing releases the messages kept");
    }

    /** Likewise for their payload: a few large messages beyond maxUnhandledBytes fail the channel. */
    @Test
    void shouldFailTheChannelWhenMorePayloadThanItsBoundWaitsForAHandler() throws Exception {
        final List<Throwable> serverErrors = new CopyOnWriteArrayList<>();
        final ObservedCodec serverCodec = new ObservedCodec();
        final Pair pair = pair(StructuredChannelOptions.defaults(), new BytesCodec(),
            StructuredChannelOptions.builder().name("victim").maxUnhandledBytes(3L << 20).errorHandler(serverErrors::add)
                .build(), serverCodec);
        try (pair) {
            // 1 MiB each, carried in parts: three fill the bound exactly, the fourth is beyond it.
            final byte[] large = new byte[1 << 20];
            for (int i = 0; i < 4; i++) {
                pair.client.send(message(pair.client, UNHANDLED, large));
            }
            awaitCondition(() -> !serverErrors.isEmpty());
            final CorruptDataException e = assertInstanceOf(CorruptDataException.class, pair.server.failure());
            assertEquals("victim: more than 3145728 payload bytes wait for a handler of their type"
                + " (StructuredChannelOptions.maxUnhandledBytes)", e.getMessage());
            assertEquals(3, pair.server.unhandledCount());
            assertEquals(3, serverCodec.opened(), "the message beyond the bound is not decoded");
            assertEquals(0, serverCodec.closed());
            assertThrows(ChannelClosedException.class, () -> pair.server.send(message(pair.server, ECHO, "after")));
        }
        assertEquals(3, serverCodec.closed(), "closing releases the messages kept");
    }

    /** Messages handed to their handler no longer count against the bounds: others may wait in their place. */
    @Test
    void shouldNoLongerCountKeptMessagesOnceTheirHandlerTakesThem() throws Exception {
        final List<Throwable> serverErrors = new CopyOnWriteArrayList<>();
        final StructuredChannelOptions bounded = StructuredChannelOptions.builder().maxUnhandledMessages(10)
            .maxUnhandledBytes(1_000).errorHandler(serverErrors::add).build();
        try (Pair pair = pair(StructuredChannelOptions.defaults(), bounded)) {
            final AtomicInteger handled = new AtomicInteger();
            final byte[] hundred = new byte[100];
            for (int round = 0; round < 3; round++) {
                final int type = UNHANDLED + round;
                // Ten messages of 100 bytes: both bounds reached, neither exceeded.
                for (int i = 0; i < 10; i++) {
                    pair.client.send(message(pair.client, type, hundred));
                }
                awaitCondition(() -> pair.server.unhandledCount() == 10 || !pair.server.isOpen());
                assertEquals(10, pair.server.unhandledCount(), "round " + round + ": " + pair.server.failure());
                pair.server.onMessage(type, (message, replier) -> handled.incrementAndGet());
                assertEquals(10 * (round + 1), handled.get(), "the kept messages are handed over as it registers");
                assertEquals(0, pair.server.unhandledCount());
            }
            assertTrue(pair.server.isOpen());
            assertEquals(List.of(), serverErrors);
        }
    }

    @Test
    void shouldRefuseNegativeBoundsOnMessagesWaitingForAHandler() {
        final IllegalArgumentException messages = assertThrows(IllegalArgumentException.class,
            () -> StructuredChannelOptions.builder().maxUnhandledMessages(-1));
        assertEquals("maxUnhandledMessages=-1 must be >= 0", messages.getMessage());
        final IllegalArgumentException bytes = assertThrows(IllegalArgumentException.class,
            () -> StructuredChannelOptions.builder().maxUnhandledBytes(-1));
        assertEquals("maxUnhandledBytes=-1 must be >= 0", bytes.getMessage());
        assertEquals(1_024, StructuredChannelOptions.defaults().maxUnhandledMessages());
        assertEquals(64L << 20, StructuredChannelOptions.defaults().maxUnhandledBytes());
        assertEquals(0, StructuredChannelOptions.builder().maxUnhandledMessages(0).maxUnhandledBytes(0).build()
            .maxUnhandledMessages());
    }

    /** A stream callback owns each response; if it throws before closing it, the channel closes it. */
    @Test
    void shouldCloseAStreamedResponseWhoseCallbackThrows() throws Exception {
        final List<Throwable> clientErrors = new CopyOnWriteArrayList<>();
        final ObservedCodec clientCodec = new ObservedCodec();
        try (Pair pair = pair(StructuredChannelOptions.builder().errorHandler(clientErrors::add).build(), clientCodec,
            StructuredChannelOptions.defaults(), new BytesCodec())) {
            pair.server.onMessage(STREAM, (request, replier) -> {
                for (int i = 0; i < 3; i++) {
                    replier.replyMore(message(pair.server, STREAM, "part " + i));
                }
                replier.reply(message(pair.server, STREAM, "last"));
            });
            final CompletableFuture<Void> done = pair.client.requestStream(message(pair.client, STREAM, "go"), response -> {
                throw new IllegalStateException("cannot take " + text(response));
            });
            done.get(30, TimeUnit.SECONDS);
            assertEquals(4, clientErrors.size());
            assertEquals("cannot take part 0", clientErrors.getFirst().getMessage());
            assertEquals(4, clientCodec.opened());
            assertEquals(4, clientCodec.closed(), "every response is closed");
            assertTrue(pair.client.isOpen());
        }
    }

    /**
     * A blocking request that times out while the peer holds its response back: the response, once it
     * comes, is closed and counted, whether the request waited in the slot or (another one holding the slot)
     * in the map.
     */
    @Test
    void shouldCloseAndCountAResponseThatArrivesAfterItsRequestTimedOut() throws Exception {
        final ObservedCodec clientCodec = new ObservedCodec();
        try (Pair pair = pair(StructuredChannelOptions.defaults(), clientCodec, StructuredChannelOptions.defaults(),
            new BytesCodec())) {
            final BlockingQueue<Replier<BytesCodec.Message>> repliers = holdReplies(pair.server);
            // The slot: the only blocking request.
            assertThrows(IsthmusTimeoutException.class,
                () -> pair.client.request(message(pair.client, HELD, "in the slot"), Duration.ofMillis(100)));
            nextReplier(repliers).reply(message(pair.server, HELD, "too late"));
            awaitCondition(() -> pair.client.lateResponses() == 1);
            assertEquals(1, pair.client.lateResponses());
            assertEquals(1, clientCodec.opened());
            assertEquals(1, clientCodec.closed(), "the late response is released");

            // The map: a second blocking request while another holds the slot.
            final CompletableFuture<String> first = new CompletableFuture<>();
            final Thread holder = Thread.ofPlatform().start(() -> {
                try {
                    final String answer;
                    try (Received<byte[]> response = pair.client.request(message(pair.client, HELD, "holds the slot"), LONG)) {
                        answer = text(response);
                    }
                    first.complete(answer);
                } catch (final Throwable e) {
                    first.completeExceptionally(e);
                }
            });
            final Replier<BytesCodec.Message> holding = nextReplier(repliers);
            assertThrows(IsthmusTimeoutException.class,
                () -> pair.client.request(message(pair.client, HELD, "in the map"), Duration.ofMillis(100)));
            nextReplier(repliers).reply(message(pair.server, HELD, "too late"));
            awaitCondition(() -> pair.client.lateResponses() == 2);
            assertEquals(2, pair.client.lateResponses());
            holding.reply(message(pair.server, HELD, "in time"));
            assertEquals("in time", first.get(30, TimeUnit.SECONDS));
            holder.join(10_000);
            assertEquals(3, clientCodec.opened());
            assertEquals(3, clientCodec.closed(), "every response is closed");
            assertTrue(pair.client.isOpen());
        }
    }

    /**
     * A blocking request gives up (times out, or is interrupted) while its response is being decoded: the
     * caller gets the failure, and the response, once decoded, is closed and counted. Decoding is held until
     * the caller has given up, in the slot and in the map.
     */
    @Test
    void shouldReleaseAResponseThatArrivesJustAsItsRequestGivesUp() throws Exception {
        for (final boolean inMap : new boolean[] {false, true}) {
            for (final boolean interrupt : new boolean[] {false, true}) {
                giveUpWhileTheResponseIsDecoded(inMap, interrupt);
            }
        }
    }

    private static void giveUpWhileTheResponseIsDecoded(final boolean inMap, final boolean interrupt) throws Exception {
        final String path = (inMap ? "in the map" : "in the slot") + ", " + (interrupt ? "interrupted" : "timed out");
        final CountDownLatch decoding = new CountDownLatch(1);
        final CompletableFuture<Object> outcome = new CompletableFuture<>();
        final ObservedCodec clientCodec = new ObservedCodec().beforeDecode(type -> {
            if (type == ECHO) {
                decoding.countDown();
                try {
                    // Until the caller has given up, or long enough to tell that it waits for this decode.
                    outcome.get(10, TimeUnit.SECONDS);
                } catch (final InterruptedException | ExecutionException | TimeoutException e) {
                    // decode anyway
                }
            }
        });
        try (Pair pair = pair(StructuredChannelOptions.defaults(), clientCodec, StructuredChannelOptions.defaults(),
            new BytesCodec())) {
            serveEcho(pair.server);
            final BlockingQueue<Replier<BytesCodec.Message>> repliers = holdReplies(pair.server);
            final CompletableFuture<String> held = new CompletableFuture<>();
            Thread holder = null;
            Replier<BytesCodec.Message> holding = null;
            if (inMap) {
                holder = Thread.ofPlatform().start(() -> {
                    try {
                        final String answer;
                        try (Received<byte[]> response = pair.client.request(message(pair.client, HELD, "slot"), LONG)) {
                            answer = text(response);
                        }
                        held.complete(answer);
                    } catch (final Throwable e) {
                        held.completeExceptionally(e);
                    }
                });
                holding = nextReplier(repliers);
            }
            final AtomicBoolean interruptedAfter = new AtomicBoolean();
            final Thread waiter = Thread.ofPlatform().start(() -> {
                Object result;
                try (Received<byte[]> response = pair.client.request(message(pair.client, ECHO, "just then"),
                    interrupt ? LONG : Duration.ofMillis(500))) {
                    result = "returned " + text(response);
                } catch (final Throwable e) {
                    result = e;
                }
                interruptedAfter.set(Thread.currentThread().isInterrupted());
                outcome.complete(result);
            });
            if (interrupt) {
                assertTrue(decoding.await(30, TimeUnit.SECONDS), path + ": the response is being decoded");
                waiter.interrupt();
            }
            final Object result = outcome.get(30, TimeUnit.SECONDS);
            waiter.join(10_000);
            if (interrupt) {
                final IsthmusException e = assertInstanceOf(IsthmusException.class, result, path);
                assertTrue(e.getMessage().contains("interrupted while waiting"), path + ": " + e);
                assertTrue(interruptedAfter.get(), path + ": the interrupt is still set");
            } else {
                assertInstanceOf(IsthmusTimeoutException.class, result, path);
                assertFalse(interruptedAfter.get(), path);
            }
            awaitCondition(() -> pair.client.lateResponses() == 1);
            assertEquals(1, pair.client.lateResponses(), path);
            if (inMap) {
                holding.reply(message(pair.server, HELD, "done"));
                assertEquals("done", held.get(30, TimeUnit.SECONDS), path);
                holder.join(10_000);
            }
            assertEquals(inMap ? 2 : 1, clientCodec.opened(), path);
            assertEquals(clientCodec.opened(), clientCodec.closed(), path + ": every response is closed");
            assertTrue(pair.client.isOpen(), path);
        }
    }

    /**
     * Many blocking requests, with short and long timeouts, interrupted at random: every response decoded
     * was either returned to its caller or released and counted late, never left open.
     */
    @Test
    void shouldCloseEveryResponseWhateverEndsTheWait() throws Exception {
        for (final boolean driven : new boolean[] {true, false}) {
            final ObservedCodec clientCodec = new ObservedCodec();
            final AtomicInteger returned = new AtomicInteger();
            final List<Throwable> failures = new CopyOnWriteArrayList<>();
            final Pair pair = pair(StructuredChannelOptions.builder().driverThread(driven).build(), clientCodec,
                StructuredChannelOptions.defaults(), new BytesCodec());
            try (pair) {
                serveEcho(pair.server);
                final List<Thread> requesters = new ArrayList<>();
                for (int t = 0; t < 3; t++) {
                    final Random random = new Random(t);
                    requesters.add(Thread.ofPlatform().start(() -> {
                        final Duration[] timeouts = {Duration.ofNanos(20_000), Duration.ofNanos(100_000),
                            Duration.ofMillis(1), LONG};
                        for (int i = 0; i < 2_000; i++) {
                            try (Received<byte[]> response = pair.client.request(message(pair.client, ECHO, "r" + i),
                                timeouts[random.nextInt(timeouts.length)])) {
                                assertEquals("r" + i, text(response));
                                returned.incrementAndGet();
                            } catch (final IsthmusTimeoutException e) {
                                // the response, if it comes, is the channel's to release
                            } catch (final IsthmusException e) {
                                if (!e.getMessage().contains("interrupted while waiting")) {
                                    failures.add(e);
                                    return;
                                }
                            } catch (final Throwable e) {
                                failures.add(e);
                                return;
                            }
                            Thread.interrupted();
                        }
                    }));
                }
                final Random random = new Random(99);
                while (requesters.stream().anyMatch(Thread::isAlive)) {
                    requesters.get(random.nextInt(requesters.size())).interrupt();
                    LockSupport.parkNanos(random.nextInt(200_000));
                }
                assertEquals(List.of(), failures, "driver thread: " + driven);
            }
            assertEquals(clientCodec.opened(), clientCodec.closed(), "driver thread: " + driven + ": all closed");
            assertEquals(clientCodec.opened(), returned.get() + pair.client.lateResponses(),
                "driver thread: " + driven + ": returned " + returned + ", late " + pair.client.lateResponses());
        }
    }

    /** Opens the channel, prints GOT for each request, never answers. */
    public static final class SilentServerMain {
        public static void main(final String[] args) throws Exception {
            final ShmBlobChannel blobs = ShmBlobChannel.open(ResourceName.parse(args[0]).orElseThrow(), ShmQueueOptions.defaults());
            final StructuredChannel<byte[], BytesCodec.Message> server =
                StructuredChannel.open(blobs, new BytesCodec(), StructuredChannelOptions.defaults());
            server.onMessage(LATE, (request, replier) -> System.out.println("GOT"));
            System.out.println("READY");
            Thread.sleep(600_000);
        }
    }
}
