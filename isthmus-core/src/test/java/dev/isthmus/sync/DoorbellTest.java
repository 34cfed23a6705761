/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.sync;

import dev.isthmus.internal.linux.Membarrier;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static dev.isthmus.sync.DoorbellDescriptor.MODE_ASYMMETRIC;
import static dev.isthmus.sync.DoorbellDescriptor.MODE_FENCED;
import static dev.isthmus.sync.DoorbellDescriptor.MODE_SHIFT;
import static dev.isthmus.sync.DoorbellDescriptor.SLEEPING;
import static dev.isthmus.sync.DoorbellDescriptor.STATE_OFFSET;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The doorbell's recorded mode and its sleeper flag; the race between announcement and publication is
 * covered by the jcstress tests of isthmus-stress.
 */
class DoorbellTest {
    private static final long LONG_SLEEP_NS = TimeUnit.SECONDS.toNanos(60);

    @Test
    void shouldRecordTheFirstAttachersModeAndMakeLaterAttachersAdoptIt() {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment segment = arena.allocate(64, 8);
            final Doorbell first = new Doorbell(segment, 0, Doorbell.Mode.FENCED);
            final Doorbell second = new Doorbell(segment, 0, Doorbell.Mode.ASYMMETRIC);
            assertEquals(Doorbell.Mode.FENCED, first.mode());
            assertEquals(Doorbell.Mode.FENCED, second.mode(), "a later attacher adopts the recorded mode");
            assertEquals(MODE_FENCED, DoorbellDescriptor.mode(segment.get(JAVA_INT, STATE_OFFSET)));
        }
    }

    @Test
    void shouldRecordAsymmetricOnlyWhereExpeditedBarriersReachThisProcess() {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment segment = arena.allocate(64, 8);
            final Doorbell first = new Doorbell(segment, 8, Doorbell.Mode.ASYMMETRIC);
            final Doorbell second = new Doorbell(segment, 8, Doorbell.Mode.FENCED);
            final Doorbell.Mode expected = Membarrier.isRegistered() ? Doorbell.Mode.ASYMMETRIC : Doorbell.Mode.FENCED;
            assertEquals(expected, first.mode());
            assertEquals(expected, second.mode(), "a later attacher adopts the recorded mode");
        }
    }

    @Test
    void shouldDefaultToTheFencedMode() {
        assumeTrue(System.getProperty("isthmus.doorbell.mode") == null, "the default is overridden");
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(Doorbell.Mode.FENCED, new Doorbell(arena.allocate(8, 8), 0).mode());
        }
    }

    @Test
    void shouldKeepASleeperFlagThatAFasterPeerSetBeforeTheModeWasRecorded() {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment segment = arena.allocate(8, 8);
            segment.set(JAVA_INT, STATE_OFFSET, SLEEPING);
            final Doorbell doorbell = new Doorbell(segment, 0, Doorbell.Mode.FENCED);
            assertEquals(1, doorbell.sleepers());
            assertTrue(doorbell.ring());
        }
    }

    @Test
    void shouldCostOneWakeUpForASleeperThatDiedAnnounced() {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment segment = arena.allocate(8, 8);
            final Doorbell doorbell = new Doorbell(segment, 0);
            // What a sleeper killed with kill -9 while asleep, or a lying peer, leaves behind.
            segment.set(JAVA_INT, STATE_OFFSET, segment.get(JAVA_INT, STATE_OFFSET) | SLEEPING);
            assertEquals(1, doorbell.sleepers());
            assertTrue(doorbell.ring(), "the first ring wakes the announced sleeper");
            assertEquals(1, doorbell.sequence());
            assertEquals(0, doorbell.sleepers(), "the waker cleared the flag");
            for (int i = 0; i < 1000; i++) {
                assertFalse(doorbell.ring(), "no system call once the flag is cleared");
            }
            assertEquals(1, doorbell.sequence());
            assertEquals(doorbell.mode(), new Doorbell(segment, 0).mode(), "clearing the flag keeps the mode");
        }
    }

    @Test
    void shouldMakeEverySleepAnnounceItselfAnew() {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment segment = arena.allocate(8, 8);
            final Doorbell doorbell = new Doorbell(segment, 0);
            assertTrue(doorbell.await(() -> true, LONG_SLEEP_NS), "ready on the re-check");
            assertTrue(doorbell.ring(), "the announcement stays until a waker clears it");
            assertFalse(doorbell.ring());
            assertTrue(doorbell.await(() -> true, LONG_SLEEP_NS));
            assertEquals(1, doorbell.sleepers(), "announced again");
        }
    }

    @Test
    void shouldTreatAnUnknownRecordedModeAsOneThatNeedsTheSleepersBarrier() {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment segment = arena.allocate(8, 8);
            segment.set(JAVA_INT, STATE_OFFSET, 0x7F << MODE_SHIFT);
            final Doorbell doorbell = new Doorbell(segment, 0, Doorbell.Mode.ASYMMETRIC);
            assertEquals(Doorbell.Mode.FENCED, doorbell.mode(), "the waker fences on an unknown mode");
            assertTrue(doorbell.await(() -> true, LONG_SLEEP_NS), "and the sleeper still re-checks");
            assertEquals(0x7F, DoorbellDescriptor.mode(segment.get(JAVA_INT, STATE_OFFSET)), "left as recorded");
        }
    }

    @Test
    void shouldWakeASleeperInEitherMode() throws InterruptedException {
        for (final Doorbell.Mode mode : Doorbell.Mode.values()) {
            try (Arena arena = Arena.ofShared()) {
                final MemorySegment segment = arena.allocate(16, 8);
                final Doorbell doorbell = new Doorbell(segment, 0, mode);
                final AtomicBoolean published = new AtomicBoolean();
                final CountDownLatch done = new CountDownLatch(1);
                final Thread sleeper = Thread.ofPlatform().start(() -> {
                    while (!published.get()) {
                        doorbell.await(published::get, LONG_SLEEP_NS);
                    }
                    done.countDown();
                });
                while (doorbell.sleepers() == 0) {
                    Thread.onSpinWait();
                }
                published.set(true);
                doorbell.ring();
                assertTrue(done.await(60, TimeUnit.SECONDS), "the sleeper woke in mode " + mode);
                sleeper.join();
            }
        }
    }

    @Test
    void shouldRecordAsymmetricInTheStateWordWhenAsked() {
        assumeTrue(Membarrier.isRegistered(), "membarrier GLOBAL_EXPEDITED is unavailable here");
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment segment = arena.allocate(8, 8);
            new Doorbell(segment, 0, Doorbell.Mode.ASYMMETRIC);
            assertEquals(MODE_ASYMMETRIC, DoorbellDescriptor.mode(segment.get(JAVA_INT, STATE_OFFSET)));
        }
    }
}
