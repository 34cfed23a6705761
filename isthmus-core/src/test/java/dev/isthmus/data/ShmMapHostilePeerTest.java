/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.shm.ProcessIdentity;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

import static dev.isthmus.data.ShmMapDescriptor.HEADER_LENGTH;
import static dev.isthmus.data.ShmMapDescriptor.KEY_LENGTH_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.KEY_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.LOCK_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.SEQ_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.STATE_FULL;
import static dev.isthmus.data.ShmMapDescriptor.STATE_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.UNDO_SLOT_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.UNDO_STATE_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.VALUE_LENGTH_OFFSET;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A peer with a writable mapping writes the worst it can: a forged header, impossible lengths and states,
 * a slot left mid-update (or slot after slot, each let go just before the read timeout), a lock held forever
 * by a live process or left by a dead one, a lock taken from under a writer that holds it, an undo record
 * naming a slot outside its stripe. The victim throws {@link CorruptDataException} or
 * {@link IsthmusTimeoutException} (within its timeout), or recovers; never an out-of-bounds access, never
 * an {@link Error}, never a hang.
 */
class ShmMapHostilePeerTest {
    private static final Duration NO_HANG = Duration.ofSeconds(30);
    private static final long TIMEOUT_NS = 200_000_000L;
    private static final ValueLayout.OfLong KEY = JAVA_LONG.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong KEY_UNALIGNED = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** A pid beyond any the kernel hands out: its process is dead. */
    private static final ProcessIdentity DEAD = new ProcessIdentity(Integer.MAX_VALUE - 1, 42);

    private static ShmMap newMap() {
        return ShmMap.create("shmmaphostile", "victim", ShmMapOptions.builder().capacity(64).stripes(4)
            .maxKeyBytes(16).maxValueBytes(32).lockTimeoutNs(TIMEOUT_NS).readTimeoutNs(TIMEOUT_NS).build());
    }

    private static byte[] value(final int fill) {
        final byte[] value = new byte[24];
        Arrays.fill(value, (byte) fill);
        return value;
    }

    private static byte[] key(final long key) {
        final byte[] bytes = new byte[8];
        MemorySegment.ofArray(bytes).set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, key);
        return bytes;
    }

    /** The geometry a hostile peer reads from the header. */
    private record Geometry(int stripes, int slotsPerStripe, int slotLength, long stripeLength) {
        static Geometry of(final MemorySegment memory) {
            return new Geometry(memory.get(JAVA_INT, ShmMapDescriptor.STRIPES_OFFSET),
                memory.get(JAVA_INT, ShmMapDescriptor.SLOTS_PER_STRIPE_OFFSET),
                memory.get(JAVA_INT, ShmMapDescriptor.SLOT_LENGTH_OFFSET),
                memory.get(JAVA_LONG, ShmMapDescriptor.STRIPE_LENGTH_OFFSET));
        }

        long stripeBase(final int stripe) {
            return HEADER_LENGTH + stripe * stripeLength;
        }

        long slot(final int stripe, final int index) {
            return stripeBase(stripe) + ShmMapDescriptor.stripeHeaderLength(slotLength) + (long) index * slotLength;
        }
    }

    /** Where a long key's entry is: {stripe, index}. */
    private static int[] find(final MemorySegment memory, final long key) {
        final Geometry g = Geometry.of(memory);
        for (int stripe = 0; stripe < g.stripes; stripe++) {
            for (int index = 0; index < g.slotsPerStripe; index++) {
                final long slot = g.slot(stripe, index);
                if (memory.get(JAVA_INT, slot + STATE_OFFSET) == STATE_FULL && memory.get(JAVA_INT, slot + KEY_LENGTH_OFFSET) == 8
                    && memory.get(KEY, slot + KEY_OFFSET) == key) {
                    return new int[] {stripe, index};
                }
            }
        }
        throw new AssertionError("key " + key + " not found");
    }

    /** Runs {@code action}, which must throw {@code expected}, without hanging. */
    private static <T extends Throwable> T assertThrowsInTime(final Class<T> expected, final Executable action) {
        return assertTimeoutPreemptively(NO_HANG, () -> assertThrows(expected, action));
    }

    // ---------------------------------------------------------------------------------------------------
    // The header

    @Test
    void shouldRefuseEveryForgedHeaderFieldAtAdopt() {
        try (ShmMap map = newMap(); ShmMap hostile = ShmMap.adopt(map.duplicateDescriptor(false), true)) {
            final MemorySegment memory = hostile.memory();
            final long total = memory.get(JAVA_LONG, ShmMapDescriptor.TOTAL_LENGTH_OFFSET);
            final long stripeLength = memory.get(JAVA_LONG, ShmMapDescriptor.STRIPE_LENGTH_OFFSET);
            final Object[][] forgeries = {
                {ShmMapDescriptor.MAGIC_OFFSET, JAVA_LONG, 0L, "magic"},
                {ShmMapDescriptor.MAGIC_OFFSET, JAVA_LONG, ShmMapDescriptor.MAGIC + 1, "magic"},
                {ShmMapDescriptor.VERSION_OFFSET, JAVA_INT, 2, "version"},
                {ShmMapDescriptor.STRIPES_OFFSET, JAVA_INT, 0, "stripes"},
                {ShmMapDescriptor.STRIPES_OFFSET, JAVA_INT, 3, "stripes"},
                {ShmMapDescriptor.STRIPES_OFFSET, JAVA_INT, -1 << 31, "stripes"},
                {ShmMapDescriptor.STRIPES_OFFSET, JAVA_INT, 1 << 17, "stripes"},
                {ShmMapDescriptor.STRIPES_OFFSET, JAVA_INT, 8, "totalLength"},
                {ShmMapDescriptor.SLOTS_PER_STRIPE_OFFSET, JAVA_INT, 0, "slotsPerStripe"},
                {ShmMapDescriptor.SLOTS_PER_STRIPE_OFFSET, JAVA_INT, -16, "slotsPerStripe"},
                {ShmMapDescriptor.SLOTS_PER_STRIPE_OFFSET, JAVA_INT, ShmMapDescriptor.MAX_SLOTS_PER_STRIPE + 1, "slotsPerStripe"},
                {ShmMapDescriptor.SLOTS_PER_STRIPE_OFFSET, JAVA_INT, 17, "stripeLength"},
                {ShmMapDescriptor.MAX_KEY_BYTES_OFFSET, JAVA_INT, 0, "maxKeyBytes"},
                {ShmMapDescriptor.MAX_KEY_BYTES_OFFSET, JAVA_INT, Integer.MAX_VALUE, "maxKeyBytes"},
                {ShmMapDescriptor.MAX_KEY_BYTES_OFFSET, JAVA_INT, 200, "slotLength"},
                {ShmMapDescriptor.MAX_VALUE_BYTES_OFFSET, JAVA_INT, -1, "maxValueBytes"},
                {ShmMapDescriptor.MAX_VALUE_BYTES_OFFSET, JAVA_INT, ShmMapDescriptor.MAX_VALUE_BYTES + 1, "maxValueBytes"},
                {ShmMapDescriptor.MAX_VALUE_BYTES_OFFSET, JAVA_INT, 1 << 20, "slotLength"},
                {ShmMapDescriptor.SLOT_LENGTH_OFFSET, JAVA_INT, 8, "slotLength"},
                {ShmMapDescriptor.SLOT_LENGTH_OFFSET, JAVA_INT, -8, "slotLength"},
                {ShmMapDescriptor.STRIPE_LENGTH_OFFSET, JAVA_LONG, stripeLength + 64, "stripeLength"},
                {ShmMapDescriptor.STRIPE_LENGTH_OFFSET, JAVA_LONG, -1L, "stripeLength"},
                {ShmMapDescriptor.STRIPE_LENGTH_OFFSET, JAVA_LONG, Long.MAX_VALUE, "stripeLength"},
                {ShmMapDescriptor.TOTAL_LENGTH_OFFSET, JAVA_LONG, total + 64, "totalLength"},
                {ShmMapDescriptor.TOTAL_LENGTH_OFFSET, JAVA_LONG, Long.MIN_VALUE, "totalLength"},
                {ShmMapDescriptor.LOCK_TIMEOUT_NS_OFFSET, JAVA_LONG, 0L, "lock timeout"},
                {ShmMapDescriptor.LOCK_TIMEOUT_NS_OFFSET, JAVA_LONG, Long.MAX_VALUE, "lock timeout"},
                {ShmMapDescriptor.READ_TIMEOUT_NS_OFFSET, JAVA_LONG, -1L, "read timeout"},
            };
            for (final Object[] forgery : forgeries) {
                final long offset = (Integer) forgery[0];
                final byte[] saved = memory.asSlice(0, HEADER_LENGTH).toArray(ValueLayout.JAVA_BYTE);
                if (forgery[1] == JAVA_INT) {
                    memory.set(JAVA_INT, offset, (Integer) forgery[2]);
                } else {
                    memory.set(JAVA_LONG, offset, (Long) forgery[2]);
                }
                try {
                    final CorruptDataException refused = assertThrows(CorruptDataException.class,
                        () -> ShmMap.adopt(map.duplicateDescriptor(true), false), "forged " + forgery[3]);
                    assertTrue(refused.getMessage().contains((String) forgery[3]),
                        "forged " + forgery[3] + " at offset " + offset + ": " + refused.getMessage());
                } finally {
                    MemorySegment.copy(MemorySegment.ofArray(saved), 0, memory, 0, saved.length);
                }
            }
            // A consistent geometry larger than the file: twice the stripes, and the total that goes with it.
            memory.set(JAVA_INT, ShmMapDescriptor.STRIPES_OFFSET, 8);
            memory.set(JAVA_LONG, ShmMapDescriptor.TOTAL_LENGTH_OFFSET, HEADER_LENGTH + 8 * stripeLength);
            final CorruptDataException larger = assertThrows(CorruptDataException.class,
                () -> ShmMap.adopt(map.duplicateDescriptor(true), false));
            assertTrue(larger.getMessage().contains("more than"), larger.getMessage());
        }
    }

    @Test
    void shouldRefuseGeometriesThatOverflowWithoutOverflowing() {
        try (ShmMap map = newMap(); ShmMap hostile = ShmMap.adopt(map.duplicateDescriptor(false), true)) {
            final MemorySegment memory = hostile.memory();
            // The largest declared parts: their product is far beyond any file, and beyond 2^63 once multiplied out.
            memory.set(JAVA_INT, ShmMapDescriptor.STRIPES_OFFSET, ShmMapDescriptor.MAX_STRIPES);
            memory.set(JAVA_INT, ShmMapDescriptor.SLOTS_PER_STRIPE_OFFSET, ShmMapDescriptor.MAX_SLOTS_PER_STRIPE);
            memory.set(JAVA_INT, ShmMapDescriptor.MAX_KEY_BYTES_OFFSET, ShmMapDescriptor.MAX_KEY_BYTES);
            memory.set(JAVA_INT, ShmMapDescriptor.MAX_VALUE_BYTES_OFFSET, ShmMapDescriptor.MAX_VALUE_BYTES);
            memory.set(JAVA_INT, ShmMapDescriptor.SLOT_LENGTH_OFFSET,
                ShmMapDescriptor.slotLength(ShmMapDescriptor.MAX_KEY_BYTES, ShmMapDescriptor.MAX_VALUE_BYTES));
            memory.set(JAVA_LONG, ShmMapDescriptor.STRIPE_LENGTH_OFFSET, Long.MAX_VALUE);
            memory.set(JAVA_LONG, ShmMapDescriptor.TOTAL_LENGTH_OFFSET, Long.MAX_VALUE);
            final CorruptDataException refused = assertThrows(CorruptDataException.class,
                () -> ShmMap.adopt(map.duplicateDescriptor(true), false));
            assertTrue(refused.getMessage().contains("stripeLength"), refused.getMessage());
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Slots

    @Test
    void shouldReportImpossibleLengthsAndStatesAsCorruptNeverOutOfBounds() {
        final Object[][] forgeries = {
            {KEY_LENGTH_OFFSET, 17}, {KEY_LENGTH_OFFSET, 0}, {KEY_LENGTH_OFFSET, -1},
            {KEY_LENGTH_OFFSET, Integer.MAX_VALUE}, {KEY_LENGTH_OFFSET, Integer.MIN_VALUE},
            {VALUE_LENGTH_OFFSET, 33}, {VALUE_LENGTH_OFFSET, -1}, {VALUE_LENGTH_OFFSET, Integer.MAX_VALUE},
            {VALUE_LENGTH_OFFSET, Integer.MIN_VALUE},
            {STATE_OFFSET, 3}, {STATE_OFFSET, -1}, {STATE_OFFSET, Integer.MAX_VALUE},
        };
        for (final Object[] forgery : forgeries) {
            try (ShmMap map = newMap(); ShmMap hostile = ShmMap.adopt(map.duplicateDescriptor(false), true)) {
                final MemorySegment memory = hostile.memory();
                for (long key = 0; key < 8; key++) {
                    assertTrue(map.put(key(key), value((int) key)));
                }
                final int[] at = find(memory, 3);
                final long slot = Geometry.of(memory).slot(at[0], at[1]);
                memory.set(JAVA_INT, slot + (Integer) forgery[0], (Integer) forgery[1]);
                final String what = "field at " + forgery[0] + " = " + forgery[1];
                final byte[] out = new byte[32];
                assertThrowsInTime(CorruptDataException.class, () -> map.get(3, MemorySegment.ofArray(out)));
                assertThrowsInTime(CorruptDataException.class, () -> map.forEach((k, v) -> { }));
                // A writer never follows the forged length either: it may add the key again elsewhere, or
                // find the stripe full, but it never reads or writes outside the slot.
                assertTimeoutPreemptively(NO_HANG, () -> {
                    try {
                        map.put(key(3), value(9));
                        map.remove(key(3));
                    } catch (final CorruptDataException expected) {
                        // also acceptable
                    }
                }, what);
                for (long key = 0; key < 8; key++) {
                    if (key == 3) {
                        continue;
                    }
                    final int[] other = find(memory, key);
                    if (other[0] == at[0]) {
                        // Same stripe: a lookup may have to probe through the forged slot.
                        try {
                            map.get(key(key));
                        } catch (final CorruptDataException expected) {
                            continue;
                        }
                    }
                    assertArrayEquals(value((int) key), map.get(key(key)), what + ", key " + key);
                }
            }
        }
    }

    @Test
    void shouldTimeOutAReaderOnASlotLeftMidUpdateByALiveHolder() {
        try (ShmMap map = newMap(); ShmMap hostile = ShmMap.adopt(map.duplicateDescriptor(false), true);
             ShmMap reader = ShmMap.adopt(map.duplicateDescriptor(true), false)) {
            final MemorySegment memory = hostile.memory();
            assertTrue(map.put(key(1), value(1)));
            final int[] at = find(memory, 1);
            final Geometry g = Geometry.of(memory);
            final long slot = g.slot(at[0], at[1]);
            memory.set(JAVA_LONG, g.stripeBase(at[0]) + LOCK_OFFSET, ShmMap.lockWord(ProcessIdentity.of(1)));
            memory.set(JAVA_LONG, slot + SEQ_OFFSET, memory.get(JAVA_LONG, slot + SEQ_OFFSET) + 1);
            for (final ShmMap victim : new ShmMap[] {map, reader}) {
                final IsthmusTimeoutException timeout = assertThrowsInTime(IsthmusTimeoutException.class,
                    () -> victim.get(key(1)));
                assertTrue(timeout.getMessage().contains("mid-update") && timeout.getMessage().contains("pid 1 (alive)"),
                    timeout.getMessage());
                assertThrowsInTime(IsthmusTimeoutException.class, () -> victim.forEach((k, v) -> { }));
                assertTrue(victim.stats().readRetries() > 0);
            }
            // The lock is free but the seq stays odd: still a timeout, saying so.
            memory.set(JAVA_LONG, g.stripeBase(at[0]) + LOCK_OFFSET, 0);
            final IsthmusTimeoutException free = assertThrowsInTime(IsthmusTimeoutException.class, () -> map.get(key(1)));
            assertTrue(free.getMessage().contains("is free"), free.getMessage());
        }
    }

    @Test
    void shouldBoundAWholeForEachByOneReadTimeoutWhenAPeerKeepsSlotAfterSlotMidUpdate() throws Exception {
        final long readTimeoutNs = 100_000_000L;
        final int entries = 50;
        try (ShmMap map = ShmMap.create("shmmaphostile", "foreach", ShmMapOptions.builder().capacity(256).stripes(4)
                 .maxKeyBytes(16).maxValueBytes(32).lockTimeoutNs(TIMEOUT_NS).readTimeoutNs(TIMEOUT_NS).build());
             ShmMap hostile = ShmMap.adopt(map.duplicateDescriptor(false), true);
             ShmMap victim = ShmMap.adopt(map.duplicateDescriptor(true), false, 0, readTimeoutNs)) {
            final MemorySegment memory = hostile.memory();
            for (long key = 0; key < entries; key++) {
                assertTrue(map.put(key(key), value((int) key)));
            }
            // Every entry mid-update, in the order forEach visits them, under a live holder (this process).
            final Geometry g = Geometry.of(memory);
            final long[] slots = new long[entries];
            int held = 0;
            for (int stripe = 0; stripe < g.stripes; stripe++) {
                memory.set(JAVA_LONG, g.stripeBase(stripe) + LOCK_OFFSET, ShmMap.lockWord(ProcessIdentity.current()));
                for (int index = 0; index < g.slotsPerStripe; index++) {
                    final long slot = g.slot(stripe, index);
                    if (memory.get(JAVA_INT, slot + STATE_OFFSET) == STATE_FULL) {
                        memory.set(JAVA_LONG, slot + SEQ_OFFSET, memory.get(JAVA_LONG, slot + SEQ_OFFSET) + 1);
                        slots[held++] = slot;
                    }
                }
            }
            assertEquals(entries, held);
            // The peer lets each slot go after half the read timeout, once the victim waits on it: no single
            // slot reaches the timeout, so a bound per slot would let forEach wait entries times half of it.
            final AtomicBoolean stop = new AtomicBoolean();
            final AtomicInteger released = new AtomicInteger();
            final Thread peer = Thread.ofPlatform().name("hostile-peer").start(() -> {
                for (int k = 0; k < entries && !stop.get(); k++) {
                    while (victim.stats().readRetries() < k + 1) {
                        if (stop.get()) {
                            return;
                        }
                        LockSupport.parkNanos(100_000);
                    }
                    LockSupport.parkNanos(readTimeoutNs / 2);
                    memory.set(JAVA_LONG, slots[k] + SEQ_OFFSET, memory.get(JAVA_LONG, slots[k] + SEQ_OFFSET) + 1);
                    released.incrementAndGet();
                }
            });
            final long startNs = System.nanoTime();
            try {
                final IsthmusTimeoutException timeout = assertThrowsInTime(IsthmusTimeoutException.class,
                    () -> victim.forEach((k, v) -> { }));
                final long elapsedNs = System.nanoTime() - startNs;
                assertTrue(timeout.getMessage().contains("mid-update") && timeout.getMessage().contains(
                    "held by pid " + ProcessIdentity.current().pid()), timeout.getMessage());
                // One timeout for the whole iteration (2 at most); the slack is for a loaded machine.
                assertTrue(released.get() <= 4, "the peer let " + released.get() + " slots go before forEach gave up");
                assertTrue(elapsedNs < 10 * readTimeoutNs, "forEach took " + elapsedNs + " ns");
            } finally {
                stop.set(true);
                peer.join();
            }
            // The peer lets everything go: the map is whole again.
            for (int k = released.get(); k < entries; k++) {
                memory.set(JAVA_LONG, slots[k] + SEQ_OFFSET, memory.get(JAVA_LONG, slots[k] + SEQ_OFFSET) + 1);
            }
            final int[] seen = {0};
            victim.forEach((k, v) -> {
                assertArrayEquals(value((int) k.get(KEY_UNALIGNED, 0)), v.toArray(ValueLayout.JAVA_BYTE));
                seen[0]++;
            });
            assertEquals(entries, seen[0]);
        }
    }

    @Test
    void shouldRepairASlotLeftMidUpdateWithoutUndoRecordByADeadHolder() {
        try (ShmMap map = newMap(); ShmMap hostile = ShmMap.adopt(map.duplicateDescriptor(false), true)) {
            final MemorySegment memory = hostile.memory();
            assertTrue(map.put(key(1), value(1)));
            final int[] at = find(memory, 1);
            final Geometry g = Geometry.of(memory);
            final long slot = g.slot(at[0], at[1]);
            memory.set(JAVA_LONG, g.stripeBase(at[0]) + LOCK_OFFSET, ShmMap.lockWord(DEAD));
            memory.set(JAVA_LONG, slot + SEQ_OFFSET, memory.get(JAVA_LONG, slot + SEQ_OFFSET) + 1);
            // With nothing to roll back to, the entry is lost, not left blocking every reader.
            assertTimeoutPreemptively(NO_HANG, () -> assertEquals(null, map.get(key(1))));
            assertEquals(1, map.stats().recoveries());
            assertEquals(0, map.size());
            assertTrue(map.put(key(1), value(2)));
            assertArrayEquals(value(2), map.get(key(1)));
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Locks and undo records

    @Test
    void shouldTimeOutAWriterOnALockHeldForeverByALiveProcess() {
        try (ShmMap map = newMap(); ShmMap hostile = ShmMap.adopt(map.duplicateDescriptor(false), true)) {
            final MemorySegment memory = hostile.memory();
            assertTrue(map.put(key(1), value(1)));
            final int[] at = find(memory, 1);
            final long lock = Geometry.of(memory).stripeBase(at[0]) + LOCK_OFFSET;
            memory.set(JAVA_LONG, lock, ShmMap.lockWord(ProcessIdentity.of(1)));
            final IsthmusTimeoutException timeout = assertThrowsInTime(IsthmusTimeoutException.class,
                () -> map.put(key(1), value(2)));
            assertTrue(timeout.getMessage().contains("pid 1 (alive)"), timeout.getMessage());
            assertThrowsInTime(IsthmusTimeoutException.class, () -> map.remove(key(1)));
            assertEquals(2, map.stats().lockTimeouts());
            assertArrayEquals(value(1), map.get(key(1)), "readers take no lock");
            assertThrows(IllegalArgumentException.class, () -> map.recoverLocksHeldBy(ProcessIdentity.of(1)));
            memory.set(JAVA_LONG, lock, 0);
            assertTrue(map.put(key(1), value(2)));
            assertEquals(0, map.stats().recoveries());
        }
    }

    @Test
    void shouldCountATheftOfAHeldLockAndLeaveTheThiefsLockWordAlone() {
        final long ours = ShmMap.lockWord(ProcessIdentity.current());
        // A live process other than this one: the victim's writers wait for it rather than take its lock.
        final long thief = ShmMap.lockWord(ProcessIdentity.of(1));
        try (ShmMap map = newMap(); ShmMap hostile = ShmMap.adopt(map.duplicateDescriptor(false), true)) {
            final MemorySegment memory = hostile.memory();
            final Geometry g = Geometry.of(memory);
            final byte[][] expected = new byte[10][];
            for (long key = 0; key < 8; key++) {
                assertTrue(map.put(key(key), value((int) key)));
                expected[(int) key] = value((int) key);
            }
            // The peer overwrites the lock word while the victim's update holds it, as a process that judged
            // the victim dead would; a thief that took it and let it go again leaves the word free.
            final long[] thiefWord = new long[1];
            final int[] stolen = {-1};
            final IntConsumer steal = stripe -> {
                final long lock = g.stripeBase(stripe) + LOCK_OFFSET;
                assertEquals(ours, memory.get(JAVA_LONG, lock), "the update holds the lock");
                memory.set(JAVA_LONG, lock, thiefWord[0]);
                stolen[0] = stripe;
            };
            final Object[][] thefts = {
                {"insert", 8L, thief}, {"replace", 3L, 0L}, {"remove", 5L, thief}, {"insert", 9L, 0L},
            };
            int count = 0;
            for (final Object[] theft : thefts) {
                map.onLockedForTest(steal);
                final String what = theft[0] + " of key " + theft[1] + " under a thief " + Long.toHexString((Long) theft[2]);
                final long key = (Long) theft[1];
                thiefWord[0] = (Long) theft[2];
                if (theft[0].equals("remove")) {
                    assertTrue(map.remove(key(key)), what);
                    expected[(int) key] = null;
                } else {
                    expected[(int) key] = value((int) key + 20);
                    assertTrue(map.put(key(key), expected[(int) key]), what);
                }
                count++;
                final long base = g.stripeBase(stolen[0]);
                assertEquals(count, map.stats().lockThefts(), what);
                assertEquals(thiefWord[0], memory.get(JAVA_LONG, base + LOCK_OFFSET), what + ": our unlock left the"
                    + " thief's word as it was");
                assertEquals(0, memory.get(JAVA_LONG, base + UNDO_STATE_OFFSET), what + ": the update was committed");
                if (thiefWord[0] != 0) {
                    // Still the thief's: the victim's next writer of the stripe waits for it and times out.
                    map.onLockedForTest(null);
                    assertThrowsInTime(IsthmusTimeoutException.class, () -> map.put(key(key), value(1)));
                    memory.set(JAVA_LONG, base + LOCK_OFFSET, 0);
                }
                for (int k = 0; k < expected.length; k++) {
                    assertArrayEquals(expected[k], map.get(key(k)), what + ", key " + k);
                }
            }
            map.onLockedForTest(null);
            assertEquals(2, map.stats().lockTimeouts());
            final int[] entries = {0};
            map.forEach((k, v) -> {
                assertArrayEquals(expected[(int) k.get(KEY_UNALIGNED, 0)], v.toArray(ValueLayout.JAVA_BYTE));
                entries[0]++;
            });
            assertEquals(9, entries[0]);
            assertEquals(9, map.size());
            for (int stripe = 0; stripe < g.stripes; stripe++) {
                assertEquals(0, memory.get(JAVA_LONG, g.stripeBase(stripe) + LOCK_OFFSET), "stripe " + stripe);
            }
            assertTrue(map.put(key(1), value(31)));
            assertArrayEquals(value(31), map.get(key(1)));
            assertEquals(thefts.length, map.stats().lockThefts(), "an unlock with the lock still ours is no theft");
            assertEquals(0, map.stats().recoveries());
        }
    }

    @Test
    void shouldRecoverLocksLeftByDeadProcesses() {
        final ProcessIdentity init = ProcessIdentity.of(1);
        // pid 1 with another start time: the pid was reused, the holder is gone.
        final ProcessIdentity reused = new ProcessIdentity(1, init.startTimeTicks() + 1);
        for (final ProcessIdentity dead : new ProcessIdentity[] {DEAD, reused, new ProcessIdentity(0, 5)}) {
            try (ShmMap map = newMap(); ShmMap hostile = ShmMap.adopt(map.duplicateDescriptor(false), true)) {
                final MemorySegment memory = hostile.memory();
                assertTrue(map.put(key(1), value(1)));
                final int[] at = find(memory, 1);
                memory.set(JAVA_LONG, Geometry.of(memory).stripeBase(at[0]) + LOCK_OFFSET, ShmMap.lockWord(dead));
                assertTimeoutPreemptively(NO_HANG, () -> assertTrue(map.put(key(1), value(2))));
                assertEquals(1, map.stats().recoveries(), "holder " + dead);
                assertArrayEquals(value(2), map.get(key(1)));
            }
        }
    }

    @Test
    void shouldRollBackAHalfWrittenSlotFromItsUndoRecord() {
        try (ShmMap map = newMap(); ShmMap hostile = ShmMap.adopt(map.duplicateDescriptor(false), true)) {
            final MemorySegment memory = hostile.memory();
            assertTrue(map.put(key(1), value(1)));
            final int[] at = find(memory, 1);
            final Geometry g = Geometry.of(memory);
            final long base = g.stripeBase(at[0]);
            final long slot = g.slot(at[0], at[1]);
            // What a writer killed mid-update leaves: the undo record, an odd seq, half a new value.
            MemorySegment.copy(memory, slot, memory, base + UNDO_SLOT_OFFSET, g.slotLength);
            memory.set(JAVA_LONG, base + UNDO_STATE_OFFSET, at[1] + 1L);
            memory.set(JAVA_LONG, slot + SEQ_OFFSET, memory.get(JAVA_LONG, slot + SEQ_OFFSET) + 1);
            memory.asSlice(slot + ShmMapDescriptor.valueOffset(16), 12).fill((byte) 7);
            memory.set(JAVA_INT, slot + VALUE_LENGTH_OFFSET, 30);
            memory.set(JAVA_LONG, base + LOCK_OFFSET, ShmMap.lockWord(DEAD));
            assertEquals(1, map.recoverLocksHeldBy(DEAD));
            assertArrayEquals(value(1), map.get(key(1)), "the value before the update, whole");
            assertEquals(0, memory.get(JAVA_LONG, base + UNDO_STATE_OFFSET));
            assertEquals(0, memory.get(JAVA_LONG, slot + SEQ_OFFSET) & 1);
            assertEquals(0, map.recoverLocksHeldBy(DEAD));
        }
    }

    @Test
    void shouldRefuseAnUndoRecordNamingASlotOutsideItsStripe() {
        for (final long undo : new long[] {17, 1 << 20, Long.MAX_VALUE, -1, Long.MIN_VALUE}) {
            try (ShmMap map = newMap(); ShmMap hostile = ShmMap.adopt(map.duplicateDescriptor(false), true)) {
                final MemorySegment memory = hostile.memory();
                for (long key = 0; key < 8; key++) {
                    assertTrue(map.put(key(key), value((int) key)));
                }
                final int[] at = find(memory, 1);
                final Geometry g = Geometry.of(memory);
                final long base = g.stripeBase(at[0]);
                memory.asSlice(base + UNDO_SLOT_OFFSET, g.slotLength).fill((byte) 0x55);
                memory.set(JAVA_LONG, base + UNDO_STATE_OFFSET, undo);
                memory.set(JAVA_LONG, base + LOCK_OFFSET, ShmMap.lockWord(DEAD));
                final byte[] before = memory.toArray(ValueLayout.JAVA_BYTE);
                final CorruptDataException refused = assertThrowsInTime(CorruptDataException.class,
                    () -> map.put(key(1), value(2)));
                assertTrue(refused.getMessage().contains("undo record") && refused.getMessage().contains("not applied"),
                    refused.getMessage());
                final byte[] after = memory.toArray(ValueLayout.JAVA_BYTE);
                final long slots = base + ShmMapDescriptor.stripeHeaderLength(g.slotLength);
                assertArrayEquals(Arrays.copyOfRange(before, (int) slots, before.length),
                    Arrays.copyOfRange(after, (int) slots, after.length), "no slot was written");
                assertEquals(0, memory.get(JAVA_LONG, base + UNDO_STATE_OFFSET), "the record is discarded");
                assertEquals(0, memory.get(JAVA_LONG, base + LOCK_OFFSET), "the lock is free again");
                assertTrue(map.put(key(1), value(2)), "undo=" + undo);
                for (long key = 0; key < 8; key++) {
                    assertArrayEquals(value(key == 1 ? 2 : (int) key), map.get(key(key)));
                }
            }
        }
    }

    @Test
    void shouldClampForgedCounts() {
        try (ShmMap map = newMap(); ShmMap hostile = ShmMap.adopt(map.duplicateDescriptor(false), true)) {
            final MemorySegment memory = hostile.memory();
            final Geometry g = Geometry.of(memory);
            final Consumer<Long> forge = count -> {
                for (int stripe = 0; stripe < g.stripes; stripe++) {
                    memory.set(JAVA_LONG, g.stripeBase(stripe) + ShmMapDescriptor.COUNT_OFFSET, count);
                    memory.set(JAVA_LONG, g.stripeBase(stripe) + ShmMapDescriptor.TOMBSTONES_OFFSET, count);
                }
            };
            forge.accept(Long.MAX_VALUE);
            assertEquals(map.capacity(), map.size());
            assertEquals(map.capacity(), map.stats().tombstones());
            forge.accept(Long.MIN_VALUE);
            assertEquals(0, map.size());
            assertFalse(map.stats().tombstones() < 0);
        }
    }
}
