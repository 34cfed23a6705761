/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class AdaptiveSpinTest {
    private static final long BUDGET = 160_000;
    private static final long FOREVER = Long.MAX_VALUE;

    @Test
    void shouldSpinTheWholeBudgetWhileSpinsSucceed() {
        final AdaptiveSpin spin = new AdaptiveSpin(BUDGET);
        for (int i = 0; i < 1_000; i++) {
            assertEquals(BUDGET, spin.spinNs(FOREVER));
            spin.succeeded();
        }
    }

    @Test
    void shouldHalveOnEveryFailureAndStopSpinningBelowASixteenth() {
        final AdaptiveSpin spin = new AdaptiveSpin(BUDGET);
        final long[] expected = {BUDGET, BUDGET / 2, BUDGET / 4, BUDGET / 8, BUDGET / 16, 0};
        for (final long e : expected) {
            assertEquals(e, spin.currentNs());
            spin.failed();
        }
        assertEquals(0, spin.currentNs());
    }

    @Test
    void shouldProbeOnceEverySixtyFourWaitsWithoutSpin() {
        final AdaptiveSpin spin = new AdaptiveSpin(BUDGET);
        while (spin.currentNs() > 0) {
            spin.failed();
        }
        for (int round = 0; round < 3; round++) {
            for (int i = 1; i < AdaptiveSpin.PROBE_INTERVAL; i++) {
                assertEquals(0, spin.spinNs(FOREVER), "wait " + i + " of round " + round);
            }
            assertEquals(BUDGET / 16, spin.spinNs(FOREVER), "the probe of round " + round);
            spin.failed();
        }
    }

    @Test
    void shouldClimbBackToTheBudgetAfterAProbeSucceeds() {
        final AdaptiveSpin spin = new AdaptiveSpin(BUDGET);
        while (spin.currentNs() > 0) {
            spin.failed();
        }
        long probe = 0;
        while (probe == 0) {
            probe = spin.spinNs(FOREVER);
        }
        spin.succeeded();
        final long[] expected = {BUDGET / 16, BUDGET / 8, BUDGET / 4, BUDGET / 2, BUDGET, BUDGET};
        for (final long e : expected) {
            assertEquals(e, spin.spinNs(FOREVER));
            spin.succeeded();
        }
    }

    @Test
    void shouldNeverSpinLongerThanTheTimeout() {
        final AdaptiveSpin spin = new AdaptiveSpin(BUDGET);
        assertEquals(1_000, spin.spinNs(1_000));
        assertEquals(0, spin.spinNs(0));
    }

    @Test
    void shouldNeverSpinWithoutABudget() {
        final AdaptiveSpin spin = new AdaptiveSpin(0);
        for (int i = 0; i < 3 * AdaptiveSpin.PROBE_INTERVAL; i++) {
            assertEquals(0, spin.spinNs(FOREVER));
            if (i % 2 == 0) {
                spin.succeeded();
            } else {
                spin.failed();
            }
        }
    }
}
