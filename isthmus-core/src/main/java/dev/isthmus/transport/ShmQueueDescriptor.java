/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

/**
 * The layout of a shared-memory queue (OneToOneShmQueue, ManyToOneShmQueue) inside the
 * data part of its {@link dev.isthmus.shm.SharedMemory} segment.
 *
 * <h2>Control page</h2>
 * <pre>
 *   0   +-----------------------------------------------------------------+
 *       | magic "ISTHMQUE" (8)                                            |
 *   8   | layout version (4)         | flags (4): bit 0 = many producers  |
 *  16   | max message length (4)     | reserved (4)                       |
 *  24   | initial capacity (8)                                            |
 *  32   | max capacity (8)                                                |
 *       +-----------------------------------------------------------------+
 *  64   | ROLES, written only when a side attaches or closes              |
 *       | consumer state (4)         | producer state (4)                 |
 *  72   | consumer pid (4)           | producer pid (4)                   |
 *  80   | consumer start time (8)                                         |
 *  88   | producer start time (8)                                         |
 *  96   | producer count (4): many producers only                         |
 *       +-----------------------------------------------------------------+
 * 128   | CONSUMER LINE, written by the consumer                          |
 *       | head position (8): everything before it is consumed             |
 * 136   | consumer heartbeat (8): System.nanoTime of its last wait        |
 *       +-----------------------------------------------------------------+
 * 256   | SPACE DOORBELL: producers sleep on it waiting for room (8)      |
 *       +-----------------------------------------------------------------+
 * 384   | DATA DOORBELL: the consumer sleeps on it waiting for data (8)   |
 *       +-----------------------------------------------------------------+
 * 512   | PRODUCER LINE, written by producers                             |
 *       | reserved (8)                                                    |
 * 520   | tail position (8): many producers only, claimed by CAS          |
 * 528   | reserved (24)                                                   |
 * 552   | producer heartbeat (8)                                          |
 *       +-----------------------------------------------------------------+
 * 1024  | PRODUCER SLOTS, many producers only: 64 x 16 bytes, each        |
 *       | owner (8): pid, low 32 bits of its start time in the high half  |
 *       | claim position (8): the tail the owner is about to claim at     |
 *       +-----------------------------------------------------------------+
 * 4096  | first ring region (initial capacity bytes; for many producers   |
 *       | the max capacity, and the only region)                          |
 *       | later regions, each at least twice the last, appended as the    |
 *       | queue grows                                                     |
 *       +-----------------------------------------------------------------+
 * </pre>
 * The roles line is read on every offer and poll but written only at attach and close, so it stays
 * shared in both caches. The consumer line, the two doorbells and the producer line are 128 bytes apart, so that the two
 * sides never write the same cache line (or adjacent-line prefetch pair) on the hot path.
 *
 * <h2>Records</h2>
 * A region is a ring of records, each {@value #RECORD_ALIGNMENT}-byte aligned, never spanning the end:
 * <pre>
 *   +-------------------------------+-------------------------------+
 *   | length (4)                    | type (4): 1 data, 2 padding,  |
 *   |                               |           3 jump              |
 *   +-------------------------------+-------------------------------+
 *   | payload (length bytes), then zero to 7 bytes of alignment ... |
 *   +---------------------------------------------------------------+
 * </pre>
 * The 8-byte header is written last, with a release store: it is the commit. A header of 0 means "not
 * written yet": before committing a record the producer zeroes the header slot that follows it, so the
 * consumer never mistakes old bytes for a record. With
 * {@linkplain ShmQueueOptions#publishBatchBytes() batched publication} the producer writes the headers of a
 * batch's later records as it goes and the first one's last, with the release store: the consumer, stopped
 * at that header, sees the whole batch at once. A padding record fills the rest of the region when the
 * next record does not fit before the end. A jump record (payload: the new region's offset and capacity,
 * 8 bytes each) moves both sides to a larger region appended to the file when the queue grows; positions
 * keep counting across regions.
 *
 * <h2>Many producers</h2>
 * A many-to-one queue has one region, of its max capacity, and no jumps. A producer claims room by a
 * compare-and-set of the tail (padding and record in one claim when the record does not fit before the
 * end), after recording in its slot the position it is about to claim at; it then marks its record
 * claimed (a header of type {@value #TYPE_CLAIMED} naming its slot, by compare-and-set from 0), writes the
 * payload and commits by a compare-and-set of the marker to the data header. The consumer zeroes what it
 * consumed before it hands the room back, so every header slot reads 0 until claimed. A claim whose
 * producer died (its slot's process is gone) or stalled beyond {@link ShmQueueOptions#unblockTimeoutNs()}
 * is overwritten by the consumer with a skip record ({@value #TYPE_SKIP}, by compare-and-set from what it
 * saw), so one producer cannot stop the others; the late producer's commit then fails.
 */
public final class ShmQueueDescriptor {
    /** "ISTHMQUE" read as a little-endian long. */
    public static final long MAGIC = 0x4555514d48545349L;
    /** The layout version this library writes and reads. */
    public static final int VERSION = 2;
    /** Flag bit: the queue admits many producers. */
    public static final int FLAG_MANY_PRODUCERS = 1;

    /** Offset of the magic, a long. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the layout version, an int. */
    public static final int VERSION_OFFSET = 8;
    /** Offset of the flags, an int. */
    public static final int FLAGS_OFFSET = 12;
    /** Offset of the max message length, an int. */
    public static final int MAX_MESSAGE_LENGTH_OFFSET = 16;
    /** Offset of the initial capacity, a long. */
    public static final int INITIAL_CAPACITY_OFFSET = 24;
    /** Offset of the max capacity, a long. */
    public static final int MAX_CAPACITY_OFFSET = 32;

    /** Offset of the consumer's state, an int ({@link #STATE_NONE}, {@link #STATE_OPEN}, {@link #STATE_CLOSED}). */
    public static final int CONSUMER_STATE_OFFSET = 64;
    /** Offset of the (single) producer's state, an int. */
    public static final int PRODUCER_STATE_OFFSET = 68;
    /** Offset of the consumer's pid, an int. */
    public static final int CONSUMER_PID_OFFSET = 72;
    /** Offset of the (single) producer's pid, an int. */
    public static final int PRODUCER_PID_OFFSET = 76;
    /** Offset of the consumer's start time, a long. */
    public static final int CONSUMER_START_TIME_OFFSET = 80;
    /** Offset of the (single) producer's start time, a long. */
    public static final int PRODUCER_START_TIME_OFFSET = 88;
    /** Offset of the count of attached producers, an int. */
    public static final int PRODUCER_COUNT_OFFSET = 96;

    /** Offset of the consumer's head position, a long. */
    public static final int HEAD_OFFSET = 128;
    /** Offset of the consumer's heartbeat, a long. */
    public static final int CONSUMER_HEARTBEAT_OFFSET = 136;

    /** Offset of the doorbell producers sleep on while waiting for room. */
    public static final int SPACE_DOORBELL_OFFSET = 256;
    /** Offset of the doorbell the consumer sleeps on while waiting for data. */
    public static final int DATA_DOORBELL_OFFSET = 384;

    /** Offset of the shared tail position of a many-to-one queue, a long claimed by compare-and-set. */
    public static final int TAIL_OFFSET = 520;
    /** Offset of the producer heartbeat, a long. */
    public static final int PRODUCER_HEARTBEAT_OFFSET = 552;

    /** Offset of the first producer slot of a many-to-one queue. */
    public static final int PRODUCER_SLOTS_OFFSET = 1024;
    /** How many producer slots a many-to-one queue has; producers beyond go without one. */
    public static final int PRODUCER_SLOTS = 64;
    /** Length of a producer slot. */
    public static final int PRODUCER_SLOT_LENGTH = 16;
    /** Offset, in a slot, of its owner: pid, and the low 32 bits of its start time shifted left by 32; 0 if free. */
    public static final int SLOT_OWNER_OFFSET = 0;
    /** Offset, in a slot, of the tail position its owner is about to claim at. */
    public static final int SLOT_CLAIM_POSITION_OFFSET = 8;

    /** Where the first region starts. */
    public static final int FIRST_REGION_OFFSET = 4096;

    /** A side has not attached. */
    public static final int STATE_NONE = 0;
    /** A side is attached and open. */
    public static final int STATE_OPEN = 1;
    /** A side has closed. */
    public static final int STATE_CLOSED = 2;

    /** Record header length. */
    public static final int HEADER_LENGTH = 8;
    /** Records start at multiples of this. */
    public static final int RECORD_ALIGNMENT = 8;
    /** Record type: a message. */
    public static final int TYPE_DATA = 1;
    /** Record type: skip to the end of the region. */
    public static final int TYPE_PADDING = 2;
    /** Record type: continue in a new region. */
    public static final int TYPE_JUMP = 3;
    /** Record type: a claim a dead or stalled producer never committed, skipped by the consumer. */
    public static final int TYPE_SKIP = 4;
    /**
     * Record type (low byte of the type word): claimed, not yet committed; the byte above names the
     * claiming producer's slot plus one (0: none). Many-to-one queues only.
     */
    public static final int TYPE_CLAIMED = 5;
    /** Length of a jump record: header, region offset, region capacity. */
    public static final int JUMP_RECORD_LENGTH = HEADER_LENGTH + 16;

    /** The smallest region capacity. */
    public static final long MIN_CAPACITY = 4096;
    /** The largest region capacity. */
    public static final long MAX_CAPACITY = 1L << 40;

    private ShmQueueDescriptor() {
    }

    /**
     * {@return a record header}
     *
     * @param type   the record type
     * @param length the payload length
     */
    public static long header(final int type, final int length) {
        return (long) type << 32 | length & 0xffff_ffffL;
    }

    /**
     * {@return the room a record of {@code recordLength} bytes takes at {@code offset} of a ring of
     * {@code capacity} bytes: the record, plus the padding to the end of the ring first if it does not fit
     * before the end} The one place this arithmetic is written.
     *
     * @param offset       where the tail is in the ring, a multiple of {@value #RECORD_ALIGNMENT}
     * @param recordLength the record's length, from {@link #recordLength(long)}
     * @param capacity     the ring's capacity, a power of two
     */
    public static long space(final long offset, final long recordLength, final long capacity) {
        return offset + recordLength > capacity ? capacity - offset + recordLength : recordLength;
    }

    /**
     * {@return the length of a record with a payload of {@code length} bytes, header and alignment included}
     *
     * @param length the payload length
     */
    public static long recordLength(final long length) {
        return HEADER_LENGTH + length + RECORD_ALIGNMENT - 1 & -RECORD_ALIGNMENT;
    }
}
