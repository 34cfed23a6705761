/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.CorruptDataException;
import dev.isthmus.arena.ArenaOptions;
import dev.isthmus.arena.ArenaView;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.arena.ShmBlock;
import dev.isthmus.arena.ShmHandle;
import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.struc.Codec;
import dev.isthmus.struc.Received;
import dev.isthmus.struc.StructuredChannel;
import dev.isthmus.struc.StructuredChannelOptions;
import dev.isthmus.transport.ShmBlobChannel;
import dev.isthmus.transport.ShmQueueOptions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Backing#SESSION_SHM} payloads forged by a hostile or broken peer: every one is a
 * {@link CorruptDataException}, no read leaves a mapping, and no reference stays lent.
 */
class HostilePayloadTest {
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final AtomicInteger IDS = new AtomicInteger();
    private static final int RSP = Body.Which.GET_CACHE_RSP.ordinal();

    private ShmArena arena;
    private ArenaView view;
    /** Builds in the arena and reads through the view of the same arena: a loopback. */
    private CapnpCodec<Body.Reader, Body.Builder> codec;

    @BeforeEach
    void openArena() {
        final int id = IDS.incrementAndGet();
        arena = ShmArena.create(Endpoints.APP, "h" + id, id, ArenaOptions.defaults());
        view = ArenaView.of(Endpoints.APP, ProcessIdentity.current(), "h" + id, id, ArenaOptions.defaults());
        codec = CapnpCodec.sessionShm(Body.factory, arena, view);
    }

    @AfterEach
    void closeArena() {
        view.close();
        arena.close();
    }

    /** A valid two-segment payload (its message stays open), to be altered by the tests. */
    private MemorySegment validPayload(final CapnpOutgoing<Body.Builder> message) {
        CacheMessages.response(message.root(), 1, 3, 6000);
        assertEquals(2, message.segmentCount(), "an 8 KiB first segment, then a second");
        final Codec.Encoded encoded = codec.encode(message);
        final MemorySegment copy = CapnpRoundTripTest.concat(encoded);
        encoded.abandon();
        return copy;
    }

    private void assertRefused(final MemorySegment payload, final String why) {
        final CorruptDataException e = assertThrows(CorruptDataException.class, () -> codec.decode(payload, RSP, 9, false));
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }

    /**
     * Lends every block of the message, as a send would, checks that the payload is refused, then takes
     * back the references the refusal did not give back (those of the forged handles).
     */
    private void assertRefused(final CapnpOutgoing<Body.Builder> message, final MemorySegment payload, final String why) {
        for (final ShmBlock block : message.blocks()) {
            block.lend();
        }
        assertRefused(payload, why);
        for (final ShmBlock block : message.blocks()) {
            while (block.references() > 1) {
                block.unlend();
            }
        }
    }

    /** A valid inline payload: a small message built without a size hint, sent in the payload itself. */
    private MemorySegment validInlinePayload() {
        try (CapnpOutgoing<Body.Builder> small = codec.newMessage()) {
            CacheMessages.response(small.root(), 2, 2, 100);
            final Codec.Encoded encoded = codec.encode(small);
            assertEquals(0, arena.allocatedBytes(), "an inline message allocates no block");
            return CapnpRoundTripTest.concat(encoded);
        }
    }

    @Test
    void shouldReadAnInlinePayloadFromItsOwnCopy() {
        final MemorySegment payload = validInlinePayload();
        assertEquals(CapnpDescriptor.INLINE_MAGIC, payload.get(INT_LE, CapnpDescriptor.SHM_MAGIC_OFFSET));
        try (Received<Body.Reader> received = codec.decode(payload, RSP, 1, false)) {
            // The channel's memory is reused once decode returns: what was read must not change with it.
            payload.fill((byte) 0x5a);
            CacheMessages.verify(received.root(), 2, 2);
        }
    }

    @Test
    void shouldRefuseInlinePayloadsWhoseLengthsDisagree() {
        final MemorySegment payload = validInlinePayload();
        final int words = payload.get(INT_LE, CapnpDescriptor.INLINE_WORDS_OFFSET);
        for (final int forged : new int[] {0, -1, words - 1, words + 1, Integer.MAX_VALUE, Integer.MIN_VALUE}) {
            final MemorySegment altered = copy(payload);
            altered.set(INT_LE, CapnpDescriptor.INLINE_WORDS_OFFSET, forged);
            assertRefused(altered, "fill the payload exactly");
        }
        assertRefused(payload.asSlice(0, payload.byteSize() - 8), "fill the payload exactly");
        assertRefused(payload.asSlice(0, 8), "fill the payload exactly");
        final MemorySegment huge = MemorySegment.ofArray(new byte[CapnpDescriptor.MAX_INLINE_BYTES + 8]);
        huge.set(INT_LE, CapnpDescriptor.INLINE_WORDS_OFFSET, CapnpDescriptor.MAX_INLINE_BYTES / 8);
        huge.set(INT_LE, CapnpDescriptor.SHM_MAGIC_OFFSET, CapnpDescriptor.INLINE_MAGIC);
        assertRefused(huge, "exceeds the " + CapnpDescriptor.MAX_INLINE_BYTES + " accepted");
    }

    @Test
    void shouldRefuseAnInlineRootPointerOutsideItsSegment() {
        final MemorySegment payload = MemorySegment.ofArray(new byte[CapnpDescriptor.INLINE_SEGMENT_OFFSET + 64]);
        payload.set(INT_LE, CapnpDescriptor.INLINE_WORDS_OFFSET, 8);
        payload.set(INT_LE, CapnpDescriptor.SHM_MAGIC_OFFSET, CapnpDescriptor.INLINE_MAGIC);
        payload.set(LONG_LE, CapnpDescriptor.INLINE_SEGMENT_OFFSET, (1L << 29) << 2 | (1L << 32));
        assertRefused(payload, "its root cannot be read");
    }

    @Test
    void shouldReadTheUnalteredPayload() {
        try (CapnpOutgoing<Body.Builder> message = codec.newMessage(0)) {
            final MemorySegment payload = validPayload(message);
            for (final ShmBlock block : message.blocks()) {
                block.lend(); // what the send would have lent
            }
            try (Received<Body.Reader> received = codec.decode(payload, RSP, 1, false)) {
                CacheMessages.verify(received.root(), 1, 3);
            }
            for (final ShmBlock block : message.blocks()) {
                assertEquals(1, block.references());
            }
        }
    }

    @Test
    void shouldRefuseWrongSegmentCounts() {
        try (CapnpOutgoing<Body.Builder> message = codec.newMessage(0)) {
            final MemorySegment payload = validPayload(message);
            for (final int count : new int[] {0, -1, 513, Integer.MAX_VALUE}) {
                final MemorySegment forged = copy(payload);
                forged.set(INT_LE, CapnpDescriptor.SHM_COUNT_OFFSET, count);
                assertRefused(message, forged, "segments=" + count);
            }
            final MemorySegment one = copy(payload);
            one.set(INT_LE, CapnpDescriptor.SHM_COUNT_OFFSET, 1);
            assertRefused(message, one, "differs from the 32 bytes of 1 handles");
            final MemorySegment three = copy(payload);
            three.set(INT_LE, CapnpDescriptor.SHM_COUNT_OFFSET, 3);
            assertRefused(message, three, "differs from the 80 bytes of 3 handles");
        }
    }

    @Test
    void shouldRefuseTruncatedAndForeignPayloads() {
        try (CapnpOutgoing<Body.Builder> message = codec.newMessage(0)) {
            final MemorySegment payload = validPayload(message);
            assertRefused(message, payload.asSlice(0, payload.byteSize() - 1), "differs from");
            assertRefused(message, payload.asSlice(0, 8 + 24), "differs from");
            assertRefused(message, payload.asSlice(0, 7), "shorter than the 8-byte header");
            assertRefused(message, MemorySegment.ofArray(new byte[0]), "shorter than the 8-byte header");
            final MemorySegment heap = copy(payload);
            heap.set(INT_LE, CapnpDescriptor.SHM_MAGIC_OFFSET, 0x100);
            assertRefused(message, heap, "is the peer's backing HEAP?");
        }
    }

    @Test
    void shouldRefuseHandlesOutOfRange() {
        try (CapnpOutgoing<Body.Builder> message = codec.newMessage(0)) {
            final MemorySegment payload = validPayload(message);
            final ShmHandle good = ShmHandle.readFrom(payload, CapnpDescriptor.SHM_HANDLES_OFFSET);
            final ShmHandle[] forged = {
                new ShmHandle(good.pool(), good.generation(), 1L << 40, good.length()),
                new ShmHandle(good.pool(), good.generation(), -4096, good.length()),
                new ShmHandle(good.pool(), good.generation(), good.offset() + 8, good.length()),
                new ShmHandle(good.pool(), good.generation(), good.offset() + 8192 * 64, good.length()),
                new ShmHandle(good.pool(), good.generation(), good.offset(), 1L << 20),
                new ShmHandle(-1, good.generation(), good.offset(), good.length()),
            };
            // A length beyond segment 0's block reaches into segment 1's, adjacent: refused before any borrow.
            final String[] why = {"not a block offset", "not a block offset", "not a block offset", "no block starts there",
                "overlapping memory", "outside"};
            for (int i = 0; i < forged.length; i++) {
                final MemorySegment altered = copy(payload);
                forged[i].writeTo(altered, CapnpDescriptor.SHM_HANDLES_OFFSET);
                assertRefused(message, altered, why[i]);
            }
            final MemorySegment noPool = copy(payload);
            new ShmHandle(7, 1, 4096, 64).writeTo(noPool, CapnpDescriptor.SHM_HANDLES_OFFSET);
            assertRefused(message, noPool, "segment 0");
        }
    }

    @Test
    void shouldRefuseLengthsThatAreNotWholeWords() {
        try (CapnpOutgoing<Body.Builder> message = codec.newMessage(0)) {
            final MemorySegment payload = validPayload(message);
            final long lengthAt = CapnpDescriptor.SHM_HANDLES_OFFSET + 16;
            for (final long length : new long[] {0, 12, -8, 1L << 33}) {
                final MemorySegment altered = copy(payload);
                altered.set(LONG_LE, lengthAt, length);
                assertRefused(message, altered, "segment 0 has length=" + length);
            }
        }
    }

    @Test
    void shouldRefuseAFreedBlock() {
        final MemorySegment payload;
        try (CapnpOutgoing<Body.Builder> message = codec.newMessage(0)) {
            payload = validPayload(message);
        }
        assertEquals(0, arena.allocatedBytes(), "the message's blocks were freed");
        assertRefused(payload, "stale handle");
        // Reused for another message: a new generation, still refused.
        try (CapnpOutgoing<Body.Builder> other = codec.newMessage(0)) {
            validPayload(other);
            assertRefused(payload, "stale handle");
        }
    }

    @Test
    void shouldGiveBackTheValidBlocksWhenAnotherHandleIsRefused() {
        try (CapnpOutgoing<Body.Builder> message = codec.newMessage(0)) {
            final MemorySegment payload = validPayload(message);
            for (final ShmBlock block : message.blocks()) {
                block.lend();
            }
            final MemorySegment altered = copy(payload);
            final long secondGeneration = CapnpDescriptor.SHM_HANDLES_OFFSET + CapnpDescriptor.SHM_HANDLE_LENGTH + 4;
            altered.set(INT_LE, secondGeneration, altered.get(INT_LE, secondGeneration) + 1);
            assertRefused(altered, "segment 1");
            assertEquals(1, message.blocks().get(0).references(), "segment 0's reference was given back");
            message.blocks().get(1).unlend();
        }
    }

    @Test
    void shouldRefuseARootPointerOutsideItsSegment() {
        try (ShmBlock block = arena.allocate(64)) {
            block.segment().fill((byte) 0);
            // A struct pointer whose target is 2^29 words away, far outside the 8-word segment.
            block.segment().set(LONG_LE, 0, (1L << 29) << 2 | (1L << 32));
            final MemorySegment payload = MemorySegment.ofArray(new byte[(int) CapnpDescriptor.shmPayloadLength(1)]);
            payload.set(INT_LE, CapnpDescriptor.SHM_COUNT_OFFSET, 1);
            payload.set(INT_LE, CapnpDescriptor.SHM_MAGIC_OFFSET, CapnpDescriptor.SHM_MAGIC);
            block.lend();
            block.handle(64).writeTo(payload, CapnpDescriptor.SHM_HANDLES_OFFSET);
            assertRefused(payload, "its root cannot be read");
            assertEquals(1, block.references(), "the borrowed reference was given back");
        }
    }

    @Test
    void shouldRefuseARepeatedHandleBeforeBorrowingAnything() {
        try (CapnpOutgoing<Body.Builder> message = codec.newMessage(0)) {
            final MemorySegment payload = validPayload(message);
            final MemorySegment repeated = copy(payload);
            MemorySegment.copy(payload, CapnpDescriptor.SHM_HANDLES_OFFSET, repeated,
                CapnpDescriptor.SHM_HANDLES_OFFSET + CapnpDescriptor.SHM_HANDLE_LENGTH, CapnpDescriptor.SHM_HANDLE_LENGTH);
            for (final ShmBlock block : message.blocks()) {
                block.lend();
            }
            assertRefused(repeated, "segments 0 and 1 name overlapping memory");
            for (final ShmBlock block : message.blocks()) {
                assertEquals(2, block.references(), "nothing was borrowed, nothing dropped: " + block);
                block.unlend();
            }
        }
    }

    @Test
    void shouldRefuseOneBlockNamedAsEverySegment() {
        // trust.md item 12: one block named 511 times made the message look 511 times its size.
        try (ShmBlock block = arena.allocate(1 << 16)) {
            block.segment().fill((byte) 0);
            final int count = CapnpDescriptor.MAX_SEGMENTS - 1;
            final MemorySegment payload = MemorySegment.ofArray(new byte[(int) CapnpDescriptor.shmPayloadLength(count)]);
            payload.set(INT_LE, CapnpDescriptor.SHM_COUNT_OFFSET, count);
            payload.set(INT_LE, CapnpDescriptor.SHM_MAGIC_OFFSET, CapnpDescriptor.SHM_MAGIC);
            for (int i = 0; i < count; i++) {
                block.handle().writeTo(payload, CapnpDescriptor.SHM_HANDLES_OFFSET + (long) CapnpDescriptor.SHM_HANDLE_LENGTH * i);
            }
            block.lend();
            assertRefused(payload, "segments 0 and 1 name overlapping memory");
            assertEquals(2, block.references(), "the one lent reference is still lent");
            block.unlend();
        }
    }

    @Test
    void shouldRefuseAHandleInsideAnotherSegmentsBlock() {
        try (CapnpOutgoing<Body.Builder> message = codec.newMessage(0)) {
            final MemorySegment payload = validPayload(message);
            final ShmHandle first = ShmHandle.readFrom(payload, CapnpDescriptor.SHM_HANDLES_OFFSET);
            final MemorySegment altered = copy(payload);
            new ShmHandle(first.pool(), first.generation(), first.offset() + 4096, 64)
                .writeTo(altered, CapnpDescriptor.SHM_HANDLES_OFFSET + CapnpDescriptor.SHM_HANDLE_LENGTH);
            assertRefused(message, altered, "segments 0 and 1 name overlapping memory");
        }
    }

    @Test
    void shouldNotLetTheSenderChangeWhatTheHandlerReadsWhenCopyingOnReceive() {
        final CapnpCodec<Body.Reader, Body.Builder> copying = CapnpCodec.create(Body.factory, Backing.SESSION_SHM, arena,
            view, CapnpReadOptions.defaults().withCopyOnReceive(true));
        try (CapnpOutgoing<Body.Builder> message = codec.newMessage(0)) {
            final MemorySegment payload = validPayload(message);
            for (final ShmBlock block : message.blocks()) {
                block.lend();
            }
            try (Received<Body.Reader> received = copying.decode(payload, RSP, 1, false)) {
                for (final ShmBlock block : message.blocks()) {
                    assertEquals(1, block.references(), "the blocks were given back once copied: " + block);
                }
                // The sender flips the union tag (and rewrites the member) after the send.
                message.root().initGetCacheReq().setFileName("flipped");
                assertEquals(Body.Which.GET_CACHE_RSP, received.root().which());
                CacheMessages.verify(received.root(), 1, 3);
            }
        }
    }

    @Test
    void shouldShowTheSendersLaterWritesWhenReadingInPlace() {
        // The hazard copy on receive exists for: in place, the tag checked at decode is not the tag read later.
        try (CapnpOutgoing<Body.Builder> message = codec.newMessage(0)) {
            final MemorySegment payload = validPayload(message);
            for (final ShmBlock block : message.blocks()) {
                block.lend();
            }
            try (Received<Body.Reader> received = codec.decode(payload, RSP, 1, false)) {
                message.root().initGetCacheReq().setFileName("flipped");
                assertEquals(Body.Which.GET_CACHE_REQ, received.root().which());
            }
        }
    }

    @Test
    void shouldRefuseToCopyMoreThanTheTraversalLimitLetsAReaderRead() {
        final CapnpCodec<Body.Reader, Body.Builder> copying = CapnpCodec.create(Body.factory, Backing.SESSION_SHM, arena,
            view, CapnpReadOptions.defaults().withCopyOnReceive(true).withTraversalLimitWords(100));
        try (CapnpOutgoing<Body.Builder> message = codec.newMessage(0)) {
            final MemorySegment payload = validPayload(message);
            for (final ShmBlock block : message.blocks()) {
                block.lend();
            }
            final CorruptDataException e = assertThrows(CorruptDataException.class,
                () -> copying.decode(payload, RSP, 1, false));
            assertTrue(e.getMessage().contains("copyOnReceive copies no more"), e.getMessage());
            for (final ShmBlock block : message.blocks()) {
                assertEquals(2, block.references(), "refused before borrowing: " + block);
                block.unlend();
            }
        }
    }

    @Test
    void shouldFailTheChannelNotTheProcessOnAForgedPayload() throws Exception {
        final int id = IDS.incrementAndGet();
        final ResourceName name = ResourceName.of(Endpoints.APP, "queue", "h" + id);
        final CompletableFuture<Throwable> failure = new CompletableFuture<>();
        try (StructuredChannel<byte[], RawCodec.Raw> forger =
                 StructuredChannel.open(ShmBlobChannel.create(name, ShmQueueOptions.defaults()), new RawCodec(),
                     StructuredChannelOptions.defaults());
             StructuredChannel<Body.Reader, Body.Builder> victim =
                 CapnpChannels.open(ShmBlobChannel.open(name, ShmQueueOptions.defaults()), Body.factory,
                     Backing.SESSION_SHM, arena, view,
                     StructuredChannelOptions.builder().errorHandler(failure::complete).build())) {
            final MemorySegment forged = MemorySegment.ofArray(new byte[(int) CapnpDescriptor.shmPayloadLength(1)]);
            forged.set(INT_LE, CapnpDescriptor.SHM_COUNT_OFFSET, 1);
            forged.set(INT_LE, CapnpDescriptor.SHM_MAGIC_OFFSET, CapnpDescriptor.SHM_MAGIC);
            new ShmHandle(0, 1, 1L << 40, 64).writeTo(forged, CapnpDescriptor.SHM_HANDLES_OFFSET);
            forger.send(RawCodec.message(forged.toArray(ValueLayout.JAVA_BYTE), RSP));
            final Throwable cause = failure.get(30, TimeUnit.SECONDS);
            assertInstanceOf(CorruptDataException.class, cause);
            assertFalse(victim.isOpen());
        }
    }

    private static MemorySegment copy(final MemorySegment payload) {
        return MemorySegment.ofArray(payload.toArray(ValueLayout.JAVA_BYTE));
    }
}
