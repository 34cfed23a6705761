/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.struc.AbstractReceived;

/**
 * A received Cap'n Proto message: the root reader, over heap memory of this process ({@link Backing#HEAP})
 * or over the sender's arena blocks, borrowed until {@link #close()} ({@link Backing#SESSION_SHM}).
 *
 * <p>Thread safety: as {@link AbstractReceived}; the reader itself is meant for one thread at a time.
 *
 * @param <R> the root reader type
 */
final class CapnpReceived<R> extends AbstractReceived<R> {
    private final R root;

    CapnpReceived(final int type, final long id, final long payloadLength, final R root, final Runnable release,
                  final boolean sharedMemory) {
        super(type, id, payloadLength, release, sharedMemory);
        this.root = root;
    }

    /**
     * {@inheritDoc}
     *
     * <p>Readers taken from it must not be used after the message is closed: for {@link Backing#SESSION_SHM}
     * their memory goes back to the sender, who reuses it, and a small message sent inline was copied into a
     * buffer of the codec that the next such message is copied into.
     */
    @Override
    public R root() {
        checkOpen();
        return root;
    }
}
