/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.sync;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.test.ChildJvm;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.function.BooleanSupplier;

import static dev.isthmus.internal.MemoryAccess.getLongAcquire;
import static dev.isthmus.internal.MemoryAccess.putLongRelease;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Two JVMs hand a counter back and forth through shared memory, each waiting with the strategy under
 * test: every value must arrive, in order, and neither side may miss a wake-up (which would hang it
 * until the test's timeout).
 */
class IdleStrategyHandOffTest {
    static final int ROUNDS = 5_000;
    static final long PING = 0;
    static final long PING_BELL = 128;
    static final long PONG = 256;
    static final long PONG_BELL = 384;
    /** Long enough that a lost wake-up is a hang, not a slow round. */
    static final long MAX_SLEEP_NS = 60_000_000_000L;

    @ParameterizedTest
    @ValueSource(strings = {"spin-then-futex", "busy-spin", "yield", "futex-only"})
    void shouldHandValuesBackAndForthBetweenTwoJvms(final String strategy) {
        final ResourceName name = ResourceName.of("idletest", "seg", strategy);
        try (SharedMemory memory = SharedMemory.builder(name).lengthBytes(4096).create();
             ChildJvm child = ChildJvm.start(Ponger.class, name.toString(), strategy)) {
            try {
                final MemorySegment segment = memory.segment();
                final Doorbell pingBell = new Doorbell(segment, PING_BELL);
                final Doorbell pongBell = new Doorbell(segment, PONG_BELL);
                final IdleStrategy idle = IdleStrategies.byName(strategy).get();
                child.awaitReady();
                for (long i = 1; i <= ROUNDS; i++) {
                    // release: publishes the ping; pairs with the child's getLongAcquire(PING).
                    putLongRelease(segment, PING, i);
                    pingBell.ring();
                    final long expected = i;
                    final BooleanSupplier answered = () -> getLongAcquire(segment, PONG) == expected;
                    while (!answered.getAsBoolean()) {
                        idle.idle(pongBell, answered, MAX_SLEEP_NS);
                    }
                    idle.reset();
                }
                putLongRelease(segment, PING, -1);
                pingBell.ring();
                assertEquals("DONE " + ROUNDS, child.awaitLine("DONE", Duration.ofSeconds(60)));
                child.assertExit(0, Duration.ofSeconds(30));
            } finally {
                memory.unlink();
            }
        }
    }

    /** Answers every ping with the same value, until the ping is -1. */
    public static final class Ponger {
        public static void main(final String[] args) {
            try (SharedMemory memory = SharedMemory.open(ResourceName.parse(args[0]).orElseThrow())) {
                final MemorySegment segment = memory.segment();
                final Doorbell pingBell = new Doorbell(segment, PING_BELL);
                final Doorbell pongBell = new Doorbell(segment, PONG_BELL);
                final IdleStrategy idle = IdleStrategies.byName(args[1]).get();
                System.out.println("READY");
                long last = 0;
                while (true) {
                    final long seen = last;
                    // acquire: pairs with the parent's putLongRelease(PING).
                    final BooleanSupplier pinged = () -> getLongAcquire(segment, PING) != seen;
                    while (!pinged.getAsBoolean()) {
                        idle.idle(pingBell, pinged, MAX_SLEEP_NS);
                    }
                    idle.reset();
                    final long ping = getLongAcquire(segment, PING);
                    if (ping == -1) {
                        break;
                    }
                    if (ping != last + 1) {
                        throw new IllegalStateException("expected ping " + (last + 1) + ", got " + ping);
                    }
                    last = ping;
                    putLongRelease(segment, PONG, ping);
                    pongBell.ring();
                }
                System.out.println("DONE " + last);
            }
        }
    }
}
