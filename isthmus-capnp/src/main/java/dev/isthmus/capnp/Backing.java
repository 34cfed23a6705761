/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

/**
 * Where a {@link CapnpCodec} builds messages, and so what crosses the channel.
 *
 * <p>Both sides of a channel must use the same backing; switching it changes no other code.
 */
public enum Backing {
    /**
     * Messages are built on the Java heap and serialized with Cap'n Proto's standard stream framing
     * (segment table, then the segments): one copy into the channel, one copy out of it. The classic
     * approach, and the baseline that zero-copy is measured against.
     */
    HEAP,

    /**
     * Message segments are allocated in the session's shared-memory arena; only a handle per segment
     * crosses the channel, and the receiver reads the segments in place in the sender's memory. The
     * payload is a few dozen bytes whatever the message's size.
     *
     * <p>In place means the sender can still write the message while the receiver reads it; a receiver
     * that does not trust its peer to leave a message alone copies it first
     * ({@link CapnpReadOptions#copyOnReceive()}).
     */
    SESSION_SHM
}
