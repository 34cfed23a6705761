/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

/**
 * The framing of structured messages in blobs.
 *
 * <h2>First blob of a message</h2>
 * <pre>
 *   0   +-------------------------------+-------+-------+---------------+
 *       | magic "ISTM" (4)              | ver(1)| kind  | flags (2)     |
 *   8   | type (4)                      | reserved (4)                  |
 *  16   | message id (8)                                                |
 *  24   | in response to (8): the request's id, or 0                    |
 *  32   | session token (16)                                            |
 *  48   | payload length (8): all of it, over every blob                |
 *  56   | payload, or its first part ...                                |
 *       +---------------------------------------------------------------+
 * </pre>
 *
 * <h2>Later blobs of a message whose payload does not fit in one</h2>
 * <pre>
 *   0   +-------------------------------+-------+-------+---------------+
 *       | magic "ISTM" (4)              | ver(1)| 5     | 0 (2)         |
 *   8   | message id (8)                                                |
 *  16   | the payload's next part ...                                   |
 *       +---------------------------------------------------------------+
 * </pre>
 * A sender writes the blobs of one message back to back, so they arrive together.
 */
public final class StructuredDescriptor {
    /** "ISTM" read as a little-endian int. */
    public static final int MAGIC = 0x4d545349;
    /** The framing version. */
    public static final byte VERSION = 1;

    /** Kind: a one-way message. */
    public static final byte KIND_NOTIFICATION = 1;
    /** Kind: a message that expects responses. */
    public static final byte KIND_REQUEST = 2;
    /** Kind: a response. */
    public static final byte KIND_RESPONSE = 3;
    /** Kind: the handler failed the request; the payload is a UTF-8 description. */
    public static final byte KIND_FAILURE = 4;
    /** Kind: a later part of a message's payload. */
    public static final byte KIND_FRAGMENT = 5;

    /** Flag of a response: more responses to the same request follow. */
    public static final short FLAG_MORE = 1;

    /** Offset of the magic. */
    public static final int MAGIC_OFFSET = 0;
    /** Offset of the version. */
    public static final int VERSION_OFFSET = 4;
    /** Offset of the kind. */
    public static final int KIND_OFFSET = 5;
    /** Offset of the flags. */
    public static final int FLAGS_OFFSET = 6;
    /** Offset of the type. */
    public static final int TYPE_OFFSET = 8;
    /** Offset of the message id. */
    public static final int ID_OFFSET = 16;
    /** Offset of the id of the request a response answers. */
    public static final int IN_RESPONSE_TO_OFFSET = 24;
    /** Offset of the session token. */
    public static final int TOKEN_OFFSET = 32;
    /** The session token's length. */
    public static final int TOKEN_LENGTH = 16;
    /** Offset of the payload length. */
    public static final int PAYLOAD_LENGTH_OFFSET = 48;
    /** The first blob's header length. */
    public static final int HEADER_LENGTH = 56;
    /** Offset of a fragment's message id. */
    public static final int FRAGMENT_ID_OFFSET = 8;
    /** A later blob's header length. */
    public static final int FRAGMENT_HEADER_LENGTH = 16;

    private StructuredDescriptor() {
    }
}
