/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.arena.ShmHandle;
import dev.isthmus.session.ClientSession;
import dev.isthmus.session.Session;
import dev.isthmus.session.SessionOptions;
import dev.isthmus.session.TestUniverse;
import dev.isthmus.transport.BlobChannel;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import static dev.isthmus.data.SharedDataTest.HISTORY;
import static dev.isthmus.data.SharedDataTest.INSTRUMENT;
import static dev.isthmus.data.SharedDataTest.PRICE;
import static dev.isthmus.data.SharedDataTest.QUOTE;
import static dev.isthmus.data.SharedDataTest.VENUE;

/**
 * The client side of {@link SharedDataCrossProcessTest}: connects a zero-copy session and, by mode, borrows
 * what the server lends ({@code borrow}), lends to it ({@code lend}), sends it forged references
 * ({@code hostile}), or updates in place what the server lent it read-write ({@code share}). Prints {@code READY} once connected, results as lines.
 */
public final class SharedDataPeerMain {
    static final long TIMEOUT_NS = TimeUnit.SECONDS.toNanos(30);

    private SharedDataPeerMain() {
    }

    public static void main(final String[] args) throws Exception {
        final TestUniverse universe = TestUniverse.parse(args, 0);
        final String mode = args[TestUniverse.ARGS];
        final BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (Session session = ClientSession.connect(universe.client(), universe.server(),
            SessionOptions.zeroCopy().initChannels(1))) {
            final SharedData data = SharedData.of(session);
            final BlobChannel channel = session.initChannels().getFirst().blobs();
            System.out.println("READY " + session.id());
            switch (mode) {
                case "borrow" -> {
                    final DataRef ref = receive(channel);
                    try (SharedStruct quote = data.borrowStruct(ref, QUOTE)) {
                        System.out.println("SUM " + checksum(quote) + " " + quote.followString(VENUE));
                        System.out.println("READONLY " + quote.isReadOnly());
                    }
                    send(channel, "DONE");
                }
                case "lend" -> {
                    final long checksum;
                    try (SharedStruct quote = build(data, 5000, "lent by the client")) {
                        checksum = checksum(quote);
                        data.lend(quote, channel, TIMEOUT_NS);
                    }
                    System.out.println("LENT " + checksum);
                    receive(channel);
                    // The server closed its view: the blocks come back at the next allocation.
                    data.allocate(PRICE).close();
                    System.out.println("IN USE " + session.arena().allocatedBytes());
                }
                case "hold" -> {
                    try (SharedStruct quote = build(data, 100, "held")) {
                        data.lend(quote, channel, TIMEOUT_NS);
                        System.out.println("LENT " + checksum(quote));
                        stdin.readLine();
                    }
                }
                case "hostile" -> {
                    final SplittableRandom random = new SplittableRandom(7);
                    final int forged = Integer.parseInt(args[TestUniverse.ARGS + 1]);
                    try (SharedStruct quote = build(data, 10, "real")) {
                        final ShmHandle h = quote.ref().handle();
                        for (int i = 0; i < forged; i++) {
                            final ShmHandle handle = switch (i % 4) {
                                case 0 -> new ShmHandle(random.nextInt(), random.nextInt(), random.nextLong(),
                                    random.nextLong());
                                case 1 -> new ShmHandle(0, h.generation() + 1 + random.nextInt(5), h.offset(), h.length());
                                case 2 -> new ShmHandle(0, h.generation(), random.nextLong(1 << 24) & -256,
                                    random.nextLong(1 << 20));
                                default -> new ShmHandle(0, h.generation(), h.offset(), h.length() + 1 + random.nextInt(1 << 20));
                            };
                            sendRef(channel, new DataRef(handle, i % 8 == 7 ? PRICE.typeTag() : QUOTE.typeTag()));
                        }
                        System.out.println("SUM " + checksum(quote));
                        data.lend(quote, channel, TIMEOUT_NS);
                        receive(channel);
                    }
                }
                case "share" -> {
                    final int adds = Integer.parseInt(args[TestUniverse.ARGS + 1]);
                    final DataRef orderRef = receive(channel);
                    final DataRef fillsRef = receive(channel);
                    final DataRef quoteRef = receive(channel);
                    try (SharedStruct order = data.borrowStruct(orderRef, SharedDataWritableTest.ORDER);
                         SharedArray fills = data.borrowArray(fillsRef, java.lang.foreign.ValueLayout.JAVA_LONG);
                         SharedStruct quote = data.borrowStruct(quoteRef, QUOTE)) {
                        System.out.println("READONLY " + order.isReadOnly() + " " + fills.isReadOnly() + " "
                            + quote.isReadOnly());
                        boolean refused;
                        try {
                            INSTRUMENT.set(quote.segment(), 1);
                            refused = false;
                        } catch (final IllegalArgumentException | UnsupportedOperationException e) {
                            refused = true;
                        }
                        System.out.println("WRITE TO READ-ONLY REFUSED " + refused);
                        final MemorySegment o = order.segment();
                        // release: pairs with the server's getAcquire(STATE) before it starts adding too.
                        SharedDataWritableTest.STATE.setRelease(o, 1);
                        for (int i = 0; i < adds; i++) {
                            SharedDataWritableTest.FILLED.getAndAdd(o, 1);
                        }
                        for (int i = 0; i < fills.length(); i++) {
                            fills.setLong(i, i * 7L + 1);
                        }
                        order.set(SharedDataWritableTest.FILLS, fills);
                        // release: the fills and the reference are written before; pairs with the server's
                        // getAcquire(STATE) == 2.
                        SharedDataWritableTest.STATE.setRelease(o, 2);
                        receive(channel);
                    }
                }
                default -> throw new IllegalArgumentException(mode);
            }
            System.out.println("END");
        }
        System.out.flush();
        System.exit(0);
    }

    /** A quote whose history has {@code prices} prices, its venue a string. */
    static SharedStruct build(final SharedData data, final int prices, final String venue) {
        final SharedStruct quote = data.allocate(QUOTE);
        final SharedArray history = data.allocateArray(PRICE, prices);
        final SharedString name = data.allocateString(venue);
        final LongField mantissa = PRICE.longField("mantissa");
        for (int i = 0; i < prices; i++) {
            mantissa.set(history.segment(), history.elementOffset(i), 1_000_003L * i ^ 0x5555);
        }
        INSTRUMENT.set(quote.segment(), prices);
        quote.set(HISTORY, history);
        quote.set(VENUE, name);
        // The record refers to them: they live as long as the arena, which the session closes.
        return quote;
    }

    static long checksum(final SharedStruct quote) {
        final SharedArray history = quote.followArray(HISTORY, PRICE);
        final LongField mantissa = PRICE.longField("mantissa");
        long sum = INSTRUMENT.get(quote.segment()) * 31;
        for (long i = 0; i < history.length(); i++) {
            sum = sum * 31 + mantissa.get(history.segment(), history.elementOffset(i));
        }
        return sum;
    }

    static void sendRef(final BlobChannel channel, final DataRef ref) {
        final byte[] wire = ref.toBytes();
        if (!channel.offer(wire, 0, wire.length, TIMEOUT_NS)) {
            throw new IllegalStateException("no room to send " + ref);
        }
    }

    static void send(final BlobChannel channel, final String text) {
        final byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        if (!channel.offer(bytes, 0, bytes.length, TIMEOUT_NS)) {
            throw new IllegalStateException("no room to send " + text);
        }
    }

    /** Waits for one blob: a data reference if it parses as one, else null (a text message). */
    static DataRef receive(final BlobChannel channel) {
        final byte[][] received = new byte[1][];
        final long deadline = System.nanoTime() + TIMEOUT_NS;
        while (received[0] == null) {
            if (System.nanoTime() - deadline > 0) {
                throw new IllegalStateException("nothing received in 30 s");
            }
            channel.poll((buffer, offset, length) -> received[0] = buffer.asSlice(offset, length)
                .toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), 1, TimeUnit.MILLISECONDS.toNanos(100));
        }
        return received[0].length == DataDescriptor.WIRE_REF_LENGTH
            ? DataRef.readFrom(MemorySegment.ofArray(received[0]), 0) : textOrNull(received[0]);
    }

    private static DataRef textOrNull(final byte[] bytes) {
        if (bytes.length == 0) {
            throw new IllegalStateException("an empty blob: " + Arrays.toString(bytes));
        }
        return null;
    }
}
