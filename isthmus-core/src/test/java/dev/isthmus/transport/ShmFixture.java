/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.shm.ResourceName;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@link ShmBlobChannel}s: the default options, or a 4 KiB ring that never grows; optionally with
 * {@linkplain ShmQueueOptions#publishBatchBytes() batched publication}.
 */
public final class ShmFixture implements TransportFixture {
    /** The fixture's id. */
    public static final String ID = "shm";
    /** The id of the fixture that publishes in batches. */
    public static final String BATCHED_ID = "shm-batched";
    private static final AtomicInteger IDS = new AtomicInteger();

    private final boolean batched;

    /** The fixture with the default publication, each message as it is offered. */
    public ShmFixture() {
        this(false);
    }

    /**
     * The fixture.
     *
     * @param batched whether producers publish in batches (1 KiB in the small ring, 4 KiB otherwise)
     */
    public ShmFixture(final boolean batched) {
        this.batched = batched;
    }

    static ShmQueueOptions options(final boolean small) {
        return small
            ? ShmQueueOptions.builder().initialCapacityBytes(4096).maxCapacityBytes(4096).maxMessageLengthBytes(1024).build()
            : ShmQueueOptions.defaults();
    }

    private ShmQueueOptions optionsOf(final boolean small) {
        final ShmQueueOptions options = options(small);
        return batched ? options.toBuilder().publishBatchBytes(small ? 1024 : 4096).build() : options;
    }

    static ResourceName newName() {
        return ResourceName.of("contract", "queue", "c" + IDS.incrementAndGet());
    }

    @Override
    public String id() {
        return batched ? BATCHED_ID : ID;
    }

    @Override
    public ChannelPair pair(final boolean small) {
        final ResourceName name = newName();
        final ShmBlobChannel a = ShmBlobChannel.create(name, optionsOf(small));
        try {
            return new ChannelPair(a, ShmBlobChannel.open(name, optionsOf(small)));
        } catch (final RuntimeException e) {
            a.close();
            throw e;
        }
    }

    @Override
    public Acceptor acceptor(final boolean small) {
        final ResourceName name = newName();
        final ShmBlobChannel channel = ShmBlobChannel.create(name, optionsOf(small));
        return new Acceptor() {
            @Override
            public String address() {
                return name.toString();
            }

            @Override
            public BlobChannel accept(final Duration timeout) {
                return channel;
            }

            @Override
            public void close() {
                // The channel is the caller's to close; its queues' names go with it.
            }
        };
    }

    @Override
    public BlobChannel connect(final String address, final boolean small) {
        return ShmBlobChannel.open(ResourceName.parse(address).orElseThrow(), optionsOf(small));
    }
}
