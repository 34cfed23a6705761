/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.arena.ArenaDescriptor;
import dev.isthmus.arena.ShmBlock;
import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.struc.Codec;
import dev.isthmus.struc.Received;
import org.capnproto.Data;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link Backing#SESSION_SHM}: only handles cross, the receiver reads the sender's memory, blocks come back. */
class ZeroCopyTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(120);

    @Test
    void shouldSendOnlyHandlesWhateverTheMessageSize() {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            // 256 parts of 1 MiB: a 256 MiB message.
            final int parts = 256;
            final CapnpOutgoing<Body.Builder> large = endpoints.codecB().newMessage();
            CacheMessages.response(large.root(), 3, parts, 1 << 20);
            final CapnpOutgoing<Body.Builder> small = endpoints.codecB().newMessage();
            CacheMessages.response(small.root(), 4, 2, 100);
            large.seal();
            assertTrue(large.sizeBytes() > 256L << 20, "size=" + large.sizeBytes());
            final long usable = CapnpCodec.MAX_SEGMENT_BYTES - ArenaDescriptor.BLOCK_HEADER_LENGTH;
            for (final ShmBlock block : large.blocks()) {
                assertTrue(block.length() <= usable, "segments are capped: " + block);
            }
            assertTrue(large.segmentCount() > 4, "segments=" + large.segmentCount());
            endpoints.b.onMessage(Body.Which.GET_CACHE_REQ, (request, replier) ->
                replier.reply("large".contentEquals(request.root().getGetCacheReq().getFileName().toString()) ? large : small));

            try (Received<Body.Reader> response = request(endpoints, "large")) {
                assertEquals(CapnpDescriptor.shmPayloadLength(large.segmentCount()), response.payloadLength());
                assertTrue(response.payloadLength() < 1024, "payload=" + response.payloadLength());
                final long checked = CacheMessages.verify(response.root(), 3, parts);
                assertTrue(checked > 255L << 20, "checked=" + checked);
            }
            final long lentBefore = endpoints.arenaB.allocatedBytes();
            try (Received<Body.Reader> response = request(endpoints, "small")) {
                // One segment of at most 1 KiB goes inline: the segment itself, after an 8-byte header.
                assertEquals(CapnpDescriptor.INLINE_SEGMENT_OFFSET + small.sizeBytes(), response.payloadLength());
                assertFalse(response.root().getGetCacheRsp().getFileParts().get(0).getData().asByteBuffer().isDirect(),
                    "an inline message is read from this process's copy");
                CacheMessages.verify(response.root(), 4, 2);
            }
            assertEquals(lentBefore, endpoints.arenaB.allocatedBytes(), "an inline message allocates no block");
            large.close();
            small.close();
            assertEquals(0, endpoints.arenaB.allocatedBytes());
        }
    }

    /**
     * A size hint is rounded up, never down: a file of 2<sup>k</sup> bytes in 16 KiB parts (the cache demo's
     * shape) is one segment, one handle; and a message built again in the blocks the first one freed reads
     * as built, since reused memory is cleared.
     */
    @Test
    void shouldBuildAMessageAsLargeAsItsHintInOneSegment() {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            for (final int bytes : new int[] {16 << 10, 100 << 10, 1 << 20, 16 << 20}) {
                for (int round = 0; round < 2; round++) {
                    try (CapnpOutgoing<Body.Builder> message = endpoints.codecB().newMessage(bytes)) {
                        CacheMessages.response(message.root(), bytes + round, bytes / (16 << 10), 16 << 10);
                        assertEquals(1, message.segmentCount(), bytes + " bytes, round " + round);
                        endpoints.b.onMessage(Body.Which.GET_CACHE_REQ, (request, replier) -> replier.reply(message));
                        try (Received<Body.Reader> response = request(endpoints, "any")) {
                            assertEquals(CapnpDescriptor.shmPayloadLength(1), response.payloadLength());
                            CacheMessages.verify(response.root(), bytes + round, bytes / (16 << 10));
                        }
                    }
                }
            }
            assertEquals(0, endpoints.arenaB.allocatedBytes());
        }
    }

    @Test
    void shouldReadInPlaceInTheSendersMemory() {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final CapnpOutgoing<Body.Builder> message = endpoints.codecB().newMessage();
            CacheMessages.response(message.root(), 9, 3, 4096);
            final Data.Builder sendersData = message.root().getGetCacheRsp().getFileParts().get(1).getData();
            endpoints.b.onMessage(Body.Which.GET_CACHE_REQ, (request, replier) -> replier.reply(message));
            try (Received<Body.Reader> response = request(endpoints, "any")) {
                final ByteBuffer received = response.root().getGetCacheRsp().getFileParts().get(1).getData().asByteBuffer();
                assertTrue(received.isDirect(), "the reader's bytes are in a mapping, not on the heap");
                final byte before = received.get(100);
                // The sender writes into its message after sending it: the receiver sees the change, because it
                // reads the very same memory (the arena's pages, mapped by both).
                sendersData.asByteBuffer().put(100, (byte) ~before);
                assertEquals((byte) ~before, received.get(100));
            }
            message.close();
        }
    }

    @Test
    void shouldReturnTheBlocksToTheSendersArenaWhenTheLastHolderCloses() {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final CapnpOutgoing<Body.Builder> message = endpoints.codecB().newMessage();
            CacheMessages.response(message.root(), 5, 40, 64 << 10);
            final long baseline = endpoints.arenaB.allocatedBytes();
            assertTrue(baseline >= 40 * (64 << 10), "baseline=" + baseline);
            endpoints.b.onMessage(Body.Which.GET_CACHE_REQ, (request, replier) -> replier.reply(message));

            final Received<Body.Reader> first = request(endpoints, "1");
            final Received<Body.Reader> second = request(endpoints, "2");
            assertEquals(baseline, endpoints.arenaB.allocatedBytes(), "lending allocates nothing");
            for (final ShmBlock block : message.blocks()) {
                assertEquals(3, block.references(), "the sender's and one per receiver");
            }
            first.close();
            first.close();
            message.close();
            assertEquals(baseline, endpoints.arenaB.allocatedBytes(), "the second receiver still reads them");
            CacheMessages.verify(second.root(), 5, 40);
            second.close();
            assertEquals(0, endpoints.arenaB.allocatedBytes(), "the last holder gave them back");
        }
    }

    @Test
    void shouldGiveBackWhatSomeForgottenMessagesHeldWhenTheCollectorFindsThem() throws InterruptedException {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final CapnpOutgoing<Body.Builder> message = endpoints.codecB().newMessage(64 << 10);
            CacheMessages.response(message.root(), 5, 1, 64 << 10);
            message.seal();
            endpoints.b.onMessage(Body.Which.GET_CACHE_REQ, (request, replier) -> replier.reply(message));
            final int forgotten = 4 * dev.isthmus.struc.AbstractReceived.LEAK_SAMPLE_INTERVAL;
            final long leaksBefore = dev.isthmus.struc.AbstractReceived.leaksReclaimed();
            for (int i = 0; i < forgotten; i++) {
                // Read, never closed, dropped: a program's bug.
                CacheMessages.verify(request(endpoints, Integer.toString(i)).root(), 5, 1);
            }
            final ShmBlock block = message.blocks().getFirst();
            assertEquals(1 + forgotten, block.references(), "every forgotten message still holds its reference");
            final long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
            while (dev.isthmus.struc.AbstractReceived.leaksReclaimed() == leaksBefore && System.nanoTime() < deadline) {
                System.gc();
                Thread.sleep(20);
            }
            final long reclaimed = dev.isthmus.struc.AbstractReceived.leaksReclaimed() - leaksBefore;
            assertTrue(reclaimed >= 1, "one in " + dev.isthmus.struc.AbstractReceived.LEAK_SAMPLE_INTERVAL
                + " forgotten messages is watched, and found");
            final long referencesDeadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
            while (block.references() > 1 + forgotten - reclaimed && System.nanoTime() < referencesDeadline) {
                Thread.sleep(5);
            }
            assertTrue(block.references() <= 1 + forgotten - reclaimed,
                "what a found message held went back: " + block.references());
            assertTrue(block.references() > 1 + forgotten / 2,
                "most are not watched, and stay lent until the session ends: " + block.references());
            message.close();
        }
    }

    @Test
    void shouldKeepARetainedInlineMessageWhileLaterOnesArrive() throws InterruptedException {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final java.util.concurrent.BlockingQueue<Received<Body.Reader>> kept =
                new java.util.concurrent.LinkedBlockingQueue<>();
            endpoints.b.onMessage(Body.Which.GET_CACHE_REQ, (request, replier) -> {
                // Every other one is kept open past the handler; the rest are closed, handing their copy back.
                if (request.root().getGetCacheReq().getFileName().toString().endsWith("0")) {
                    kept.add(request.retain());
                }
            });
            for (int i = 0; i < 20; i++) {
                try (CapnpOutgoing<Body.Builder> request = endpoints.codecA().newMessage()) {
                    CacheMessages.request(request.root(), "file-" + i + (i % 2 == 0 ? "0" : "1"));
                    endpoints.a.send(request);
                }
            }
            for (int i = 0; i < 20; i += 2) {
                final Received<Body.Reader> message = kept.poll(30, java.util.concurrent.TimeUnit.SECONDS);
                assertTrue(message != null, "request " + i + " arrived");
                assertEquals("file-" + i + "0", message.root().getGetCacheReq().getFileName().toString(),
                    "a retained inline message is not overwritten by later ones");
                message.close();
            }
        }
    }

    @Test
    void shouldGiveEveryMessageOverTheSameMemoryItsOwnTraversalBudgetAndItsCurrentBytes() {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final CapnpOutgoing<Body.Builder> message = endpoints.codecB().newMessage(64 << 10);
            CacheMessages.response(message.root(), 5, 1, 64 << 10);
            // The sender's own view of the data, in its block: it may write there after sealing.
            final ByteBuffer data = message.root().getGetCacheRsp().getFileParts().get(0).getData().asByteBuffer();
            message.seal();
            // Enough to follow the part's 8,192-word data pointer once per message, not twice.
            final CapnpCodec<Body.Reader, Body.Builder> receiver = CapnpCodec.create(Body.factory, Backing.SESSION_SHM,
                endpoints.arenaA, endpoints.viewOfB, CapnpReadOptions.defaults().withTraversalLimitWords(12_000));
            final int type = Body.Which.GET_CACHE_RSP.ordinal();
            for (int i = 0; i < 5; i++) {
                // The sender changes its bytes between sends: what is read is what is there now.
                data.put(0, (byte) i);
                final Codec.Encoded encoded = endpoints.codecB().encode(message);
                final java.lang.foreign.MemorySegment payload = java.lang.foreign.MemorySegment.ofArray(
                    new byte[(int) encoded.length()]);
                long at = 0;
                for (final java.lang.foreign.MemorySegment part : encoded.parts()) {
                    java.lang.foreign.MemorySegment.copy(part, 0, payload, at, part.byteSize());
                    at += part.byteSize();
                }
                try (Received<Body.Reader> received = receiver.decode(payload, type, i, false)) {
                    final Body.Reader root = received.root();
                    assertEquals(i, root.getGetCacheRsp().getFileParts().get(0).getData().asByteBuffer().get(0),
                        "message " + i + " reads the bytes the sender wrote last");
                    final org.capnproto.DecodeException exhausted = org.junit.jupiter.api.Assertions.assertThrows(
                        org.capnproto.DecodeException.class,
                        () -> root.getGetCacheRsp().getFileParts().get(0).getData(),
                        "a second traversal of the data exceeds message " + i + "'s budget");
                    assertTrue(exhausted.getMessage().contains("Read limit exceeded"), exhausted.getMessage());
                }
            }
            message.close();
            Endpoints.awaitAllocatedBytes(endpoints.arenaB, 0);
        }
    }

    @Test
    void shouldGiveAnObjectLargerThanTheCapASegmentOfItsOwn() {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final CapnpOutgoing<Body.Builder> message = endpoints.codecB().newMessage();
            CacheMessages.response(message.root(), 11, 2, 100 << 20);
            assertTrue(message.blocks().stream().anyMatch(block -> block.length() >= 100 << 20));
            endpoints.b.onMessage(Body.Which.GET_CACHE_REQ, (request, replier) -> replier.reply(message));
            try (Received<Body.Reader> response = request(endpoints, "big")) {
                CacheMessages.verify(response.root(), 11, 2);
            }
            message.close();
            assertEquals(0, endpoints.arenaB.allocatedBytes());
        }
    }

    private static Received<Body.Reader> request(final Endpoints endpoints, final String fileName) {
        try (CapnpOutgoing<Body.Builder> request = endpoints.codecA().newMessage()) {
            CacheMessages.request(request.root(), fileName);
            return endpoints.a.request(request, TIMEOUT);
        }
    }
}
