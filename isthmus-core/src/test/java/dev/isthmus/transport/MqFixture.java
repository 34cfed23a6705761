/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.test.NoMessageQueueLeftovers;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@link PosixMqBlobChannel}s: the default queues (10 messages of 8 KiB, the most the kernel allows
 * without privileges here), or small ones of 4 messages of 1 KiB.
 */
public final class MqFixture implements TransportFixture {
    /** The fixture's id. */
    public static final String ID = "mq";
    private static final AtomicInteger IDS = new AtomicInteger();

    /** Creates the fixture. */
    public MqFixture() {
        // stateless: every channel gets a fresh name
    }

    static PosixMqOptions options(final boolean small) {
        return small
            ? PosixMqOptions.builder().maxMessages(4).maxMessageLengthBytes(1024).build()
            : PosixMqOptions.defaults();
    }

    static ResourceName newName() {
        final ResourceName name = ResourceName.of("contract", "mq", "m" + IDS.incrementAndGet());
        NoMessageQueueLeftovers.track(PosixMqBlobChannel.upQueueName(name));
        NoMessageQueueLeftovers.track(PosixMqBlobChannel.downQueueName(name));
        return name;
    }

    @Override
    public String id() {
        return ID;
    }

    @Override
    public ChannelPair pair(final boolean small) {
        final ResourceName name = newName();
        final PosixMqBlobChannel a = PosixMqBlobChannel.create(name, options(small));
        try {
            return new ChannelPair(a, PosixMqBlobChannel.open(name, options(small)));
        } catch (final RuntimeException e) {
            a.close();
            throw e;
        }
    }

    @Override
    public Acceptor acceptor(final boolean small) {
        final ResourceName name = newName();
        final PosixMqBlobChannel channel = PosixMqBlobChannel.create(name, options(small));
        return new Acceptor() {
            @Override
            public String address() {
                return name.toString();
            }

            @Override
            public BlobChannel accept(final Duration timeout) {
                // The peer attaches whenever it comes; blobs offered before wait in the queue.
                return channel;
            }

            @Override
            public void close() {
                // The channel is the caller's to close; the queues' names go when the peer attaches, or with it.
            }
        };
    }

    @Override
    public BlobChannel connect(final String address, final boolean small) {
        return PosixMqBlobChannel.open(ResourceName.parse(address).orElseThrow(), options(small));
    }
}
