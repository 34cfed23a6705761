/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.arena.ArenaDescriptor;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.arena.ShmBlock;
import dev.isthmus.struc.Codec;
import org.capnproto.Allocator;
import org.capnproto.BuilderArena;
import org.capnproto.FromPointerBuilder;
import org.capnproto.MessageBuilder;
import org.capnproto.SegmentBuilder;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Places a message's segments in blocks of a {@link ShmArena}: segment {@code i} of the message is block
 * {@code i} of {@link #blocks()}, because the builder asks for segments one at a time, in order.
 *
 * <p>A message that may go inline (one built without a size hint) starts on the heap: its first segment is
 * a 1 KiB heap buffer, and a message that fits there is sent in the payload itself, allocating nothing in
 * shared memory and asking the receiver to borrow nothing. If it outgrows that, its further segments are
 * blocks, and the first one is {@linkplain #spill copied to a block} when it is encoded.
 *
 * <p>Sizes follow Cap'n Proto's growth heuristic, fitted to the arena: each segment is a whole block (a power
 * of two, minus the block header), the first block 8 KiB, each next one twice the last, up to
 * {@code maxBlockBytes}. An object larger than that gets a segment of its own, as large as it needs (the
 * format requires every object to lie in one segment), at most what one {@link ByteBuffer} can hold.
 *
 * <p>Not thread-safe: used by the one thread that builds the message.
 */
final class ArenaSegmentAllocator implements Allocator {
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** The first segment's block. */
    static final long FIRST_BLOCK_BYTES = 8 << 10;
    /** The largest segment length a {@link ByteBuffer} can have, in whole words. */
    static final long MAX_BUFFER_BYTES = (long) CapnpDescriptor.MAX_SEGMENT_WORDS * CapnpDescriptor.BYTES_PER_WORD;

    private final ShmArena arena;
    private final long maxBlockBytes;
    private final List<ShmBlock> blocks = new ArrayList<>();
    private long nextBlockBytes = FIRST_BLOCK_BYTES;
    /** The first segment's exact length, or 0 for the usual whole block. */
    private long firstSegmentBytes;

    /** The first segment of a message that may be sent inline, on the heap: 1 KiB. */
    static final int INLINE_SEGMENT_BYTES = 1024;

    /** Whether the first segment starts on the heap, to be sent inline if it stays the only one. */
    private final boolean inlineFirst;
    /** The first segment, on the heap; null if it is an arena block (or none was asked for yet). */
    private ByteBuffer heapFirst;
    /**
     * The inline payload around {@link #heapFirst}: its 8-byte header, then the segment, in one heap array, so
     * that an inline encoding is one slice of it.
     */
    private MemorySegment inlinePayload;
    /** The block the heap first segment is copied to once the message has more segments; null before. */
    private ShmBlock spilled;
    /** The builder this allocator serves, kept with it so that both are reused together ({@link #reusable}). */
    private MessageBuilder builder;
    /**
     * The builder's segments, read in place for their used lengths: {@link MessageBuilder#getSegmentsForOutput()}
     * makes an array and a view per segment on every call. Found once, through the root pointer's segment.
     */
    private List<SegmentBuilder> segments;
    /** The last inline encoding and the segment length it is for, sent again while the length stays the same. */
    private Codec.Encoded inlineEncoded;
    private int inlineEncodedBytes = -1;

    /** Gives the segment the root pointer lies in, the first, from which its arena and every segment follow. */
    private static final FromPointerBuilder<SegmentBuilder> ROOT_SEGMENT = new FromPointerBuilder<>() {
        @Override
        public SegmentBuilder fromPointerBuilder(final SegmentBuilder segment, final int pointer) {
            return segment;
        }

        @Override
        public SegmentBuilder initFromPointerBuilder(final SegmentBuilder segment, final int pointer, final int elementCount) {
            return segment;
        }
    };
    private static final Runnable NOTHING_TO_ROLL_BACK = () -> { };

    ArenaSegmentAllocator(final ShmArena arena, final long maxBlockBytes, final boolean inlineFirst) {
        this.arena = arena;
        this.maxBlockBytes = maxBlockBytes;
        this.inlineFirst = inlineFirst;
    }

    /**
     * {@return the builder of this allocator's message, made on the first call}
     */
    MessageBuilder builder() {
        if (builder == null) {
            builder = new MessageBuilder(this);
        }
        return builder;
    }

    /**
     * Clears the message for the next one. A message that may go inline is reusable if all of it lay in the
     * heap first segment (or nothing was built): then the same builder, allocator and heap buffer serve a new
     * message, and nothing of the closed one is allocated again. A message with a size hint always is, once
     * its blocks are closed: the builder then has no segment, and its first allocation asks this allocator for
     * a new first block, of the length the next message's hint sets ({@link #firstSegmentBytes(long)}).
     * Called once, when the message is closed, after its blocks were; no one may write through its builders
     * after that.
     *
     * @return whether this allocator and its builder are now as good as new; if not, they must be dropped
     */
    boolean reusable() {
        if (builder == null) {
            return false;
        }
        if (!inlineFirst) {
            if (segments == null) {
                // The root was never initialised: the builder allocated nothing.
                return blocks.isEmpty();
            }
            // Cap'n Proto's arena holds nothing but its segments: without them it is as new.
            segments.clear();
            blocks.clear();
            nextBlockBytes = FIRST_BLOCK_BYTES;
            return true;
        }
        if (!blocks.isEmpty()) {
            return false;
        }
        if (heapFirst != null) {
            // Zeroes the words the message used and rewinds the segment: Cap'n Proto requires zeroed memory.
            builder.clearFirstSegment();
        }
        return true;
    }

    /**
     * {@return how many segments the message has now}; its root must have been initialised
     */
    int segmentCount() {
        return segments().size();
    }

    /**
     * {@return how many bytes of segment {@code index} the message uses now, from its start}
     *
     * @param index a segment, below {@link #segmentCount()}
     */
    int usedBytes(final int index) {
        return segments().get(index).currentSize() * CapnpDescriptor.BYTES_PER_WORD;
    }

    /** Notes that the builder's root was initialised, so that its segments can be found without side effects. */
    void rootInitialised() {
        segments();
    }

    /** {@return whether this allocator's messages may go inline, or have a size hint} */
    boolean inlineFirst() {
        return inlineFirst;
    }

    private List<SegmentBuilder> segments() {
        if (segments == null) {
            // The root is initialised, so this only reads its pointer's place: it allocates nothing.
            final BuilderArena arena = builder.getRoot(ROOT_SEGMENT).getArena();
            segments = arena.segments;
        }
        return segments;
    }

    /**
     * {@return whether the message goes inline now: its one segment is on the heap}
     */
    boolean isInline() {
        return heapFirst != null && segmentCount() == 1;
    }

    /**
     * Copies the heap first segment of a message that outgrew it to the block it was given when the second
     * segment was allocated ({@link #blocks()} starts with that block), again on every call: the builder may
     * have changed it since. Then every segment can be lent.
     */
    void spill() {
        if (heapFirst == null) {
            return;
        }
        final int used = usedBytes(0);
        // From the payload array the heap segment lies in, not through heapFirst: capnp-java's text setter
        // moves that buffer's position, and a view of the buffer starts there.
        MemorySegment.copy(inlinePayload, CapnpDescriptor.INLINE_SEGMENT_OFFSET, spilled.segment(), 0, used);
    }

    /**
     * {@return the inline encoding of a message whose one segment is the heap first segment: one part, the
     * header ({@link CapnpDescriptor}, written now), then the segment's used bytes, where the builder wrote
     * them; nothing to take back}
     *
     * <p>The encoding of the allocator's last message is given again if this one uses as many bytes: it views
     * the same bytes, and a message's encoding is used only while the message is open (a send copies it into
     * its channel before it returns), and the allocator serves a next message only after that
     * ({@link #reusable()}).
     */
    Codec.Encoded inlineEncoding() {
        final int used = usedBytes(0);
        inlinePayload.set(INT_LE, CapnpDescriptor.INLINE_WORDS_OFFSET, used / CapnpDescriptor.BYTES_PER_WORD);
        inlinePayload.set(INT_LE, CapnpDescriptor.SHM_MAGIC_OFFSET, CapnpDescriptor.INLINE_MAGIC);
        if (used != inlineEncodedBytes) {
            inlineEncoded = new Codec.Encoded(List.of(inlinePayload.asSlice(0, CapnpDescriptor.INLINE_SEGMENT_OFFSET + used)),
                NOTHING_TO_ROLL_BACK);
            inlineEncodedBytes = used;
        }
        return inlineEncoded;
    }

    /**
     * Sets the first segment's length exactly (a whole number of words), in a block rounded up to hold it;
     * the block's pages beyond it are never touched for this message.
     *
     * @param bytes the first segment's length, a multiple of 8 and at most {@link #MAX_BUFFER_BYTES}
     */
    void firstSegmentBytes(final long bytes) {
        if (blocks.isEmpty()) {
            firstSegmentBytes = bytes;
        }
    }

    @Override
    public ByteBuffer allocateSegment(final int minimumSize) {
        if (inlineFirst && heapFirst == null && blocks.isEmpty() && firstSegmentBytes == 0
            && minimumSize <= INLINE_SEGMENT_BYTES) {
            // Cap'n Proto requires zeroed segments: a fresh heap buffer is.
            final byte[] payload = new byte[CapnpDescriptor.INLINE_SEGMENT_OFFSET + INLINE_SEGMENT_BYTES];
            inlinePayload = MemorySegment.ofArray(payload);
            heapFirst = ByteBuffer.wrap(payload, CapnpDescriptor.INLINE_SEGMENT_OFFSET, INLINE_SEGMENT_BYTES).slice()
                .order(ByteOrder.LITTLE_ENDIAN);
            return heapFirst;
        }
        if (heapFirst != null && spilled == null) {
            // Outgrown: the heap segment will need a block to be lent from; its bytes go there at encoding.
            spilled = arena.allocate(INLINE_SEGMENT_BYTES);
            blocks.add(spilled);
        }
        final long length;
        final long blockBytes;
        if (blocks.isEmpty() && heapFirst == null && firstSegmentBytes >= minimumSize) {
            length = firstSegmentBytes;
            blockBytes = FIRST_BLOCK_BYTES;
        } else {
            blockBytes = Math.max(nextBlockBytes, ArenaDescriptor.blockSizeFor(minimumSize));
            length = Math.min(blockBytes - ArenaDescriptor.BLOCK_HEADER_LENGTH, MAX_BUFFER_BYTES);
        }
        // Cap'n Proto requires zeroed segments: a reused block is cleared, fresh memory is zero already.
        final ShmBlock block = arena.allocateZeroed(length);
        blocks.add(block);
        nextBlockBytes = Math.min(maxBlockBytes, Math.max(nextBlockBytes, blockBytes * 2));
        return block.segment().asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * {@return the blocks, one per segment, in segment order; a heap first segment has one only once
     * the message has a second}
     */
    List<ShmBlock> blocks() {
        return blocks;
    }
}
