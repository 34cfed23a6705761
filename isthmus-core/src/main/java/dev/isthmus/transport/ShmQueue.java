/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.CorruptDataException;
import dev.isthmus.PeerDeadException;
import dev.isthmus.internal.event.ChannelEvents;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ProcessWatch;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.stat.StatFile;
import dev.isthmus.stat.StatKind;
import dev.isthmus.stat.StatRecord;
import dev.isthmus.sync.Doorbell;
import dev.isthmus.sync.IdleStrategy;

import java.lang.foreign.MemorySegment;
import java.util.Objects;
import java.util.function.BooleanSupplier;

import static dev.isthmus.internal.MemoryAccess.compareAndSetLong;
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
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_HEARTBEAT_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_PID_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_SLOTS;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_SLOTS_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_SLOT_LENGTH;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_START_TIME_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_STATE_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.SLOT_CLAIM_POSITION_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.SLOT_OWNER_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.SPACE_DOORBELL_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.STATE_CLOSED;
import static dev.isthmus.transport.ShmQueueDescriptor.STATE_NONE;
import static dev.isthmus.transport.ShmQueueDescriptor.STATE_OPEN;
import static dev.isthmus.transport.ShmQueueDescriptor.TAIL_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_CLAIMED;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_DATA;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_JUMP;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_PADDING;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_SKIP;
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
 * {@link Consumer}; the two may be used by different threads at once. {@link #close()} and the
 * {@code wakeUp} methods may be called from any thread; a call the close interrupts throws
 * {@link ChannelClosedException}.
 */
public abstract sealed class ShmQueue implements AutoCloseable permits OneToOneShmQueue, ManyToOneShmQueue {
    /** Room always kept free for a jump record, its padding and the zeroed slot after it. */
    static final long JUMP_RESERVE = 64;
    /** A producer that never runs out of room still checks that the consumer lives this often. */
    static final int OFFERS_PER_LIVENESS_CHECK = 4096;
    /**
     * A wait loop whose idle strategy only spins reads the clock (for its deadline and the peer's liveness)
     * once per this many spins: a clock read costs as much as the spin itself.
     */
    static final int SPINS_PER_CLOCK_READ = 16;
    /**
     * The most records other than data one drain walks: a ring of hostile padding, skip or jump records
     * costs a bounded amount of work per call, never a loop.
     */
    static final int MAX_NON_DATA_RECORDS_PER_DRAIN = 64;

    final SharedMemory memory;
    /**
     * The file of the queue's regions (the rings): {@link #memory} itself, or, for a sealed one-to-one
     * queue, a file of its own, so that the consumer can be handed it read-only while both sides write the
     * control page. The consumer of a one-to-one queue never writes a ring.
     */
    final SharedMemory data;
    /**
     * Whether this process has faulted the queue's pages in: done on first use by either role, where
     * {@link ShmQueueOptions#prefault()} asks for it, rather than at creation, so that an idle queue costs
     * no memory. Plain: two roles racing to it both fault the pages in, harmlessly (it never writes).
     */
    private boolean prefaulted;
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
    /**
     * The peer's liveness as a session knows it (bound to its process descriptor), used instead of the pid
     * the peer wrote in the control page, which means nothing from another pid namespace; not owned.
     */
    private volatile ProcessWatch peerWatch;
    private Consumer consumer;
    /**
     * Volatile although written only by {@link #close()}: a thread that fails inside a call because another
     * thread closed the queue reads it to tell that failure from any other ({@link #closedUnderneath}). Never
     * read on the per-message path.
     */
    private volatile boolean closed;

    ShmQueue(final SharedMemory memory, final ShmQueueOptions options, final boolean manyProducers,
             final boolean unlinkOnClose) {
        this(memory, memory, options, manyProducers, unlinkOnClose);
    }

    ShmQueue(final SharedMemory memory, final SharedMemory data, final ShmQueueOptions options,
             final boolean manyProducers, final boolean unlinkOnClose) {
        this.memory = memory;
        this.data = data;
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
        return createSegment(name, options, manyProducers, false);
    }

    static SharedMemory createSegment(final ResourceName name, final ShmQueueOptions options,
                                      final boolean manyProducers, final boolean sealed) {
        // A many-to-one queue does not grow: its one region has the max capacity (its pages are faulted in
        // as they are first used, unless pre-faulting is on).
        final long capacity = manyProducers ? options.maxCapacityBytes() : options.initialCapacityBytes();
        final SharedMemory.Builder builder = SharedMemory.builder(name)
            .lengthBytes(FIRST_REGION_OFFSET + capacity)
            .permissions(options.permissions())
            .directory(options.directory());
        // Not pre-faulted here: each side faults its mapping in on first use (prefaultOnFirstUse), so an idle
        // queue costs no memory.
        final SharedMemory memory = sealed ? builder.createSealed() : builder.create();
        final MemorySegment control = memory.segment();
        control.set(JAVA_INT, VERSION_OFFSET, VERSION);
        control.set(JAVA_INT, FLAGS_OFFSET, manyProducers ? FLAG_MANY_PRODUCERS : 0);
        control.set(JAVA_INT, MAX_MESSAGE_LENGTH_OFFSET, options.maxMessageLengthBytes());
        control.set(JAVA_LONG, INITIAL_CAPACITY_OFFSET, capacity);
        control.set(JAVA_LONG, MAX_CAPACITY_OFFSET, options.maxCapacityBytes());
        // release: publishes the descriptor; pairs with openSegment()'s getLongAcquire(MAGIC).
        putLongRelease(control, MAGIC_OFFSET, MAGIC);
        return memory;
    }

    /** Faults this mapping's pages in the first time a role uses the queue; see {@link #prefaulted}. */
    final void prefaultOnFirstUse() {
        if (!prefaulted) {
            prefaulted = true;
            if (options.prefault()) {
                data.prefault();
            }
        }
    }

    /**
     * Creates a sealed one-to-one queue in two anonymous files: the control page, which both sides write,
     * sealed at its length; and the regions, which only the producer writes, growable, so that the consumer
     * can map them from a read-only descriptor.
     *
     * @return the control file, then the regions' file
     */
    static SharedMemory[] createSplitSegments(final ResourceName name, final ShmQueueOptions options) {
        final long capacity = options.initialCapacityBytes();
        final SharedMemory control = SharedMemory.builder(name).lengthBytes(FIRST_REGION_OFFSET)
            .permissions(options.permissions()).fixedLength().createSealed();
        try {
            // The regions keep their offsets (the first page of this file stays a hole, costing nothing).
            final SharedMemory data = SharedMemory.builder(dataName(name)).lengthBytes(FIRST_REGION_OFFSET + capacity)
                .permissions(options.permissions()).createSealed();
            final MemorySegment page = control.segment();
            page.set(JAVA_INT, VERSION_OFFSET, VERSION);
            page.set(JAVA_INT, FLAGS_OFFSET, 0);
            page.set(JAVA_INT, MAX_MESSAGE_LENGTH_OFFSET, options.maxMessageLengthBytes());
            page.set(JAVA_LONG, INITIAL_CAPACITY_OFFSET, capacity);
            page.set(JAVA_LONG, MAX_CAPACITY_OFFSET, options.maxCapacityBytes());
            // release: publishes the descriptor; pairs with validate()'s getLongAcquire(MAGIC).
            putLongRelease(page, MAGIC_OFFSET, MAGIC);
            return new SharedMemory[] {control, data};
        } catch (final RuntimeException | Error e) {
            control.close();
            throw e;
        }
    }

    /**
     * Maps a split sealed one-to-one queue a peer handed over as two descriptors, after checking both files'
     * seals and lengths: the control page read-write, the regions read-write for the producer and read-only
     * for the consumer (whose descriptor is then read-only too, so it cannot map them otherwise).
     *
     * @return the control file, then the regions' file
     */
    static SharedMemory[] adoptSplitSegments(final int controlFd, final int dataFd, final ResourceName name,
                                             final ShmQueueOptions options, final boolean dataWritable) {
        final SharedMemory control;
        try {
            control = SharedMemory.adopt(controlFd, name, true, FIRST_REGION_OFFSET);
        } catch (final RuntimeException | Error e) {
            dev.isthmus.internal.linux.FileIo.close(dataFd);
            throw e;
        }
        try {
            final SharedMemory data = SharedMemory.adopt(dataFd, dataName(name), dataWritable,
                FIRST_REGION_OFFSET + 2 * options.maxCapacityBytes());
            try {
                validate(control, data, false);
                return new SharedMemory[] {control, data};
            } catch (final RuntimeException | Error e) {
                data.close();
                throw e;
            }
        } catch (final RuntimeException | Error e) {
            control.close();
            throw e;
        }
    }

    private static ResourceName dataName(final ResourceName name) {
        return new ResourceName(name.prefix(), name.app(), name.pid(), name.kind(), name.id() + "-d");
    }

    static SharedMemory openSegment(final ResourceName name, final ShmQueueOptions options,
                                    final boolean manyProducers) {
        return checked(SharedMemory.open(options.directory(), name, true), options, manyProducers);
    }

    /**
     * Maps a queue segment a peer handed over as a sealed descriptor, refusing a file that is not sealed
     * against shrinking or is larger than a queue with this side's max capacity can become.
     */
    static SharedMemory adoptSegment(final int fd, final ResourceName name, final ShmQueueOptions options,
                                     final boolean manyProducers) {
        return checked(SharedMemory.adopt(fd, name, true, FIRST_REGION_OFFSET + 2 * options.maxCapacityBytes()), options,
            manyProducers);
    }

    /** Validates a queue segment another process created; closes it if it is not a queue. */
    private static SharedMemory checked(final SharedMemory memory, final ShmQueueOptions options,
                                        final boolean manyProducers) {
        try {
            validate(memory, manyProducers);
            return memory;
        } catch (final RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    /**
     * {@return a new descriptor of this queue's file, the caller's to close: for handing a sealed queue to
     * its peer}
     */
    public int duplicateDescriptor() {
        return memory.duplicateDescriptor(false);
    }

    /**
     * {@return a new descriptor of this queue's regions file, the caller's to close, for a split sealed
     * queue ({@link #isSplit()}): read-only for the consumer, which then cannot map a byte of it for writing}
     *
     * @param readOnly whether to hand out a read-only descriptor
     * @throws IllegalStateException if the queue is not split
     */
    public int duplicateDataDescriptor(final boolean readOnly) {
        if (!isSplit()) {
            throw new IllegalStateException(what + " keeps its regions in its control file");
        }
        return data.duplicateDescriptor(readOnly);
    }

    /** {@return whether the regions live in a file of their own, apart from the control page} */
    public boolean isSplit() {
        return data != memory;
    }

    private static void validate(final SharedMemory memory, final boolean manyProducers) {
        validate(memory, memory, manyProducers);
    }

    private static void validate(final SharedMemory memory, final SharedMemory data, final boolean manyProducers) {
        final String what = "queue " + memory.path();
        final MemorySegment segment = memory.segment();
        final long dataLength = data.segment().byteSize();
        if (segment.byteSize() < FIRST_REGION_OFFSET || dataLength < FIRST_REGION_OFFSET + MIN_CAPACITY) {
            throw new CorruptDataException(what + " is too short for a queue: " + segment.byteSize() + " bytes"
                + (data != memory ? ", its regions " + dataLength + " bytes" : ""));
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
        if (!isCapacity(initial) || !isCapacity(max) || max < initial || manyProducers && initial != max
            || FIRST_REGION_OFFSET + initial > dataLength) {
            throw new CorruptDataException(what + " declares impossible capacities: initial " + initial + ", max " + max
                + ", regions " + dataLength + " bytes");
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
     * Judges the other process's liveness by {@code watch} from now on, instead of by the pid and start
     * time it wrote in the control page: for a queue whose peer a session has bound to its process (which
     * may live in another pid namespace, where that pid names nothing, or a different process). The watch
     * stays the caller's to close, after this queue.
     *
     * @param watch the peer's watch
     */
    public final void watchPeer(final ProcessWatch watch) {
        this.peerWatch = java.util.Objects.requireNonNull(watch, "watch");
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
            producer = newProducer();
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

    /** Attaches this process as a producer and makes the object that produces. */
    abstract Producer newProducer();

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
     * {@return what a call that failed with {@code failure} throws}: {@link ChannelClosedException} if this
     * queue, or the role that failed, was closed meanwhile, by another thread; {@code failure} itself
     * otherwise.
     *
     * <p>Closing unmaps the queue while another thread may be inside a call: that thread's next access to the
     * memory fails with the FFM runtime's {@link IllegalStateException} ("Already closed"), safely (a shared
     * arena's close is a handshake with every thread), and a liveness check finds the watch closed under it
     * ({@link PeerDeadException}, "its watch was closed"). Both mean only that the call lost a race with
     * {@code close()}. Translating them here, on the error path, keeps the per-message path free of any check.
     *
     * @param failure    what the call threw
     * @param roleClosed whether the producer or consumer that failed was closed (a plain read, good enough on
     *                   this path: it is written before the close that caused the failure)
     */
    final RuntimeException closedUnderneath(final RuntimeException failure, final boolean roleClosed) {
        if ((closed || roleClosed) && (failure instanceof IllegalStateException || failure instanceof PeerDeadException)) {
            return new ChannelClosedException(what + " was closed while this call was in progress", failure);
        }
        return failure;
    }

    /**
     * Closes the roles this process attached (the other side sees them closed) and unmaps the segment.
     * The creator of a queue that is not unlinked yet also removes its name. Idempotent.
     *
     * <p>May be called from any thread, while others are inside calls of the producer or consumer: their
     * waits are woken first, and a call that loses the race with the unmapping throws
     * {@link ChannelClosedException}, as does every call after.
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
            try {
                memory.close();
            } finally {
                if (data != memory) {
                    data.close();
                }
            }
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
    record Region(MemorySegment ring, long fileOffset, long capacity, long base) {
    }

    /** Maps a region, refreshing the mapping if another process grew the file. */
    final Region region(final long fileOffset, final long capacity, final long base) {
        // Regions double in size up to the max: all of them together stay below twice the max, so a file grown
        // beyond that by a peer is never mapped on its word.
        if (fileOffset < FIRST_REGION_OFFSET || (fileOffset & MIN_CAPACITY - 1) != 0 || !isCapacity(capacity)
            || capacity > maxCapacity || fileOffset + capacity > FIRST_REGION_OFFSET + 2 * maxCapacity) {
            throw new CorruptDataException(what + " names an impossible region: offset " + fileOffset + ", capacity "
                + capacity + " (max capacity " + maxCapacity + ")");
        }
        MemorySegment rings = data.segment();
        if (fileOffset + capacity > rings.byteSize()) {
            data.refresh();
            rings = data.segment();
            if (fileOffset + capacity > rings.byteSize()) {
                throw new CorruptDataException(what + " names a region beyond its end: offset " + fileOffset + ", capacity "
                    + capacity + ", segment " + rings.byteSize() + " bytes");
            }
            if (options.prefault()) {
                data.prefault(fileOffset, capacity);
            }
        }
        return new Region(rings.asSlice(fileOffset, capacity), fileOffset, capacity, base);
    }

    /**
     * The producing side of a queue: offers messages, or claims room and commits in place. A one-to-one
     * queue's producer ({@link OneToOneShmQueue}) and a many-to-one queue's ({@link ManyToOneShmQueue})
     * share this API; how they claim room differs.
     *
     * <p>Every source's bounds are checked before room is claimed, and anything that fails between a claim
     * and its commit (a source that turns out to be unreadable, say) aborts the claim: a failed offer leaves
     * the producer usable.
     *
     * <p>Must be used by one thread at a time.
     */
    public abstract static sealed class Producer implements AutoCloseable permits OneToOneProducer, ManyToOneProducer {
        final ShmQueue queue;
        final MemorySegment control;
        final String what;
        final int maxMessageLength;
        final IdleStrategy idle;
        final ProcessIdentity me = ProcessIdentity.current();
        /** Where this producer counts (the send group of a channel's record); private until {@link #stats} attaches one. */
        StatRecord stats = StatFile.privateRecord(StatKind.CHANNEL);
        /** Messages and bytes sent, counted on the path of every message (only through this). */
        StatRecord.Tally sent = stats.tally(StatKind.Channel.MESSAGES_SENT);
        /** Waits for room and the nanoseconds they took, counted on every wait (only through this). */
        StatRecord.Tally waited = stats.tally(StatKind.Channel.BACK_PRESSURE_WAITS);
        int offersUntilLivenessCheck = OFFERS_PER_LIVENESS_CHECK;
        boolean closed;
        /** Where the pending claim's record starts in the ring, or -1 if none is pending. */
        long claimRecord = -1;
        private ProcessWatch consumerWatch;
        private long lastLivenessCheckNs;
        /** Set by {@link #wakeUp()} from any thread: a wait for room checks the consumer's liveness now. */
        private volatile boolean wakeRequested;
        private final BooleanSupplier roomOrWake = () -> wakeRequested || roomOrClosed().getAsBoolean();

        Producer(final ShmQueue queue) {
            this.queue = queue;
            this.control = queue.control;
            this.what = queue.what;
            this.maxMessageLength = queue.maxMessageLength;
            this.idle = queue.options.newIdleStrategy();
        }

        /**
         * Counts what this producer sends into {@code record}'s send group (counters 0 to 15) from now on,
         * and its waits for room and wake-ups of the consumer. Call from the producing thread.
         *
         * @param record the record, e.g. the channel's
         */
        public final void stats(final StatRecord record) {
            stats = Objects.requireNonNull(record, "record");
            sent = record.tally(StatKind.Channel.MESSAGES_SENT);
            waited = record.tally(StatKind.Channel.BACK_PRESSURE_WAITS);
            queue.dataDoorbell.observe(record, -1, StatKind.Channel.RECEIVER_WAKES, what, "shm-queue");
            queue.spaceDoorbell.observe(record, StatKind.Channel.SENDER_SLEEPS, -1, what, "shm-queue");
        }

        /**
         * {@return the largest message}
         */
        public final int maxMessageLength() {
            return maxMessageLength;
        }

        /**
         * Copies a message into the queue if there is room.
         *
         * @param source the memory to copy from
         * @param offset where the message starts
         * @param length its length, 0 to {@link #maxMessageLength()}
         * @return {@code true} if committed, {@code false} if the queue is full at its max capacity
         * @throws IllegalArgumentException  if {@code length} exceeds the max message length
         * @throws IndexOutOfBoundsException if {@code source} does not hold {@code length} bytes at {@code offset}
         * @throws ChannelClosedException    if the consumer closed, or this producer is closed
         * @throws PeerDeadException         if the consumer's process died
         */
        public boolean offer(final MemorySegment source, final long offset, final int length) {
            checkSource(source, offset, length);
            try {
                final long claim = tryClaim(length);
                if (claim < 0) {
                    stats.increment(StatKind.Channel.OFFERS_REFUSED);
                    return false;
                }
                copyAndCommit(source, offset, claim, length);
                return true;
            } catch (final IllegalStateException | PeerDeadException e) {
                throw closedUnderneath(e);
            }
        }

        /**
         * Copies part of an array into the queue if there is room, without allocating.
         *
         * @param source the array
         * @param offset where the message starts
         * @param length its length
         * @return {@code true} if committed, {@code false} if the queue is full at its max capacity
         * @throws IndexOutOfBoundsException if the array does not hold {@code length} bytes at {@code offset}
         */
        public boolean offer(final byte[] source, final int offset, final int length) {
            Objects.checkFromIndexSize(offset, length, source.length);
            try {
                final long claim = tryClaim(length);
                if (claim < 0) {
                    stats.increment(StatKind.Channel.OFFERS_REFUSED);
                    return false;
                }
                copyAndCommit(source, offset, claim, length);
                return true;
            } catch (final IllegalStateException | PeerDeadException e) {
                throw closedUnderneath(e);
            }
        }

        /**
         * Copies a message into the queue, waiting up to {@code timeoutNs} for room.
         *
         * @param source    the memory to copy from
         * @param offset    where the message starts
         * @param length    its length
         * @param timeoutNs how long to wait for room
         * @return {@code true} if committed, {@code false} if there was no room in time
         * @throws IndexOutOfBoundsException if {@code source} does not hold {@code length} bytes at {@code offset}
         */
        public boolean offer(final MemorySegment source, final long offset, final int length, final long timeoutNs) {
            checkSource(source, offset, length);
            try {
                // While there is room, as fast as the offer without a timeout: no clock read, no general claim.
                // Published at once, with anything held back before it, as a claim publishes.
                if (offerFast(source, offset, length)) {
                    flush();
                    return true;
                }
                final long deadline = System.nanoTime() + Math.max(0, timeoutNs);
                long claim;
                while ((claim = tryClaim(length)) < 0) {
                    if (!awaitClaim(length, deadline - System.nanoTime())) {
                        stats.increment(StatKind.Channel.OFFERS_REFUSED);
                        return false;
                    }
                }
                copyAndCommit(source, offset, claim, length);
                return true;
            } catch (final IllegalStateException | PeerDeadException e) {
                throw closedUnderneath(e);
            }
        }

        /**
         * The common case of an offer, where the producer has one: copies and commits the message if there is
         * room and nothing unusual is pending, and returns whether it did. {@code false} sends the caller down
         * the general path, which also reports errors; nothing is counted as refused here.
         *
         * @param source the memory to copy from, already checked to hold the message
         * @param offset where the message starts
         * @param length its length
         * @return whether the message was committed
         */
        boolean offerFast(final MemorySegment source, final long offset, final int length) {
            return false;
        }

        private void copyAndCommit(final MemorySegment source, final long offset, final long claim, final int length) {
            try {
                MemorySegment.copy(source, offset, buffer(), claim, length);
            } catch (final RuntimeException | Error e) {
                abort(claim);
                throw e;
            }
            commit(claim);
        }

        private void copyAndCommit(final byte[] source, final int offset, final long claim, final int length) {
            try {
                MemorySegment.copy(source, offset, buffer(), JAVA_BYTE, claim, length);
            } catch (final RuntimeException | Error e) {
                abort(claim);
                throw e;
            }
            commit(claim);
        }

        final void checkSource(final MemorySegment source, final long offset, final int length) {
            checkLength(length);
            Objects.checkFromIndexSize(offset, length, source.byteSize());
        }

        /**
         * Waits until a claim of {@code length} bytes would succeed, or the timeout elapses.
         *
         * @param length    the message length
         * @param timeoutNs how long to wait
         * @return whether there is room now
         * @throws ChannelClosedException if the consumer closed while waiting
         * @throws PeerDeadException      if the consumer's process died while waiting
         */
        public final boolean awaitClaim(final int length, final long timeoutNs) {
            checkLength(length);
            if (hasRoom(length)) {
                return true;
            }
            final long start = System.nanoTime();
            final ChannelEvents.Stall stall = ChannelEvents.beginStall();
            boolean room = false;
            try {
                room = awaitRoom(length, start, timeoutNs);
                return room;
            } catch (final IllegalStateException | PeerDeadException e) {
                throw closedUnderneath(e);
            } finally {
                waited.add(System.nanoTime() - start);
                ChannelEvents.endStall(stall, what, "shm-queue", room);
            }
        }

        private boolean awaitRoom(final int length, final long start, final long timeoutNs) {
            long now = start;
            final long deadline = now + Math.max(0, timeoutNs);
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
                final boolean slept = idle.idle(queue.spaceDoorbell, roomOrWake,
                    Math.min(remaining, queue.options.livenessCheckIntervalNs()));
                if (wakeRequested) {
                    wakeRequested = false;
                    // closed is written before the wake-up's volatile write that was just read: see close().
                    if (closed) {
                        idle.reset();
                        throw new ChannelClosedException(what + " was closed while this call was in progress");
                    }
                    checkConsumerState();
                    checkConsumer(System.nanoTime());
                }
                if (slept || ++spins == SPINS_PER_CLOCK_READ) {
                    spins = 0;
                    now = System.nanoTime();
                }
            }
            idle.reset();
            return true;
        }

        /**
         * Whether a claim of {@code length} bytes would find room now (or could grow the queue), preparing
         * {@link #roomOrClosed()} to wait for exactly that room.
         */
        abstract boolean hasRoom(int length);

        /** The condition a producer waiting for room sleeps on: the room of the last {@link #hasRoom}, or a close. */
        abstract BooleanSupplier roomOrClosed();

        /**
         * Reserves room for a message of {@code length} bytes, to be written into {@link #buffer()} at the
         * returned offset and published by {@link #commit(long)}.
         *
         * @param length the message length
         * @return the offset of the message in {@link #buffer()}, or {@link BlobChannel#BACK_PRESSURED}
         * @throws IllegalStateException if a claim is pending
         */
        public abstract long tryClaim(int length);

        /**
         * {@return the ring the pending claim points into}
         */
        public abstract MemorySegment buffer();

        /**
         * Publishes the claimed message and wakes the consumer if it sleeps.
         *
         * @param claim the value {@link #tryClaim} returned
         */
        public abstract void commit(long claim);

        /**
         * Gives up the pending claim; nothing is published.
         *
         * @param claim the value {@link #tryClaim} returned
         */
        public abstract void abort(long claim);

        /**
         * Publishes the messages offered but not yet published, if the queue's options
         * {@linkplain ShmQueueOptions#publishBatchBytes() batch publication}; otherwise there are none.
         */
        public abstract void flush();

        /**
         * Closes this producer: a pending claim is aborted, what was offered is published, and the consumer
         * learns of it (a one-to-one queue's consumer sees the close after everything committed; a many-to-one
         * queue stays open for the other producers). May be called from any thread: a wait for room in
         * progress on another thread wakes and throws {@link ChannelClosedException}. Idempotent.
         */
        @Override
        public final void close() {
            if (closed) {
                return;
            }
            closed = true;
            final long record = claimRecord;
            if (record >= 0) {
                try {
                    abort(record + ShmQueueDescriptor.HEADER_LENGTH);
                } catch (final IllegalStateException | ChannelClosedException e) {
                    // Not the pending claim any more: the producing thread committed or aborted it meanwhile, this
                    // close coming from another thread. Nothing is left to abort.
                }
            }
            detach();
            queue.dataDoorbell.ring();
            // Wakes a thread of this process waiting for room, should close() come from another thread: it sees
            // closed (written above, before wakeUp's volatile write) and fails at once, instead of sleeping on in
            // the futex while the queue's close waits to unmap the memory under it.
            wakeUp();
            closeWatch();
        }

        /** {@link ShmQueue#closedUnderneath} for this producer. */
        final RuntimeException closedUnderneath(final RuntimeException failure) {
            return queue.closedUnderneath(failure, closed);
        }

        /** Tells the queue this producer is gone, once; {@link #close()} aborted any pending claim before. */
        abstract void detach();

        /** {@return where the pending claim's record starts}, after checking {@code claim} is that claim's offset */
        final long checkClaim(final long claim) {
            final long record = claimRecord;
            if (record < 0 || claim != record + ShmQueueDescriptor.HEADER_LENGTH) {
                if (closed) {
                    // close() on another thread aborted the claim under this call: a lost race, not a misuse.
                    throw new ChannelClosedException(what + " was closed while this call was in progress");
                }
                throw new IllegalStateException(what + ": claim=" + claim + " is not the pending claim ("
                    + (record < 0 ? "none" : Long.toString(record + ShmQueueDescriptor.HEADER_LENGTH)) + ")");
            }
            return record;
        }

        final void checkLength(final int length) {
            if (length < 0 || length > maxMessageLength) {
                throw new IllegalArgumentException("length=" + length + " exceeds maxMessageLength=" + maxMessageLength
                    + " of " + what);
            }
        }

        /** Throws if this producer is closed or the consumer closed; checks the consumer's life now and then. */
        final void checkUsable() {
            if (closed) {
                throw new ChannelClosedException(what + ": this producer is closed");
            }
            if (!queue.prefaulted) {
                queue.prefaultOnFirstUse();
            }
            // The roles line is written only at attach and close: this read stays in the local cache.
            if (getIntAcquire(control, CONSUMER_STATE_OFFSET) == STATE_CLOSED || --offersUntilLivenessCheck < 0) {
                offersUntilLivenessCheck = OFFERS_PER_LIVENESS_CHECK;
                checkConsumer();
            }
        }

        /** Throws if the consumer closed. */
        final void checkConsumerState() {
            if (getIntVolatile(control, CONSUMER_STATE_OFFSET) == STATE_CLOSED) {
                throw new ChannelClosedException(what + ": the consumer closed");
            }
        }

        /** Throws if the consumer closed or died; rate-limited by the liveness interval. */
        final void checkConsumer() {
            checkConsumerState();
            checkConsumer(System.nanoTime());
        }

        /**
         * Wakes an {@link #awaitClaim} in progress from any thread, to check the consumer's liveness now (a
         * watch {@linkplain ProcessWatch#declareDead declared dead} is believed at once) and go on waiting
         * if it lives.
         */
        public final void wakeUp() {
            // volatile write, then the doorbell's fence and flag read: pairs with the sleeper's announcement and
            // its re-check of roomOrWake (the doorbell's handshake).
            wakeRequested = true;
            try {
                queue.spaceDoorbell.ring();
            } catch (final IllegalStateException e) {
                // Unmapped by a close on another thread: nobody is left waiting here.
                if (!queue.closed) {
                    throw e;
                }
            }
        }

        /** Throws if the consumer died; {@code now} is the clock's time, the check rate-limited by it. */
        final void checkConsumer(final long now) {
            final boolean declared = queue.peerWatch != null && queue.peerWatch.isDeclaredDead();
            if (!declared && now - lastLivenessCheckNs < queue.options.livenessCheckIntervalNs()) {
                return;
            }
            lastLivenessCheckNs = now;
            putLongOpaque(control, PRODUCER_HEARTBEAT_OFFSET, now);
            ProcessWatch watch = queue.peerWatch;
            if (watch == null) {
                watch = consumerWatch;
            }
            if (watch == null) {
                final ProcessIdentity consumerIdentity = queue.identity(CONSUMER_PID_OFFSET, CONSUMER_START_TIME_OFFSET);
                if (consumerIdentity == null) {
                    return;
                }
                watch = consumerWatch = new ProcessWatch(consumerIdentity);
            }
            if (!watch.isAlive()) {
                throw new PeerDeadException(what + ": the consumer (pid " + watch.identity().pid() + ") " + watch.fate());
            }
        }

        /** Releases what the liveness checks hold; for {@link #close()}. */
        private void closeWatch() {
            if (consumerWatch != null) {
                consumerWatch.close();
            }
        }
    }

    /** {@return the value a process writes into a producer slot's owner word: its pid and the low bits of its start time} */
    static long ownerValue(final ProcessIdentity identity) {
        return identity.pid() | (identity.startTimeTicks() & 0xffff_ffffL) << 32;
    }

    /** {@return whether the process an owner word names still runs} */
    static boolean isOwnerAlive(final long ownerValue) {
        final long pid = ownerValue & 0xffff_ffffL;
        final long startLow = ownerValue >>> 32;
        final ProcessIdentity holder = ProcessIdentity.of(pid);
        return holder != null && (holder.startTimeTicks() & 0xffff_ffffL) == startLow && holder.isAlive();
    }

    /** {@return the offset in the control page of producer slot {@code slot}} */
    static long slotOffset(final int slot) {
        return PRODUCER_SLOTS_OFFSET + (long) slot * PRODUCER_SLOT_LENGTH;
    }

    /**
     * The consuming side of a queue: reads messages in place, in batches.
     *
     * <p>Everything it reads from the ring is checked before use: an impossible record (a length beyond
     * the max message or the region, padding where none can be, a jump that does not move forward to a
     * larger region, a record beyond a many-to-one queue's tail) fails this consumer with
     * {@link CorruptDataException}, and one call walks a bounded number of records whatever the ring holds.
     *
     * <p>Must be used by one thread at a time.
     */
    public final class Consumer implements AutoCloseable {
        private IdleStrategy idle = options.newIdleStrategy();
        /** Where this consumer counts (the receive group of a channel's record). */
        private StatRecord stats = StatFile.privateRecord(StatKind.CHANNEL);
        /** Messages and bytes received, counted once per poll (only through this). */
        private StatRecord.Tally received = stats.tally(StatKind.Channel.MESSAGES_RECEIVED);
        /** Set by {@link #wakeUp()} from any thread: a timed poll returns early, after a liveness check. */
        private volatile boolean wakeRequested;
        private final BooleanSupplier dataOrClosed = () -> wakeRequested || hasDataOrProducerClosed();
        private ProcessWatch producerWatch;
        private CorruptDataException corruption;
        private Region region;
        private long head;
        private long lastLivenessCheckNs;
        private boolean closed;
        /** Many producers: the position the consumer has found blocked by an uncommitted claim, or -1. */
        private long blockedPosition = -1;
        private long blockedSinceNs;

        Consumer() {
            region = region(FIRST_REGION_OFFSET, control.get(JAVA_LONG, INITIAL_CAPACITY_OFFSET), 0);
            head = getLongAcquire(control, HEAD_OFFSET);
        }

        /**
         * Counts what this consumer receives into {@code record}'s receive group (counters 16 to 31) from now
         * on, with its sleeps, wake-ups of the producer and corrupt input. Call from the consuming thread.
         *
         * @param record the record, e.g. the channel's
         */
        public void stats(final StatRecord record) {
            stats = Objects.requireNonNull(record, "record");
            received = record.tally(StatKind.Channel.MESSAGES_RECEIVED);
            dataDoorbell.observe(record, StatKind.Channel.RECEIVER_SLEEPS, -1, what, "shm-queue");
            spaceDoorbell.observe(record, -1, StatKind.Channel.SENDER_WAKES, what, "shm-queue");
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
            try {
                final int count = drain(handler, limit);
                if (count == 0) {
                    checkProducer(System.nanoTime());
                }
                return count;
            } catch (final IllegalStateException | PeerDeadException e) {
                throw closedUnderneath(e);
            }
        }

        /** {@link ShmQueue#closedUnderneath} for this consumer. */
        private RuntimeException closedUnderneath(final RuntimeException failure) {
            return ShmQueue.this.closedUnderneath(failure, closed);
        }

        /** {@link #poll(BlobHandler, int)} without the check of the producer when nothing was read. */
        private int drain(final BlobHandler handler, final int limit) {
            if (closed) {
                throw new ChannelClosedException(what + ": this consumer is closed");
            }
            if (!prefaulted) {
                prefaultOnFirstUse();
            }
            if (corruption != null) {
                throw corruption;
            }
            final long start = head;
            long position = start;
            int count = 0;
            long bytes = 0;
            int nonData = 0;
            // Many producers: no record lies beyond the tail. Read again before refusing one: a producer may
            // have claimed and committed since.
            long tailLimit = manyProducers ? getLongVolatile(control, TAIL_OFFSET) : Long.MAX_VALUE;
            try {
                Region r = region;
                MemorySegment ring = r.ring;
                long mask = r.capacity - 1;
                while (count < limit) {
                    final long offset = position - r.base & mask;
                    // acquire: pairs with the producer's release of the header in its commit.
                    final long header = getLongAcquire(ring, offset);
                    if (header == 0) {
                        break;
                    }
                    final int type = (int) (header >>> 32);
                    final int length = (int) header;
                    if (type == TYPE_DATA) {
                        if (length < 0 || length > maxMessageLength || offset + HEADER_LENGTH + length > r.capacity
                            || position + recordLength(length) - tailLimit > 0
                            && position + recordLength(length) - (tailLimit = getLongVolatile(control, TAIL_OFFSET)) > 0) {
                            throw corrupt(header, position);
                        }
                        position += recordLength(length);
                        count++;
                        bytes += length;
                        handler.onBlob(ring, offset + HEADER_LENGTH, length);
                        continue;
                    }
                    if (manyProducers && (type & 0xff) == TYPE_CLAIMED) {
                        break;
                    }
                    if (++nonData > MAX_NON_DATA_RECORDS_PER_DRAIN) {
                        break;
                    }
                    if (type == TYPE_PADDING) {
                        // Padding fills the end of a region after a record that did not fit: never at its start.
                        if (offset == 0 || length != r.capacity - offset - HEADER_LENGTH
                            || position + r.capacity - offset - tailLimit > 0
                            && position + r.capacity - offset - (tailLimit = getLongVolatile(control, TAIL_OFFSET)) > 0) {
                            throw corrupt(header, position);
                        }
                        position += r.capacity - offset;
                    } else if (type == TYPE_SKIP && manyProducers) {
                        if (length < 0 || offset + recordLength(length) > r.capacity
                            || position + recordLength(length) - tailLimit > 0
                            && position + recordLength(length) - (tailLimit = getLongVolatile(control, TAIL_OFFSET)) > 0) {
                            throw corrupt(header, position);
                        }
                        position += recordLength(length);
                    } else if (type == TYPE_JUMP && !manyProducers) {
                        final long fileOffset = ring.get(JAVA_LONG, offset + HEADER_LENGTH);
                        final long nextCapacity = ring.get(JAVA_LONG, offset + HEADER_LENGTH + 8);
                        // A jump moves forward in the file, to a larger region.
                        if (length != 16 || offset + JUMP_RECORD_LENGTH > r.capacity || fileOffset <= r.fileOffset
                            || nextCapacity <= r.capacity) {
                            throw corrupt(header, position);
                        }
                        r = region(fileOffset, nextCapacity, position + JUMP_RECORD_LENGTH);
                        position += JUMP_RECORD_LENGTH;
                        region = r;
                        ring = r.ring;
                        mask = r.capacity - 1;
                    } else {
                        throw corrupt(header, position);
                    }
                }
            } finally {
                if (count != 0) {
                    received.add(count, bytes);
                }
                if (position != start) {
                    if (manyProducers) {
                        zero(start, position);
                    }
                    head = position;
                    // release: the records are read (and, for many producers, zeroed) before their room is handed
                    // back; pairs with the producers' getLongAcquire(HEAD).
                    putLongRelease(control, HEAD_OFFSET, position);
                    spaceDoorbell.ring();
                }
            }
            return count;
        }

        /**
         * Many producers: zeroes what was consumed, so that every header slot reads 0 until a producer claims
         * it (producers mark claims by compare-and-set from 0).
         */
        private void zero(final long from, final long to) {
            final Region r = region;
            final long capacity = r.capacity;
            if (to - from >= capacity) {
                r.ring.fill((byte) 0);
                return;
            }
            final long start = from & capacity - 1;
            final long end = to & capacity - 1;
            if (start < end) {
                r.ring.asSlice(start, end - start).fill((byte) 0);
            } else {
                r.ring.asSlice(start, capacity - start).fill((byte) 0);
                r.ring.asSlice(0, end).fill((byte) 0);
            }
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
            try {
                return awaitAndDrain(handler, limit, timeoutNs);
            } catch (final IllegalStateException | PeerDeadException e) {
                throw closedUnderneath(e);
            }
        }

        private int awaitAndDrain(final BlobHandler handler, final int limit, final long timeoutNs) {
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
                if (wakeRequested) {
                    wakeRequested = false;
                    idle.reset();
                    // closed is written before the wake-up's volatile write that was just read: see close().
                    if (closed) {
                        throw new ChannelClosedException(what + " was closed while this call was in progress");
                    }
                    checkProducer(System.nanoTime());
                    return 0;
                }
                if (slept || ++spins == SPINS_PER_CLOCK_READ) {
                    spins = 0;
                    now = System.nanoTime();
                    checkProducer(now);
                }
            }
        }

        /**
         * Waits with {@code strategy} from now on instead of the one {@link ShmQueueOptions} gave: e.g. a
         * futex sleep for a consumer that should leave its CPU at once, on a queue adopted with options
         * chosen for another. Called by the consuming thread, between polls.
         *
         * @param strategy the strategy, this consumer's alone (strategies keep state)
         */
        public void idleStrategy(final IdleStrategy strategy) {
            idle = java.util.Objects.requireNonNull(strategy, "strategy");
        }

        /**
         * Wakes a timed {@link #poll(BlobHandler, int, long)} in progress (or the next one) from any thread: it
         * returns 0 at once, after checking the producer's liveness without waiting for the liveness
         * interval, so that a watch {@linkplain ProcessWatch#declareDead declared dead} or a closing owner is
         * noticed now rather than at the next slice.
         */
        public void wakeUp() {
            // volatile write, then the doorbell's fence and flag read: pairs with the sleeper's announcement and
            // its re-check of dataOrClosed, which reads wakeRequested (the doorbell's handshake).
            wakeRequested = true;
            try {
                dataDoorbell.ring();
            } catch (final IllegalStateException e) {
                // Unmapped by a close on another thread: nobody is left waiting here.
                if (!ShmQueue.this.closed) {
                    throw e;
                }
            }
        }

        private boolean hasDataOrProducerClosed() {
            final Region r = region;
            // acquire: pairs with the producer's release of the header.
            final long header = getLongAcquire(r.ring, head - r.base & r.capacity - 1);
            if (manyProducers) {
                // A claim not yet committed is no data; its commit rings the doorbell.
                return header != 0 && ((int) (header >>> 32) & 0xff) != TYPE_CLAIMED;
            }
            return header != 0 || getIntVolatile(control, PRODUCER_STATE_OFFSET) == STATE_CLOSED;
        }

        private CorruptDataException corrupt(final long header, final long position) {
            stats.increment(StatKind.Channel.CORRUPT_REFUSED);
            ChannelEvents.corruptInput(what, "shm-queue", "impossible record header 0x" + Long.toHexString(header));
            return corruption = new CorruptDataException(what + ": impossible record header 0x" + Long.toHexString(header)
                + " at position " + position + " (max message length " + maxMessageLength + ", region capacity "
                + region.capacity + ")");
        }

        /**
         * Called when nothing was read: throws if the producer is gone for good; for many producers, skips a
         * claim that blocks the ring.
         *
         * @param now the clock's time; the liveness check is rate-limited by it
         */
        private void checkProducer(final long now) {
            if (manyProducers) {
                if (now - lastLivenessCheckNs >= options.livenessCheckIntervalNs()) {
                    lastLivenessCheckNs = now;
                    putLongOpaque(control, CONSUMER_HEARTBEAT_OFFSET, now);
                    unblockIfStuck(now);
                }
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
            // A watch declared dead is believed at once, whatever the interval: no system call to tell it.
            final boolean declared = peerWatch != null && peerWatch.isDeclaredDead();
            if (!declared && now - lastLivenessCheckNs < options.livenessCheckIntervalNs()) {
                return;
            }
            lastLivenessCheckNs = now;
            putLongOpaque(control, CONSUMER_HEARTBEAT_OFFSET, now);
            ProcessWatch watch = peerWatch;
            if (watch == null) {
                watch = producerWatch;
            }
            if (watch == null) {
                final ProcessIdentity producerIdentity = identity(PRODUCER_PID_OFFSET, PRODUCER_START_TIME_OFFSET);
                if (producerIdentity == null) {
                    return;
                }
                watch = producerWatch = new ProcessWatch(producerIdentity);
            }
            if (!watch.isAlive() && !hasCommittedRecord()) {
                throw new PeerDeadException(what + ": the producer (pid " + watch.identity().pid() + ") " + watch.fate());
            }
        }

        /**
         * Many producers, nothing read: if a claim blocks the head, skips it at once when its producer died,
         * or once it has blocked for {@link ShmQueueOptions#unblockTimeoutNs()}.
         */
        private void unblockIfStuck(final long now) {
            // acquire (volatile): pairs with the producers' CAS of the tail, after they wrote their claim position.
            final long tail = getLongVolatile(control, TAIL_OFFSET);
            final Region r = region;
            final long offset = head & r.capacity - 1;
            final long header = getLongAcquire(r.ring, offset);
            if (tail - head <= 0 || header != 0 && ((int) (header >>> 32) & 0xff) != TYPE_CLAIMED) {
                blockedPosition = -1;
                return;
            }
            if (blockedPosition != head) {
                blockedPosition = head;
                blockedSinceNs = now;
            }
            final boolean claimantDead;
            if (header != 0) {
                final int slot = ((int) (header >>> 32) >>> 8) - 1;
                claimantDead = slot >= 0 && slot < PRODUCER_SLOTS && !isOwnerAlive(getLongVolatile(control,
                    slotOffset(slot) + SLOT_OWNER_OFFSET));
            } else {
                claimantDead = claimantOfHeadDied();
            }
            if (!claimantDead && now - blockedSinceNs < options.unblockTimeoutNs()) {
                return;
            }
            final long skip;
            if (header != 0) {
                final int length = (int) header;
                if (length < 0 || length > maxMessageLength || offset + recordLength(length) > r.capacity) {
                    throw corrupt(header, head);
                }
                skip = recordLength(length);
            } else {
                skip = unmarkedClaimLength(r, offset, tail);
            }
            // CAS from what was seen: a producer that commits (or marks its claim) meanwhile wins, and its record
            // is read as usual. release: pairs with drain's getLongAcquire(header).
            compareAndSetLong(r.ring, offset, header, header(TYPE_SKIP, (int) (skip - HEADER_LENGTH)));
            blockedPosition = -1;
        }

        /** Whether a producer slot says its owner was claiming at the head, and every such owner died. */
        private boolean claimantOfHeadDied() {
            boolean dead = false;
            for (int slot = 0; slot < PRODUCER_SLOTS; slot++) {
                final long owner = getLongVolatile(control, slotOffset(slot) + SLOT_OWNER_OFFSET);
                if (owner != 0 && getLongVolatile(control, slotOffset(slot) + SLOT_CLAIM_POSITION_OFFSET) == head) {
                    if (isOwnerAlive(owner)) {
                        return false;
                    }
                    dead = true;
                }
            }
            return dead;
        }

        /**
         * The length of a claim whose producer never marked it: up to the next non-zero header slot (the next
         * claim's marker or record; the consumer zeroed everything in between), the next position a live
         * producer is claiming at, the tail, or the region's end, whichever comes first.
         */
        private long unmarkedClaimLength(final Region r, final long offset, final long tail) {
            long end = Math.min(r.capacity, offset + (tail - head));
            for (int slot = 0; slot < PRODUCER_SLOTS; slot++) {
                final long owner = getLongVolatile(control, slotOffset(slot) + SLOT_OWNER_OFFSET);
                final long position = getLongVolatile(control, slotOffset(slot) + SLOT_CLAIM_POSITION_OFFSET);
                if (owner != 0 && position - head > 0 && position - head < end - offset && isOwnerAlive(owner)) {
                    end = offset + (position - head);
                }
            }
            long next = offset + HEADER_LENGTH;
            while (next < end && getLongVolatile(r.ring, next) == 0) {
                next += HEADER_LENGTH;
            }
            return next - offset;
        }

        private boolean hasCommittedRecord() {
            final Region r = region;
            return getLongAcquire(r.ring, head - r.base & r.capacity - 1) != 0;
        }

        /**
         * Marks this consumer closed; producers see it at their next offer that finds no room, or at once
         * if they wait. May be called from any thread: a timed poll in progress on another thread wakes and
         * throws {@link ChannelClosedException}. Idempotent.
         */
        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            putIntRelease(control, CONSUMER_STATE_OFFSET, STATE_CLOSED);
            spaceDoorbell.ring();
            // Wakes a thread of this process asleep in a timed poll, should close() come from another thread: it
            // sees closed (written above, before wakeUp's volatile write) and fails at once, instead of sleeping on
            // in the futex while the queue's close waits to unmap the memory under it.
            wakeUp();
            if (producerWatch != null) {
                producerWatch.close();
            }
        }
    }
}
