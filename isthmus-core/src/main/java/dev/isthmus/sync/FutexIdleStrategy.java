/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.sync;

import java.util.function.BooleanSupplier;

/**
 * Sleeps on the doorbell at once: no CPU spent waiting, but every hand-off after a quiet moment costs a
 * wake-up through the kernel (tens of microseconds across CPUs on small virtual machines).
 */
public final class FutexIdleStrategy implements IdleStrategy {
    /** The name {@link IdleStrategies#byName} accepts. */
    public static final String ALIAS = "futex-only";

    /** Creates the strategy; it has no state. */
    public FutexIdleStrategy() {
    }

    @Override
    public boolean idle(final Doorbell doorbell, final BooleanSupplier ready, final long maxSleepNs) {
        doorbell.await(ready, maxSleepNs);
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
