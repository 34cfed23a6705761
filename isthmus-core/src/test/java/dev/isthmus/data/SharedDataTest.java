/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.CorruptDataException;
import dev.isthmus.arena.ArenaOptions;
import dev.isthmus.arena.ArenaView;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.arena.ShmHandle;
import dev.isthmus.shm.ProcessIdentity;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;

import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Records, arrays, strings and references in a sealed arena, lent to a view of it as a session's peer would
 * hold one: both ends in this JVM, the descriptors handed over as they are over {@code SCM_RIGHTS}. The
 * cross-process test does the same between two JVMs.
 */
class SharedDataTest {
    private static final AtomicInteger GROUPS = new AtomicInteger();
    private static final ArenaOptions OPTIONS = ArenaOptions.defaults().withSealedPoolBytes(16L << 20);

    static final StructType PRICE = StructType.of("Price", MemoryLayout.structLayout(
        JAVA_LONG.withName("mantissa"),
        JAVA_INT.withName("exponent"),
        MemoryLayout.paddingLayout(4)));
    static final StructType QUOTE = StructType.of("Quote", MemoryLayout.structLayout(
        JAVA_LONG.withName("instrument"),
        PRICE.layout().withName("bid"),
        PRICE.layout().withName("ask"),
        JAVA_INT.withName("size"),
        ValueLayout.JAVA_BYTE.withName("side"),
        MemoryLayout.paddingLayout(3),
        MemoryLayout.sequenceLayout(4, JAVA_DOUBLE).withName("weights"),
        RefField.LAYOUT.withName("venue"),
        RefField.LAYOUT.withName("history"),
        RefField.LAYOUT.withName("next")));
    static final LongField INSTRUMENT = QUOTE.longField("instrument");
    static final LongField BID = QUOTE.longField("bid", "mantissa");
    static final IntField BID_EXPONENT = QUOTE.intField("bid", "exponent");
    static final IntField SIZE = QUOTE.intField("size");
    static final ByteField SIDE = QUOTE.byteField("side");
    static final RefField VENUE = QUOTE.refField("venue");
    static final RefField HISTORY = QUOTE.refField("history");
    static final RefField NEXT = QUOTE.refField("next");

    public record Price(long mantissa, int exponent) {
    }

    public record Quote(long instrument, Price bid, Price ask, int size, byte side, double[] weights, DataRef venue) {
    }

    private record Pair(ShmArena arena, ArenaView view, SharedData owner, SharedData borrower) implements AutoCloseable {
        @Override
        public void close() {
            view.close();
            arena.close();
        }
    }

    private static Pair pair() {
        final String group = "d" + GROUPS.incrementAndGet();
        final ShmArena arena = ShmArena.createSealed("datatest", group, 5, OPTIONS);
        final ArenaView view = ArenaView.createSealed("datatest", ProcessIdentity.current(), group, 5, OPTIONS);
        view.attachPool(arena.poolDescriptor());
        arena.attachReturns(view.returnsDescriptor());
        // The borrower allocates nothing here; its SharedData only needs the view.
        return new Pair(arena, view, SharedData.of(arena, null), SharedData.of(arena, view));
    }

    @Test
    void shouldRefuseLayoutsThatTwoProcessesCouldReadDifferently() {
        assertThrows(IllegalArgumentException.class, () -> StructType.of("Unnamed",
            MemoryLayout.structLayout(JAVA_LONG, JAVA_INT.withName("b"), MemoryLayout.paddingLayout(4))));
        assertThrows(IllegalArgumentException.class, () -> StructType.of("Pointer",
            MemoryLayout.structLayout(ValueLayout.ADDRESS.withName("p"))));
        assertThrows(IllegalArgumentException.class, () -> StructType.of("Tail",
            MemoryLayout.structLayout(JAVA_LONG.withName("a"), JAVA_INT.withName("b"))), "no trailing padding");
        assertThrows(IllegalArgumentException.class, () -> StructType.of("Order", MemoryLayout.structLayout(
            JAVA_LONG.withOrder(ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN ? ByteOrder.LITTLE_ENDIAN
                : ByteOrder.BIG_ENDIAN).withName("a"))));
        assertThrows(IllegalArgumentException.class, () -> StructType.of("Unaligned", MemoryLayout.structLayout(
            JAVA_INT.withName("a"), ValueLayout.JAVA_LONG_UNALIGNED.withName("b"), MemoryLayout.paddingLayout(4))));
        final StructLayout union = MemoryLayout.structLayout(MemoryLayout.unionLayout(JAVA_LONG.withName("x"),
            JAVA_DOUBLE.withName("y")).withName("u"));
        assertThrows(IllegalArgumentException.class, () -> StructType.of("Union", union));
        assertThrows(IllegalArgumentException.class, () -> QUOTE.longField("size"), "an int is not a long");
        assertThrows(IllegalArgumentException.class, () -> QUOTE.longField("nothing"));
        assertThrows(IllegalArgumentException.class, () -> QUOTE.refField("instrument"));
    }

    @Test
    void shouldGiveEveryShapeItsOwnTagAndTheSameShapeTheSameTag() {
        final StructLayout layout = MemoryLayout.structLayout(JAVA_LONG.withName("a"), JAVA_LONG.withName("b"));
        assertEquals(StructType.of("T", layout).typeTag(), StructType.of("T", layout).typeTag());
        assertNotEquals(StructType.of("T", layout).typeTag(), StructType.of("U", layout).typeTag());
        assertNotEquals(StructType.of("T", layout).typeTag(), StructType.of("T", MemoryLayout.structLayout(
            JAVA_LONG.withName("b"), JAVA_LONG.withName("a"))).typeTag(), "members swapped");
        assertNotEquals(StructType.of("T", layout).typeTag(), StructType.of("T", MemoryLayout.structLayout(
            JAVA_LONG.withName("a"), ValueLayout.JAVA_DOUBLE.withName("b"))).typeTag(), "a member's type changed");
        assertEquals(8, QUOTE.offset("bid"));
        assertEquals(16, QUOTE.offset("bid", "exponent"));
    }

    @Test
    void shouldLendARecordThePeerReadsInPlaceAndCannotWrite() {
        try (Pair pair = pair()) {
            final DataRef ref;
            try (SharedStruct quote = pair.owner.allocate(QUOTE)) {
                final MemorySegment s = quote.segment();
                INSTRUMENT.set(s, 42);
                BID.setRelease(s, 101_25);
                BID_EXPONENT.set(s, -2);
                SIZE.set(s, 500);
                assertTrue(SIZE.compareAndSet(s, 500, 600));
                assertEquals(600, SIZE.getAndAdd(s, 5));
                SIDE.set(s, (byte) 'B');
                ref = pair.owner.lend(quote);
            }
            assertTrue(pair.arena.allocatedBytes() > 0, "the lent reference keeps the record");
            try (SharedStruct quote = pair.borrower.borrowStruct(DataRef.fromBytes(ref.toBytes()), QUOTE)) {
                final MemorySegment s = quote.segment();
                assertTrue(quote.isBorrowed() && quote.isReadOnly());
                assertEquals(42, INSTRUMENT.get(s));
                assertEquals(101_25, BID.getAcquire(s));
                assertEquals(-2, BID_EXPONENT.get(s));
                assertEquals(605, SIZE.getVolatile(s));
                assertEquals('B', SIDE.get(s));
                assertThrows(IllegalArgumentException.class, () -> INSTRUMENT.set(s, 1), "read-only mapping");
                assertEquals(QUOTE.byteSize(), s.byteSize());
            }
            assertEquals(0, pair.arena.allocatedBytes(), "freed when the last holder let go");
            assertEquals(0, pair.arena.refusedReturns());
        }
    }

    @Test
    void shouldCopyRecordsToAndFromJavaRecords() {
        final RecordMapper<Quote> mapper = QUOTE.mapper(Quote.class);
        try (Pair pair = pair(); SharedStruct quote = pair.owner.allocate(QUOTE);
             SharedString venue = pair.owner.allocateString("XLON")) {
            final Quote value = new Quote(7, new Price(101_25, -2), new Price(101_30, -2), 500, (byte) 'S',
                new double[] {0.5, 0.25, 0.125, 0.0625}, venue.ref());
            mapper.write(value, quote.segment());
            assertEquals(101_30, QUOTE.longField("ask", "mantissa").get(quote.segment()));
            try (SharedStruct borrowed = pair.borrower.borrowStruct(pair.owner.lend(quote), QUOTE)) {
                final Quote copy = mapper.read(borrowed.segment());
                assertEquals(value.instrument(), copy.instrument());
                assertEquals(value.bid(), copy.bid());
                assertEquals(value.ask(), copy.ask());
                assertEquals(value.size(), copy.size());
                assertEquals(value.side(), copy.side());
                assertArrayEquals(value.weights(), copy.weights());
                assertEquals(value.venue(), copy.venue());
                assertEquals("XLON", borrowed.followString(VENUE).toString());
            }
            assertThrows(IllegalArgumentException.class, () -> mapper.write(new Quote(1, new Price(1, 1), new Price(1, 1),
                1, (byte) 1, new double[3], null), quote.segment()), "a fixed array of 4 needs 4");
        }
        record Wrong(long instrument, int bid) {
        }
        assertThrows(IllegalArgumentException.class, () -> QUOTE.mapper(Wrong.class));
    }

    @Test
    void shouldShareArraysAndStringsAndFollowReferencesOnBothSides() {
        try (Pair pair = pair()) {
            final SharedStruct head = pair.owner.allocate(QUOTE);
            final SharedStruct next = pair.owner.allocate(QUOTE);
            final SharedArray history = pair.owner.allocateArray(PRICE, 1000);
            final SharedArray ticks = pair.owner.allocateArray(JAVA_LONG, 3);
            final SharedString venue = pair.owner.allocateString("Börse Frankfurt ✓");
            final LongField mantissa = PRICE.longField("mantissa");
            for (long i = 0; i < history.length(); i++) {
                mantissa.set(history.segment(), history.elementOffset(i), i * 3);
            }
            ticks.setLong(2, 99);
            head.set(VENUE, venue);
            head.set(HISTORY, history);
            head.set(NEXT, next);
            INSTRUMENT.set(next.segment(), 8);
            NEXT.set(next.segment(), ticks.ref());
            final DataRef ref = pair.owner.lend(head);

            assertEquals(8, INSTRUMENT.get(head.follow(NEXT, QUOTE).segment()), "the owner follows its own references");
            INSTRUMENT.set(head.follow(NEXT, QUOTE).segment(), 9);
            assertEquals(9, INSTRUMENT.get(next.segment()), "and writes through them");
            INSTRUMENT.set(next.segment(), 8);
            try (SharedStruct borrowed = pair.borrower.borrowStruct(ref, QUOTE)) {
                assertEquals("Börse Frankfurt ✓", borrowed.followString(VENUE).toString());
                assertTrue(borrowed.followString(VENUE).contentEquals("Börse Frankfurt ✓"));
                final SharedArray prices = borrowed.followArray(HISTORY, PRICE);
                assertEquals(1000, prices.length());
                long sum = 0;
                for (long i = 0; i < prices.length(); i++) {
                    sum += mantissa.get(prices.segment(), prices.elementOffset(i));
                }
                assertEquals(3L * 999 * 1000 / 2, sum);
                assertThrows(IndexOutOfBoundsException.class, () -> prices.elementOffset(1000));
                final SharedStruct second = borrowed.follow(NEXT, QUOTE);
                assertEquals(8, INSTRUMENT.get(second.segment()));
                assertTrue(second.isReadOnly());
                assertThrows(CorruptDataException.class, () -> second.follow(NEXT, QUOTE),
                    "next.next is an array of longs, not a Quote");
                final SharedArray longs = second.followArray(NEXT, JAVA_LONG);
                assertEquals(99, longs.getLong(2));
                assertThrows(IllegalStateException.class, () -> longs.getInt(0));
                assertNull(second.followString(VENUE), "a null reference");
            }
            venue.close();
            assertThrows(CorruptDataException.class, () -> head.followString(VENUE), "the owner freed the string");
            try (SharedStruct again = pair.borrower.borrowStruct(pair.owner.lend(head), QUOTE)) {
                assertThrows(CorruptDataException.class, () -> again.followString(VENUE),
                    "a stale reference is refused by its generation");
            }
            head.close();
            next.close();
            history.close();
            ticks.close();
            assertEquals(0, pair.arena.allocatedBytes());
        }
    }

    @Test
    void shouldRefuseForgedReferencesWithoutReadingOutsideThePool() {
        try (Pair pair = pair(); SharedStruct quote = pair.owner.allocate(QUOTE);
             SharedArray prices = pair.owner.allocateArray(PRICE, 10)) {
            final DataRef good = pair.owner.lend(quote);
            final long tag = QUOTE.typeTag();
            final ShmHandle h = good.handle();
            final DataRef[] forged = {
                new DataRef(new ShmHandle(h.pool(), h.generation() + 1, h.offset(), h.length()), tag),
                new DataRef(new ShmHandle(h.pool() + 1, h.generation(), h.offset(), h.length()), tag),
                new DataRef(new ShmHandle(h.pool(), h.generation(), h.offset() + 8, h.length()), tag),
                new DataRef(new ShmHandle(h.pool(), h.generation(), h.offset(), 1L << 40), tag),
                new DataRef(new ShmHandle(h.pool(), h.generation(), h.offset(), 8), tag),
                new DataRef(new ShmHandle(h.pool(), h.generation(), -4096, h.length()), tag),
                new DataRef(new ShmHandle(h.pool(), h.generation(), Long.MAX_VALUE & -256, h.length()), tag),
                new DataRef(h, PRICE.typeTag()),
                new DataRef(prices.ref().handle(), tag),
            };
            for (final DataRef ref : forged) {
                assertThrows(CorruptDataException.class, () -> pair.borrower.borrowStruct(ref, QUOTE), ref.toString());
            }
            assertThrows(CorruptDataException.class, () -> pair.borrower.borrowStruct(good, PRICE), "another type");
            assertThrows(CorruptDataException.class, () -> pair.borrower.borrowArray(good, PRICE), "not an array");
            assertThrows(CorruptDataException.class, () -> DataRef.fromBytes(new byte[39]));
            assertThrows(CorruptDataException.class, () -> DataRef.fromBytes(new byte[40]), "no magic");
            final SplittableRandom random = new SplittableRandom(12);
            for (int i = 0; i < 20_000; i++) {
                final DataRef ref = new DataRef(new ShmHandle(random.nextInt(3) - 1, random.nextInt(4),
                    random.nextBoolean() ? random.nextLong() : random.nextLong(1 << 24) & -256,
                    random.nextBoolean() ? random.nextLong() : random.nextLong(1 << 16)), tag);
                try {
                    pair.borrower.borrowStruct(ref, QUOTE).close();
                } catch (final CorruptDataException expected) {
                    // refused, as it should be
                } catch (final RuntimeException e) {
                    fail("a forged reference " + ref + " threw " + e, e);
                }
            }
            pair.borrower.borrowStruct(good, QUOTE).close();
        }
    }

    /** The lender is the peer here: it writes the worst headers it can into its own blocks. */
    @Test
    void shouldRefuseHostileHeadersAndNeverWidenWhatWasCheckedWhenTheHeaderChangesLater() {
        try (Pair pair = pair(); SharedArray ticks = pair.owner.allocateArray(JAVA_LONG, 4)) {
            final MemorySegment header = pair.arena.resolve(ticks.ref().handle());
            final long[][] hostile = {
                {DataDescriptor.COUNT_OFFSET, Long.MAX_VALUE}, {DataDescriptor.COUNT_OFFSET, -1},
                {DataDescriptor.COUNT_OFFSET, 1L << 20}, {DataDescriptor.STRIDE_OFFSET, 0},
                {DataDescriptor.STRIDE_OFFSET, 4}, {DataDescriptor.TYPE_TAG_OFFSET, 12345},
            };
            for (final long[] change : hostile) {
                final long saved = header.get(JAVA_LONG, change[0]);
                header.set(JAVA_LONG, change[0], change[1]);
                final DataRef ref = pair.owner.lend(ticks);
                assertThrows(CorruptDataException.class, () -> pair.borrower.borrowArray(ref, JAVA_LONG),
                    "header field " + change[0] + " = " + change[1]);
                header.set(JAVA_LONG, change[0], saved);
            }
            header.set(JAVA_INT, DataDescriptor.KIND_OFFSET, DataDescriptor.KIND_STRING);
            final DataRef kind = pair.owner.lend(ticks);
            assertThrows(CorruptDataException.class, () -> pair.borrower.borrowArray(kind, JAVA_LONG));
            header.set(JAVA_INT, DataDescriptor.KIND_OFFSET, DataDescriptor.KIND_ARRAY);
            try (SharedArray borrowed = pair.borrower.borrowArray(pair.owner.lend(ticks), JAVA_LONG)) {
                header.set(JAVA_LONG, DataDescriptor.COUNT_OFFSET, 1L << 30);
                assertEquals(4, borrowed.length());
                assertEquals(32, borrowed.segment().byteSize());
                assertThrows(IndexOutOfBoundsException.class, () -> borrowed.getLong(4));
            }
            ticks.close();
            assertEquals(0, pair.arena.allocatedBytes(), "every refused borrow gave its reference back");
            assertEquals(0, pair.arena.refusedReturns());
        }
    }
}
