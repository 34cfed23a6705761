/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.CorruptDataException;
import dev.isthmus.arena.ArenaView;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.arena.ShmBlock;
import dev.isthmus.arena.ShmHandle;
import dev.isthmus.session.Session;
import dev.isthmus.transport.BlobChannel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

import static dev.isthmus.data.DataDescriptor.COUNT_OFFSET;
import static dev.isthmus.data.DataDescriptor.HEADER_LENGTH;
import static dev.isthmus.data.DataDescriptor.KIND_ARRAY;
import static dev.isthmus.data.DataDescriptor.KIND_OFFSET;
import static dev.isthmus.data.DataDescriptor.KIND_STRING;
import static dev.isthmus.data.DataDescriptor.KIND_STRUCT;
import static dev.isthmus.data.DataDescriptor.MAGIC_OFFSET;
import static dev.isthmus.data.DataDescriptor.OBJECT_MAGIC;
import static dev.isthmus.data.DataDescriptor.STRIDE_OFFSET;
import static dev.isthmus.data.DataDescriptor.STRING_TAG;
import static dev.isthmus.data.DataDescriptor.TYPE_TAG_OFFSET;
import static dev.isthmus.data.DataDescriptor.WIRE_REF_LENGTH;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Typed objects in a session's shared memory: records, arrays and strings allocated in this process's arena,
 * lent to the peer by reference, and the peer's objects borrowed in place, read-only or read-write as their
 * lender chose ({@link PeerAccess}).
 *
 * <p>The Java counterpart of constructing C++ objects in session shared memory and lending them: this side
 * {@linkplain #allocate allocates} and fills an object, {@linkplain #lend lends} it (a
 * {@value DataDescriptor#WIRE_REF_LENGTH}-byte {@link DataRef} crosses the channel), and the peer
 * {@linkplain #borrowStruct borrows} it: a view of the same bytes, with no copy. Records can
 * {@linkplain SharedStruct#set refer} to other objects of the same arena, and the borrower
 * {@linkplain SharedStruct#follow follows} those references in place.
 *
 * {@snippet :
 * SharedData data = SharedData.of(session);            // a session opened with SessionOptions.zeroCopy()
 * // Lender
 * try (SharedStruct quote = data.allocate(QUOTE)) {
 *     BID.set(quote.segment(), 101_25L);
 *     data.lend(quote, channel.blobs(), timeoutNs);
 * }                                                    // freed once the peer closes its view too
 * // Borrower, in the peer's process, given the blob it received
 * try (SharedStruct quote = data.borrowStruct(DataRef.readFrom(blob, 0), QUOTE)) {
 *     long bid = BID.get(quote.segment());             // read in place; a write would throw
 * }
 * }
 *
 * <p>Read-write sharing. An object allocated with {@link PeerAccess#READ_WRITE} lives in the arena's pool the
 * peer maps read-write; the peer's borrowed view of it is writable, and both sides may update it in place,
 * ordering their accesses with the flyweights' acquire/release and atomic operations (a counter both
 * processes increment with {@link LongField#getAndAdd}, a flag one sets with release semantics and the
 * other reads with acquire). The borrower may also {@linkplain SharedStruct#set(RefField, SharedObject) store
 * references} in such a record, to other objects of the same lender.
 *
 * {@snippet :
 * // Lender
 * SharedStruct order = data.allocate(ORDER, PeerAccess.READ_WRITE);
 * data.lend(order, channel.blobs(), timeoutNs);
 * // Borrower
 * try (SharedStruct order = data.borrowStruct(ref, ORDER)) {   // order.isReadOnly() == false
 *     FILLED.setRelease(order.segment(), 500L);                // the lender reads it with FILLED.getAcquire
 * }
 * }
 *
 * <p>What a hostile peer can and cannot cause. Every reference is checked before anything is read through
 * it: the block must be allocated in the peer's arena with the reference's generation (a freed or reused
 * block is refused), the object header must name the expected kind, type tag and element size, and the
 * count it claims must fit in the block. The payload is then read through a slice of exactly that size, so
 * a peer that rewrites the header afterwards cannot widen it; at worst it changes the bytes this process
 * reads, which it owns. A peer cannot write this process's read-only objects at all: that pool is mapped
 * read-only by the other side, sealed against any other writable mapping (so a peer running as the same
 * user cannot reopen it for writing either), and a borrowed view of it is read-only. The peer maps the whole
 * read-write pool, so it can write every object this process allocated {@link PeerAccess#READ_WRITE}, from
 * the moment it is allocated, lent or not (such an object is all zero when allocated, and the peer may
 * write it at any moment after): their values, their headers and the references they hold, which this process
 * checks when it follows them exactly as it checks a peer's. A reference the peer stores there names, if it
 * passes the checks, a live object of this process's arena of the expected type, but which one is the peer's
 * choice, lent or not: treat it as input, not as authority. The peer cannot change how long this process's
 * view of its own object is, nor anything the arena knows about its blocks.
 * Violations are {@link CorruptDataException}s naming the reference.
 *
 * <p>Thread safety: thread-safe.
 */
public final class SharedData {
    private final ShmArena arena;
    private final ArenaView peer;

    private SharedData(final ShmArena arena, final ArenaView peer) {
        this.arena = arena;
        this.peer = peer;
    }

    /**
     * {@return the shared data of a session: objects in its arena, the peer's through its view}
     *
     * @param session a session opened with {@link dev.isthmus.session.SessionOptions#zeroCopy()}
     * @throws IllegalStateException if the session has no arenas
     */
    public static SharedData of(final Session session) {
        return new SharedData(session.arena(), session.peerArena());
    }

    /**
     * {@return shared data over an arena and, optionally, a peer's arena view}
     *
     * @param arena where this process allocates
     * @param peer  the peer's arena, to borrow from; null if nothing is borrowed
     */
    public static SharedData of(final ShmArena arena, final ArenaView peer) {
        return new SharedData(Objects.requireNonNull(arena, "arena"), peer);
    }

    /**
     * Allocates a record, all zero, that the peer may only read.
     *
     * @param type the record's type
     * @return the record, held by this process
     * @throws dev.isthmus.IsthmusException if the arena is full
     */
    public SharedStruct allocate(final StructType type) {
        return allocate(type, PeerAccess.READ_ONLY);
    }

    /**
     * Allocates a record, all zero.
     *
     * @param type   the record's type
     * @param access what the peer may do with it once lent
     * @return the record, held by this process
     * @throws dev.isthmus.IsthmusException if the arena's pool for that access is full
     * @throws UnsupportedOperationException if {@code access} is {@code READ_WRITE} and the arena is not a
     *                                       session's (an arena of named pools lends nothing writable)
     */
    public SharedStruct allocate(final StructType type, final PeerAccess access) {
        final ShmBlock block = allocate(KIND_STRUCT, type.typeTag(), 1, type.byteSize(), access);
        return new SharedStruct(this, block, block.handle(), type, payload(block), false);
    }

    /**
     * Allocates an array of records, all zero, that the peer may only read.
     *
     * @param element the elements' type
     * @param length  the number of elements, at least 0
     * @return the array, held by this process
     * @throws IllegalArgumentException if {@code length} is negative or too large
     * @throws dev.isthmus.IsthmusException if the arena is full
     */
    public SharedArray allocateArray(final StructType element, final long length) {
        return allocateArray(element, length, PeerAccess.READ_ONLY);
    }

    /**
     * Allocates an array of records, all zero.
     *
     * @param element the elements' type
     * @param length  the number of elements, at least 0
     * @param access  what the peer may do with it once lent
     * @return the array, held by this process
     * @throws IllegalArgumentException if {@code length} is negative or too large
     * @throws dev.isthmus.IsthmusException if the arena's pool for that access is full
     * @throws UnsupportedOperationException if {@code access} is {@code READ_WRITE} and the arena is not a
     *                                       session's (an arena of named pools lends nothing writable)
     */
    public SharedArray allocateArray(final StructType element, final long length, final PeerAccess access) {
        final long tag = DataDescriptor.arrayTag(element.typeTag());
        final ShmBlock block = allocate(KIND_ARRAY, tag, length, element.byteSize(), access);
        return new SharedArray(this, block, block.handle(), tag, payload(block), false, length, element.byteSize(),
            element, null);
    }

    /**
     * Allocates an array of primitive values, all zero, that the peer may only read.
     *
     * @param element the values' layout, e.g. {@link ValueLayout#JAVA_LONG}, in native byte order and aligned
     * @param length  the number of elements, at least 0
     * @return the array, held by this process
     * @throws IllegalArgumentException if {@code length} is negative or too large, or the layout is an address
     * @throws dev.isthmus.IsthmusException if the arena is full
     */
    public SharedArray allocateArray(final ValueLayout element, final long length) {
        return allocateArray(element, length, PeerAccess.READ_ONLY);
    }

    /**
     * Allocates an array of primitive values, all zero.
     *
     * @param element the values' layout, e.g. {@link ValueLayout#JAVA_LONG}, in native byte order and aligned
     * @param length  the number of elements, at least 0
     * @param access  what the peer may do with it once lent
     * @return the array, held by this process
     * @throws IllegalArgumentException if {@code length} is negative or too large, or the layout is an address
     * @throws dev.isthmus.IsthmusException if the arena's pool for that access is full
     * @throws UnsupportedOperationException if {@code access} is {@code READ_WRITE} and the arena is not a
     *                                       session's (an arena of named pools lends nothing writable)
     */
    public SharedArray allocateArray(final ValueLayout element, final long length, final PeerAccess access) {
        checkElement(element);
        final long tag = DataDescriptor.arrayTag(element);
        final ShmBlock block = allocate(KIND_ARRAY, tag, length, element.byteSize(), access);
        return new SharedArray(this, block, block.handle(), tag, payload(block), false, length, element.byteSize(),
            null, element);
    }

    /**
     * Allocates a string holding the UTF-8 of {@code value}.
     *
     * @param value the string
     * @return the string, held by this process
     * @throws dev.isthmus.IsthmusException if the arena is full
     */
    public SharedString allocateString(final String value) {
        return allocateString(value.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Allocates a byte string holding a copy of {@code bytes}.
     *
     * @param bytes the bytes, UTF-8 by convention
     * @return the string, held by this process
     * @throws dev.isthmus.IsthmusException if the arena is full
     */
    public SharedString allocateString(final byte[] bytes) {
        final ShmBlock block = allocate(KIND_STRING, STRING_TAG, bytes.length, 1, PeerAccess.READ_ONLY);
        final MemorySegment payload = payload(block);
        MemorySegment.copy(MemorySegment.ofArray(bytes), 0, payload, 0, bytes.length);
        return new SharedString(this, block, block.handle(), payload, false);
    }

    private ShmBlock allocate(final int kind, final long tag, final long count, final long stride,
                              final PeerAccess access) {
        if (count < 0) {
            throw new IllegalArgumentException("length=" + count + " is negative");
        }
        final long bytes;
        try {
            bytes = Math.addExact(HEADER_LENGTH, Math.multiplyExact(count, stride));
        } catch (final ArithmeticException e) {
            throw new IllegalArgumentException(count + " elements of " + stride + " bytes do not fit in memory");
        }
        final ShmBlock block = switch (Objects.requireNonNull(access, "access")) {
            case READ_ONLY -> arena.allocateZeroed(bytes);
            case READ_WRITE -> allocatePeerWritable(bytes);
        };
        final MemorySegment header = block.segment();
        header.set(JAVA_INT, MAGIC_OFFSET, OBJECT_MAGIC);
        header.set(JAVA_INT, KIND_OFFSET, kind);
        header.set(JAVA_LONG, TYPE_TAG_OFFSET, tag);
        header.set(JAVA_LONG, COUNT_OFFSET, count);
        header.set(JAVA_LONG, STRIDE_OFFSET, stride);
        return block;
    }

    private ShmBlock allocatePeerWritable(final long bytes) {
        if (!arena.isSealed()) {
            throw new UnsupportedOperationException("PeerAccess.READ_WRITE needs a session's arena: arena "
                + arena.group() + " has named pools, none lent writable");
        }
        return arena.allocatePeerWritable(bytes);
    }

    /** Whether the peer may write this arena's block {@code handle} names (the arena decides by its pool). */
    boolean peerWritable(final ShmHandle handle) {
        return arena.isLentWritable(handle.pool());
    }

    private static MemorySegment payload(final ShmBlock block) {
        return block.segment().asSlice(HEADER_LENGTH);
    }

    private static void checkElement(final ValueLayout element) {
        if (element instanceof java.lang.foreign.AddressLayout) {
            throw new IllegalArgumentException("an array of addresses means nothing in another process");
        }
        if (element.order() != java.nio.ByteOrder.nativeOrder() || element.byteAlignment() != element.byteSize()) {
            throw new IllegalArgumentException(element + " is not a naturally aligned value in native byte order");
        }
    }

    /**
     * Lends an object this process allocated: adds a reference the peer holds until it closes what it
     * borrows, and returns what to send it. If the reference never reaches the peer, call
     * {@link #unlend(SharedObject)}.
     *
     * @param object an object of this arena
     * @return the reference to send
     * @throws IllegalArgumentException if the object is borrowed or of another arena
     * @throws IllegalStateException    if it was closed
     */
    public DataRef lend(final SharedObject object) {
        own(object);
        object.block.lend();
        return object.ref();
    }

    /**
     * Gives back a reference {@link #lend(SharedObject)} added that never reached the peer.
     *
     * @param object the object lent
     */
    public void unlend(final SharedObject object) {
        own(object);
        object.block.unlend();
    }

    /**
     * Lends an object and sends its reference as one blob ({@value DataDescriptor#WIRE_REF_LENGTH} bytes) over a
     * channel; the peer reads it with {@link DataRef#readFrom} and borrows. If the channel has no room within
     * the timeout, the lend is undone.
     *
     * @param object    an object of this arena
     * @param channel   the channel to the peer that owns the arena view
     * @param timeoutNs how long to wait for room, 0 for not at all
     * @return whether the reference was sent
     * @throws dev.isthmus.ChannelClosedException if the channel is closed
     */
    public boolean lend(final SharedObject object, final BlobChannel channel, final long timeoutNs) {
        final DataRef ref = lend(object);
        final byte[] wire = new byte[WIRE_REF_LENGTH];
        ref.writeTo(MemorySegment.ofArray(wire), 0);
        boolean sent = false;
        try {
            sent = channel.offer(wire, 0, wire.length, timeoutNs);
            return sent;
        } finally {
            if (!sent) {
                object.block.unlend();
            }
        }
    }

    private void own(final SharedObject object) {
        if (object.data != this || object.borrowed) {
            throw new IllegalArgumentException(object + " is not an object this process allocated from this arena");
        }
        if (object.block == null) {
            throw new IllegalArgumentException(object + " was reached by following a reference and holds no reference"
                + " of its own: lend the object as it was allocated");
        }
    }

    /**
     * Borrows a record the peer lent: checks the reference and the record's header, and returns a view that
     * holds the peer's reference until closed, read-only unless the peer allocated it
     * {@link PeerAccess#READ_WRITE} ({@link SharedObject#isReadOnly()} tells).
     *
     * @param ref  what the peer sent
     * @param type the type the record must have
     * @return the record
     * @throws CorruptDataException if the reference is forged, stale, or names an object of another kind or type
     * @throws IllegalStateException if there is no peer arena
     */
    public SharedStruct borrowStruct(final DataRef ref, final StructType type) {
        final ShmBlock block = borrowBlock(ref, type.typeTag());
        try {
            final MemorySegment payload = borrowed(ref, check(ref, block.segment(), KIND_STRUCT, type.typeTag(),
                type.byteSize(), 1L));
            return new SharedStruct(this, block, ref.handle(), type, payload, true);
        } catch (final RuntimeException e) {
            block.close();
            throw e;
        }
    }

    /**
     * Borrows an array of records the peer lent.
     *
     * @param ref     what the peer sent
     * @param element the elements' type
     * @return the array, read-only unless the peer allocated it {@link PeerAccess#READ_WRITE}
     * @throws CorruptDataException as {@link #borrowStruct} does
     */
    public SharedArray borrowArray(final DataRef ref, final StructType element) {
        final long tag = DataDescriptor.arrayTag(element.typeTag());
        final ShmBlock block = borrowBlock(ref, tag);
        try {
            final MemorySegment payload = borrowed(ref, check(ref, block.segment(), KIND_ARRAY, tag, element.byteSize(),
                -1));
            return new SharedArray(this, block, ref.handle(), tag, payload, true, payload.byteSize() / element.byteSize(),
                element.byteSize(), element, null);
        } catch (final RuntimeException e) {
            block.close();
            throw e;
        }
    }

    /**
     * Borrows an array of primitive values the peer lent.
     *
     * @param ref     what the peer sent
     * @param element the values' layout
     * @return the array, read-only unless the peer allocated it {@link PeerAccess#READ_WRITE}
     * @throws CorruptDataException as {@link #borrowStruct} does
     */
    public SharedArray borrowArray(final DataRef ref, final ValueLayout element) {
        checkElement(element);
        final long tag = DataDescriptor.arrayTag(element);
        final ShmBlock block = borrowBlock(ref, tag);
        try {
            final MemorySegment payload = borrowed(ref, check(ref, block.segment(), KIND_ARRAY, tag, element.byteSize(),
                -1));
            return new SharedArray(this, block, ref.handle(), tag, payload, true, payload.byteSize() / element.byteSize(),
                element.byteSize(), null, element);
        } catch (final RuntimeException e) {
            block.close();
            throw e;
        }
    }

    /**
     * Borrows a string the peer lent.
     *
     * @param ref what the peer sent
     * @return the string, read-only
     * @throws CorruptDataException as {@link #borrowStruct} does
     */
    public SharedString borrowString(final DataRef ref) {
        final ShmBlock block = borrowBlock(ref, STRING_TAG);
        try {
            return new SharedString(this, block, ref.handle(), borrowed(ref, check(ref, block.segment(), KIND_STRING,
                STRING_TAG, 1, -1)), true);
        } catch (final RuntimeException e) {
            block.close();
            throw e;
        }
    }

    private ShmBlock borrowBlock(final DataRef ref, final long tag) {
        checkTag(ref, tag);
        if (peer == null) {
            throw new IllegalStateException("this SharedData has no peer arena to borrow from");
        }
        return peer.borrow(ref.handle());
    }

    private static void checkTag(final DataRef ref, final long tag) {
        if (ref.typeTag() != tag) {
            throw new CorruptDataException("reference " + ref.handle() + " is to an object of type tag "
                + Long.toHexString(ref.typeTag()) + ", expected " + Long.toHexString(tag));
        }
    }

    /** The memory a reference found in {@code from}'s payload names: this arena's, or the peer's. */
    private MemorySegment resolve(final SharedObject from, final DataRef ref, final long tag) {
        checkTag(ref, tag);
        if (from.borrowed) {
            if (peer == null) {
                throw new IllegalStateException("this SharedData has no peer arena");
            }
            try {
                return peer.resolve(ref.handle());
            } catch (final dev.isthmus.shm.NoSuchResourceException e) {
                throw new CorruptDataException("reference " + ref.handle() + " names a pool the peer does not have: "
                    + e.getMessage());
            }
        }
        return arena.resolve(ref.handle());
    }

    SharedStruct followStruct(final SharedStruct from, final DataRef ref, final StructType type) {
        final MemorySegment payload = viewFrom(from, ref, check(ref, resolve(from, ref, type.typeTag()), KIND_STRUCT,
            type.typeTag(), type.byteSize(), 1L));
        return new SharedStruct(this, null, ref.handle(), type, payload, from.borrowed);
    }

    SharedArray followArray(final SharedStruct from, final DataRef ref, final long tag,
                            final long stride, final ValueLayout layout, final StructType type) {
        final MemorySegment payload = viewFrom(from, ref, check(ref, resolve(from, ref, tag), KIND_ARRAY, tag, stride,
            -1));
        return new SharedArray(this, null, ref.handle(), tag, payload, from.borrowed, payload.byteSize() / stride, stride,
            type, layout);
    }

    SharedString followString(final SharedStruct from, final DataRef ref) {
        return new SharedString(this, null, ref.handle(),
            viewFrom(from, ref, check(ref, resolve(from, ref, STRING_TAG), KIND_STRING, STRING_TAG, 1, -1)), from.borrowed);
    }

    /** A peer's object is seen read-only unless its lender lent it writable (whatever the mapping allows). */
    private MemorySegment borrowed(final DataRef ref, final MemorySegment payload) {
        return peer.isLentWritable(ref.handle().pool()) ? payload : payload.asReadOnly();
    }

    /** What following a reference from {@code from} shows: this process's own objects as they are, a peer's as lent. */
    private MemorySegment viewFrom(final SharedObject from, final DataRef ref, final MemorySegment payload) {
        return from.borrowed ? borrowed(ref, payload) : payload;
    }

    /**
     * Checks an object's header against what the reader expects and returns its payload, sliced to exactly what
     * the header claims once that fits in the memory the reference names. The header is read once: what the
     * owner (or, for a peer-writable object, the peer) writes there afterwards cannot widen the slice. The slice
     * is as writable as the mapping (a peer's read-only pool is mapped read-only here); callers narrow a peer's
     * object to what it was lent as.
     */
    private static MemorySegment check(final DataRef ref, final MemorySegment object, final int kind, final long tag,
                                       final long stride, final long expectedCount) {
        if (object.byteSize() < HEADER_LENGTH) {
            throw refused(ref, "its " + object.byteSize() + " bytes cannot hold an object header");
        }
        final int magic = object.get(JAVA_INT, MAGIC_OFFSET);
        final int foundKind = object.get(JAVA_INT, KIND_OFFSET);
        final long foundTag = object.get(JAVA_LONG, TYPE_TAG_OFFSET);
        final long count = object.get(JAVA_LONG, COUNT_OFFSET);
        final long foundStride = object.get(JAVA_LONG, STRIDE_OFFSET);
        if (magic != OBJECT_MAGIC) {
            throw refused(ref, "no shared object starts there (magic " + Integer.toHexString(magic) + ")");
        }
        if (foundKind != kind) {
            throw refused(ref, "it holds " + kindName(foundKind) + ", expected " + kindName(kind));
        }
        if (foundTag != tag) {
            throw refused(ref, "its type tag is " + Long.toHexString(foundTag) + ", expected " + Long.toHexString(tag));
        }
        if (foundStride != stride) {
            throw refused(ref, "its elements are " + foundStride + " bytes, expected " + stride);
        }
        final long room = (object.byteSize() - HEADER_LENGTH) / stride;
        if (count < 0 || count > room || expectedCount >= 0 && count != expectedCount) {
            throw refused(ref, "it claims " + count + " elements of " + stride + " bytes, and "
                + (expectedCount >= 0 ? expectedCount + " are expected" : "only " + room + " fit in its "
                + (object.byteSize() - HEADER_LENGTH) + " bytes"));
        }
        return object.asSlice(HEADER_LENGTH, count * stride);
    }

    private static String kindName(final int kind) {
        return switch (kind) {
            case KIND_STRUCT -> "a record";
            case KIND_ARRAY -> "an array";
            case KIND_STRING -> "a string";
            default -> "kind " + kind;
        };
    }

    private static CorruptDataException refused(final DataRef ref, final String why) {
        return new CorruptDataException("shared object " + ref.handle() + " is refused: " + why);
    }
}
