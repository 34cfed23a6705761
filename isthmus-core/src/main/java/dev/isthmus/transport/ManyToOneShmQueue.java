/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;

import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_COUNT_OFFSET;

/**
 * A shared-memory queue with many producers, in any number of processes, and one consumer: many
 * applications sending to one local daemon.
 *
 * <p>Producers take no lock: each claims room by a compare-and-set of the shared tail, marks its record
 * claimed and commits it by a compare-and-set of its header (see {@link ShmQueueDescriptor}, "Many
 * producers"). A producer that dies between claim and commit stops nobody: the consumer skips its claim as
 * soon as it sees that the claimant's process is gone, and the claim of a producer that stalls there is
 * skipped after {@link ShmQueueOptions#unblockTimeoutNs()}. Messages of one producer arrive in the order it
 * sent them; messages of different producers interleave.
 *
 * <p>The queue does not grow: its one ring has {@link ShmQueueOptions#maxCapacityBytes()} (its pages are
 * faulted in as they are first used, unless pre-faulting is on). The consumer zeroes the room it
 * consumed before handing it back.
 *
 * <p>Producers come and go without ending the queue for the consumer; a closed or dead consumer ends it
 * for every producer. The creator (normally the consumer) removes the name when it closes the queue.
 */
public final class ManyToOneShmQueue extends ShmQueue {
    private ManyToOneShmQueue(final SharedMemory memory, final ShmQueueOptions options, final boolean unlinkOnClose) {
        super(memory, options, true, unlinkOnClose);
    }

    /**
     * Creates the queue's segment, exclusively.
     *
     * @param name    the segment's name, kind {@code queue} by convention
     * @param options capacities, permissions, idle strategy
     * @return the queue, with no role attached yet
     */
    public static ManyToOneShmQueue create(final ResourceName name, final ShmQueueOptions options) {
        return new ManyToOneShmQueue(createSegment(name, options, true), options, true);
    }

    /**
     * Opens a queue another process created.
     *
     * @param name    the segment's name
     * @param options the idle strategy and liveness interval for this side
     * @return the queue, with no role attached yet
     * @throws dev.isthmus.shm.NoSuchResourceException if there is no such queue
     * @throws dev.isthmus.CorruptDataException        if the segment is not a many-to-one queue of this version
     */
    public static ManyToOneShmQueue open(final ResourceName name, final ShmQueueOptions options) {
        return new ManyToOneShmQueue(openSegment(name, options, true), options, false);
    }

    /**
     * {@return how many producers are attached now}
     */
    public int producerCount() {
        return control.get(java.lang.foreign.ValueLayout.JAVA_INT, PRODUCER_COUNT_OFFSET);
    }

    @Override
    Producer newProducer() {
        return new ManyToOneProducer(this);
    }
}
