/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * {@link BytesCodec}, counting the messages it decodes and how many of them were closed, so that a test can
 * tell a released message from a forgotten one; a hook may run before each decode, on the receiving thread,
 * to hold a message back at a chosen moment. Thread-safe.
 */
final class ObservedCodec implements Codec<byte[], BytesCodec.Message> {
    private final BytesCodec bytes = new BytesCodec();
    private final AtomicInteger opened = new AtomicInteger();
    private final AtomicInteger closed = new AtomicInteger();
    private volatile IntConsumer beforeDecode = type -> { };

    /**
     * Sets what runs before each decode, given the message's type.
     *
     * @param hook the hook
     * @return this codec
     */
    ObservedCodec beforeDecode(final IntConsumer hook) {
        this.beforeDecode = hook;
        return this;
    }

    /** {@return how many messages were decoded} */
    int opened() {
        return opened.get();
    }

    /** {@return how many decoded messages were closed} */
    int closed() {
        return closed.get();
    }

    @Override
    public Outgoing<BytesCodec.Message> newMessage() {
        return bytes.newMessage();
    }

    @Override
    public int typeOf(final Outgoing<BytesCodec.Message> message) {
        return bytes.typeOf(message);
    }

    @Override
    public Encoded encode(final Outgoing<BytesCodec.Message> message) {
        return bytes.encode(message);
    }

    @Override
    public Received<byte[]> decode(final MemorySegment payload, final int type, final long id, final boolean owned) {
        beforeDecode.accept(type);
        final Received<byte[]> inner = bytes.decode(payload, type, id, owned);
        opened.incrementAndGet();
        // AbstractReceived runs the release once, however often the message is closed.
        return new AbstractReceived<>(type, id, inner.payloadLength(), () -> {
            inner.close();
            closed.incrementAndGet();
        }, false) {
            @Override
            public byte[] root() {
                checkOpen();
                return inner.root();
            }
        };
    }
}
