/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.transport.ShmBlobChannel;
import dev.isthmus.transport.ShmQueueOptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Messages read in place: {@link StructuredChannel#onMessageInPlace} handlers and
 * {@link StructuredChannel#request(Outgoing, Duration, java.util.function.Function)}. Whatever the handler or
 * the reader does, every message the codec decoded is closed, once, by the time the call returns, and a
 * replier cannot answer outside its call.
 */
class InPlaceHandlingTest {
    private static final AtomicInteger IDS = new AtomicInteger();
    private static final Duration LONG = Duration.ofSeconds(30);
    private static final int ECHO = 1;
    private static final int FAILING = 2;

    /** {@link BytesCodec}, counting the messages it decoded and how many of them were closed. */
    private static final class CountingCodec implements Codec<byte[], BytesCodec.Message> {
        private final BytesCodec bytes = new BytesCodec();
        final AtomicInteger decoded = new AtomicInteger();
        final AtomicInteger decodedScoped = new AtomicInteger();
        final AtomicInteger closed = new AtomicInteger();

        @Override
        public Outgoing<BytesCodec.Message> newMessage() {
            return bytes.newMessage();
        }

        @Override
        public int typeOf(final Outgoing<BytesCodec.Message> message) {
            return bytes.typeOf(message);
        }

        @Override
        public Encoded encode(final Outgoing<BytesCodec.Message> message) {
            return bytes.encode(message);
        }

        @Override
        public Received<byte[]> decode(final MemorySegment payload, final int type, final long id, final boolean owned) {
            decoded.incrementAndGet();
            final byte[] data = payload.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            return new AbstractReceived<>(type, id, data.length, closed::incrementAndGet, false) {
                @Override
                public byte[] root() {
                    checkOpen();
                    return data;
                }
            };
        }

        @Override
        public Received<byte[]> decodeScoped(final MemorySegment buffer, final long offset, final long length,
                                             final int type, final long id) {
            decodedScoped.incrementAndGet();
            return decode(buffer, offset, length, type, id);
        }

        void assertAllClosed() {
            final long deadline = System.nanoTime() + LONG.toNanos();
            while (closed.get() != decoded.get() && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertEquals(decoded.get(), closed.get(), "every message decoded was closed");
        }
    }

    private record Pair(StructuredChannel<byte[], BytesCodec.Message> client, CountingCodec clientCodec,
                        StructuredChannel<byte[], BytesCodec.Message> server, CountingCodec serverCodec)
        implements AutoCloseable {
        @Override
        public void close() {
            client.close();
            server.close();
        }
    }

    private static Pair pair(final boolean clientDriver) {
        final ResourceName name = ResourceName.of("inplacetest", "queue", "p" + IDS.incrementAndGet());
        final ShmBlobChannel a = ShmBlobChannel.create(name, ShmQueueOptions.defaults());
        final ShmBlobChannel b = ShmBlobChannel.open(name, ShmQueueOptions.defaults());
        final CountingCodec clientCodec = new CountingCodec();
        final CountingCodec serverCodec = new CountingCodec();
        return new Pair(
            StructuredChannel.open(a, clientCodec, StructuredChannelOptions.builder().name("client")
                .driverThread(clientDriver).build()), clientCodec,
            StructuredChannel.open(b, serverCodec, StructuredChannelOptions.builder().name("server")
                .errorHandler(e -> { }).build()), serverCodec);
    }

    private static Outgoing<BytesCodec.Message> message(final StructuredChannel<byte[], BytesCodec.Message> channel,
                                                        final int type, final String text) {
        final Outgoing<BytesCodec.Message> message = channel.newMessage();
        message.root().set(type, text.getBytes(StandardCharsets.UTF_8));
        return message;
    }

    private static String text(final byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private static void serveEchoInPlace(final Pair pair) {
        pair.server.onMessageInPlace(ECHO, (request, replier) ->
            replier.reply(message(pair.server, ECHO, "echo " + text(request))));
    }

    @Test
    void shouldAnswerWithinTheHandlersCallAndReadEachResponseWithinTheCallersCall() {
        for (final boolean clientDriver : new boolean[] {false, true}) {
            try (Pair pair = pair(clientDriver)) {
                serveEchoInPlace(pair);
                for (int i = 0; i < 200; i++) {
                    assertEquals("echo ping " + i, pair.client.request(message(pair.client, ECHO, "ping " + i), LONG,
                        InPlaceHandlingTest::text));
                }
                assertEquals(200, pair.serverCodec.decodedScoped.get(), "requests to an in-place handler");
                assertEquals(200, pair.clientCodec.decodedScoped.get(), "responses read in place by their caller");
                pair.clientCodec.assertAllClosed();
                pair.serverCodec.assertAllClosed();
            }
        }
    }

    @Test
    void shouldThrowWhatTheReaderThrowsOnceTheResponseIsClosed() {
        try (Pair pair = pair(false)) {
            serveEchoInPlace(pair);
            final IllegalArgumentException thrown = new IllegalArgumentException("the reader refuses");
            final IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> pair.client.request(message(pair.client, ECHO, "x"), LONG, response -> {
                    throw thrown;
                }));
            assertSame(thrown, e);
            pair.clientCodec.assertAllClosed();
            assertEquals("echo y", pair.client.request(message(pair.client, ECHO, "y"), LONG, InPlaceHandlingTest::text),
                "the channel goes on");
        }
    }

    @Test
    void shouldFreeTheSlotOfAnInPlaceRequestThatCouldNotBeSent() {
        try (Pair pair = pair(false)) {
            serveEchoInPlace(pair);
            pair.client.close();
            assertThrows(dev.isthmus.ChannelClosedException.class,
                () -> pair.client.request(message(pair.client, ECHO, "x"), LONG, InPlaceHandlingTest::text));
            assertEquals(0, pair.client.lateResponses(), "nothing came, nothing is counted late");
            assertThrows(dev.isthmus.ChannelClosedException.class,
                () -> pair.client.request(message(pair.client, ECHO, "y"), LONG, InPlaceHandlingTest::text),
                "the next request takes the slot and fails the same way");
            assertEquals(0, pair.client.lateResponses());
        }
    }

    @Test
    void shouldRefuseARepliersAnswerAfterItsCallOrFromAnotherThread() throws Exception {
        try (Pair pair = pair(false)) {
            final AtomicReference<Replier<BytesCodec.Message>> kept = new AtomicReference<>();
            final AtomicReference<Throwable> fromAnotherThread = new AtomicReference<>();
            pair.server.onMessageInPlace(ECHO, (request, replier) -> {
                kept.set(replier);
                final Thread other = Thread.ofPlatform().start(() -> {
                    try {
                        replier.reply(message(pair.server, ECHO, "from another thread"));
                    } catch (final Throwable e) {
                        fromAnotherThread.set(e);
                    }
                });
                other.join();
                replier.reply(message(pair.server, ECHO, "first " + text(request)));
            });
            assertEquals("first a", pair.client.request(message(pair.client, ECHO, "a"), LONG, InPlaceHandlingTest::text));
            assertTrue(fromAnotherThread.get() instanceof IllegalStateException, String.valueOf(fromAnotherThread.get()));
            final IllegalStateException late = assertThrows(IllegalStateException.class,
                () -> kept.get().reply(message(pair.server, ECHO, "too late")));
            assertTrue(late.getMessage().contains("only during its call"), late.getMessage());
            assertEquals("first b", pair.client.request(message(pair.client, ECHO, "b"), LONG, InPlaceHandlingTest::text),
                "the next request is answered by its own call, nothing else");
            assertEquals(0, pair.client.lateResponses(), "no stray response reached the client");
        }
    }

    @Test
    void shouldFailTheRequestWhenAnInPlaceHandlerThrowsAndStillCloseTheMessage() {
        try (Pair pair = pair(false)) {
            pair.server.onMessageInPlace(FAILING, (request, replier) -> {
                throw new IllegalStateException("cannot serve " + text(request));
            });
            serveEchoInPlace(pair);
            final RemoteFailureException e = assertThrows(RemoteFailureException.class,
                () -> pair.client.request(message(pair.client, FAILING, "z"), LONG, InPlaceHandlingTest::text));
            assertTrue(e.getMessage().contains("cannot serve z"), e.getMessage());
            assertEquals("echo w", pair.client.request(message(pair.client, ECHO, "w"), LONG, InPlaceHandlingTest::text));
            pair.serverCodec.assertAllClosed();
            pair.clientCodec.assertAllClosed();
        }
    }

    @Test
    void shouldHandAnInPlaceHandlerTheMessagesThatArrivedBeforeIt() throws Exception {
        try (Pair pair = pair(false)) {
            for (int i = 0; i < 5; i++) {
                pair.client.send(message(pair.client, 9, "note " + i));
            }
            final long deadline = System.nanoTime() + LONG.toNanos();
            while (pair.server.unhandledCount() < 5 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            final List<String> received = new CopyOnWriteArrayList<>();
            final List<Throwable> answers = new CopyOnWriteArrayList<>();
            pair.server.onMessageInPlace(9, (message, replier) -> {
                assertFalse(replier.expectsResponse());
                answers.add(assertThrows(IllegalStateException.class,
                    () -> replier.reply(message(pair.server, 9, "no"))));
                received.add(text(message));
            });
            pair.client.send(message(pair.client, 9, "note 5"));
            while (received.size() < 6 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(List.of("note 0", "note 1", "note 2", "note 3", "note 4", "note 5"), received);
            assertEquals(6, answers.size(), "a notification cannot be answered");
            pair.serverCodec.assertAllClosed();
        }
    }

    /** One caller takes the channel's slot, the others the pending map: each reads its own response. */
    @Test
    void shouldReadEveryConcurrentCallersOwnResponse() throws Exception {
        try (Pair pair = pair(true)) {
            serveEchoInPlace(pair);
            final ExecutorService callers = Executors.newFixedThreadPool(4);
            try {
                final List<Future<?>> runs = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    final int caller = t;
                    runs.add(callers.submit(() -> {
                        for (int i = 0; i < 300; i++) {
                            final String text = caller + "/" + i;
                            assertEquals("echo " + text, pair.client.request(message(pair.client, ECHO, text), LONG,
                                InPlaceHandlingTest::text));
                        }
                        return null;
                    }));
                }
                for (final Future<?> run : runs) {
                    run.get();
                }
            } finally {
                callers.shutdownNow();
            }
            assertEquals(1200, pair.clientCodec.decoded.get());
            pair.clientCodec.assertAllClosed();
            pair.serverCodec.assertAllClosed();
        }
    }
}
