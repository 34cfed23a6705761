/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus;

/**
 * Data shared with another process does not have the expected form: a wrong magic or layout version,
 * a truncated file, an impossible length or offset, an unknown message type.
 *
 * <p>Isthmus checks what a peer wrote before using it, so a corrupt or hostile peer makes an operation
 * fail with this exception; it never makes this process read or write outside a mapping.
 */
public class CorruptDataException extends IsthmusException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception describing what was found and what was expected.
     *
     * @param message the resource, the value found and the value expected
     */
    public CorruptDataException(final String message) {
        super(message);
    }
}
