/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.jmh;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.sync.ThreadAffinity;
import dev.isthmus.transport.BlobHandler;
import dev.isthmus.transport.OneToOneShmQueue;
import dev.isthmus.transport.ShmQueueOptions;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;
import org.openjdk.jmh.infra.Control;
import org.openjdk.jmh.infra.ThreadParams;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Offer and poll on a {@link OneToOneShmQueue}: in one thread (the cost of the code path, no cache-line
 * transfer), and from a producer thread to a consumer thread (throughput with the lines moving between
 * cores), publishing each message at once or in batches. Run with {@code -prof gc} to see the allocation
 * per message: 0 B/op.
 *
 * <p>{@code ./isthmus jmh ShmQueueBenchmark -prof gc}
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@State(Scope.Benchmark)
public class ShmQueueBenchmark {
    private static final AtomicInteger IDS = new AtomicInteger();
    private static final int BATCH = 64;

    /** The message length. */
    @Param({"8", "78", "155"})
    public int length;

    /** {@link ShmQueueOptions#publishBatchBytes()}: 0 publishes each message at once. */
    @Param({"0", "16384"})
    public int publishBatchBytes;

    /** One queue, its producer and consumer, and a source message. */
    public abstract static class Queue {
        OneToOneShmQueue queue;
        OneToOneShmQueue.Producer producer;
        OneToOneShmQueue.Consumer consumer;
        MemorySegment source;
        Arena arena;

        /**
         * Creates the queue.
         *
         * @param benchmark the parameters
         */
        @Setup(Level.Trial)
        public void setUp(final ShmQueueBenchmark benchmark) {
            queue = OneToOneShmQueue.create(ResourceName.of("jmh", "queue", "q" + IDS.incrementAndGet()),
                ShmQueueOptions.builder().initialCapacityBytes(4 << 20).maxCapacityBytes(4 << 20)
                    .publishBatchBytes(benchmark.publishBatchBytes).build());
            producer = queue.producer();
            consumer = queue.consumer();
            arena = Arena.ofShared();
            source = arena.allocate(256);
        }

        /** Removes the queue. */
        @TearDown(Level.Trial)
        public void tearDown() {
            queue.close();
            arena.close();
        }
    }

    /** A queue shared by the producer and consumer threads of a group. */
    @State(Scope.Group)
    public static class SharedQueue extends Queue {
    }

    /** A queue used by one thread. */
    @State(Scope.Thread)
    public static class PrivateQueue extends Queue {
    }

    /**
     * Pins each thread of a producer/consumer pair to a CPU of its own (the producer to the first allowed
     * CPU, the consumer to the second), as the two-process benchmarks do: left to the scheduler, the pair
     * measures wherever the threads happen to land.
     */
    @State(Scope.Thread)
    public static class Pinned {
        /**
         * Pins the calling benchmark thread.
         *
         * @param params which thread of its group this is
         */
        @Setup(Level.Trial)
        public void pin(final ThreadParams params) {
            ThreadAffinity.pinToAllowed(params.getGroupThreadIndex());
        }
    }

    /** Counts received bytes so that the consumer's work is not eliminated. */
    @State(Scope.Thread)
    public static class Sink {
        long bytes;
        final BlobHandler handler = (buffer, offset, length) -> bytes += length;
    }

    /**
     * {@return bytes received} One thread offers a batch of 64 messages, then polls them.
     *
     * @param queue the queue
     * @param sink  the consumer's counter
     */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long offerThenPollOneThread(final PrivateQueue queue, final Sink sink) {
        for (int i = 0; i < BATCH; i++) {
            queue.producer.offer(queue.source, 0, length);
        }
        queue.producer.flush();
        int received = 0;
        while (received < BATCH) {
            received += queue.consumer.poll(sink.handler, BATCH);
        }
        return sink.bytes;
    }

    /**
     * The producer thread of a producer/consumer pair: one operation is one message accepted (waiting for
     * room if the queue is full), so {@code pair:offer} is the pair's throughput in messages; the
     * consumer's {@code pair:poll} counts poll calls, each taking whatever is there.
     *
     * @param queue   the queue
     * @param control tells when the iteration ends, so that a full queue cannot hold this thread
     * @param pinned  this thread on the first CPU
     */
    @Benchmark
    @Group("pair")
    @GroupThreads(1)
    public void offer(final SharedQueue queue, final Control control, final Pinned pinned) {
        while (!queue.producer.offer(queue.source, 0, length) && !control.stopMeasurement) {
            Thread.onSpinWait();
        }
    }

    /**
     * The consumer thread of a producer/consumer pair.
     *
     * @param queue  the queue
     * @param sink   the consumer's counter
     * @param hole   consumes the count
     * @param pinned this thread on the second CPU
     */
    @Benchmark
    @Group("pair")
    @GroupThreads(1)
    public void poll(final SharedQueue queue, final Sink sink, final Blackhole hole, final Pinned pinned) {
        hole.consume(queue.consumer.poll(sink.handler, 4096));
    }
}
