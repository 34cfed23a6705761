/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Turns at receiving, for callers of something without a receiving thread of its own (a structured channel
 * or a session driven by its callers): one caller at a time holds the receive lock and receives for
 * everyone; the others park until it lets go, which may be because it received their answer or because it
 * got its own and stopped, and then look again. Without this, a caller parked behind one that stopped
 * receiving waits out its own slice before anyone receives its answer.
 *
 * <p>The lock is the owner's; everyone who takes it must let go through {@link #unlock()}. Thread-safe.
 */
public final class ReceiveTurns {
    private final ReentrantLock lock;
    /**
     * Callers parked for their turn. A caller registers before it looks at the lock again, and a holder wakes
     * every one registered after it lets go: a release cannot slip between a caller's look and its park.
     */
    private final Set<Thread> parked = ConcurrentHashMap.newKeySet();

    /**
     * Turns taken on {@code lock}.
     *
     * @param lock the receive lock the turns are taken on
     */
    public ReceiveTurns(final ReentrantLock lock) {
        this.lock = lock;
    }

    /**
     * Lets go of the receive lock, held by this thread, and wakes the callers parked for their turn.
     */
    public void unlock() {
        lock.unlock();
        wakeAll();
    }

    /**
     * Parks this thread until the holder of the receive lock lets go, or {@code timeoutNs} passed, or it is
     * woken ({@link #wakeAll}) or interrupted; returns at once if no one holds the lock now. The caller then
     * looks at its answer and tries for the lock again.
     *
     * @param blocker   what the thread is parked on, for thread dumps
     * @param timeoutNs the longest park
     */
    public void awaitTurn(final Object blocker, final long timeoutNs) {
        final Thread self = Thread.currentThread();
        parked.add(self);
        try {
            // Registered first: a holder that lets go from now on unparks this thread.
            if (lock.isLocked() && !lock.isHeldByCurrentThread()) {
                LockSupport.parkNanos(blocker, timeoutNs);
            }
        } finally {
            parked.remove(self);
        }
    }

    /**
     * Wakes every caller parked for its turn, from any thread: for a failure or a close, which ends their
     * waits without the lock changing hands.
     */
    public void wakeAll() {
        if (!parked.isEmpty()) {
            for (final Thread waiter : parked) {
                LockSupport.unpark(waiter);
            }
        }
    }
}
