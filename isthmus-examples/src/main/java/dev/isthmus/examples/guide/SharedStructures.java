/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.examples.guide;

import dev.isthmus.data.DataRef;
import dev.isthmus.data.LongField;
import dev.isthmus.data.PeerAccess;
import dev.isthmus.data.RefField;
import dev.isthmus.data.SharedData;
import dev.isthmus.data.SharedString;
import dev.isthmus.data.SharedStruct;
import dev.isthmus.data.ShmMap;
import dev.isthmus.data.ShmMapOptions;
import dev.isthmus.data.StructType;
import dev.isthmus.session.Channel;
import dev.isthmus.session.Session;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The guide's native structures: a record with a reference to a string, lent over a channel and read in place
 * by the peer; a record lent read-write, which the peer fills in place; and a shared map lent read-only.
 */
public final class SharedStructures {
    // guide:shared-types:begin
    static final StructType QUOTE = StructType.of("Quote", MemoryLayout.structLayout(
        JAVA_LONG.withName("instrument"),
        JAVA_LONG.withName("bid"),
        RefField.LAYOUT.withName("venue")));
    static final LongField INSTRUMENT = QUOTE.longField("instrument");   // flyweights: an offset the JIT folds
    static final LongField BID = QUOTE.longField("bid");
    static final RefField VENUE = QUOTE.refField("venue");
    // guide:shared-types:end

    private SharedStructures() {
    }

    // guide:shared-lend:begin
    /** Lends quotes to the peer of a zero-copy session; the venue they refer to lives as long as this does. */
    static final class QuotePublisher implements AutoCloseable {
        private final SharedData data;
        private final SharedString xlon;

        QuotePublisher(Session session) {
            data = SharedData.of(session);      // one per session: an object belongs to the SharedData that made it
            xlon = data.allocateString("XLON"); // every quote refers to it: kept open, not closed with a quote
        }

        boolean publish(Channel channel, long instrument, long bid) {
            try (SharedStruct quote = data.allocate(QUOTE)) {
                INSTRUMENT.set(quote.segment(), instrument);
                BID.setRelease(quote.segment(), bid);
                quote.set(VENUE, xlon);
                return data.lend(quote, channel.blobs(), TimeUnit.SECONDS.toNanos(1));   // 40 bytes cross
            }                   // this side lets go; the block lives on until the peer closes what it borrowed
        }

        @Override
        public void close() {
            xlon.close();
        }
    }
    // guide:shared-lend:end

    /**
     * Receives a quote the peer lent, and describes it.
     *
     * @param session the session
     * @param channel the channel the quote comes on
     * @return {@code "<venue> <instrument> <bid>"}, or {@code null} if nothing came within 5 s
     */
    public static String borrowQuote(final Session session, final Channel channel) {
        // guide:shared-borrow:begin
        SharedData data = SharedData.of(session);                  // or the one this side keeps for the session
        String[] seen = new String[1];
        channel.blobs().poll((buffer, offset, length) -> {
            try (SharedStruct quote = data.borrowStruct(DataRef.readFrom(buffer, offset), QUOTE)) {
                long bid = BID.getAcquire(quote.segment());        // in place, in the peer's memory; read-only
                String venue = quote.followString(VENUE).toString();   // checked before it is read
                seen[0] = venue + " " + INSTRUMENT.get(quote.segment()) + " " + bid;
            }                                                      // gives the peer its block back
        }, 1, TimeUnit.SECONDS.toNanos(5));
        // guide:shared-borrow:end
        return seen[0];
    }

    // guide:shared-order-type:begin
    static final StructType ORDER = StructType.of("Order", MemoryLayout.structLayout(
        JAVA_LONG.withName("quantity"),
        JAVA_LONG.withName("filled"),
        JAVA_LONG.withName("done")));
    static final LongField QUANTITY = ORDER.longField("quantity");
    static final LongField FILLED = ORDER.longField("filled");
    static final LongField DONE = ORDER.longField("done");
    // guide:shared-order-type:end

    /**
     * Lends an order read-write to the peer, which fills it in place.
     *
     * @param data    this side's shared data of the session
     * @param channel the channel to the peer
     * @return the order, for the caller to read and close
     */
    public static SharedStruct lendOrder(final SharedData data, final Channel channel) {
        // guide:shared-order-lend:begin
        SharedStruct order = data.allocate(ORDER, PeerAccess.READ_WRITE);  // in the pool the peer maps read-write
        QUANTITY.set(order.segment(), 500);
        if (!data.lend(order, channel.blobs(), TimeUnit.SECONDS.toNanos(1))) {
            order.close();
            throw new IllegalStateException("the channel stayed full");
        }
        // ... later: DONE.getAcquire(order.segment()) == 1 says the peer's writes are all visible
        // guide:shared-order-lend:end
        return order;
    }

    /**
     * Borrows the order the peer lent and fills it in place.
     *
     * @param session the session
     * @param channel the channel the order comes on
     * @return whether an order came within 5 s
     */
    public static boolean fillOrder(final Session session, final Channel channel) {
        SharedData data = SharedData.of(session);
        return channel.blobs().poll((buffer, offset, length) -> {
            // guide:shared-order-fill:begin
            try (SharedStruct order = data.borrowStruct(DataRef.readFrom(buffer, offset), ORDER)) {
                MemorySegment o = order.segment();                  // writable: order.isReadOnly() == false
                FILLED.getAndAdd(o, QUANTITY.get(o));               // atomic across processes
                DONE.setRelease(o, 1);                              // publishes the fill to the lender
            }
            // guide:shared-order-fill:end
        }, 1, TimeUnit.SECONDS.toNanos(5)) == 1;
    }

    /**
     * Creates a map of 8-byte keys to 64-byte values, fills one entry, and lends it read-only to the peer.
     *
     * @param channel the channel to the peer
     * @return the map, for the caller to close
     */
    public static ShmMap lendMap(final Channel channel) {
        // guide:shm-map-lend:begin
        ShmMap features = ShmMap.create("pricer", "features", ShmMapOptions.builder()
            .capacity(16_384).maxKeyBytes(8).maxValueBytes(64).stripes(64)
            .peersReadOnly()                    // only this side will ever write it
            .build());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = arena.allocate(64, 8);
            value.set(JAVA_LONG, 0, 101_25);
            if (!features.put(42L, value)) {                        // false: the key's stripe is full
                throw new IllegalStateException("no room for key 42");
            }
        }
        // Over the channel's handle pipe, as a descriptor the peer cannot map for writing.
        if (!features.lend(channel.handles(), false, TimeUnit.SECONDS.toNanos(5))) {
            throw new IllegalStateException("the peer's handle pipe stayed full");
        }
        // guide:shm-map-lend:end
        return features;
    }

    /**
     * Borrows the map the peer lent and reads one entry.
     *
     * @param channel the channel the map comes on
     * @return the first {@code long} of key 42's value, or -1 if the key is absent
     */
    public static long borrowMap(final Channel channel) {
        // guide:shm-map-borrow:begin
        try (ShmMap features = ShmMap.borrow(channel.handles(), TimeUnit.SECONDS.toNanos(30), false);
             Arena arena = Arena.ofConfined()) {
            MemorySegment value = arena.allocate(64, 8);
            long length = features.get(42L, value);               // copied out; no lock, never torn
            return length < 0 ? -1 : value.get(JAVA_LONG, 0);
        }
        // guide:shm-map-borrow:end
    }
}
