/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import java.lang.foreign.ValueLayout;

/**
 * The layout of a shared object at the start of its arena block's payload, and of a {@link DataRef} on the
 * wire.
 *
 * <h2>Object header (32 bytes, then the payload)</h2>
 * <pre>
 *   0   +-------------------------------+---------------------------------+
 *       | magic "ISD1" (4)              | kind (4): 1 struct, 2 array,    |
 *       |                               |           3 UTF-8 string        |
 *   8   | type tag (8): the struct type's, or the array's, or the string's|
 *  16   | count (8): 1 for a struct, elements of an array, string bytes   |
 *  24   | stride (8): bytes per element (1 for a string)                  |
 *  32   +-----------------------------------------------------------------+
 *       | payload: count * stride bytes, 8-byte aligned                   |
 *       +-----------------------------------------------------------------+
 * </pre>
 * Only the owner writes a header, once, before the object is lent. A borrower checks every field against
 * the type it expects and against the handle's length, then reads the payload through a slice of exactly
 * {@code count * stride} bytes: a header changed afterwards cannot widen what it reads.
 *
 * <h2>Reference ({@link RefField#LAYOUT}, 32 bytes, inside a struct) and {@link DataRef} on the wire (40 bytes)</h2>
 * <pre>
 *   0   +-------------------------------+---------------------------------+
 *       | wire only: magic "ISDR" (4)   | wire only: reserved (4)         |
 *       +-------------------------------+---------------------------------+
 *   0   | pool (4)                      | generation (4)                  |
 *   8   | offset (8) of the block in the pool; 0 for a null reference     |
 *  16   | length (8): object header and payload                           |
 *  24   | type tag (8) of the object referred to                          |
 *  32   +-----------------------------------------------------------------+
 * </pre>
 */
public final class DataDescriptor {
    /** "ISD1", little-endian. */
    public static final int OBJECT_MAGIC = 0x31445349;
    /** "ISDR", little-endian. */
    public static final int REF_MAGIC = 0x52445349;
    /** Kind of a record. */
    public static final int KIND_STRUCT = 1;
    /** Kind of an array. */
    public static final int KIND_ARRAY = 2;
    /** Kind of a string. */
    public static final int KIND_STRING = 3;

    /** Offset of the object magic. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the kind. */
    public static final int KIND_OFFSET = 4;
    /** Offset of the type tag. */
    public static final int TYPE_TAG_OFFSET = 8;
    /** Offset of the element count. */
    public static final int COUNT_OFFSET = 16;
    /** Offset of the element size. */
    public static final int STRIDE_OFFSET = 24;
    /** The bytes of an object header, before its payload. */
    public static final int HEADER_LENGTH = 32;

    /** Offset of a reference's pool index. */
    public static final int REF_POOL_OFFSET = 0;
    /** Offset of a reference's generation. */
    public static final int REF_GENERATION_OFFSET = 4;
    /** Offset of a reference's block offset (0 for null). */
    public static final int REF_BLOCK_OFFSET = 8;
    /** Offset of a reference's object length. */
    public static final int REF_LENGTH_OFFSET = 16;
    /** Offset of a reference's type tag. */
    public static final int REF_TYPE_TAG_OFFSET = 24;
    /** The bytes of a reference inside a struct. */
    public static final int REF_LENGTH = 32;
    /** The bytes of a {@link DataRef} on the wire: a magic, a reserved word, and the reference. */
    public static final int WIRE_REF_LENGTH = 8 + REF_LENGTH;

    /** The tag of a UTF-8 string. */
    public static final long STRING_TAG = StructType.tag("utf-8");

    private DataDescriptor() {
    }

    /** {@return the tag of an array whose elements are records of the struct whose tag is {@code elementTag}} */
    static long arrayTag(final long elementTag) {
        return StructType.tag("array-of-" + Long.toHexString(elementTag));
    }

    /** {@return the tag of an array of primitive values} */
    static long arrayTag(final ValueLayout element) {
        return StructType.tag("array-of-" + element.carrier().getName() + element.byteSize());
    }
}
