/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.sync;

import java.util.function.BooleanSupplier;

/**
 * Spins on {@link Thread#onSpinWait()}: the lowest latency, one core fully busy while waiting, and
 * never a system call. For dedicated cores.
 */
public final class BusySpinIdleStrategy implements IdleStrategy {
    /** The name {@link IdleStrategies#byName} accepts. */
    public static final String ALIAS = "busy-spin";

    /** Creates the strategy; it has no state. */
    public BusySpinIdleStrategy() {
    }

    @Override
    public boolean idle(final Doorbell doorbell, final BooleanSupplier ready, final long maxSleepNs) {
        Thread.onSpinWait();
        return false;
    }

    @Override
    public void reset() {
    }

    @Override
    public String alias() {
        return ALIAS;
    }
}
