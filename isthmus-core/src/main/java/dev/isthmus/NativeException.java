/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus;

/**
 * A system call or C library function failed with an {@code errno} that the caller cannot handle.
 *
 * <p>The message names the call, the errno's symbolic name and number and the system's description,
 * for example {@code "ftruncate(/dev/shm/isthmus.app.42.queue.1) failed: ENOSPC (28, No space left on device)"}.
 */
public class NativeException extends IsthmusException {
    private static final long serialVersionUID = 1L;

    private final String call;
    private final int errno;

    /**
     * Creates an exception for a failed call.
     *
     * @param call        the function that failed, with the object it worked on where that helps
     * @param errno       the error number the call set
     * @param errnoName   the symbolic name of the error number, e.g. {@code ENOENT}
     * @param description the system's description of the error number
     */
    public NativeException(final String call, final int errno, final String errnoName, final String description) {
        super(call + " failed: " + errnoName + " (" + errno + ", " + description + ")");
        this.call = call;
        this.errno = errno;
    }

    /**
     * {@return the function that failed, as named in the message}
     */
    public String call() {
        return call;
    }

    /**
     * {@return the error number the call set}
     */
    public int errno() {
        return errno;
    }
}
