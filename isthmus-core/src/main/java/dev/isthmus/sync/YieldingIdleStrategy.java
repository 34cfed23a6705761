/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.sync;

import java.util.function.BooleanSupplier;

/**
 * Calls {@link Thread#yield()}: gives the core to other runnable threads, otherwise behaves like a
 * busy spin. Costs a {@code sched_yield} system call per idle.
 */
public final class YieldingIdleStrategy implements IdleStrategy {
    /** The name {@link IdleStrategies#byName} accepts. */
    public static final String ALIAS = "yield";

    /** Creates the strategy; it has no state. */
    public YieldingIdleStrategy() {
    }

    @Override
    public boolean idle(final Doorbell doorbell, final BooleanSupplier ready, final long maxSleepNs) {
        Thread.yield();
        // Other threads may have run for a whole time slice.
        return true;
    }

    @Override
    public void reset() {
    }

    @Override
    public String alias() {
        return ALIAS;
    }
}
