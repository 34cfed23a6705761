/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.stress;

import dev.isthmus.sync.Doorbell;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.ZZ_Result;

import java.lang.foreign.MemorySegment;
import java.util.function.BooleanSupplier;

import static dev.isthmus.internal.MemoryAccess.getIntAcquire;
import static dev.isthmus.internal.MemoryAccess.putIntRelease;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * The real {@link Doorbell}: a waker publishes a value and rings; a sleeper announces itself and re-checks
 * for the value ({@link Doorbell#await}). Outcome {@code (waker saw a sleeper, sleeper's re-check saw the
 * value)}: {@code false, false} is a lost wake-up (the sleeper then sleeps out its timeout).
 */
public final class DoorbellStress {
    /** Long enough to be a sleep, short enough that a lost wake-up costs the run little. */
    static final long SLEEP_NS = 200_000;
    static final long DATA = 32;

    private DoorbellStress() {
    }

    /** One doorbell and one published int, in a fresh slot of native memory. */
    abstract static class Bell {
        final MemorySegment slot = Slots.next();
        final Doorbell doorbell;
        final BooleanSupplier published = () -> getIntAcquire(slot, DATA) == 1;

        Bell(final Doorbell.Mode mode) {
            this.doorbell = new Doorbell(slot, 0, mode);
        }

        final void publishAndRing(final ZZ_Result r) {
            // release: publishes the value; pairs with the sleeper's getIntAcquire(DATA) in published.
            putIntRelease(slot, DATA, 1);
            r.r1 = doorbell.ring();
        }

        final void announceAndRecheck(final ZZ_Result r) {
            r.r2 = doorbell.await(published, SLEEP_NS);
        }
    }

    /** The fenced mode, the default. */
    @JCStressTest
    @Outcome(id = "true, true", expect = ACCEPTABLE, desc = "Both saw each other: one needless wake-up.")
    @Outcome(id = "true, false", expect = ACCEPTABLE, desc = "The sleeper slept; the waker saw it and woke it.")
    @Outcome(id = "false, true", expect = ACCEPTABLE, desc = "The waker saw no sleeper; the re-check saw the value.")
    @Outcome(id = "false, false", expect = FORBIDDEN, desc = "Lost wake-up: neither saw the other.")
    @State
    public static class Fenced extends Bell {
        public Fenced() {
            super(Doorbell.Mode.FENCED);
        }

        @Actor
        public void waker(final ZZ_Result r) {
            publishAndRing(r);
        }

        @Actor
        public void sleeper(final ZZ_Result r) {
            announceAndRecheck(r);
        }
    }

    /**
     * The asymmetric mode (falls back to fenced where membarrier is unavailable). It has lost about one
     * wake-up in 400,000 samples with the waker interpreted or compiled by C1: reported as interesting, which
     * is why that mode is opt-in and documented as unsafe (see {@link Doorbell}).
     */
    @JCStressTest
    @Outcome(id = "true, true", expect = ACCEPTABLE, desc = "Both saw each other: one needless wake-up.")
    @Outcome(id = "true, false", expect = ACCEPTABLE, desc = "The sleeper slept; the waker saw it and woke it.")
    @Outcome(id = "false, true", expect = ACCEPTABLE, desc = "The waker saw no sleeper; the re-check saw the value.")
    @Outcome(id = "false, false", expect = ACCEPTABLE_INTERESTING,
        desc = "Lost wake-up: neither saw the other (known in this mode, which is why it is not the default).")
    @State
    public static class Asymmetric extends Bell {
        public Asymmetric() {
            super(Doorbell.Mode.ASYMMETRIC);
        }

        @Actor
        public void waker(final ZZ_Result r) {
            publishAndRing(r);
        }

        @Actor
        public void sleeper(final ZZ_Result r) {
            announceAndRecheck(r);
        }
    }
}
