/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.jmh;

import dev.isthmus.arena.ArenaOptions;
import dev.isthmus.arena.ArenaView;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.capnp.Backing;
import dev.isthmus.capnp.CapnpChannels;
import dev.isthmus.capnp.CapnpCodec;
import dev.isthmus.capnp.CapnpOutgoing;
import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.struc.Outgoing;
import dev.isthmus.struc.Received;
import dev.isthmus.struc.StructuredChannel;
import dev.isthmus.struc.StructuredChannelOptions;
import dev.isthmus.sync.IdleStrategies;
import dev.isthmus.sync.ThreadAffinity;
import dev.isthmus.transport.ShmBlobChannel;
import dev.isthmus.transport.ShmQueueOptions;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A zero-copy Cap'n Proto request and its response, as in the cache demo, both ends in this JVM (a server
 * channel with its driver thread, a client that receives for itself): sealed session arenas, one-to-one
 * shared-memory queues, a small request sent inline and a pre-built response of {@code responseBytes} in one
 * segment, read in place. One op is a request built, sent, answered, its root read and closed. Run with
 * {@code -prof gc} for what each op allocates on either side.
 *
 * <p>{@code server} chooses the server's handler: {@code message} a {@link dev.isthmus.struc.MessageHandler},
 * which may keep the request and its replier; {@code inPlace} an {@link dev.isthmus.struc.InPlaceHandler}, which
 * answers within the call. The {@code ...InPlace} methods read the response with
 * {@link StructuredChannel#request(Outgoing, Duration, java.util.function.Function)}; the others take a
 * {@link Received} and close it. {@code sealedRequestInPlace} reads only the root union's tag, and
 * {@code sealedRequestInPlaceParts} also the number of parts through Cap'n Proto's generated getters, which make
 * their own readers.
 *
 * <p>{@code ./isthmus jmh ZeroCopyRequestBenchmark -prof gc}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Benchmark)
public class ZeroCopyRequestBenchmark {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    /** The pre-built response's data. */
    @Param({"1048576"})
    public int responseBytes;

    /**
     * The server's handler: {@code message} (a MessageHandler) or {@code inPlace} (an InPlaceHandler), both
     * lending the pre-built response; or {@code fresh}, an InPlaceHandler that builds a small response (one
     * part of 64 bytes) in a new block of its arena for each request, as a server computing its answers does,
     * so that the client borrows a block just written every time.
     */
    @Param({"message", "inPlace", "fresh"})
    public String server;

    private ShmArena clientArena;
    private ShmArena serverArena;
    private ArenaView viewOfClient;
    private ArenaView viewOfServer;
    private StructuredChannel<Body.Reader, Body.Builder> client;
    private StructuredChannel<Body.Reader, Body.Builder> serverChannel;
    private CapnpOutgoing<Body.Builder> response;
    private CapnpOutgoing<Body.Builder> sealedRequest;

    /** Creates the arenas, the channels and the response. */
    @Setup
    public void setUp() {
        final String id = "zcb" + ProcessHandle.current().pid();
        final ArenaOptions options = ArenaOptions.defaults().withSealedPoolBytes(1L << 30);
        clientArena = ShmArena.createSealed("jmh", id + "c", 1, options);
        serverArena = ShmArena.createSealed("jmh", id + "s", 2, options);
        viewOfClient = ArenaView.createSealed("jmh", ProcessIdentity.current(), id + "c", 1, options);
        viewOfServer = ArenaView.createSealed("jmh", ProcessIdentity.current(), id + "s", 2, options);
        viewOfClient.attachPool(clientArena.poolDescriptor());
        clientArena.attachReturns(viewOfClient.returnsDescriptor());
        viewOfServer.attachPool(serverArena.poolDescriptor());
        serverArena.attachReturns(viewOfServer.returnsDescriptor());
        final ResourceName name = ResourceName.of("jmh", "queue", id);
        // Both sides spin for 50 ms before they sleep, as in the demo: a quiet spell (see Quiet) finds the server
        // spinning, not asleep on its doorbell after the default half millisecond.
        final ShmQueueOptions queueOptions = ShmQueueOptions.builder()
            .idleStrategy(() -> IdleStrategies.spinThenFutex(TimeUnit.MILLISECONDS.toNanos(50))).build();
        final ShmBlobChannel clientBlobs = ShmBlobChannel.create(name, queueOptions);
        final ShmBlobChannel serverBlobs = ShmBlobChannel.open(name, queueOptions);
        clientBlobs.outbound().unlink();
        clientBlobs.inbound().unlink();
        serverChannel = CapnpChannels.open(serverBlobs, Body.factory, Backing.SESSION_SHM, serverArena, viewOfClient,
            StructuredChannelOptions.builder().name("jmh-server").driverCpu(1).build());
        client = CapnpChannels.open(clientBlobs, Body.factory, Backing.SESSION_SHM, clientArena, viewOfServer,
            StructuredChannelOptions.builder().name("jmh-client").driverThread(false).build());
        response = ((CapnpCodec<Body.Reader, Body.Builder>) serverChannel.codec()).newMessage(responseBytes);
        final var parts = response.root().initGetCacheRsp().initFileParts(responseBytes / (16 << 10));
        for (int i = 0; i < parts.size(); i++) {
            parts.get(i).initData(16 << 10).asByteBuffer().put(0, (byte) i);
            parts.get(i).setDataSizeToVerify(16 << 10);
        }
        response.seal();
        if ("fresh".equals(server)) {
            final CapnpCodec<Body.Reader, Body.Builder> codec = (CapnpCodec<Body.Reader, Body.Builder>) serverChannel.codec();
            serverChannel.onMessageInPlace(Body.Which.GET_CACHE_REQ, (request, replier) -> {
                try (CapnpOutgoing<Body.Builder> fresh = codec.newMessage(256)) {
                    final var part = fresh.root().initGetCacheRsp().initFileParts(1).get(0);
                    part.initData(64).asByteBuffer().put(0, (byte) 1);
                    part.setDataSizeToVerify(64);
                    replier.reply(fresh);
                }
            });
        } else if ("inPlace".equals(server)) {
            serverChannel.onMessageInPlace(Body.Which.GET_CACHE_REQ, (request, replier) -> replier.reply(response));
        } else {
            serverChannel.onMessage(Body.Which.GET_CACHE_REQ, (request, replier) -> replier.reply(response));
        }
        sealedRequest = CapnpOutgoing.of(client.newMessage());
        sealedRequest.root().initGetCacheReq().setFileName("file-1048576");
        sealedRequest.seal();
        ThreadAffinity.pinToAllowed(0);
    }

    /**
     * The demo's request: built for each call.
     *
     * @return the number of parts, read from the response in place
     */
    @Benchmark
    public int builtRequest() {
        try (Outgoing<Body.Builder> request = client.newMessage()) {
            request.root().initGetCacheReq().setFileName("file-1048576");
            try (Received<Body.Reader> received = client.request(request, TIMEOUT)) {
                return received.root().getGetCacheRsp().getFileParts().size();
            }
        }
    }

    /**
     * A request built once, sealed and sent again and again.
     *
     * @return the number of parts, read from the response in place
     */
    @Benchmark
    public int sealedRequest() {
        try (Received<Body.Reader> received = client.request(sealedRequest, TIMEOUT)) {
            return received.root().getGetCacheRsp().getFileParts().size();
        }
    }

    /**
     * A sealed request, its response read in place: the root union's tag.
     *
     * @return the tag's ordinal
     */
    @Benchmark
    public int sealedRequestInPlace() {
        return client.request(sealedRequest, TIMEOUT, ZeroCopyRequestBenchmark::tag);
    }

    /**
     * A sealed request, its response read in place: the number of parts, through the generated getters.
     *
     * @return the number of parts
     */
    @Benchmark
    public int sealedRequestInPlaceParts() {
        return client.request(sealedRequest, TIMEOUT, ZeroCopyRequestBenchmark::parts);
    }

    /**
     * The demo's request, built for each call, its response's parts counted in place, as the demo times it.
     *
     * @return the number of parts
     */
    @Benchmark
    public int builtRequestInPlaceParts() {
        try (Outgoing<Body.Builder> request = client.newMessage()) {
            request.root().initGetCacheReq().setFileName("file-1048576");
            return client.request(request, TIMEOUT, ZeroCopyRequestBenchmark::parts);
        }
    }

    /**
     * {@link #builtRequestInPlaceParts()} after the caches were filled with other data, untimed, as the demo's
     * verification of a response of 1 MiB or more leaves them.
     *
     * @param cold evicts the requesting CPU's caches before each call
     * @return the number of parts
     */
    @Benchmark
    public int builtRequestInPlacePartsCold(final ColdCaches cold) {
        return builtRequestInPlaceParts();
    }

    /**
     * {@link #sealedRequestInPlaceParts()} after the caches were filled with other data, untimed.
     *
     * @param cold evicts the requesting CPU's caches before each call
     * @return the number of parts
     */
    @Benchmark
    public int sealedRequestInPlacePartsCold(final ColdCaches cold) {
        return sealedRequestInPlaceParts();
    }

    /**
     * {@link #sealedRequestInPlaceParts()} after a {@link Quiet} spell: the client spins, touching nothing, and
     * the server's driver spins on the queue, as in the demo while the client verifies a response. What it costs
     * over {@code quietMicros=0}, against what {@link QuietDecayBenchmark} loses over the same spell, shows how
     * much of the demo's slower verifying column is time itself on this machine.
     *
     * @param quiet spins before each call
     * @return the number of parts
     */
    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    public int sealedRequestInPlacePartsAfterQuiet(final Quiet quiet) {
        return sealedRequestInPlaceParts();
    }

    /**
     * Reads 2 MiB of other data before each call, outside the timing: more than the requesting CPU's L2 (1 MiB
     * here), so that the request path's code and data come from L3 or memory, as after the demo's verification.
     */
    @State(Scope.Thread)
    public static class ColdCaches {
        private final long[] lines = new long[(2 << 20) / Long.BYTES];
        /** Where the reads go, so that the compiler keeps them. */
        public long sink;

        /** Touches every cache line of the other data. */
        @Setup(Level.Invocation)
        public void evict() {
            long sum = 0;
            for (int i = 0; i < lines.length; i += 64 / Long.BYTES) {
                sum += lines[i];
            }
            sink += sum;
        }
    }

    private static Integer tag(final Body.Reader root) {
        // Integer.valueOf of an ordinal: cached, no allocation.
        return root.which().ordinal();
    }

    private static Integer parts(final Body.Reader root) {
        // 64 parts for the default size: Integer.valueOf caches it.
        return root.getGetCacheRsp().getFileParts().size();
    }

    /** Closes everything. */
    @TearDown
    public void tearDown() {
        client.close();
        serverChannel.close();
        response.close();
        sealedRequest.close();
        viewOfClient.close();
        viewOfServer.close();
        clientArena.close();
        serverArena.close();
        ThreadAffinity.unpin();
    }
}
