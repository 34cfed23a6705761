/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

/**
 * How long one side of a channel spins before it sleeps in the kernel, learnt from how its recent waits ended.
 * A spin that ends in success keeps (or doubles back up to) the configured budget; a spin that fails halves it,
 * down to none, because a peer that did not answer within the spin is usually not running — on a machine whose
 * processors are all busy, spinning then takes the processor the peer needs, and a stream that would run at
 * full speed with waits in the kernel runs several times slower. With no spin left, every
 * {@value #PROBE_INTERVAL}th wait spins a sixteenth of the budget again, to find out whether the peer became quick.
 *
 * <p>Not thread-safe: one per side, used under that side's lock.
 */
final class AdaptiveSpin {
    /** Waits without spinning between two probes. */
    static final int PROBE_INTERVAL = 64;

    private final long budgetNs;
    private final long stepNs;
    private long currentNs;
    private int waitsSinceProbe;

    /**
     * A spin that starts at the full budget.
     *
     * @param budgetNs the longest spin, at least 0
     */
    AdaptiveSpin(final long budgetNs) {
        this.budgetNs = budgetNs;
        this.stepNs = budgetNs / 16;
        this.currentNs = budgetNs;
    }

    /**
     * {@return how long the wait beginning now spins}, at most {@code timeoutNs}
     *
     * @param timeoutNs the wait's whole timeout
     */
    long spinNs(final long timeoutNs) {
        long spin = currentNs;
        if (spin == 0 && stepNs > 0 && ++waitsSinceProbe >= PROBE_INTERVAL) {
            waitsSinceProbe = 0;
            spin = stepNs;
        }
        return Math.min(spin, timeoutNs);
    }

    /** The wait ended during its spin. */
    void succeeded() {
        currentNs = Math.min(budgetNs, Math.max(currentNs * 2, stepNs));
    }

    /** The wait's spin ended without success (it went on to sleep in the kernel). */
    void failed() {
        final long half = currentNs / 2;
        currentNs = half < stepNs ? 0 : half;
    }

    /** {@return the spin the next wait would begin with, before any probe}: for tests. */
    long currentNs() {
        return currentNs;
    }
}
