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
import dev.isthmus.struc.StructuredChannel;
import dev.isthmus.struc.StructuredChannelOptions;
import dev.isthmus.transport.ShmBlobChannel;
import dev.isthmus.transport.ShmQueueOptions;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Two Cap'n Proto structured channels of the cache demo connected in this process through a
 * {@link ShmBlobChannel}, each side with its own arena and a view of the other's, as two processes have.
 */
final class Endpoints implements AutoCloseable {
    static final String APP = "capnptest";
    private static final AtomicInteger IDS = new AtomicInteger();

    final ShmArena arenaA;
    final ShmArena arenaB;
    final ArenaView viewOfA;
    final ArenaView viewOfB;
    final StructuredChannel<Body.Reader, Body.Builder> a;
    final StructuredChannel<Body.Reader, Body.Builder> b;

    private Endpoints(final Backing backing, final boolean sealed) {
        final int id = IDS.incrementAndGet();
        final String groupA = "ca" + id;
        final String groupB = "cb" + id;
        if (sealed) {
            // A session's arenas: sealed pools handed over by descriptor, returns through the borrower's ring.
            final ArenaOptions options = ArenaOptions.defaults().withSealedPoolBytes(64L << 20);
            arenaA = ShmArena.createSealed(APP, groupA, id, options);
            arenaB = ShmArena.createSealed(APP, groupB, id, options);
            viewOfA = ArenaView.createSealed(APP, ProcessIdentity.current(), groupA, id, options);
            viewOfB = ArenaView.createSealed(APP, ProcessIdentity.current(), groupB, id, options);
            viewOfA.attachPool(arenaA.poolDescriptor());
            arenaA.attachReturns(viewOfA.returnsDescriptor());
            viewOfB.attachPool(arenaB.poolDescriptor());
            arenaB.attachReturns(viewOfB.returnsDescriptor());
        } else {
            arenaA = ShmArena.create(APP, groupA, id, ArenaOptions.defaults());
            arenaB = ShmArena.create(APP, groupB, id, ArenaOptions.defaults());
            viewOfA = ArenaView.of(APP, ProcessIdentity.current(), groupA, id, ArenaOptions.defaults());
            viewOfB = ArenaView.of(APP, ProcessIdentity.current(), groupB, id, ArenaOptions.defaults());
        }
        final ResourceName name = ResourceName.of(APP, "queue", "q" + id);
        final ShmBlobChannel blobA = ShmBlobChannel.create(name, ShmQueueOptions.defaults());
        final ShmBlobChannel blobB = ShmBlobChannel.open(name, ShmQueueOptions.defaults());
        a = CapnpChannels.open(blobA, Body.factory, backing, arenaA, viewOfB,
            StructuredChannelOptions.builder().name("a" + id).build());
        b = CapnpChannels.open(blobB, Body.factory, backing, arenaB, viewOfA,
            StructuredChannelOptions.builder().name("b" + id).build());
    }

    static Endpoints open(final Backing backing) {
        return new Endpoints(backing, false);
    }

    /** Endpoints whose arenas are sealed, as a session's are. */
    static Endpoints openSealed(final Backing backing) {
        return new Endpoints(backing, true);
    }

    /** The codec of side A, for messages that are pre-built or inspected. */
    CapnpCodec<Body.Reader, Body.Builder> codecA() {
        return codec(a);
    }

    /** The codec of side B. */
    CapnpCodec<Body.Reader, Body.Builder> codecB() {
        return codec(b);
    }

    /** What a channel's blob would hold for an encoding: its parts, one after the other. */
    static java.lang.foreign.MemorySegment payload(final dev.isthmus.struc.Codec.Encoded encoded) {
        final java.lang.foreign.MemorySegment payload = java.lang.foreign.MemorySegment.ofArray(new byte[(int) encoded.length()]);
        long at = 0;
        for (final java.lang.foreign.MemorySegment part : encoded.parts()) {
            java.lang.foreign.MemorySegment.copy(part, 0, payload, at, part.byteSize());
            at += part.byteSize();
        }
        return payload;
    }

    static CapnpCodec<Body.Reader, Body.Builder> codec(final StructuredChannel<Body.Reader, Body.Builder> channel) {
        if (channel.codec() instanceof CapnpCodec<Body.Reader, Body.Builder> codec) {
            return codec;
        }
        throw new AssertionError(channel.codec());
    }

    /** Waits until the arena's allocated bytes are {@code expected}, as they become once peers close what they read. */
    static void awaitAllocatedBytes(final ShmArena arena, final long expected) {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (arena.allocatedBytes() != expected) {
            if (System.nanoTime() > deadline) {
                assertEquals(expected, arena.allocatedBytes(), "bytes allocated in arena " + arena.group());
            }
            Thread.onSpinWait();
        }
    }

    @Override
    public void close() {
        a.close();
        b.close();
        viewOfA.close();
        viewOfB.close();
        arenaA.close();
        arenaB.close();
    }
}
