/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * Structured messages over blob channels: {@link dev.isthmus.struc.StructuredChannel} with notifications,
 * requests, (streams of) responses and handlers by message type, and the {@link dev.isthmus.struc.Codec}
 * service-provider interface through which a serialization library plugs in, on the heap or zero-copy in
 * the session's shared memory.
 */
package dev.isthmus.struc;
