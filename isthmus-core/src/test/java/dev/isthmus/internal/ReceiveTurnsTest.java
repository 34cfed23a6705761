/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A caller parked for its turn wakes when the holder lets go, however the release and its park interleave:
 * a lost wake-up would leave it parked for its whole (long) timeout.
 */
class ReceiveTurnsTest {
    /** Far longer than any turn here: a waiter still parked this long missed its wake-up. */
    private static final long LONG_PARK_NS = TimeUnit.SECONDS.toNanos(20);
    private static final long PROMPT_NS = TimeUnit.SECONDS.toNanos(2);

    @Test
    void shouldReturnAtOnceWhenNoOneHoldsTheLock() {
        final ReceiveTurns turns = new ReceiveTurns(new ReentrantLock());
        final long start = System.nanoTime();
        turns.awaitTurn(this, LONG_PARK_NS);
        assertTrue(System.nanoTime() - start < PROMPT_NS);
    }

    @Test
    void shouldWakeTheParkedCallerWhenTheHolderLetsGoWhateverTheInterleaving() throws Exception {
        final ReentrantLock lock = new ReentrantLock();
        final ReceiveTurns turns = new ReceiveTurns(lock);
        for (int round = 0; round < 2_000; round++) {
            final CountDownLatch held = new CountDownLatch(1);
            final CountDownLatch release = new CountDownLatch(1);
            final Thread holder = Thread.ofPlatform().start(() -> {
                lock.lock();
                held.countDown();
                try {
                    release.await();
                } catch (final InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                // Sometimes before the waiter registers, sometimes between its look and its park, sometimes after.
                final int spin = ThreadLocalRandom.current().nextInt(2_000);
                for (int i = 0; i < spin; i++) {
                    Thread.onSpinWait();
                }
                turns.unlock();
            });
            held.await();
            release.countDown();
            final long start = System.nanoTime();
            turns.awaitTurn(this, LONG_PARK_NS);
            final long took = System.nanoTime() - start;
            assertTrue(took < PROMPT_NS, "round " + round + ": parked " + TimeUnit.NANOSECONDS.toMillis(took)
                + " ms after the holder let go");
            holder.join();
            assertFalse(lock.isLocked());
        }
    }

    @Test
    void shouldWakeEveryParkedCallerOnWakeAll() throws Exception {
        final ReentrantLock lock = new ReentrantLock();
        final ReceiveTurns turns = new ReceiveTurns(lock);
        lock.lock();
        try {
            final Thread[] waiters = new Thread[3];
            final long[] took = new long[waiters.length];
            for (int i = 0; i < waiters.length; i++) {
                final int index = i;
                waiters[i] = Thread.ofPlatform().start(() -> {
                    final long start = System.nanoTime();
                    turns.awaitTurn(this, LONG_PARK_NS);
                    took[index] = System.nanoTime() - start;
                });
            }
            for (final Thread waiter : waiters) {
                while (waiter.getState() != Thread.State.TIMED_WAITING) {
                    LockSupport.parkNanos(100_000);
                }
            }
            turns.wakeAll();
            for (int i = 0; i < waiters.length; i++) {
                waiters[i].join(TimeUnit.NANOSECONDS.toMillis(PROMPT_NS));
                assertFalse(waiters[i].isAlive(), "waiter " + i + " still parked after wakeAll");
                assertTrue(took[i] < PROMPT_NS);
            }
        } finally {
            lock.unlock();
        }
    }
}
