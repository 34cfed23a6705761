/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * How a {@link StructuredChannel} turns messages into bytes and back: the service-provider interface that
 * a serialization library implements (Isthmus ships one for Cap'n Proto).
 *
 * <p>A codec chooses the backing: a heap codec serializes the whole message into the payload (and the
 * channel copies it, fragmenting what exceeds one blob); a shared-memory codec builds messages in the
 * session arena and puts only handles in the payload, which the receiving codec validates and reads in
 * place.
 *
 * <p>Thread safety: implementations must be thread-safe.
 *
 * @param <R> the root reader type
 * @param <B> the root builder type
 */
public interface Codec<R, B> {
    /**
     * {@return a new, empty message}
     */
    Outgoing<B> newMessage();

    /**
     * {@return the type of an outgoing message: what the receiver routes on}
     *
     * @param message a message of this codec
     */
    int typeOf(Outgoing<B> message);

    /**
     * Encodes a message for one send. The returned parts are sent in order as the payload; for zero-copy
     * codecs, encoding lends the receiver references, and {@link Encoded#abandon()} takes them back if the
     * send fails.
     *
     * @param message a message of this codec
     * @return the payload
     */
    Encoded encode(Outgoing<B> message);

    /**
     * Decodes a payload. Unless {@code owned}, the payload memory belongs to the channel and is valid only
     * during this call: the codec copies what it needs, or (zero-copy) borrows the blocks the payload names.
     *
     * @param payload the payload
     * @param type    the type the sender declared
     * @param id      the message id
     * @param owned   whether the payload was reassembled from several blobs into memory of its own, which
     *                the codec may keep (it is garbage-collected) instead of copying
     * @return the message
     * @throws dev.isthmus.CorruptDataException if the payload is not a valid encoding
     */
    Received<R> decode(MemorySegment payload, int type, long id, boolean owned);

    /**
     * Decodes a payload that lies in the channel's memory, {@code length} bytes at {@code offset} of
     * {@code buffer}, valid only during this call: as {@link #decode(MemorySegment, int, long, boolean)} does
     * with that slice and {@code owned} false, without making the slice. A codec overrides it to read the
     * payload where it lies; it must read nothing of {@code buffer} outside that range. The default decodes
     * the slice.
     *
     * @param buffer the channel's memory (a queue's ring, a receive buffer)
     * @param offset where the payload starts
     * @param length its length in bytes
     * @param type   the type the sender declared
     * @param id     the message id
     * @return the message
     * @throws dev.isthmus.CorruptDataException if the payload is not a valid encoding
     */
    default Received<R> decode(final MemorySegment buffer, final long offset, final long length, final int type,
                               final long id) {
        return decode(buffer.asSlice(offset, length), type, id, false);
    }

    /**
     * Decodes a payload as {@link #decode(MemorySegment, long, long, int, long)} does, for a channel that reads
     * the message within one call and closes it there, and never hands the {@link Received} itself to code that
     * could keep it or {@linkplain Received#retain() retain} it (a request read in place by an
     * {@link InPlaceHandler}, a response read by {@link StructuredChannel#request(Outgoing, java.time.Duration,
     * java.util.function.Function)}). The codec may therefore return an object it returned before, once that
     * one is closed, and allocate nothing; one that is still open (a handler that receives in turn) must not be
     * returned again. The default decodes as {@code decode} does.
     *
     * @param buffer the channel's memory (a queue's ring, a receive buffer)
     * @param offset where the payload starts
     * @param length its length in bytes
     * @param type   the type the sender declared
     * @param id     the message id
     * @return the message, which the channel closes
     * @throws dev.isthmus.CorruptDataException if the payload is not a valid encoding
     */
    default Received<R> decodeScoped(final MemorySegment buffer, final long offset, final long length, final int type,
                                     final long id) {
        return decode(buffer, offset, length, type, id);
    }

    /**
     * Decodes a reassembled payload that the codec may keep, and tells when it no longer needs the memory, so
     * that the channel can reassemble the next payload there ({@link StructuredChannelOptions#reuseReceiveBuffer()}).
     * The default decodes as {@link #decode(MemorySegment, int, long, boolean)} with {@code owned} and never
     * calls {@code onRelease}: the memory is then never reused.
     *
     * @param payload   the payload, in memory of its own
     * @param type      the type the sender declared
     * @param id        the message id
     * @param onRelease to run once the codec, and the message it returns, no longer read {@code payload}
     * @return the message
     * @throws dev.isthmus.CorruptDataException if the payload is not a valid encoding
     */
    default Received<R> decodeReusable(final MemorySegment payload, final int type, final long id,
                                       final Runnable onRelease) {
        return decode(payload, type, id, true);
    }

    /**
     * A payload ready to send.
     *
     * @param parts    the payload's bytes, in order
     * @param rollback takes back whatever encoding lent, if the payload is never delivered
     */
    record Encoded(List<MemorySegment> parts, Runnable rollback) {
        /**
         * {@return the payload's total length}
         */
        public long length() {
            long length = 0;
            for (final MemorySegment part : parts) {
                length += part.byteSize();
            }
            return length;
        }

        /** Takes back what encoding lent. */
        public void abandon() {
            rollback.run();
        }
    }
}
