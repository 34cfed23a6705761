/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.capnp.demo.CacheDemo.GetCacheReq;
import dev.isthmus.capnp.demo.CacheDemo.GetCacheRsp;
import dev.isthmus.capnp.demo.CacheDemo.Hash;
import dev.isthmus.struc.Received;
import dev.isthmus.struc.Replier;
import org.capnproto.Data;
import org.capnproto.MessageBuilder;
import org.capnproto.MessageReader;
import org.capnproto.ReaderOptions;
import org.capnproto.StructList;
import org.capnproto.Text;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Messages built by random sequences of builder operations on the shared-memory codec decode on the other
 * side to exactly what a plain heap {@link MessageBuilder} given the same operations holds, field by field:
 * names of up to 3,000 characters set over each other in three ways, responses of up to 20 parts of up to
 * 40,000 bytes whose data, size and hash are set in several ways and orders and set again, a request turned
 * into a response and back. Each message is made with {@code newMessage()} (inline in its 1 KiB heap segment,
 * or spilled to blocks once it grows a second segment) or {@code newMessage(hint)}, on the builder of a
 * message closed before it, sealed or not, encoded once or twice (changed in between if not sealed, an
 * encoding sometimes abandoned), and some are kept open, or their decoded copy read, only after the next
 * message was built; some go as requests over a real channel, answered by fresh responses built on the
 * server with {@code newMessage(hint)}. Every block goes back to its arena.
 *
 * <p>The sequence of each seed is fixed: a failure names the seed and the message, and
 * {@code -Disthmus.test.randomSeed=<seed>} runs that seed alone.
 */
class RandomMessageEncodingTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final int SEEDS = 100;
    private static final int MESSAGES = 50;
    private static final String SEED_PROPERTY = "isthmus.test.randomSeed";
    private static final byte[] NO_BYTES = new byte[0];

    @Test
    void shouldDecodeEveryRandomlyBuiltMessageAsAHeapBuilderGivenTheSameOperationsHoldsIt() {
        final Long only = Long.getLong(SEED_PROPERTY);
        final Coverage coverage = new Coverage();
        for (long seed = 1; seed <= SEEDS; seed++) {
            if (only == null || only == seed) {
                new Run(seed, coverage).run();
            }
        }
        System.out.println(coverage);
        if (only == null) {
            coverage.check();
        }
    }

    /** One seed's messages, on endpoints of their own. */
    private static final class Run {
        private final long seed;
        private final SplittableRandom random;
        private final Coverage coverage;
        /** Every allocator side A's messages were built with: one seen before is a reused builder. */
        private final Set<ArenaSegmentAllocator> allocators = Collections.newSetFromMap(new IdentityHashMap<>());
        /** What the last message left open, checked and closed once the next one is built. */
        private final List<Deferred> deferred = new ArrayList<>();
        private final AtomicReference<ServerPlan> serverPlan = new AtomicReference<>();
        private final AtomicReference<Throwable> serverFailure = new AtomicReference<>();
        private Endpoints endpoints;
        private CapnpCodec<Body.Reader, Body.Builder> codec;
        private CapnpCodec<Body.Reader, Body.Builder> peer;

        Run(final long seed, final Coverage coverage) {
            this.seed = seed;
            this.random = new SplittableRandom(seed);
            this.coverage = coverage;
        }

        void run() {
            try (Endpoints opened = Endpoints.openSealed(Backing.SESSION_SHM)) {
                endpoints = opened;
                codec = opened.codecA();
                peer = opened.codecB();
                opened.b.onMessageInPlace(Body.Which.GET_CACHE_REQ, this::serve);
                for (int index = 0; index < MESSAGES; index++) {
                    final StringBuilder plan = new StringBuilder();
                    serverFailure.set(null);
                    try {
                        if (random.nextInt(8) == 0) {
                            overChannel(index, plan);
                        } else {
                            direct(index, plan);
                        }
                    } catch (final ReplayableFailure e) {
                        throw e;
                    } catch (final RuntimeException | AssertionError e) {
                        final Throwable server = serverFailure.get();
                        final ReplayableFailure failure = new ReplayableFailure(label(index, plan) + ": " + e
                            + (server == null ? "" : "; the server: " + server), e);
                        if (server != null) {
                            failure.addSuppressed(server);
                        }
                        throw failure;
                    }
                }
                runDeferred();
                try {
                    Endpoints.awaitAllocatedBytes(opened.arenaA, 0);
                    Endpoints.awaitAllocatedBytes(opened.arenaB, 0);
                } catch (final AssertionError e) {
                    throw new ReplayableFailure("seed " + seed + " (-D" + SEED_PROPERTY + "=" + seed + "), after its "
                        + MESSAGES + " messages: " + e.getMessage(), e);
                }
            }
        }

        private String label(final int index, final CharSequence plan) {
            return "seed " + seed + ", message " + index + " (-D" + SEED_PROPERTY + "=" + seed + "): " + plan;
        }

        /** A message and its heap reference, both given the same operations. */
        private record Built(MessageBuilder heap, Body.Builder heapRoot, CapnpOutgoing<Body.Builder> message) {
        }

        /**
         * Builds a message by {@code ops}, and a heap {@link MessageBuilder} beside it, which must hold what the
         * model says; then checks what the last message left open, now that this one has taken what the codec had
         * spare.
         */
        private Built build(final Model model, final long hint, final List<Op> ops) {
            final MessageBuilder heap = new MessageBuilder();
            final Body.Builder heapRoot = heap.initRoot(Body.factory);
            final CapnpOutgoing<Body.Builder> message = newMessage(hint);
            apply(ops, heapRoot, message.root());
            assertHolds(model, read(heap), "the heap reference");
            runDeferred();
            return new Built(heap, heapRoot, message);
        }

        /** {@return whether it sealed {@code message}, which it does one time in three, noting it in the plan} */
        private boolean sealSome(final CapnpOutgoing<Body.Builder> message, final StringBuilder plan) {
            final boolean sealed = random.nextInt(3) == 0;
            if (sealed) {
                message.seal();
                plan.append(", sealed");
            }
            return sealed;
        }

        private static String newMessageCall(final long hint) {
            return hint < 0 ? "newMessage()" : "newMessage(" + hint + ")";
        }

        /** A message built, encoded and decoded here, its payload handed over as a channel would. */
        private void direct(final int index, final StringBuilder plan) {
            final Model model = new Model();
            final long hint = hint(random);
            final boolean small = small(random);
            final List<Op> ops = operations(random, model, opCount(random), false, small);
            plan.append(newMessageCall(hint)).append(", ops ").append(ops);
            final Built built = build(model, hint, ops);
            final MessageBuilder heap = built.heap();
            final Body.Builder heapRoot = built.heapRoot();
            final CapnpOutgoing<Body.Builder> message = built.message();
            final boolean sealed = sealSome(message, plan);
            if (sealed) {
                assertThrows(IllegalStateException.class, message::root, "a sealed message's builder");
            }
            final int encodings = 1 + random.nextInt(2);
            boolean lastWasName = !ops.isEmpty() && ops.getLast() instanceof SetName;
            for (int encoding = 1; encoding <= encodings; encoding++) {
                if (encoding > 1 && !sealed && random.nextBoolean()) {
                    final List<Op> more = operations(random, model, 1 + random.nextInt(3), false, small);
                    plan.append(", then ").append(more);
                    apply(more, heapRoot, message.root());
                    assertHolds(model, read(heap), "the heap reference");
                    lastWasName = more.getLast() instanceof SetName;
                }
                if (random.nextInt(10) == 0) {
                    plan.append(", an encoding abandoned");
                    codec.encode(message).abandon();
                    coverage.abandoned++;
                }
                plan.append(", encoding ").append(encoding);
                final String what = "encoding " + encoding;
                coverage.count(message, lastWasName);
                final Received<Body.Reader> received = encodeAndDecode(message, model, index);
                if (encoding == encodings && random.nextInt(8) == 0) {
                    // Read after the message is closed and the next one built (on its builder, perhaps).
                    plan.append(" (read later)");
                    coverage.heldReceived++;
                    deferred.add(new Deferred(label(index, plan), () -> {
                        try (received) {
                            assertSameContent(read(heap), received.root(), what + ", read after the next message was built");
                        }
                    }));
                } else {
                    try (received) {
                        assertSameContent(read(heap), received.root(), what);
                    }
                }
            }
            if (random.nextInt(8) == 0) {
                plan.append(", kept open");
                coverage.heldMessages++;
                deferred.add(new Deferred(label(index, plan), () -> {
                    coverage.count(message, false);
                    try (message) {
                        try (Received<Body.Reader> received = encodeAndDecode(message, model, index)) {
                            assertSameContent(read(heap), received.root(), "encoded again after the next message was built");
                        }
                    }
                }));
            } else {
                message.close();
            }
        }

        /** A request sent over the channel, once or twice; the server answers each with a fresh response. */
        private void overChannel(final int index, final StringBuilder plan) {
            final Model model = new Model();
            final long hint = hint(random);
            final boolean small = small(random);
            final List<Op> ops = new ArrayList<>(operations(random, model, opCount(random), false, small));
            // A request, as the server handles.
            ops.addAll(operations(random, model, 1, true, small));
            plan.append("over the channel, ").append(newMessageCall(hint)).append(", ops ").append(ops);
            final Built built = build(model, hint, ops);
            final MessageBuilder heap = built.heap();
            final Body.Builder heapRoot = built.heapRoot();
            final CapnpOutgoing<Body.Builder> message = built.message();
            final boolean sealed = sealSome(message, plan);
            final int sends = 1 + random.nextInt(2);
            try (message) {
                for (int send = 1; send <= sends; send++) {
                    if (send > 1 && !sealed && random.nextBoolean()) {
                        final List<Op> more = operations(random, model, 1 + random.nextInt(2), true, small);
                        plan.append(", then ").append(more);
                        apply(more, heapRoot, message.root());
                        assertHolds(model, read(heap), "the heap reference");
                    }
                    final Model responseModel = new Model();
                    final List<Op> responseOps = operations(random, responseModel, opCount(random), false, small(random));
                    final long responseHint = sizedHint(random);
                    final boolean responseSealed = random.nextInt(3) == 0;
                    plan.append(", send ").append(send).append(" answered by newMessage(").append(responseHint).append(')')
                        .append(responseSealed ? " sealed" : "").append(" of ").append(responseOps);
                    final MessageBuilder heapResponse = new MessageBuilder();
                    final Body.Builder heapResponseRoot = heapResponse.initRoot(Body.factory);
                    for (final Op op : responseOps) {
                        op.apply(heapResponseRoot);
                    }
                    assertHolds(responseModel, read(heapResponse), "the heap reference response");
                    serverPlan.set(new ServerPlan(heap, responseOps, responseHint, responseSealed));
                    coverage.count(message, ops.getLast() instanceof SetName);
                    final String what = "send " + send + ": the response";
                    assertEquals(Boolean.TRUE, endpoints.a.request(message, TIMEOUT, response -> {
                        assertSameContent(read(heapResponse), response, what);
                        return Boolean.TRUE;
                    }));
                    coverage.roundTrips++;
                }
            }
        }

        /** The server's handler: reads the request as the client built it, then answers as planned. */
        private void serve(final Body.Reader request, final Replier<Body.Builder> replier) {
            final ServerPlan plan = serverPlan.get();
            try {
                assertSameContent(read(plan.request()), request, "the request the server read");
                final CapnpOutgoing<Body.Builder> response = peer.newMessage(plan.hint());
                try (response) {
                    final Body.Builder root = response.root();
                    for (final Op op : plan.ops()) {
                        op.apply(root);
                    }
                    if (plan.sealed()) {
                        response.seal();
                    }
                    replier.reply(response);
                }
            } catch (final RuntimeException | AssertionError e) {
                serverFailure.set(e);
                throw new IllegalStateException("the server failed: " + e, e);
            }
        }

        private CapnpOutgoing<Body.Builder> newMessage(final long hint) {
            final CapnpOutgoing<Body.Builder> message = hint < 0 ? codec.newMessage() : codec.newMessage(hint);
            if (!allocators.add(message.allocator())) {
                if (hint < 0) {
                    coverage.inlineBuilderReuses++;
                } else {
                    coverage.sizedBuilderReuses++;
                }
            }
            return message;
        }

        private Received<Body.Reader> encodeAndDecode(final CapnpOutgoing<Body.Builder> message, final Model model,
                                                      final long id) {
            final int type = model.type();
            assertEquals(type, codec.typeOf(message), "the message's type");
            final MemorySegment payload = Endpoints.payload(codec.encode(message));
            return peer.decode(payload, type, id, false);
        }

        private void runDeferred() {
            for (final Deferred held : deferred) {
                try {
                    held.check().run();
                } catch (final RuntimeException | AssertionError e) {
                    throw new ReplayableFailure(held.label() + ": " + e, e);
                }
            }
            deferred.clear();
        }
    }

    private static void apply(final List<Op> ops, final Body.Builder heap, final Body.Builder shared) {
        for (final Op op : ops) {
            op.apply(heap);
            op.apply(shared);
        }
    }

    /** The heap reference read back from the segments it would write out. */
    private static Body.Reader read(final MessageBuilder heap) {
        return new MessageReader(heap.getSegmentsForOutput(), ReaderOptions.DEFAULT_READER_OPTIONS).getRoot(Body.factory);
    }

    // ---- What is built ----------------------------------------------------------------------------------

    /** A builder operation, applied alike to the heap reference and the shared-memory message. */
    private sealed interface Op permits SetName, SetResponse, ChangePart {
        void apply(Body.Builder root);

        /** Makes the model hold what the operation leaves in a message. */
        void update(Model model);
    }

    /**
     * Sets the request's name, on a new request if {@code fresh} or the root is not a request: with the
     * string setter, the {@link Text.Reader} setter, or {@code initFileName} and writing its bytes.
     */
    private record SetName(boolean fresh, String name, int way) implements Op {
        @Override
        public void apply(final Body.Builder root) {
            final GetCacheReq.Builder request = fresh || root.which() != Body.Which.GET_CACHE_REQ
                ? root.initGetCacheReq() : root.getGetCacheReq();
            switch (way) {
                case 0 -> request.setFileName(name);
                case 1 -> request.setFileName(new Text.Reader(name));
                default -> {
                    final byte[] utf8 = name.getBytes(StandardCharsets.UTF_8);
                    request.initFileName(utf8.length).asByteBuffer().put(utf8);
                }
            }
        }

        @Override
        public void update(final Model model) {
            model.response = false;
            model.name = name;
        }

        @Override
        public String toString() {
            return "name(" + (fresh ? "new request, " : "") + name.length() + " chars, "
                + (way == 0 ? "set" : way == 1 ? "set text" : "init") + ")";
        }
    }

    /** Makes the root a response of new parts, or, if {@code listOnly} (and it is one), gives it a new list. */
    private record SetResponse(boolean listOnly, List<PartSpec> parts) implements Op {
        @Override
        public void apply(final Body.Builder root) {
            final GetCacheRsp.Builder response = listOnly ? root.getGetCacheRsp() : root.initGetCacheRsp();
            final StructList.Builder<GetCacheRsp.FilePart.Builder> list = response.initFileParts(parts.size());
            for (int i = 0; i < parts.size(); i++) {
                parts.get(i).apply(list.get(i));
            }
        }

        @Override
        public void update(final Model model) {
            model.response = true;
            model.parts = new ArrayList<>();
            for (final PartSpec spec : parts) {
                final PartModel part = new PartModel();
                spec.update(part);
                model.parts.add(part);
            }
        }

        @Override
        public String toString() {
            if (parts.size() <= 4) {
                return "response(" + (listOnly ? "new list, " : "") + parts + ")";
            }
            long bytes = 0;
            for (final PartSpec part : parts) {
                bytes += part.data() == null ? 0 : part.data().length;
            }
            return "response(" + (listOnly ? "new list, " : "") + parts.size() + " parts, " + bytes + " bytes of data)";
        }
    }

    /** Sets again some of the fields of one part of the response. */
    private record ChangePart(int index, PartSpec spec) implements Op {
        @Override
        public void apply(final Body.Builder root) {
            spec.apply(root.getGetCacheRsp().getFileParts().get(index));
        }

        @Override
        public void update(final Model model) {
            spec.update(model.parts.get(index));
        }

        @Override
        public String toString() {
            return "part " + index + " again(" + spec + ")";
        }
    }

    private static final int DATA_UNSET = 0;
    private static final int DATA_INIT_AND_WRITE = 1;
    private static final int DATA_SET_ARRAY = 2;
    private static final int DATA_SET_READER = 3;
    private static final int DATA_INIT_ONLY = 4;
    private static final int HASH_UNSET = 0;
    private static final int HASH_INIT = 1;
    private static final int HASH_GET = 2;
    private static final int HASH_SET_READER = 3;

    /**
     * What is written to a part: its data (left alone, initialised and written, set from an array or a reader,
     * or initialised and left zero), its size word, its hash (left alone, initialised, got, or copied from a
     * reader), words or data first.
     */
    private record PartSpec(int dataWay, byte[] data, boolean setSize, long size, int hashWay, long high, long low,
                            boolean wordsFirst) {
        void apply(final GetCacheRsp.FilePart.Builder part) {
            if (wordsFirst) {
                words(part);
                data(part);
            } else {
                data(part);
                words(part);
            }
        }

        private void data(final GetCacheRsp.FilePart.Builder part) {
            switch (dataWay) {
                case DATA_INIT_AND_WRITE -> part.initData(data.length).asByteBuffer().put(data);
                case DATA_SET_ARRAY -> part.setData(data);
                case DATA_SET_READER -> part.setData(new Data.Reader(data));
                case DATA_INIT_ONLY -> part.initData(data.length);
                default -> {
                }
            }
        }

        private void words(final GetCacheRsp.FilePart.Builder part) {
            if (setSize) {
                part.setDataSizeToVerify(size);
            }
            switch (hashWay) {
                case HASH_INIT -> {
                    final Hash.Builder hash = part.initDataHashToVerify();
                    hash.setHigh(high);
                    hash.setLow(low);
                }
                case HASH_GET -> {
                    final Hash.Builder hash = part.getDataHashToVerify();
                    hash.setHigh(high);
                    hash.setLow(low);
                }
                case HASH_SET_READER -> {
                    final Hash.Builder hash = new MessageBuilder().initRoot(Hash.factory);
                    hash.setHigh(high);
                    hash.setLow(low);
                    part.setDataHashToVerify(hash.asReader());
                }
                default -> {
                }
            }
        }

        void update(final PartModel part) {
            if (dataWay != DATA_UNSET) {
                part.data = data;
            }
            if (setSize) {
                part.size = size;
            }
            if (hashWay != HASH_UNSET) {
                part.high = high;
                part.low = low;
            }
        }

        @Override
        public String toString() {
            final String dataText = switch (dataWay) {
                case DATA_INIT_AND_WRITE -> "init " + data.length;
                case DATA_SET_ARRAY -> "set " + data.length;
                case DATA_SET_READER -> "set reader " + data.length;
                case DATA_INIT_ONLY -> "zero " + data.length;
                default -> "-";
            };
            final String hashText = switch (hashWay) {
                case HASH_INIT -> "init";
                case HASH_GET -> "get";
                case HASH_SET_READER -> "set";
                default -> "-";
            };
            return (wordsFirst ? "words first, " : "") + "data " + dataText + (setSize ? ", size" : "")
                + ", hash " + hashText;
        }
    }

    /** What a message holds once its operations are applied. */
    private static final class Model {
        boolean response;
        String name = "";
        List<PartModel> parts = List.of();

        int type() {
            return (response ? Body.Which.GET_CACHE_RSP : Body.Which.GET_CACHE_REQ).ordinal();
        }
    }

    private static final class PartModel {
        byte[] data = NO_BYTES;
        long size;
        long high;
        long low;
    }

    private record ServerPlan(MessageBuilder request, List<Op> ops, long hint, boolean sealed) {
    }

    private record Deferred(String label, Runnable check) {
    }

    /** A failure that already names its seed and message. */
    private static final class ReplayableFailure extends AssertionError {
        private static final long serialVersionUID = 1L;

        ReplayableFailure(final String message, final Throwable cause) {
            super(message, cause);
        }
    }

    // ---- Random choices ---------------------------------------------------------------------------------

    /**
     * {@return {@code count} random operations, each applicable after the ones before, the model updated}
     *
     * @param namesOnly only names: the message ends as a request
     * @param small     short names and a few small parts only, for messages that mostly stay inline
     */
    private static List<Op> operations(final SplittableRandom random, final Model model, final int count,
                                       final boolean namesOnly, final boolean small) {
        final List<Op> ops = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            final int roll = namesOnly ? 0 : random.nextInt(20);
            final Op op;
            if (roll < 9) {
                op = new SetName(random.nextInt(4) == 0, text(random, small), random.nextInt(3));
            } else if (roll < 15 || !model.response || model.parts.isEmpty()) {
                final int count0 = small || random.nextBoolean() ? random.nextInt(4) : random.nextInt(21);
                final List<PartSpec> parts = new ArrayList<>(count0);
                for (int p = 0; p < count0; p++) {
                    parts.add(part(random, small));
                }
                op = new SetResponse(model.response && random.nextInt(3) == 0, List.copyOf(parts));
            } else {
                op = new ChangePart(random.nextInt(model.parts.size()), part(random, small));
            }
            op.update(model);
            ops.add(op);
        }
        return ops;
    }

    /** {@return whether a message is to be made of short names and small parts: two in five are} */
    private static boolean small(final SplittableRandom random) {
        return random.nextInt(5) < 2;
    }

    private static int opCount(final SplittableRandom random) {
        return random.nextInt(20) == 0 ? 0 : 1 + random.nextInt(6);
    }

    /** {@return a size hint, or -1 for {@code newMessage()}: half the messages may go inline} */
    private static long hint(final SplittableRandom random) {
        return random.nextBoolean() ? -1 : sizedHint(random);
    }

    private static long sizedHint(final SplittableRandom random) {
        final int roll = random.nextInt(4);
        return roll < 2 ? random.nextInt(1024) : roll < 3 ? random.nextInt(16_384) : random.nextInt(300_000);
    }

    /** A name of 0 to 3,000 characters (120 if small), mostly short, some of two, three and four UTF-8 bytes. */
    private static String text(final SplittableRandom random, final boolean small) {
        final int roll = random.nextInt(10);
        final int length = small ? random.nextInt(121)
            : roll < 5 ? random.nextInt(201) : roll < 8 ? random.nextInt(1001) : random.nextInt(3001);
        final StringBuilder text = new StringBuilder(length);
        while (text.length() < length) {
            final int kind = random.nextInt(40);
            if (kind == 0) {
                text.append('\u00e9');
            } else if (kind == 1) {
                text.append('\u20ac');
            } else if (kind == 2 && text.length() + 2 <= length) {
                text.appendCodePoint(0x1F600 + random.nextInt(64));
            } else {
                text.append((char) ('a' + random.nextInt(26)));
            }
        }
        return text.toString();
    }

    /** A part of up to 40,000 bytes of data (48 if small). */
    private static PartSpec part(final SplittableRandom random, final boolean small) {
        final int dataWay = random.nextInt(5);
        final byte[] data;
        if (dataWay == DATA_UNSET) {
            data = null;
        } else {
            final int roll = random.nextInt(10);
            final int size = small ? random.nextInt(49) : roll < 4 ? random.nextInt(65) : roll < 7 ? random.nextInt(1001)
                : roll < 9 ? random.nextInt(8001) : random.nextInt(40_001);
            data = new byte[size];
            if (dataWay != DATA_INIT_ONLY) {
                random.nextBytes(data);
            }
        }
        return new PartSpec(dataWay, data, random.nextInt(4) != 0, random.nextLong(), random.nextInt(4),
            random.nextLong(), random.nextLong(), random.nextInt(4) == 0);
    }

    // ---- Comparisons ------------------------------------------------------------------------------------

    /** Checks that a message holds what its model says. */
    private static void assertHolds(final Model model, final Body.Reader root, final String what) {
        assertEquals(model.type(), root.which().ordinal(), what + ": the union's tag");
        if (!model.response) {
            assertSameText(model.name, root.getGetCacheReq().getFileName().toString(), what + ": the name");
            return;
        }
        final StructList.Reader<GetCacheRsp.FilePart.Reader> parts = root.getGetCacheRsp().getFileParts();
        assertEquals(model.parts.size(), parts.size(), what + ": parts");
        for (int i = 0; i < parts.size(); i++) {
            final PartModel expected = model.parts.get(i);
            final GetCacheRsp.FilePart.Reader part = parts.get(i);
            assertSameBytes(ByteBuffer.wrap(expected.data), part.getData().asByteBuffer(), what + ": part " + i + "'s data");
            assertEquals(expected.size, part.getDataSizeToVerify(), what + ": part " + i + "'s size");
            assertEquals(expected.high, part.getDataHashToVerify().getHigh(), what + ": part " + i + "'s hash high");
            assertEquals(expected.low, part.getDataHashToVerify().getLow(), what + ": part " + i + "'s hash low");
        }
    }

    /** Checks that a decoded message holds every field, and every pointer set or not, as the reference does. */
    private static void assertSameContent(final Body.Reader expected, final Body.Reader actual, final String what) {
        assertEquals(expected.which(), actual.which(), what + ": the union's tag");
        if (expected.which() == Body.Which.GET_CACHE_REQ) {
            assertEquals(expected.hasGetCacheReq(), actual.hasGetCacheReq(), what + ": whether it has a request");
            final GetCacheReq.Reader request = expected.getGetCacheReq();
            assertEquals(request.hasFileName(), actual.getGetCacheReq().hasFileName(), what + ": whether it has a name");
            assertSameText(request.getFileName().toString(), actual.getGetCacheReq().getFileName().toString(),
                what + ": the name");
            return;
        }
        assertEquals(expected.hasGetCacheRsp(), actual.hasGetCacheRsp(), what + ": whether it has a response");
        final GetCacheRsp.Reader response = expected.getGetCacheRsp();
        assertEquals(response.hasFileParts(), actual.getGetCacheRsp().hasFileParts(), what + ": whether it has parts");
        final StructList.Reader<GetCacheRsp.FilePart.Reader> parts = response.getFileParts();
        final StructList.Reader<GetCacheRsp.FilePart.Reader> actualParts = actual.getGetCacheRsp().getFileParts();
        assertEquals(parts.size(), actualParts.size(), what + ": parts");
        for (int i = 0; i < parts.size(); i++) {
            final GetCacheRsp.FilePart.Reader part = parts.get(i);
            final GetCacheRsp.FilePart.Reader actualPart = actualParts.get(i);
            final String of = what + ": part " + i + "'s ";
            assertEquals(part.hasData(), actualPart.hasData(), of + "data set or not");
            assertSameBytes(part.getData().asByteBuffer(), actualPart.getData().asByteBuffer(), of + "data");
            assertEquals(part.getDataSizeToVerify(), actualPart.getDataSizeToVerify(), of + "size");
            assertEquals(part.hasDataHashToVerify(), actualPart.hasDataHashToVerify(), of + "hash set or not");
            assertEquals(part.getDataHashToVerify().getHigh(), actualPart.getDataHashToVerify().getHigh(), of + "hash high");
            assertEquals(part.getDataHashToVerify().getLow(), actualPart.getDataHashToVerify().getLow(), of + "hash low");
        }
    }

    private static void assertSameText(final String expected, final String actual, final String what) {
        if (!expected.equals(actual)) {
            int at = 0;
            while (at < Math.min(expected.length(), actual.length()) && expected.charAt(at) == actual.charAt(at)) {
                at++;
            }
            fail(what + ": " + actual.length() + " chars, not the " + expected.length() + " built, first differing at char "
                + at);
        }
    }

    private static void assertSameBytes(final ByteBuffer expected, final ByteBuffer actual, final String what) {
        assertEquals(expected.remaining(), actual.remaining(), what + ": its length");
        final int at = expected.mismatch(actual);
        if (at >= 0) {
            fail(what + ": byte " + at + " of " + expected.remaining() + " is " + actual.get(actual.position() + at)
                + ", not " + expected.get(expected.position() + at));
        }
    }

    // ---- Coverage ---------------------------------------------------------------------------------------

    /** What the messages exercised, so that the random choices keep reaching every path. */
    private static final class Coverage {
        int inline;
        int spilled;
        int spilledAfterAName;
        int sizedOneSegment;
        int sizedSegments;
        int inlineBuilderReuses;
        int sizedBuilderReuses;
        int abandoned;
        int heldReceived;
        int heldMessages;
        int roundTrips;

        /** Counts an encoding of {@code message} about to be made. */
        void count(final CapnpOutgoing<Body.Builder> message, final boolean lastWasName) {
            final ArenaSegmentAllocator allocator = message.allocator();
            if (allocator.inlineFirst()) {
                if (allocator.isInline()) {
                    inline++;
                } else if (message.segmentCount() > 1) {
                    spilled++;
                    if (lastWasName) {
                        spilledAfterAName++;
                    }
                }
            } else if (message.segmentCount() == 1) {
                sizedOneSegment++;
            } else {
                sizedSegments++;
            }
        }

        void check() {
            assertTrue(inline > 300, "inline encodings: " + this);
            assertTrue(spilled > 150, "spilled encodings: " + this);
            assertTrue(spilledAfterAName > 30, "spilled encodings whose last write was a name: " + this);
            assertTrue(sizedOneSegment > 150, "size-hinted encodings of one segment: " + this);
            assertTrue(sizedSegments > 50, "size-hinted encodings of more segments: " + this);
            assertTrue(inlineBuilderReuses > 200, "newMessage() on a closed message's builder: " + this);
            assertTrue(sizedBuilderReuses > 200, "newMessage(hint) on a closed message's builder: " + this);
            assertTrue(abandoned > 30 && heldReceived > 30 && heldMessages > 30, "held and abandoned: " + this);
            assertTrue(roundTrips > 150, "round trips over the channel: " + this);
        }

        @Override
        public String toString() {
            return "inline " + inline + ", spilled " + spilled + " (" + spilledAfterAName + " after a name), size-hinted "
                + sizedOneSegment + " of one segment and " + sizedSegments + " of more, builders reused by newMessage() "
                + inlineBuilderReuses + " and newMessage(hint) " + sizedBuilderReuses + ", abandoned " + abandoned
                + ", read later " + heldReceived + ", kept open " + heldMessages + ", round trips " + roundTrips;
        }
    }
}
