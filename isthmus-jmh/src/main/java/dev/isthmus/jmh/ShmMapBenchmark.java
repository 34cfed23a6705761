/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.jmh;

import dev.isthmus.data.ShmMap;
import dev.isthmus.data.ShmMapOptions;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;

/**
 * {@link ShmMap} beside {@link ConcurrentHashMap} holding the same data: {@code entries} 8-byte keys, each with
 * a 64-byte value, looked up and replaced in the same pseudo-random order, one thread.
 *
 * <ul>
 *   <li>{@code shmGet} copies the value out into a buffer; {@code chmGet} gets the {@code byte[]} and copies it
 *       out the same way (a reader of a mutable shared value must copy it to use it).</li>
 *   <li>{@code shmPut} replaces the value of a present key, copying 64 bytes into shared memory. Its fair
 *       analogue is {@code chmPutCopy}: {@code computeIfPresent} copying into the stored array under the bin
 *       lock. {@code chmPut} puts a pre-built array in place of the old one (no copy, no allocation), what an
 *       immutable-value design does, minus the allocation of the new array it would need.</li>
 * </ul>
 * Keys are pre-boxed for the CHM, so neither side allocates. Run with {@code -prof gc}.
 *
 * <p>{@code ./isthmus jmh ShmMapBenchmark -prof gc}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Benchmark)
public class ShmMapBenchmark {
    static final int VALUE_BYTES = 64;
    /** The bytes every put writes. */
    static final byte[] SOURCE = new byte[VALUE_BYTES];
    /** Copies {@link #SOURCE} into the stored array: non-capturing, so allocation-free. */
    private static final BiFunction<Long, byte[], byte[]> COPY_IN = (key, stored) -> {
        System.arraycopy(SOURCE, 0, stored, 0, VALUE_BYTES);
        return stored;
    };

    /** The number of entries, a power of two. */
    @Param({"65536"})
    public int entries;

    private ShmMap map;
    private ConcurrentHashMap<Long, byte[]> chm;
    private Long[] boxedKeys;
    private int mask;

    /** Creates both maps with the same entries. */
    @Setup
    public void setUp() {
        mask = entries - 1;
        // Twice the entries in slots: stripes stay half full, as a sized hash table would be.
        map = ShmMap.create("jmh", "map" + ProcessHandle.current().pid(), ShmMapOptions.builder()
            .capacity(2 * entries).stripes(64).maxKeyBytes(8).maxValueBytes(VALUE_BYTES).build());
        chm = new ConcurrentHashMap<>(2 * entries);
        boxedKeys = new Long[entries];
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment value = arena.allocate(VALUE_BYTES);
            for (int k = 0; k < entries; k++) {
                value.fill((byte) k);
                if (!map.put(k, value)) {
                    throw new IllegalStateException("stripe full at key " + k);
                }
                boxedKeys[k] = (long) k;
                final byte[] array = new byte[VALUE_BYTES];
                java.util.Arrays.fill(array, (byte) k);
                chm.put(boxedKeys[k], array);
            }
        }
    }

    /** Unmaps the map. */
    @TearDown
    public void tearDown() {
        map.close();
    }

    /** One thread's buffers and position in the key order. */
    @State(Scope.Thread)
    public static class Cursor {
        MemorySegment out;
        MemorySegment value;
        byte[] outArray;
        byte[] valueArray;
        int next;
        private Arena arena;

        /** Allocates the buffers. */
        @Setup(Level.Trial)
        public void setUp() {
            arena = Arena.ofConfined();
            out = arena.allocate(VALUE_BYTES, 8);
            value = arena.allocate(VALUE_BYTES, 8);
            outArray = new byte[VALUE_BYTES];
            valueArray = new byte[VALUE_BYTES];
        }

        /** Frees the buffers. */
        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }

        int nextKey(final int mask) {
            // A multiplicative walk: every key once per cycle, in an order the prefetcher cannot follow.
            return (next++ * 0x9E3779B1) & mask;
        }
    }

    /** {@return the value's length} {@link ShmMap#get(long, MemorySegment)}, copying it out. */
    @Benchmark
    public long shmGet(final Cursor cursor) {
        return map.get(cursor.nextKey(mask), cursor.out);
    }

    /** {@return the value's length} {@link ConcurrentHashMap#get}, copying the value out. */
    @Benchmark
    public long chmGet(final Cursor cursor) {
        final byte[] value = chm.get(boxedKeys[cursor.nextKey(mask)]);
        System.arraycopy(value, 0, cursor.outArray, 0, VALUE_BYTES);
        return value.length;
    }

    /** {@return whether it was put} {@link ShmMap#put(long, MemorySegment)} of a present key. */
    @Benchmark
    public boolean shmPut(final Cursor cursor) {
        return map.put(cursor.nextKey(mask), cursor.value);
    }

    /** {@return the stored array} {@link ConcurrentHashMap#computeIfPresent} copying into it. */
    @Benchmark
    public byte[] chmPutCopy(final Cursor cursor) {
        return chm.computeIfPresent(boxedKeys[cursor.nextKey(mask)], COPY_IN);
    }

    /** {@return the previous array} {@link ConcurrentHashMap#put} of a pre-built array. */
    @Benchmark
    public byte[] chmPut(final Cursor cursor) {
        return chm.put(boxedKeys[cursor.nextKey(mask)], cursor.valueArray);
    }
}
