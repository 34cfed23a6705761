/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * Native structures shared in place: typed records, arrays and strings in a session's arena, lent to the
 * peer and read there with no copy ({@link dev.isthmus.data.SharedData}), and a hash map whose entries live
 * in shared memory, read without locks by every process that maps it ({@link dev.isthmus.data.ShmMap}).
 *
 * <p>Conventions. A record's shape is a {@link java.lang.foreign.StructLayout} checked once
 * ({@link dev.isthmus.data.StructType}): members naturally aligned, padding explicit, native byte order,
 * no addresses. Fields are read and written through flyweights made once per member
 * ({@link dev.isthmus.data.LongField} and friends), records that hold only an offset, which the JIT folds
 * into a constant when they are kept in {@code static final} fields; no access allocates. References between
 * objects ({@link dev.isthmus.data.RefField}) are arena-relative and checked every time they are followed:
 * bounds, generation and type tag. Anything read from a peer's memory is checked before it is used, and read
 * through a slice of the size it was checked to have.
 */
package dev.isthmus.data;
