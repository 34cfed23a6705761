/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.IsthmusException;
import dev.isthmus.PeerDeadException;

import java.lang.foreign.MemorySegment;
import java.util.function.BooleanSupplier;

import static dev.isthmus.internal.MemoryAccess.compareAndSetLong;
import static dev.isthmus.internal.MemoryAccess.getAndAddInt;
import static dev.isthmus.internal.MemoryAccess.getIntVolatile;
import static dev.isthmus.internal.MemoryAccess.getLongAcquire;
import static dev.isthmus.internal.MemoryAccess.getLongVolatile;
import static dev.isthmus.internal.MemoryAccess.putLongOpaque;
import static dev.isthmus.transport.ShmQueueDescriptor.CONSUMER_STATE_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.FIRST_REGION_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.HEADER_LENGTH;
import static dev.isthmus.transport.ShmQueueDescriptor.HEAD_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.INITIAL_CAPACITY_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_COUNT_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_SLOTS;
import static dev.isthmus.transport.ShmQueueDescriptor.SLOT_CLAIM_POSITION_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.SLOT_OWNER_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.STATE_CLOSED;
import static dev.isthmus.transport.ShmQueueDescriptor.TAIL_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_CLAIMED;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_DATA;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_PADDING;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_SKIP;
import static dev.isthmus.transport.ShmQueueDescriptor.header;
import static dev.isthmus.transport.ShmQueueDescriptor.recordLength;
import static dev.isthmus.transport.ShmQueueDescriptor.space;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * One of the producers of a {@link ManyToOneShmQueue}, without a lock: room is claimed by a
 * compare-and-set of the shared tail, the record is marked claimed in its header, and the commit is a
 * compare-and-set of that marker to the data header (see {@link ShmQueueDescriptor}, "Many producers").
 * Nothing is held across the caller's code, so a producer that dies or stalls between claim and commit
 * stops nobody: the consumer skips its claim.
 *
 * <p>Must be used by one thread at a time; producers in other threads or processes have their own.
 */
final class ManyToOneProducer extends ShmQueue.Producer {
    private final BooleanSupplier roomOrClosed = this::hasRoomOrClosed;
    private final MemorySegment ring;
    private final long capacity;
    private final long ownerValue;
    /** This producer's slot, or -1 if all were taken. */
    private final int slot;
    private final long claimedType;
    private long cachedHead;
    private long pendingRecordLength;
    private long claimPosition;
    private long claimMarker;
    private int claimLength;

    ManyToOneProducer(final ShmQueue queue) {
        super(queue);
        this.capacity = control.get(JAVA_LONG, INITIAL_CAPACITY_OFFSET);
        this.ring = queue.region(FIRST_REGION_OFFSET, capacity, 0).ring();
        this.ownerValue = ShmQueue.ownerValue(me);
        this.slot = takeSlot();
        this.claimedType = TYPE_CLAIMED | (long) (slot + 1) << 8;
        getAndAddInt(control, PRODUCER_COUNT_OFFSET, 1);
    }

    /** Takes a free slot, or one whose owner died; -1 if every slot has a live owner. */
    private int takeSlot() {
        for (int i = 0; i < PRODUCER_SLOTS; i++) {
            if (compareAndSetLong(control, ShmQueue.slotOffset(i) + SLOT_OWNER_OFFSET, 0, ownerValue)) {
                return i;
            }
        }
        for (int i = 0; i < PRODUCER_SLOTS; i++) {
            final long owner = getLongVolatile(control, ShmQueue.slotOffset(i) + SLOT_OWNER_OFFSET);
            if (owner != 0 && !ShmQueue.isOwnerAlive(owner)
                && compareAndSetLong(control, ShmQueue.slotOffset(i) + SLOT_OWNER_OFFSET, owner, ownerValue)) {
                return i;
            }
        }
        return -1;
    }

    @Override
    public long tryClaim(final int length) {
        checkLength(length);
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
        final long mask = capacity - 1;
        while (true) {
            final long tail = getLongVolatile(control, TAIL_OFFSET);
            final long offset = tail & mask;
            final long need = space(offset, recordLength, capacity);
            if (tail + need - cachedHead > capacity) {
                // acquire: pairs with the consumer's putLongRelease(HEAD), after it zeroed what it consumed.
                cachedHead = getLongAcquire(control, HEAD_OFFSET);
                if (tail + need - cachedHead > capacity) {
                    checkConsumer();
                    return BlobChannel.BACK_PRESSURED;
                }
            }
            if (slot >= 0) {
                // Tells the consumer, should this producer die right after the CAS below, whose claim starts
                // there. Opaque store, ordered before the CAS (a full fence) that the consumer's volatile read of
                // the tail pairs with.
                putLongOpaque(control, ShmQueue.slotOffset(slot) + SLOT_CLAIM_POSITION_OFFSET, tail);
            }
            if (!compareAndSetLong(control, TAIL_OFFSET, tail, tail + need)) {
                continue;
            }
            final long record = offset + recordLength > capacity ? 0 : offset;
            if (record != offset) {
                // The padding is complete at once. CAS from 0: if the consumer skipped this claim already
                // (this producer stalled for longer than the unblock timeout), nothing of it may be written.
                if (!compareAndSetLong(ring, offset, 0, header(TYPE_PADDING, (int) (capacity - offset - HEADER_LENGTH)))) {
                    throw skipped(tail);
                }
            }
            final long marker = header(0, length) | claimedType << 32;
            if (!compareAndSetLong(ring, record, 0, marker)) {
                throw skipped(tail + need - recordLength);
            }
            claimRecord = record;
            claimPosition = tail + need - recordLength;
            claimMarker = marker;
            claimLength = length;
            return record + HEADER_LENGTH;
        }
    }

    private IsthmusException skipped(final long position) {
        if (closed) {
            // close() on another thread aborted this claim under the call: a lost race, not a stall.
            return new ChannelClosedException(what + " was closed while this call was in progress");
        }
        return new IsthmusException(what + ": the claim at position " + position + " was skipped by the consumer:"
            + " this producer stalled between claiming and committing for longer than the unblock timeout ("
            + queue.options.unblockTimeoutNs() / 1_000_000 + " ms)");
    }

    @Override
    public MemorySegment buffer() {
        return ring;
    }

    @Override
    public void commit(final long claim) {
        final long record = checkClaim(claim);
        claimRecord = -1;
        try {
            // release (CAS): publishes the payload; pairs with the consumer's getLongAcquire(header). Fails only
            // if the consumer gave up on this claim and skipped it.
            if (!compareAndSetLong(ring, record, claimMarker, header(TYPE_DATA, claimLength))) {
                throw skipped(claimPosition);
            }
            sent.add(claimLength);
            queue.dataDoorbell.ring();
        } catch (final IllegalStateException e) {
            throw closedUnderneath(e);
        }
    }

    @Override
    public void abort(final long claim) {
        final long record = checkClaim(claim);
        claimRecord = -1;
        try {
            // The room is claimed for good: turn it into a record the consumer skips. release (CAS): pairs with
            // the consumer's getLongAcquire(header).
            compareAndSetLong(ring, record, claimMarker,
                header(TYPE_SKIP, (int) (recordLength(claimLength) - HEADER_LENGTH)));
            queue.dataDoorbell.ring();
        } catch (final IllegalStateException e) {
            throw closedUnderneath(e);
        }
    }

    @Override
    public void flush() {
        // Every record is published at its commit.
    }

    @Override
    boolean hasRoom(final int length) {
        pendingRecordLength = recordLength(length);
        return hasRoomOrClosed();
    }

    @Override
    BooleanSupplier roomOrClosed() {
        return roomOrClosed;
    }

    private boolean hasRoomOrClosed() {
        final long tail = getLongVolatile(control, TAIL_OFFSET);
        // acquire: pairs with the consumer's putLongRelease(HEAD).
        final long head = getLongAcquire(control, HEAD_OFFSET);
        return tail + space(tail & capacity - 1, pendingRecordLength, capacity) - head <= capacity
            || getIntVolatile(control, CONSUMER_STATE_OFFSET) == STATE_CLOSED;
    }

    /** Frees this producer's slot; the queue stays open for the consumer and the other producers. */
    @Override
    void detach() {
        if (slot >= 0) {
            compareAndSetLong(control, ShmQueue.slotOffset(slot) + SLOT_OWNER_OFFSET, ownerValue, 0);
        }
        getAndAddInt(control, PRODUCER_COUNT_OFFSET, -1);
    }
}
