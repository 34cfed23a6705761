/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * Named shared-memory segments ({@link dev.isthmus.shm.SharedMemory}), their permission levels, the
 * naming scheme of every resource Isthmus creates ({@link dev.isthmus.shm.ResourceName}), and the sweeping
 * of resources whose owners died ({@link dev.isthmus.shm.Resources}).
 *
 * <p>Conventions of every shared structure in Isthmus: a {@code …Descriptor} class holds the offsets as
 * constants and an ASCII diagram of the layout; fields are little-endian and naturally aligned; fields
 * written by different processes are at least two cache lines (128 bytes) apart; every shared region
 * starts with a magic and a layout version that openers check before using anything else.
 */
package dev.isthmus.shm;
