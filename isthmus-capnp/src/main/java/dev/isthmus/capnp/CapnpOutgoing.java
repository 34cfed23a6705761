/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.arena.ShmBlock;
import dev.isthmus.struc.Codec;
import dev.isthmus.struc.Outgoing;
import org.capnproto.MessageBuilder;
import org.capnproto.StructFactory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

import static dev.isthmus.capnp.CapnpDescriptor.BYTES_PER_WORD;
import static dev.isthmus.capnp.CapnpDescriptor.MAX_SEGMENTS;
import static dev.isthmus.capnp.CapnpDescriptor.SHM_COUNT_OFFSET;
import static dev.isthmus.capnp.CapnpDescriptor.SHM_HANDLES_OFFSET;
import static dev.isthmus.capnp.CapnpDescriptor.SHM_HANDLE_LENGTH;
import static dev.isthmus.capnp.CapnpDescriptor.SHM_MAGIC;
import static dev.isthmus.capnp.CapnpDescriptor.SHM_MAGIC_OFFSET;

/**
 * A Cap'n Proto message to send: built once with ordinary builder code on {@link #root()}, then sent any
 * number of times, on any channels whose codec has the same backing (and, for
 * {@link Backing#SESSION_SHM}, the same arena).
 *
 * {@snippet :
 * CapnpOutgoing<Body.Builder> response = codec.newMessage();
 * var parts = response.root().initGetCacheRsp().initFileParts(4);
 * // ... fill the parts ...
 * response.seal();                        // pre-built: every later send reuses the encoding
 * replier.reply(response);                // as often as requests come
 * response.close();                       // when it is no longer needed
 * }
 *
 * <p>With {@link Backing#SESSION_SHM} the message's segments are blocks of the arena: each send lends the
 * receiver a reference to every block, and the receiver reads them in place, so a message must not be
 * changed once sent. {@link #seal()} says so: it computes the encoding once, and {@link #root()} then
 * refuses to hand out the builder. The blocks go back to the arena when this message is closed and every
 * receiver has closed what it received.
 *
 * <p>Thread safety: building is for one thread. Once built, sending is thread-safe: sends are serialized on
 * the message (a send of a sealed message only lends: one atomic increment per segment), and
 * {@link #close()}, which is idempotent, waits for a send in progress to have lent what it sends. A message
 * that went inline (one of at most 1 KiB, built without a size hint) and was encoded only on the thread that
 * closes it gives its builder and heap segment, cleared, to its codec's next {@link CapnpCodec#newMessage()};
 * one encoded on another thread, whose send may still be copying it, does not.
 *
 * @param <B> the root builder type
 */
public final class CapnpOutgoing<B> implements Outgoing<B> {
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final Runnable NOTHING_TO_ROLL_BACK = () -> { };
    private static final ShmBlock[] NO_BLOCKS = new ShmBlock[0];

    private final CapnpCodec<?, B> codec;
    private final StructFactory<B, ?> factory;
    private final MessageBuilder builder;
    private final ArenaSegmentAllocator allocator;
    private B root;
    private volatile Codec.Encoded sealed;
    private int sealedType;
    private ShmBlock[] sealedBlocks;
    private volatile boolean closed;
    /** The thread of the first encoding, and whether another encoded it too: see {@link #close()}. */
    private Thread encoder;
    private boolean encodedElsewhere;

    CapnpOutgoing(final CapnpCodec<?, B> codec, final StructFactory<B, ?> factory,
                  final ArenaSegmentAllocator allocator) {
        this.codec = codec;
        this.factory = factory;
        this.allocator = allocator;
        this.builder = allocator == null ? new MessageBuilder() : allocator.builder();
    }

    /**
     * {@return {@code message} as the Cap'n Proto message it is, e.g. to {@linkplain #seal() seal} a message
     * from {@link dev.isthmus.struc.StructuredChannel#newMessage()}}
     *
     * @param message a message of a {@link CapnpCodec}
     * @param <B>     the root builder type
     * @throws IllegalArgumentException if it is another codec's
     */
    public static <B> CapnpOutgoing<B> of(final Outgoing<B> message) {
        if (message instanceof CapnpOutgoing<B> outgoing) {
            return outgoing;
        }
        throw new IllegalArgumentException("message=" + message + " is not a Cap'n Proto message");
    }

    /**
     * {@return the root builder, initialised on the first call: {@code MessageBuilder.initRoot(factory)}}
     *
     * @throws IllegalStateException if the message is sealed or closed
     */
    @Override
    public synchronized B root() {
        if (sealed != null) {
            throw new IllegalStateException("message is sealed: its builder may not be changed");
        }
        return rootBuilder();
    }

    private B rootBuilder() {
        checkOpen();
        if (root == null) {
            root = builder.initRoot(factory);
            if (allocator != null) {
                allocator.rootInitialised();
            }
        }
        return root;
    }

    /**
     * Freezes the message for sending many times: the encoding is computed once, and each later send only
     * lends the receiver its references ({@link Backing#SESSION_SHM}) or hands the channel the same segment
     * views to copy ({@link Backing#HEAP}); no segment table, handle list or part list is built again.
     * Idempotent.
     *
     * @return this message
     * @throws IllegalStateException if the message is closed, or has more than
     *                               {@value CapnpDescriptor#MAX_SEGMENTS} segments
     */
    public synchronized CapnpOutgoing<B> seal() {
        if (sealed != null) {
            return this;
        }
        final B built = rootBuilder();
        sealedType = codec.builderType(built);
        if (allocator == null) {
            sealed = heapEncoding();
        } else {
            final int count = countSegments();
            if (allocator.isInline()) {
                sealedBlocks = NO_BLOCKS;
                sealed = allocator.inlineEncoding();
                return this;
            }
            allocator.spill();
            final ShmBlock[] blocks = allocator.blocks().toArray(new ShmBlock[0]);
            final MemorySegment payload = shmPayloadHeader(count);
            for (int i = 0; i < count; i++) {
                blocks[i].handle(allocator.usedBytes(i)).writeTo(payload, SHM_HANDLES_OFFSET + (long) SHM_HANDLE_LENGTH * i);
            }
            sealedBlocks = blocks;
            // volatile write: publishes sealedType (written before); pairs with the volatile read of sealed in
            // type(), which the channel calls without the lock. sealedBlocks is only read under the lock.
            sealed = new Codec.Encoded(List.of(payload), () -> unlend(blocks, blocks.length));
        }
        return this;
    }

    /**
     * {@return whether {@link #seal()} was called}
     */
    public boolean isSealed() {
        return sealed != null;
    }

    /**
     * {@return the backing the message was built for}
     */
    public Backing backing() {
        return allocator == null ? Backing.HEAP : Backing.SESSION_SHM;
    }

    /**
     * {@return the number of segments the message has now}
     */
    public synchronized int segmentCount() {
        checkOpen();
        return countSegments();
    }

    /**
     * {@return the message's size: the bytes its segments use now, without any framing}
     */
    public synchronized long sizeBytes() {
        checkOpen();
        if (allocator == null) {
            long bytes = 0;
            for (final ByteBuffer segment : segments()) {
                bytes += segment.limit();
            }
            return bytes;
        }
        final int count = countSegments();
        long bytes = 0;
        for (int i = 0; i < count; i++) {
            bytes += allocator.usedBytes(i);
        }
        return bytes;
    }

    int type() {
        // volatile read of sealed: pairs with seal()'s volatile write, after which sealedType is visible.
        if (sealed != null) {
            return sealedType;
        }
        synchronized (this) {
            return codec.builderType(rootBuilder());
        }
    }

    CapnpCodec<?, B> codec() {
        return codec;
    }

    /** The allocator of the message's segments, null for {@link Backing#HEAP}: for tests of its reuse. */
    ArenaSegmentAllocator allocator() {
        return allocator;
    }

    /** The blocks holding the segments, in order; {@link Backing#SESSION_SHM} only. */
    List<ShmBlock> blocks() {
        return allocator.blocks();
    }

    synchronized Codec.Encoded encode() {
        // Under the lock, so that close() cannot drop the blocks between the check and the lending.
        checkOpen();
        final Thread current = Thread.currentThread();
        if (encoder == null) {
            encoder = current;
        } else if (encoder != current) {
            encodedElsewhere = true;
        }
        final Codec.Encoded encoded = sealed;
        if (encoded != null) {
            if (allocator != null) {
                lendAll(sealedBlocks);
            }
            return encoded;
        }
        rootBuilder();
        return allocator == null ? heapEncoding() : shmEncoding();
    }

    /** The standard stream framing: a segment table, then views of the segments themselves. */
    private Codec.Encoded heapEncoding() {
        final ByteBuffer[] segments = segments();
        final MemorySegment table = MemorySegment.ofArray(new byte[(int) CapnpDescriptor.streamTableLength(segments.length)]);
        table.set(INT_LE, 0, segments.length - 1);
        final MemorySegment[] parts = new MemorySegment[segments.length + 1];
        parts[0] = table;
        for (int i = 0; i < segments.length; i++) {
            table.set(INT_LE, 4L + 4L * i, segments[i].limit() / BYTES_PER_WORD);
            parts[i + 1] = MemorySegment.ofBuffer(segments[i]);
        }
        return new Codec.Encoded(List.of(parts), NOTHING_TO_ROLL_BACK);
    }

    /**
     * One handle per segment, each lending the receiver a reference to the segment's block. The segments'
     * bytes are plain writes: they reach the receiving process through the channel, whose commit (a release
     * store) pairs with the receiver's poll (an acquire load) before it reads a byte of any block.
     */
    private Codec.Encoded shmEncoding() {
        final int count = countSegments();
        if (allocator.isInline()) {
            // One segment on the heap: the segment itself follows an 8-byte header, nothing is lent, and the
            // receiver copies it out of the channel ({@link CapnpDescriptor}, inline payload).
            return allocator.inlineEncoding();
        }
        allocator.spill();
        final ShmBlock[] blocks = allocator.blocks().toArray(new ShmBlock[0]);
        final MemorySegment payload = shmPayloadHeader(count);
        lendAll(blocks);
        for (int i = 0; i < count; i++) {
            blocks[i].handle(allocator.usedBytes(i)).writeTo(payload, SHM_HANDLES_OFFSET + (long) SHM_HANDLE_LENGTH * i);
        }
        return new Codec.Encoded(List.of(payload), () -> unlend(blocks, blocks.length));
    }

    private static MemorySegment shmPayloadHeader(final int segments) {
        final MemorySegment payload = MemorySegment.ofArray(new byte[(int) CapnpDescriptor.shmPayloadLength(segments)]);
        payload.set(INT_LE, SHM_COUNT_OFFSET, segments);
        payload.set(INT_LE, SHM_MAGIC_OFFSET, SHM_MAGIC);
        return payload;
    }

    private static void lendAll(final ShmBlock[] blocks) {
        int lent = 0;
        try {
            for (final ShmBlock block : blocks) {
                block.lend();
                lent++;
            }
        } catch (final RuntimeException e) {
            unlend(blocks, lent);
            throw e;
        }
    }

    private static void unlend(final ShmBlock[] blocks, final int count) {
        for (int i = 0; i < count; i++) {
            blocks[i].unlend();
        }
    }

    /** The segments as views, for {@link Backing#HEAP}. */
    private ByteBuffer[] segments() {
        rootBuilder();
        final ByteBuffer[] segments = builder.getSegmentsForOutput();
        checkSegmentCount(segments.length);
        return segments;
    }

    /** The number of segments, read in place for {@link Backing#SESSION_SHM}. */
    private int countSegments() {
        if (allocator == null) {
            return segments().length;
        }
        rootBuilder();
        final int count = allocator.segmentCount();
        checkSegmentCount(count);
        return count;
    }

    private static void checkSegmentCount(final int count) {
        if (count > MAX_SEGMENTS) {
            throw new IllegalStateException("segments=" + count + " exceeds the " + MAX_SEGMENTS
                + " a message may have");
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("message is closed");
        }
    }

    /**
     * Releases the message in this process: for {@link Backing#SESSION_SHM}, this process's reference to
     * each block; receivers keep reading what they hold, and the last one returns the blocks to the
     * arena. Idempotent.
     *
     * <p>No builder of the message may be used once it is closed: its memory goes to other messages (a block
     * back to the arena; the heap segment of a message that went inline, and the Cap'n Proto builder of a
     * message with a size hint, to the codec's next message, which would send what a kept builder writes or
     * allocates). The close
     * tells the arena how much of each block the message wrote, and the arena clears only that much for the
     * block's next zeroed use, so a write through a builder (or a view of its data) kept past the close is not
     * cleared either: it lands in whatever object the block holds next.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            root = null;
            if (allocator != null) {
                final List<ShmBlock> blocks = allocator.blocks();
                if (!blocks.isEmpty()) {
                    // Each block holds one segment, written only up to the segment's used length (the builder
                    // allocates words from the start, and writes nothing beyond them): the arena's next zeroed
                    // allocation of the block clears only that much.
                    final int segments = allocator.segmentCount();
                    for (int i = 0; i < blocks.size(); i++) {
                        final ShmBlock block = blocks.get(i);
                        if (i < segments) {
                            block.closeWritten(allocator.usedBytes(i));
                        } else {
                            block.close();
                        }
                    }
                }
                // A message that stayed inline hands its builder and heap segment, cleared, to the next one, if
                // nothing can still be copying them out: every encoding was on this thread, whose sends have
                // returned (one on another thread may still be copying the segment into its channel).
                if (!encodedElsewhere && (encoder == null || encoder == Thread.currentThread())
                    && allocator.reusable()) {
                    codec.reuse(allocator);
                }
            }
        }
    }
}
