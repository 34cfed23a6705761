/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@link UnixSocketBlobChannel}s: socket pairs in this JVM, a {@link UnixSocketServer} in the run directory
 * across processes.
 *
 * <p>Messages are at most 64 KiB, not the default 1 MiB: in a pair driven by one thread, a frame must fit
 * in the kernel's socket buffer (at most twice {@code net.core.wmem_max}, 416 KiB by default) to reach the
 * other end before that end is polled, since nothing else reads it meanwhile. Larger messages, sent
 * in parts, are tested with a sender and a receiver running at once ({@link UnixSocketBlobChannelTest},
 * {@link UnixSocketCrossProcessTest}). The small variant asks for the kernel's smallest send buffer.
 */
public final class UdsFixture implements TransportFixture {
    /** The fixture's id. */
    public static final String ID = "uds";
    private static final AtomicInteger IDS = new AtomicInteger();

    /** Creates the fixture; it holds no state. */
    public UdsFixture() {
    }

    static UnixSocketOptions options(final boolean small) {
        return small
            ? UnixSocketOptions.builder().maxMessageLengthBytes(1024).socketSendBufferBytes(4096)
                .socketReceiveBufferBytes(4096).build()
            : UnixSocketOptions.builder().maxMessageLengthBytes(64 * 1024).build();
    }

    @Override
    public String id() {
        return ID;
    }

    @Override
    public ChannelPair pair(final boolean small) {
        final UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(options(small));
        return new ChannelPair(pair.first(), pair.second());
    }

    @Override
    public Acceptor acceptor(final boolean small) {
        final UnixSocketOptions options = options(small);
        final UnixSocketServer server = UnixSocketServer.bind("contract", "c" + IDS.incrementAndGet(), options);
        return new Acceptor() {
            @Override
            public String address() {
                return server.address().toString();
            }

            @Override
            public BlobChannel accept(final Duration timeout) {
                return new AcceptedOnFirstUse(server, options.maxMessageLengthBytes(), timeout);
            }

            @Override
            public void close() {
                server.close();
            }
        };
    }

    @Override
    public BlobChannel connect(final String address, final boolean small) {
        return UnixSocketBlobChannel.connect(Path.of(address), TimeUnit.SECONDS.toNanos(30), options(small));
    }

    /**
     * The suite may take the acceptor's channel before it starts the peer that connects; a socket server
     * has no channel until then, so this one accepts when it is first used.
     */
    private static final class AcceptedOnFirstUse implements BlobChannel {
        private final UnixSocketServer server;
        private final int maxMessageLength;
        private final long timeoutNs;
        private UnixSocketBlobChannel channel;
        private boolean closed;

        AcceptedOnFirstUse(final UnixSocketServer server, final int maxMessageLength, final Duration timeout) {
            this.server = server;
            this.maxMessageLength = maxMessageLength;
            this.timeoutNs = timeout.toNanos();
        }

        private synchronized UnixSocketBlobChannel channel() {
            if (channel == null) {
                channel = server.accept(timeoutNs);
            }
            return channel;
        }

        @Override
        public int maxMessageLength() {
            return maxMessageLength;
        }

        @Override
        public boolean offer(final MemorySegment source, final long offset, final int length) {
            return channel().offer(source, offset, length);
        }

        @Override
        public boolean offer(final MemorySegment source, final long offset, final int length, final long timeoutNs) {
            return channel().offer(source, offset, length, timeoutNs);
        }

        @Override
        public boolean offer(final byte[] source, final int offset, final int length) {
            return channel().offer(source, offset, length);
        }

        @Override
        public boolean offer(final byte[] source, final int offset, final int length, final long timeoutNs) {
            return channel().offer(source, offset, length, timeoutNs);
        }

        @Override
        public boolean offer(final ByteBuffer source) {
            return channel().offer(source);
        }

        @Override
        public long tryClaim(final int length) {
            return channel().tryClaim(length);
        }

        @Override
        public MemorySegment claimBuffer() {
            return channel().claimBuffer();
        }

        @Override
        public void commit(final long claim) {
            channel().commit(claim);
        }

        @Override
        public void abort(final long claim) {
            channel().abort(claim);
        }

        @Override
        public int poll(final BlobHandler handler, final int limit) {
            return channel().poll(handler, limit);
        }

        @Override
        public int poll(final BlobHandler handler, final int limit, final long timeoutNs) {
            return channel().poll(handler, limit, timeoutNs);
        }

        @Override
        public synchronized boolean isOpen() {
            return !closed && (channel == null || channel.isOpen());
        }

        @Override
        public synchronized void close() {
            closed = true;
            if (channel != null) {
                channel.close();
            }
        }
    }
}
