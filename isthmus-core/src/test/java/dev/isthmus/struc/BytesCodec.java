/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

import java.lang.foreign.MemorySegment;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * A heap codec for tests: a message is a type and an array of bytes.
 */
class BytesCodec implements Codec<byte[], BytesCodec.Message> {
    /** The builder: a type and the bytes. */
    static final class Message {
        int type;
        byte[] data = new byte[0];

        Message set(final int type, final byte[] data) {
            this.type = type;
            this.data = data;
            return this;
        }
    }

    @Override
    public Outgoing<Message> newMessage() {
        final Message message = new Message();
        return new Outgoing<>() {
            @Override
            public Message root() {
                return message;
            }

            @Override
            public void close() {
            }
        };
    }

    @Override
    public int typeOf(final Outgoing<Message> message) {
        return message.root().type;
    }

    @Override
    public Encoded encode(final Outgoing<Message> message) {
        return new Encoded(List.of(MemorySegment.ofArray(message.root().data)), () -> { });
    }

    @Override
    public Received<byte[]> decode(final MemorySegment payload, final int type, final long id, final boolean owned) {
        final byte[] bytes = payload.toArray(JAVA_BYTE);
        return new AbstractReceived<>(type, id, bytes.length, () -> { }) {
            @Override
            public byte[] root() {
                checkOpen();
                return bytes;
            }
        };
    }
}
