/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What a removal of stale resources ({@link Resources#removeStale}, {@link Resources#removeStaleMessageQueues})
 * did. A removal never stops at an entry it cannot remove: it goes on with the rest and reports the entry
 * here, so that nothing another user plants under an Isthmus name can stop a server's start or
 * {@code isthmus clean}.
 *
 * <p>Live resources appear in none of the lists: they are never touched. Neither do stale entries that
 * became live, or were replaced, between the listing and the removal; they are left for the next sweep.
 *
 * @param removed  the stale resources removed (or, in a dry run, that would be removed), including those
 *                 someone else removed first
 * @param failures the stale resources that could not be removed, each with the reason
 * @param skipped  the entries that were not judged and were left alone ({@link ResourceInfo#isSkipped()}:
 *                 another user's, or not something Isthmus creates)
 */
public record SweepReport(List<ResourceInfo> removed, List<Failure> failures, List<ResourceInfo> skipped) {
    /**
     * A stale resource that could not be removed.
     *
     * @param resource the resource, as it was listed
     * @param reason   why it could not be removed, e.g. {@code "unlink: EACCES (Permission denied)"}
     */
    public record Failure(ResourceInfo resource, String reason) {
        /**
         * Checks the parts.
         *
         * @throws NullPointerException if a part is {@code null}
         */
        public Failure {
            Objects.requireNonNull(resource, "resource");
            Objects.requireNonNull(reason, "reason");
        }
    }

    /**
     * Copies the lists, so that the report is immutable.
     *
     * @throws NullPointerException if a list or an element is {@code null}
     */
    public SweepReport {
        removed = List.copyOf(removed);
        failures = List.copyOf(failures);
        skipped = List.copyOf(skipped);
    }

    /** {@return a report of a removal that found nothing} */
    public static SweepReport empty() {
        return new SweepReport(List.of(), List.of(), List.of());
    }

    /**
     * {@return this report followed by another, e.g. of another directory}
     *
     * @param other what another removal did
     */
    public SweepReport plus(final SweepReport other) {
        return new SweepReport(concat(removed, other.removed), concat(failures, other.failures),
            concat(skipped, other.skipped));
    }

    /** {@return whether every stale resource found was removed} */
    public boolean isComplete() {
        return failures.isEmpty();
    }

    private static <T> List<T> concat(final List<T> first, final List<T> second) {
        final List<T> all = new ArrayList<>(first.size() + second.size());
        all.addAll(first);
        all.addAll(second);
        return all;
    }
}
