/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.IsthmusException;

/**
 * The server accepted who this client is but refused the session for a reason of its own: one of its
 * {@link ServerLimits} is reached (too many sessions of this client app, too many handshakes in progress,
 * too many init channels asked for), or it is closing. The message names the limit; trying again later may
 * succeed. A refusal of who the client is is an {@link dev.isthmus.AuthenticationException} instead.
 */
public class SessionRefusedException extends IsthmusException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception.
     *
     * @param message the server's reason
     */
    public SessionRefusedException(final String message) {
        super(message);
    }
}
