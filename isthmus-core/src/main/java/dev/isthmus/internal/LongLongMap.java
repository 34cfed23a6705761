/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal;

import java.util.Arrays;

/**
 * An open-addressing map from non-negative {@code long} keys to {@code long} values, for process-private
 * bookkeeping on hot paths: no boxing, no allocation except when it grows. Linear probing, deletion by
 * backward shift, so that lookups never walk tombstones.
 *
 * <p>Not thread-safe.
 */
public final class LongLongMap {
    /** What {@link #get} returns for a key that is not in the map. */
    public static final long MISSING = Long.MIN_VALUE;
    private static final long EMPTY = -1;

    private long[] keys;
    private long[] values;
    private int size;
    private int mask;

    /**
     * Creates a map with room for {@code expected} entries before it grows.
     *
     * @param expected the expected number of entries, at least 1
     */
    public LongLongMap(final int expected) {
        int capacity = Integer.highestOneBit(Math.max(4, expected * 2 - 1)) << 1;
        keys = new long[capacity];
        Arrays.fill(keys, EMPTY);
        values = new long[capacity];
        mask = capacity - 1;
    }

    /** {@return the number of entries} */
    public int size() {
        return size;
    }

    /**
     * {@return the value of {@code key}, or {@link #MISSING}}
     *
     * @param key a non-negative key
     */
    public long get(final long key) {
        int i = index(key);
        while (true) {
            final long k = keys[i];
            if (k == key) {
                return values[i];
            }
            if (k == EMPTY) {
                return MISSING;
            }
            i = i + 1 & mask;
        }
    }

    /**
     * Sets the value of {@code key}.
     *
     * @param key   a non-negative key
     * @param value the value, not {@link #MISSING}
     * @throws IllegalArgumentException if the key is negative or the value is {@link #MISSING}
     */
    public void put(final long key, final long value) {
        if (key < 0 || value == MISSING) {
            throw new IllegalArgumentException("key=" + key + ", value=" + value);
        }
        int i = index(key);
        while (true) {
            final long k = keys[i];
            if (k == key) {
                values[i] = value;
                return;
            }
            if (k == EMPTY) {
                keys[i] = key;
                values[i] = value;
                if (++size * 2 > keys.length) {
                    grow();
                }
                return;
            }
            i = i + 1 & mask;
        }
    }

    /**
     * Removes {@code key}.
     *
     * @param key a non-negative key
     * @return its value, or {@link #MISSING} if it was not in the map
     */
    public long remove(final long key) {
        int i = index(key);
        while (true) {
            final long k = keys[i];
            if (k == EMPTY) {
                return MISSING;
            }
            if (k == key) {
                break;
            }
            i = i + 1 & mask;
        }
        final long removed = values[i];
        size--;
        // Backward shift: move later entries of the probe run into the hole, so no lookup meets a gap early.
        int hole = i;
        int next = i + 1 & mask;
        while (keys[next] != EMPTY) {
            final int home = index(keys[next]);
            if ((next - home & mask) >= (next - hole & mask)) {
                keys[hole] = keys[next];
                values[hole] = values[next];
                hole = next;
            }
            next = next + 1 & mask;
        }
        keys[hole] = EMPTY;
        return removed;
    }

    private int index(final long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h ^ h >>> 32) & mask;
    }

    private void grow() {
        final long[] oldKeys = keys;
        final long[] oldValues = values;
        keys = new long[oldKeys.length * 2];
        Arrays.fill(keys, EMPTY);
        values = new long[oldKeys.length * 2];
        mask = keys.length - 1;
        size = 0;
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] != EMPTY) {
                put(oldKeys[i], oldValues[i]);
            }
        }
    }
}
