/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.demo;

import dev.isthmus.capnp.Backing;
import dev.isthmus.capnp.CapnpChannels;
import dev.isthmus.capnp.CapnpCodec;
import dev.isthmus.capnp.CapnpOutgoing;
import dev.isthmus.capnp.demo.CacheDemo;
import dev.isthmus.session.Session;
import dev.isthmus.session.SessionOptions;
import dev.isthmus.session.SessionServer;
import dev.isthmus.struc.Outgoing;
import dev.isthmus.struc.StructuredChannel;
import dev.isthmus.struc.StructuredChannelOptions;
import dev.isthmus.sync.FutexIdleStrategy;
import dev.isthmus.sync.ThreadAffinity;
import dev.isthmus.transport.ShmBlobChannel;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * The cache server of the demo, in its own process: preloads the files, accepts the client's two
 * sessions (classic and zero-copy), pre-builds every response in each session's way, and answers
 * {@code GetCacheReq}s with them until the client goes.
 *
 * <p>Arguments: the file sizes in bytes. Prints {@code LISTENING}, then {@code READY} once the responses
 * are built.
 */
public final class CacheServerMain {
    private CacheServerMain() {
    }

    /**
     * Runs the server.
     *
     * @param args the file sizes in bytes
     * @throws Exception on failure
     */
    public static void main(final String[] args) throws Exception {
        final List<Long> sizes = new ArrayList<>();
        for (final String arg : args) {
            sizes.add(Long.parseLong(arg));
        }
        try (SessionServer server = SessionServer.start(CacheApps.server(), CacheApps.sessionOptions(true))) {
            System.out.println("LISTENING " + ProcessHandle.current().pid());
            System.out.flush();
            Session classic = null;
            Session zeroCopy = null;
            while (classic == null || zeroCopy == null) {
                final Session session = server.accept(Duration.ofSeconds(60));
                final String kind = new String(session.peerMetadata(), StandardCharsets.US_ASCII);
                if (kind.equals(CacheApps.ZERO_COPY)) {
                    zeroCopy = session;
                } else {
                    classic = session;
                }
            }
            final StructuredChannel<CacheDemo.Body.Reader, CacheDemo.Body.Builder> heapChannel = CapnpChannels.open(
                classic.initChannels().getFirst().blobs(), CacheDemo.Body.factory,
                StructuredChannelOptions.builder().name("cache-server-classic").token(classic.token()).build());
            final StructuredChannel<CacheDemo.Body.Reader, CacheDemo.Body.Builder> shmChannel = CapnpChannels.open(
                zeroCopy.initChannels().getFirst().blobs(), CacheDemo.Body.factory, Backing.SESSION_SHM, zeroCopy.arena(),
                zeroCopy.peerArena(),
                // Its own CPU, apart from the client's requesting thread: two spinning threads on one CPU wait
                // for the scheduler's tick, milliseconds, to hand over.
                StructuredChannelOptions.builder().name("cache-server-zero-copy").token(zeroCopy.token()).driverCpu(1)
                    .build());
            // The same session's second channel, served by a thread that sleeps on a futex as soon as nothing
            // is there: what a request costs when the server idles between requests.
            final dev.isthmus.transport.BlobChannel sleepingBlobs = zeroCopy.initChannels().get(1).blobs();
            if (sleepingBlobs instanceof ShmBlobChannel shm) {
                shm.receiveIdleStrategy(new FutexIdleStrategy());
            }
            final StructuredChannel<CacheDemo.Body.Reader, CacheDemo.Body.Builder> sleepingChannel = CapnpChannels.open(
                sleepingBlobs, CacheDemo.Body.factory, Backing.SESSION_SHM, zeroCopy.arena(), zeroCopy.peerArena(),
                StructuredChannelOptions.builder().name("cache-server-zero-copy-asleep").token(zeroCopy.token())
                    .driverCpu(1).build());

            final long start = System.nanoTime();
            final Map<String, Outgoing<CacheDemo.Body.Builder>> heapResponses = new HashMap<>();
            final Map<String, Outgoing<CacheDemo.Body.Builder>> shmResponses = new HashMap<>();
            for (final long size : sizes) {
                final byte[] data = CacheFiles.content(size);
                final long[][] hashes = CacheFiles.partHashes(data);
                heapResponses.put(CacheFiles.name(size), build(heapChannel, data, hashes));
                // Built once in the session's arena: both zero-copy channels lend the same blocks.
                shmResponses.put(CacheFiles.name(size), build(shmChannel, data, hashes));
            }
            // The files and the heap responses stay; the young generation is touched once for what requests
            // allocate (see HeapWarmup).
            HeapWarmup.touchYoungGeneration(2, 32L << 30);
            System.out.printf("READY built %d responses in %.1f s%n", sizes.size() * 2, (System.nanoTime() - start) / 1e9);
            System.out.flush();

            final CountDownLatch done = new CountDownLatch(2);
            serve(heapChannel, heapResponses);
            serve(shmChannel, shmResponses);
            serve(sleepingChannel, shmResponses);
            classic.onError(error -> done.countDown());
            zeroCopy.onError(error -> done.countDown());
            done.await();
            heapChannel.close();
            shmChannel.close();
            sleepingChannel.close();
            heapResponses.values().forEach(Outgoing::close);
            shmResponses.values().forEach(Outgoing::close);
            classic.close();
            zeroCopy.close();
        }
        System.out.println("DONE");
        System.out.flush();
        System.exit(0);
    }

    private static Outgoing<CacheDemo.Body.Builder> build(
        final StructuredChannel<CacheDemo.Body.Reader, CacheDemo.Body.Builder> channel, final byte[] data,
        final long[][] hashes) {
        // The size is known: one large first segment instead of dozens of doubling ones.
        final Outgoing<CacheDemo.Body.Builder> response =
            ((CapnpCodec<CacheDemo.Body.Reader, CacheDemo.Body.Builder>) channel.codec()).newMessage(data.length);
        CacheFiles.fill(response.root().initGetCacheRsp(), data, hashes);
        return CapnpOutgoing.of(response).seal();
    }

    private static void serve(final StructuredChannel<CacheDemo.Body.Reader, CacheDemo.Body.Builder> channel,
                              final Map<String, Outgoing<CacheDemo.Body.Builder>> responses) {
        final boolean[] favoured = new boolean[1];
        // Read in place and answered within the call: the channel recycles the request and the replier.
        channel.onMessageInPlace(CacheDemo.Body.Which.GET_CACHE_REQ, (request, replier) -> {
            if (!favoured[0]) {
                // The channel's driver thread, on its first request: ahead of the JIT and the collector, if
                // this process may raise it.
                favoured[0] = true;
                ThreadAffinity.raiseCurrentThreadPriority();
            }
            final String name = request.getGetCacheReq().getFileName().toString();
            final Outgoing<CacheDemo.Body.Builder> response = responses.get(name);
            if (response == null) {
                replier.fail("no file named " + name + " in the cache");
            } else {
                replier.reply(response);
            }
        });
    }
}
