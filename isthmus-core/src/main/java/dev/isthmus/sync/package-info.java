/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * Waiting for another process: shared futex words ({@link dev.isthmus.sync.FutexWord}), the doorbell
 * protocol that makes a wake-up cost a system call only when someone sleeps
 * ({@link dev.isthmus.sync.Doorbell}), and the {@link dev.isthmus.sync.IdleStrategy} family.
 *
 * <p>Conventions: a doorbell's fence protocol is recorded in its shared memory by the first process that
 * attaches and followed by every other ({@link dev.isthmus.sync.Doorbell.Mode}); nothing in this package
 * depends on a per-process setting that a peer could set differently. State a peer can write (the sleeper
 * flag, the mode) can cost this process a system call, never a lost wake-up or an unbounded loop.
 */
package dev.isthmus.sync;
