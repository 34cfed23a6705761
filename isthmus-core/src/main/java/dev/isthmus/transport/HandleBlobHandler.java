/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Receives blobs and the native handles that came with them, from
 * {@link UnixSocketBlobChannel#pollWithHandles}, or from {@link BlobChannel#poll} when the handler passed is
 * a {@code HandleBlobHandler}.
 *
 * <p>The blob is read in place, as for {@link BlobHandler}. The handles are new descriptors of this
 * process, and the handler owns them from the moment it is called: it must close each one, now or later
 * (handing it on to something that will close it counts). A blob sent without handles arrives with an
 * empty list.
 */
@FunctionalInterface
public interface HandleBlobHandler extends BlobHandler {
    /**
     * Handles one blob and its handles.
     *
     * @param buffer  the memory holding the blob, valid only during this call
     * @param offset  where the blob starts in {@code buffer}
     * @param length  the blob's length in bytes, possibly 0
     * @param handles the handles sent with the blob, in the order the sender gave them; owned by the
     *                handler; empty if none
     */
    void onBlob(MemorySegment buffer, long offset, int length, List<NativeHandle> handles);

    /**
     * Handles a blob that came without handles, as {@code onBlob(buffer, offset, length, List.of())}.
     *
     * @param buffer the memory holding the blob
     * @param offset where the blob starts in {@code buffer}
     * @param length the blob's length in bytes, possibly 0
     */
    @Override
    default void onBlob(final MemorySegment buffer, final long offset, final int length) {
        onBlob(buffer, offset, length, List.of());
    }
}
