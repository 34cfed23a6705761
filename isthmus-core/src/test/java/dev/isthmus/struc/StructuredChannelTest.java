/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.CorruptDataException;
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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
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

    record Pair(StructuredChannel<byte[], BytesCodec.Message> client, StructuredChannel<byte[], BytesCodec.Message> server)
        implements AutoCloseable {
        @Override
        public void close() {
            client.close();
            server.close();
        }
    }

    private static Pair pair(final StructuredChannelOptions clientOptions, final StructuredChannelOptions serverOptions) {
        final ResourceName name = ResourceName.of("structest", "queue", "s" + IDS.incrementAndGet());
        final ShmBlobChannel a = ShmBlobChannel.create(name, ShmQueueOptions.defaults());
        final ShmBlobChannel b = ShmBlobChannel.open(name, ShmQueueOptions.defaults());
        return new Pair(StructuredChannel.open(a, new BytesCodec(), clientOptions),
            StructuredChannel.open(b, new BytesCodec(), serverOptions));
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
