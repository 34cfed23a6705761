/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.jmh;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * The baseline for {@link ZeroCopyRequestBenchmark#sealedRequestInPlacePartsAfterQuiet}: plain Java work with
 * no inter-process communication, after the same {@link Quiet} spell. A walk of 512 cache lines of one array
 * (32 KiB) in a shuffled order, each load waiting on the one before, costs, warm, what its loads cost from L1
 * and L2; whatever a quiet spell adds to it is the machine's, not the code's. One array, so that no collection
 * can lay the walk out in order.
 *
 * <p>{@code ./isthmus jmh '(QuietDecayBenchmark|ZeroCopyRequestBenchmark.sealedRequestInPlacePartsAfterQuiet)'
 * -p server=inPlace}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Thread)
public class QuietDecayBenchmark {
    private static final int LINES = 512;
    /** Ints per 64-byte cache line. */
    private static final int STRIDE = 64 / Integer.BYTES;

    /** At each line's first int, the index of the next line's first int; 0 ends the walk. */
    private int[] next;

    /** Links the lines in one shuffled cycle that starts and ends at line 0. */
    @Setup
    public void setUp() {
        final int[] order = new int[LINES];
        for (int i = 0; i < LINES; i++) {
            order[i] = i;
        }
        final Random random = new Random(12);
        for (int i = LINES - 1; i > 1; i--) {
            final int j = 1 + random.nextInt(i);
            final int swap = order[i];
            order[i] = order[j];
            order[j] = swap;
        }
        next = new int[LINES * STRIDE];
        for (int i = 0; i < LINES; i++) {
            next[order[i] * STRIDE] = order[(i + 1) % LINES] * STRIDE;
        }
    }

    /**
     * Walks the lines after the quiet spell.
     *
     * @param quiet the spell, spun before each call
     * @return the number of lines walked
     */
    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    public int pointerChaseAfterQuiet(final Quiet quiet) {
        final int[] links = next;
        int at = links[0];
        int walked = 1;
        while (at != 0) {
            at = links[at];
            walked++;
        }
        return walked;
    }
}
