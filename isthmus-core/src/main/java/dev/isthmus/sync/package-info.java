/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * Waiting for another process: shared futex words ({@link dev.isthmus.sync.FutexWord}), the doorbell
 * protocol that makes a wake-up cost a system call only when someone sleeps
 * ({@link dev.isthmus.sync.Doorbell}), and the {@link dev.isthmus.sync.IdleStrategy} family.
 */
package dev.isthmus.sync;
