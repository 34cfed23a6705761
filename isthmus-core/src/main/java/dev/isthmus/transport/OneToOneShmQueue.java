/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;

import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_PID_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_START_TIME_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_STATE_OFFSET;

/**
 * A shared-memory queue with one producer and one consumer, each in its own process (or thread).
 *
 * {@snippet :
 * // process A
 * try (OneToOneShmQueue queue = OneToOneShmQueue.create(ResourceName.of("app", "queue", "q1"), ShmQueueOptions.defaults())) {
 *     OneToOneShmQueue.Producer producer = queue.producer();
 *     producer.offer(bytes, 0, bytes.length);
 * }
 * // process B
 * try (OneToOneShmQueue queue = OneToOneShmQueue.open(name, ShmQueueOptions.defaults())) {
 *     queue.consumer().poll((buffer, offset, length) -> handle(buffer, offset, length), 256, timeoutNs);
 * }
 * }
 *
 * <p>A closed or dead producer ends the queue for the consumer, once it has read everything committed;
 * a closed or dead consumer ends it for the producer.
 */
public final class OneToOneShmQueue extends ShmQueue {
    private OneToOneShmQueue(final SharedMemory memory, final ShmQueueOptions options, final boolean unlinkOnClose) {
        super(memory, options, false, unlinkOnClose);
    }

    /**
     * Creates the queue's segment, exclusively. The creator removes the name when it closes the queue,
     * unless {@link #unlink()} did so earlier.
     *
     * @param name    the segment's name, kind {@code queue} by convention
     * @param options capacities, permissions, idle strategy
     * @return the queue, with no role attached yet
     */
    public static OneToOneShmQueue create(final ResourceName name, final ShmQueueOptions options) {
        return new OneToOneShmQueue(createSegment(name, options, false), options, true);
    }

    /**
     * Opens a queue another process created.
     *
     * @param name    the segment's name
     * @param options the idle strategy and liveness interval for this side (layout values come from the segment)
     * @return the queue, with no role attached yet
     * @throws dev.isthmus.shm.NoSuchResourceException if there is no such queue
     * @throws dev.isthmus.CorruptDataException        if the segment is not a one-to-one queue of this version
     */
    public static OneToOneShmQueue open(final ResourceName name, final ShmQueueOptions options) {
        return new OneToOneShmQueue(openSegment(name, options, false), options, false);
    }

    /**
     * Creates the queue in a sealed anonymous file ({@link SharedMemory.Builder#createSealed()}): it has no
     * name, reaches the peer only as a descriptor ({@link #duplicateDescriptor()}), and the kernel frees it
     * with the last process that maps it.
     *
     * @param name    a name for diagnostics ({@code /proc/<pid>/fd} shows {@code /memfd:<name>})
     * @param options capacities, permissions, idle strategy
     * @return the queue, with no role attached yet
     */
    public static OneToOneShmQueue createSealed(final ResourceName name, final ShmQueueOptions options) {
        return new OneToOneShmQueue(createSegment(name, options, false, true), options, false);
    }

    /**
     * Maps a queue the peer created with {@link #createSealed} and handed over as a descriptor, after
     * checking the file's seals and length (see {@link SharedMemory#adopt}).
     *
     * @param fd      the descriptor, owned by the queue from now on (closed if this fails)
     * @param name    the name the peer gave it, for diagnostics
     * @param options the idle strategy and liveness interval for this side; its max capacity bounds what is mapped
     * @return the queue, with no role attached yet
     * @throws dev.isthmus.CorruptDataException if the file is not sealed, too large, or not a one-to-one queue
     */
    public static OneToOneShmQueue adopt(final int fd, final ResourceName name, final ShmQueueOptions options) {
        return new OneToOneShmQueue(adoptSegment(fd, name, options, false), options, false);
    }

    @Override
    Producer newProducer() {
        claimRole("producer", PRODUCER_PID_OFFSET, PRODUCER_START_TIME_OFFSET, PRODUCER_STATE_OFFSET);
        return new OneToOneProducer(this);
    }
}
