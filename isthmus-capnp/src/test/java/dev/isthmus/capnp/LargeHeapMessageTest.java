/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.struc.Received;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link Backing#HEAP}: a message far larger than one blob goes through the channel's fragmentation intact. */
class LargeHeapMessageTest {
    @Test
    void shouldCarryA300MiBMessageThroughFragmentation() {
        try (Endpoints endpoints = Endpoints.open(Backing.HEAP)) {
            final int parts = 300;
            final CapnpOutgoing<Body.Builder> response = endpoints.codecB().newMessage();
            CacheMessages.response(response.root(), 17, parts, 1 << 20);
            final long size = response.sizeBytes();
            assertTrue(size > 300L << 20, "size=" + size);
            endpoints.b.onMessage(Body.Which.GET_CACHE_REQ, (request, replier) -> replier.reply(response));
            try (CapnpOutgoing<Body.Builder> request = endpoints.codecA().newMessage()) {
                CacheMessages.request(request.root(), "300MiB");
                try (Received<Body.Reader> received = endpoints.a.request(request, Duration.ofSeconds(120))) {
                    assertEquals(size + CapnpDescriptor.streamTableLength(response.segmentCount()), received.payloadLength(),
                        "the standard framing: segment table and segments");
                    assertTrue(CacheMessages.verify(received.root(), 17, parts) > 299L << 20);
                }
            }
            response.close();
        }
    }
}
