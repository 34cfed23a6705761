/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.demo;

import dev.isthmus.sync.Doorbell;
import dev.isthmus.sync.ThreadAffinity;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.util.concurrent.TimeUnit;

/**
 * What waking a thread asleep on a futex costs on this machine, in the same run as the demo's figures:
 * a thread on the second CPU sleeps on a {@link Doorbell}; this one, on the first, stamps the clock and
 * rings; the sleeper records how long after the stamp it ran. Each wake-up follows a stretch of quiet, so
 * that the sleeper is truly asleep (not spinning), as the demo's sleeping server is between requests. How
 * long it has slept matters on a virtual machine: an idle virtual CPU is polled by the host for a while,
 * then descheduled, and waking it after that costs more. The demo therefore measures wake-ups after the
 * same quiet as its server's between requests, interleaved with them.
 */
final class FutexWakeProbe {
    /** Coordinates: the segment and an offset in it. */
    private static final VarHandle LONGS = java.lang.foreign.ValueLayout.JAVA_LONG.varHandle();
    private static final long STAMP = 128;
    private static final long DONE = 256;

    private FutexWakeProbe() {
    }

    /**
     * Measures {@code count} wake-ups, each after {@code quietNanos} of quiet.
     *
     * @param count how many
     * @param quietNanos how long the sleeper sleeps before each wake-up
     * @return each wake-up's latency in nanoseconds, from just before the ring to the sleeper running
     * @throws InterruptedException if interrupted
     */
    static long[] measure(final int count, final long quietNanos) throws InterruptedException {
        final long[] latencies = new long[count];
        try (Arena arena = Arena.ofShared()) {
            final MemorySegment memory = arena.allocate(512, 128);
            final Doorbell doorbell = new Doorbell(memory, 0);
            final Thread sleeper = Thread.ofPlatform().name("futex-wake-probe").start(() -> {
                ThreadAffinity.pinToAllowed(1);
                for (int i = 0; i < count; i++) {
                    final int round = i;
                    // acquire: pairs with the waker's release of the stamp.
                    while ((long) LONGS.getAcquire(memory, STAMP) == 0) {
                        doorbell.await(() -> (long) LONGS.getAcquire(memory, STAMP) != 0, TimeUnit.SECONDS.toNanos(1));
                    }
                    latencies[round] = System.nanoTime() - (long) LONGS.getAcquire(memory, STAMP);
                    LONGS.setRelease(memory, STAMP, 0L);
                    // release: the latency is recorded before the waker sees the round done.
                    LONGS.setRelease(memory, DONE, (long) round + 1);
                }
            });
            for (int i = 0; i < count; i++) {
                final long quietUntil = System.nanoTime() + quietNanos;
                while (System.nanoTime() < quietUntil) {
                    Thread.onSpinWait();
                }
                // release: pairs with the sleeper's acquire of the stamp.
                LONGS.setRelease(memory, STAMP, System.nanoTime());
                doorbell.ring();
                while ((long) LONGS.getAcquire(memory, DONE) != i + 1) {
                    Thread.onSpinWait();
                }
            }
            sleeper.join();
        }
        return latencies;
    }
}
