/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

/**
 * The header at the start of every shared-memory segment Isthmus creates.
 *
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |                  Magic "ISTHMSEG" (8 bytes)                   |  0
 *  |                                                               |
 *  +-------------------------------+-------------------------------+
 *  |        Layout version         |     Header length (bytes)     |  8
 *  +-------------------------------+-------------------------------+
 *  |                  Data length (bytes, 8 bytes)                 | 16
 *  |                                                               |
 *  +-------------------------------+-------------------------------+
 *  |           Owner pid           |       Permission mode         | 24
 *  +-------------------------------+-------------------------------+
 *  |           Owner start time (clock ticks after boot)           | 32
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                 Creation time (epoch millis)                  | 40
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                 Tag (set by the layer above)                  | 48
 *  |                                                               |
 *  +---------------------------------------------------------------+
 *  |                    Reserved, zero ...                         | 56
 *  +---------------------------------------------------------------+
 *  |                 Data, page-aligned ...                        | header length
 *  +---------------------------------------------------------------+
 * </pre>
 *
 * <p>All fields are little-endian (native order on every supported architecture). The creator writes
 * every field, then the magic with a release store; an opener reads the magic with an acquire load,
 * so seeing the magic means seeing a complete header. The data length only grows: the process that grows
 * the segment first extends the file, then publishes the new length with a release store, so a reader
 * that sees it (acquire) can map that much. Owner pid and start time identify the creating process even
 * after its pid is reused, which is how a stale segment is told from a live one.
 */
public final class SegmentDescriptor {
    /** "ISTHMSEG" read as a little-endian long. */
    public static final long MAGIC = 0x4745534d48545349L;
    /** The layout version this library writes and reads. */
    public static final int VERSION = 1;

    /** Offset of the magic, a long. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the layout version, an int. */
    public static final int VERSION_OFFSET = 8;
    /** Offset of the header length, an int: where the data starts. */
    public static final int HEADER_LENGTH_OFFSET = 12;
    /** Offset of the data length, a long. */
    public static final int DATA_LENGTH_OFFSET = 16;
    /** Offset of the owner's pid, an int. */
    public static final int OWNER_PID_OFFSET = 24;
    /** Offset of the permission mode the creator chose, an int. */
    public static final int MODE_OFFSET = 28;
    /** Offset of the owner's start time, a long. */
    public static final int OWNER_START_TIME_OFFSET = 32;
    /** Offset of the creation time, a long. */
    public static final int CREATED_OFFSET = 40;
    /** Offset of the tag, a long. */
    public static final int TAG_OFFSET = 48;
    /** The number of header bytes that carry fields; the rest of the header is reserved. */
    public static final int FIELDS_LENGTH = 64;

    /** The smallest header length an opener accepts. */
    public static final int MIN_HEADER_LENGTH = 4096;
    /** The largest header length an opener accepts. */
    public static final int MAX_HEADER_LENGTH = 1 << 20;

    private SegmentDescriptor() {
    }

    /**
     * {@return the header length this library writes: one page, so that data is page-aligned}
     *
     * @param pageSize the system's page size
     */
    public static int headerLength(final long pageSize) {
        return (int) Math.max(MIN_HEADER_LENGTH, pageSize);
    }
}
