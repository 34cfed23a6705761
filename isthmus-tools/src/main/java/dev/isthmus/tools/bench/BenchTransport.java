/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.bench;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.sync.IdleStrategies;
import dev.isthmus.sync.ThreadAffinity;
import dev.isthmus.transport.BlobChannel;
import dev.isthmus.transport.ShmBlobChannel;
import dev.isthmus.transport.ShmQueueOptions;
import dev.isthmus.transport.UnixSocketBlobChannel;
import dev.isthmus.transport.UnixSocketOptions;
import dev.isthmus.transport.UnixSocketServer;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The transports the benchmarks compare, each with a listening side (in the benchmark process) and a
 * connecting side (in the peer process): Isthmus's shared-memory queue, and the baselines it is measured
 * against in the same run, Unix sockets and Aeron IPC. Every configuration's listening side runs in a fresh JVM
 * of its own ({@link ForkedBench}), so that no configuration is compiled with another's profile; Aeron's two
 * JVMs carry the option Aeron needs ({@link #jvmOptions()}), every other JVM native access only.
 */
public enum BenchTransport {
    /** {@link ShmBlobChannel}: a shared-memory queue per direction, each message published as it is offered. */
    SHM_QUEUE("shm-queue", Kind.ISTHMUS, false, 0),
    /**
     * {@link ShmBlobChannel}, still one message per offer, but published in batches of 16 KiB
     * ({@link ShmQueueOptions#publishBatchBytes()}), the sender flushing at the end of each burst.
     */
    SHM_QUEUE_BATCHED("shm-queue-batched", Kind.ISTHMUS, false, 16384),
    /** {@link UnixSocketBlobChannel}: one write per message. */
    UDS("uds", Kind.KERNEL, false, 0),
    /** {@link UnixSocketBlobChannel}, the client coalescing messages into 64 KiB writes. */
    UDS_BATCHED("uds-batched", Kind.KERNEL, true, 0),
    /**
     * Aeron IPC ({@code aeron:ipc}, Aeron 1.51) through {@link AeronIpcChannel}: one {@code offer} per message,
     * busy-spin waiting.
     */
    AERON_IPC("aeron-ipc", Kind.AERON, false, 0),
    /**
     * Aeron IPC as {@link #AERON_IPC}, with its media driver standalone in a JVM of its own
     * ({@link AeronDriverMain}) instead of embedded in the listening process.
     */
    AERON_IPC_STANDALONE("aeron-ipc-standalone", Kind.AERON, false, 0);

    /** Who provides the transport, which decides how it waits and whether it is a baseline. */
    private enum Kind {
        /** Isthmus's shared-memory queue: waits with an Isthmus idle strategy. */
        ISTHMUS,
        /** The kernel's Unix sockets: wait in the kernel. */
        KERNEL,
        /** Aeron: waits by spinning. */
        AERON
    }

    private static final AtomicInteger IDS = new AtomicInteger();

    private final String alias;
    private final Kind kind;
    private final boolean coalesced;
    private final int publishBatchBytes;

    BenchTransport(final String alias, final Kind kind, final boolean coalesced, final int publishBatchBytes) {
        this.alias = alias;
        this.kind = kind;
        this.coalesced = coalesced;
        this.publishBatchBytes = publishBatchBytes;
    }

    /**
     * {@return the name used on the command line and in reports}
     */
    public String alias() {
        return alias;
    }

    /**
     * {@return whether the client coalesces messages into large blobs (and the server splits them)}
     */
    public boolean coalesced() {
        return coalesced;
    }

    /**
     * {@return whether the sender holds messages back to publish them in batches (coalesced into blobs, or
     * published together)}
     */
    public boolean batched() {
        return coalesced || publishBatchBytes > 0;
    }

    /**
     * {@return whether the transport waits with an idle strategy (shared memory) or in the kernel}
     */
    public boolean usesIdleStrategy() {
        return kind == Kind.ISTHMUS;
    }

    /**
     * {@return whether Isthmus is measured against this transport (it is not Isthmus's own)}
     */
    public boolean baseline() {
        return kind != Kind.ISTHMUS;
    }

    /**
     * {@return how this transport waits, for reports: the idle strategy, {@code kernel} or {@code busy-spin}}
     *
     * @param idle the idle strategy name given to Isthmus's transports
     */
    public String idleLabel(final String idle) {
        return switch (kind) {
            case ISTHMUS -> idle;
            case KERNEL -> "kernel";
            case AERON -> "busy-spin";
        };
    }

    /**
     * {@return the JVM options both sides of this transport need besides native access: none, except Aeron's
     * ({@link AeronIpcChannel#JVM_OPTIONS}, Agrona's one export)}
     */
    public List<String> jvmOptions() {
        return kind == Kind.AERON ? AeronIpcChannel.JVM_OPTIONS : List.of();
    }


    /**
     * {@return the transport with this alias}
     *
     * @param alias e.g. {@code shm-queue}
     */
    public static BenchTransport byAlias(final String alias) {
        return Arrays.stream(values()).filter(t -> t.alias.equals(alias)).findFirst()
            .orElseThrow(() -> new IllegalArgumentException("unknown transport \"" + alias + "\"; known: " + aliases()));
    }

    /**
     * {@return every alias}
     */
    public static List<String> aliases() {
        return Arrays.stream(values()).map(BenchTransport::alias).toList();
    }

    /**
     * Starts the listening side.
     *
     * @param idle the idle strategy name for transports that use one
     * @return the listener
     */
    public Listener listen(final String idle) {
        return switch (this) {
            case SHM_QUEUE, SHM_QUEUE_BATCHED -> {
                final ResourceName name = ResourceName.of("bench", "queue", "b" + IDS.incrementAndGet());
                final ShmBlobChannel channel = ShmBlobChannel.create(name, shmOptions(idle));
                yield new Listener(name.toString(), timeoutNs -> channel, () -> { });
            }
            case UDS, UDS_BATCHED -> {
                final UnixSocketServer server = UnixSocketServer.bind("bench", "b" + IDS.incrementAndGet(),
                    UnixSocketOptions.defaults());
                yield new Listener(server.address().toString(), server::accept, server::close);
            }
            case AERON_IPC -> {
                // The driver's thread must not inherit the benchmark thread's CPU.
                ThreadAffinity.unpin();
                final AeronIpcChannel.Driver driver = AeronIpcChannel.Driver.start();
                yield new Listener(driver.directory(), driver::accept, driver::close);
            }
            case AERON_IPC_STANDALONE -> {
                ThreadAffinity.unpin();
                final AeronIpcChannel.StandaloneDriver driver = AeronIpcChannel.StandaloneDriver.start();
                yield new Listener(driver.directory(), driver::accept, driver::close);
            }
        };
    }

    /**
     * Connects to a listener's address from the peer process.
     *
     * @param address the listener's address
     * @param idle    the idle strategy name
     * @return the channel
     */
    public BlobChannel connect(final String address, final String idle) {
        return switch (this) {
            case SHM_QUEUE, SHM_QUEUE_BATCHED -> ShmBlobChannel.open(ResourceName.parse(address).orElseThrow(), shmOptions(idle));
            case UDS, UDS_BATCHED -> UnixSocketBlobChannel.connect(Path.of(address), TimeUnit.SECONDS.toNanos(30),
                UnixSocketOptions.defaults());
            case AERON_IPC, AERON_IPC_STANDALONE -> AeronIpcChannel.connect(address, TimeUnit.SECONDS.toNanos(30));
        };
    }

    private ShmQueueOptions shmOptions(final String idle) {
        final ShmQueueOptions.Builder builder = ShmQueueOptions.builder().idleStrategy(IdleStrategies.byName(idle))
            .publishBatchBytes(publishBatchBytes);
        final long capacity = Long.getLong(CAPACITY_PROPERTY, 0);
        if (capacity > 0) {
            builder.initialCapacityBytes(capacity).maxCapacityBytes(capacity)
                .maxMessageLengthBytes((int) Math.min(1 << 20, capacity / 4));
        }
        return builder.build();
    }

    /** System property (passed on to the peer) fixing the shared-memory queue's capacity: no growth. */
    static final String CAPACITY_PROPERTY = "isthmus.bench.queueCapacity";

    /** Accepts the peer's connection. */
    @FunctionalInterface
    public interface Acceptor {
        /**
         * {@return the channel to the peer}
         *
         * @param timeoutNs the longest wait
         */
        BlobChannel accept(long timeoutNs);
    }

    /**
     * The listening side.
     *
     * @param address  what the peer connects to
     * @param acceptor accepts the connection
     * @param cleanup  releases what the listener holds besides the channel
     */
    public record Listener(String address, Acceptor acceptor, Runnable cleanup) implements AutoCloseable {
        @Override
        public void close() {
            cleanup.run();
        }
    }
}
