/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import dev.isthmus.IsthmusException;

/**
 * A resource that should exist does not: a segment that was never created or was already removed, or the
 * directory it should be created in.
 */
public class NoSuchResourceException extends IsthmusException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception naming the missing resource.
     *
     * @param message the resource and where it was looked for
     */
    public NoSuchResourceException(final String message) {
        super(message);
    }
}
