/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.sync;

import java.util.function.BooleanSupplier;

/**
 * What a thread does while it waits for another process: spin, yield, or sleep on a {@link Doorbell}.
 *
 * <p>A wait loop calls {@link #idle} each time it finds nothing to do and {@link #reset()} each time it
 * makes progress:
 * {@snippet :
 * IdleStrategy idle = IdleStrategies.spinThenFutex();
 * while (!queueHasData.getAsBoolean()) {
 *     idle.idle(doorbell, queueHasData, TimeUnit.MILLISECONDS.toNanos(100));
 * }
 * idle.reset();
 * }
 *
 * <p>Strategies that sleep do so through {@link Doorbell#await}, which announces the sleep and re-checks
 * {@code ready} first, so a wake-up is never missed; the other side rings the doorbell after publishing.
 * Every sleep is bounded by {@code maxSleepNs}, so the loop regains control to check deadlines and
 * the peer's liveness.
 *
 * <p>Thread safety: instances keep per-wait state and must be used by one thread at a time; use one
 * instance per waiting thread (options take a {@code Supplier<IdleStrategy>} for that reason).
 */
public interface IdleStrategy {
    /**
     * Idles once.
     *
     * @param doorbell   rung by the other side when it publishes; strategies that sleep sleep on it
     * @param ready      the condition the loop waits for; re-checked after a sleep is announced
     * @param maxSleepNs the longest this call may sleep, greater than 0
     * @return whether this call may have let time pass (slept, or gave the CPU away): a loop that reads the
     *         clock only every so many spins should read it now
     */
    boolean idle(Doorbell doorbell, BooleanSupplier ready, long maxSleepNs);

    /**
     * Starts a new wait: called after the loop made progress.
     */
    void reset();

    /**
     * {@return the strategy's name, as {@link IdleStrategies#byName} accepts it}
     */
    String alias();
}
