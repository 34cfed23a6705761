/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.CorruptDataException;
import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.capnp.test.TestMessages;
import dev.isthmus.struc.Codec;
import dev.isthmus.struc.Outgoing;
import dev.isthmus.struc.Received;
import org.capnproto.DecodeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The cache demo's request and response through structured channels, with either backing. */
class CapnpRoundTripTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldAnswerACacheRequestWithVerifiableParts(final Backing backing) {
        try (Endpoints endpoints = Endpoints.open(backing)) {
            final AtomicReference<String> askedFor = new AtomicReference<>();
            endpoints.b.onMessage(Body.Which.GET_CACHE_REQ, (request, replier) -> {
                askedFor.set(request.root().getGetCacheReq().getFileName().toString());
                try (Outgoing<Body.Builder> response = endpoints.b.newMessage()) {
                    CacheMessages.response(response.root(), 42, 7, 10_000);
                    replier.reply(response);
                }
            });
            try (Outgoing<Body.Builder> request = endpoints.a.newMessage()) {
                CacheMessages.request(request.root(), "huge-file.bin");
                assertEquals(Body.Which.GET_CACHE_REQ.ordinal(), endpoints.a.codec().typeOf(request));
                try (Received<Body.Reader> response = endpoints.a.request(request, TIMEOUT)) {
                    assertEquals(Body.Which.GET_CACHE_RSP.ordinal(), response.type());
                    assertTrue(CacheMessages.verify(response.root(), 42, 7) > 60_000);
                }
            }
            assertEquals("huge-file.bin", askedFor.get());
            if (backing == Backing.SESSION_SHM) {
                // The handler's message is closed on the responder's thread after its reply went out, which can
                // be after the requester has read and closed the response: wait for both arenas.
                Endpoints.awaitAllocatedBytes(endpoints.arenaA, 0);
                Endpoints.awaitAllocatedBytes(endpoints.arenaB, 0);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldSendAPrebuiltResponseManyTimes(final Backing backing) {
        try (Endpoints endpoints = Endpoints.open(backing)) {
            final CapnpOutgoing<Body.Builder> prebuilt = endpoints.codecB().newMessage();
            CacheMessages.response(prebuilt.root(), 7, 5, 100_000);
            final long baseline = endpoints.arenaB.allocatedBytes();
            assertEquals(backing, prebuilt.backing());
            assertTrue(prebuilt.seal().isSealed());
            assertThrows(IllegalStateException.class, prebuilt::root, "a sealed message cannot be changed");
            endpoints.b.onMessage(Body.Which.GET_CACHE_REQ, (request, replier) -> replier.reply(prebuilt));
            final Outgoing<Body.Builder> request = endpoints.a.newMessage();
            CacheMessages.request(request.root(), "f");
            final List<Received<Body.Reader>> responses = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                responses.add(endpoints.a.request(request, TIMEOUT));
            }
            for (final Received<Body.Reader> response : responses) {
                CacheMessages.verify(response.root(), 7, 5);
                response.close();
            }
            request.close();
            assertEquals(baseline, endpoints.arenaB.allocatedBytes(), "each receiver gave its references back");
            prebuilt.close();
            prebuilt.close();
            assertEquals(0, endpoints.arenaB.allocatedBytes());
            assertThrows(IllegalStateException.class, () -> endpoints.codecB().encode(prebuilt));
        }
    }

    @Test
    void shouldRefuseARootWithoutAnonymousUnion() {
        final IllegalArgumentException e =
            assertThrows(IllegalArgumentException.class, () -> CapnpCodec.heap(TestMessages.NoUnion.factory));
        assertTrue(e.getMessage().contains("anonymous union"), e.getMessage());
    }

    @Test
    void shouldRefuseAMessageOfAnotherCodec() {
        final CapnpCodec<TestMessages.Envelope.Reader, TestMessages.Envelope.Builder> codec =
            CapnpCodec.heap(TestMessages.Envelope.factory);
        final Outgoing<TestMessages.Envelope.Builder> foreign = new Outgoing<>() {
            @Override
            public TestMessages.Envelope.Builder root() {
                return null;
            }

            @Override
            public void close() {
            }
        };
        assertThrows(IllegalArgumentException.class, () -> codec.encode(foreign));
        assertThrows(IllegalArgumentException.class, () -> CapnpOutgoing.of(foreign));
    }

    @Test
    void shouldRefuseATypeThatContradictsTheRootUnion() {
        final CapnpCodec<Body.Reader, Body.Builder> codec = CapnpCodec.heap(Body.factory);
        try (CapnpOutgoing<Body.Builder> message = codec.newMessage()) {
            CacheMessages.request(message.root(), "x");
            final MemorySegment payload = concat(codec.encode(message));
            assertEquals("x", codec.decode(payload, Body.Which.GET_CACHE_REQ.ordinal(), 1, false)
                .root().getGetCacheReq().getFileName().toString());
            final CorruptDataException e = assertThrows(CorruptDataException.class,
                () -> codec.decode(payload, Body.Which.GET_CACHE_RSP.ordinal(), 2, false));
            assertTrue(e.getMessage().contains("type=1"), e.getMessage());
        }
    }

    @Test
    void shouldStopReadingAHostilelyDeepMessageAtTheNestingLimit() {
        final CapnpCodec<TestMessages.Envelope.Reader, TestMessages.Envelope.Builder> codec =
            CapnpCodec.heap(TestMessages.Envelope.factory);
        try (CapnpOutgoing<TestMessages.Envelope.Builder> message = codec.newMessage()) {
            TestMessages.Node.Builder node = message.root().initChain();
            for (int depth = 0; depth < 200; depth++) {
                node.setValue(depth);
                node = node.initNext();
            }
            final Received<TestMessages.Envelope.Reader> received =
                codec.decode(concat(codec.encode(message)), TestMessages.Envelope.Which.CHAIN.ordinal(), 1, false);
            final DecodeException e = assertThrows(DecodeException.class, () -> {
                TestMessages.Node.Reader reader = received.root().getChain();
                while (reader.hasNext()) {
                    reader = reader.getNext();
                }
            });
            assertTrue(e.getMessage().contains("too deeply nested"), e.getMessage());
            TestMessages.Node.Reader reader = received.root().getChain();
            for (int depth = 0; depth < CapnpCodec.NESTING_LIMIT - 2; depth++) {
                assertEquals(depth, reader.getValue(), "an ordinary depth reads fine");
                reader = reader.getNext();
            }
        }
    }

    @Test
    void shouldBoundTheTraversalLimitByTheReceiverNotByTheMessage() {
        assertEquals(8L << 20, CapnpReadOptions.defaults().traversalLimitWords(), "Cap'n Proto's default");
        assertEquals(CapnpReadOptions.defaults(), CapnpCodec.heap(Body.factory).readOptions());
        assertEquals(8L << 20, CapnpReadOptions.forPayloadsUpTo(1 << 20).traversalLimitWords(), "never below the default");
        assertEquals((4L << 30) / 8 + 1, CapnpReadOptions.forPayloadsUpTo(4L << 30).traversalLimitWords(),
            "one full read of the channel's largest payload");
        assertEquals(CapnpReadOptions.MAX_TRAVERSAL_LIMIT_WORDS,
            CapnpReadOptions.forPayloadsUpTo(Long.MAX_VALUE).traversalLimitWords());
        assertThrows(IllegalArgumentException.class, () -> CapnpReadOptions.defaults().withTraversalLimitWords(0));
        assertThrows(IllegalArgumentException.class,
            () -> CapnpReadOptions.defaults().withTraversalLimitWords(CapnpReadOptions.MAX_TRAVERSAL_LIMIT_WORDS + 1));
        assertThrows(IllegalArgumentException.class, () -> CapnpReadOptions.defaults().withNestingLimit(0));
    }

    @Test
    void shouldStopRereadingAMessageAtTheTraversalLimitWhateverItsSize() {
        final CapnpCodec<Body.Reader, Body.Builder> codec = CapnpCodec.create(Body.factory, Backing.HEAP, null, null,
            CapnpReadOptions.defaults().withTraversalLimitWords(10_000));
        try (CapnpOutgoing<Body.Builder> message = codec.newMessage()) {
            // About 4,100 words: one full read fits the limit, three do not.
            CacheMessages.response(message.root(), 3, 4, 8000);
            final Received<Body.Reader> received =
                codec.decode(concat(codec.encode(message)), Body.Which.GET_CACHE_RSP.ordinal(), 1, false);
            CacheMessages.verify(received.root(), 3, 4);
            final DecodeException e = assertThrows(DecodeException.class, () -> {
                for (int pass = 0; pass < 2; pass++) {
                    CacheMessages.verify(received.root(), 3, 4);
                }
            });
            assertTrue(e.getMessage().contains("Read limit exceeded"), e.getMessage());
            received.close();
        }
    }

    /** The parts of an encoding in one segment, as the channel delivers them. */
    static MemorySegment concat(final Codec.Encoded encoded) {
        final MemorySegment all = MemorySegment.ofArray(new byte[(int) encoded.length()]);
        long at = 0;
        for (final MemorySegment part : encoded.parts()) {
            MemorySegment.copy(part, 0, all, at, part.byteSize());
            at += part.byteSize();
        }
        return all;
    }
}
