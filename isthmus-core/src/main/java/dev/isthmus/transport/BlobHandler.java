/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import java.lang.foreign.MemorySegment;

/**
 * Receives blobs from {@link BlobChannel#poll}.
 *
 * <p>The blob is {@code length} bytes of {@code buffer} starting at {@code offset}. The memory belongs
 * to the channel and is valid only until this call returns: copy what must outlive it. For a
 * shared-memory queue it is the queue's own mapping, read in place.
 */
@FunctionalInterface
public interface BlobHandler {
    /**
     * Handles one blob.
     *
     * @param buffer the memory holding the blob
     * @param offset where the blob starts in {@code buffer}
     * @param length the blob's length in bytes, possibly 0
     */
    void onBlob(MemorySegment buffer, long offset, int length);
}
