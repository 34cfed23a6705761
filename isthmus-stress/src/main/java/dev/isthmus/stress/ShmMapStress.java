/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.stress;

import dev.isthmus.data.ShmMap;
import dev.isthmus.data.ShmMapOptions;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.I_Result;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicLong;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * The real {@link ShmMap}'s seqlock and stripe lock: values are 64 bytes all equal to one number, so a
 * reader that saw part of one value and part of another reports {@code -1} (mixed). States share one map
 * (a sealed anonymous file, freed when the JVM exits); each state has a key of its own, put when the state
 * is made and removed by its arbiter, so the map holds only the states alive at once.
 */
public final class ShmMapStress {
    static final int VALUE_BYTES = 64;
    /** Room for every state jcstress keeps alive at once, with a wide margin. */
    static final int CAPACITY = 1 << 18;
    static final int MIXED = -1;
    static final int ABSENT = -2;
    static final ShmMap MAP = ShmMap.create("stress", "map", ShmMapOptions.builder().capacity(CAPACITY).stripes(64)
        .maxValueBytes(VALUE_BYTES).build());
    private static final AtomicLong NEXT_KEY = new AtomicLong();
    private static final MemorySegment[] VALUES = new MemorySegment[3];

    static {
        for (int k = 0; k < VALUES.length; k++) {
            VALUES[k] = Arena.global().allocate(VALUE_BYTES, 8).fill((byte) k);
        }
    }

    private ShmMapStress() {
    }

    /** One key of the shared map, holding a whole value of zeros when the state is made. */
    abstract static class Entry {
        final long key = NEXT_KEY.getAndIncrement();
        final MemorySegment out = Arena.ofAuto().allocate(VALUE_BYTES, 8);

        Entry() {
            if (!MAP.put(key, VALUES[0])) {
                throw new IllegalStateException("the stress map is full: " + MAP.stats());
            }
        }

        /** {@return the number every byte of the value holds, or MIXED, or ABSENT} */
        final int read() {
            final long length = MAP.get(key, out);
            if (length < 0) {
                return ABSENT;
            }
            if (length != VALUE_BYTES) {
                return MIXED;
            }
            final byte first = out.get(ValueLayout.JAVA_BYTE, 0);
            for (int i = 1; i < VALUE_BYTES; i++) {
                if (out.get(ValueLayout.JAVA_BYTE, i) != first) {
                    return MIXED;
                }
            }
            return first;
        }
    }

    /** A writer replaces the value twice while a lock-free reader gets it. */
    @JCStressTest
    @Outcome(id = {"0", "1", "2"}, expect = ACCEPTABLE, desc = "A whole value.")
    @Outcome(id = "-1", expect = FORBIDDEN, desc = "Torn: parts of two values.")
    @Outcome(id = "-2", expect = FORBIDDEN, desc = "The key vanished while its value was replaced.")
    @State
    public static class WholeValues extends Entry {
        @Actor
        public void writer() {
            MAP.put(key, VALUES[1]);
            MAP.put(key, VALUES[2]);
        }

        @Actor
        public void reader(final I_Result r) {
            r.r1 = read();
        }

        @Arbiter
        public void after() {
            MAP.remove(key);
        }
    }

    /** Two writers replace the same value at once, under the stripe lock; the arbiter gets it after both. */
    @JCStressTest
    @Outcome(id = {"1", "2"}, expect = ACCEPTABLE, desc = "One writer's whole value.")
    @Outcome(expect = FORBIDDEN, desc = "A torn, stale or vanished value.")
    @State
    public static class TwoWriters extends Entry {
        @Actor
        public void one() {
            MAP.put(key, VALUES[1]);
        }

        @Actor
        public void two() {
            MAP.put(key, VALUES[2]);
        }

        @Arbiter
        public void after(final I_Result r) {
            r.r1 = read();
            MAP.remove(key);
        }
    }
}
