/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

/**
 * A snapshot of a {@link ShmMap}'s counters. The entry and tombstone counts are the map's, shared by every
 * process (and, under concurrent updates, each stripe's is read separately); the others count what this
 * mapping did.
 *
 * @param entries      the entries in the map
 * @param tombstones   the slots of removed entries not yet reused
 * @param recoveries   the stripes this mapping recovered from a dead lock holder
 * @param lockTimeouts the times a writer of this mapping gave up waiting for a live lock holder
 * @param readRetries  the times a reader of this mapping read an entry again because it changed underneath
 * @param lockThefts   the times a writer of this mapping, unlocking, found its stripe's lock taken over by another
 *                     process that judged it dead (a sign of a liveness check that could not see this process,
 *                     e.g. across pid namespaces or under {@code hidepid})
 */
public record ShmMapStats(long entries, long tombstones, long recoveries, long lockTimeouts, long readRetries,
                          long lockThefts) {
}
