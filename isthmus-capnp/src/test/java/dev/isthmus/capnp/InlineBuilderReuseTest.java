/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.struc.Codec;
import dev.isthmus.struc.Received;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A closed message that went inline hands its builder and heap segment, cleared, to the codec's next
 * {@code newMessage()}: the next message reads none of the last one's bytes, a message that may still be
 * copied out by another thread or that outgrew the heap segment is not reused, and building a small request
 * no longer allocates its segment.
 */
class InlineBuilderReuseTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    private static MemorySegment payload(final Codec.Encoded encoded) {
        return Endpoints.payload(encoded);
    }

    private static String fileName(final CapnpCodec<Body.Reader, Body.Builder> codec, final MemorySegment payload) {
        try (Received<Body.Reader> received = codec.decode(payload, Body.Which.GET_CACHE_REQ.ordinal(), 1, false)) {
            return received.root().getGetCacheReq().getFileName().toString();
        }
    }

    @Test
    void shouldBuildTheNextMessageOnTheClearedBuilderOfTheLastInlineOne() {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final CapnpCodec<Body.Reader, Body.Builder> codec = endpoints.codecA();
            final CapnpOutgoing<Body.Builder> first = codec.newMessage();
            // A response small enough to go inline, whose words are all non-zero where the next message's lie.
            CacheMessages.response(first.root(), 0x5a5a, 3, 96);
            final Codec.Encoded firstEncoded = codec.encode(first);
            assertEquals(1, firstEncoded.parts().size(), "the response went inline: one part");
            final ArenaSegmentAllocator reused = first.allocator();
            // The same message as the next one, built on a fresh builder while the first is still open.
            final MemorySegment fresh;
            try (CapnpOutgoing<Body.Builder> control = codec.newMessage()) {
                assertNotSame(reused, control.allocator(), "an open message's builder is not shared");
                CacheMessages.fillSparse(control.root());
                fresh = payload(codec.encode(control));
            }
            first.close();

            final CapnpOutgoing<Body.Builder> second = codec.newMessage();
            assertSame(reused, second.allocator(), "the closed inline message's builder serves the next one");
            assertNotSame(first, second, "a new message object: the closed one stays closed");
            assertThrows(IllegalStateException.class, first::root, "the closed message stays closed");
            CacheMessages.fillSparse(second.root());
            final MemorySegment payload = payload(codec.encode(second));
            second.close();
            assertEquals(-1, payload.mismatch(fresh), "the reused builder encodes the bytes a fresh one does");
            try (Received<Body.Reader> received = endpoints.codecB().decode(payload,
                Body.Which.GET_CACHE_RSP.ordinal(), 2, false)) {
                CacheMessages.verifySparse(received.root());
            }
        }
    }

    @Test
    void shouldCarryEveryRequestOverAChannelAsBuiltWhenEachReusesTheLastOnesBuilder() {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final List<String> served = java.util.Collections.synchronizedList(new ArrayList<>());
            endpoints.b.onMessageInPlace(Body.Which.GET_CACHE_REQ, (request, replier) -> {
                served.add(request.getGetCacheReq().getFileName().toString());
                try (CapnpOutgoing<Body.Builder> response = endpoints.codecB().newMessage()) {
                    CacheMessages.response(response.root(), served.size(), 1, 8);
                    replier.reply(response);
                }
            });
            final SplittableRandom random = new SplittableRandom(12);
            final List<String> sent = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                // Long and short names in turn, some too long to go inline (which must not be reused).
                final int length = i % 7 == 6 ? 1_500 + random.nextInt(500) : 1 + random.nextInt(700);
                final StringBuilder name = new StringBuilder(length);
                for (int c = 0; c < length; c++) {
                    name.append((char) ('a' + random.nextInt(26)));
                }
                sent.add(name.toString());
                try (CapnpOutgoing<Body.Builder> request = endpoints.codecA().newMessage()) {
                    CacheMessages.request(request.root(), name.toString());
                    final long seed = i + 1;
                    assertEquals(8L, (long) endpoints.a.request(request, TIMEOUT, root -> CacheMessages.verify(root, seed, 1)),
                        "response " + i);
                }
            }
            assertEquals(sent, served, "every request read as it was built");
            Endpoints.awaitAllocatedBytes(endpoints.arenaA, 0);
            Endpoints.awaitAllocatedBytes(endpoints.arenaB, 0);
        }
    }

    @Test
    void shouldNotReuseAMessageEncodedOnAnotherThreadWhoseSendMayStillBeCopyingIt() throws Exception {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final CapnpCodec<Body.Reader, Body.Builder> codec = endpoints.codecA();
            final CapnpOutgoing<Body.Builder> message = codec.newMessage();
            CacheMessages.request(message.root(), "sent-by-another-thread");
            message.seal();
            // Another thread encodes it, as a send there would, and has not copied it out yet when it is closed.
            final Codec.Encoded encoded = CompletableFuture.supplyAsync(() -> codec.encode(message))
                .get(30, TimeUnit.SECONDS);
            final ArenaSegmentAllocator allocator = message.allocator();
            message.close();
            try (CapnpOutgoing<Body.Builder> next = codec.newMessage()) {
                assertNotSame(allocator, next.allocator(), "a message another thread encoded is not reused");
                CacheMessages.request(next.root(), "next");
                assertEquals("next", fileName(endpoints.codecB(), payload(codec.encode(next))));
            }
            assertEquals("sent-by-another-thread", fileName(endpoints.codecB(), payload(encoded)),
                "the other thread's encoding still holds its bytes");
        }
    }

    @Test
    void shouldNotReuseAMessageThatOutgrewItsHeapSegment() {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final CapnpCodec<Body.Reader, Body.Builder> codec = endpoints.codecA();
            final CapnpOutgoing<Body.Builder> large = codec.newMessage();
            CacheMessages.response(large.root(), 3, 4, 1 << 10);
            final MemorySegment handles = payload(codec.encode(large));
            assertTrue(large.blocks().size() > 1, "the message spilled into the arena");
            final ArenaSegmentAllocator allocator = large.allocator();
            large.close();
            try (CapnpOutgoing<Body.Builder> next = codec.newMessage()) {
                assertNotSame(allocator, next.allocator(), "a message with arena blocks is not reused");
                CacheMessages.request(next.root(), "small");
                assertEquals("small", fileName(endpoints.codecB(), payload(codec.encode(next))));
            }
            // The receiver still reads what it was lent, and gives it back.
            try (Received<Body.Reader> received = endpoints.codecB().decode(handles,
                Body.Which.GET_CACHE_RSP.ordinal(), 3, false)) {
                assertTrue(CacheMessages.verify(received.root(), 3, 4) > 3_000);
            }
            Endpoints.awaitAllocatedBytes(endpoints.arenaA, 0);
        }
    }

    @Test
    void shouldBuildASmallRequestWithoutAllocatingItsSegmentOrBuilderAgain() {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final CapnpCodec<Body.Reader, Body.Builder> codec = endpoints.codecA();
            final com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            final int messages = 20_000;
            final ArenaSegmentAllocator reused;
            try (CapnpOutgoing<Body.Builder> first = codec.newMessage()) {
                reused = first.allocator();
            }
            long bytes = 0;
            for (int round = 0; round < 3; round++) {
                final long before = threads.getCurrentThreadAllocatedBytes();
                for (int i = 0; i < messages; i++) {
                    try (CapnpOutgoing<Body.Builder> request = codec.newMessage()) {
                        request.root().initGetCacheReq().setFileName("file-1048576");
                        codec.encode(request);
                        if (request.allocator() != reused) {
                            throw new AssertionError("message " + i + " of round " + round + " has a builder of its own");
                        }
                    }
                }
                bytes = (threads.getCurrentThreadAllocatedBytes() - before) / messages;
            }
            // Every message was built on the same builder, allocator and heap segment (checked above). What is
            // left is the message object, the root builders and the name's bytes: 336 bytes here, about 400
            // with the coverage agent, 504 before the encoding stopped asking for views of its segments, about
            // 1.9 KiB before the builder was reused. JMH's -prof gc (ZeroCopyRequestBenchmark.builtRequest) has
            // the exact figure; this bound only catches a return of the per-message builder.
            assertTrue(bytes < 900, "a built, encoded and closed small request allocates " + bytes + " bytes");
        }
    }

    /**
     * A size-hinted message lives in an arena block that the next one reuses; closing it declares only the
     * segment's used bytes written, so the arena clears only those. That declaration must cover every byte the
     * message wrote, and the next message in the block must find every word beyond what it wrote zero (Cap'n
     * Proto builds on zeroed memory) and encode exactly the bytes a heap builder does: after a message that
     * filled the block, and after one that barely used it.
     */
    @Test
    void shouldFindAReusedBlockZeroBeyondWhatTheLastSizedMessageWrote() {
        // Sealed, as a session's: only there does the arena trust what the closing owner declares written.
        try (Endpoints endpoints = Endpoints.openSealed(Backing.SESSION_SHM)) {
            final CapnpCodec<Body.Reader, Body.Builder> codec = endpoints.codecA();
            final org.capnproto.MessageBuilder heap = new org.capnproto.MessageBuilder();
            CacheMessages.fillSparse(heap.initRoot(Body.factory));
            final java.nio.ByteBuffer expected = heap.getSegmentsForOutput()[0];
            final MemorySegment expectedBytes = MemorySegment.ofBuffer(expected);
            long blockOffset = -1;
            long blockLength = 0;
            for (int round = 0; round < 6; round++) {
                try (CapnpOutgoing<Body.Builder> full = codec.newMessage(6000)) {
                    // Every other round the block's earlier message was a sparse one: then only its words were
                    // declared written.
                    CacheMessages.response(full.root(), 0x5a5a + round, 4, 1400);
                    assertEquals(1, full.segmentCount());
                    blockOffset = full.blocks().getFirst().handle().offset();
                    blockLength = full.blocks().getFirst().length();
                }
                // What the closed message declared written covers all it wrote: a zeroed allocation of its block
                // straight from the arena is zero. (A Cap'n Proto message built next in the block would not show
                // it: initialising its root zeroes the old message's tree, found through the old root pointer.)
                final dev.isthmus.arena.ShmBlock probe = endpoints.arenaA.allocateZeroed(blockLength);
                assertEquals(blockOffset, probe.handle().offset(), "round " + round + ": the message's block");
                final MemorySegment probed = probe.segment();
                assertEquals(-1, probed.mismatch(MemorySegment.ofArray(new byte[(int) probed.byteSize()])),
                    "round " + round + ": the block of a closed message, allocated zeroed");
                probe.closeWritten(0);
                for (int sparse = 0; sparse < 2; sparse++) {
                    try (CapnpOutgoing<Body.Builder> message = codec.newMessage(6000)) {
                        CacheMessages.fillSparse(message.root());
                        final dev.isthmus.arena.ShmBlock block = message.blocks().getFirst();
                        assertEquals(blockOffset, block.handle().offset(), "round " + round + ": the same block again");
                        final MemorySegment bytes = block.segment();
                        assertEquals(-1, bytes.asSlice(0, expected.limit()).mismatch(expectedBytes),
                            "round " + round + ": the sparse message's words");
                        final MemorySegment rest = bytes.asSlice(expected.limit());
                        assertEquals(-1, rest.mismatch(MemorySegment.ofArray(new byte[(int) rest.byteSize()])),
                            "round " + round + ": the block beyond the sparse message is zero");
                    }
                }
            }
        }
    }

    /**
     * A message that outgrows its heap segment is spilled to a block the arena hands out uncleared; the next
     * spilled message in that block, using a few words of it, must not make the first one's bytes look zero to
     * a zeroed allocation of the block (a small {@code SharedData} object, say).
     */
    @Test
    void shouldLeaveTheBytesOfAnEarlierSpilledMessageToBeClearedInItsBlock() {
        try (Endpoints endpoints = Endpoints.openSealed(Backing.SESSION_SHM)) {
            final CapnpCodec<Body.Reader, Body.Builder> codec = endpoints.codecA();
            final long spilledOffset;
            try (CapnpOutgoing<Body.Builder> first = codec.newMessage()) {
                // Most of the heap segment used, and a second segment: the first is copied to its block.
                CacheMessages.response(first.root(), 0x1111, 2, 700);
                first.seal();
                assertEquals(2, first.segmentCount());
                spilledOffset = first.blocks().getFirst().handle().offset();
            }
            try (CapnpOutgoing<Body.Builder> second = codec.newMessage()) {
                // The root in the heap segment, its data in a second segment: the first uses a few words.
                second.root().initGetCacheRsp().initFileParts(1).get(0).initData(4000);
                second.seal();
                assertEquals(2, second.segmentCount());
                assertEquals(spilledOffset, second.blocks().getFirst().handle().offset(), "the same spilled block");
            }
            try (dev.isthmus.arena.ShmBlock probe = endpoints.arenaA.allocateZeroed(1000)) {
                assertEquals(spilledOffset, probe.handle().offset(), "the spilled block");
                final MemorySegment bytes = probe.segment();
                final long mismatch = bytes.mismatch(MemorySegment.ofArray(new byte[(int) bytes.byteSize()]));
                assertEquals(-1, mismatch, "byte " + mismatch + " of a zeroed allocation is not zero");
            }
        }
    }

    /**
     * capnp-java's text setter moves the position of the segment's buffer, and only the next allocation in
     * that segment moves it back: a message whose last write to its heap segment was a text, spilled because
     * it has a second segment, must still send the heap segment from its start.
     */
    @Test
    void shouldSpillTheWholeHeapSegmentWhenItsLastWriteWasAText() {
        try (Endpoints endpoints = Endpoints.openSealed(Backing.SESSION_SHM)) {
            final CapnpCodec<Body.Reader, Body.Builder> codec = endpoints.codecA();
            try (CapnpOutgoing<Body.Builder> message = codec.newMessage()) {
                final var request = message.root().initGetCacheReq();
                // Too long for the 1 KiB heap segment: a second segment; then a short one, in the heap segment.
                request.setFileName("b".repeat(3000));
                request.setFileName("a".repeat(100));
                assertEquals(2, message.segmentCount());
                try (Received<Body.Reader> received = endpoints.codecB().decode(payload(codec.encode(message)),
                    Body.Which.GET_CACHE_REQ.ordinal(), 1, false)) {
                    assertEquals("a".repeat(100), received.root().getGetCacheReq().getFileName().toString());
                }
            }
            try (CapnpOutgoing<Body.Builder> message = codec.newMessage()) {
                final var request = message.root().initGetCacheReq();
                request.setFileName("b".repeat(3000));
                // The heap segment's position ends near its end.
                request.setFileName("n".repeat(900));
                message.seal();
                try (Received<Body.Reader> received = endpoints.codecB().decode(payload(codec.encode(message)),
                    Body.Which.GET_CACHE_REQ.ordinal(), 1, false)) {
                    assertEquals("n".repeat(900), received.root().getGetCacheReq().getFileName().toString());
                }
            }
            Endpoints.awaitAllocatedBytes(endpoints.arenaA, 0);
        }
    }
}
