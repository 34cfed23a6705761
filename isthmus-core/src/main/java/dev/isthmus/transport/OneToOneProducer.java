/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.PeerDeadException;

import java.lang.foreign.MemorySegment;
import java.util.Objects;
import java.util.function.BooleanSupplier;

import static dev.isthmus.internal.MemoryAccess.getIntAcquire;
import static dev.isthmus.internal.MemoryAccess.getIntVolatile;
import static dev.isthmus.internal.MemoryAccess.getLongAcquire;
import static dev.isthmus.internal.MemoryAccess.putIntRelease;
import static dev.isthmus.internal.MemoryAccess.putLongRelease;
import static dev.isthmus.transport.ShmQueueDescriptor.CONSUMER_STATE_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.FIRST_REGION_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.HEADER_LENGTH;
import static dev.isthmus.transport.ShmQueueDescriptor.HEAD_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.INITIAL_CAPACITY_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.JUMP_RECORD_LENGTH;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_STATE_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.STATE_CLOSED;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_DATA;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_JUMP;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_PADDING;
import static dev.isthmus.transport.ShmQueueDescriptor.header;
import static dev.isthmus.transport.ShmQueueDescriptor.recordLength;
import static dev.isthmus.transport.ShmQueueDescriptor.space;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The one producer of a {@link OneToOneShmQueue}: the tail is private to it, records are published with
 * one release store each (or per batch), and the queue grows when it is full below its max capacity.
 *
 * <p>Must be used by one thread at a time.
 */
final class OneToOneProducer extends ShmQueue.Producer {
    private final BooleanSupplier roomOrClosed = this::hasRoomOrClosed;
    private ShmQueue.Region region;
    private long tail;
    private long cachedHead;
    /** The room, from the tail, that a producer waiting in {@link #awaitClaim} needs: padding included. */
    private long pendingNeed;
    private long claimPadding = -1;
    private int claimLength;
    /** 0, or how many bytes of offered records are withheld before they are published together. */
    private final long publishBatchBytes;
    /** The ring holding the withheld header of the first unpublished record, or null if none. */
    private MemorySegment withheldRing;
    private long withheldOffset;
    private long withheldHeader;
    private long withheldBytes;

    OneToOneProducer(final ShmQueue queue) {
        super(queue);
        this.publishBatchBytes = queue.options.publishBatchBytes();
        this.region = queue.region(FIRST_REGION_OFFSET, control.get(JAVA_LONG, INITIAL_CAPACITY_OFFSET), 0);
    }

    @Override
    public boolean offer(final MemorySegment source, final long offset, final int length) {
        // The handler costs nothing until something throws: no check is added to the path of a message.
        try {
            if (offerFast(source, offset, length)) {
                return true;
            }
        } catch (final IllegalStateException | PeerDeadException e) {
            throw closedUnderneath(e);
        }
        return super.offer(source, offset, length);
    }

    @Override
    boolean offerFast(final MemorySegment source, final long offset, final int length) {
        final long record = fastClaim(length);
        if (record < 0) {
            return false;
        }
        final MemorySegment ring = region.ring();
        // A short or closed source throws here, before the tail moves or anything is published: nothing
        // to undo (the header slot zeroed after the record lies in free room).
        MemorySegment.copy(source, offset, ring, record + HEADER_LENGTH, length);
        fastCommit(ring, record, length);
        return true;
    }

    @Override
    public boolean offer(final byte[] source, final int offset, final int length) {
        Objects.checkFromIndexSize(offset, length, source.length);
        try {
            final long record = fastClaim(length);
            if (record >= 0) {
                final MemorySegment ring = region.ring();
                MemorySegment.copy(source, offset, ring, JAVA_BYTE, record + HEADER_LENGTH, length);
                fastCommit(ring, record, length);
                return true;
            }
        } catch (final IllegalStateException | PeerDeadException e) {
            throw closedUnderneath(e);
        }
        return super.offer(source, offset, length);
    }

    /**
     * The common case of room and no wrap: returns where the record goes (its next header slot already
     * zeroed), or -1 for the general path ({@link #tryClaim}), which also reports errors. Nothing is
     * claimed: the tail moves only in {@link #fastCommit}, so a copy that throws leaves no trace.
     */
    private long fastClaim(final int length) {
        if (closed || claimRecord >= 0 || length < 0 || length > maxMessageLength) {
            return -1;
        }
        // The roles line is written only at attach and close: this read stays in the local cache.
        if (--offersUntilLivenessCheck < 0 || getIntAcquire(control, CONSUMER_STATE_OFFSET) == STATE_CLOSED) {
            // Undone: tryClaim counts this offer again, and checks.
            offersUntilLivenessCheck++;
            return -1;
        }
        final ShmQueue.Region r = region;
        final long capacity = r.capacity();
        final long t = tail;
        final long record = t - r.base() & capacity - 1;
        final long recordLength = recordLength(length);
        final long end = t + recordLength + HEADER_LENGTH + ShmQueue.JUMP_RESERVE;
        if (record + recordLength + HEADER_LENGTH + ShmQueue.JUMP_RESERVE > capacity
            || end - Math.max(cachedHead, r.base()) > capacity) {
            return -1;
        }
        // The header slot after this record reads 0 until the next commit (see claim()).
        r.ring().set(JAVA_LONG, record + recordLength, 0L);
        return record;
    }

    private void fastCommit(final MemorySegment ring, final long record, final int length) {
        final long header = header(TYPE_DATA, length);
        final long recordLength = recordLength(length);
        tail += recordLength;
        sent.add(length);
        if (publishBatchBytes == 0) {
            // release: publishes the payload; pairs with the consumer's getLongAcquire(header).
            putLongRelease(ring, record, header);
            queue.dataDoorbell.ring();
            return;
        }
        if (withheldRing == null) {
            // The consumer stops at this record's zeroed header slot until flush() writes it.
            withheldRing = ring;
            withheldOffset = record;
            withheldHeader = header;
            withheldBytes = recordLength;
        } else {
            // Plain store: the consumer reaches this header only after the withheld one, whose release
            // store in flush() comes later in program order and publishes it along with the payload.
            ring.set(JAVA_LONG, record, header);
            withheldBytes += recordLength;
        }
        if (withheldBytes >= publishBatchBytes) {
            flush();
        }
    }

    @Override
    public void flush() {
        final MemorySegment ring = withheldRing;
        if (ring != null) {
            withheldRing = null;
            try {
                // release: publishes every record of the batch, payloads and headers, all written before;
                // pairs with the consumer's getLongAcquire(header).
                putLongRelease(ring, withheldOffset, withheldHeader);
                queue.dataDoorbell.ring();
            } catch (final IllegalStateException e) {
                throw closedUnderneath(e);
            }
        }
    }

    @Override
    public long tryClaim(final int length) {
        checkLength(length);
        flush();
        if (claimRecord >= 0) {
            throw new IllegalStateException(what + ": a claim is already pending; commit or abort it first");
        }
        try {
            return claim(length);
        } catch (final IllegalStateException | PeerDeadException e) {
            throw closedUnderneath(e);
        }
    }

    /** {@link #tryClaim}, its checks of the arguments done. */
    private long claim(final int length) {
        checkUsable();
        final long recordLength = recordLength(length);
        while (true) {
            final ShmQueue.Region r = region;
            final long capacity = r.capacity();
            final long offset = tail - r.base() & capacity - 1;
            final long need = space(offset, recordLength, capacity) + HEADER_LENGTH + ShmQueue.JUMP_RESERVE;
            if (need <= capacity && fits(need)) {
                final long record = offset + recordLength > capacity ? 0 : offset;
                // The header slot after this record must read 0 until the next commit: the consumer stops
                // there. Plain store, ordered before the commit's release store.
                r.ring().set(JAVA_LONG, record + recordLength & capacity - 1, 0L);
                claimRecord = record;
                claimPadding = record == offset ? -1 : offset;
                claimLength = length;
                return record + HEADER_LENGTH;
            }
            if (capacity < queue.maxCapacity) {
                grow(need);
                continue;
            }
            checkConsumer();
            return BlobChannel.BACK_PRESSURED;
        }
    }

    @Override
    public MemorySegment buffer() {
        return region.ring();
    }

    @Override
    public void commit(final long claim) {
        final long record = checkClaim(claim);
        try {
            publish(record);
        } catch (final IllegalStateException e) {
            throw closedUnderneath(e);
        }
    }

    /** {@link #commit}, the claim checked. */
    private void publish(final long record) {
        final ShmQueue.Region r = region;
        final MemorySegment ring = r.ring();
        // release: publishes the payload; pairs with the consumer's getLongAcquire(header).
        putLongRelease(ring, record, header(TYPE_DATA, claimLength));
        final long padding = claimPadding;
        if (padding >= 0) {
            // release, after the record at 0: the consumer reaches it only through this padding.
            putLongRelease(ring, padding, header(TYPE_PADDING, (int) (r.capacity() - padding - HEADER_LENGTH)));
            tail += r.capacity() - padding;
        }
        tail += recordLength(claimLength);
        claimRecord = -1;
        sent.add(claimLength);
        queue.dataDoorbell.ring();
    }

    @Override
    public void abort(final long claim) {
        checkClaim(claim);
        claimRecord = -1;
    }

    /** Whether {@code bytes} from the tail are free, reading the consumer's head only if the cache says no. */
    private boolean fits(final long bytes) {
        final ShmQueue.Region r = region;
        if (tail + bytes - Math.max(cachedHead, r.base()) <= r.capacity()) {
            return true;
        }
        // acquire: pairs with the consumer's putLongRelease(HEAD) after it finished reading.
        cachedHead = getLongAcquire(control, HEAD_OFFSET);
        return tail + bytes - Math.max(cachedHead, r.base()) <= r.capacity();
    }

    @Override
    boolean hasRoom(final int length) {
        final ShmQueue.Region r = region;
        final long offset = tail - r.base() & r.capacity() - 1;
        // The same room tryClaim asks for, padding included: the wait below must not return before it is there.
        final long need = space(offset, recordLength(length), r.capacity()) + HEADER_LENGTH + ShmQueue.JUMP_RESERVE;
        pendingNeed = need;
        return need <= r.capacity() && fits(need) || r.capacity() < queue.maxCapacity;
    }

    @Override
    BooleanSupplier roomOrClosed() {
        return roomOrClosed;
    }

    private boolean hasRoomOrClosed() {
        final ShmQueue.Region r = region;
        // acquire: pairs with the consumer's putLongRelease(HEAD).
        final long head = getLongAcquire(control, HEAD_OFFSET);
        return tail + pendingNeed - Math.max(head, r.base()) <= r.capacity()
            || getIntVolatile(control, CONSUMER_STATE_OFFSET) == STATE_CLOSED;
    }

    /** Appends a larger region to the file and leaves a jump record to it in the current one. */
    private void grow(final long minimum) {
        long capacity = region.capacity() * 2;
        while (capacity < minimum && capacity < queue.maxCapacity) {
            capacity *= 2;
        }
        capacity = Math.min(capacity, queue.maxCapacity);
        queue.data.refresh();
        final long fileOffset = queue.data.lengthBytes();
        queue.data.grow(fileOffset + capacity, queue.options.prefault());
        final ShmQueue.Region next = queue.region(fileOffset, capacity, 0);

        // The jump record goes where the next record would; JUMP_RESERVE guarantees the room.
        final ShmQueue.Region r = region;
        final long offset = tail - r.base() & r.capacity() - 1;
        final long padding = offset + JUMP_RECORD_LENGTH > r.capacity() ? r.capacity() - offset : 0;
        final long record = padding == 0 ? offset : 0;
        r.ring().set(JAVA_LONG, record + HEADER_LENGTH, fileOffset);
        r.ring().set(JAVA_LONG, record + HEADER_LENGTH + 8, capacity);
        // release: publishes the new region's coordinates; pairs with the consumer's acquire of the header.
        putLongRelease(r.ring(), record, header(TYPE_JUMP, 16));
        if (padding != 0) {
            putLongRelease(r.ring(), offset, header(TYPE_PADDING, (int) (padding - HEADER_LENGTH)));
        }
        tail += padding + JUMP_RECORD_LENGTH;
        region = new ShmQueue.Region(next.ring(), fileOffset, capacity, tail);
        stats.increment(dev.isthmus.stat.StatKind.Channel.GROWTHS);
        queue.dataDoorbell.ring();
    }

    @Override
    void detach() {
        flush();
        // release: everything committed is visible before the close; pairs with the consumer's acquire.
        putIntRelease(control, PRODUCER_STATE_OFFSET, STATE_CLOSED);
    }
}
