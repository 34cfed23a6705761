/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.arena.ShmBlock;
import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.struc.Codec;
import dev.isthmus.struc.Received;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * {@link CapnpCodec#decodeScoped}: a message read within one call is recycled once closed, never while open,
 * and each reads its own bytes; the blocks it borrowed go back as with any message.
 */
class InPlaceReadingTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    /** What a channel's blob would hold: the encoded message's parts, one after the other. */
    private static MemorySegment payload(final CapnpCodec<Body.Reader, Body.Builder> codec,
                                         final CapnpOutgoing<Body.Builder> message) {
        return Endpoints.payload(codec.encode(message));
    }

    @Test
    void shouldServeAndReadEveryMessageInPlaceWithTheBytesItHoldsNowAndGiveTheBlocksBack() {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final CapnpOutgoing<Body.Builder> response = endpoints.codecB().newMessage(64 << 10);
            CacheMessages.response(response.root(), 7, 4, 16 << 10);
            final ByteBuffer data = response.root().getGetCacheRsp().getFileParts().get(0).getData().asByteBuffer();
            response.seal();
            final List<String> served = new ArrayList<>();
            endpoints.b.onMessageInPlace(Body.Which.GET_CACHE_REQ, (request, replier) -> {
                served.add(request.getGetCacheReq().getFileName().toString());
                replier.reply(response);
            });
            for (int i = 0; i < 50; i++) {
                // The sender changes its bytes between sends: each response reads what is there now.
                data.put(0, (byte) i);
                try (CapnpOutgoing<Body.Builder> request = endpoints.codecA().newMessage()) {
                    CacheMessages.request(request.root(), "file-" + i);
                    final int expected = i;
                    final int first = endpoints.a.request(request, TIMEOUT, root -> {
                        assertEquals(4, root.getGetCacheRsp().getFileParts().size());
                        return (int) root.getGetCacheRsp().getFileParts().get(0).getData().asByteBuffer().get(0);
                    });
                    assertEquals((byte) expected, (byte) first, "response " + i + " reads the sender's current bytes");
                }
            }
            assertEquals(50, served.size());
            for (int i = 0; i < 50; i++) {
                assertEquals("file-" + i, served.get(i), "each inline request read as sent, in its own copy");
            }
            for (final ShmBlock block : response.blocks()) {
                assertEquals(1, block.references(), "every borrow of the response came back; only the sender's is left");
            }
            response.close();
            Endpoints.awaitAllocatedBytes(endpoints.arenaB, 0);
        }
    }

    /**
     * Closed, the message serves the next one; open, it is never handed out again: a second message read
     * while the first is open (a handler that receives in turn) is one of its own, and both read their own
     * bytes. Once closed, neither can be read, nor be retained.
     */
    @Test
    void shouldRecycleAClosedMessageAndNeverAnOpenOne() {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final CapnpCodec<Body.Reader, Body.Builder> sender = endpoints.codecB();
            final CapnpCodec<Body.Reader, Body.Builder> receiver = endpoints.codecA();
            final int type = Body.Which.GET_CACHE_REQ.ordinal();
            final MemorySegment[] payloads = new MemorySegment[3];
            for (int i = 0; i < payloads.length; i++) {
                try (CapnpOutgoing<Body.Builder> request = sender.newMessage()) {
                    CacheMessages.request(request.root(), "name-" + i);
                    payloads[i] = payload(sender, request);
                }
            }
            final Received<Body.Reader> first = receiver.decodeScoped(payloads[0], 0, payloads[0].byteSize(), type, 1);
            final Received<Body.Reader> second = receiver.decodeScoped(payloads[1], 0, payloads[1].byteSize(), type, 2);
            assertNotSame(first, second, "an open message is not handed out again");
            assertEquals("name-0", first.root().getGetCacheReq().getFileName().toString());
            assertEquals("name-1", second.root().getGetCacheReq().getFileName().toString());
            assertThrows(IllegalStateException.class, first::retain, "a message read in place cannot be kept");
            second.close();
            second.close();
            final Received<Body.Reader> third = receiver.decodeScoped(payloads[2], 0, payloads[2].byteSize(), type, 3);
            assertSame(second, third, "a closed one serves the next");
            assertEquals(3, third.id());
            assertEquals("name-2", third.root().getGetCacheReq().getFileName().toString());
            assertEquals("name-0", first.root().getGetCacheReq().getFileName().toString(),
                "the first still reads its own copy");
            first.close();
            third.close();
            assertThrows(IllegalStateException.class, third::root);
        }
    }

    /**
     * One segment borrowed again and again through the scoped path: the same message object, and every
     * borrow counted and given back, so the sender's block is free once the sender closes its message.
     */
    @Test
    void shouldGiveBackEveryBorrowOfARecycledOneSegmentMessage() {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final CapnpCodec<Body.Reader, Body.Builder> sender = endpoints.codecB();
            final CapnpCodec<Body.Reader, Body.Builder> receiver = endpoints.codecA();
            final CapnpOutgoing<Body.Builder> message = sender.newMessage(64 << 10);
            CacheMessages.response(message.root(), 3, 2, 16 << 10);
            message.seal();
            final int type = Body.Which.GET_CACHE_RSP.ordinal();
            Received<Body.Reader> previous = null;
            for (int i = 0; i < 20; i++) {
                final MemorySegment payload = payload(sender, message);
                final Received<Body.Reader> received = receiver.decodeScoped(payload, 0, payload.byteSize(), type, i);
                if (previous != null) {
                    assertSame(previous, received, "message " + i + " is the last one, recycled");
                }
                CacheMessages.verify(received.root(), 3, 2);
                for (final ShmBlock block : message.blocks()) {
                    assertEquals(2, block.references(), "the sender's and the one borrow open now");
                }
                received.close();
                for (final ShmBlock block : message.blocks()) {
                    assertEquals(1, block.references(), "the borrow came back");
                }
                previous = received;
            }
            message.close();
            Endpoints.awaitAllocatedBytes(endpoints.arenaB, 0);
        }
    }
}
