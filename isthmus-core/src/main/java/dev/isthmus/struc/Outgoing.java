/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

/**
 * A message being built, or built and ready to send any number of times.
 *
 * <p>The codec decides where the message lives: on the heap (serialized and copied when sent) or in the
 * session's shared-memory arena (only handles are sent, and each send lends the receiver a reference).
 * Closing releases what the message holds in this process; messages already sent stay valid for their
 * receivers.
 *
 * @param <B> the root builder type
 */
public interface Outgoing<B> extends AutoCloseable {
    /**
     * {@return the root builder, to fill with ordinary builder code}
     */
    B root();

    /**
     * Releases the message's memory in this process. Idempotent.
     */
    @Override
    void close();
}
