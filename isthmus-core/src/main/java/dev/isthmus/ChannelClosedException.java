/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus;

/**
 * The channel was closed, by this side or by the peer, and cannot carry the operation.
 *
 * <p>A receiver gets this only after every message the peer sent before closing has been delivered.
 */
public class ChannelClosedException extends IsthmusException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception.
     *
     * @param message which channel, and who closed it
     */
    public ChannelClosedException(final String message) {
        super(message);
    }

    /**
     * Creates an exception with a cause.
     *
     * @param message which channel, and who closed it
     * @param cause   the failure that closed it
     */
    public ChannelClosedException(final String message, final Throwable cause) {
        super(message, cause);
    }
}
