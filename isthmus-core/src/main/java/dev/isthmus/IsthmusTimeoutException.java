/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus;

/**
 * A blocking call did not complete within its timeout. Only that call failed: the channel or session
 * stays usable.
 */
public class IsthmusTimeoutException extends IsthmusException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception.
     *
     * @param message what was waited for, and for how long
     */
    public IsthmusTimeoutException(final String message) {
        super(message);
    }
}
