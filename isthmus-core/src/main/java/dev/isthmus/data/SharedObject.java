/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.arena.ShmBlock;
import dev.isthmus.arena.ShmHandle;

import java.lang.foreign.MemorySegment;

/**
 * An object in shared memory: a {@linkplain SharedStruct record}, an {@linkplain SharedArray array} or a
 * {@linkplain SharedString string}, either allocated by this process in its arena (its owner) or borrowed
 * from a peer's.
 *
 * <p>{@link #segment()} is the payload, sized exactly to what the object's header says and was checked to
 * hold; everything read or written through it is bounds-checked against that size. A borrowed object's
 * segment is read-only unless its lender allocated it {@link PeerAccess#READ_WRITE}: the peer's read-only
 * pool is mapped read-only in this process, so a stray write throws here instead of changing the owner's
 * data.
 *
 * <p>Lifetime: an owned object's block stays allocated while this process holds it open or any peer holds
 * a reference it was {@linkplain SharedData#lend lent}; closing it drops this process's reference. A
 * borrowed object holds the reference its lender gave; closing it returns it. An object reached by
 * {@linkplain SharedStruct#follow following a reference} holds no reference of its own: it is the owner's to
 * keep alive (typically as long as the record that refers to it). All of a session's objects go when the
 * session ends, whatever either side did.
 *
 * <p>Thread safety: the object is safe to share between threads; what the threads write to its memory is
 * theirs to order (the field flyweights offer acquire/release and atomic accesses).
 */
public abstract sealed class SharedObject implements AutoCloseable permits SharedStruct, SharedArray, SharedString {
    final SharedData data;
    final ShmBlock block;
    final ShmHandle handle;
    final long typeTag;
    final MemorySegment payload;
    final boolean borrowed;

    SharedObject(final SharedData data, final ShmBlock block, final ShmHandle handle, final long typeTag,
                 final MemorySegment payload, final boolean borrowed) {
        this.data = data;
        this.block = block;
        this.handle = handle;
        this.typeTag = typeTag;
        this.payload = payload;
        this.borrowed = borrowed;
    }

    /** {@return the payload in shared memory: a record's bytes, an array's elements, a string's UTF-8} */
    public final MemorySegment segment() {
        return payload;
    }

    /** {@return a reference to this object, to store in a {@link RefField} or send (sending does not lend it)} */
    public final DataRef ref() {
        return new DataRef(handle, typeTag);
    }

    /** {@return whether this object is a peer's, borrowed or reached through a reference} */
    public final boolean isBorrowed() {
        return borrowed;
    }

    /**
     * {@return what the peer may do with this object}: for an object of this process, what it was allocated
     * with; for a peer's, what its lender allowed
     */
    public final PeerAccess peerAccess() {
        final boolean writable = borrowed ? !payload.isReadOnly() : data.peerWritable(handle);
        return writable ? PeerAccess.READ_WRITE : PeerAccess.READ_ONLY;
    }

    /**
     * {@return whether {@link #segment()} is read-only}: false for this process's own objects, and for a peer's
     * that it allocated {@link PeerAccess#READ_WRITE}
     */
    public final boolean isReadOnly() {
        return payload.isReadOnly();
    }

    /** {@return the tag of this object's type, as stored in its header} */
    public final long typeTag() {
        return typeTag;
    }

    /**
     * Drops the reference this object holds: an owned object's block is freed once no peer holds it either;
     * a borrowed one goes back to its owner. Idempotent; an object reached through a reference holds none.
     */
    @Override
    public final void close() {
        if (block != null) {
            block.close();
        }
    }
}
