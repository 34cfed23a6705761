/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.struc.AbstractReceived;
import dev.isthmus.struc.Codec;
import dev.isthmus.struc.Outgoing;
import dev.isthmus.struc.Received;

import java.lang.foreign.MemorySegment;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * A codec whose messages are bytes given verbatim, with a type of the test's choosing: sends what another
 * implementation encoded (or a hostile peer forged), and captures payloads exactly as they crossed.
 */
final class RawCodec implements Codec<byte[], RawCodec.Raw> {
    /** A raw message: the payload's bytes and the declared type. */
    static final class Raw {
        byte[] bytes = new byte[0];
        int type;
    }

    /** {@return a message carrying {@code bytes} with type {@code type}} */
    static Outgoing<Raw> message(final byte[] bytes, final int type) {
        final Raw raw = new Raw();
        raw.bytes = bytes;
        raw.type = type;
        return new Outgoing<>() {
            @Override
            public Raw root() {
                return raw;
            }

            @Override
            public void close() {
            }
        };
    }

    @Override
    public Outgoing<Raw> newMessage() {
        return message(new byte[0], 0);
    }

    @Override
    public int typeOf(final Outgoing<Raw> message) {
        return message.root().type;
    }

    @Override
    public Encoded encode(final Outgoing<Raw> message) {
        return new Encoded(List.of(MemorySegment.ofArray(message.root().bytes)), () -> { });
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
