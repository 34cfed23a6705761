/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.struc.Received;
import dev.isthmus.struc.StructuredChannel;
import dev.isthmus.struc.StructuredChannelOptions;
import dev.isthmus.transport.ShmBlobChannel;
import dev.isthmus.transport.ShmQueueOptions;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link StructuredChannelOptions#reuseReceiveBuffer()} with {@link Backing#HEAP}: a stream of large
 * responses is reassembled in the same buffer once each is closed, and every one still reads as sent.
 */
class HeapReceiveBufferReuseTest {
    private static final AtomicInteger IDS = new AtomicInteger();
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final int PARTS = 64;
    private static final int PART_BYTES = 64 << 10;

    private record Pair(StructuredChannel<Body.Reader, Body.Builder> client,
                        StructuredChannel<Body.Reader, Body.Builder> server) implements AutoCloseable {
        @Override
        public void close() {
            client.close();
            server.close();
        }
    }

    private static Pair pair(final boolean reuse) {
        final ResourceName name = ResourceName.of(Endpoints.APP, "queue", "r" + IDS.incrementAndGet());
        final ShmBlobChannel a = ShmBlobChannel.create(name, ShmQueueOptions.defaults());
        final ShmBlobChannel b = ShmBlobChannel.open(name, ShmQueueOptions.defaults());
        // The client receives on the requesting thread, so that its allocations are counted there.
        final StructuredChannel<Body.Reader, Body.Builder> client = CapnpChannels.open(a, Body.factory,
            StructuredChannelOptions.builder().name("reuse-client").driverThread(false).reuseReceiveBuffer(reuse).build());
        final StructuredChannel<Body.Reader, Body.Builder> server = CapnpChannels.open(b, Body.factory,
            StructuredChannelOptions.builder().name("reuse-server").build());
        final AtomicLong seeds = new AtomicLong();
        server.onMessage(Body.Which.GET_CACHE_REQ, (request, replier) -> {
            try (CapnpOutgoing<Body.Builder> response = CapnpOutgoing.of(server.newMessage())) {
                // A new content for every response: a reused buffer holding the last one would not verify.
                CacheMessages.response(response.root(), seeds.incrementAndGet(), PARTS, PART_BYTES);
                replier.reply(response);
            }
        });
        return new Pair(client, server);
    }

    /** The bytes this thread allocated for {@code rounds} requests, each verified. */
    private static long allocatedFor(final Pair pair, final int rounds, final long firstSeed) {
        final com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        final long before = threads.getCurrentThreadAllocatedBytes();
        for (int i = 0; i < rounds; i++) {
            try (CapnpOutgoing<Body.Builder> request = CapnpOutgoing.of(pair.client.newMessage())) {
                CacheMessages.request(request.root(), "f");
                try (Received<Body.Reader> response = pair.client.request(request, TIMEOUT)) {
                    checkFirstWords(response.root(), firstSeed + i);
                }
            }
        }
        return threads.getCurrentThreadAllocatedBytes() - before;
    }

    /**
     * Checks every part's size and first word against what {@link CacheMessages#fill} writes for the seed,
     * allocating next to nothing (the full check allocates a part's worth of expected bytes): a buffer that
     * still held the previous response would fail here.
     */
    private static void checkFirstWords(final Body.Reader root, final long seed) {
        final var parts = root.getGetCacheRsp().getFileParts();
        assertEquals(PARTS, parts.size());
        for (int i = 0; i < PARTS; i++) {
            final var part = parts.get(i);
            long x = (seed + i) * 0x9E3779B97F4A7C15L + 1;
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            final java.nio.ByteBuffer data = part.getData().asByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN);
            assertEquals(part.getDataSizeToVerify(), data.remaining(), "size of part " + i);
            assertEquals(x, data.getLong(data.position()), "first word of part " + i + " of response " + seed);
        }
    }

    @Test
    void shouldReassembleEveryLargeResponseInTheSameBuffer() {
        final long payload = (long) PARTS * PART_BYTES;
        try (Pair pair = pair(true)) {
            allocatedFor(pair, 3, 1);
            final long allocated = allocatedFor(pair, 5, 4);
            assertTrue(allocated < payload, "5 responses of " + payload + " bytes allocated " + allocated + " bytes");
        }
        try (Pair pair = pair(false)) {
            allocatedFor(pair, 3, 1);
            final long allocated = allocatedFor(pair, 5, 4);
            assertTrue(allocated >= 5 * payload, "without reuse, each response has a buffer of its own: " + allocated);
        }
    }

    @Test
    void shouldGiveAResponseStillOpenNoBufferOfAnotherMessage() {
        try (Pair pair = pair(true)) {
            try (CapnpOutgoing<Body.Builder> request = CapnpOutgoing.of(pair.client.newMessage())) {
                CacheMessages.request(request.root(), "f");
                try (Received<Body.Reader> first = pair.client.request(request, TIMEOUT)) {
                    try (Received<Body.Reader> second = pair.client.request(request, TIMEOUT)) {
                        CacheMessages.verify(second.root(), 2, PARTS);
                    }
                    // The second was reassembled elsewhere (the first was still open), and its buffer is the
                    // spare now: the third goes there, and the first still reads as sent.
                    try (Received<Body.Reader> third = pair.client.request(request, TIMEOUT)) {
                        CacheMessages.verify(third.root(), 3, PARTS);
                    }
                    CacheMessages.verify(first.root(), 1, PARTS);
                }
            }
        }
    }
}
