/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.jmh;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.sync.Doorbell;
import dev.isthmus.sync.IdleStrategies;
import dev.isthmus.sync.IdleStrategy;
import dev.isthmus.sync.ThreadAffinity;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static dev.isthmus.internal.MemoryAccess.getLongAcquire;
import static dev.isthmus.internal.MemoryAccess.putLongRelease;

/**
 * Round trip of a value between this JVM and a peer JVM through shared memory, both sides waiting with
 * the idle strategy under test: one op is one ping and its pong (two cross-process hand-offs).
 *
 * <p>{@code java -jar isthmus-jmh/target/benchmarks.jar HandOffBenchmark -p strategy=spin-then-futex}
 */
@BenchmarkMode({Mode.AverageTime, Mode.SampleTime})
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Benchmark)
public class HandOffBenchmark {
    static final long PING = 0;
    static final long PING_BELL = 128;
    static final long PONG = 256;
    static final long PONG_BELL = 384;
    static final long MAX_SLEEP_NS = TimeUnit.MILLISECONDS.toNanos(100);

    /** The idle strategy both sides use. */
    @Param({"spin-then-futex", "busy-spin", "yield", "futex-only"})
    public String strategy;

    private SharedMemory memory;
    private MemorySegment segment;
    private Doorbell pingBell;
    private Doorbell pongBell;
    private IdleStrategy idle;
    private Process peer;
    private long sequence;
    private final BooleanSupplier answered = () -> getLongAcquire(segment, PONG) == sequence;

    /**
     * Creates the segment and starts the peer JVM.
     *
     * @throws IOException if the peer cannot start
     */
    @Setup
    public void setUp() throws IOException {
        final ResourceName name = ResourceName.of("jmh", "seg", "handoff");
        memory = SharedMemory.builder(name).lengthBytes(4096).create();
        segment = memory.segment();
        pingBell = new Doorbell(segment, PING_BELL);
        pongBell = new Doorbell(segment, PONG_BELL);
        idle = IdleStrategies.byName(strategy).get();
        peer = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
            Peer.class.getName(), name.toString(), strategy))
            .redirectErrorStream(true).start();
        final BufferedReader out = new BufferedReader(new InputStreamReader(peer.getInputStream(), StandardCharsets.UTF_8));
        final String line = out.readLine();
        if (!"READY".equals(line)) {
            throw new IllegalStateException("peer did not start: " + line);
        }
        // The benchmark thread on the first CPU, the peer's on the second (pinned before it said READY).
        ThreadAffinity.pinToAllowed(0);
    }

    /**
     * Stops the peer and removes the segment.
     *
     * @throws InterruptedException if interrupted while waiting for the peer
     */
    @TearDown
    public void tearDown() throws InterruptedException {
        ThreadAffinity.unpin();
        putLongRelease(segment, PING, -1);
        pingBell.ring();
        if (!peer.waitFor(10, TimeUnit.SECONDS)) {
            peer.destroyForcibly().waitFor();
        }
        memory.unlink();
        memory.close();
    }

    /**
     * {@return the answered value} One round trip.
     */
    @Benchmark
    public long roundTrip() {
        final long next = ++sequence;
        // release: publishes the ping; pairs with the peer's getLongAcquire(PING).
        putLongRelease(segment, PING, next);
        pingBell.ring();
        while (!answered.getAsBoolean()) {
            idle.idle(pongBell, answered, MAX_SLEEP_NS);
        }
        idle.reset();
        return next;
    }

    /** The peer: answers each ping with the same value until the ping is -1 or the benchmark JVM dies. */
    public static final class Peer {
        private Peer() {
        }

        /**
         * Runs the peer.
         *
         * @param args the segment name and the idle strategy
         */
        public static void main(final String[] args) {
            try (SharedMemory memory = SharedMemory.open(ResourceName.parse(args[0]).orElseThrow())) {
                ThreadAffinity.pinToAllowed(1);
                final MemorySegment segment = memory.segment();
                final Doorbell pingBell = new Doorbell(segment, PING_BELL);
                final Doorbell pongBell = new Doorbell(segment, PONG_BELL);
                final IdleStrategy idle = IdleStrategies.byName(args[1]).get();
                final long[] last = {0};
                // acquire: pairs with the benchmark's putLongRelease(PING).
                final BooleanSupplier pinged = () -> getLongAcquire(segment, PING) != last[0];
                System.out.println("READY");
                System.out.flush();
                while (true) {
                    long idleSince = 0;
                    while (!pinged.getAsBoolean()) {
                        idle.idle(pingBell, pinged, MAX_SLEEP_NS);
                        if (idleSince == 0) {
                            idleSince = System.nanoTime();
                        } else if (System.nanoTime() - idleSince > TimeUnit.SECONDS.toNanos(1)) {
                            if (!memory.owner().isAlive()) {
                                return;
                            }
                            idleSince = System.nanoTime();
                        }
                    }
                    idle.reset();
                    final long ping = getLongAcquire(segment, PING);
                    if (ping == -1) {
                        return;
                    }
                    last[0] = ping;
                    // release: publishes the pong; pairs with the benchmark's getLongAcquire(PONG).
                    putLongRelease(segment, PONG, ping);
                    pongBell.ring();
                }
            }
        }
    }
}
