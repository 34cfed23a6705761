/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

/**
 * A message received, read in place: from the session's shared memory for zero-copy backings, from a
 * buffer of this process otherwise.
 *
 * <p>Close it when done reading: that hands shared memory back to the sender. A handler's message is
 * closed when the handler returns, unless the handler called {@link #retain()}. Readers taken from a message
 * must not be used after it is closed: the memory they read goes back to the sender, or to the channel for
 * the next message. A forgotten message keeps what it holds until the session ends, which frees everything
 * regardless; some are found earlier by the garbage collector, and reported
 * ({@link AbstractReceived#leaksReclaimed()}).
 *
 * @param <R> the root reader type
 */
public interface Received<R> extends AutoCloseable {
    /**
     * {@return the root reader}
     *
     * @throws IllegalStateException if the message is closed
     */
    R root();

    /**
     * {@return the message's type: for Cap'n Proto, the tag of the root's union}
     */
    int type();

    /**
     * {@return the id the sender gave the message}
     */
    long id();

    /**
     * {@return the payload's length in bytes: the serialized message, or the handles of a zero-copy one}
     */
    long payloadLength();

    /**
     * Keeps a handler's message open after the handler returns; the caller must then close it.
     *
     * @return this message
     */
    Received<R> retain();

    /**
     * Releases the message. Idempotent.
     */
    @Override
    void close();
}
