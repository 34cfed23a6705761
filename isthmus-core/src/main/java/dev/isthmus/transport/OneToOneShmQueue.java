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

    private OneToOneShmQueue(final SharedMemory[] split, final ShmQueueOptions options) {
        super(split[0], split[1], options, false, false);
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
     * Creates the queue in two sealed anonymous files: its control page, which both sides write, and its
     * regions, which only the producer writes. The peer gets both as descriptors
     * ({@link #duplicateDescriptor()}, {@link #duplicateDataDescriptor(boolean)}): a consuming peer gets the
     * regions read-only, so the kernel refuses it a writable mapping and a stray write faults in the peer,
     * never silently in this process's ring.
     *
     * @param name    a name for diagnostics
     * @param options capacities, permissions, idle strategy
     * @return the queue, with no role attached yet
     */
    public static OneToOneShmQueue createSplitSealed(final ResourceName name, final ShmQueueOptions options) {
        return new OneToOneShmQueue(createSplitSegments(name, options), options);
    }

    /**
     * Maps a queue the peer created with {@link #createSplitSealed} from its two descriptors, after checking
     * both files' seals and lengths.
     *
     * @param controlFd    the control page's descriptor, owned by the queue from now on (closed if this fails)
     * @param dataFd       the regions' descriptor, likewise; read-only if this side is to consume
     * @param name         the name the peer gave it, for diagnostics
     * @param options      the idle strategy and liveness interval for this side; its max capacity bounds what is
     *                     mapped
     * @param dataWritable whether to map the regions for writing: only the producer does
     * @return the queue, with no role attached yet
     * @throws dev.isthmus.CorruptDataException if a file is not sealed, too large, or not a one-to-one queue
     * @throws dev.isthmus.NativeException      if the regions are to be writable and their descriptor is not
     */
    public static OneToOneShmQueue adoptSplit(final int controlFd, final int dataFd, final ResourceName name,
                                              final ShmQueueOptions options, final boolean dataWritable) {
        return new OneToOneShmQueue(adoptSplitSegments(controlFd, dataFd, name, options, dataWritable), options);
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
