/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.demo;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;

/**
 * Touches every page of the young generation before timing, as {@code -XX:+AlwaysPreTouch} would for the
 * whole heap: allocation on never-touched pages costs a page fault per page, and on virtual machines whose
 * host backs guest memory lazily, a host fault too, ten microseconds and more. A request path that
 * allocates a few kilobytes per request then pays that on every request or two until the collector has
 * gone once round the young generation, which at that rate takes longer than the whole demo.
 */
final class HeapWarmup {
    private static volatile Object sink;

    private HeapWarmup() {
    }

    /**
     * Allocates short-lived garbage until the collectors have run {@code collections} more times (each young
     * collection means eden was filled, every page of it touched), or {@code maxBytes} were allocated.
     *
     * @param collections how many more collections to wait for
     * @param maxBytes    the most to allocate
     */
    static void touchYoungGeneration(final int collections, final long maxBytes) {
        final long start = collectionCount();
        long allocated = 0;
        while (collectionCount() - start < collections && allocated < maxBytes) {
            for (int i = 0; i < 256; i++) {
                sink = new byte[64 << 10];
            }
            allocated += 256L * (64 << 10);
        }
        sink = null;
    }

    private static long collectionCount() {
        long count = 0;
        for (final GarbageCollectorMXBean collector : ManagementFactory.getGarbageCollectorMXBeans()) {
            count += Math.max(0, collector.getCollectionCount());
        }
        return count;
    }
}
