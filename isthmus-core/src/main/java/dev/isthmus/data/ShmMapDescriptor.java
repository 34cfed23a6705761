/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

/**
 * The shared-memory layout of a {@link ShmMap}: a header, then one stripe after another, each a stripe
 * header followed by its slots. All offsets are from the start of the map's memory (the data part of its
 * {@link dev.isthmus.shm.SharedMemory}); every long is 8-byte aligned, every stripe 64-byte aligned.
 *
 * <pre>
 * Header (HEADER_LENGTH = 64 bytes)
 *   0                   8         12             16                20                  24
 *   +-------------------+---------+--------------+-----------------+-------------------+
 *   | MAGIC             | VERSION | STRIPES      | SLOTS_PER_STRIPE| MAX_KEY_BYTES     |
 *   +-------------------+---------+--------------+-----------------+-------------------+
 *   24                  28                  32                     40                  48
 *   +-------------------+-------------------+----------------------+-------------------+
 *   | MAX_VALUE_BYTES   | SLOT_LENGTH       | STRIPE_LENGTH (long) | LOCK_TIMEOUT_NS   |
 *   +-------------------+-------------------+----------------------+-------------------+
 *   48                  56                  64
 *   +-------------------+-------------------+
 *   | READ_TIMEOUT_NS   | TOTAL_LENGTH      |
 *   +-------------------+-------------------+
 *
 * Stripe s, at HEADER_LENGTH + s * STRIPE_LENGTH
 *   0          8           16               24                 32            64
 *   +----------+-----------+----------------+------------------+-------------+----------------------+
 *   | LOCK     | COUNT     | TOMBSTONES     | UNDO_STATE       | (padding)   | UNDO_SLOT copy       |
 *   +----------+-----------+----------------+------------------+-------------+----------------------+
 *   then, at STRIPE_HEADER_LENGTH = align64(64 + SLOT_LENGTH), SLOTS_PER_STRIPE slots of SLOT_LENGTH
 *
 * Slot (SLOT_LENGTH = 32 + align8(MAX_KEY_BYTES) + align8(MAX_VALUE_BYTES))
 *   0          8         12           16         24             28          32                 32 + align8(K)
 *   +----------+---------+------------+----------+--------------+-----------+------------------+--------------+
 *   | SEQ      | STATE   | KEY_LENGTH | HASH     | VALUE_LENGTH | (padding) | key bytes        | value bytes  |
 *   +----------+---------+------------+----------+--------------+-----------+------------------+--------------+
 * </pre>
 *
 * <p>{@code LOCK} is 0 when free, else the holder's pid in the high 32 bits and the low 32 bits of its start
 * time ({@link dev.isthmus.shm.ProcessIdentity#startTimeTicks()}) in the low ones. {@code UNDO_STATE} is 0,
 * or 1 + the index (within the stripe) of the slot whose previous bytes {@code UNDO_SLOT} holds. {@code SEQ}
 * is a seqlock: odd while the slot is being written. {@code COUNT} and {@code TOMBSTONES} count the
 * stripe's slots in states {@link #STATE_FULL} and {@link #STATE_TOMBSTONE}.
 *
 * <p>Every field of this layout can be written by any process holding a writable mapping, so every reader
 * checks what it reads against the geometry before using it.
 */
public final class ShmMapDescriptor {
    /** "ISTHMAP1" in ASCII, little-endian. */
    public static final long MAGIC = 0x3150414d48545349L;
    /** The layout version this library reads and writes. */
    public static final int VERSION = 1;

    /** Offset of the magic (long). */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the version (int). */
    public static final int VERSION_OFFSET = 8;
    /** Offset of the number of stripes (int, a power of two). */
    public static final int STRIPES_OFFSET = 12;
    /** Offset of the number of slots in each stripe (int). */
    public static final int SLOTS_PER_STRIPE_OFFSET = 16;
    /** Offset of the longest key in bytes (int). */
    public static final int MAX_KEY_BYTES_OFFSET = 20;
    /** Offset of the longest value in bytes (int). */
    public static final int MAX_VALUE_BYTES_OFFSET = 24;
    /** Offset of the length of one slot in bytes (int). */
    public static final int SLOT_LENGTH_OFFSET = 28;
    /** Offset of the length of one stripe (its header and its slots) in bytes (long). */
    public static final int STRIPE_LENGTH_OFFSET = 32;
    /** Offset of the creator's lock timeout in nanoseconds (long), the default of peers that adopt the map. */
    public static final int LOCK_TIMEOUT_NS_OFFSET = 40;
    /** Offset of the creator's read timeout in nanoseconds (long), the default of peers that adopt the map. */
    public static final int READ_TIMEOUT_NS_OFFSET = 48;
    /** Offset of the length of the whole layout in bytes (long). */
    public static final int TOTAL_LENGTH_OFFSET = 56;
    /** The length of the header. */
    public static final int HEADER_LENGTH = 64;

    /** Offset in a stripe of its lock word (long). */
    public static final int LOCK_OFFSET = 0;
    /** Offset in a stripe of its count of full slots (long). */
    public static final int COUNT_OFFSET = 8;
    /** Offset in a stripe of its count of tombstones (long). */
    public static final int TOMBSTONES_OFFSET = 16;
    /** Offset in a stripe of its undo state (long): 0, or 1 + the index of the slot saved in the undo copy. */
    public static final int UNDO_STATE_OFFSET = 24;
    /** Offset in a stripe of the copy of the slot being updated. */
    public static final int UNDO_SLOT_OFFSET = 64;

    /** Offset in a slot of its sequence number (long; odd while it is being written). */
    public static final int SEQ_OFFSET = 0;
    /** Offset in a slot of its state (int). */
    public static final int STATE_OFFSET = 8;
    /** Offset in a slot of its key's length (int). */
    public static final int KEY_LENGTH_OFFSET = 12;
    /** Offset in a slot of its key's hash (long). */
    public static final int HASH_OFFSET = 16;
    /** Offset in a slot of its value's length (int). */
    public static final int VALUE_LENGTH_OFFSET = 24;
    /** Offset in a slot of its key bytes. */
    public static final int KEY_OFFSET = 32;

    /** A slot that never held an entry: probing stops here. */
    public static final int STATE_EMPTY = 0;
    /** A slot holding an entry. */
    public static final int STATE_FULL = 1;
    /** A slot whose entry was removed: probing goes on past it, and a put may reuse it. */
    public static final int STATE_TOMBSTONE = 2;

    /** The most stripes a map may have. */
    public static final int MAX_STRIPES = 1 << 16;
    /** The most slots a stripe may have. */
    public static final int MAX_SLOTS_PER_STRIPE = 1 << 24;
    /** The longest key. */
    public static final int MAX_KEY_BYTES = 1 << 16;
    /** The longest value. */
    public static final int MAX_VALUE_BYTES = 1 << 24;
    /** The largest layout, header and stripes: 1 TiB of address space. */
    public static final long MAX_TOTAL_LENGTH = 1L << 40;
    /** The longest lock or read timeout a header may declare: one hour. */
    public static final long MAX_TIMEOUT_NS = 3_600_000_000_000L;

    private ShmMapDescriptor() {
    }

    /**
     * {@return the length of a slot for these key and value bounds}
     *
     * @param maxKeyBytes   the longest key, in [1, {@link #MAX_KEY_BYTES}]
     * @param maxValueBytes the longest value, in [0, {@link #MAX_VALUE_BYTES}]
     */
    public static int slotLength(final int maxKeyBytes, final int maxValueBytes) {
        // Not rounded to cache lines: with random access over a large map, the smaller footprint (fewer
        // pages, fewer lines in all) beats 64-byte alignment (measured with 64 Ki entries of 64-byte values:
        // 104-byte slots against 128-byte ones).
        return KEY_OFFSET + align8(maxKeyBytes) + align8(maxValueBytes);
    }

    /**
     * {@return the offset in a slot of its value bytes}
     *
     * @param maxKeyBytes the longest key
     */
    public static int valueOffset(final int maxKeyBytes) {
        return KEY_OFFSET + align8(maxKeyBytes);
    }

    /**
     * {@return the length of a stripe's header, undo copy included}
     *
     * @param slotLength the length of a slot
     */
    public static long stripeHeaderLength(final int slotLength) {
        return align64(UNDO_SLOT_OFFSET + (long) slotLength);
    }

    /**
     * {@return the length of a stripe, header and slots, or -1 if it exceeds {@link #MAX_TOTAL_LENGTH}}
     *
     * @param slotLength     the length of a slot
     * @param slotsPerStripe the number of slots in a stripe
     */
    public static long stripeLength(final int slotLength, final int slotsPerStripe) {
        final long length = align64(stripeHeaderLength(slotLength) + (long) slotLength * slotsPerStripe);
        return length > MAX_TOTAL_LENGTH ? -1 : length;
    }

    /**
     * {@return the length of the whole layout, or -1 if it exceeds {@link #MAX_TOTAL_LENGTH}}
     *
     * @param stripes      the number of stripes, at most {@link #MAX_STRIPES}
     * @param stripeLength the length of one stripe, at most {@link #MAX_TOTAL_LENGTH}
     */
    public static long totalLength(final int stripes, final long stripeLength) {
        if (stripeLength < 0) {
            return -1;
        }
        // Both factors are below 2^40 and 2^17: the product cannot overflow a long.
        final long length = HEADER_LENGTH + stripeLength * stripes;
        return length > MAX_TOTAL_LENGTH ? -1 : length;
    }

    private static int align8(final int value) {
        return (value + 7) & ~7;
    }

    private static long align64(final long value) {
        return (value + 63) & ~63L;
    }
}
