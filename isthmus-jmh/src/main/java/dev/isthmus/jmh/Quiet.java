/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.jmh;

import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.runner.IterationType;

/**
 * A quiet spell before each measured call, outside the timing: the calling thread spins for
 * {@link #quietMicros} on the clock, touching no memory of its own. What the call then costs over
 * {@code quietMicros=0} is what the machine took from the CPU's caches, TLBs and branch predictors while the
 * thread did nothing, which no code on the path can prevent: on a shared virtual machine, the host's other
 * work on the same physical core.
 *
 * <p>Warm-up iterations spin for a microsecond only: a path called a thousand times a second would still be in
 * the JIT's profiling tiers after the warm-up, and that, not the machine, would be measured; the spin's loop
 * still runs, so that the code around the call is not recompiled when the measurement starts.
 */
@State(Scope.Thread)
public class Quiet {
    /** How long to spin before each measured call, in microseconds. */
    @Param({"0", "100", "1000"})
    public int quietMicros;

    private long quietNs;

    /** The spell of a warm-up iteration. */
    private static final long WARM_UP_NS = 1_000L;

    /**
     * Sets the spell for the iteration: a microsecond while warming up.
     *
     * @param iteration the iteration about to run
     */
    @Setup(Level.Iteration)
    public void iteration(final IterationParams iteration) {
        quietNs = iteration.getType() == IterationType.WARMUP ? Math.min(WARM_UP_NS, quietMicros * 1_000L) : quietMicros * 1_000L;
    }

    /** Spins for the spell, on the clock only. */
    @Setup(Level.Invocation)
    public void spin() {
        final long end = System.nanoTime() + quietNs;
        while (System.nanoTime() - end < 0) {
            Thread.onSpinWait();
        }
    }
}
