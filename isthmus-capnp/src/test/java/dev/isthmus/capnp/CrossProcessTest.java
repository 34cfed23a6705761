/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.arena.ArenaOptions;
import dev.isthmus.arena.ArenaView;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.struc.Received;
import dev.isthmus.struc.StructuredChannel;
import dev.isthmus.struc.StructuredChannelOptions;
import dev.isthmus.test.ChildJvm;
import dev.isthmus.transport.ShmBlobChannel;
import dev.isthmus.transport.ShmQueueOptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A cache client here and the cache server ({@link CacheServerMain}) in a child JVM, each with its own arena
 * and a view of the other's: requests and responses cross processes with either backing.
 */
class CrossProcessTest {
    private static final AtomicInteger IDS = new AtomicInteger();
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final int PARTS = 20;
    private static final int PART_BYTES = 256 << 10;

    @ParameterizedTest
    @EnumSource(Backing.class)
    void shouldServeCacheRequestsAcrossProcesses(final Backing backing) {
        final int id = IDS.incrementAndGet();
        final String group = "x" + id;
        final ResourceName queue = ResourceName.of(Endpoints.APP, "queue", "x" + id);
        final ProcessIdentity me = ProcessIdentity.current();
        try (ShmArena arena = ShmArena.create(Endpoints.APP, group, id, ArenaOptions.defaults());
             ShmBlobChannel blob = ShmBlobChannel.create(queue, ShmQueueOptions.defaults());
             ChildJvm server = ChildJvm.start(CacheServerMain.class, backing.name(), queue.toString(),
                 Long.toString(me.pid()), Long.toString(me.startTimeTicks()), group, Integer.toString(id),
                 Integer.toString(PARTS), Integer.toString(PART_BYTES))) {
            final long serverBaseline = Long.parseLong(server.awaitReady().substring("READY ".length()));
            try (ArenaView serverArena = ArenaView.of(Endpoints.APP, ProcessIdentity.of(server.pid()), group, id,
                     ArenaOptions.defaults());
                 StructuredChannel<Body.Reader, Body.Builder> client = CapnpChannels.open(blob, Body.factory, backing,
                     arena, serverArena, StructuredChannelOptions.builder().name("cache-client").build())) {
                for (int i = 0; i < 3; i++) {
                    try (Received<Body.Reader> response = request(client, "cached")) {
                        final long checked = CacheMessages.verify(response.root(), CacheServerMain.CACHED_SEED, PARTS);
                        assertTrue(checked > (PARTS - 1L) * PART_BYTES, "checked=" + checked);
                        if (backing == Backing.SESSION_SHM) {
                            assertTrue(response.payloadLength() < 1024, "only handles: " + response.payloadLength());
                        } else {
                            assertTrue(response.payloadLength() > checked, "the whole message: " + response.payloadLength());
                        }
                    }
                }
                try (Received<Body.Reader> response = request(client, "fresh")) {
                    CacheMessages.verify(response.root(), CacheServerMain.FRESH_SEED, PARTS);
                }
                if (backing == Backing.SESSION_SHM) {
                    awaitServerAllocated(server, serverBaseline);
                    Endpoints.awaitAllocatedBytes(arena, 0);
                }
                server.send("quit");
                server.awaitLine("DONE", TIMEOUT);
                server.assertExit(0, TIMEOUT);
            }
        }
    }

    private static Received<Body.Reader> request(final StructuredChannel<Body.Reader, Body.Builder> client,
                                                 final String fileName) {
        try (CapnpOutgoing<Body.Builder> request = CapnpOutgoing.of(client.newMessage())) {
            CacheMessages.request(request.root(), fileName);
            return client.request(request, TIMEOUT);
        }
    }

    /** The server's arena gets back every block but the pre-built response's, once the client closed what it read. */
    private static void awaitServerAllocated(final ChildJvm server, final long expected) {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        String line;
        do {
            server.send("stats");
            line = server.awaitLine("ALLOCATED", TIMEOUT);
        } while (!line.equals("ALLOCATED " + expected) && System.nanoTime() < deadline);
        assertEquals("ALLOCATED " + expected, line);
    }
}
