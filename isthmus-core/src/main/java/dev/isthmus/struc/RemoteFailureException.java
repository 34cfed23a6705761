/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

import dev.isthmus.IsthmusException;

/**
 * The peer failed the request: its handler threw or called {@link Replier#fail(String)}.
 */
public class RemoteFailureException extends IsthmusException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception.
     *
     * @param message the peer's description of the failure
     */
    public RemoteFailureException(final String message) {
        super(message);
    }
}
