/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import dev.isthmus.PeerDeadException;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ProcessWatch;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.sync.Doorbell;
import dev.isthmus.sync.IdleStrategy;

import java.lang.foreign.MemorySegment;
import java.util.Objects;
import java.util.function.BooleanSupplier;

import static dev.isthmus.internal.MemoryAccess.compareAndSetLong;
import static dev.isthmus.internal.MemoryAccess.getAndAddInt;
import static dev.isthmus.internal.MemoryAccess.getIntAcquire;
import static dev.isthmus.internal.MemoryAccess.getIntVolatile;
import static dev.isthmus.internal.MemoryAccess.getLongAcquire;
import static dev.isthmus.internal.MemoryAccess.getLongVolatile;
import static dev.isthmus.internal.MemoryAccess.putIntRelease;
import static dev.isthmus.internal.MemoryAccess.putLongOpaque;
import static dev.isthmus.internal.MemoryAccess.putLongRelease;
import static dev.isthmus.transport.ShmQueueDescriptor.CONSUMER_HEARTBEAT_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.CONSUMER_PID_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.CONSUMER_START_TIME_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.CONSUMER_STATE_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.DATA_DOORBELL_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.FIRST_REGION_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.FLAGS_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.FLAG_MANY_PRODUCERS;
import static dev.isthmus.transport.ShmQueueDescriptor.HEADER_LENGTH;
import static dev.isthmus.transport.ShmQueueDescriptor.HEAD_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.INITIAL_CAPACITY_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.JUMP_RECORD_LENGTH;
import static dev.isthmus.transport.ShmQueueDescriptor.MAGIC;
import static dev.isthmus.transport.ShmQueueDescriptor.MAGIC_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.MAX_CAPACITY_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.MAX_MESSAGE_LENGTH_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.MIN_CAPACITY;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_COUNT_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_HEARTBEAT_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_LOCK_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_PID_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_START_TIME_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_STATE_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.REGION_BASE_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.REGION_CAPACITY_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.REGION_OFFSET_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.SPACE_DOORBELL_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.STATE_CLOSED;
import static dev.isthmus.transport.ShmQueueDescriptor.STATE_NONE;
import static dev.isthmus.transport.ShmQueueDescriptor.STATE_OPEN;
import static dev.isthmus.transport.ShmQueueDescriptor.TAIL_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_DATA;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_JUMP;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_PADDING;
import static dev.isthmus.transport.ShmQueueDescriptor.VERSION;
import static dev.isthmus.transport.ShmQueueDescriptor.VERSION_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.header;
import static dev.isthmus.transport.ShmQueueDescriptor.recordLength;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A queue of variable-length messages in a shared-memory segment, from producers in one or more
 * processes to a consumer in another: the layout is in {@link ShmQueueDescriptor}.
 *
 * <p>A process {@linkplain #producer() attaches as producer} or {@linkplain #consumer() as consumer}.
 * The producer copies (or writes in place) each message into a ring and commits it with one release
 * store; the consumer reads records in place, in batches, and publishes how far it has read once per
 * batch. Neither side makes a system call while the other is awake: a side that waits spins, then
 * announces itself on a {@link Doorbell} and sleeps on a futex, and the other side wakes it only then.
 * When the ring is too full, the producer grows the queue (a larger region appended to the file, which
 * the consumer follows) up to {@link ShmQueueOptions#maxCapacityBytes()}; beyond that it back-pressures.
 *
 * <p>Each side records its process identity in the segment; a side that waits checks the other's at
 * most every {@link ShmQueueOptions#livenessCheckIntervalNs()}, so a peer killed with {@code kill -9} is
 * reported as {@link PeerDeadException}, after everything it committed has been delivered.
 *
 * <p>Thread safety: the {@link Producer} must be used by one thread at a time, and so must the
 * {@link Consumer}; the two may be used by different threads at once.
 */
public abstract sealed class ShmQueue implements AutoCloseable permits OneToOneShmQueue, ManyToOneShmQueue {
    /** Room always kept free for a jump record, its padding and the zeroed slot after it. */
    private static final long JUMP_RESERVE = 64;
    /** A producer that never runs out of room still checks that the consumer lives this often. */
    private static final int OFFERS_PER_LIVENESS_CHECK = 4096;
    /**
     * A wait loop whose idle strategy only spins reads the clock (for its deadline and the peer's liveness)
     * once per this many spins: a clock read costs as much as the spin itself.
     */
    private static final int SPINS_PER_CLOCK_READ = 16;
    /** The longest a producer waits for the lock before checking whether its holder died. */
    private static final long LOCK_CHECK_INTERVAL_NS = 10_000_000L;

    final SharedMemory memory;
    final ShmQueueOptions options;
    final boolean manyProducers;
    final int maxMessageLength;
    final long maxCapacity;
    final MemorySegment control;
    final Doorbell dataDoorbell;
    final Doorbell spaceDoorbell;
    final String what;
    private final boolean unlinkOnClose;
    private Producer producer;
    private Consumer consumer;
    private boolean closed;

    ShmQueue(final SharedMemory memory, final ShmQueueOptions options, final boolean manyProducers,
             final boolean unlinkOnClose) {
        this.memory = memory;
        this.options = options;
        this.manyProducers = manyProducers;
        this.unlinkOnClose = unlinkOnClose;
        this.control = memory.segment().asSlice(0, FIRST_REGION_OFFSET);
        this.maxMessageLength = control.get(JAVA_INT, MAX_MESSAGE_LENGTH_OFFSET);
        this.maxCapacity = control.get(JAVA_LONG, MAX_CAPACITY_OFFSET);
        this.dataDoorbell = new Doorbell(control, DATA_DOORBELL_OFFSET);
        this.spaceDoorbell = new Doorbell(control, SPACE_DOORBELL_OFFSET);
        this.what = "queue " + memory.path();
    }

    static SharedMemory createSegment(final ResourceName name, final ShmQueueOptions options,
                                      final boolean manyProducers) {
        final SharedMemory memory = SharedMemory.builder(name)
            .lengthBytes(FIRST_REGION_OFFSET + options.initialCapacityBytes())
            .permissions(options.permissions())
            .directory(options.directory())
            .prefault(options.prefault())
            .create();
        final MemorySegment control = memory.segment();
        control.set(JAVA_INT, VERSION_OFFSET, VERSION);
        control.set(JAVA_INT, FLAGS_OFFSET, manyProducers ? FLAG_MANY_PRODUCERS : 0);
        control.set(JAVA_INT, MAX_MESSAGE_LENGTH_OFFSET, options.maxMessageLengthBytes());
        control.set(JAVA_LONG, INITIAL_CAPACITY_OFFSET, options.initialCapacityBytes());
        control.set(JAVA_LONG, MAX_CAPACITY_OFFSET, options.maxCapacityBytes());
        control.set(JAVA_LONG, REGION_OFFSET_OFFSET, FIRST_REGION_OFFSET);
        control.set(JAVA_LONG, REGION_CAPACITY_OFFSET, options.initialCapacityBytes());
        // release: publishes the descriptor; pairs with openSegment()'s getLongAcquire(MAGIC).
        putLongRelease(control, MAGIC_OFFSET, MAGIC);
        return memory;
    }

    static SharedMemory openSegment(final ResourceName name, final ShmQueueOptions options,
                                    final boolean manyProducers) {
        final SharedMemory memory = SharedMemory.open(options.directory(), name, true);
        try {
            validate(memory, manyProducers);
            if (options.prefault()) {
                memory.prefault();
            }
            return memory;
        } catch (final RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    private static void validate(final SharedMemory memory, final boolean manyProducers) {
        final String what = "queue " + memory.path();
        final MemorySegment segment = memory.segment();
        if (segment.byteSize() < FIRST_REGION_OFFSET + MIN_CAPACITY) {
            throw new CorruptDataException(what + " is too short for a queue: " + segment.byteSize() + " bytes");
        }
        // acquire: pairs with createSegment()'s putLongRelease(MAGIC).
        final long magic = getLongAcquire(segment, MAGIC_OFFSET);
        if (magic != MAGIC) {
            throw new CorruptDataException(what + " has a wrong queue magic 0x" + Long.toHexString(magic)
                + ", expected 0x" + Long.toHexString(MAGIC) + (magic == 0 ? " (not initialized)" : ""));
        }
        final int version = segment.get(JAVA_INT, VERSION_OFFSET);
        if (version != VERSION) {
            throw new CorruptDataException(what + " has queue layout version " + version + ", this library reads version "
                + VERSION);
        }
        final int flags = segment.get(JAVA_INT, FLAGS_OFFSET);
        if ((flags & ~FLAG_MANY_PRODUCERS) != 0 || ((flags & FLAG_MANY_PRODUCERS) != 0) != manyProducers) {
            throw new CorruptDataException(what + " has flags 0x" + Integer.toHexString(flags) + ", expected a "
                + (manyProducers ? "many-to-one" : "one-to-one") + " queue");
        }
        final long initial = segment.get(JAVA_LONG, INITIAL_CAPACITY_OFFSET);
        final long max = segment.get(JAVA_LONG, MAX_CAPACITY_OFFSET);
        if (!isCapacity(initial) || !isCapacity(max) || max < initial
            || FIRST_REGION_OFFSET + initial > segment.byteSize()) {
            throw new CorruptDataException(what + " declares impossible capacities: initial " + initial + ", max " + max
                + ", segment " + segment.byteSize() + " bytes");
        }
        final int maxMessage = segment.get(JAVA_INT, MAX_MESSAGE_LENGTH_OFFSET);
        if (maxMessage < 0 || maxMessage > max / 4) {
            throw new CorruptDataException(what + " declares an impossible max message length " + maxMessage);
        }
    }

    private static boolean isCapacity(final long capacity) {
        return capacity >= MIN_CAPACITY && capacity <= ShmQueueDescriptor.MAX_CAPACITY && Long.bitCount(capacity) == 1;
    }

    /**
     * {@return the segment's name}
     */
    public ResourceName name() {
        return memory.name();
    }

    /**
     * {@return the largest message this queue carries}
     */
    public int maxMessageLength() {
        return maxMessageLength;
    }

    /**
     * {@return the capacity beyond which this queue does not grow}
     */
    public long maxCapacity() {
        return maxCapacity;
    }

    /**
     * Attaches this process as a producer. A one-to-one queue admits one producer in its lifetime; a
     * many-to-one queue admits any number, in any process.
     *
     * @return the producer, the same object on every call
     * @throws IllegalStateException if another producer is attached to a one-to-one queue, or this queue is closed
     */
    public synchronized Producer producer() {
        checkNotClosed();
        if (producer == null) {
            attachProducer();
            producer = new Producer();
        }
        return producer;
    }

    /**
     * Attaches this process as the consumer; a queue admits one consumer in its lifetime.
     *
     * @return the consumer, the same object on every call
     * @throws IllegalStateException if another consumer is attached, or this queue is closed
     */
    public synchronized Consumer consumer() {
        checkNotClosed();
        if (consumer == null) {
            claimRole("consumer", CONSUMER_PID_OFFSET, CONSUMER_START_TIME_OFFSET, CONSUMER_STATE_OFFSET);
            consumer = new Consumer();
        }
        return consumer;
    }

    abstract void attachProducer();

    /** Marks a role taken by this process; fails if another process took it. */
    final void claimRole(final String role, final int pidOffset, final int startTimeOffset, final int stateOffset) {
        final ProcessIdentity me = ProcessIdentity.current();
        // The state word is the lock that makes the claim exclusive: NONE -> OPEN once.
        if (!dev.isthmus.internal.MemoryAccess.compareAndSetInt(control, stateOffset, STATE_NONE, STATE_OPEN)) {
            final int pid = control.get(JAVA_INT, pidOffset);
            throw new IllegalStateException(what + " already has a " + role + " (pid " + pid + ", state "
                + stateName(getIntVolatile(control, stateOffset)) + ")");
        }
        control.set(JAVA_LONG, startTimeOffset, me.startTimeTicks());
        // release: the identity is complete before the pid that readers check; pairs with identity()'s acquire.
        putIntRelease(control, pidOffset, (int) me.pid());
    }

    /** {@return the identity recorded at the given offsets, or {@code null} if none is recorded yet} */
    final ProcessIdentity identity(final int pidOffset, final int startTimeOffset) {
        // acquire: pairs with claimRole()'s putIntRelease(pid).
        final int pid = getIntAcquire(control, pidOffset);
        return pid == 0 ? null : new ProcessIdentity(pid, control.get(JAVA_LONG, startTimeOffset));
    }

    private static String stateName(final int state) {
        return switch (state) {
            case STATE_NONE -> "none";
            case STATE_OPEN -> "open";
            case STATE_CLOSED -> "closed";
            default -> "corrupt " + state;
        };
    }

    private void checkNotClosed() {
        if (closed) {
            throw new IllegalStateException(what + " is closed");
        }
    }

    /**
     * Closes the roles this process attached (the other side sees them closed) and unmaps the segment.
     * The creator of a queue that is not unlinked yet also removes its name. Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (producer != null) {
                producer.close();
            }
            if (consumer != null) {
                consumer.close();
            }
        } finally {
            if (unlinkOnClose) {
                memory.unlink();
            }
            memory.close();
        }
    }

    /**
     * Removes the segment's name; processes that mapped it keep using it, and nobody else can open it.
     * Idempotent.
     */
    public void unlink() {
        memory.unlink();
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "{" + memory.path() + "}";
    }

    /** The region a side reads or writes: a ring inside the file. */
    private record Region(MemorySegment ring, long fileOffset, long capacity, long base) {
    }

    /** Maps a region, refreshing the mapping if another process grew the file. */
    final Region region(final long fileOffset, final long capacity, final long base) {
        if (fileOffset < FIRST_REGION_OFFSET || (fileOffset & MIN_CAPACITY - 1) != 0 || !isCapacity(capacity)
            || capacity > maxCapacity) {
            throw new CorruptDataException(what + " names an impossible region: offset " + fileOffset + ", capacity "
                + capacity + " (max capacity " + maxCapacity + ")");
        }
        MemorySegment data = memory.segment();
        if (fileOffset + capacity > data.byteSize()) {
            memory.refresh();
            data = memory.segment();
            if (fileOffset + capacity > data.byteSize()) {
                throw new CorruptDataException(what + " names a region beyond its end: offset " + fileOffset + ", capacity "
                    + capacity + ", segment " + data.byteSize() + " bytes");
            }
            if (options.prefault()) {
                memory.prefault(fileOffset, capacity);
            }
        }
        return new Region(data.asSlice(fileOffset, capacity), fileOffset, capacity, base);
    }

    /**
     * The producing side of a queue: offers messages, or claims room and commits in place.
     *
     * <p>Must be used by one thread at a time.
     */
    public final class Producer implements AutoCloseable {
        private final IdleStrategy idle = options.newIdleStrategy();
        private final BooleanSupplier roomOrClosed = this::hasRoomOrClosed;
        private int offersUntilLivenessCheck = OFFERS_PER_LIVENESS_CHECK;
        private ProcessWatch consumerWatch;
        private final ProcessIdentity me = ProcessIdentity.current();
        private final long lockValue = manyProducers ? lockValue(me) : 0;
        private Region region;
        private long tail;
        private long cachedHead;
        private long pendingNeed;
        private long claimRecord = -1;
        private long claimPadding = -1;
        private int claimLength;
        private long lastLivenessCheckNs;
        private boolean closed;
        /** 0, or how many bytes of offered records are withheld before they are published together. */
        private final long publishBatchBytes = manyProducers ? 0 : options.publishBatchBytes();
        /** The ring holding the withheld header of the first unpublished record, or null if none. */
        private MemorySegment withheldRing;
        private long withheldOffset;
        private long withheldHeader;
        private long withheldBytes;

        Producer() {
            if (manyProducers) {
                lock();
                try {
                    loadSharedState();
                } finally {
                    unlock();
                }
            } else {
                region = region(FIRST_REGION_OFFSET, control.get(JAVA_LONG, INITIAL_CAPACITY_OFFSET), 0);
            }
        }

        /**
         * {@return the largest message}
         */
        public int maxMessageLength() {
            return maxMessageLength;
        }

        /**
         * Copies a message into the queue if there is room.
         *
         * @param source the memory to copy from
         * @param offset where the message starts
         * @param length its length, 0 to {@link #maxMessageLength()}
         * @return {@code true} if committed, {@code false} if the queue is full at its max capacity
         * @throws IllegalArgumentException if {@code length} exceeds the max message length
         * @throws ChannelClosedException   if the consumer closed, or this producer is closed
         * @throws PeerDeadException        if the consumer's process died
         */
        public boolean offer(final MemorySegment source, final long offset, final int length) {
            final long record = fastClaim(length);
            if (record >= 0) {
                final MemorySegment ring = region.ring;
                MemorySegment.copy(source, offset, ring, record + HEADER_LENGTH, length);
                fastCommit(ring, record, length);
                return true;
            }
            final long claim = tryClaim(length);
            if (claim < 0) {
                return false;
            }
            MemorySegment.copy(source, offset, region.ring, claim, length);
            commit(claim);
            return true;
        }

        /**
         * The common case of one producer with room and no wrap: returns where the record goes (its next header
         * slot already zeroed), or -1 for the general path ({@link #tryClaim}), which also reports errors.
         */
        private long fastClaim(final int length) {
            if (manyProducers || closed || claimRecord >= 0 || length < 0 || length > maxMessageLength) {
                return -1;
            }
            // The roles line is written only at attach and close: this read stays in the local cache.
            if (--offersUntilLivenessCheck < 0 || getIntAcquire(control, CONSUMER_STATE_OFFSET) == STATE_CLOSED) {
                // Undone: tryClaim counts this offer again, and checks.
                offersUntilLivenessCheck++;
                return -1;
            }
            final Region r = region;
            final long capacity = r.capacity;
            final long t = tail;
            final long record = t - r.base & capacity - 1;
            final long recordLength = recordLength(length);
            final long end = t + recordLength + HEADER_LENGTH + JUMP_RESERVE;
            if (record + recordLength + HEADER_LENGTH + JUMP_RESERVE > capacity
                || end - Math.max(cachedHead, r.base) > capacity) {
                return -1;
            }
            // The header slot after this record reads 0 until the next commit (see claim()).
            r.ring.set(JAVA_LONG, record + recordLength, 0L);
            return record;
        }

        private void fastCommit(final MemorySegment ring, final long record, final int length) {
            final long header = header(TYPE_DATA, length);
            final long recordLength = recordLength(length);
            tail += recordLength;
            if (publishBatchBytes == 0) {
                // release: publishes the payload; pairs with the consumer's getLongAcquire(header).
                putLongRelease(ring, record, header);
                dataDoorbell.ring();
                return;
            }
            if (withheldRing == null) {
                // The consumer stops at this record's zeroed header slot until flush() writes it.
                withheldRing = ring;
                withheldOffset = record;
                withheldHeader = header;
                withheldBytes = recordLength;
            } else {
                // Plain store: the consumer reaches this header only after the withheld one, whose release
                // store in flush() comes later in program order and publishes it along with the payload.
                ring.set(JAVA_LONG, record, header);
                withheldBytes += recordLength;
            }
            if (withheldBytes >= publishBatchBytes) {
                flush();
            }
        }

        /**
         * Publishes the messages offered but not yet published, if the queue's options
         * {@linkplain ShmQueueOptions#publishBatchBytes() batch publication}; otherwise there are none.
         */
        public void flush() {
            final MemorySegment ring = withheldRing;
            if (ring != null) {
                withheldRing = null;
                // release: publishes every record of the batch, payloads and headers, all written before;
                // pairs with the consumer's getLongAcquire(header).
                putLongRelease(ring, withheldOffset, withheldHeader);
                dataDoorbell.ring();
            }
        }

        /**
         * Copies part of an array into the queue if there is room, without allocating.
         *
         * @param source the array
         * @param offset where the message starts
         * @param length its length
         * @return {@code true} if committed, {@code false} if the queue is full at its max capacity
         */
        public boolean offer(final byte[] source, final int offset, final int length) {
            Objects.checkFromIndexSize(offset, length, source.length);
            final long record = fastClaim(length);
            if (record >= 0) {
                final MemorySegment ring = region.ring;
                MemorySegment.copy(source, offset, ring, JAVA_BYTE, record + HEADER_LENGTH, length);
                fastCommit(ring, record, length);
                return true;
            }
            final long claim = tryClaim(length);
            if (claim < 0) {
                return false;
            }
            MemorySegment.copy(source, offset, region.ring, JAVA_BYTE, claim, length);
            commit(claim);
            return true;
        }

        /**
         * Copies a message into the queue, waiting up to {@code timeoutNs} for room.
         *
         * @param source    the memory to copy from
         * @param offset    where the message starts
         * @param length    its length
         * @param timeoutNs how long to wait for room
         * @return {@code true} if committed, {@code false} if there was no room in time
         */
        public boolean offer(final MemorySegment source, final long offset, final int length, final long timeoutNs) {
            final long deadline = System.nanoTime() + Math.max(0, timeoutNs);
            long claim;
            while ((claim = tryClaim(length)) < 0) {
                if (!awaitClaim(length, deadline - System.nanoTime())) {
                    return false;
                }
            }
            MemorySegment.copy(source, offset, region.ring, claim, length);
            commit(claim);
            return true;
        }

        /**
         * Waits until a claim of {@code length} bytes would succeed, or the timeout elapses.
         *
         * @param length    the message length
         * @param timeoutNs how long to wait
         * @return whether there is room now
         */
        boolean awaitClaim(final int length, final long timeoutNs) {
            checkLength(length);
            long now = System.nanoTime();
            final long deadline = now + Math.max(0, timeoutNs);
            pendingNeed = recordLength(length) + HEADER_LENGTH + JUMP_RESERVE;
            int spins = 0;
            while (!hasRoom(length)) {
                checkConsumerState();
                if (spins == 0) {
                    checkConsumer(now);
                }
                final long remaining = deadline - now;
                if (remaining <= 0) {
                    idle.reset();
                    return false;
                }
                final boolean slept =
                    idle.idle(spaceDoorbell, roomOrClosed, Math.min(remaining, options.livenessCheckIntervalNs()));
                if (slept || ++spins == SPINS_PER_CLOCK_READ) {
                    spins = 0;
                    now = System.nanoTime();
                }
            }
            idle.reset();
            return true;
        }

        /**
         * Reserves room for a message of {@code length} bytes, to be written into {@link #buffer()} at the
         * returned offset and published by {@link #commit(long)}.
         *
         * @param length the message length
         * @return the offset of the message in {@link #buffer()}, or {@link BlobChannel#BACK_PRESSURED}
         * @throws IllegalStateException if a claim is pending
         */
        public long tryClaim(final int length) {
            checkLength(length);
            flush();
            if (claimRecord >= 0) {
                throw new IllegalStateException(what + ": a claim is already pending; commit or abort it first");
            }
            if (closed) {
                throw new ChannelClosedException(what + ": this producer is closed");
            }
            // The roles line is written only at attach and close: this read stays in the local cache.
            if (getIntAcquire(control, CONSUMER_STATE_OFFSET) == STATE_CLOSED || --offersUntilLivenessCheck < 0) {
                offersUntilLivenessCheck = OFFERS_PER_LIVENESS_CHECK;
                checkConsumer();
            }
            if (!manyProducers) {
                return claim(length);
            }
            lock();
            try {
                loadSharedState();
                final long claim = claim(length);
                if (claim < 0) {
                    unlock();
                }
                return claim;
            } catch (final RuntimeException | Error e) {
                unlock();
                throw e;
            }
        }

        private long claim(final int length) {
            final long recordLength = recordLength(length);
            while (true) {
                final Region r = region;
                final long capacity = r.capacity;
                final long offset = tail - r.base & capacity - 1;
                final long padding = offset + recordLength > capacity ? capacity - offset : 0;
                final long need = padding + recordLength + HEADER_LENGTH + JUMP_RESERVE;
                if (need <= capacity && fits(need)) {
                    final long record = padding == 0 ? offset : 0;
                    // The header slot after this record must read 0 until the next commit: the consumer stops
                    // there. Plain store, ordered before the commit's release store.
                    r.ring.set(JAVA_LONG, record + recordLength & capacity - 1, 0L);
                    claimRecord = record;
                    claimPadding = padding == 0 ? -1 : offset;
                    claimLength = length;
                    return record + HEADER_LENGTH;
                }
                if (capacity < maxCapacity) {
                    grow(need);
                    continue;
                }
                checkConsumer();
                return BlobChannel.BACK_PRESSURED;
            }
        }

        /**
         * {@return the ring the pending claim points into}
         */
        public MemorySegment buffer() {
            return region.ring;
        }

        /**
         * Publishes the claimed message and wakes the consumer if it sleeps.
         *
         * @param claim the value {@link #tryClaim} returned
         */
        public void commit(final long claim) {
            final long record = checkClaim(claim);
            final MemorySegment ring = region.ring;
            // release: publishes the payload; pairs with the consumer's getLongAcquire(header).
            putLongRelease(ring, record, header(TYPE_DATA, claimLength));
            final long padding = claimPadding;
            if (padding >= 0) {
                // release, after the record at 0: the consumer reaches it only through this padding.
                putLongRelease(ring, padding, header(TYPE_PADDING, (int) (region.capacity - padding - HEADER_LENGTH)));
                tail += region.capacity - padding;
            }
            tail += recordLength(claimLength);
            claimRecord = -1;
            if (manyProducers) {
                storeSharedTail();
                unlock();
            }
            dataDoorbell.ring();
        }

        /**
         * Gives up the pending claim; nothing is published.
         *
         * @param claim the value {@link #tryClaim} returned
         */
        public void abort(final long claim) {
            checkClaim(claim);
            claimRecord = -1;
            if (manyProducers) {
                unlock();
            }
        }

        private long checkClaim(final long claim) {
            final long record = claimRecord;
            if (record < 0 || claim != record + HEADER_LENGTH) {
                throw new IllegalStateException(what + ": claim=" + claim + " is not the pending claim ("
                    + (record < 0 ? "none" : Long.toString(record + HEADER_LENGTH)) + ")");
            }
            return record;
        }

        private void checkLength(final int length) {
            if (length < 0 || length > maxMessageLength) {
                throw new IllegalArgumentException("length=" + length + " exceeds maxMessageLength=" + maxMessageLength
                    + " of " + what);
            }
        }

        /** Whether {@code bytes} from the tail are free, reading the consumer's head only if the cache says no. */
        private boolean fits(final long bytes) {
            final Region r = region;
            if (tail + bytes - Math.max(cachedHead, r.base) <= r.capacity) {
                return true;
            }
            // acquire: pairs with the consumer's putLongRelease(HEAD) after it finished reading.
            cachedHead = getLongAcquire(control, HEAD_OFFSET);
            return tail + bytes - Math.max(cachedHead, r.base) <= r.capacity;
        }

        private boolean hasRoom(final int length) {
            if (manyProducers) {
                lock();
                try {
                    loadSharedState();
                    return hasRoomNow(length);
                } finally {
                    unlock();
                }
            }
            return hasRoomNow(length);
        }

        private boolean hasRoomNow(final int length) {
            final long recordLength = recordLength(length);
            final Region r = region;
            final long offset = tail - r.base & r.capacity - 1;
            final long padding = offset + recordLength > r.capacity ? r.capacity - offset : 0;
            final long need = padding + recordLength + HEADER_LENGTH + JUMP_RESERVE;
            if (need <= r.capacity && fits(need)) {
                return true;
            }
            return r.capacity < maxCapacity;
        }

        private boolean hasRoomOrClosed() {
            final Region r = region;
            // acquire: pairs with the consumer's putLongRelease(HEAD).
            final long head = getLongAcquire(control, HEAD_OFFSET);
            return tail + pendingNeed - Math.max(head, r.base) <= r.capacity
                || getIntVolatile(control, CONSUMER_STATE_OFFSET) == STATE_CLOSED;
        }

        /** Appends a larger region to the file and leaves a jump record to it in the current one. */
        private void grow(final long minimum) {
            long capacity = region.capacity * 2;
            while (capacity < minimum && capacity < maxCapacity) {
                capacity *= 2;
            }
            capacity = Math.min(capacity, maxCapacity);
            memory.refresh();
            final long fileOffset = memory.lengthBytes();
            memory.grow(fileOffset + capacity, options.prefault());
            final Region next = region(fileOffset, capacity, 0);

            // The jump record goes where the next record would; JUMP_RESERVE guarantees the room.
            final Region r = region;
            final long offset = tail - r.base & r.capacity - 1;
            final long padding = offset + JUMP_RECORD_LENGTH > r.capacity ? r.capacity - offset : 0;
            final long record = padding == 0 ? offset : 0;
            r.ring.set(JAVA_LONG, record + HEADER_LENGTH, fileOffset);
            r.ring.set(JAVA_LONG, record + HEADER_LENGTH + 8, capacity);
            // release: publishes the new region's coordinates; pairs with the consumer's acquire of the header.
            putLongRelease(r.ring, record, header(TYPE_JUMP, 16));
            if (padding != 0) {
                putLongRelease(r.ring, offset, header(TYPE_PADDING, (int) (padding - HEADER_LENGTH)));
            }
            tail += padding + JUMP_RECORD_LENGTH;
            region = new Region(next.ring, fileOffset, capacity, tail);
            if (manyProducers) {
                storeSharedTail();
            }
            dataDoorbell.ring();
        }

        /** Throws if the consumer closed. */
        private void checkConsumerState() {
            if (getIntVolatile(control, CONSUMER_STATE_OFFSET) == STATE_CLOSED) {
                throw new ChannelClosedException(what + ": the consumer closed");
            }
        }

        /** Throws if the consumer closed or died; rate-limited by the liveness interval. */
        private void checkConsumer() {
            checkConsumerState();
            checkConsumer(System.nanoTime());
        }

        /** Throws if the consumer died; {@code now} is the clock's time, the check rate-limited by it. */
        private void checkConsumer(final long now) {
            if (now - lastLivenessCheckNs < options.livenessCheckIntervalNs()) {
                return;
            }
            lastLivenessCheckNs = now;
            putLongOpaque(control, PRODUCER_HEARTBEAT_OFFSET, now);
            ProcessWatch watch = consumerWatch;
            if (watch == null) {
                final ProcessIdentity consumerIdentity = identity(CONSUMER_PID_OFFSET, CONSUMER_START_TIME_OFFSET);
                if (consumerIdentity == null) {
                    return;
                }
                watch = consumerWatch = new ProcessWatch(consumerIdentity);
            }
            if (!watch.isAlive()) {
                throw new PeerDeadException(what + ": the consumer (pid " + watch.identity().pid() + ") died");
            }
        }

        // ---- many producers: the lock and the shared tail and region ----

        private void lock() {
            if (compareAndSetLong(control, PRODUCER_LOCK_OFFSET, 0, lockValue)) {
                return;
            }
            long waitStart = System.nanoTime();
            int spins = 0;
            while (true) {
                final long holder = getLongVolatile(control, PRODUCER_LOCK_OFFSET);
                if (holder == 0) {
                    if (compareAndSetLong(control, PRODUCER_LOCK_OFFSET, 0, lockValue)) {
                        return;
                    }
                    continue;
                }
                if ((++spins & 0xff) == 0) {
                    Thread.yield();
                    if (System.nanoTime() - waitStart > LOCK_CHECK_INTERVAL_NS) {
                        waitStart = System.nanoTime();
                        if (!isLockHolderAlive(holder)
                            && compareAndSetLong(control, PRODUCER_LOCK_OFFSET, holder, lockValue)) {
                            recoverAfterDeadHolder();
                            return;
                        }
                    }
                } else {
                    Thread.onSpinWait();
                }
            }
        }

        private void unlock() {
            // release: the tail, region and record writes made under the lock are visible to the next holder,
            // whose compareAndSetLong acquires them.
            putLongRelease(control, PRODUCER_LOCK_OFFSET, 0);
        }

        private void loadSharedState() {
            final long fileOffset = control.get(JAVA_LONG, REGION_OFFSET_OFFSET);
            final Region r = region;
            if (r == null || r.fileOffset != fileOffset) {
                region = region(fileOffset, control.get(JAVA_LONG, REGION_CAPACITY_OFFSET),
                    control.get(JAVA_LONG, REGION_BASE_OFFSET));
            }
            tail = control.get(JAVA_LONG, TAIL_OFFSET);
        }

        private void storeSharedTail() {
            final Region r = region;
            if (control.get(JAVA_LONG, REGION_OFFSET_OFFSET) != r.fileOffset) {
                control.set(JAVA_LONG, REGION_CAPACITY_OFFSET, r.capacity);
                control.set(JAVA_LONG, REGION_BASE_OFFSET, r.base);
                control.set(JAVA_LONG, REGION_OFFSET_OFFSET, r.fileOffset);
            }
            control.set(JAVA_LONG, TAIL_OFFSET, tail);
        }

        /**
         * The previous lock holder died holding the lock: it may have committed records (or a jump) after the
         * shared tail without publishing the tail. Walk committed records from the shared tail to the first
         * unwritten header; anything it wrote but did not commit is overwritten by the next record.
         */
        private void recoverAfterDeadHolder() {
            loadSharedState();
            while (true) {
                final Region r = region;
                final long offset = tail - r.base & r.capacity - 1;
                // acquire: pairs with the dead holder's release of the header, if it got that far.
                final long header = getLongAcquire(r.ring, offset);
                if (header == 0) {
                    break;
                }
                final int type = (int) (header >>> 32);
                final int length = (int) header;
                if (type == TYPE_DATA && length >= 0 && length <= maxMessageLength
                    && offset + recordLength(length) <= r.capacity) {
                    tail += recordLength(length);
                } else if (type == TYPE_PADDING && length == r.capacity - offset - HEADER_LENGTH) {
                    tail += r.capacity - offset;
                } else if (type == TYPE_JUMP && length == 16 && offset + JUMP_RECORD_LENGTH <= r.capacity) {
                    tail += JUMP_RECORD_LENGTH;
                    final Region next = region(r.ring.get(JAVA_LONG, offset + HEADER_LENGTH),
                        r.ring.get(JAVA_LONG, offset + HEADER_LENGTH + 8), tail);
                    region = next;
                } else {
                    throw new CorruptDataException(what + ": impossible record header 0x" + Long.toHexString(header)
                        + " at position " + tail + " left by a dead producer");
                }
            }
            storeSharedTail();
        }

        /**
         * Marks this producer closed; a one-to-one queue's consumer sees the close after reading everything
         * committed. Idempotent.
         */
        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            if (claimRecord >= 0) {
                abort(claimRecord + HEADER_LENGTH);
            }
            flush();
            if (manyProducers) {
                getAndAddInt(control, PRODUCER_COUNT_OFFSET, -1);
            } else {
                // release: everything committed is visible before the close; pairs with the consumer's acquire.
                putIntRelease(control, PRODUCER_STATE_OFFSET, STATE_CLOSED);
            }
            dataDoorbell.ring();
            if (consumerWatch != null) {
                consumerWatch.close();
            }
        }
    }

    static long lockValue(final ProcessIdentity identity) {
        return identity.pid() | (identity.startTimeTicks() & 0xffff_ffffL) << 32;
    }

    static boolean isLockHolderAlive(final long lockValue) {
        final long pid = lockValue & 0xffff_ffffL;
        final long startLow = lockValue >>> 32;
        final ProcessIdentity holder = ProcessIdentity.of(pid);
        return holder != null && (holder.startTimeTicks() & 0xffff_ffffL) == startLow && holder.isAlive();
    }

    /**
     * The consuming side of a queue: reads messages in place, in batches.
     *
     * <p>Must be used by one thread at a time.
     */
    public final class Consumer implements AutoCloseable {
        private final IdleStrategy idle = options.newIdleStrategy();
        private final BooleanSupplier dataOrClosed = this::hasDataOrProducerClosed;
        private ProcessWatch producerWatch;
        private CorruptDataException corruption;
        private Region region;
        private long head;
        private long lastLivenessCheckNs;
        private boolean closed;

        Consumer() {
            region = region(FIRST_REGION_OFFSET, control.get(JAVA_LONG, INITIAL_CAPACITY_OFFSET), 0);
            head = getLongAcquire(control, HEAD_OFFSET);
        }

        /**
         * Hands every committed message, up to {@code limit}, to {@code handler}, then releases their room.
         * Does not wait. If the handler throws, the messages before it and the one it failed on count as
         * consumed.
         *
         * @param handler receives each message, in place
         * @param limit   the most messages to hand over
         * @return how many messages were handed over
         * @throws ChannelClosedException if the producer of a one-to-one queue closed and everything it sent
         *                                was received, or this consumer is closed
         * @throws PeerDeadException      if the producer of a one-to-one queue died and everything it committed
         *                                was received
         * @throws CorruptDataException   if a record is impossible
         */
        public int poll(final BlobHandler handler, final int limit) {
            final int count = drain(handler, limit);
            if (count == 0) {
                checkProducer(System.nanoTime());
            }
            return count;
        }

        /** {@link #poll(BlobHandler, int)} without the check of the producer when nothing was read. */
        private int drain(final BlobHandler handler, final int limit) {
            if (closed) {
                throw new ChannelClosedException(what + ": this consumer is closed");
            }
            if (corruption != null) {
                throw corruption;
            }
            final long start = head;
            long position = start;
            int count = 0;
            try {
                Region r = region;
                MemorySegment ring = r.ring;
                long mask = r.capacity - 1;
                while (count < limit) {
                    final long offset = position - r.base & mask;
                    // acquire: pairs with the producer's putLongRelease(header) in commit().
                    final long header = getLongAcquire(ring, offset);
                    if (header == 0) {
                        break;
                    }
                    final int type = (int) (header >>> 32);
                    final int length = (int) header;
                    if (type == TYPE_DATA) {
                        if (length < 0 || length > maxMessageLength || offset + HEADER_LENGTH + length > r.capacity) {
                            throw corrupt(header, position);
                        }
                        position += recordLength(length);
                        count++;
                        handler.onBlob(ring, offset + HEADER_LENGTH, length);
                    } else if (type == TYPE_PADDING) {
                        if (length != r.capacity - offset - HEADER_LENGTH) {
                            throw corrupt(header, position);
                        }
                        position += r.capacity - offset;
                    } else if (type == TYPE_JUMP) {
                        if (length != 16 || offset + JUMP_RECORD_LENGTH > r.capacity) {
                            throw corrupt(header, position);
                        }
                        r = region(ring.get(JAVA_LONG, offset + HEADER_LENGTH), ring.get(JAVA_LONG, offset + HEADER_LENGTH + 8),
                            position + JUMP_RECORD_LENGTH);
                        position += JUMP_RECORD_LENGTH;
                        region = r;
                        ring = r.ring;
                        mask = r.capacity - 1;
                    } else {
                        throw corrupt(header, position);
                    }
                }
            } finally {
                if (position != start) {
                    head = position;
                    // release: the records are read before their room is handed back; pairs with the producer's
                    // getLongAcquire(HEAD).
                    putLongRelease(control, HEAD_OFFSET, position);
                    spaceDoorbell.ring();
                }
            }
            return count;
        }

        /**
         * Like {@link #poll(BlobHandler, int)}, but waits up to {@code timeoutNs} for the first message.
         *
         * @param handler   receives each message
         * @param limit     the most messages to hand over
         * @param timeoutNs how long to wait
         * @return how many messages were handed over; 0 if none came in time
         */
        public int poll(final BlobHandler handler, final int limit, final long timeoutNs) {
            int count = drain(handler, limit);
            if (count > 0) {
                return count;
            }
            long now = System.nanoTime();
            checkProducer(now);
            final long deadline = now + timeoutNs;
            int spins = 0;
            while (true) {
                final long remaining = deadline - now;
                if (remaining <= 0) {
                    idle.reset();
                    return 0;
                }
                final boolean slept =
                    idle.idle(dataDoorbell, dataOrClosed, Math.min(remaining, options.livenessCheckIntervalNs()));
                count = drain(handler, limit);
                if (count > 0) {
                    idle.reset();
                    return count;
                }
                if (slept || ++spins == SPINS_PER_CLOCK_READ) {
                    spins = 0;
                    now = System.nanoTime();
                    checkProducer(now);
                }
            }
        }

        private boolean hasDataOrProducerClosed() {
            final Region r = region;
            // acquire: pairs with the producer's putLongRelease(header).
            return getLongAcquire(r.ring, head - r.base & r.capacity - 1) != 0
                || !manyProducers && getIntVolatile(control, PRODUCER_STATE_OFFSET) == STATE_CLOSED;
        }

        private CorruptDataException corrupt(final long header, final long position) {
            return corruption = new CorruptDataException(what + ": impossible record header 0x" + Long.toHexString(header)
                + " at position " + position + " (max message length " + maxMessageLength + ", region capacity "
                + region.capacity + ")");
        }

        /**
         * Called when nothing was read: throws if the producer is gone for good.
         *
         * @param now the clock's time; the liveness check is rate-limited by it
         */
        private void checkProducer(final long now) {
            if (manyProducers) {
                return;
            }
            // acquire: pairs with the producer's putIntRelease(STATE_CLOSED) after its last commit.
            final int state = getIntAcquire(control, PRODUCER_STATE_OFFSET);
            if (state == STATE_CLOSED) {
                if (!hasCommittedRecord()) {
                    throw new ChannelClosedException(what + ": the producer closed");
                }
                return;
            }
            if (now - lastLivenessCheckNs < options.livenessCheckIntervalNs()) {
                return;
            }
            lastLivenessCheckNs = now;
            putLongOpaque(control, CONSUMER_HEARTBEAT_OFFSET, now);
            ProcessWatch watch = producerWatch;
            if (watch == null) {
                final ProcessIdentity producerIdentity = identity(PRODUCER_PID_OFFSET, PRODUCER_START_TIME_OFFSET);
                if (producerIdentity == null) {
                    return;
                }
                watch = producerWatch = new ProcessWatch(producerIdentity);
            }
            if (!watch.isAlive() && !hasCommittedRecord()) {
                throw new PeerDeadException(what + ": the producer (pid " + watch.identity().pid() + ") died");
            }
        }

        private boolean hasCommittedRecord() {
            final Region r = region;
            return getLongAcquire(r.ring, head - r.base & r.capacity - 1) != 0;
        }

        /**
         * Marks this consumer closed; producers see it at their next offer that finds no room, or at once
         * if they wait. Idempotent.
         */
        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            putIntRelease(control, CONSUMER_STATE_OFFSET, STATE_CLOSED);
            spaceDoorbell.ring();
            if (producerWatch != null) {
                producerWatch.close();
            }
        }
    }
}
