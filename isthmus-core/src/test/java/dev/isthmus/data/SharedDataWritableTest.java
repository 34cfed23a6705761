/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import dev.isthmus.arena.ArenaOptions;
import dev.isthmus.arena.ArenaView;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.arena.ShmBlock;
import dev.isthmus.arena.ShmHandle;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.isthmus.data.SharedDataTest.INSTRUMENT;
import static dev.isthmus.data.SharedDataTest.QUOTE;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Objects lent read-write ({@link PeerAccess#READ_WRITE}): they live in the sealed arena's second pool, which
 * the peer maps read-write, while everything else stays in the pool it maps read-only. Both ends in this JVM,
 * the pools handed over as descriptors exactly as a session hands them over; the cross-process test does the
 * same between two JVMs. The hostile tests map the writable pool as a peer holds it and write the worst into it.
 */
class SharedDataWritableTest {
    private static final AtomicInteger GROUPS = new AtomicInteger();
    private static final ArenaOptions OPTIONS = ArenaOptions.defaults().withSealedPoolBytes(16L << 20)
        .withWritablePoolBytes(4L << 20);

    static final StructType ORDER = StructType.of("Order", MemoryLayout.structLayout(
        JAVA_LONG.withName("quantity"),
        JAVA_LONG.withName("filled"),
        JAVA_LONG.withName("state"),
        RefField.LAYOUT.withName("fills")));
    static final LongField QUANTITY = ORDER.longField("quantity");
    static final LongField FILLED = ORDER.longField("filled");
    static final LongField STATE = ORDER.longField("state");
    static final RefField FILLS = ORDER.refField("fills");

    private record Pair(ShmArena arena, ArenaView view, SharedData owner, SharedData borrower) implements AutoCloseable {
        @Override
        public void close() {
            view.close();
            arena.close();
        }
    }

    private static Pair pair(final boolean withWritablePool) {
        final String group = "w" + GROUPS.incrementAndGet();
        final ShmArena arena = ShmArena.createSealed("datawtest", group, 6, OPTIONS);
        final ArenaView view = ArenaView.createSealed("datawtest", ProcessIdentity.current(), group, 6, OPTIONS);
        view.attachPool(arena.poolDescriptor());
        if (withWritablePool) {
            view.attachWritablePool(arena.writablePoolDescriptor());
        }
        arena.attachReturns(view.returnsDescriptor());
        return new Pair(arena, view, SharedData.of(arena, null), SharedData.of(arena, view));
    }

    /** The writable pool mapped as the peer maps it: all of it, read-write. */
    private static SharedMemory mapAsThePeer(final ShmArena arena) {
        return SharedMemory.adopt(arena.writablePoolDescriptor(), new ResourceName(ResourceName.configuredPrefix(),
            "datawtest", ProcessHandle.current().pid(), "arena", arena.group() + "-hostile"), true,
            OPTIONS.writablePoolBytes());
    }

    @Test
    void shouldLetBothSidesUpdateARecordLentReadWriteInPlace() {
        try (Pair pair = pair(true)) {
            final DataRef ref;
            try (SharedStruct order = pair.owner.allocate(ORDER, PeerAccess.READ_WRITE)) {
                assertEquals(PeerAccess.READ_WRITE, order.peerAccess());
                assertFalse(order.isReadOnly());
                QUANTITY.set(order.segment(), 1000);
                ref = pair.owner.lend(order);
                try (SharedStruct borrowed = pair.borrower.borrowStruct(ref, ORDER)) {
                    assertTrue(borrowed.isBorrowed());
                    assertFalse(borrowed.isReadOnly(), "the lender allowed writes");
                    assertEquals(PeerAccess.READ_WRITE, borrowed.peerAccess());
                    assertEquals(1000, QUANTITY.get(borrowed.segment()));
                    assertEquals(0, FILLED.getAndAdd(borrowed.segment(), 300));
                    assertEquals(300, FILLED.getAndAdd(order.segment(), 200), "the owner sees the peer's add");
                    assertTrue(STATE.compareAndSet(borrowed.segment(), 0, 2));
                    assertFalse(STATE.compareAndSet(order.segment(), 0, 3), "the peer's CAS is visible to the owner's");
                    STATE.setRelease(order.segment(), 7);
                    assertEquals(7, STATE.getAcquire(borrowed.segment()));
                    assertEquals(500, FILLED.getVolatile(borrowed.segment()));
                    assertEquals(ORDER.byteSize(), borrowed.segment().byteSize(), "no wider than the record");
                }
            }
            assertEquals(0, pair.arena.allocatedBytes(), "freed once both let go");
            assertEquals(0, pair.arena.refusedReturns());
        }
    }

    @Test
    void shouldKeepWhatIsLentReadOnlyReadOnlyBesideWhatIsLentReadWrite() {
        try (Pair pair = pair(true);
             SharedStruct readOnly = pair.owner.allocate(QUOTE);
             SharedArray writable = pair.owner.allocateArray(JAVA_LONG, 64, PeerAccess.READ_WRITE);
             SharedArray readOnlyArray = pair.owner.allocateArray(JAVA_LONG, 64)) {
            assertEquals(PeerAccess.READ_ONLY, readOnly.peerAccess());
            assertEquals(0, readOnly.ref().handle().pool());
            assertEquals(1, writable.ref().handle().pool(), "the writable pool");
            try (SharedStruct quote = pair.borrower.borrowStruct(pair.owner.lend(readOnly), QUOTE);
                 SharedArray longs = pair.borrower.borrowArray(pair.owner.lend(writable), JAVA_LONG);
                 SharedArray fixed = pair.borrower.borrowArray(pair.owner.lend(readOnlyArray), JAVA_LONG)) {
                assertTrue(quote.isReadOnly());
                assertThrows(IllegalArgumentException.class, () -> INSTRUMENT.set(quote.segment(), 1));
                assertTrue(fixed.isReadOnly());
                assertThrows(IllegalArgumentException.class, () -> fixed.setLong(0, 1));
                assertFalse(longs.isReadOnly());
                for (int i = 0; i < 64; i++) {
                    longs.setLong(i, i * 7L + 1);
                }
                for (int i = 0; i < 64; i++) {
                    assertEquals(i * 7L + 1, writable.getLong(i));
                }
                assertThrows(IndexOutOfBoundsException.class, () -> longs.setLong(64, 1));
            }
        }
    }

    @Test
    void shouldLetTheBorrowerReferToTheLendersObjectsAndNothingElse() {
        try (Pair pair = pair(true);
             SharedStruct order = pair.owner.allocate(ORDER, PeerAccess.READ_WRITE);
             SharedArray fills = pair.owner.allocateArray(JAVA_LONG, 8, PeerAccess.READ_WRITE);
             SharedStruct own = pair.owner.allocate(ORDER)) {
            fills.setLong(3, 42);
            try (SharedStruct borrowed = pair.borrower.borrowStruct(pair.owner.lend(order), ORDER);
                 SharedArray borrowedFills = pair.borrower.borrowArray(pair.owner.lend(fills), JAVA_LONG)) {
                borrowed.set(FILLS, borrowedFills);
                assertEquals(42, borrowed.followArray(FILLS, JAVA_LONG).getLong(3), "the peer follows what it stored");
                final SharedArray followed = order.followArray(FILLS, JAVA_LONG);
                assertNotNull(followed, "the lender follows what the peer stored");
                assertEquals(42, followed.getLong(3));
                assertFalse(followed.isReadOnly(), "the lender's own object, writable here");
                assertThrows(IllegalArgumentException.class, () -> pair.owner.lend(followed),
                    "a followed object holds no reference to lend");
                assertThrows(IllegalArgumentException.class, () -> borrowed.set(FILLS, own),
                    "a peer's record cannot refer to this process's own objects");
                assertThrows(IllegalArgumentException.class, () -> order.set(FILLS, borrowedFills),
                    "nor this process's record to the peer's");
                borrowed.set(FILLS, null);
                assertEquals(null, order.followArray(FILLS, JAVA_LONG));
            }
        }
    }

    @Test
    void shouldRefuseHandlesOfTheWritablePoolUntilItArrivesAndRefuseAReadOnlyOrWrongPool() {
        try (Pair pair = pair(false); SharedStruct order = pair.owner.allocate(ORDER, PeerAccess.READ_WRITE)) {
            final DataRef ref = pair.owner.lend(order);
            assertThrows(CorruptDataException.class, () -> pair.borrower.borrowStruct(ref, ORDER));
            // Handed over read-only where it must be writable, or the read-only pool in its place: refused.
            final int readWrite = pair.arena.writablePoolDescriptor();
            final int readOnly = dev.isthmus.internal.linux.FileIo.reopen(readWrite,
                dev.isthmus.internal.linux.FileIo.O_RDONLY, "test");
            dev.isthmus.internal.linux.FileIo.close(readWrite);
            assertThrows(CorruptDataException.class, () -> pair.view.attachWritablePool(readOnly));
            assertThrows(CorruptDataException.class, () -> pair.view.attachWritablePool(pair.arena.poolDescriptor()));
            pair.view.attachWritablePool(pair.arena.writablePoolDescriptor());
            pair.borrower.borrowStruct(pair.owner.lend(order), ORDER).close();
            pair.owner.unlend(order);
        }
    }

    @Test
    void shouldRefuseToLendWritableFromAnArenaOfNamedPools() {
        try (ShmArena named = ShmArena.create("datawtest", "n" + GROUPS.incrementAndGet(), 7, ArenaOptions.defaults())) {
            final SharedData data = SharedData.of(named, null);
            assertThrows(UnsupportedOperationException.class, () -> data.allocate(ORDER, PeerAccess.READ_WRITE));
            assertThrows(IllegalStateException.class, () -> named.allocatePeerWritable(64));
            assertEquals(0, named.poolCount(), "nothing was created");
        }
    }

    @Test
    void shouldSayWhichPoolIsFullAndKeepTheOtherUsable() {
        try (Pair pair = pair(true)) {
            final List<SharedArray> held = new ArrayList<>();
            final IsthmusException full = assertThrows(IsthmusException.class, () -> {
                while (true) {
                    held.add(pair.owner.allocateArray(JAVA_LONG, 1 << 15, PeerAccess.READ_WRITE));
                }
            });
            assertTrue(full.getMessage().contains("peer-writable") && full.getMessage().contains("writablePoolBytes"),
                full.getMessage());
            assertTrue(held.size() >= 4, "4 MiB hold several 256 KiB arrays: " + held.size());
            pair.owner.allocateArray(JAVA_LONG, 1 << 15).close();
            held.forEach(SharedArray::close);
            pair.owner.allocateArray(JAVA_LONG, 1 << 15, PeerAccess.READ_WRITE).close();
            assertEquals(0, pair.arena.allocatedBytes());
        }
    }

    /**
     * The peer writes garbage over the whole start of the writable pool (its header, every block header, every
     * object header, every reference): the owner's view of its own objects does not change, every reference it
     * follows is checked, and its allocator hands out no memory twice.
     */
    @Test
    void shouldSurviveAPeerThatScribblesOverTheWholeWritablePool() {
        try (Pair pair = pair(true); SharedMemory hostile = mapAsThePeer(pair.arena)) {
            final SharedStruct order = pair.owner.allocate(ORDER, PeerAccess.READ_WRITE);
            final SharedArray fills = pair.owner.allocateArray(JAVA_LONG, 100, PeerAccess.READ_WRITE);
            final SharedStruct target = pair.owner.allocate(ORDER, PeerAccess.READ_WRITE);
            order.set(FILLS, fills);
            final MemorySegment pool = hostile.segment();
            final SplittableRandom random = new SplittableRandom(31);
            final long scribbled = 256 << 10;
            for (long at = 0; at < scribbled; at += 8) {
                pool.set(JAVA_LONG, at, random.nextInt(4) == 0 ? random.nextLong() : random.nextLong(1 << 12));
            }
            try (SharedArray fresh = pair.owner.allocateArray(JAVA_LONG, 1000, PeerAccess.READ_WRITE)) {
                assertTrue(fresh.ref().handle().offset() < scribbled, "carved where the peer scribbled");
                for (int i = 0; i < 1000; i++) {
                    assertEquals(0, fresh.getLong(i), "a fresh writable object is all zero, whatever the peer wrote");
                }
            }
            assertEquals(100, fills.length(), "the owner's length is its own");
            assertEquals(800, fills.segment().byteSize());
            assertEquals(ORDER.byteSize(), order.segment().byteSize());
            // References the peer forges in the owner's record: each is refused, is null, or names a real
            // object of the owner's arena that passed every check.
            final long[] kinds = new long[3];
            for (int i = 0; i < 20_000; i++) {
                final ShmHandle handle = switch (i % 4) {
                    case 0 -> new ShmHandle(random.nextInt(3) - 1, random.nextInt(4), random.nextLong(), random.nextLong());
                    case 1 -> new ShmHandle(1, random.nextInt(3), random.nextLong(scribbled) & -256, random.nextLong(4096));
                    case 2 -> target.ref().handle();
                    default -> new ShmHandle(0, 1, random.nextLong(1 << 20) & -256, random.nextLong(4096));
                };
                final long tag = i % 3 == 0 ? ORDER.typeTag() : random.nextLong();
                FILLS.set(order.segment(), new DataRef(handle, tag));
                try {
                    final SharedStruct followed = order.follow(FILLS, ORDER);
                    kinds[followed == null ? 2 : 0]++;     // offset 0 is a null reference
                } catch (final CorruptDataException expected) {
                    kinds[1]++;
                } catch (final RuntimeException e) {
                    fail("a forged reference " + handle + " threw " + e, e);
                }
            }
            assertTrue(kinds[1] > 0, "forgeries were refused");
            // The owner's allocator never reads the pool back: blocks held at once never overlap.
            final List<ShmBlock> blocks = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                final long length = 1 + random.nextLong(6000);
                blocks.add(random.nextBoolean() ? pair.arena.allocatePeerWritable(length) : pair.arena.allocateZeroed(length));
                if (i % 3 == 0) {
                    blocks.remove(random.nextInt(blocks.size())).close();
                }
            }
            for (int i = 0; i < blocks.size(); i++) {
                blocks.get(i).segment().fill((byte) i);
            }
            for (int i = 0; i < blocks.size(); i++) {
                final MemorySegment payload = blocks.get(i).segment();
                for (long at = 0; at < payload.byteSize(); at++) {
                    if (payload.get(JAVA_BYTE, at) != (byte) i) {
                        fail("block " + i + " was handed out over another one, at byte " + at);
                    }
                }
            }
            blocks.forEach(ShmBlock::close);
            order.close();
            fills.close();
            target.close();
            assertEquals(0, pair.arena.allocatedBytes(), "everything freed, whatever the pool says");
            assertEquals(0, pair.arena.refusedReturns());
        }
    }
}
