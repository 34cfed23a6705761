/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import dev.isthmus.arena.ArenaView;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.arena.ShmBlock;
import dev.isthmus.arena.ShmHandle;
import dev.isthmus.struc.Codec;
import dev.isthmus.struc.Outgoing;
import dev.isthmus.struc.Received;
import org.capnproto.AnyPointer;
import org.capnproto.DecodeException;
import org.capnproto.ReaderArena;
import org.capnproto.SegmentReader;
import org.capnproto.StructFactory;
import org.capnproto.StructReader;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Method;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;

import static dev.isthmus.arena.ArenaDescriptor.BLOCK_HEADER_LENGTH;
import static dev.isthmus.capnp.CapnpDescriptor.BYTES_PER_WORD;
import static dev.isthmus.capnp.CapnpDescriptor.MAX_SEGMENTS;
import static dev.isthmus.capnp.CapnpDescriptor.MAX_SEGMENT_WORDS;
import static dev.isthmus.capnp.CapnpDescriptor.SHM_COUNT_OFFSET;
import static dev.isthmus.capnp.CapnpDescriptor.SHM_HANDLES_OFFSET;
import static dev.isthmus.capnp.CapnpDescriptor.SHM_HANDLE_LENGTH;
import static dev.isthmus.capnp.CapnpDescriptor.SHM_MAGIC;
import static dev.isthmus.capnp.CapnpDescriptor.SHM_MAGIC_OFFSET;

/**
 * The Cap'n Proto {@link Codec}: messages whose root struct has an anonymous union, the union's tag (the
 * ordinal of the generated {@code Which} enum) being the message type that handlers are chosen by.
 *
 * {@snippet :
 * CapnpCodec<Body.Reader, Body.Builder> codec =
 *     CapnpCodec.sessionShm(Body.factory, myArena, viewOfPeersArena);
 * StructuredChannel<Body.Reader, Body.Builder> channel = StructuredChannel.open(blobChannel, codec, options);
 * }
 *
 * <p><b>Backings</b> (payload formats in {@link CapnpDescriptor}):
 * <ul>
 *   <li>{@link Backing#HEAP}: messages are built on the heap and sent in Cap'n Proto's standard stream
 *   framing, the parts being views of the builder's own segments (the channel's copy is the only one on
 *   the way in). The receiver copies the payload to the heap once, or keeps the memory the channel
 *   reassembled a fragmented payload in, and reads it there.</li>
 *   <li>{@link Backing#SESSION_SHM}: segments are allocated in this process's {@link ShmArena} (8 KiB first,
 *   doubling, each at most {@link #MAX_SEGMENT_BYTES}, so a 1 GiB message is a few dozen segments); a send
 *   lends each block and the payload is {@code 8 + 24 * segments} bytes of handles. The receiver borrows
 *   every block through its {@link ArenaView} of the sender's arena, which validates each handle, and reads
 *   the segments in place; closing the {@link Received} message gives the blocks back. A message of at most
 *   1 KiB built without a size hint (a typical request) goes inline instead: it is built on the heap and its
 *   one segment travels in the payload, so nothing is allocated in shared memory or borrowed for it; once
 *   closed, its builder and heap segment, cleared, build the codec's next such message, so building a
 *   request allocates only its root builders and the views of its encoding. The codec keeps the reading
 *   (buffer, Cap'n Proto arena, root) of the last one-segment message it borrowed and of its inline buffer,
 *   and reuses it for the next message over the same memory once the earlier one is closed: each message
 *   still gets the whole traversal budget and reads the bytes as they are then.</li>
 * </ul>
 *
 * <p><b>Hostile peers: what {@link #decode} checks.</b> Everything in a payload is checked before use:
 * segment counts, lengths (that they add up to the payload exactly, that they are whole words), and, for
 * shared memory, every handle: no two may name overlapping memory of one pool (checked before anything is
 * borrowed), and each is validated by {@link ArenaView#borrowLent} (in a session's sealed arena, its bounds
 * against the pool's mapping; in a named arena, also the block's header). The root pointer and the union tag are read
 * and checked: a tag that contradicts the type in the header is corrupt. Every violation is a
 * {@link CorruptDataException}, and whatever was borrowed for the message is given back before it is
 * thrown.
 *
 * <p><b>Hostile peers: what a handler may see.</b> The root reader the handler gets is Cap'n Proto's own,
 * reading lazily: the codec cannot check every pointer of a message up front without reading all of it.
 * Reading goes through bounds-checked {@link ByteBuffer}s, charged to a traversal limit that is fixed by
 * the receiver ({@link CapnpReadOptions#traversalLimitWords()}, never derived from what the sender
 * declares) and a nesting limit, so no accessor reads outside the message's segments, loops forever, or
 * does more than that much work per message. But on a malformed message an accessor of capnp-java
 * 0.1.16 may throw any of:
 * <ul>
 *   <li>{@link DecodeException}: the traversal or nesting limit is exhausted, or a pointer has the wrong
 *   kind;</li>
 *   <li>{@link IndexOutOfBoundsException}: a pointer, list or text leaves its segment (the buffer's own
 *   bounds check);</li>
 *   <li>{@link IllegalArgumentException}: a data blob that does not fit its segment, or whose byte offset
 *   does not fit an {@code int} (a {@code ByteBuffer} position or limit check: capnp-java does not
 *   bounds-check data pointers itself);</li>
 * </ul>
 * and it may also return wrong bytes without any exception: capnp-java computes a data or text blob's byte
 * offset as {@code 8 * wordOffset} in {@code int}, which wraps for a target 2<sup>28</sup> words or more
 * from the segment's start, forwards or backwards (a pointer's offset reaches 2<sup>29</sup> words): some
 * such pointers then throw {@link IllegalArgumentException}, others make a {@code Data} or {@code Text}
 * reader alias other bytes of the same segment (never bytes outside it), e.g. a data pointer at word 6
 * with the largest offset, 2<sup>29</sup>&minus;1, reads from byte 48. With {@link Backing#SESSION_SHM} and no
 * {@linkplain CapnpReadOptions#copyOnReceive() copy on receive}, the sender can moreover change the message
 * while it is read, its union tag included: the tag checked at decode may differ from what
 * {@code which()} returns afterwards, and a handler for one member may then read another's struct (the
 * generated getters only {@code assert} the tag). Handlers of untrusted peers should therefore treat the
 * exceptions above as corrupt input ({@link CapnpChannels#guarded} does that), and use copy on receive
 * where the content, not only memory safety, matters.
 *
 * <p>Thread safety: thread-safe.
 *
 * @param <R> the root reader type
 * @param <B> the root builder type
 */
public final class CapnpCodec<R extends StructReader, B> implements Codec<R, B> {
    /**
     * The largest arena block a {@link Backing#SESSION_SHM} segment is given (its usable length is the
     * block minus the arena's 64-byte block header), unless one object needs more on its own: 64 MiB.
     */
    public static final long MAX_SEGMENT_BYTES = 64L << 20;
    /** How deep pointers may nest in a received message by default: Cap'n Proto's default. */
    public static final int NESTING_LIMIT = CapnpReadOptions.DEFAULT_NESTING_LIMIT;

    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** A message that holds no shared memory: no cleaner is registered for it. */
    private static final Runnable NOTHING_TO_RELEASE = null;

    private final StructFactory<B, R> factory;
    private final Backing backing;
    private final ShmArena arena;
    private final ArenaView peerArena;
    private final CapnpReadOptions readOptions;
    /** The reading of the last one-segment message borrowed, handed back when it closed, or null. */
    private final java.util.concurrent.atomic.AtomicReference<BlockReading> spareBlock =
        new java.util.concurrent.atomic.AtomicReference<>();
    /** A message read in place that was closed ({@link #decodeScoped}), or null: the next one reuses it. */
    private final java.util.concurrent.atomic.AtomicReference<ScopedReceived<R>> spareScoped =
        new java.util.concurrent.atomic.AtomicReference<>();
    /**
     * The builder, allocator and heap segment of the last closed message that went inline, cleared, or null:
     * the next {@link #newMessage()} takes it instead of allocating its own.
     */
    private final java.util.concurrent.atomic.AtomicReference<ArenaSegmentAllocator> spareBuilder =
        new java.util.concurrent.atomic.AtomicReference<>();
    /**
     * The builder and allocator of the last closed message with a size hint, without segments, or null: the
     * next {@link #newMessage(long)} takes it, whatever its hint.
     */
    private final java.util.concurrent.atomic.AtomicReference<ArenaSegmentAllocator> spareSizedBuilder =
        new java.util.concurrent.atomic.AtomicReference<>();
    /** A buffer for inline messages handed back by a closed one, or null: most requests need no new one. */
    private final java.util.concurrent.atomic.AtomicReference<InlineBuffer> spareInline =
        new java.util.concurrent.atomic.AtomicReference<>();
    private final MethodHandle builderWhich;
    private final MethodHandle readerWhich;
    private final int notInSchema;

    private CapnpCodec(final StructFactory<B, R> factory, final Backing backing, final ShmArena arena,
                       final ArenaView peerArena, final CapnpReadOptions readOptions) {
        this.factory = Objects.requireNonNull(factory, "factory");
        this.backing = Objects.requireNonNull(backing, "backing");
        this.readOptions = Objects.requireNonNull(readOptions, "readOptions");
        if (backing == Backing.SESSION_SHM) {
            Objects.requireNonNull(arena, "arena (required by SESSION_SHM)");
            Objects.requireNonNull(peerArena, "peerArena (required by SESSION_SHM)");
        }
        this.arena = arena;
        this.peerArena = peerArena;
        final Class<?>[] types = builderAndReaderTypes(factory.getClass());
        final Method builderMethod = whichMethod(factory, types[0]);
        final Method readerMethod = whichMethod(factory, types[1]);
        try {
            final MethodType erased = MethodType.methodType(Enum.class, Object.class);
            this.builderWhich = MethodHandles.publicLookup().unreflect(builderMethod).asType(erased);
            this.readerWhich = MethodHandles.publicLookup().unreflect(readerMethod).asType(erased);
        } catch (final IllegalAccessException e) {
            throw new IllegalArgumentException("factory=" + factory.getClass().getName()
                + ": which() is not public in an exported package", e);
        }
        int last = -1;
        for (final Object constant : readerMethod.getReturnType().getEnumConstants()) {
            if ("_NOT_IN_SCHEMA".equals(((Enum<?>) constant).name())) {
                last = ((Enum<?>) constant).ordinal();
            }
        }
        this.notInSchema = last;
    }

    /**
     * {@return a codec that builds messages on the heap and copies them through the channel}
     *
     * @param factory the root struct's generated factory, e.g. {@code Body.factory}
     * @param <R>     the root reader type
     * @param <B>     the root builder type
     * @throws IllegalArgumentException if the root struct has no anonymous union
     */
    public static <R extends StructReader, B> CapnpCodec<R, B> heap(final StructFactory<B, R> factory) {
        return new CapnpCodec<>(factory, Backing.HEAP, null, null, CapnpReadOptions.defaults());
    }

    /**
     * {@return a zero-copy codec: messages built in {@code arena}, received ones read in place through
     * {@code peerArena}}
     *
     * @param factory   the root struct's generated factory, e.g. {@code Body.factory}
     * @param arena     this process's arena, where outgoing messages are built; the caller keeps owning it
     * @param peerArena the view of the peer's arena, where received messages live; the caller keeps owning it
     * @param <R>       the root reader type
     * @param <B>       the root builder type
     * @throws IllegalArgumentException if the root struct has no anonymous union
     */
    public static <R extends StructReader, B> CapnpCodec<R, B> sessionShm(final StructFactory<B, R> factory,
                                                                          final ShmArena arena,
                                                                          final ArenaView peerArena) {
        return new CapnpCodec<>(factory, Backing.SESSION_SHM, arena, peerArena, CapnpReadOptions.defaults());
    }

    /**
     * {@return a codec with the given backing}
     *
     * @param factory   the root struct's generated factory, e.g. {@code Body.factory}
     * @param backing   where messages live
     * @param arena     this process's arena; required by {@link Backing#SESSION_SHM}, ignored by {@link Backing#HEAP}
     * @param peerArena the view of the peer's arena; likewise
     * @param <R>       the root reader type
     * @param <B>       the root builder type
     * @throws NullPointerException     if {@link Backing#SESSION_SHM} lacks an arena or a view
     * @throws IllegalArgumentException if the root struct has no anonymous union
     */
    public static <R extends StructReader, B> CapnpCodec<R, B> create(final StructFactory<B, R> factory,
                                                                      final Backing backing, final ShmArena arena,
                                                                      final ArenaView peerArena) {
        return create(factory, backing, arena, peerArena, CapnpReadOptions.defaults());
    }

    /**
     * {@return a codec with the given backing, reading what the peer sends as {@code readOptions} say}
     *
     * @param factory     the root struct's generated factory, e.g. {@code Body.factory}
     * @param backing     where messages live
     * @param arena       this process's arena; required by {@link Backing#SESSION_SHM}, ignored by {@link Backing#HEAP}
     * @param peerArena   the view of the peer's arena; likewise
     * @param readOptions traversal and nesting limits, copy on receive
     * @param <R>         the root reader type
     * @param <B>         the root builder type
     * @throws NullPointerException     if {@link Backing#SESSION_SHM} lacks an arena or a view, or
     *                                  {@code readOptions} is {@code null}
     * @throws IllegalArgumentException if the root struct has no anonymous union
     */
    public static <R extends StructReader, B> CapnpCodec<R, B> create(final StructFactory<B, R> factory,
                                                                      final Backing backing, final ShmArena arena,
                                                                      final ArenaView peerArena,
                                                                      final CapnpReadOptions readOptions) {
        return backing == Backing.HEAP
            ? new CapnpCodec<>(factory, Backing.HEAP, null, null, readOptions)
            : new CapnpCodec<>(factory, backing, arena, peerArena, readOptions);
    }

    /**
     * {@return how this codec reads what the peer sends}
     */
    public CapnpReadOptions readOptions() {
        return readOptions;
    }

    /**
     * {@return the backing}
     */
    public Backing backing() {
        return backing;
    }

    /**
     * {@return the root struct's factory}
     */
    public StructFactory<B, R> factory() {
        return factory;
    }

    /**
     * {@return a new, empty message, built with this codec's backing}
     */
    @Override
    public CapnpOutgoing<B> newMessage() {
        if (backing == Backing.HEAP) {
            return new CapnpOutgoing<>(this, factory, null);
        }
        final ArenaSegmentAllocator spare = spareBuilder.getAndSet(null);
        return new CapnpOutgoing<>(this, factory,
            spare != null ? spare : new ArenaSegmentAllocator(arena, MAX_SEGMENT_BYTES, true));
    }

    /**
     * Takes the cleared builder of a closed message, for the next {@link #newMessage()} if it could go inline,
     * or the next {@link #newMessage(long)} if it had a size hint.
     */
    void reuse(final ArenaSegmentAllocator allocator) {
        // getAndSet in newMessage() and this set are atomic: a builder goes to one message at most, and the
        // clearing the closing thread did before this set is visible to the thread that takes it.
        (allocator.inlineFirst() ? spareBuilder : spareSizedBuilder).set(allocator);
    }

    /**
     * {@return a new, empty message whose first segment holds about {@code sizeHintBytes}}
     *
     * <p>For a message whose size is known in advance (a cache's pre-built response, say), one large first
     * segment instead of dozens of doubling ones means fewer handles to lend and borrow per send
     * ({@link Backing#SESSION_SHM}). The first segment holds the hint rounded up (plus 1/64 and 4 KiB for the
     * lists and pointers around the data the hint counts), at most what a {@link java.nio.ByteBuffer} holds,
     * so a message as large as its hint is one segment and one handle; what does not fit goes to further
     * segments as usual. Only the pages the segment spans are touched, though its arena block is the next
     * power of two. With {@link Backing#HEAP} the hint is ignored: heap messages grow as Cap'n Proto grows
     * them.
     *
     * @param sizeHintBytes the expected size of the message, at least 0
     * @throws IllegalArgumentException if {@code sizeHintBytes} is negative
     */
    public CapnpOutgoing<B> newMessage(final long sizeHintBytes) {
        if (sizeHintBytes < 0) {
            throw new IllegalArgumentException("sizeHintBytes=" + sizeHintBytes + " must be >= 0");
        }
        if (backing == Backing.HEAP) {
            return newMessage();
        }
        final long first = firstSegmentBytes(sizeHintBytes);
        final ArenaSegmentAllocator spare = spareSizedBuilder.getAndSet(null);
        final ArenaSegmentAllocator allocator = spare != null ? spare
            : new ArenaSegmentAllocator(arena, MAX_SEGMENT_BYTES, false);
        // A spare has no segment yet: its first is asked for with this message's length.
        allocator.firstSegmentBytes(first);
        return new CapnpOutgoing<>(this, factory, allocator);
    }

    /**
     * The first segment of a message of about {@code sizeHintBytes}: the hint plus 1/64 and 4 KiB for the
     * structure around the data the hint counts (lists, pointers, small fields), in whole words, at most what
     * a {@link ByteBuffer} holds. Rounded up, never down: a message as large as its hint is one segment.
     */
    static long firstSegmentBytes(final long sizeHintBytes) {
        final long slack = (sizeHintBytes >>> 6) + 4096;
        final long wanted = sizeHintBytes > ArenaSegmentAllocator.MAX_BUFFER_BYTES - slack
            ? ArenaSegmentAllocator.MAX_BUFFER_BYTES : sizeHintBytes + slack;
        return Math.max(ArenaSegmentAllocator.FIRST_BLOCK_BYTES - dev.isthmus.arena.ArenaDescriptor.BLOCK_HEADER_LENGTH,
            wanted + BYTES_PER_WORD - 1 & -BYTES_PER_WORD);
    }

    /**
     * {@return the message's type: the ordinal of its root union's tag}
     *
     * @param message a message of a codec with this backing, arena and factory
     * @throws IllegalArgumentException if it is not
     */
    @Override
    public int typeOf(final Outgoing<B> message) {
        return own(message).type();
    }

    /**
     * Encodes a message for one send ({@link CapnpDescriptor} shows both payloads). For
     * {@link Backing#SESSION_SHM} this lends the receiver a reference to every block of the message;
     * {@link Codec.Encoded#abandon()} takes them back.
     *
     * @param message a message of a codec with this backing, arena and factory
     * @return the payload
     * @throws IllegalArgumentException if the message is not such a message
     * @throws IllegalStateException    if the message is closed
     */
    @Override
    public Encoded encode(final Outgoing<B> message) {
        return own(message).encode();
    }

    private CapnpOutgoing<B> own(final Outgoing<B> message) {
        if (message instanceof CapnpOutgoing<B> outgoing) {
            final CapnpCodec<?, B> maker = outgoing.codec();
            if (maker == this || maker.factory == factory && maker.backing == backing && maker.arena == arena) {
                return outgoing;
            }
        }
        throw new IllegalArgumentException("message=" + message + " was not built by a codec of factory="
            + factory.getClass().getName() + ", backing=" + backing + (arena == null ? "" : ", arena=" + arena.group()));
    }

    /**
     * Decodes a payload: validates it, then reads the root and its union tag.
     *
     * @param payload the payload
     * @param type    the type the sender declared
     * @param id      the message id
     * @param owned   whether the payload's memory may be kept ({@link Backing#HEAP} then reads it in place)
     * @return the message; for {@link Backing#SESSION_SHM} it holds the borrowed blocks until closed
     * @throws CorruptDataException if the payload is malformed, a handle is refused, the root cannot be read,
     *                              or its tag is not {@code type}
     */
    @Override
    public Received<R> decode(final MemorySegment payload, final int type, final long id, final boolean owned) {
        return backing == Backing.HEAP ? decodeHeap(payload, type, id, owned)
            : decodeShm(payload, 0, payload.byteSize(), type, id, false);
    }

    /**
     * {@inheritDoc}
     *
     * <p>{@link Backing#SESSION_SHM} reads the handles, or the inline message it copies out, where they lie;
     * {@link Backing#HEAP} copies the payload out.
     */
    @Override
    public Received<R> decode(final MemorySegment buffer, final long offset, final long length, final int type,
                              final long id) {
        return backing == Backing.HEAP ? decodeHeap(buffer.asSlice(offset, length), type, id, false)
            : decodeShm(buffer, offset, length, type, id, false);
    }

    /**
     * {@inheritDoc}
     *
     * <p>{@link Backing#SESSION_SHM}: as {@link #decode(MemorySegment, long, long, int, long)}, and a message of
     * one segment or sent inline allocates nothing once the first was closed: its {@link Received}, the borrowed
     * block's reference and the reading are those of the last such message (the root too, if the sender sends
     * the same message again). {@link Backing#HEAP} decodes as {@code decode} does.
     */
    @Override
    public Received<R> decodeScoped(final MemorySegment buffer, final long offset, final long length, final int type,
                                    final long id) {
        return backing == Backing.HEAP ? decodeHeap(buffer.asSlice(offset, length), type, id, false)
            : decodeShm(buffer, offset, length, type, id, true);
    }

    /**
     * Decodes a reassembled payload in place and hands its memory back when the message is closed
     * ({@link Backing#HEAP}), or as soon as it is decoded ({@link Backing#SESSION_SHM}, whose payload is only
     * handles or an inline copy).
     */
    @Override
    public Received<R> decodeReusable(final MemorySegment payload, final int type, final long id,
                                      final Runnable onRelease) {
        if (backing == Backing.HEAP) {
            return decodeHeap(payload, type, id, true, Objects.requireNonNull(onRelease, "onRelease"));
        }
        final Received<R> received = decodeShm(payload, 0, payload.byteSize(), type, id, false);
        onRelease.run();
        return received;
    }

    private Received<R> decodeHeap(final MemorySegment payload, final int type, final long id, final boolean owned) {
        return decodeHeap(payload, type, id, owned, NOTHING_TO_RELEASE);
    }

    private Received<R> decodeHeap(final MemorySegment payload, final int type, final long id, final boolean owned,
                                   final Runnable release) {
        final long length = payload.byteSize();
        if (length < 2L * BYTES_PER_WORD || length % BYTES_PER_WORD != 0) {
            throw corrupt(id, "payloadLength=" + length + " is not a whole number of words holding a segment table and a root");
        }
        final int rawCount = payload.get(INT_LE, 0);
        if (rawCount < 0 || rawCount >= MAX_SEGMENTS) {
            throw corrupt(id, "segments=" + (rawCount + 1L) + " is outside [1, " + MAX_SEGMENTS + "]");
        }
        final int count = rawCount + 1;
        final long tableLength = CapnpDescriptor.streamTableLength(count);
        if (tableLength > length) {
            throw corrupt(id, "the table of " + count + " segments exceeds payloadLength=" + length);
        }
        final int[] words = new int[count];
        long total = 0;
        for (int i = 0; i < count; i++) {
            words[i] = payload.get(INT_LE, 4L + 4L * i);
            if (words[i] < 0 || words[i] > MAX_SEGMENT_WORDS) {
                throw corrupt(id, "segment " + i + " declares " + Integer.toUnsignedLong(words[i]) + " words, more than "
                    + MAX_SEGMENT_WORDS);
            }
            total += words[i];
        }
        if (words[0] == 0) {
            throw corrupt(id, "segment 0 is empty: it has no root pointer");
        }
        if (tableLength + total * BYTES_PER_WORD != length) {
            throw corrupt(id, "the segment table declares " + total * BYTES_PER_WORD + " bytes of segments, payloadLength="
                + length + " leaves " + (length - tableLength));
        }
        final MemorySegment memory = owned ? payload : copy(payload);
        final ByteBuffer[] segments = new ByteBuffer[count];
        long offset = tableLength;
        for (int i = 0; i < count; i++) {
            final long bytes = (long) words[i] * BYTES_PER_WORD;
            segments[i] = memory.asSlice(offset, bytes).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            offset += bytes;
        }
        return received(new Reading(segments, readOptions), type, id, length, owned ? release : NOTHING_TO_RELEASE, false,
            false);
    }

    private static MemorySegment copy(final MemorySegment payload) {
        final long length = payload.byteSize();
        final MemorySegment copy = length <= Integer.MAX_VALUE - 16
            ? MemorySegment.ofArray(new byte[(int) length])
            : Arena.ofAuto().allocate(length, BYTES_PER_WORD);
        MemorySegment.copy(payload, 0, copy, 0, length);
        return copy;
    }

    /**
     * Decodes the {@code length} bytes at {@code base} of {@code payload}; reads nothing outside them (the
     * length is checked before anything past the header is read).
     */
    private Received<R> decodeShm(final MemorySegment payload, final long base, final long length, final int type,
                                  final long id, final boolean scoped) {
        if (length < SHM_HANDLES_OFFSET) {
            throw corrupt(id, "payloadLength=" + length + " is shorter than the " + SHM_HANDLES_OFFSET + "-byte header");
        }
        final int magic = payload.get(INT_LE, base + SHM_MAGIC_OFFSET);
        if (magic == CapnpDescriptor.INLINE_MAGIC) {
            return decodeInline(payload, base, length, type, id, scoped);
        }
        if (magic != SHM_MAGIC) {
            throw corrupt(id, "magic=0x" + Integer.toHexString(magic)
                + " is not a shared-memory payload's (is the peer's backing HEAP?)");
        }
        final int count = payload.get(INT_LE, base + SHM_COUNT_OFFSET);
        if (count < 1 || count > MAX_SEGMENTS) {
            throw corrupt(id, "segments=" + count + " is outside [1, " + MAX_SEGMENTS + "]");
        }
        if (length != CapnpDescriptor.shmPayloadLength(count)) {
            throw corrupt(id, "payloadLength=" + length + " differs from the " + CapnpDescriptor.shmPayloadLength(count)
                + " bytes of " + count + " handles");
        }
        final boolean copy = readOptions.copyOnReceive();
        if (count == 1 && !copy) {
            return decodeOneSegment(payload, base, type, id, length, scoped);
        }
        final ShmHandle[] handles = new ShmHandle[count];
        long totalBytes = 0;
        for (int i = 0; i < count; i++) {
            final ShmHandle handle = ShmHandle.readFrom(payload, base + SHM_HANDLES_OFFSET + (long) SHM_HANDLE_LENGTH * i);
            checkSegment(id, i, handle.offset(), handle.length());
            handles[i] = handle;
            totalBytes += handle.length();
        }
        checkDisjoint(handles, id);
        if (copy && totalBytes > readOptions.traversalLimitWords() * BYTES_PER_WORD) {
            throw corrupt(id, "its segments hold " + totalBytes + " bytes, more than the traversal limit of "
                + readOptions.traversalLimitWords() + " words lets a reader read; copyOnReceive copies no more");
        }
        final ShmBlock[] blocks = borrowAll(handles, id);
        if (copy) {
            final ByteBuffer[] segments;
            try {
                segments = copyAll(blocks);
            } finally {
                // The copies are this process's: the sender may have its blocks back at once.
                closeAll(blocks);
            }
            return received(new Reading(segments, readOptions), type, id, length, NOTHING_TO_RELEASE, false, false);
        }
        final Runnable release = () -> closeAll(blocks);
        try {
            final ByteBuffer[] segments = new ByteBuffer[count];
            for (int i = 0; i < count; i++) {
                // Read-only: this process only reads the sender's memory (a sealed arena's read-only pool is
                // mapped so; a block of the writable pool, or of a named pool, is made so here).
                final ByteBuffer view = blocks[i].byteBuffer();
                segments[i] = (view.isReadOnly() ? view : view.asReadOnlyBuffer()).order(ByteOrder.LITTLE_ENDIAN);
            }
            return received(new Reading(segments, readOptions), type, id, length, release, true, false);
        } catch (final RuntimeException | Error e) {
            release.run();
            throw e;
        }
    }

    /**
     * {@link #decodeShm} of a message of one segment, read in place: the common case of a response whose size
     * was known, with no array of handles or blocks and no disjointness to check.
     */
    private Received<R> decodeOneSegment(final MemorySegment payload, final long base, final int type, final long id,
                                         final long length, final boolean scoped) {
        // As ShmHandle.readFrom reads a handle, without the object.
        final long at = base + SHM_HANDLES_OFFSET;
        final int pool = payload.get(ValueLayout.JAVA_INT_UNALIGNED, at);
        final int generation = payload.get(ValueLayout.JAVA_INT_UNALIGNED, at + 4);
        final long offset = payload.get(ValueLayout.JAVA_LONG_UNALIGNED, at + 8);
        final long bytes = payload.get(ValueLayout.JAVA_LONG_UNALIGNED, at + 16);
        checkSegment(id, 0, offset, bytes);
        final BlockReading spare = spareBlock.getAndSet(null);
        final boolean same = spare != null && spare.reads(pool, offset, bytes);
        final ShmBlock block;
        try {
            // The spare's closed reference is reused if it names the same block in the same generation.
            block = peerArena.borrowLent(same ? spare.block : null, pool, generation, offset, bytes);
        } catch (final RuntimeException | Error e) {
            if (spare != null) {
                spareBlock.compareAndSet(null, spare);
            }
            if (e instanceof CorruptDataException) {
                throw corrupt(id, "segment 0: " + e.getMessage(), e);
            }
            if (e instanceof IsthmusException) {
                throw corrupt(id, "segment 0: " + e, e);
            }
            throw e;
        }
        final BlockReading reading;
        try {
            if (same) {
                // The same memory as the last message over it, closed since: its buffer and reader serve again.
                reading = spare;
            } else {
                // Read-only, as in decodeShm.
                final ByteBuffer view = block.byteBuffer();
                reading = new BlockReading(spareBlock, pool, offset, bytes,
                    (view.isReadOnly() ? view : view.asReadOnlyBuffer()).order(ByteOrder.LITTLE_ENDIAN), readOptions);
            }
        } catch (final RuntimeException | Error e) {
            block.close();
            throw e;
        }
        reading.block = block;
        try {
            return received(reading, type, id, length, reading, true, scoped);
        } catch (final RuntimeException | Error e) {
            reading.run();
            throw e;
        }
    }

    /** The checks of one handle's shape that need no arena: whole words, in range, a block offset. */
    private static void checkSegment(final long id, final int i, final long offset, final long length) {
        if (length < (i == 0 ? BYTES_PER_WORD : 0) || length % BYTES_PER_WORD != 0
            || length > (long) MAX_SEGMENT_WORDS * BYTES_PER_WORD) {
            throw corrupt(id, "segment " + i + " has length=" + length + ", not a whole number of words in ["
                + (i == 0 ? BYTES_PER_WORD : 0) + ", " + (long) MAX_SEGMENT_WORDS * BYTES_PER_WORD + "]");
        }
        if (offset < 0) {
            throw corrupt(id, "segment " + i + " has offset=" + offset + ", not a block offset (negative)");
        }
    }

    /**
     * A small message sent in the payload itself: checked, then copied out of the channel, so that nothing
     * the sender does afterwards changes what is read.
     */
    private Received<R> decodeInline(final MemorySegment payload, final long base, final long length, final int type,
                                     final long id, final boolean scoped) {
        final long words = Integer.toUnsignedLong(payload.get(INT_LE, base + CapnpDescriptor.INLINE_WORDS_OFFSET));
        if (length > CapnpDescriptor.MAX_INLINE_BYTES) {
            throw corrupt(id, "an inline payload of " + length + " bytes exceeds the " + CapnpDescriptor.MAX_INLINE_BYTES
                + " accepted");
        }
        if (words < 1 || CapnpDescriptor.INLINE_SEGMENT_OFFSET + words * BYTES_PER_WORD != length) {
            throw corrupt(id, "an inline payload of " + length + " bytes declares a segment of " + words
                + " words; it must be at least 1 and fill the payload exactly");
        }
        final int bytes = (int) (length - CapnpDescriptor.INLINE_SEGMENT_OFFSET);
        final InlineBuffer spare = spareInline.getAndSet(null);
        // A new buffer is as long as this message: one held open (unhandled, retained, awaited) costs its own
        // size, not the largest inline message's. Only the one spare may be larger.
        final InlineBuffer buffer = spare != null && spare.bytes.length >= bytes ? spare
            : new InlineBuffer(spareInline, bytes);
        final Reading reading = buffer.take(bytes, readOptions);
        MemorySegment.copy(payload, ValueLayout.JAVA_BYTE, base + CapnpDescriptor.INLINE_SEGMENT_OFFSET, buffer.bytes, 0,
            bytes);
        try {
            // Closing the message hands the buffer back for the next inline message: nothing is copied into it
            // while a message reads it.
            return received(reading, type, id, length, buffer, false, scoped);
        } catch (final RuntimeException | Error e) {
            buffer.run();
            throw e;
        }
    }

    /**
     * Refuses handles that name the same memory twice (trust model: a repeated handle would drop the
     * borrower's one lent reference twice, and let the block be reused while it is read; repeated segments
     * would also multiply the message's apparent size). Two handles overlap if they name the same pool and
     * their blocks' spans, header included, intersect. Runs before anything is borrowed; quadratic in the
     * segment count, which is at most {@value CapnpDescriptor#MAX_SEGMENTS} and allocates nothing.
     */
    private static void checkDisjoint(final ShmHandle[] handles, final long id) {
        for (int i = 1; i < handles.length; i++) {
            final ShmHandle later = handles[i];
            for (int j = 0; j < i; j++) {
                final ShmHandle earlier = handles[j];
                if (earlier.pool() != later.pool()) {
                    continue;
                }
                final ShmHandle low = earlier.offset() <= later.offset() ? earlier : later;
                final ShmHandle high = low == earlier ? later : earlier;
                // No overflow: offsets are >= 0 and lengths at most MAX_SEGMENT_WORDS words, both checked.
                if (high.offset() - low.offset() < BLOCK_HEADER_LENGTH + low.length()) {
                    throw corrupt(id, "segments " + j + " and " + i + " name overlapping memory (" + earlier + ", "
                        + later + ")");
                }
            }
        }
    }

    private static ByteBuffer[] copyAll(final ShmBlock[] blocks) {
        final ByteBuffer[] segments = new ByteBuffer[blocks.length];
        for (int i = 0; i < blocks.length; i++) {
            final MemorySegment source = blocks[i].segment();
            final long bytes = source.byteSize();
            final MemorySegment target = bytes <= Integer.MAX_VALUE - 16
                ? MemorySegment.ofArray(new byte[(int) bytes])
                : Arena.ofAuto().allocate(bytes, BYTES_PER_WORD);
            MemorySegment.copy(source, 0, target, 0, bytes);
            segments[i] = target.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        }
        return segments;
    }

    /**
     * Borrows every block; if any handle is refused, or anything else fails, gives back the ones that were
     * borrowed and throws. Trying them all returns the references of the valid ones, which would otherwise
     * stay lent until the session ends.
     */
    private ShmBlock[] borrowAll(final ShmHandle[] handles, final long id) {
        final ShmBlock[] blocks = new ShmBlock[handles.length];
        RuntimeException refused = null;
        try {
            for (int i = 0; i < handles.length; i++) {
                try {
                    blocks[i] = peerArena.borrowLent(null, handles[i].pool(), handles[i].generation(),
                        handles[i].offset(), handles[i].length());
                } catch (final CorruptDataException e) {
                    refused = refused == null ? corrupt(id, "segment " + i + ": " + e.getMessage(), e) : refused;
                } catch (final IsthmusException e) {
                    // NoSuchResourceException and the like: the handle names no pool of the peer's.
                    refused = refused == null ? corrupt(id, "segment " + i + ": " + e, e) : refused;
                }
            }
        } catch (final RuntimeException | Error e) {
            // A closed view, a pool that cannot be mapped, a fault: nothing borrowed may stay lent.
            closeAll(blocks);
            throw e;
        }
        if (refused != null) {
            closeAll(blocks);
            throw refused;
        }
        return blocks;
    }

    private static void closeAll(final ShmBlock[] blocks) {
        for (final ShmBlock block : blocks) {
            if (block != null) {
                block.close();
            }
        }
    }

    /**
     * @param scoped whether the message is read within one call of the channel's and closed there
     *               ({@link #decodeScoped}): then a closed one is recycled
     */
    private Received<R> received(final Reading reading, final int type, final long id, final long payloadLength,
                                 final Runnable release, final boolean sharedMemory, final boolean scoped) {
        final R root;
        final int tag;
        try {
            root = reading.root(factory, readOptions);
            tag = readerType(root);
        } catch (final DecodeException | IndexOutOfBoundsException | IllegalArgumentException e) {
            throw corrupt(id, "its root cannot be read: " + e.getMessage(), e);
        }
        if (tag != type && !(tag == notInSchema && type >= notInSchema)) {
            throw corrupt(id, "type=" + type + " but its root union holds member " + tag);
        }
        if (scoped) {
            final ScopedReceived<R> spare = spareScoped.getAndSet(null);
            // None spare: the first, or one read while another is open (a handler that receives in turn).
            return (spare != null ? spare : new ScopedReceived<R>(spareScoped)).open(type, id, payloadLength, root,
                release);
        }
        return new CapnpReceived<>(type, id, payloadLength, root, release, sharedMemory);
    }

    /**
     * Cap'n Proto's reading state over a message's segments, as its {@code MessageReader} keeps it, made
     * reusable: the arena, whose traversal budget each message gets afresh, and the root last read with the
     * pointer word it was read from. One reading serves one open message at a time; the codec reuses it for a
     * later message over the same buffers only once the earlier message is closed.
     */
    private static class Reading {
        private final ReaderArena arena;
        private final SegmentReader first;
        private Object root;
        private long rootWord;

        Reading(final ByteBuffer[] segments, final CapnpReadOptions options) {
            this.arena = new ReaderArena(segments, options.traversalLimitWords());
            this.first = arena.tryGetSegment(0);
        }

        /**
         * {@return the root, read as {@code MessageReader.getRoot} reads it, with the whole traversal budget}:
         * the root read last time if its pointer is the same struct pointer, the same struct's size charged
         * to the budget as reading it would. Its fields are read from the buffers as they are now.
         */
        @SuppressWarnings("unchecked")
        <R extends StructReader> R root(final StructFactory<?, R> factory, final CapnpReadOptions options) {
            arena.limit = options.traversalLimitWords();
            final long word = first.get(0);
            if (root != null && word == rootWord && (word & 3) == 0) {
                // A struct pointer's data and pointer section sizes, in words: what following it charges.
                arena.checkReadLimit((int) (word >>> 32 & 0xffff) + (int) (word >>> 48));
                return (R) root;
            }
            final R read = new AnyPointer.Reader(first, 0, options.nestingLimit()).getAs(factory);
            // Kept only if the pointer still reads as the word above: a sender that changed it while Cap'n Proto
            // followed it must not pair one word with another word's root for a later message. (One that changes
            // it and back in that window gets a root it could have sent, checked against the same segment when
            // made, charged the first word's struct size: at most 2 x 65,535 words less, once per message.)
            if (first.get(0) == word) {
                root = read;
                rootWord = word;
            } else {
                root = null;
            }
            return read;
        }
    }

    /**
     * The reading of a borrowed block's payload, kept by its codec for the next message that names the same
     * memory (a pre-built response sent again and again): closing the message gives the block back and hands
     * the reading to the codec.
     */
    private static final class BlockReading extends Reading implements Runnable {
        private final java.util.concurrent.atomic.AtomicReference<BlockReading> home;
        private final int pool;
        private final long offset;
        private final long length;
        /** The reference the open message holds; closed while the reading waits for its next message. */
        private ShmBlock block;

        BlockReading(final java.util.concurrent.atomic.AtomicReference<BlockReading> home, final int pool,
                     final long offset, final long length, final ByteBuffer buffer, final CapnpReadOptions options) {
            super(new ByteBuffer[] {buffer}, options);
            this.home = home;
            this.pool = pool;
            this.offset = offset;
            this.length = length;
        }

        boolean reads(final int pool, final long offset, final long length) {
            return this.pool == pool && this.offset == offset && this.length == length;
        }

        @Override
        public void run() {
            try {
                block.close();
            } finally {
                // release (volatile write): pairs with decodeOneSegment's getAndSet, which reuses it.
                home.set(this);
            }
        }
    }

    /**
     * A message read within one call of its channel and closed there ({@link #decodeScoped}): recycled, since
     * nothing else ever refers to it. It is opened on the receiving thread, may be handed to the thread that
     * waits for it (the channel's hand-over orders that), and closing it hands it back for the next one.
     */
    private static final class ScopedReceived<R> implements Received<R> {
        private final java.util.concurrent.atomic.AtomicReference<ScopedReceived<R>> home;
        private int type;
        private long id;
        private long payloadLength;
        private R root;
        private Runnable release;
        private boolean open;

        ScopedReceived(final java.util.concurrent.atomic.AtomicReference<ScopedReceived<R>> home) {
            this.home = home;
        }

        ScopedReceived<R> open(final int type, final long id, final long payloadLength, final R root,
                               final Runnable release) {
            this.type = type;
            this.id = id;
            this.payloadLength = payloadLength;
            this.root = root;
            this.release = release;
            this.open = true;
            return this;
        }

        @Override
        public R root() {
            if (!open) {
                throw new IllegalStateException("message " + id + " is closed");
            }
            return root;
        }

        @Override
        public int type() {
            return type;
        }

        @Override
        public long id() {
            return id;
        }

        @Override
        public long payloadLength() {
            return payloadLength;
        }

        @Override
        public Received<R> retain() {
            throw new IllegalStateException("message " + id + " is read in place, within one call: it cannot be"
                + " retained");
        }

        @Override
        public void close() {
            if (!open) {
                return;
            }
            open = false;
            final Runnable held = release;
            root = null;
            release = null;
            try {
                if (held != null) {
                    held.run();
                }
            } finally {
                // release (volatile write): pairs with received()'s getAndSet, which reuses it.
                home.set(this);
            }
        }
    }

    /**
     * The private copy of an inline message's segment, as long as the message it was made for, and a reading
     * of the length last used (Cap'n Proto bounds a segment by its buffer's capacity), made again only when the
     * length changes. Running it hands it back to its codec, which a closed message does; the codec reuses it
     * for a later message it holds.
     */
    private static final class InlineBuffer implements Runnable {
        private final java.util.concurrent.atomic.AtomicReference<InlineBuffer> home;
        private final byte[] bytes;
        private Reading reading;
        private int readingLength = -1;

        InlineBuffer(final java.util.concurrent.atomic.AtomicReference<InlineBuffer> home, final int length) {
            this.home = home;
            this.bytes = new byte[length];
        }

        /** {@return the reading of the one segment, {@code length} bytes long} */
        Reading take(final int length, final CapnpReadOptions options) {
            if (reading == null || readingLength != length) {
                reading = new Reading(new ByteBuffer[] {ByteBuffer.wrap(bytes, 0, length).slice()
                    .order(ByteOrder.LITTLE_ENDIAN)}, options);
                readingLength = length;
            }
            return reading;
        }

        @Override
        public void run() {
            home.set(this);
        }
    }

    int builderType(final B root) {
        try {
            return ((Enum<?>) builderWhich.invokeExact((Object) root)).ordinal();
        } catch (final RuntimeException | Error e) {
            throw e;
        } catch (final Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    private int readerType(final R root) {
        try {
            return ((Enum<?>) readerWhich.invokeExact((Object) root)).ordinal();
        } catch (final RuntimeException | Error e) {
            throw e;
        } catch (final Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    private static CorruptDataException corrupt(final long id, final String why) {
        return new CorruptDataException("Cap'n Proto message " + id + " is refused: " + why);
    }

    private static CorruptDataException corrupt(final long id, final String why, final Throwable cause) {
        final CorruptDataException e = corrupt(id, why);
        e.initCause(cause);
        return e;
    }

    /** The generated {@code Builder} and {@code Reader} classes, from {@code Factory extends StructFactory<Builder, Reader>}. */
    private static Class<?>[] builderAndReaderTypes(final Class<?> factoryClass) {
        for (Class<?> c = factoryClass; c != null && c != Object.class; c = c.getSuperclass()) {
            if (c.getGenericSuperclass() instanceof ParameterizedType parameterized
                && parameterized.getRawType() == StructFactory.class) {
                final Type[] arguments = parameterized.getActualTypeArguments();
                if (arguments[0] instanceof Class<?> builder && arguments[1] instanceof Class<?> reader) {
                    return new Class<?>[] {builder, reader};
                }
            }
        }
        throw new IllegalArgumentException("factory=" + factoryClass.getName()
            + " is not a generated struct factory (a direct subclass of StructFactory<Builder, Reader>)");
    }

    private static Method whichMethod(final StructFactory<?, ?> factory, final Class<?> type) {
        try {
            final Method which = type.getMethod("which");
            if (!which.getReturnType().isEnum()) {
                throw new NoSuchMethodException("which() returns " + which.getReturnType());
            }
            return which;
        } catch (final NoSuchMethodException e) {
            throw new IllegalArgumentException("factory=" + factory.getClass().getName() + ": " + type.getName()
                + " has no which(); the root struct needs an anonymous union, whose tag is the message type", e);
        }
    }

    @Override
    public String toString() {
        return "CapnpCodec{factory=" + factory.getClass().getName() + ", backing=" + backing + "}";
    }
}
