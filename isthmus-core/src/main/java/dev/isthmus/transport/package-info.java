/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * Blob channels: ordered, reliable, boundary-preserving pipes of bytes between two processes
 * ({@link dev.isthmus.transport.BlobChannel}), over shared-memory queues
 * (OneToOneShmQueue, ManyToOneShmQueue),
 * Unix-domain sockets and POSIX message queues.
 *
 * <p>Conventions: flow control is a return value ({@code false}, {@link dev.isthmus.transport.BlobChannel#BACK_PRESSURED}),
 * never an exception; a closed or dead peer is an exception, raised only after everything the peer
 * committed has been delivered; nothing on the hot path allocates or makes a system call while the
 * peer is awake.
 *
 * <p>{@link dev.isthmus.transport.UnixSocketBlobChannel} is the exception by nature: one system call per
 * blob sent and one per batch received. It is the baseline the shared-memory queues are measured
 * against, and the carrier of native handles ({@link dev.isthmus.transport.NativeHandle}) between processes.
 */
package dev.isthmus.transport;
