/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.jmh;

import dev.isthmus.data.ShmMap;
import dev.isthmus.data.ShmMapOptions;
import dev.isthmus.transport.UnixSocketBlobChannel;
import dev.isthmus.transport.UnixSocketOptions;
import dev.isthmus.transport.UnixSocketServer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;

/**
 * Reads while someone writes: {@link ShmMap#get} on one thread while another process puts into the same map
 * as fast as it can ({@code crossProcess}), beside the same pair of threads in one JVM on a {@link ShmMap}
 * ({@code shm}: {@code shmGet} + {@code shmPut}) and on a {@link ConcurrentHashMap} ({@code chm}:
 * {@code chmGet} + {@code chmPut}, the value copied into the stored array under the bin lock, as
 * {@code ShmMapBenchmark.chmPutCopy}). 64 Ki entries, 8-byte keys, 64-byte values. Run with {@code -prof gc}.
 *
 * <p>{@code ./isthmus jmh ShmMapContendedBenchmark -prof gc}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Group)
public class ShmMapContendedBenchmark {
    static final int ENTRIES = 1 << 16;
    static final int VALUE_BYTES = 64;
    static final byte[] SOURCE = new byte[VALUE_BYTES];
    private static final BiFunction<Long, byte[], byte[]> COPY_IN = (key, stored) -> {
        System.arraycopy(SOURCE, 0, stored, 0, VALUE_BYTES);
        return stored;
    };

    private ShmMap map;
    private ConcurrentHashMap<Long, byte[]> chm;
    private Long[] boxedKeys;
    private Process writer;

    /**
     * Fills both maps; for the cross-process group, starts the writer process and lends it the map writable.
     *
     * @throws IOException if the writer cannot be started
     */
    @Setup(Level.Trial)
    public void setUp(final org.openjdk.jmh.infra.BenchmarkParams params) throws IOException {
        map = ShmMap.create("jmh", "cmap" + ProcessHandle.current().pid(), ShmMapOptions.builder()
            .capacity(2 * ENTRIES).stripes(64).maxKeyBytes(8).maxValueBytes(VALUE_BYTES).build());
        chm = new ConcurrentHashMap<>(2 * ENTRIES);
        boxedKeys = new Long[ENTRIES];
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment value = arena.allocate(VALUE_BYTES, 8);
            for (int k = 0; k < ENTRIES; k++) {
                map.put(k, value);
                boxedKeys[k] = (long) k;
                chm.put(boxedKeys[k], new byte[VALUE_BYTES]);
            }
        }
        if (params.getBenchmark().endsWith("crossProcess")) {
            startWriter();
        }
    }

    private void startWriter() throws IOException {
        try (UnixSocketServer server = UnixSocketServer.bind("jmh", "cmap" + ProcessHandle.current().pid(),
            UnixSocketOptions.defaults())) {
            writer = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                Writer.class.getName(), server.address().toString()))
                .redirectErrorStream(true).start();
            try (UnixSocketBlobChannel channel = server.accept(TimeUnit.SECONDS.toNanos(60))) {
                if (!map.lend(channel, true, TimeUnit.SECONDS.toNanos(10))) {
                    throw new IllegalStateException("could not lend the map to the writer");
                }
                final BufferedReader out = new BufferedReader(new InputStreamReader(writer.getInputStream(),
                    StandardCharsets.UTF_8));
                final String line = out.readLine();
                if (!"WRITING".equals(line)) {
                    throw new IllegalStateException("the writer did not start: " + line);
                }
            }
        }
    }

    /**
     * Stops the writer and unmaps the map.
     *
     * @throws InterruptedException if interrupted while waiting for the writer
     */
    @TearDown(Level.Trial)
    public void tearDown() throws InterruptedException {
        if (writer != null) {
            writer.destroy();
            if (!writer.waitFor(10, TimeUnit.SECONDS)) {
                writer.destroyForcibly().waitFor();
            }
        }
        map.close();
    }

    /** One thread's buffers and position in the key order. */
    @State(Scope.Thread)
    public static class Cursor {
        MemorySegment buffer;
        int next;
        private Arena arena;

        /** Allocates the buffer. */
        @Setup(Level.Trial)
        public void setUp() {
            arena = Arena.ofConfined();
            buffer = arena.allocate(VALUE_BYTES, 8);
        }

        /** Frees the buffer. */
        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }

        int nextKey() {
            return (next++ * 0x9E3779B1) & ENTRIES - 1;
        }
    }

    /** {@return the value's length} A get while another process writes the same map. */
    @Benchmark
    @Group("crossProcess")
    @GroupThreads(1)
    public long crossProcessGet(final Cursor cursor) {
        return map.get(cursor.nextKey(), cursor.buffer);
    }

    /** {@return the value's length} A get while a thread of this JVM writes. */
    @Benchmark
    @Group("shm")
    @GroupThreads(1)
    public long shmGet(final Cursor cursor) {
        return map.get(cursor.nextKey(), cursor.buffer);
    }

    /** {@return whether it was put} The writer of group {@code shm}. */
    @Benchmark
    @Group("shm")
    @GroupThreads(1)
    public boolean shmPut(final Cursor cursor) {
        return map.put(cursor.nextKey(), cursor.buffer);
    }

    /** {@return the value's length} A {@link ConcurrentHashMap#get} while a thread writes. */
    @Benchmark
    @Group("chm")
    @GroupThreads(1)
    public int chmGet(final Cursor cursor) {
        final byte[] value = chm.get(boxedKeys[cursor.nextKey()]);
        MemorySegment.copy(value, 0, cursor.buffer, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, VALUE_BYTES);
        return value.length;
    }

    /** {@return the stored array} The writer of group {@code chm}. */
    @Benchmark
    @Group("chm")
    @GroupThreads(1)
    public byte[] chmPut(final Cursor cursor) {
        return chm.computeIfPresent(boxedKeys[cursor.nextKey()], COPY_IN);
    }

    /** The writer process: borrows the map writable and puts until it is killed. */
    public static final class Writer {
        private Writer() {
        }

        /**
         * Runs the writer.
         *
         * @param args the benchmark's socket
         */
        public static void main(final String[] args) {
            try (UnixSocketBlobChannel channel = UnixSocketBlobChannel.connect(Path.of(args[0]),
                     TimeUnit.SECONDS.toNanos(30), UnixSocketOptions.defaults());
                 ShmMap map = ShmMap.borrow(channel, TimeUnit.SECONDS.toNanos(30));
                 Arena arena = Arena.ofConfined()) {
                final MemorySegment value = arena.allocate(VALUE_BYTES, 8);
                final SplittableRandom random = new SplittableRandom(3);
                System.out.println("WRITING");
                System.out.flush();
                while (true) {
                    value.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, random.nextLong());
                    map.put(random.nextInt(ENTRIES), value);
                }
            }
        }
    }
}
