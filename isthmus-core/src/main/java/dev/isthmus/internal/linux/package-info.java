/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * Every native call Isthmus makes, through the Foreign Function and Memory API; nothing outside this
 * package touches {@link java.lang.foreign.Linker}.
 *
 * <p>Conventions: downcall handles are {@code static final}, created once; {@code errno} is captured with
 * {@code Linker.Option.captureCallState} into a per-thread segment ({@link dev.isthmus.internal.linux.Native.CallState});
 * {@code EINTR} is retried, results the caller must handle (such as {@code EAGAIN}) are returned, and
 * every other error becomes a {@link dev.isthmus.NativeException} through {@link dev.isthmus.internal.linux.Errno}.
 * System-call numbers and flags that differ between x86-64 and aarch64 live in {@link dev.isthmus.internal.linux.Platform.Arch}.
 */
package dev.isthmus.internal.linux;
