/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.isthmus.CorruptDataException;
import dev.isthmus.arena.ArenaOptions;
import dev.isthmus.arena.ArenaView;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.arena.ShmBlock;
import dev.isthmus.arena.ShmHandle;
import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.capnp.demo.CacheDemo.GetCacheRsp;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.struc.Codec;
import dev.isthmus.struc.MessageHandler;
import dev.isthmus.struc.Received;
import org.capnproto.StructList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fuzzes what crosses a {@link Backing#SESSION_SHM} channel: the handle list decoded over a real arena whose
 * blocks hold a valid message, a block of fuzzed bytes, and a freed block. Every input must be decoded or
 * refused with a {@link CorruptDataException}, never anything else; reading an accepted message with
 * {@linkplain CapnpChannels#guarded guarded} accessors must likewise throw nothing but that; and afterwards
 * every block still holds its owner's reference, decode took exactly the lent reference of every block it
 * accepted and none of one it refused before borrowing, and the arena's allocated bytes are unchanged.
 *
 * <p>Inputs are recipes rather than payloads, so that the fuzzer starts near valid messages (Jazzer 0.24.0
 * cannot instrument Java 25 class files, so it fuzzes with coverage of capnp-java only, not of our classes): byte 0 is the segment count (its
 * low 4 bits; with bit 7 set, the next 4 bytes as a raw int), byte 1 flags (bit 0 breaks the magic, bit 1
 * drops the payload's last byte, bit 2 fills the scratch block with the bytes left at the end, bits 3-4 are
 * the declared type: 0 a request, 1 a response, 2 or 3 not in the schema), then one
 * selector byte per segment: the low 3 bits choose a handle ({@link #candidates}), the high bits a mutation
 * whose operand follows. Missing bytes read as zero.
 *
 * <p>{@code mvn verify} runs the committed inputs ({@code CapnpShmPayloadFuzzTestInputs/}); with
 * {@code JAZZER_FUZZ=1} (set by profile {@code slow}) Jazzer fuzzes for {@code maxDuration}.
 */
class CapnpShmPayloadFuzzTest {
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int SCRATCH_BYTES = 4096;

    /** A session's sealed arena: borrows are bounds checks, returns go through the borrower's ring. */
    private static Fixture sealed;
    /** A named arena: borrows also check each block's header. */
    private static Fixture named;

    /**
     * An arena, a view of it and a codec over both; a message whose blocks stay allocated, a scratch block of
     * fuzzed bytes and a freed block, whose handles the recipes start from.
     */
    private static final class Fixture {
        final ShmArena arena;
        final ArenaView view;
        final CapnpCodec<Body.Reader, Body.Builder> codec;
        final CapnpOutgoing<Body.Builder> message;
        final ShmBlock scratch;
        final List<ShmBlock> live = new ArrayList<>();
        /** Handles the recipes start from: a freed block, the message's segments, the scratch block. */
        final List<ShmHandle> candidates = new ArrayList<>();
        final long baselineBytes;

        Fixture(final boolean isSealed) {
            final long id = ProcessHandle.current().pid();
            final String group = (isSealed ? "fs" : "fz") + id;
            if (isSealed) {
                final ArenaOptions options = ArenaOptions.defaults().withSealedPoolBytes(8L << 20);
                arena = ShmArena.createSealed(Endpoints.APP, group, id, options);
                view = ArenaView.createSealed(Endpoints.APP, ProcessIdentity.current(), group, id, options);
                view.attachPool(arena.poolDescriptor());
                arena.attachReturns(view.returnsDescriptor());
            } else {
                arena = ShmArena.create(Endpoints.APP, group, id, ArenaOptions.defaults());
                view = ArenaView.of(Endpoints.APP, ProcessIdentity.current(), group, id, ArenaOptions.defaults());
            }
            // A small traversal limit keeps each input fast; the limit's mechanism is the same at any size.
            codec = CapnpCodec.create(Body.factory, Backing.SESSION_SHM, arena, view,
                CapnpReadOptions.defaults().withTraversalLimitWords(1 << 16));
            final ShmBlock freed = arena.allocate(1000);
            candidates.add(freed.handle());
            freed.close();
            message = codec.newMessage();
            CacheMessages.response(message.root(), 1, 3, 6000);
            final Codec.Encoded encoded = codec.encode(message);
            encoded.abandon();
            for (int i = 0; i < message.blocks().size(); i++) {
                candidates.add(ShmHandle.readFrom(encoded.parts().getFirst(),
                    CapnpDescriptor.SHM_HANDLES_OFFSET + (long) CapnpDescriptor.SHM_HANDLE_LENGTH * i));
            }
            live.addAll(message.blocks());
            scratch = arena.allocate(SCRATCH_BYTES);
            scratch.segment().fill((byte) 0);
            candidates.add(scratch.handle());
            live.add(scratch);
            baselineBytes = arena.allocatedBytes();
        }

        /**
         * Takes back what borrowers returned (a sealed arena reads its return ring when it allocates), so that
         * the references counted are those left after the decode.
         */
        void takeReturns() {
            arena.allocate(8).close();
        }

        void close() {
            message.close();
            scratch.close();
            takeReturns();
            assertEquals(0, arena.allocatedBytes(), "every block came back");
            view.close();
            arena.close();
        }
    }

    /**
     * Sets up on the first input rather than in {@code @BeforeAll}: Jazzer's agent is installed after that,
     * and gives classes loaded before it (capnp-java's, here) hooks but no coverage counters.
     */
    private static Fixture fixture(final boolean isSealed) {
        if (isSealed) {
            return sealed == null ? sealed = new Fixture(true) : sealed;
        }
        return named == null ? named = new Fixture(false) : named;
    }

    @AfterAll
    static void closeArenas() {
        for (final Fixture fixture : new Fixture[] {named, sealed}) {
            if (fixture != null) {
                fixture.close();
            }
        }
    }

    @FuzzTest(maxDuration = "3m")
    void shouldDecodeOrRefuseAnyPayload(final byte[] recipe) {
        decodeOrRefuse(fixture(false), recipe);
    }

    /**
     * The same over a session's sealed arena, where a borrow checks only a handle's bounds: a handle naming
     * a freed block, another generation or memory across blocks may be accepted and read, but only within
     * the pool, and its return is refused by the owner; the blocks lent with the message still come back.
     */
    @FuzzTest(maxDuration = "3m")
    void shouldDecodeOrRefuseAnyPayloadInASealedArena(final byte[] recipe) {
        decodeOrRefuse(fixture(true), recipe);
    }

    private static void decodeOrRefuse(final Fixture f, final byte[] recipe) {
        final Reader in = new Reader(recipe);
        int count = in.u8();
        count = (count & 0x80) != 0 ? in.i32() : count & 0x0f;
        final int flags = in.u8();
        final int named = Math.clamp(count, 0, CapnpDescriptor.MAX_SEGMENTS);
        final MemorySegment payload = MemorySegment.ofArray(new byte[(int) CapnpDescriptor.shmPayloadLength(named)]);
        payload.set(INT_LE, CapnpDescriptor.SHM_COUNT_OFFSET, count);
        payload.set(INT_LE, CapnpDescriptor.SHM_MAGIC_OFFSET, (flags & 1) != 0 ? ~CapnpDescriptor.SHM_MAGIC
            : CapnpDescriptor.SHM_MAGIC);
        for (int i = 0; i < named; i++) {
            final int selector = in.u8();
            mutate(in, f.candidates.get((selector & 7) % f.candidates.size()), selector)
                .writeTo(payload, CapnpDescriptor.SHM_HANDLES_OFFSET + (long) CapnpDescriptor.SHM_HANDLE_LENGTH * i);
        }
        if ((flags & 4) != 0) {
            f.scratch.segment().fill((byte) 0);
            final byte[] rest = in.rest(SCRATCH_BYTES);
            MemorySegment.copy(MemorySegment.ofArray(rest), 0, f.scratch.segment(), 0, rest.length);
        }
        final MemorySegment sent = (flags & 2) != 0 && payload.byteSize() > 0
            ? payload.asSlice(0, payload.byteSize() - 1) : payload;

        for (final ShmBlock block : f.live) {
            block.lend(); // what a sender lends with each send
        }
        boolean accepted = false;
        try (Received<Body.Reader> received = decode(f.codec, sent, flags >>> 3 & 3, (flags & 0x20) != 0, flags >>> 6)) {
            accepted = true;
            read(received);
        } catch (final CorruptDataException refused) {
            // The documented outcome for a hostile payload.
        }
        f.takeReturns();
        for (final ShmBlock block : f.live) {
            final int references = block.references();
            assertTrue(references == 1 || references == 2, "references=" + references + " of " + block);
            if (accepted && names(sent, block)) {
                assertEquals(1, references, "an accepted message gives back the lent reference of " + block);
            }
            if (references == 2) {
                block.unlend();
            }
        }
        assertEquals(f.baselineBytes, f.arena.allocatedBytes(), "no block freed or leaked");
    }

    /**
     * Inline payloads (a small message in the payload itself): any bytes after the magic, with a word count
     * that is consistent or not, decode or are refused, and never touch a block.
     */
    @FuzzTest(maxDuration = "1m")
    void shouldDecodeOrRefuseAnyInlinePayload(final byte[] recipe) {
        final Fixture f = fixture(false);
        final Reader in = new Reader(recipe);
        final int flags = in.u8();
        final byte[] segment = in.rest(4096);
        final MemorySegment payload = MemorySegment.ofArray(new byte[CapnpDescriptor.INLINE_SEGMENT_OFFSET + segment.length]);
        payload.set(INT_LE, CapnpDescriptor.INLINE_WORDS_OFFSET, (flags & 1) != 0 ? in.i32() : segment.length / 8);
        payload.set(INT_LE, CapnpDescriptor.SHM_MAGIC_OFFSET, CapnpDescriptor.INLINE_MAGIC);
        MemorySegment.copy(MemorySegment.ofArray(segment), 0, payload, CapnpDescriptor.INLINE_SEGMENT_OFFSET, segment.length);
        try (Received<Body.Reader> received = decode(f.codec, payload, flags >>> 1 & 3, (flags & 8) != 0, flags >>> 4)) {
            read(received);
        } catch (final CorruptDataException refused) {
            // The documented outcome for a hostile payload.
        }
        for (final ShmBlock block : f.live) {
            assertEquals(1, block.references(), "an inline payload borrows nothing: " + block);
        }
        assertEquals(f.baselineBytes, f.arena.allocatedBytes(), "no block freed or leaked");
    }

    /**
     * A valid payload read where it lies in a larger buffer, as a channel hands it over, is read exactly as on
     * its own; one a word shorter is refused even though the buffer's next bytes would complete it: nothing
     * past the payload's length is read.
     */
    @Test
    void shouldReadAPayloadWhereItLiesAndNothingPastIt() {
        final Fixture f = fixture(false);
        final CapnpCodec<Body.Reader, Body.Builder> codec = f.codec;
        final int count = f.message.blocks().size();
        final long length = CapnpDescriptor.shmPayloadLength(count);
        final MemorySegment buffer = MemorySegment.ofArray(new byte[40 + (int) length]);
        buffer.asSlice(0, 40).fill((byte) 0xA5);
        final MemorySegment payload = buffer.asSlice(40);
        payload.set(INT_LE, CapnpDescriptor.SHM_COUNT_OFFSET, count);
        payload.set(INT_LE, CapnpDescriptor.SHM_MAGIC_OFFSET, CapnpDescriptor.SHM_MAGIC);
        for (int i = 0; i < count; i++) {
            // The candidates are a freed block's handle first, then the message's.
            f.candidates.get(1 + i).writeTo(payload, CapnpDescriptor.SHM_HANDLES_OFFSET
                + (long) CapnpDescriptor.SHM_HANDLE_LENGTH * i);
        }
        final int type = codec.typeOf(f.message);
        for (final ShmBlock block : f.message.blocks()) {
            block.lend();
        }
        try (Received<Body.Reader> received = codec.decode(buffer.asReadOnly(), 40, length, type, 1)) {
            assertEquals(3, received.root().getGetCacheRsp().getFileParts().size());
        }
        for (final ShmBlock block : f.message.blocks()) {
            assertEquals(1, block.references(), "the accepted message gave back its reference: " + block);
            block.lend();
        }
        final CorruptDataException refused = assertThrows(CorruptDataException.class,
            () -> codec.decode(buffer.asReadOnly(), 40, length - 8, type, 1));
        assertTrue(refused.getMessage().contains("payloadLength=" + (length - 8)), refused.getMessage());
        for (final ShmBlock block : f.message.blocks()) {
            assertEquals(2, block.references(), "a refused message takes nothing: " + block);
            block.unlend();
        }
        assertEquals(f.baselineBytes, f.arena.allocatedBytes(), "no block freed or leaked");
    }

    /**
     * Decodes as a channel does: unless {@code inPlace}, the payload on its own; otherwise where it lies, at
     * the end of a larger read-only buffer ({@code prefix} words of other bytes before it), so that a read
     * past its length throws {@link IndexOutOfBoundsException}, which no hostile payload may cause. An odd
     * {@code prefix} decodes through {@link CapnpCodec#decodeScoped}, which recycles the message, its borrowed
     * reference and its reading from one input to the next.
     */
    private static Received<Body.Reader> decode(final CapnpCodec<Body.Reader, Body.Builder> codec,
                                                final MemorySegment payload, final int type, final boolean inPlace,
                                                final int prefix) {
        if (!inPlace) {
            return codec.decode(payload, type, 1, false);
        }
        final long length = payload.byteSize();
        final MemorySegment buffer = MemorySegment.ofArray(new byte[8 * prefix + (int) length]);
        buffer.asSlice(0, 8L * prefix).fill((byte) 0xA5);
        MemorySegment.copy(payload, 0, buffer, 8L * prefix, length);
        return (prefix & 1) != 0 ? codec.decodeScoped(buffer.asReadOnly(), 8L * prefix, length, type, 1)
            : codec.decode(buffer.asReadOnly(), 8L * prefix, length, type, 1);
    }

    /** Reads the message as a handler would, through {@link CapnpChannels#guarded}. */
    private static void read(final Received<Body.Reader> received) {
        final MessageHandler<Body.Reader, Body.Builder> handler = CapnpChannels.guarded((m, replier) -> {
            final Body.Reader root = m.root();
            switch (root.which()) {
                case GET_CACHE_RSP -> {
                    final StructList.Reader<GetCacheRsp.FilePart.Reader> parts = root.getGetCacheRsp().getFileParts();
                    for (int i = 0; i < parts.size(); i++) {
                        final GetCacheRsp.FilePart.Reader part = parts.get(i);
                        part.getData().asByteBuffer().remaining();
                        part.getDataSizeToVerify();
                        part.getDataHashToVerify().getHigh();
                    }
                }
                case GET_CACHE_REQ -> root.getGetCacheReq().getFileName().toString();
                default -> { }
            }
        });
        try {
            handler.onMessage(received, null);
        } catch (final CorruptDataException e) {
            // What guarded accessors throw on hostile data.
        } catch (final Exception e) {
            fail("reading an accepted message threw " + e, e);
        }
    }

    private static boolean names(final MemorySegment payload, final ShmBlock block) {
        final int count = payload.get(INT_LE, CapnpDescriptor.SHM_COUNT_OFFSET);
        for (int i = 0; i < count; i++) {
            final ShmHandle handle = ShmHandle.readFrom(payload,
                CapnpDescriptor.SHM_HANDLES_OFFSET + (long) CapnpDescriptor.SHM_HANDLE_LENGTH * i);
            // The same block in the same generation: a sealed arena refuses the return of any other.
            if (handle.pool() == block.handle().pool() && handle.offset() == block.handle().offset()
                && handle.generation() == block.handle().generation()) {
                return true;
            }
        }
        return false;
    }

    private static ShmHandle mutate(final Reader in, final ShmHandle base, final int selector) {
        return switch (selector >>> 3 & 7) {
            case 1 -> new ShmHandle(in.i32(), base.generation(), base.offset(), base.length());
            case 2 -> new ShmHandle(base.pool(), in.i32(), base.offset(), base.length());
            case 3 -> new ShmHandle(base.pool(), base.generation(), in.i64(), base.length());
            case 4 -> new ShmHandle(base.pool(), base.generation(), base.offset(), in.i64());
            case 5 -> new ShmHandle(base.pool(), base.generation(), base.offset() + 8L * (byte) in.u8(), base.length());
            case 6 -> new ShmHandle(base.pool(), base.generation(), base.offset(), base.length() + 8L * (byte) in.u8());
            case 7 -> new ShmHandle(in.i32(), in.i32(), in.i64(), in.i64());
            default -> base;
        };
    }

    /** Reads a recipe little-endian; past its end, every byte is zero. */
    private static final class Reader {
        private final byte[] bytes;
        private int at;
        private int last;

        Reader(final byte[] bytes) {
            this.bytes = bytes;
        }

        int u8() {
            last = at < bytes.length ? bytes[at] & 0xff : 0;
            at++;
            return last;
        }

        int last() {
            return last;
        }

        int i32() {
            return u8() | u8() << 8 | u8() << 16 | u8() << 24;
        }

        long i64() {
            return i32() & 0xffffffffL | (long) i32() << 32;
        }

        byte[] rest(final int max) {
            final int from = Math.min(at, bytes.length);
            final byte[] rest = java.util.Arrays.copyOfRange(bytes, from, Math.min(bytes.length, from + max));
            at = bytes.length;
            return rest;
        }
    }
}
