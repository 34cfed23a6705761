/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * Turns at receiving, on a receive lock that one thread at a time holds while it receives (a structured
 * channel's or a session's). Two kinds of thread want the lock:
 * <ul>
 *   <li>callers waiting for an answer, without a receiving thread to do it for them: one at a time takes a
 *       turn ({@link #tryTakeTurn}) and receives for everyone; the others park ({@link #awaitTurn}) until it
 *       lets go ({@link #unlock}) — because it received their answer, or got its own and stopped — and then
 *       look again. Without this, a caller parked behind one that stopped receiving waits out its own slice
 *       before anyone receives its answer;</li>
 *   <li>threads that need the lock briefly and must not wait for a slice to end: registering a handler,
 *       polling without waiting ({@link #lock}). They wake whoever is receiving, out of its wait, and the
 *       waiting callers leave the lock to them meanwhile, rather than take it back for another slice.</li>
 * </ul>
 * Everyone lets go through {@link #unlock}, except a dedicated receiving thread, which uses the lock itself and
 * shortens its waits while {@link #wanted()}.
 *
 * <p>Thread-safe.
 */
public final class ReceiveTurns {
    /**
     * How long {@link #lock} waits on the lock before waking the receiver again: it may have left its wait and
     * taken the lock back before this thread queued on it.
     */
    public static final long LOCK_RETRY_NS = TimeUnit.MILLISECONDS.toNanos(1);

    private final ReentrantLock lock;
    private final Runnable wakeReceiver;
    /**
     * Callers parked for their turn. A caller registers before it looks at the lock (and its answer) again, and
     * a holder wakes every one registered after it lets go: a release cannot slip between the look and the park.
     */
    private final Set<Thread> parked = ConcurrentHashMap.newKeySet();
    /** Threads in {@link #lock} that have not got the lock yet. */
    private final AtomicInteger wanted = new AtomicInteger();

    /**
     * Turns taken on {@code lock}.
     *
     * @param lock         the receive lock
     * @param wakeReceiver ends the wait of the thread receiving under the lock, from any thread; it may wake a
     *                     wait that begins just after, once
     */
    public ReceiveTurns(final ReentrantLock lock, final Runnable wakeReceiver) {
        this.lock = lock;
        this.wakeReceiver = wakeReceiver;
    }

    /**
     * Takes the lock without waiting for the holder's slice to end: wakes the holder's wait, and again each
     * {@link #LOCK_RETRY_NS} until this thread has the lock (once queued on a fair lock it is next; before, the
     * holder may leave its wait and take the lock back). Reentrant. Not interruptible; an interrupt is kept.
     */
    public void lock() {
        if (lock.isHeldByCurrentThread() || lock.tryLock()) {
            return;
        }
        boolean interrupted = false;
        // Before the wake-up: callers out of their turn read it before they take another (tryTakeTurn).
        wanted.incrementAndGet();
        try {
            while (true) {
                wakeReceiver.run();
                try {
                    if (lock.tryLock(LOCK_RETRY_NS, TimeUnit.NANOSECONDS)) {
                        break;
                    }
                } catch (final InterruptedException e) {
                    interrupted = true;
                }
            }
        } finally {
            wanted.decrementAndGet();
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * {@return whether this caller took the lock for a turn at receiving}: not if someone holds it, nor while a
     * thread waits in {@link #lock} (the turn is its).
     */
    public boolean tryTakeTurn() {
        return wanted.get() == 0 && lock.tryLock();
    }

    /** {@return whether a thread waits in {@link #lock}: a receiving thread should keep its wait short} */
    public boolean wanted() {
        return wanted.get() != 0;
    }

    /**
     * Lets go of the lock, held by this thread, and wakes the callers parked for their turn.
     */
    public void unlock() {
        lock.unlock();
        wakeAll();
    }

    /**
     * Parks this caller, which could not take a turn, until the holder lets go, or {@code timeoutNs} passed,
     * or it is woken ({@link #wakeAll}) or interrupted; returns at once if its answer is there or no one holds
     * or wants the lock. The caller then looks at its answer and tries for a turn again.
     *
     * @param blocker   what the thread is parked on, for thread dumps
     * @param timeoutNs the longest park
     * @param answered  whether the caller's answer came (the holder may have completed it before this caller
     *                  registered, let go, and the lock been taken again since)
     */
    public void awaitTurn(final Object blocker, final long timeoutNs, final BooleanSupplier answered) {
        final Thread self = Thread.currentThread();
        parked.add(self);
        try {
            // Registered first: a holder that lets go from now on unparks this thread.
            if (!answered.getAsBoolean() && (lock.isLocked() || wanted.get() != 0)) {
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
