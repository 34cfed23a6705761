/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

/**
 * What carries a session channel's blobs. Every channel also has a Unix socket for native handles.
 */
public enum ChannelTransport {
    /** A shared-memory queue per direction: the fastest, and the default. */
    SHM_QUEUE,
    /** The channel's Unix socket carries the blobs too, as length-prefixed frames. */
    UNIX_SOCKET,
    /** Two POSIX message queues, one per direction (small kernel limits: see {@code PosixMqLimits}). */
    POSIX_MQ
}
