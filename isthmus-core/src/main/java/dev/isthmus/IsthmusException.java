/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus;

/**
 * The root of every exception Isthmus throws for a failure that is not a programming error.
 *
 * <p>Misuse of the API (a negative size, a closed object) is reported with
 * {@link IllegalArgumentException} or {@link IllegalStateException} instead, and flow control on the
 * hot path (a full queue, nothing to read) is reported through return values, never exceptions.
 */
public class IsthmusException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception with a message.
     *
     * @param message what failed, with the values involved
     */
    public IsthmusException(final String message) {
        super(message);
    }

    /**
     * Creates an exception with a message and a cause.
     *
     * @param message what failed, with the values involved
     * @param cause   the underlying failure
     */
    public IsthmusException(final String message, final Throwable cause) {
        super(message, cause);
    }
}
