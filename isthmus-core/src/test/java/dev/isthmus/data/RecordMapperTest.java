/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.arena.ShmHandle;
import dev.isthmus.test.AllocationProbe;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.Arrays;

import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_CHAR;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Records of every kind of component copied both ways, the exceptions of bad records and bad memory, and
 * what a copy costs: a read allocates the record (and its arrays and references), a write nothing.
 */
class RecordMapperTest {
    static final StructType TICK = StructType.of("Tick", MemoryLayout.structLayout(
        JAVA_LONG.withName("instrument"),
        JAVA_LONG.withName("bid"),
        JAVA_LONG.withName("ask"),
        JAVA_LONG.withName("time")));

    public record Tick(long instrument, long bid, long ask, long time) {
    }

    static final StructType INNER = StructType.of("Inner", MemoryLayout.structLayout(
        JAVA_SHORT.withName("s"),
        JAVA_CHAR.withName("c"),
        JAVA_FLOAT.withName("f")));
    static final StructType MIDDLE = StructType.of("Middle", MemoryLayout.structLayout(
        JAVA_BYTE.withName("b"),
        JAVA_BOOLEAN.withName("z"),
        MemoryLayout.paddingLayout(2),
        INNER.layout().withName("inner"),
        MemoryLayout.paddingLayout(4),
        MemoryLayout.sequenceLayout(3, JAVA_SHORT).withName("shorts"),
        MemoryLayout.paddingLayout(2)));
    static final StructType ALL = StructType.of("All", MemoryLayout.structLayout(
        JAVA_INT.withName("i"),
        JAVA_FLOAT.withName("unmapped"),
        JAVA_DOUBLE.withName("d"),
        MIDDLE.layout().withName("middle"),
        MemoryLayout.sequenceLayout(2, JAVA_LONG).withName("longs"),
        MemoryLayout.sequenceLayout(4, JAVA_BYTE).withName("bytes"),
        MemoryLayout.sequenceLayout(2, JAVA_FLOAT).withName("floats"),
        MemoryLayout.sequenceLayout(2, JAVA_BOOLEAN).withName("flags"),
        MemoryLayout.sequenceLayout(2, JAVA_CHAR).withName("chars"),
        MemoryLayout.paddingLayout(2),
        MemoryLayout.sequenceLayout(1, JAVA_INT).withName("ints"),
        MemoryLayout.sequenceLayout(1, JAVA_DOUBLE).withName("doubles"),
        RefField.LAYOUT.withName("ref"),
        RefField.LAYOUT.withName("none")));

    public record Inner(short s, char c, float f) {
    }

    public record Middle(byte b, boolean z, Inner inner, short[] shorts) {
    }

    /** Components in another order than the members, and a member ("unmapped") without one. */
    public record All(DataRef none, double d, Middle middle, long[] longs, byte[] bytes, float[] floats, boolean[] flags,
                      char[] chars, int[] ints, double[] doubles, DataRef ref, int i) {
    }

    /** A record whose canonical constructor checks its arguments, as one holding a peer's data should. */
    public record Checked(long instrument, long bid, long ask, long time) {
        public Checked {
            if (bid > ask) {
                throw new IllegalArgumentException("bid=" + bid + " above ask=" + ask);
            }
        }
    }

    @Test
    void shouldCopyEveryKindOfComponentBothWays() {
        final RecordMapper<All> mapper = ALL.mapper(All.class);
        final DataRef ref = new DataRef(new ShmHandle(3, 7, 4096, 64), 0x1234_5678_9abcL);
        final All value = new All(null, -2.5, new Middle((byte) -7, true, new Inner((short) -300, 'λ', 1.5f),
            new short[] {1, -2, 3}), new long[] {Long.MIN_VALUE, Long.MAX_VALUE}, new byte[] {1, 2, 3, -4},
            new float[] {0.25f, -8f}, new boolean[] {false, true}, new char[] {'a', '✓'}, new int[] {-99},
            new double[] {Math.PI}, ref, 42);
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment memory = arena.allocate(ALL.layout());
            memory.set(JAVA_FLOAT, ALL.offset("unmapped"), 9.75f);
            memory.asSlice(ALL.offset("none"), RefField.LAYOUT.byteSize()).fill((byte) 0x5a);
            mapper.write(value, memory);
            assertEquals(9.75f, memory.get(JAVA_FLOAT, ALL.offset("unmapped")), "a member without a component is left alone");
            assertEquals(42, memory.get(JAVA_INT, ALL.offset("i")));
            assertEquals('λ', memory.get(JAVA_CHAR, ALL.offset("middle", "inner", "c")));
            assertEquals(-2, memory.get(JAVA_SHORT, ALL.offset("middle", "shorts") + 2));
            assertEquals(1, memory.get(JAVA_BYTE, ALL.offset("flags") + 1), "true is stored as 1");
            memory.set(JAVA_BYTE, ALL.offset("flags"), (byte) 0x40);
            final All copy = mapper.read(memory);
            assertNull(copy.none(), "a null reference is written as zeros and read as null");
            assertEquals(value.d(), copy.d());
            assertEquals(value.middle().b(), copy.middle().b());
            assertEquals(value.middle().z(), copy.middle().z());
            assertEquals(value.middle().inner(), copy.middle().inner());
            assertArrayEquals(value.middle().shorts(), copy.middle().shorts());
            assertArrayEquals(value.longs(), copy.longs());
            assertArrayEquals(value.bytes(), copy.bytes());
            assertArrayEquals(value.floats(), copy.floats());
            assertArrayEquals(new boolean[] {true, true}, copy.flags(), "any byte but 0 reads as true");
            assertArrayEquals(value.chars(), copy.chars());
            assertArrayEquals(value.ints(), copy.ints());
            assertArrayEquals(value.doubles(), copy.doubles());
            assertEquals(ref, copy.ref());
            assertEquals(42, copy.i());
            // At an offset inside larger memory, as an element of an array of records.
            final MemorySegment two = arena.allocate(ALL.byteSize() * 2, 8);
            mapper.write(value, two.asSlice(ALL.byteSize()));
            assertEquals(ref, mapper.read(two.asSlice(ALL.byteSize())).ref());
            assertEquals(All.class, mapper.recordType());
            assertEquals(ALL, mapper.structType());
        }
    }

    @Test
    void shouldThrowWhatTheRecordOrTheMemoryCauses() {
        final RecordMapper<All> mapper = ALL.mapper(All.class);
        final All value = new All(null, 1, new Middle((byte) 1, false, new Inner((short) 1, 'c', 1), new short[3]),
            new long[2], new byte[4], new float[2], new boolean[2], new char[2], new int[1], new double[1], null, 1);
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment memory = arena.allocate(ALL.layout());
            assertThrows(NullPointerException.class, () -> mapper.write(null, memory));
            final NullPointerException nested = assertThrows(NullPointerException.class, () -> mapper.write(
                new All(null, 1, null, new long[2], new byte[4], new float[2], new boolean[2], new char[2], new int[1],
                    new double[1], null, 1), memory));
            assertEquals("All.middle", nested.getMessage());
            final NullPointerException array = assertThrows(NullPointerException.class, () -> mapper.write(
                new All(null, 1, value.middle(), null, new byte[4], new float[2], new boolean[2], new char[2], new int[1],
                    new double[1], null, 1), memory));
            assertEquals("All.longs", array.getMessage());
            final IllegalArgumentException length = assertThrows(IllegalArgumentException.class, () -> mapper.write(
                new All(null, 1, new Middle((byte) 1, false, new Inner((short) 1, 'c', 1), new short[4]), new long[2],
                    new byte[4], new float[2], new boolean[2], new char[2], new int[1], new double[1], null, 1), memory));
            assertTrue(length.getMessage().contains("All.middle.shorts"), length.getMessage());
            final IllegalArgumentException readOnly = assertThrows(IllegalArgumentException.class,
                () -> mapper.write(value, memory.asReadOnly()));
            assertTrue(readOnly.getMessage().contains("read-only"), readOnly.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> mapper.read(memory.asSlice(0, ALL.offset("ref"))));
            assertThrows(IndexOutOfBoundsException.class, () -> mapper.write(value, memory.asSlice(0, 8)));

            final RecordMapper<Checked> checked = TICK.mapper(Checked.class);
            final MemorySegment tick = arena.allocate(TICK.layout());
            TICK.mapper(Tick.class).write(new Tick(1, 102, 101, 5), tick);
            final IllegalArgumentException refused = assertThrows(IllegalArgumentException.class, () -> checked.read(tick));
            assertEquals("bid=102 above ask=101", refused.getMessage(), "the constructor's own exception");
        }
        record NotPublic(long instrument, long bid) {
        }
        final MemorySegment heap = MemorySegment.ofArray(new long[4]);
        final RecordMapper<NotPublic> local = TICK.mapper(NotPublic.class);
        local.write(new NotPublic(5, 6), heap);
        assertEquals(new NotPublic(5, 6), local.read(heap));
        record Wrong(long instrument, int bid) {
        }
        final IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class, () -> TICK.mapper(Wrong.class));
        assertTrue(wrong.getMessage().contains("Tick.bid"), wrong.getMessage());
        record Missing(long instrument, long volume) {
        }
        assertThrows(IllegalArgumentException.class, () -> TICK.mapper(Missing.class));
        record Boxed(Long instrument) {
        }
        assertThrows(IllegalArgumentException.class, () -> TICK.mapper(Boxed.class));
    }

    @Test
    void shouldAllocateOnlyTheRecordPerRead() {
        final RecordMapper<Tick> mapper = TICK.mapper(Tick.class);
        final com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        assertTrue(threads.isThreadAllocatedMemorySupported() && threads.isThreadAllocatedMemoryEnabled(),
            "this JVM does not count allocated bytes per thread");
        final int reads = 10_000;
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment memory = arena.allocate(TICK.layout());
            // Values outside the Long cache: a boxed component would be a new object.
            mapper.write(new Tick(1_000_001, 2_000_002, 3_000_003, 4_000_004), memory);
            long sum = 0;
            for (int i = 0; i < 20 * reads; i++) {
                sum += mapper.read(memory).bid();
            }
            final long[] bytes = new long[7];
            for (int round = 0; round < bytes.length; round++) {
                final long before = threads.getCurrentThreadAllocatedBytes();
                for (int i = 0; i < reads; i++) {
                    sum += mapper.read(memory).ask();
                }
                bytes[round] = threads.getCurrentThreadAllocatedBytes() - before;
            }
            assertEquals(20L * reads * 2_000_002 + 7L * reads * 3_000_003, sum);
            // The record: a header and four longs, at most 48 bytes; a boxed component would add 16 bytes each.
            final double perRead = (double) Arrays.stream(bytes).min().orElseThrow() / reads;
            assertTrue(perRead <= 64, perRead + " bytes allocated per read of a record of four longs, in the quietest"
                + " round (bytes per round of " + reads + ": " + Arrays.toString(bytes) + ")");
        }
    }

    @Test
    void shouldAllocateNothingPerWriteOfPrimitives() {
        final RecordMapper<Tick> mapper = TICK.mapper(Tick.class);
        final Tick tick = new Tick(1_000_001, 2_000_002, 3_000_003, 4_000_004);
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment memory = arena.allocate(TICK.layout());
            AllocationProbe.assertNoAllocationPerOperation(() -> {
                for (int i = 0; i < 1000; i++) {
                    mapper.write(tick, memory);
                }
            }, 1000, "writes");
            assertEquals(tick, mapper.read(memory));
        }
    }
}
