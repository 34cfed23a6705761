/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The framing of blobs on a Unix stream socket ({@link UnixSocketBlobChannel}).
 *
 * <h2>Frames</h2>
 * A stream carries frames back to back; each starts with a 4-byte little-endian header word:
 * <pre>
 *   plain frame
 *   +---+-----------------------------------+---------------------------------+
 *   | 0 | length (31 bits)                  | payload (length bytes)          |
 *   +---+-----------------------------------+---------------------------------+
 *
 *   frame with handles (descriptors sent with SCM_RIGHTS on the frame's first byte)
 *   +---+-----------------------------------+----------------+----------------+
 *   | 1 | length (31 bits)                  | handle count   | payload        |
 *   +---+-----------------------------------+ (4, 1..253)    | (length bytes) |
 *                                           +----------------+----------------+
 *
 *   close frame: the sender closed its end; nothing follows
 *   +---------------------------------------+
 *   | 0xFFFFFFFF                            |
 *   +---------------------------------------+
 * </pre>
 * The top bit of the header word is {@link #HANDLES_FLAG}, the rest the payload length, which the
 * receiver checks against its maximum message length before using it. The close frame's word is never a
 * valid header: its length would be 2<sup>31</sup>-1, beyond {@link #MAX_MESSAGE_LENGTH}.
 *
 * <p>Descriptors travel in the ancillary data of the {@code sendmsg} that starts a frame with handles,
 * so the kernel hands them to the receiver together with that frame's first byte; the handle count says
 * how many belong to the frame.
 */
final class SocketFrameDescriptor {
    /** The header word of a frame as stored on the wire: a little-endian int, at any offset. */
    static final ValueLayout.OfInt HEADER_WORD = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Length of a plain frame's header. */
    static final int HEADER_LENGTH = 4;
    /** Length of the header of a frame with handles: the header word and the handle count. */
    static final int HANDLES_HEADER_LENGTH = 8;
    /** Offset of the handle count in a frame with handles. */
    static final int HANDLE_COUNT_OFFSET = 4;
    /** Header-word bit: descriptors accompany this frame. */
    static final int HANDLES_FLAG = 0x8000_0000;
    /** Header-word bits holding the payload length. */
    static final int LENGTH_MASK = 0x7FFF_FFFF;
    /** The header word of the close frame. */
    static final int CLOSE_FRAME = 0xFFFF_FFFF;
    /** The largest maximum message length a channel may be configured with: 1 GiB. */
    static final int MAX_MESSAGE_LENGTH = 1 << 30;

    private SocketFrameDescriptor() {
    }
}
