/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus;

/**
 * A server refused a client: the client app is not allowed, or the connecting process is not what the
 * client app is defined to be (user, group, executable, main class or jar). The message gives the
 * server's reason.
 */
public class AuthenticationException extends IsthmusException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception.
     *
     * @param message the reason
     */
    public AuthenticationException(final String message) {
        super(message);
    }
}
