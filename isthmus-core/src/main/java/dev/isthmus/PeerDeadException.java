/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus;

/**
 * The process at the other end died without closing: killed, crashed, or vanished with its connection.
 *
 * <p>Messages it committed before dying are still delivered; operations that need the peer fail with
 * this exception instead of waiting forever.
 */
public class PeerDeadException extends ChannelClosedException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception.
     *
     * @param message which peer (pid), and how its death was noticed
     */
    public PeerDeadException(final String message) {
        super(message);
    }

    /**
     * Creates an exception with a cause.
     *
     * @param message which peer (pid), and how its death was noticed
     * @param cause   the failure through which it was noticed
     */
    public PeerDeadException(final String message, final Throwable cause) {
        super(message, cause);
    }
}
