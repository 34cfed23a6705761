/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.stress;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.transport.ManyToOneShmQueue;
import dev.isthmus.transport.OneToOneShmQueue;
import dev.isthmus.transport.ShmQueueOptions;
import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.JCStressTest;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.annotations.State;
import org.openjdk.jcstress.infra.results.III_Result;
import org.openjdk.jcstress.infra.results.II_Result;

import static org.openjdk.jcstress.annotations.Expect.ACCEPTABLE;
import static org.openjdk.jcstress.annotations.Expect.FORBIDDEN;

/**
 * The real shared-memory queues of isthmus-core, through their public API only, over real segments in
 * /dev/shm: a producer actor offers a few messages of varied lengths, a consumer actor polls what is there
 * and checks each message ({@link Messages}). Capacities are small, so records wrap around and pad all the
 * time. Outcome {@code (messages offered, messages polled)}; a negative count is a problem the consumer
 * found ({@link Messages}: -1 torn, -2 lost, -3 duplicated or reordered, -4 unknown producer, -5 an
 * exception), which is forbidden.
 */
public final class QueueStress {
    static final int OFFERS = 4;
    static final int POLL_LIMIT = 16;
    static final String APP = "jcstress";

    private QueueStress() {
    }

    /** A one-to-one queue, its producer and consumer in this JVM, and what each keeps between states. */
    static final class OneToOne extends QueueGenerations.Generation {
        final OneToOneShmQueue queue;
        final OneToOneShmQueue.Producer producer;
        final OneToOneShmQueue.Consumer consumer;
        final Messages.Sender sender;
        final Messages.Checker checker;

        OneToOne(final String kind, final ShmQueueOptions options, final int spread) {
            this.queue = OneToOneShmQueue.create(ResourceName.of(APP, "queue", QueueGenerations.newId(kind)), options);
            this.producer = queue.producer();
            this.consumer = queue.consumer();
            this.sender = new Messages.Sender(0, spread);
            this.checker = new Messages.Checker(1, spread);
        }

        int offer(final int count, final boolean flush) {
            int offered = 0;
            try {
                while (offered < count && producer.offer(sender.buffer, 0, sender.writeNext())) {
                    sender.next++;
                    offered++;
                }
                if (flush) {
                    producer.flush();
                }
            } catch (final RuntimeException e) {
                return Messages.EXCEPTION;
            }
            return offered;
        }

        int poll() {
            try {
                final int polled = consumer.poll(checker, POLL_LIMIT);
                return checker.status == Messages.OK ? polled : checker.status;
            } catch (final RuntimeException e) {
                return Messages.EXCEPTION;
            }
        }

        @Override
        void closeQueues() {
            queue.close();
        }
    }

    /** SPSC with wrap-around and padding: a fixed 4 KiB ring, messages of 8 to 307 bytes. */
    @JCStressTest
    @Outcome(id = "[0-4], [0-9]+", expect = ACCEPTABLE, desc = "Every message polled was intact and in order.")
    @Outcome(expect = FORBIDDEN, desc = "Torn, lost, duplicated or reordered message, or an exception.")
    @State
    public static class OneToOneWrapping {
        static final int SPREAD = 300;
        static final QueueGenerations<OneToOne> QUEUES = new QueueGenerations<>(5_000, () -> new OneToOne("wrap",
            ShmQueueOptions.builder().initialCapacityBytes(4096).maxCapacityBytes(4096).maxMessageLengthBytes(512)
                .build(), SPREAD));
        final OneToOne queue = QUEUES.attach();

        @Actor
        public void producer(final II_Result r) {
            r.r1 = queue.offer(OFFERS, false);
        }

        @Actor
        public void consumer(final II_Result r) {
            r.r2 = queue.poll();
        }

        @Arbiter
        public void done(final II_Result r) {
            QUEUES.detach(queue);
        }
    }

    /** SPSC that grows: 4 KiB at first, up to 64 KiB, a new queue every 300 states so growth keeps happening. */
    @JCStressTest
    @Outcome(id = "[0-4], [0-9]+", expect = ACCEPTABLE, desc = "Every message polled was intact and in order.")
    @Outcome(expect = FORBIDDEN, desc = "Torn, lost, duplicated or reordered message, or an exception.")
    @State
    public static class OneToOneGrowing {
        static final int SPREAD = 1500;
        static final QueueGenerations<OneToOne> QUEUES = new QueueGenerations<>(300, () -> new OneToOne("grow",
            ShmQueueOptions.builder().initialCapacityBytes(4096).maxCapacityBytes(65536).maxMessageLengthBytes(2048)
                .build(), SPREAD));
        final OneToOne queue = QUEUES.attach();

        @Actor
        public void producer(final II_Result r) {
            r.r1 = queue.offer(OFFERS, false);
        }

        @Actor
        public void consumer(final II_Result r) {
            r.r2 = queue.poll();
        }

        @Arbiter
        public void done(final II_Result r) {
            QUEUES.detach(queue);
        }
    }

    /** SPSC with batched publication: records held back until 512 bytes are withheld, or the flush. */
    @JCStressTest
    @Outcome(id = "[0-4], [0-9]+", expect = ACCEPTABLE, desc = "Every message polled was intact and in order.")
    @Outcome(expect = FORBIDDEN, desc = "Torn, lost, duplicated or reordered message, or an exception.")
    @State
    public static class OneToOneBatched {
        static final int SPREAD = 200;
        static final QueueGenerations<OneToOne> QUEUES = new QueueGenerations<>(5_000, () -> new OneToOne("batch",
            ShmQueueOptions.builder().initialCapacityBytes(8192).maxCapacityBytes(8192).maxMessageLengthBytes(512)
                .publishBatchBytes(512).build(), SPREAD));
        final OneToOne queue = QUEUES.attach();

        @Actor
        public void producer(final II_Result r) {
            // Flushes every other state: batches then span states, and some fill up before any flush.
            r.r1 = queue.offer(OFFERS, (queue.sender.next & 4) == 0);
        }

        @Actor
        public void consumer(final II_Result r) {
            r.r2 = queue.poll();
        }

        @Arbiter
        public void done(final II_Result r) {
            QUEUES.detach(queue);
        }
    }

    /** A many-to-one queue with two producers, each through its own queue object, and one consumer. */
    static final class ManyToOne extends QueueGenerations.Generation {
        static final int SPREAD = 300;
        final ManyToOneShmQueue created;
        final ManyToOneShmQueue opened;
        final ManyToOneShmQueue.Producer first;
        final ManyToOneShmQueue.Producer second;
        final ManyToOneShmQueue.Consumer consumer;
        final Messages.Sender firstSender = new Messages.Sender(0, SPREAD);
        final Messages.Sender secondSender = new Messages.Sender(1, SPREAD);
        final Messages.Checker checker = new Messages.Checker(2, SPREAD);

        ManyToOne() {
            final ShmQueueOptions options = ShmQueueOptions.builder().initialCapacityBytes(8192).maxCapacityBytes(8192)
                .maxMessageLengthBytes(512).build();
            final ResourceName name = ResourceName.of(APP, "queue", QueueGenerations.newId("mpsc"));
            this.created = ManyToOneShmQueue.create(name, options);
            this.opened = ManyToOneShmQueue.open(name, options);
            this.first = created.producer();
            this.second = opened.producer();
            this.consumer = created.consumer();
        }

        static int offer(final ManyToOneShmQueue.Producer producer, final Messages.Sender sender) {
            int offered = 0;
            try {
                while (offered < OFFERS && producer.offer(sender.buffer, 0, sender.writeNext())) {
                    sender.next++;
                    offered++;
                }
            } catch (final RuntimeException e) {
                return Messages.EXCEPTION;
            }
            return offered;
        }

        int poll() {
            try {
                final int polled = consumer.poll(checker, POLL_LIMIT);
                return checker.status == Messages.OK ? polled : checker.status;
            } catch (final RuntimeException e) {
                return Messages.EXCEPTION;
            }
        }

        @Override
        void closeQueues() {
            opened.close();
            created.close();
        }
    }

    /**
     * MPSC: each producer's messages arrive in its order, none lost or duplicated, none torn. jcstress runs
     * at most as many actors as there are CPUs (two here), so the second producer's actor also consumes,
     * after its offers: the consumer races the first producer, and the two producers race for the lock.
     */
    @JCStressTest
    @Outcome(id = "[0-4], [0-4], [0-9]+", expect = ACCEPTABLE, desc = "Every message polled was intact and in order.")
    @Outcome(expect = FORBIDDEN, desc = "Torn, lost, duplicated or reordered message, or an exception.")
    @State
    public static class ManyToOneTwoProducers {
        static final QueueGenerations<ManyToOne> QUEUES = new QueueGenerations<>(5_000, ManyToOne::new);
        final ManyToOne queue = QUEUES.attach();

        @Actor
        public void firstProducer(final III_Result r) {
            r.r1 = ManyToOne.offer(queue.first, queue.firstSender);
        }

        @Actor
        public void secondProducerThenConsumer(final III_Result r) {
            r.r2 = ManyToOne.offer(queue.second, queue.secondSender);
            r.r3 = queue.poll();
        }

        @Arbiter
        public void done(final III_Result r) {
            QUEUES.detach(queue);
        }
    }
}
