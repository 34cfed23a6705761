/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.CorruptDataException;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.test.ChildJvm;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the shared-memory queues do beyond the blob-channel contract: growth, many producers, a producer
 * dying while it holds the lock, and corrupt descriptors and records.
 */
class ShmQueueTest {
    private static final AtomicInteger IDS = new AtomicInteger();
    private static final long SECOND_NS = TimeUnit.SECONDS.toNanos(1);

    private static ResourceName newName() {
        return ResourceName.of("queuetest", "queue", "q" + IDS.incrementAndGet());
    }

    private static ShmQueueOptions growing() {
        return ShmQueueOptions.builder().initialCapacityBytes(4096).maxCapacityBytes(1 << 20).maxMessageLengthBytes(4096)
            .build();
    }

    @Test
    void shouldGrowInsteadOfBackPressuringUntilTheMaximum() {
        try (OneToOneShmQueue queue = OneToOneShmQueue.create(newName(), growing()); Arena arena = Arena.ofConfined()) {
            final OneToOneShmQueue.Producer producer = queue.producer();
            final OneToOneShmQueue.Consumer consumer = queue.consumer();
            final MemorySegment message = arena.allocate(4096);
            long sent = 0;
            while (producer.offer(message, 0, writeMessage(message, sent, 4096))) {
                sent++;
            }
            // Filled to (nearly) 1 MiB through 4 KiB -> 8 -> ... -> 1 MiB regions, nothing consumed.
            assertTrue(sent * 200 > 1 << 20, "sent only " + sent + " messages before back-pressure");
            final long[] next = {0};
            final List<String> problems = new ArrayList<>();
            BlobChannelContractTest.drain(new QueueChannel(consumer), next, 300, problems, sent);
            assertEquals(List.of(), problems);
            assertEquals(sent, next[0]);
            assertTrue(producer.offer(message, 0, writeMessage(message, sent, 4096)), "room again after draining");
        }
    }

    @Test
    void shouldHoldOfferedMessagesBackUntilTheBatchFillsOrAFlushOrATimedOffer() {
        final ShmQueueOptions options = growing().toBuilder().publishBatchBytes(256).build();
        try (OneToOneShmQueue queue = OneToOneShmQueue.create(newName(), options)) {
            final OneToOneShmQueue.Producer producer = queue.producer();
            final OneToOneShmQueue.Consumer consumer = queue.consumer();
            final List<Integer> got = new ArrayList<>();
            final BlobHandler collect = (buffer, offset, length) -> got.add(buffer.get(JAVA_INT_UNALIGNED, offset));
            final byte[] message = new byte[24];
            for (int i = 0; i < 3; i++) {
                MemorySegment.ofArray(message).set(JAVA_INT_UNALIGNED, 0, i);
                assertTrue(producer.offer(message, 0, message.length));
            }
            assertEquals(0, consumer.poll(collect, 100), "3 x 32 bytes are below the 256-byte batch");
            producer.flush();
            assertEquals(3, consumer.poll(collect, 100));
            producer.flush();
            assertEquals(0, consumer.poll(collect, 100), "a second flush publishes nothing twice");

            for (int i = 3; i < 11; i++) {
                MemorySegment.ofArray(message).set(JAVA_INT_UNALIGNED, 0, i);
                assertTrue(producer.offer(message, 0, message.length));
            }
            assertEquals(8, consumer.poll(collect, 100), "8 x 32 bytes fill the batch: published without a flush");

            MemorySegment.ofArray(message).set(JAVA_INT_UNALIGNED, 0, 11);
            assertTrue(producer.offer(message, 0, message.length));
            final long claim = producer.tryClaim(4);
            assertEquals(1, consumer.poll(collect, 100), "a claim publishes what was held back first");
            producer.buffer().set(JAVA_INT_UNALIGNED, claim, 12);
            producer.commit(claim);
            assertEquals(1, consumer.poll(collect, 100), "a commit publishes at once");

            for (int i = 13; i < 15; i++) {
                MemorySegment.ofArray(message).set(JAVA_INT_UNALIGNED, 0, i);
                assertTrue(i == 13 ? producer.offer(message, 0, message.length)
                    : producer.offer(MemorySegment.ofArray(message), 0, message.length, SECOND_NS));
            }
            assertEquals(2, consumer.poll(collect, 100), "an offer with a timeout publishes at once, with what was held");

            MemorySegment.ofArray(message).set(JAVA_INT_UNALIGNED, 0, 15);
            assertTrue(producer.offer(message, 0, message.length));
            producer.close();
            assertEquals(1, consumer.poll(collect, 100), "the close publishes what was held back");
            assertThrows(ChannelClosedException.class, () -> consumer.poll(collect, 100));
            assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), got);
        }
    }

    @Test
    void shouldPublishAtOnceToAManyToOneQueueWhateverTheBatchOption() {
        final ShmQueueOptions options = ShmQueueOptions.builder().publishBatchBytes(4096).build();
        try (ManyToOneShmQueue queue = ManyToOneShmQueue.create(newName(), options)) {
            final ManyToOneShmQueue.Consumer consumer = queue.consumer();
            try (ManyToOneShmQueue.Producer producer = queue.producer()) {
                assertTrue(producer.offer(new byte[] {1, 2, 3}, 0, 3));
                assertEquals(1, consumer.poll((buffer, offset, length) -> assertEquals(3, length), 10));
            }
        }
    }

    @Test
    void shouldRejectAnImpossibleBatchSize() {
        for (final int bytes : new int[] {-1, 1, 63, 1024 * 1024 + 1}) {
            final IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ShmQueueOptions.builder().publishBatchBytes(bytes).build());
            assertTrue(e.getMessage().startsWith("publishBatchBytes=" + bytes + " "), e.getMessage());
        }
        assertEquals(64, ShmQueueOptions.builder().publishBatchBytes(64).build().publishBatchBytes());
        assertEquals(0, ShmQueueOptions.defaults().publishBatchBytes());
    }

    @Test
    void shouldFollowGrowthAcrossProcesses() {
        final ResourceName name = newName();
        try (OneToOneShmQueue queue = OneToOneShmQueue.create(name, growing());
             ChildJvm producer = ChildJvm.start(QueueProducerMain.class, name.toString(), "one", "200000", "hold")) {
            final OneToOneShmQueue.Consumer consumer = queue.consumer();
            producer.awaitReady();
            final long[] next = {0};
            final List<String> problems = new ArrayList<>();
            BlobChannelContractTest.drain(new QueueChannel(consumer), next, 300, problems, 200_000);
            assertEquals(List.of(), problems);
            assertEquals(200_000, next[0]);
            producer.awaitLine("SENT", Duration.ofSeconds(60));
            assertTrue(SharedMemory.open(name).lengthBytes() > 4096 + 4096, "the file grew");
            producer.send("close");
            assertThrows(ChannelClosedException.class, () -> consumer.poll((b, o, l) -> { }, 1, 10 * SECOND_NS));
            producer.assertExit(0, Duration.ofSeconds(30));
        }
    }

    @Test
    void shouldMergeManyProducersKeepingEachOnesOrder() {
        final ResourceName name = newName();
        final int producers = 3;
        final int perProducer = 300_000;
        try (ManyToOneShmQueue queue = ManyToOneShmQueue.create(name, ShmQueueOptions.defaults())) {
            final ManyToOneShmQueue.Consumer consumer = queue.consumer();
            final List<ChildJvm> children = new ArrayList<>();
            try {
                for (int p = 0; p < producers; p++) {
                    children.add(ChildJvm.start(QueueProducerMain.class, name.toString(), "many",
                        Integer.toString(perProducer), "close"));
                }
                final Map<Long, Long> nextByPid = new HashMap<>();
                final List<String> problems = new ArrayList<>();
                final long[] total = {0};
                final long deadline = System.nanoTime() + 120 * SECOND_NS;
                while (total[0] < (long) producers * perProducer && System.nanoTime() < deadline) {
                    consumer.poll((buffer, offset, length) -> {
                        final long pid = buffer.get(JAVA_LONG_UNALIGNED, offset + length - 8);
                        final long expected = nextByPid.getOrDefault(pid, 0L);
                        final String problem = TestMessages.verify(buffer, offset, length - 8, expected, 300);
                        if (problem != null && problems.size() < 10) {
                            problems.add("producer " + pid + ": " + problem);
                        }
                        nextByPid.put(pid, expected + 1);
                        total[0]++;
                    }, 4096, SECOND_NS);
                }
                assertEquals(List.of(), problems);
                assertEquals(producers, nextByPid.size());
                nextByPid.values().forEach(count -> assertEquals(perProducer, count));
                for (final ChildJvm child : children) {
                    child.assertExit(0, Duration.ofSeconds(30));
                }
                assertEquals(0, queue.producerCount());
            } finally {
                children.forEach(ChildJvm::close);
            }
        }
    }

    @Test
    void shouldSkipTheClaimOfAProducerKilledBetweenClaimAndCommit() {
        final ResourceName name = newName();
        try (ManyToOneShmQueue queue = ManyToOneShmQueue.create(name, ShmQueueOptions.defaults())) {
            final ManyToOneShmQueue.Consumer consumer = queue.consumer();
            try (ChildJvm claimer = ChildJvm.start(QueueProducerMain.class, name.toString(), "many", "1000", "die-claiming")) {
                claimer.awaitLine("CLAIMED", Duration.ofSeconds(60));
                claimer.kill9();
            }
            final ManyToOneShmQueue.Producer producer = queue.producer();
            assertTrue(producer.offer(new byte[] {1, 2, 3}, 0, 3), "the dead producer's claim blocks no other producer");
            final List<Integer> lengths = new ArrayList<>();
            final long deadline = System.nanoTime() + 30 * SECOND_NS;
            while (lengths.size() < 1001 && System.nanoTime() < deadline) {
                consumer.poll((buffer, offset, length) -> lengths.add(length), 4096, SECOND_NS / 10);
            }
            // 1000 committed messages from the dead producer, its uncommitted claim skipped, then ours.
            assertEquals(1001, lengths.size());
            assertEquals(3, lengths.getLast());
        }
    }

    @Test
    void shouldRejectAQueueWithACorruptDescriptor() {
        final ResourceName name = newName();
        try (OneToOneShmQueue queue = OneToOneShmQueue.create(name, ShmQueueOptions.defaults());
             SharedMemory raw = SharedMemory.open(name)) {
            raw.segment().set(JAVA_LONG, ShmQueueDescriptor.MAGIC_OFFSET, 0x0bad_f00dL);
            CorruptDataException e = assertThrows(CorruptDataException.class,
                () -> OneToOneShmQueue.open(name, ShmQueueOptions.defaults()));
            assertTrue(e.getMessage().contains("wrong queue magic 0xbadf00d"), e.getMessage());

            raw.segment().set(JAVA_LONG, ShmQueueDescriptor.MAGIC_OFFSET, ShmQueueDescriptor.MAGIC);
            raw.segment().set(JAVA_INT, ShmQueueDescriptor.VERSION_OFFSET, 7);
            e = assertThrows(CorruptDataException.class, () -> OneToOneShmQueue.open(name, ShmQueueOptions.defaults()));
            assertTrue(e.getMessage().contains("queue layout version 7"), e.getMessage());

            raw.segment().set(JAVA_INT, ShmQueueDescriptor.VERSION_OFFSET, ShmQueueDescriptor.VERSION);
            e = assertThrows(CorruptDataException.class, () -> ManyToOneShmQueue.open(name, ShmQueueOptions.defaults()));
            assertTrue(e.getMessage().contains("expected a many-to-one queue"), e.getMessage());

            raw.segment().set(JAVA_LONG, ShmQueueDescriptor.MAX_CAPACITY_OFFSET, 12345);
            e = assertThrows(CorruptDataException.class, () -> OneToOneShmQueue.open(name, ShmQueueOptions.defaults()));
            assertTrue(e.getMessage().contains("impossible capacities"), e.getMessage());
        }
    }

    @Test
    void shouldRejectImpossibleRecordsWithoutReadingOutOfBounds() {
        final long[][] records = {
            {ShmQueueDescriptor.header(ShmQueueDescriptor.TYPE_DATA, 5000)},
            {ShmQueueDescriptor.header(ShmQueueDescriptor.TYPE_DATA, -1)},
            {ShmQueueDescriptor.header(ShmQueueDescriptor.TYPE_DATA, 4090)},
            {ShmQueueDescriptor.header(ShmQueueDescriptor.TYPE_PADDING, 10)},
            {ShmQueueDescriptor.header(ShmQueueDescriptor.TYPE_JUMP, 16), 1L << 40, 4096},
            {ShmQueueDescriptor.header(ShmQueueDescriptor.TYPE_JUMP, 16), 4096 + 4096, 3000},
            {ShmQueueDescriptor.header(ShmQueueDescriptor.TYPE_JUMP, 16), 100, 4096},
            {ShmQueueDescriptor.header(ShmQueueDescriptor.TYPE_JUMP, 8), 8192, 4096},
            {ShmQueueDescriptor.header(9, 1)},
        };
        for (final long[] record : records) {
            try (OneToOneShmQueue queue = OneToOneShmQueue.create(newName(), growing())) {
                final OneToOneShmQueue.Consumer consumer = queue.consumer();
                final MemorySegment ring = queue.memory.segment().asSlice(ShmQueueDescriptor.FIRST_REGION_OFFSET, 4096);
                ring.set(JAVA_LONG, 8, record.length > 1 ? record[1] : 0);
                ring.set(JAVA_LONG, 16, record.length > 2 ? record[2] : 0);
                ring.set(JAVA_LONG, 0, record[0]);
                final CorruptDataException e = assertThrows(CorruptDataException.class,
                    () -> consumer.poll((buffer, offset, length) -> { }, 10), Long.toHexString(record[0]));
                assertTrue(e.getMessage().contains(queue.name().toString()), e.getMessage());
                assertThrows(CorruptDataException.class, () -> consumer.poll((buffer, offset, length) -> { }, 10),
                    "the queue stays unusable");
            }
        }
    }

    /**
     * A timed offer with room takes the untimed offer's fast path (no clock read, no general claim), and is
     * still what the general path is: counted, received in order, refused as closed once the consumer has gone.
     */
    @Test
    void shouldOfferWithATimeoutAsTheFastPathDoesWhileThereIsRoomAndRefuseWhenTheConsumerIsGone() {
        try (dev.isthmus.stat.StatRecord stats = dev.isthmus.stat.StatFile.privateRecord(dev.isthmus.stat.StatKind.CHANNEL);
             OneToOneShmQueue queue = OneToOneShmQueue.create(newName(), growing()); Arena arena = Arena.ofConfined()) {
            final OneToOneShmQueue.Producer producer = queue.producer();
            final OneToOneShmQueue.Consumer consumer = queue.consumer();
            producer.stats(stats);
            final MemorySegment message = arena.allocate(300);
            for (long i = 0; i < 1000; i++) {
                final int length = writeMessage(message, i, 300);
                assertTrue(i % 2 == 0 ? producer.offer(message, 0, length, SECOND_NS) : producer.offer(message, 0, length));
                final long[] next = {i};
                final List<String> problems = new ArrayList<>();
                BlobChannelContractTest.drain(new QueueChannel(consumer), next, 300, problems, i + 1);
                assertEquals(List.of(), problems);
            }
            assertEquals(1000, stats.get(dev.isthmus.stat.StatKind.Channel.MESSAGES_SENT));
            assertEquals(0, stats.get(dev.isthmus.stat.StatKind.Channel.OFFERS_REFUSED));
            assertThrows(IndexOutOfBoundsException.class, () -> producer.offer(message, 200, 200, SECOND_NS));
            consumer.close();
            assertThrows(ChannelClosedException.class, () -> producer.offer(message, 0, 8, SECOND_NS));
        }
    }

    @Test
    void shouldAdmitOneConsumerAndOneProducer() {
        final ResourceName name = newName();
        try (OneToOneShmQueue queue = OneToOneShmQueue.create(name, ShmQueueOptions.defaults());
             OneToOneShmQueue other = OneToOneShmQueue.open(name, ShmQueueOptions.defaults())) {
            queue.consumer();
            queue.producer();
            final IllegalStateException e = assertThrows(IllegalStateException.class, other::consumer);
            assertTrue(e.getMessage().contains("already has a consumer (pid " + ProcessHandle.current().pid()),
                e.getMessage());
            assertThrows(IllegalStateException.class, other::producer);
        }
        assertFalse(java.nio.file.Files.exists(SharedMemory.DEFAULT_DIRECTORY.resolve(name.toString())),
            "the creator removes the name when it closes");
    }

    static int writeMessage(final MemorySegment target, final long sequence, final int maxLength) {
        final int length = TestMessages.length(sequence, Math.min(maxLength, 300));
        TestMessages.write(target, 0, sequence, length);
        return length;
    }

    /** A consumer seen as a receive-only channel, to reuse the contract suite's helpers. */
    record QueueChannel(ShmQueue.Consumer consumer) implements BlobChannel {
        @Override
        public int maxMessageLength() {
            return 0;
        }

        @Override
        public boolean offer(final MemorySegment source, final long offset, final int length) {
            throw new UnsupportedOperationException();
        }

        @Override
        public boolean offer(final MemorySegment source, final long offset, final int length, final long timeoutNs) {
            throw new UnsupportedOperationException();
        }

        @Override
        public long tryClaim(final int length) {
            throw new UnsupportedOperationException();
        }

        @Override
        public MemorySegment claimBuffer() {
            throw new UnsupportedOperationException();
        }

        @Override
        public void commit(final long claim) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void abort(final long claim) {
            throw new UnsupportedOperationException();
        }

        @Override
        public int poll(final BlobHandler handler, final int limit) {
            return consumer.poll(handler, limit);
        }

        @Override
        public int poll(final BlobHandler handler, final int limit, final long timeoutNs) {
            return consumer.poll(handler, limit, timeoutNs);
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }

    /**
     * A producer in a child JVM: {@code <queue name> one|many <count> hold|close|die-claiming}. Sends test
     * messages (for {@code many}, each followed by the pid, so the consumer can tell producers apart).
     */
    public static final class QueueProducerMain {
        public static void main(final String[] args) throws Exception {
            final ResourceName name = ResourceName.parse(args[0]).orElseThrow();
            final boolean many = args[1].equals("many");
            final long count = Long.parseLong(args[2]);
            try (ShmQueue queue = many ? ManyToOneShmQueue.open(name, ShmQueueOptions.defaults())
                : OneToOneShmQueue.open(name, ShmQueueOptions.defaults());
                 Arena arena = Arena.ofConfined()) {
                final ShmQueue.Producer producer = queue.producer();
                final MemorySegment message = arena.allocate(300 + 8);
                System.out.println("READY");
                for (long sequence = 0; sequence < count; sequence++) {
                    int length = writeMessage(message, sequence, 300);
                    if (many) {
                        message.set(JAVA_LONG_UNALIGNED, length, ProcessHandle.current().pid());
                        length += 8;
                    }
                    if (!producer.offer(message, 0, length, 30 * SECOND_NS)) {
                        throw new IllegalStateException("no room within 30 s for message " + sequence);
                    }
                }
                System.out.println("SENT " + count);
                switch (args[3]) {
                    case "hold" -> new java.io.BufferedReader(new java.io.InputStreamReader(System.in)).readLine();
                    case "die-claiming" -> {
                        producer.tryClaim(100);
                        System.out.println("CLAIMED");
                        Thread.sleep(600_000);
                    }
                    default -> { }
                }
            }
        }
    }
}
