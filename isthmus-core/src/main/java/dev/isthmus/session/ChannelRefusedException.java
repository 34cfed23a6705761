/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.IsthmusException;

/**
 * The peer refused to open a channel, e.g. because it registered no passive-open handler. The session
 * goes on; nothing of the refused channel remains.
 */
public class ChannelRefusedException extends IsthmusException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception.
     *
     * @param message the peer's reason
     */
    public ChannelRefusedException(final String message) {
        super(message);
    }
}
