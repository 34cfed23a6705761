/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.bench;

import java.util.Arrays;

/**
 * Order statistics of repeated measurements.
 */
public final class Stats {
    private Stats() {
    }

    /**
     * {@return the median of the values (the mean of the middle two for an even count)}
     *
     * @param values at least one value
     */
    public static double median(final double... values) {
        final double[] sorted = values.clone();
        Arrays.sort(sorted);
        final int middle = sorted.length / 2;
        return sorted.length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /**
     * {@return the nearest-rank percentile of the values: the smallest value with at least {@code p} percent
     * of them at or below it}
     *
     * @param p      the percentile, in (0, 100]
     * @param values at least one value
     */
    public static double percentile(final double p, final double... values) {
        if (!(p > 0 && p <= 100)) {
            throw new IllegalArgumentException("p=" + p + " must be in (0, 100]");
        }
        final double[] sorted = values.clone();
        Arrays.sort(sorted);
        final int rank = (int) Math.ceil(p / 100 * sorted.length);
        return sorted[Math.max(0, rank - 1)];
    }

    /**
     * {@return the smallest value}
     *
     * @param values at least one value
     */
    public static double min(final double... values) {
        return Arrays.stream(values).min().orElseThrow();
    }

    /**
     * {@return the largest value}
     *
     * @param values at least one value
     */
    public static double max(final double... values) {
        return Arrays.stream(values).max().orElseThrow();
    }
}
