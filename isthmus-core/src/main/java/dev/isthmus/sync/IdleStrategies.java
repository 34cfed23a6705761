/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.sync;

import java.util.List;
import java.util.function.Supplier;

/**
 * Factories for the {@link IdleStrategy} family, and lookup by name for options and command lines.
 */
public final class IdleStrategies {
    /** The names {@link #byName} accepts, the default first. */
    public static final List<String> ALIASES = List.of(SpinThenFutexIdleStrategy.ALIAS, BusySpinIdleStrategy.ALIAS,
        YieldingIdleStrategy.ALIAS, FutexIdleStrategy.ALIAS);

    private IdleStrategies() {
    }

    /**
     * {@return a new instance of the default strategy: spin for half a millisecond, then sleep}
     */
    public static IdleStrategy defaultStrategy() {
        return new SpinThenFutexIdleStrategy();
    }

    /**
     * {@return a new spin-then-futex strategy}
     *
     * @param spinBudgetNs how long to spin before sleeping
     */
    public static IdleStrategy spinThenFutex(final long spinBudgetNs) {
        return new SpinThenFutexIdleStrategy(spinBudgetNs);
    }

    /**
     * {@return a supplier of new instances of the named strategy}
     *
     * @param alias one of {@link #ALIASES}
     * @throws IllegalArgumentException if the name is unknown
     */
    public static Supplier<IdleStrategy> byName(final String alias) {
        return switch (alias) {
            case SpinThenFutexIdleStrategy.ALIAS -> SpinThenFutexIdleStrategy::new;
            case BusySpinIdleStrategy.ALIAS -> BusySpinIdleStrategy::new;
            case YieldingIdleStrategy.ALIAS -> YieldingIdleStrategy::new;
            case FutexIdleStrategy.ALIAS -> FutexIdleStrategy::new;
            default -> throw new IllegalArgumentException("idle strategy \"" + alias + "\" is unknown; known: "
                + String.join(", ", ALIASES));
        };
    }
}
