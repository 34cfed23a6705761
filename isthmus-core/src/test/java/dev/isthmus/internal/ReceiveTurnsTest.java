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
        final ReceiveTurns turns = new ReceiveTurns(new ReentrantLock(), () -> { });
        final long start = System.nanoTime();
        turns.awaitTurn(this, LONG_PARK_NS, () -> false);
        assertTrue(System.nanoTime() - start < PROMPT_NS);
    }

    @Test
    void shouldWakeTheParkedCallerWhenTheHolderLetsGoWhateverTheInterleaving() throws Exception {
        final ReentrantLock lock = new ReentrantLock();
        final ReceiveTurns turns = new ReceiveTurns(lock, () -> { });
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
            turns.awaitTurn(this, LONG_PARK_NS, () -> false);
            final long took = System.nanoTime() - start;
            assertTrue(took < PROMPT_NS, "round " + round + ": parked " + TimeUnit.NANOSECONDS.toMillis(took)
                + " ms after the holder let go");
            holder.join();
            assertFalse(lock.isLocked());
        }
    }

    @Test
    void shouldNotParkACallerWhoseAnswerCame() {
        final ReentrantLock lock = new ReentrantLock();
        final ReceiveTurns turns = new ReceiveTurns(lock, () -> { });
        lock.lock();
        try {
            final long start = System.nanoTime();
            // Held by another thread: a caller whose answer is there returns at once nevertheless.
            final Thread caller = Thread.ofPlatform().start(() -> turns.awaitTurn(this, LONG_PARK_NS, () -> true));
            caller.join(TimeUnit.NANOSECONDS.toMillis(PROMPT_NS));
            assertFalse(caller.isAlive());
            assertTrue(System.nanoTime() - start < PROMPT_NS);
        } catch (final InterruptedException e) {
            throw new AssertionError(e);
        } finally {
            lock.unlock();
        }
    }

    /**
     * A thread taking the lock wakes the holder out of its wait (a holder that lets go only when woken, and
     * takes the lock back at once, as a receiving loop does); while it waits, no caller takes a turn.
     */
    @Test
    void shouldTakeTheLockFromAHolderThatLetsGoOnlyWhenWoken() throws Exception {
        final ReentrantLock lock = new ReentrantLock(true);
        final java.util.concurrent.atomic.AtomicInteger wakes = new java.util.concurrent.atomic.AtomicInteger();
        final ReceiveTurns turns = new ReceiveTurns(lock, wakes::incrementAndGet);
        final java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        final CountDownLatch holding = new CountDownLatch(1);
        final Thread receiver = Thread.ofPlatform().start(() -> {
            while (!stop.get()) {
                lock.lock();
                try {
                    holding.countDown();
                    final int seen = wakes.get();
                    // A "poll" that ends only when woken, or after a long slice.
                    final long end = System.nanoTime() + LONG_PARK_NS;
                    while (wakes.get() == seen && !stop.get() && System.nanoTime() < end) {
                        Thread.onSpinWait();
                    }
                } finally {
                    turns.unlock();
                }
            }
        });
        holding.await();
        for (int i = 0; i < 200; i++) {
            final long start = System.nanoTime();
            turns.lock();
            try {
                assertTrue(lock.isHeldByCurrentThread());
                assertFalse(turns.wanted());
            } finally {
                turns.unlock();
            }
            assertTrue(System.nanoTime() - start < PROMPT_NS, "took " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start) + " ms");
        }
        stop.set(true);
        receiver.join();
    }

    @Test
    void shouldWakeEveryParkedCallerOnWakeAll() throws Exception {
        final ReentrantLock lock = new ReentrantLock();
        final ReceiveTurns turns = new ReceiveTurns(lock, () -> { });
        lock.lock();
        try {
            final Thread[] waiters = new Thread[3];
            final long[] took = new long[waiters.length];
            for (int i = 0; i < waiters.length; i++) {
                final int index = i;
                waiters[i] = Thread.ofPlatform().start(() -> {
                    final long start = System.nanoTime();
                    turns.awaitTurn(this, LONG_PARK_NS, () -> false);
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
