/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.stress;

import dev.isthmus.internal.linux.Membarrier;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.ZZ_Result;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

import static dev.isthmus.internal.MemoryAccess.getAndAddInt;
import static dev.isthmus.internal.MemoryAccess.getIntAcquire;
import static dev.isthmus.internal.MemoryAccess.putIntRelease;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE_INTERESTING;

/**
 * The doorbell's handshake reduced to its Dekker core, without the futex, to find why the first version's
 * asymmetric mode lost wake-ups. Waker: release store of the data, then a load of the sleeper word; sleeper:
 * an atomic increment of the sleeper word, then a load of the data. Outcome {@code (waker saw the sleeper,
 * sleeper saw the data)}; {@code false, false} is a lost wake-up.
 *
 * <p>{@link FirstVersion} is the first version's asymmetric protocol, membarrier on the sleeper's side
 * and nothing between the waker's store and load; {@link WithCompilerBarrier} adds the compiler-only
 * barrier the current doorbell has there; {@link NoBarrierAtAll} drops the membarrier too, to show that
 * the store-load reordering is observable on this machine at all.
 */
public final class DekkerStress {
    static final long SLEEPERS = 0;
    static final long DATA = 32;

    private DekkerStress() {
    }

    /** The first version's asymmetric doorbell: reordering observed here is the reported bug. */
    @JCStressTest
    @Outcome(id = {"true, true", "true, false", "false, true"}, expect = ACCEPTABLE, desc = "At least one saw the other.")
    @Outcome(id = "false, false", expect = ACCEPTABLE_INTERESTING,
        desc = "Lost wake-up: the JIT let the waker's load pass its store, which no membarrier can repair.")
    @State
    public static class FirstVersion {
        final MemorySegment slot = Slots.next();

        @Actor
        public void waker(final ZZ_Result r) {
            putIntRelease(slot, DATA, 1);
            r.r1 = getIntAcquire(slot, SLEEPERS) != 0;
        }

        @Actor
        public void sleeper(final ZZ_Result r) {
            getAndAddInt(slot, SLEEPERS, 1);
            if (Membarrier.isSupported()) {
                Membarrier.barrier();
            }
            r.r2 = getIntAcquire(slot, DATA) == 1;
        }
    }

    /**
     * The current asymmetric doorbell's handshake, with the compiler barrier: rarer than the first version's,
     * still seen (about once in 400,000 samples, waker interpreted or compiled by C1), cause not found.
     */
    @JCStressTest
    @Outcome(id = {"true, true", "true, false", "false, true"}, expect = ACCEPTABLE, desc = "At least one saw the other.")
    @Outcome(id = "false, false", expect = ACCEPTABLE_INTERESTING,
        desc = "Lost wake-up (known in the asymmetric mode, which is why it is not the default).")
    @State
    public static class WithCompilerBarrier {
        final MemorySegment slot = Slots.next();

        @Actor
        public void waker(final ZZ_Result r) {
            putIntRelease(slot, DATA, 1);
            if (Membarrier.isRegistered()) {
                VarHandle.releaseFence();
            } else {
                VarHandle.fullFence();
            }
            r.r1 = getIntAcquire(slot, SLEEPERS) != 0;
        }

        @Actor
        public void sleeper(final ZZ_Result r) {
            getAndAddInt(slot, SLEEPERS, 1);
            if (Membarrier.isRegistered()) {
                Membarrier.barrier();
            }
            r.r2 = getIntAcquire(slot, DATA) == 1;
        }
    }

    /** No barrier on the waker's side and none issued by the sleeper: the plain store buffer. */
    @JCStressTest
    @Outcome(id = {"true, true", "true, false", "false, true"}, expect = ACCEPTABLE, desc = "At least one saw the other.")
    @Outcome(id = "false, false", expect = ACCEPTABLE_INTERESTING,
        desc = "Store-load reordering (store buffer or JIT): why one side needs a barrier.")
    @State
    public static class NoBarrierAtAll {
        final MemorySegment slot = Slots.next();

        @Actor
        public void waker(final ZZ_Result r) {
            putIntRelease(slot, DATA, 1);
            r.r1 = getIntAcquire(slot, SLEEPERS) != 0;
        }

        @Actor
        public void sleeper(final ZZ_Result r) {
            getAndAddInt(slot, SLEEPERS, 1);
            r.r2 = getIntAcquire(slot, DATA) == 1;
        }
    }
}
