/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.struc.Codec;
import dev.isthmus.struc.Received;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a small inline message held open costs its receiver (the unhandled queue, a retained request and an
 * awaited response all hold one): about its own size, whatever the largest inline message accepted, so that
 * a peer sending tiny messages nobody closes yet does not make each one cost the receiver a large buffer.
 */
class InlineMessageRetentionTest {
    private static long allocatedByThisThread() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
    }

    @Test
    void shouldCostAboutItsOwnSizeForEachInlineMessageHeldOpen() {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final MemorySegment payload;
            try (CapnpOutgoing<Body.Builder> request = endpoints.codecA().newMessage()) {
                CacheMessages.request(request.root(), "x");
                final Codec.Encoded encoded = endpoints.codecA().encode(request);
                payload = MemorySegment.ofArray(new byte[(int) encoded.length()]);
                long at = 0;
                for (final MemorySegment part : encoded.parts()) {
                    MemorySegment.copy(part, 0, payload, at, part.byteSize());
                    at += part.byteSize();
                }
                encoded.abandon();
                assertEquals(CapnpDescriptor.INLINE_MAGIC, payload.get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED
                    .withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), CapnpDescriptor.SHM_MAGIC_OFFSET),
                    "a small request travels inline");
            }
            final CapnpCodec<Body.Reader, Body.Builder> receiver = endpoints.codecB();
            final int type = Body.Which.GET_CACHE_REQ.ordinal();
            receiver.decode(payload, type, 0, false).close();
            final int count = 1000;
            final List<Received<Body.Reader>> open = new ArrayList<>(count);
            final long before = allocatedByThisThread();
            for (int i = 0; i < count; i++) {
                open.add(receiver.decode(payload, type, i + 1, false));
            }
            final long perMessage = (allocatedByThisThread() - before) / count;
            for (final Received<Body.Reader> message : open) {
                assertEquals("x", message.root().getGetCacheReq().getFileName().toString());
                message.close();
            }
            // Each held its own copy: about 0.5 KiB here; 64 KiB each when every copy was the largest size.
            assertTrue(perMessage < 4096, "a " + payload.byteSize() + "-byte inline message held open costs "
                + perMessage + " bytes of heap");
        }
    }
}
