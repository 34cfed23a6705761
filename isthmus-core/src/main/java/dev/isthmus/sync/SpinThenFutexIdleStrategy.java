/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.sync;

import java.util.function.BooleanSupplier;

/**
 * Spins for a budget of time, then sleeps on the doorbell: the default.
 *
 * <p>While the other side is active, waits end within the spin and cost no system call (a hand-off takes
 * a fraction of a microsecond); once it has been quiet for longer than the budget, the thread sleeps and
 * costs nothing. The budget bounds the CPU a waiting thread burns after the last message.
 */
public final class SpinThenFutexIdleStrategy implements IdleStrategy {
    /** The name {@link IdleStrategies#byName} accepts. */
    public static final String ALIAS = "spin-then-futex";
    /** The default spin budget: half a millisecond. */
    public static final long DEFAULT_SPIN_BUDGET_NS = 500_000L;

    /** How many spins pass between two reads of the clock. */
    private static final int CLOCK_CHECK_MASK = 63;

    private final long spinBudgetNs;
    private long spinStartNs;
    private int spins;

    /**
     * Creates the strategy with the {@linkplain #DEFAULT_SPIN_BUDGET_NS default budget}.
     */
    public SpinThenFutexIdleStrategy() {
        this(DEFAULT_SPIN_BUDGET_NS);
    }

    /**
     * Creates the strategy.
     *
     * @param spinBudgetNs how long to spin before sleeping, at least 0
     * @throws IllegalArgumentException if {@code spinBudgetNs} is negative
     */
    public SpinThenFutexIdleStrategy(final long spinBudgetNs) {
        if (spinBudgetNs < 0) {
            throw new IllegalArgumentException("spinBudgetNs=" + spinBudgetNs + " must be >= 0");
        }
        this.spinBudgetNs = spinBudgetNs;
    }

    /**
     * {@return how long this strategy spins before it sleeps}
     */
    public long spinBudgetNs() {
        return spinBudgetNs;
    }

    @Override
    public boolean idle(final Doorbell doorbell, final BooleanSupplier ready, final long maxSleepNs) {
        final int spun = spins++;
        if (spun == 0) {
            spinStartNs = System.nanoTime();
            Thread.onSpinWait();
            return false;
        }
        if (spun > 0 && ((spun & CLOCK_CHECK_MASK) != 0 || System.nanoTime() - spinStartNs < spinBudgetNs)) {
            Thread.onSpinWait();
            return false;
        }
        // The budget is spent: from now on every idle sleeps (spins stays negative until reset).
        spins = Integer.MIN_VALUE;
        doorbell.await(ready, maxSleepNs);
        return true;
    }

    @Override
    public void reset() {
        spins = 0;
    }

    @Override
    public String alias() {
        return ALIAS;
    }
}
