/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.test;

import java.lang.management.ManagementFactory;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Shows that a loop allocates nothing per operation in steady state, without being fooled by what the JVM
 * allocates now and then on the measuring thread (a deoptimisation and recompilation, a lazily linked call
 * site, a class initialised on first use of a rare path).
 *
 * <p>The loop is warmed up first, then measured in several rounds; the verdict is taken on the quietest
 * round. A per-operation allocation, however small (one 16-byte object in every thousandth operation),
 * shows in every round and fails; a one-off shows in one round only and does not. The threshold is zero in
 * substance: less than one byte per hundred operations. What stays below it is allocation by time, not by
 * operation: a liveness check made every 100 ms that the JIT has not compiled yet allocates a few dozen
 * bytes in the interpreter (seen on a loaded machine: 320 to 480 bytes per 200,000 POSIX MQ messages).
 */
public final class AllocationProbe {
    private static final int WARM_UP_ROUNDS = 20;
    private static final long DEFAULT_OPERATIONS_PER_ROUND = 200_000;
    private static final int MEASURED_ROUNDS = 7;
    /** Bytes per operation that count as none: well below any allocation made once per operation. */
    private static final double NONE_PER_OPERATION = 0.01;

    private AllocationProbe() {
    }

    /**
     * Fails unless the quietest of several measured rounds of {@code batch} allocates less than a byte per
     * hundred operations.
     *
     * @param batch               one batch of operations; run many times
     * @param operationsPerBatch  how many operations one run of {@code batch} performs
     * @param what                what the operations are, for the message
     */
    public static void assertNoAllocationPerOperation(final Runnable batch, final long operationsPerBatch,
                                                      final String what) {
        assertNoAllocationPerOperation(batch, operationsPerBatch, DEFAULT_OPERATIONS_PER_ROUND, what);
    }

    /**
     * As {@link #assertNoAllocationPerOperation(Runnable, long, String)}, with rounds of about
     * {@code operationsPerRound} operations, for operations too slow for the default 200,000 per round.
     *
     * @param batch               one batch of operations; run many times
     * @param operationsPerBatch  how many operations one run of {@code batch} performs
     * @param operationsPerRound  how many operations a measured round should have (at least 10,000)
     * @param what                what the operations are, for the message
     */
    public static void assertNoAllocationPerOperation(final Runnable batch, final long operationsPerBatch,
                                                      final long operationsPerRound, final String what) {
        if (operationsPerBatch < 1 || operationsPerRound < 10_000) {
            throw new IllegalArgumentException("operationsPerBatch=" + operationsPerBatch + ", operationsPerRound="
                + operationsPerRound);
        }
        final com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        assertTrue(threads.isThreadAllocatedMemorySupported() && threads.isThreadAllocatedMemoryEnabled(),
            "this JVM does not count allocated bytes per thread");
        final int batchesPerRound = (int) Math.max(1, operationsPerRound / operationsPerBatch);
        for (int i = 0; i < WARM_UP_ROUNDS * batchesPerRound; i++) {
            batch.run();
        }
        final long[] bytes = new long[MEASURED_ROUNDS];
        for (int round = 0; round < MEASURED_ROUNDS; round++) {
            final long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < batchesPerRound; i++) {
                batch.run();
            }
            bytes[round] = threads.getCurrentThreadAllocatedBytes() - before;
        }
        final long operations = batchesPerRound * operationsPerBatch;
        final long quietest = Arrays.stream(bytes).min().orElseThrow();
        final double perOperation = (double) quietest / operations;
        assertTrue(perOperation < NONE_PER_OPERATION, String.format(
            "%.4f bytes allocated per %s in the quietest of %d rounds of %,d %s (bytes per round: %s)",
            perOperation, what.replaceAll("s$", ""), MEASURED_ROUNDS, operations, what, Arrays.toString(bytes)));
    }
}
