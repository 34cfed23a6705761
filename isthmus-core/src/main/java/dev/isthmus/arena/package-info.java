/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * Zero-copy memory: an allocator inside shared memory ({@link dev.isthmus.arena.ShmArena}) whose blocks
 * are lent to peers as handles ({@link dev.isthmus.arena.ShmHandle}) and read in place through a view of
 * the owner's arena ({@link dev.isthmus.arena.ArenaView}).
 *
 * <p>Conventions: each process allocates only from pools it created; a block lives while any process
 * holds a reference to it (counted in shared memory); the last reference returns it to its owner, which
 * reuses it with its pages faulted in; every handle received is validated before use.
 */
package dev.isthmus.arena;
