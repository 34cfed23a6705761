/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.NativeException;
import dev.isthmus.PeerDeadException;
import dev.isthmus.internal.linux.Errno;
import dev.isthmus.internal.linux.FileIo;
import dev.isthmus.internal.linux.Platform;
import dev.isthmus.internal.linux.PosixMq;
import dev.isthmus.shm.NoSuchResourceException;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ProcessWatch;
import dev.isthmus.shm.ResourceName;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

import static dev.isthmus.transport.PosixMqDescriptor.CLOSED_MODE_BIT;
import static dev.isthmus.transport.PosixMqDescriptor.CONTROL_LENGTH;
import static dev.isthmus.transport.PosixMqDescriptor.PRIORITY_CLOSE;
import static dev.isthmus.transport.PosixMqDescriptor.PRIORITY_DATA;
import static dev.isthmus.transport.PosixMqDescriptor.PRIORITY_HELLO;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * A {@link BlobChannel} over two POSIX message queues, one per direction: each blob is one message, so
 * the kernel keeps its boundary, and each message costs one system call on each side.
 *
 * {@snippet :
 * // Process A
 * ResourceName base = ResourceName.of("cacheSrv", "mq", "c1");
 * try (PosixMqBlobChannel channel = PosixMqBlobChannel.create(base, PosixMqOptions.defaults())) {
 *     // tell process B the name, e.g. base.toString(), then talk
 * }
 * // Process B
 * try (PosixMqBlobChannel channel = PosixMqBlobChannel.open(ResourceName.parse(name).orElseThrow(),
 *         PosixMqOptions.defaults())) {
 *     channel.offer(request, 0, requestLength, TimeUnit.SECONDS.toNanos(1));
 *     channel.poll((buffer, offset, length) -> handle(buffer, offset, length), 16, TimeUnit.SECONDS.toNanos(1));
 * }
 * }
 *
 * <h2>Queues and their lifetime</h2>
 * The creator makes both queues ({@link PosixMqDescriptor} names them), exclusively and with exactly the
 * mode of {@link PosixMqOptions#permissions()} (the umask is overridden with {@code fchmod} on the queue
 * descriptor), and queues a HELLO carrying its process identity. The opener opens both, reads that HELLO,
 * answers with its own and removes both names ({@code mq_unlink}): from then on the queues live only as
 * long as the two processes keep them open, so a crash leaks nothing. The creator also removes the names
 * when it reads the opener's HELLO (the opener may lack the right to, if it runs as another user), and in
 * any case when it closes; the names of a creator that died before anyone attached are stale resources
 * for {@code isthmus clean}, which can see them only where {@code /dev/mqueue} is mounted.
 *
 * <h2>Limits</h2>
 * The kernel bounds the queues (see {@link PosixMqLimits}): by default 10 messages of at most 8 KiB each,
 * and about 80 KiB of queue memory per user and queue, counted against {@code RLIMIT_MSGQUEUE} (800 KiB by
 * default: four channels per user). {@link #create} checks the shape asked for against the limits before
 * creating anything and explains any refusal. {@link #maxMessageLength()} is the queues' {@code mq_msgsize}.
 *
 * <h2>Back-pressure, waiting and liveness</h2>
 * A full queue makes {@code offer} return {@code false} and {@link #tryClaim} return {@link #BACK_PRESSURED};
 * the variants with a timeout, and {@link #poll(BlobHandler, int, long)}, retry for
 * {@link PosixMqOptions#spinBudgetNs()}, spinning between attempts, then sleep in the kernel
 * ({@code mq_timedsend}, {@code mq_timedreceive}) in slices of at most 100 ms. With only ten slots per
 * queue, a sleeping side is woken for almost every message, which costs tens of microseconds on virtual
 * machines: the retries keep a busy stream out of the kernel's sleep. They spin rather than yield: with
 * other programs keeping the processors busy, every yield would give one of them a whole time slice. Each side
 * learns from its waits: a spin that fails halves the next one, down to none (with a short probe every 64 waits),
 * and a spin that succeeds doubles it back up to the budget. When the processors are all busy the peer is
 * usually not running while this side spins, and the spin only takes the processor it needs: beside two
 * processor-bound programs, a stream of ten million messages (the contract test) takes half the time it took
 * with a fixed spin.
 * Whenever a call finds its queue full or empty it checks, at most once per {@link PosixMqOptions#livenessCheckIntervalNs()}, that the peer's process
 * (pid and start time, from its HELLO; watched through a pidfd, see {@link ProcessWatch}) still runs, and
 * whether the queue was marked closed: if the peer died, the receiver first gets every message it
 * had queued, then {@link PeerDeadException}; a sender waiting for room gets {@link PeerDeadException} at
 * once. An offer that finds room succeeds without checking.
 *
 * <h2>Closing</h2>
 * {@link #close()} queues a CLOSE at a lower priority than data, so the peer receives it after every blob
 * queued before, then {@link ChannelClosedException}. It also marks both queues closed (see
 * {@link PosixMqDescriptor}), so that the close is seen even if the peer's queue had no room for the CLOSE
 * message, and a peer waiting to send to this end learns that nobody will read. Where it may not mark the
 * queues (they belong to another user) and the peer's queue is full, it waits up to
 * {@link PosixMqOptions#closeLingerNs()} for room.
 *
 * <h2>Thread safety and allocation</h2>
 * One thread may send ({@code offer}, {@code tryClaim}, {@code claimBuffer}, {@code commit}, {@code abort})
 * while another receives ({@code poll}); each side is guarded by its own lock, so misuse by more threads
 * is safe but serialised. {@link #close()} may be called from any thread, also from a handler: it waits
 * for a call in progress on the other side to return, which a waiting call does within one slice. In
 * steady state no method allocates: blobs are copied into a per-channel native send buffer and received
 * into a per-channel native receive buffer, which handlers read in place; the liveness and close checks
 * of waiting calls use preallocated memory too.
 */
public final class PosixMqBlobChannel implements BlobChannel {
    /** The longest single sleep in the kernel, so that waits regain control to check liveness and closing. */
    private static final long SLICE_NS = TimeUnit.MILLISECONDS.toNanos(100);
    private static final int NO_CLAIM = -1;

    private final String channelName;
    private final boolean creator;
    private final String upName;
    private final String downName;
    private final int txMqd;
    private final String txName;
    private final int rxMqd;
    private final String rxName;
    private final int maxMessageLength;
    private final int capacity;
    private final long livenessCheckIntervalNs;
    private final long sliceNs;
    private final long closeLingerNs;

    private final Arena arena;
    /** Sending side's memory: the blob being sent or claimed, and the {@code mq_attr} scratch. */
    private final MemorySegment txBuffer;
    private final ByteBuffer txBufferView;
    private final MemorySegment txAttr;
    private final MemorySegment txControl;
    private final MemorySegment txStatx;
    /** Receiving side's memory: the blob being handled, its priority and the {@code mq_attr} scratch. */
    private final MemorySegment rxBuffer;
    private final MemorySegment rxPriority;
    private final MemorySegment rxAttr;
    private final MemorySegment rxStatx;

    private final ReentrantLock sendLock = new ReentrantLock();
    private final ReentrantLock receiveLock = new ReentrantLock();
    private final Object closeLock = new Object();

    /** The peer's process; {@code null} on the creator's side until the opener's HELLO is read. */
    private volatile ProcessIdentity peer;
    /** Watches {@link #peer} through a pidfd, without allocating; set with it, closed by {@link #release()}. */
    private volatile ProcessWatch peerWatch;
    /** The peer's liveness as a session knows it, used instead of {@link #peerWatch}; not owned. */
    private volatile ProcessWatch suppliedWatch;
    /** {@link #close()} has begun: operations stop. */
    private volatile boolean closing;
    /** Descriptors and memory are released. */
    private volatile boolean closed;
    /** The receiving side has seen the peer's close after everything the peer sent. */
    private volatile boolean peerClosed;
    /** The peer's process was seen dead. */
    private volatile boolean peerDead;
    /** The peer marked the incoming queue closed; not every message before it may have been received yet. */
    private volatile boolean peerMarkedClosed;
    /** What was corrupt, once the peer sent something impossible. */
    private volatile String corruption;

    // Sending side only, under sendLock.
    private long txNextLivenessCheckNs;
    private int claimLength = NO_CLAIM;
    private final AdaptiveSpin txSpin;

    // Receiving side only, under receiveLock.
    private long rxNextLivenessCheckNs;
    private final AdaptiveSpin rxSpin;
    private boolean namesUnlinked;
    private boolean closeDeferred;
    /** This channel's counters: the send group written under sendLock, the receive group under receiveLock. */
    private final dev.isthmus.stat.StatRecord stats;

    private PosixMqBlobChannel(final boolean creator, final ResourceName base, final int upMqd, final int downMqd,
                               final int maxMessageLength, final int capacity, final PosixMqOptions options) {
        this.channelName = base.prefix() + '.' + base.app() + '.' + base.pid() + '.' + PosixMqDescriptor.KIND + '.'
            + base.id();
        this.creator = creator;
        this.upName = upQueueName(base);
        this.downName = downQueueName(base);
        this.txMqd = creator ? downMqd : upMqd;
        this.txName = creator ? downName : upName;
        this.rxMqd = creator ? upMqd : downMqd;
        this.rxName = creator ? upName : downName;
        this.maxMessageLength = maxMessageLength;
        this.capacity = capacity;
        this.txSpin = new AdaptiveSpin(options.spinBudgetNs());
        this.rxSpin = new AdaptiveSpin(options.spinBudgetNs());
        this.livenessCheckIntervalNs = options.livenessCheckIntervalNs();
        this.sliceNs = Math.min(SLICE_NS, livenessCheckIntervalNs);
        this.closeLingerNs = options.closeLingerNs();
        this.arena = Arena.ofShared();
        this.txBuffer = arena.allocate(maxMessageLength, 64);
        this.txBufferView = txBuffer.asByteBuffer();
        this.txAttr = arena.allocate(PosixMq.MQ_ATTR);
        this.txControl = arena.allocate(PosixMqDescriptor.CONTROL);
        this.txStatx = arena.allocate(FileIo.STATX_LENGTH, 8);
        this.rxBuffer = arena.allocate(maxMessageLength, 64);
        this.rxPriority = arena.allocate(JAVA_INT);
        this.rxAttr = arena.allocate(PosixMq.MQ_ATTR);
        this.rxStatx = arena.allocate(FileIo.STATX_LENGTH, 8);
        final long now = System.nanoTime();
        this.txNextLivenessCheckNs = now;
        this.rxNextLivenessCheckNs = now;
        this.stats = dev.isthmus.stat.StatFile.newRecord(dev.isthmus.stat.StatKind.CHANNEL, 0,
            java.util.Map.of("transport", "posix-mq", "channel", channelName));
    }

    /**
     * {@inheritDoc}
     */
    @Override
    public dev.isthmus.stat.StatRecord stats() {
        return stats;
    }

    /**
     * {@return the name of the queue from the opener to the creator: {@code /prefix.app.pid.mq.id-up}}
     *
     * @param base the channel's name; its kind is replaced by {@value PosixMqDescriptor#KIND}
     */
    public static String upQueueName(final ResourceName base) {
        return queueName(base, PosixMqDescriptor.UP_SUFFIX);
    }

    /**
     * {@return the name of the queue from the creator to the opener: {@code /prefix.app.pid.mq.id-down}}
     *
     * @param base the channel's name; its kind is replaced by {@value PosixMqDescriptor#KIND}
     */
    public static String downQueueName(final ResourceName base) {
        return queueName(base, PosixMqDescriptor.DOWN_SUFFIX);
    }

    private static String queueName(final ResourceName base, final String suffix) {
        final String id = base.id() + suffix;
        if (id.length() > 64) {
            throw new IllegalArgumentException("base.id=\"" + base.id() + "\" is too long: with the suffix \"" + suffix
                + "\" a queue's id must fit in 64 characters");
        }
        return "/" + new ResourceName(base.prefix(), base.app(), base.pid(), PosixMqDescriptor.KIND, id);
    }

    /**
     * {@return whether POSIX message queues can be used here}
     */
    public static boolean isAvailable() {
        return unavailabilityCause().isEmpty();
    }

    /**
     * {@return why POSIX message queues cannot be used here, or empty if they can}
     */
    public static Optional<String> unavailabilityCause() {
        if (!Platform.isSupported()) {
            return Optional.of("Isthmus needs Linux on x86-64 or aarch64");
        }
        try {
            PosixMqLimits.current();
            return Optional.empty();
        } catch (final IsthmusException e) {
            return Optional.of(e.getMessage());
        }
    }

    /**
     * Creates both queues of a channel and queues this process's HELLO; the peer attaches with
     * {@link #open}. Returns at once: blobs offered before the peer attaches wait in the queue.
     *
     * @param base    the channel's name, owned by this process (its pid); the queues' names derive from it
     * @param options sizes, permissions and waiting
     * @return the creator's end
     * @throws IllegalArgumentException if {@code base} names another process or its id is too long
     * @throws IsthmusException         if the kernel's limits do not admit the queues: the message names the
     *                                  value asked for, the limit and how to lift it; or if the names exist
     */
    public static PosixMqBlobChannel create(final ResourceName base, final PosixMqOptions options) {
        Objects.requireNonNull(base, "base");
        Objects.requireNonNull(options, "options");
        Platform.requireSupported();
        final long pid = ProcessHandle.current().pid();
        if (base.pid() != pid) {
            throw new IllegalArgumentException("base.pid=" + base.pid() + " must be this process's pid=" + pid
                + ": the creator's pid is part of the queues' names");
        }
        final String up = upQueueName(base);
        final String down = downQueueName(base);
        final PosixMqLimits limits = PosixMqLimits.current();
        final long maxMessages = options.maxMessages() > 0 ? options.maxMessages()
            : Math.min(PosixMqOptions.DEFAULT_MAX_MESSAGES, limits.allowedMaxMessages());
        final long requestedLength = options.maxMessageLengthBytes() > 0 ? options.maxMessageLengthBytes()
            : Math.min(PosixMqOptions.DEFAULT_MAX_MESSAGE_LENGTH_BYTES, limits.allowedMessageSize());
        final long messageSize = Math.max(CONTROL_LENGTH, requestedLength);
        limits.checkQueue(maxMessages, messageSize);

        final int mode = options.permissions().fileMode();
        final int upMqd = createQueue(up, mode, maxMessages, messageSize, limits);
        final int downMqd;
        try {
            downMqd = createQueue(down, mode, maxMessages, messageSize, limits);
        } catch (final RuntimeException | Error e) {
            PosixMq.close(upMqd, up);
            PosixMq.unlink(up);
            throw e;
        }
        final PosixMqBlobChannel channel;
        try {
            channel = new PosixMqBlobChannel(true, base, upMqd, downMqd, (int) messageSize, (int) maxMessages, options);
        } catch (final RuntimeException | Error e) {
            PosixMq.close(upMqd, up);
            PosixMq.close(downMqd, down);
            PosixMq.unlink(up);
            PosixMq.unlink(down);
            throw e;
        }
        try {
            channel.sendControl(PosixMqDescriptor.TYPE_HELLO, PRIORITY_HELLO);
            return channel;
        } catch (final RuntimeException | Error e) {
            channel.release();
            throw e;
        }
    }

    private static int createQueue(final String name, final int mode, final long maxMessages, final long messageSize,
                                   final PosixMqLimits limits) {
        final int mqd = PosixMq.create(name, mode, maxMessages, messageSize);
        if (mqd < 0) {
            throw limits.createFailure(-mqd, name, maxMessages, messageSize);
        }
        try {
            // mq_open's mode went through the umask: set it exactly on the descriptor.
            FileIo.fchmod(mqd, mode, name);
            return mqd;
        } catch (final RuntimeException | Error e) {
            PosixMq.close(mqd, name);
            PosixMq.unlink(name);
            throw e;
        }
    }

    /**
     * Attaches to a channel another process created: opens both queues, reads the creator's HELLO
     * (waiting up to {@link PosixMqOptions#attachTimeoutNs()} for it), answers with this process's HELLO and
     * removes the queues' names, so that nothing is left behind if either process crashes from now on.
     *
     * @param base    the channel's name, as the creator passed it to {@link #create}
     * @param options waiting; the sizes and permissions are the creator's
     * @return the opener's end
     * @throws NoSuchResourceException if the queues do not exist (never created, closed, or another process
     *                                 attached first and removed the names)
     * @throws IsthmusException        if this process may not open them, or the HELLO did not come in time
     * @throws PeerDeadException       if the creator died before its HELLO
     * @throws CorruptDataException    if the queues do not look like a channel's
     */
    public static PosixMqBlobChannel open(final ResourceName base, final PosixMqOptions options) {
        Objects.requireNonNull(base, "base");
        Objects.requireNonNull(options, "options");
        Platform.requireSupported();
        final String up = upQueueName(base);
        final String down = downQueueName(base);
        // The creator makes "up" first and "down" last: if "down" exists, so does "up".
        final int downMqd = openQueue(down);
        final int upMqd;
        try {
            upMqd = openQueue(up);
        } catch (final RuntimeException | Error e) {
            PosixMq.close(downMqd, down);
            throw e;
        }
        PosixMqBlobChannel channel = null;
        try {
            final long[] downShape = shape(downMqd, down);
            final long[] upShape = shape(upMqd, up);
            if (downShape[0] != upShape[0] || downShape[1] != upShape[1] || downShape[1] < CONTROL_LENGTH
                || downShape[1] > Integer.MAX_VALUE || downShape[0] > Integer.MAX_VALUE) {
                throw new CorruptDataException("POSIX message queues " + down + " (" + downShape[0] + " × "
                    + downShape[1] + " bytes) and " + up + " (" + upShape[0] + " × " + upShape[1]
                    + " bytes) are not the two queues of one channel: expected equal shapes, messages of at least "
                    + CONTROL_LENGTH + " bytes");
            }
            channel = new PosixMqBlobChannel(false, base, upMqd, downMqd, (int) downShape[1], (int) downShape[0],
                options);
            channel.awaitCreatorHello(base.pid(), options.attachTimeoutNs());
            channel.sendControl(PosixMqDescriptor.TYPE_HELLO, PRIORITY_HELLO);
            channel.unlinkNames();
            return channel;
        } catch (final RuntimeException | Error e) {
            if (channel != null) {
                channel.release();
            } else {
                PosixMq.close(downMqd, down);
                PosixMq.close(upMqd, up);
            }
            throw e;
        }
    }

    private static int openQueue(final String name) {
        final int mqd = PosixMq.open(name);
        if (mqd >= 0) {
            return mqd;
        }
        final int errno = -mqd;
        final NativeException cause = Errno.exception("mq_open(" + name + ")", errno);
        if (errno == Errno.ENOENT) {
            throw new NoSuchResourceException("no POSIX message queue " + name + ": the channel was never created,"
                + " its creator closed it, or another process attached to it first");
        }
        if (errno == Errno.EACCES) {
            throw new IsthmusException("POSIX message queue " + name + " may not be opened by this process (EACCES):"
                + " its creator's permission level does not admit this user", cause);
        }
        throw new IsthmusException("POSIX message queue " + name + " could not be opened: " + cause.getMessage(), cause);
    }

    /** {@return {mq_maxmsg, mq_msgsize} of a queue}, with a scratch segment: attach time only. */
    private static long[] shape(final int mqd, final String name) {
        try (Arena scratch = Arena.ofConfined()) {
            final MemorySegment attr = scratch.allocate(PosixMq.MQ_ATTR);
            PosixMq.getAttributes(mqd, attr, name);
            return new long[] {attr.get(JAVA_LONG, PosixMq.MQ_MAXMSG_OFFSET), attr.get(JAVA_LONG, PosixMq.MQ_MSGSIZE_OFFSET)};
        }
    }

    /**
     * {@return the largest blob: the queues' {@code mq_msgsize}}
     */
    @Override
    public int maxMessageLength() {
        return maxMessageLength;
    }

    /**
     * {@return how many messages each queue holds ({@code mq_maxmsg}) before senders are back-pressured}
     */
    public int capacity() {
        return capacity;
    }

    /**
     * {@return whether this end created the channel}
     */
    public boolean isCreator() {
        return creator;
    }

    /**
     * {@return the peer's process, or empty while no peer has attached (creator's side)}
     */
    public Optional<ProcessIdentity> peer() {
        return Optional.ofNullable(peer);
    }

    // ------------------------------------------------------------------------------------------ sending

    @Override
    public boolean offer(final MemorySegment source, final long offset, final int length) {
        checkRange(source.byteSize(), offset, length);
        final ReentrantLock lock = sendLock;
        lock.lock();
        try {
            checkSendable();
            MemorySegment.copy(source, offset, txBuffer, 0, length);
            return sendData(length, 0);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public boolean offer(final MemorySegment source, final long offset, final int length, final long timeoutNs) {
        checkRange(source.byteSize(), offset, length);
        final ReentrantLock lock = sendLock;
        lock.lock();
        try {
            checkSendable();
            MemorySegment.copy(source, offset, txBuffer, 0, length);
            return sendData(length, timeoutNs);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Copies part of an array into the channel, if there is room, without wrapping the array.
     *
     * @param source the array
     * @param offset where the blob starts
     * @param length the blob's length, 0 to {@link #maxMessageLength()}
     * @return {@code true} if sent, {@code false} if the channel is full
     * @throws IllegalArgumentException if {@code length} exceeds {@link #maxMessageLength()} or the range is
     *                                  outside {@code source}
     */
    @Override
    public boolean offer(final byte[] source, final int offset, final int length) {
        checkRange(source.length, offset, length);
        final ReentrantLock lock = sendLock;
        lock.lock();
        try {
            checkSendable();
            MemorySegment.copy(source, offset, txBuffer, JAVA_BYTE, 0, length);
            return sendData(length, 0);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Copies part of an array into the channel, waiting up to {@code timeoutNs} for room, without wrapping
     * the array.
     *
     * @param source    the array
     * @param offset    where the blob starts
     * @param length    the blob's length, 0 to {@link #maxMessageLength()}
     * @param timeoutNs how long to wait for room, in nanoseconds
     * @return {@code true} if sent, {@code false} if there was no room within the timeout
     * @throws IllegalArgumentException if {@code length} exceeds {@link #maxMessageLength()} or the range is
     *                                  outside {@code source}
     */
    @Override
    public boolean offer(final byte[] source, final int offset, final int length, final long timeoutNs) {
        checkRange(source.length, offset, length);
        final ReentrantLock lock = sendLock;
        lock.lock();
        try {
            checkSendable();
            MemorySegment.copy(source, offset, txBuffer, JAVA_BYTE, 0, length);
            return sendData(length, timeoutNs);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Copies the remaining bytes of a buffer into the channel, if there is room, without wrapping it. The
     * buffer's position is not changed.
     *
     * @param source the buffer
     * @return {@code true} if sent, {@code false} if the channel is full
     * @throws IllegalArgumentException if more than {@link #maxMessageLength()} bytes remain
     */
    @Override
    public boolean offer(final ByteBuffer source) {
        final int length = source.remaining();
        checkRange(source.limit(), source.position(), length);
        final ReentrantLock lock = sendLock;
        lock.lock();
        try {
            checkSendable();
            txBufferView.put(0, source, source.position(), length);
            return sendData(length, 0);
        } finally {
            lock.unlock();
        }
    }

    /**
     * {@inheritDoc}
     *
     * @apiNote A message queue has no room to reserve in place: the claim is staged in this end's send
     * buffer and {@link #commit} sends it with one {@code mq_send}. To guarantee that the commit finds room,
     * this method asks the kernel how full the queue is ({@code mq_getattr}), one system call more than
     * {@code offer}.
     */
    @Override
    public long tryClaim(final int length) {
        checkRange(maxMessageLength, 0, length);
        final ReentrantLock lock = sendLock;
        lock.lock();
        try {
            checkSendable();
            PosixMq.getAttributes(txMqd, txAttr, txName);
            // Only this end writes to its outgoing queue, so room seen now is still there at commit.
            if (txAttr.get(JAVA_LONG, PosixMq.MQ_CURMSGS_OFFSET) >= capacity) {
                checkPeerWhileSending();
                return BACK_PRESSURED;
            }
            claimLength = length;
            return 0;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public MemorySegment claimBuffer() {
        final ReentrantLock lock = sendLock;
        lock.lock();
        try {
            if (claimLength == NO_CLAIM) {
                throw new IllegalStateException("no claim is pending");
            }
            return txBuffer;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void commit(final long claim) {
        final ReentrantLock lock = sendLock;
        lock.lock();
        try {
            final int length = takeClaim(claim);
            checkSendable();
            // Room was seen by tryClaim; only a third process writing to the queue could have taken it.
            sendData(length, Long.MAX_VALUE);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void abort(final long claim) {
        final ReentrantLock lock = sendLock;
        lock.lock();
        try {
            takeClaim(claim);
        } finally {
            lock.unlock();
        }
    }

    private int takeClaim(final long claim) {
        if (claimLength == NO_CLAIM || claim != 0) {
            throw new IllegalStateException("claim=" + claim + " is not the pending claim"
                + (claimLength == NO_CLAIM ? " (none is pending)" : " (0)"));
        }
        final int length = claimLength;
        claimLength = NO_CLAIM;
        return length;
    }

    private void checkRange(final long available, final long offset, final int length) {
        if (length < 0) {
            throw new IllegalArgumentException("length=" + length + " must be >= 0");
        }
        if (length > maxMessageLength) {
            throw new IllegalArgumentException("length=" + length + " exceeds maxMessageLength=" + maxMessageLength
                + " (the mq_msgsize of " + txName + ")");
        }
        if (offset < 0 || offset > available - length) {
            throw new IllegalArgumentException("offset=" + offset + ", length=" + length
                + " is outside the source of " + available + " bytes");
        }
    }

    /** Under sendLock: throws if sending is impossible now. */
    private void checkSendable() {
        if (closing) {
            throw closedHere();
        }
        if (claimLength != NO_CLAIM) {
            throw new IllegalStateException("a claim is pending: claimLength=" + claimLength
                + "; commit or abort it first");
        }
        if (corruption != null) {
            throw new CorruptDataException(corruption);
        }
        if (peerDead) {
            throw peerDeadException("as noticed before");
        }
        if (peerClosed) {
            throw peerClosedException();
        }
    }

    /**
     * Under sendLock: sends {@code length} bytes of the send buffer as a data message, waiting up to
     * {@code timeoutNs} for room.
     */
    private boolean sendData(final int length, final long timeoutNs) {
        if (PosixMq.send(txMqd, txBuffer, length, PRIORITY_DATA, txName) == 0) {
            stats.increment(dev.isthmus.stat.StatKind.Channel.MESSAGES_SENT);
            stats.add(dev.isthmus.stat.StatKind.Channel.BYTES_SENT, length);
            return true;
        }
        checkPeerWhileSending();
        if (timeoutNs <= 0) {
            stats.increment(dev.isthmus.stat.StatKind.Channel.OFFERS_REFUSED);
            return false;
        }
        final long start = System.nanoTime();
        final dev.isthmus.internal.event.ChannelEvents.Stall stall = dev.isthmus.internal.event.ChannelEvents.beginStall();
        boolean sent = false;
        try {
            sent = sendDataWaiting(length, timeoutNs, start);
        } finally {
            stats.increment(dev.isthmus.stat.StatKind.Channel.BACK_PRESSURE_WAITS);
            stats.add(dev.isthmus.stat.StatKind.Channel.BACK_PRESSURE_NANOS, System.nanoTime() - start);
            dev.isthmus.internal.event.ChannelEvents.endStall(stall, channelName, "posix-mq", sent);
        }
        if (sent) {
            stats.increment(dev.isthmus.stat.StatKind.Channel.MESSAGES_SENT);
            stats.add(dev.isthmus.stat.StatKind.Channel.BYTES_SENT, length);
        } else {
            stats.increment(dev.isthmus.stat.StatKind.Channel.OFFERS_REFUSED);
        }
        return sent;
    }

    /** Under sendLock: {@link #sendData} once the queue was found full. */
    private boolean sendDataWaiting(final int length, final long timeoutNs, final long start) {
        final long spin = txSpin.spinNs(timeoutNs);
        if (spin > 0) {
            while (System.nanoTime() - start < spin) {
                // Spin, not yield: a yield hands the processor to any other runnable thread for a whole time
                // slice (milliseconds), per message when another program keeps the processors busy.
                Thread.onSpinWait();
                if (PosixMq.send(txMqd, txBuffer, length, PRIORITY_DATA, txName) == 0) {
                    txSpin.succeeded();
                    return true;
                }
            }
            txSpin.failed();
        }
        while (true) {
            final long remaining = timeoutNs - (System.nanoTime() - start);
            if (remaining <= 0) {
                return false;
            }
            if (closing) {
                throw closedHere();
            }
            final int rc;
            PosixMq.setNonBlocking(txMqd, false, txAttr, txName);
            try {
                rc = PosixMq.timedSend(txMqd, txBuffer, length, PRIORITY_DATA, Math.min(remaining, sliceNs), txName);
            } finally {
                PosixMq.setNonBlocking(txMqd, true, txAttr, txName);
            }
            if (rc == 0) {
                return true;
            }
            checkPeerWhileSending();
        }
    }

    /**
     * Under sendLock, while the outgoing queue is full: at most once per liveness interval, checks that the
     * peer runs and has not marked the queue closed.
     *
     * @throws PeerDeadException      if the peer died
     * @throws ChannelClosedException if the peer closed (nobody will empty the queue)
     */
    private void checkPeerWhileSending() {
        if (peerDead) {
            throw peerDeadException("as noticed before");
        }
        if (peerClosed) {
            throw peerClosedException();
        }
        final long now = System.nanoTime();
        if (now - txNextLivenessCheckNs < 0) {
            return;
        }
        txNextLivenessCheckNs = now + livenessCheckIntervalNs;
        final ProcessWatch supplied = suppliedWatch;
        final ProcessWatch watch = supplied != null ? supplied : peerWatch != null ? peerWatch : attachFromSendingSide();
        if (watch == null) {
            // No peer has attached yet: nothing to check; the queue holds what was offered.
            return;
        }
        // Liveness first, then the mark: a peer that marked the queues closed and then exited is seen as
        // closed, never as dead (once it has exited, the mark can no longer change).
        final boolean alive = watch.isAlive();
        if (isMarkedClosed(txMqd, txStatx, txName)) {
            throw new ChannelClosedException("POSIX MQ channel " + channelName + " was closed by its peer (pid "
                + watch.identity().pid() + "), which reads no more: " + txName + " stays full");
        }
        if (!alive) {
            peerDead = true;
            throw peerDeadException("noticed while waiting for room in " + txName);
        }
    }

    /**
     * On the creator's sending side, before the receiving side has read the opener's HELLO: reads it, if it
     * is there and the receiving side is not busy (if it is, it reads the HELLO itself).
     */
    private ProcessWatch attachFromSendingSide() {
        if (!creator || !receiveLock.tryLock()) {
            return peerWatch;
        }
        try {
            if (peer == null && !closing) {
                // HELLO has the highest priority and is the opener's first message: if anything is there, it is.
                final long length = PosixMq.receive(rxMqd, rxBuffer, rxPriority, rxName);
                if (length >= 0) {
                    final int priority = rxPriority.get(JAVA_INT, 0);
                    if (priority != PRIORITY_HELLO) {
                        throw corrupt("the first message on " + rxName + " has priority " + priority
                            + ", expected the opener's HELLO at priority " + PRIORITY_HELLO);
                    }
                    onControl(priority, length);
                }
            }
            return peerWatch;
        } finally {
            receiveLock.unlock();
        }
    }

    // ---------------------------------------------------------------------------------------- receiving

    @Override
    public int poll(final BlobHandler handler, final int limit) {
        checkPollArguments(handler, limit);
        final ReentrantLock lock = receiveLock;
        lock.lock();
        try {
            checkReceivable();
            return drainOrDetectEnd(handler, limit);
        } finally {
            unlockReceiving();
        }
    }

    @Override
    public int poll(final BlobHandler handler, final int limit, final long timeoutNs) {
        checkPollArguments(handler, limit);
        final ReentrantLock lock = receiveLock;
        lock.lock();
        try {
            checkReceivable();
            int count = drainOrDetectEnd(handler, limit);
            if (count > 0 || timeoutNs <= 0 || closing) {
                return count;
            }
            final long start = System.nanoTime();
            final long spin = rxSpin.spinNs(timeoutNs);
            if (spin > 0) {
                while (System.nanoTime() - start < spin) {
                    // Spin, not yield (see sendData).
                    Thread.onSpinWait();
                    count = drainOrDetectEnd(handler, limit);
                    if (count > 0 || closing) {
                        rxSpin.succeeded();
                        return count;
                    }
                }
                rxSpin.failed();
            }
            while (true) {
                final long remaining = timeoutNs - (System.nanoTime() - start);
                if (remaining <= 0) {
                    return 0;
                }
                if (closing) {
                    throw closedHere();
                }
                final long length;
                stats.increment(dev.isthmus.stat.StatKind.Channel.RECEIVER_SLEEPS);
                final dev.isthmus.internal.event.ChannelEvents.Wait wait = dev.isthmus.internal.event.ChannelEvents.beginWait();
                PosixMq.setNonBlocking(rxMqd, false, rxAttr, rxName);
                try {
                    length = PosixMq.timedReceive(rxMqd, rxBuffer, rxPriority, Math.min(remaining, sliceNs), rxName);
                } finally {
                    PosixMq.setNonBlocking(rxMqd, true, rxAttr, rxName);
                }
                dev.isthmus.internal.event.ChannelEvents.endWait(wait, channelName, "posix-mq", length >= 0);
                if (length >= 0) {
                    count = dispatch(handler, length);
                    if (count > 0) {
                        if (limit > 1 && !peerClosed && !closing) {
                            count += drain(handler, limit - 1);
                        }
                        return count;
                    }
                    if (peerClosed) {
                        throw peerClosedException();
                    }
                    // A HELLO: keep waiting for data.
                    continue;
                }
                count = drainOrDetectEnd(handler, limit);
                if (count > 0) {
                    return count;
                }
            }
        } finally {
            unlockReceiving();
        }
    }

    private static void checkPollArguments(final BlobHandler handler, final int limit) {
        Objects.requireNonNull(handler, "handler");
        if (limit < 1) {
            throw new IllegalArgumentException("limit=" + limit + " must be >= 1");
        }
    }

    /** Releases the receive lock, then finishes a close that a handler asked for while this thread held it. */
    private void unlockReceiving() {
        final boolean finishClose = closeDeferred && receiveLock.getHoldCount() == 1;
        if (finishClose) {
            closeDeferred = false;
        }
        receiveLock.unlock();
        if (finishClose) {
            finishClose();
        }
    }

    /** Under receiveLock: throws if receiving is impossible now. */
    private void checkReceivable() {
        if (closing) {
            throw closedHere();
        }
        if (corruption != null) {
            throw new CorruptDataException(corruption);
        }
        if (peerClosed) {
            throw peerClosedException();
        }
    }

    /**
     * Under receiveLock: hands over what is queued (up to {@code limit}); if nothing is, and the peer is
     * known to be gone, throws once nothing it sent can still be on its way.
     */
    private int drainOrDetectEnd(final BlobHandler handler, final int limit) {
        // Read before draining: if the peer was already gone, everything it sent is in the queue now.
        final boolean deadBefore = peerDead;
        final boolean markedBefore = peerMarkedClosed;
        int count = drain(handler, limit);
        if (count > 0 || closing) {
            return count;
        }
        if (peerClosed) {
            throw peerClosedException();
        }
        if (deadBefore) {
            throw peerDeadException("as noticed before; every message it sent has been received");
        }
        if (markedBefore) {
            peerClosed = true;
            throw peerClosedException();
        }
        final long now = System.nanoTime();
        if (now - rxNextLivenessCheckNs < 0) {
            return 0;
        }
        rxNextLivenessCheckNs = now + livenessCheckIntervalNs;
        final ProcessWatch watch = suppliedWatch != null ? suppliedWatch : peerWatch;
        if (watch == null) {
            return 0;
        }
        // Liveness first, then the mark: a peer that sent everything, marked the queues closed (its CLOSE
        // found no room) and exited is closed, not dead; once it has exited, the mark can no longer change.
        final boolean alive = watch.isAlive();
        if (isMarkedClosed(rxMqd, rxStatx, rxName)) {
            peerMarkedClosed = true;
        } else if (!alive) {
            peerDead = true;
        } else {
            return 0;
        }
        // The peer is gone; what it sent before is queued by now. Deliver that first.
        count = drain(handler, limit);
        if (count > 0 || closing) {
            return count;
        }
        if (peerClosed) {
            throw peerClosedException();
        }
        if (peerDead) {
            throw peerDeadException("noticed while waiting for data on " + rxName
                + "; every message it sent has been received");
        }
        peerClosed = true;
        throw peerClosedException();
    }

    /**
     * Under receiveLock: receives without waiting and hands data to the handler, up to {@code limit} blobs;
     * stops early at the peer's CLOSE or when a handler closes this end.
     */
    private int drain(final BlobHandler handler, final int limit) {
        final int mqd = rxMqd;
        final MemorySegment buffer = rxBuffer;
        final MemorySegment priority = rxPriority;
        int count = 0;
        while (count < limit) {
            final long length = PosixMq.receive(mqd, buffer, priority, rxName);
            if (length < 0) {
                break;
            }
            count += dispatch(handler, length);
            if (closing || peerClosed) {
                break;
            }
        }
        return count;
    }

    /** Under receiveLock: hands a data message to the handler (returns 1) or handles a control message (0). */
    private int dispatch(final BlobHandler handler, final long length) {
        final int priority = rxPriority.get(JAVA_INT, 0);
        if (priority == PRIORITY_DATA) {
            stats.increment(dev.isthmus.stat.StatKind.Channel.MESSAGES_RECEIVED);
            stats.add(dev.isthmus.stat.StatKind.Channel.BYTES_RECEIVED, length);
            handler.onBlob(rxBuffer, 0, (int) length);
            return 1;
        }
        onControl(priority, length);
        return 0;
    }

    /** Under receiveLock: a message at a control priority, now in the receive buffer. */
    private void onControl(final int priority, final long length) {
        final short expectedType = switch (priority) {
            case PRIORITY_HELLO -> PosixMqDescriptor.TYPE_HELLO;
            case PRIORITY_CLOSE -> PosixMqDescriptor.TYPE_CLOSE;
            default -> throw corrupt("a message of " + length + " bytes on " + rxName + " has priority " + priority
                + "; this channel uses only " + PRIORITY_CLOSE + " (close), " + PRIORITY_DATA + " (data) and "
                + PRIORITY_HELLO + " (hello)");
        };
        final ProcessIdentity sender = parseControl(length, expectedType);
        if (expectedType == PosixMqDescriptor.TYPE_HELLO) {
            if (!creator || peer != null) {
                throw corrupt("a second HELLO arrived on " + rxName + " from pid " + sender.pid()
                    + ": another process attached to the channel");
            }
            attach(sender);
            unlinkNames();
        } else {
            peerClosed = true;
        }
    }

    private ProcessIdentity parseControl(final long length, final short expectedType) {
        final MemorySegment message = rxBuffer;
        if (length != CONTROL_LENGTH) {
            throw corrupt("a control message on " + rxName + " has " + length + " bytes, expected " + CONTROL_LENGTH);
        }
        final int magic = message.get(JAVA_INT, PosixMqDescriptor.MAGIC_OFFSET);
        final short version = message.get(JAVA_SHORT, PosixMqDescriptor.VERSION_OFFSET);
        final short type = message.get(JAVA_SHORT, PosixMqDescriptor.TYPE_OFFSET);
        if (magic != PosixMqDescriptor.MAGIC || version != PosixMqDescriptor.VERSION || type != expectedType) {
            throw corrupt("a control message on " + rxName + " has magic 0x" + Integer.toHexString(magic) + ", version "
                + version + ", type " + type + "; expected 0x" + Integer.toHexString(PosixMqDescriptor.MAGIC)
                + ", " + PosixMqDescriptor.VERSION + ", " + expectedType);
        }
        final long pid = message.get(JAVA_LONG, PosixMqDescriptor.PID_OFFSET);
        if (pid <= 0 || pid > Integer.MAX_VALUE) {
            throw corrupt("a control message on " + rxName + " names pid " + pid);
        }
        return new ProcessIdentity(pid, message.get(JAVA_LONG, PosixMqDescriptor.START_TIME_OFFSET));
    }

    /** At open, before the channel is shared: waits for the creator's HELLO, the first message on "down". */
    private void awaitCreatorHello(final long creatorPid, final long timeoutNs) {
        final long start = System.nanoTime();
        long length = PosixMq.receive(rxMqd, rxBuffer, rxPriority, rxName);
        if (length < 0) {
            PosixMq.setNonBlocking(rxMqd, false, rxAttr, rxName);
            try {
                while (length < 0) {
                    final long remaining = timeoutNs - (System.nanoTime() - start);
                    if (remaining <= 0) {
                        throw new IsthmusTimeoutException("the creator (pid " + creatorPid + ") of POSIX MQ channel "
                            + channelName + " sent no HELLO on " + rxName + " within "
                            + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms");
                    }
                    if (ProcessIdentity.of(creatorPid) == null) {
                        throw new PeerDeadException("the creator (pid " + creatorPid + ") of POSIX MQ channel "
                            + channelName + " died before sending its HELLO");
                    }
                    length = PosixMq.timedReceive(rxMqd, rxBuffer, rxPriority, Math.min(remaining, sliceNs), rxName);
                }
            } finally {
                PosixMq.setNonBlocking(rxMqd, true, rxAttr, rxName);
            }
        }
        final int priority = rxPriority.get(JAVA_INT, 0);
        if (priority != PRIORITY_HELLO) {
            throw corrupt("the first message on " + rxName + " has priority " + priority
                + ", expected the creator's HELLO at priority " + PRIORITY_HELLO);
        }
        final ProcessIdentity creatorIdentity = parseControl(length, PosixMqDescriptor.TYPE_HELLO);
        if (creatorIdentity.pid() != creatorPid) {
            throw corrupt("the HELLO on " + rxName + " comes from pid " + creatorIdentity.pid()
                + ", but the channel's name says its creator is pid " + creatorPid);
        }
        attach(creatorIdentity);
    }

    /**
     * Judges the peer's liveness by {@code watch} from now on, instead of by the pid and start time of its
     * HELLO: for a channel whose peer a session has bound to its process, which may live in another pid
     * namespace (where that pid names nothing) or be declared dead by the session. The watch stays the
     * caller's to close, after the channel.
     *
     * @param watch the peer's watch
     */
    public void watchPeer(final ProcessWatch watch) {
        this.suppliedWatch = java.util.Objects.requireNonNull(watch, "watch");
    }

    /** Records the peer's identity and starts watching its process. */
    private void attach(final ProcessIdentity identity) {
        peerWatch = new ProcessWatch(identity);
        peer = identity;
    }

    // ------------------------------------------------------------------------------------------ control

    /** Under sendLock (or before the channel is shared): queues a control message without waiting. */
    private boolean sendControl(final short type, final int priority) {
        final ProcessIdentity self = ProcessIdentity.current();
        final MemorySegment message = txControl;
        message.set(JAVA_INT, PosixMqDescriptor.MAGIC_OFFSET, PosixMqDescriptor.MAGIC);
        message.set(JAVA_SHORT, PosixMqDescriptor.VERSION_OFFSET, PosixMqDescriptor.VERSION);
        message.set(JAVA_SHORT, PosixMqDescriptor.TYPE_OFFSET, type);
        message.set(JAVA_LONG, PosixMqDescriptor.PID_OFFSET, self.pid());
        message.set(JAVA_LONG, PosixMqDescriptor.START_TIME_OFFSET, self.startTimeTicks());
        final int rc = PosixMq.send(txMqd, message, CONTROL_LENGTH, priority, txName);
        if (rc != 0 && type == PosixMqDescriptor.TYPE_HELLO) {
            // A fresh queue always has room; a full one means someone else wrote to it.
            throw new IsthmusException("cannot queue the HELLO on " + txName + ": the queue is full");
        }
        return rc == 0;
    }

    /** Removes both names, where this process may; the queues live on while open. */
    private void unlinkNames() {
        if (namesUnlinked) {
            return;
        }
        final int up = PosixMq.unlink(upName);
        final int down = PosixMq.unlink(downName);
        namesUnlinked = (up == 0 || up == -Errno.ENOENT) && (down == 0 || down == -Errno.ENOENT);
    }

    private static boolean isMarkedClosed(final int mqd, final MemorySegment statx, final String name) {
        return (FileIo.mode(mqd, statx, name) & CLOSED_MODE_BIT) != 0;
    }

    /** Sets the closed bit on a queue's mode; {@code false} if this process may not (another user's queue). */
    private static boolean markClosed(final int mqd, final String name) {
        try {
            FileIo.fchmod(mqd, FileIo.mode(mqd, name) | CLOSED_MODE_BIT, name);
            return true;
        } catch (final NativeException e) {
            if (e.errno() == Errno.EPERM) {
                return false;
            }
            throw e;
        }
    }

    private IsthmusException corrupt(final String what) {
        final String message = "POSIX MQ channel " + channelName + ": " + what;
        if (corruption == null) {
            stats.addAtomic(dev.isthmus.stat.StatKind.Channel.CORRUPT_REFUSED, 1);
            dev.isthmus.internal.event.ChannelEvents.corruptInput(channelName, "posix-mq", what);
        }
        corruption = message;
        return new CorruptDataException(message);
    }

    private ChannelClosedException closedHere() {
        return new ChannelClosedException("this end of POSIX MQ channel " + channelName + " is closed");
    }

    private ChannelClosedException peerClosedException() {
        final ProcessIdentity identity = peer;
        return new ChannelClosedException("POSIX MQ channel " + channelName + " was closed by its peer"
            + (identity == null ? "" : " (pid " + identity.pid() + ")") + "; every message it sent has been received");
    }

    private PeerDeadException peerDeadException(final String how) {
        final ProcessIdentity identity = peer;
        return new PeerDeadException("the peer" + (identity == null ? "" : " (pid " + identity.pid() + ")")
            + " of POSIX MQ channel " + channelName + " died: " + how);
    }

    // ------------------------------------------------------------------------------------------ closing

    @Override
    public boolean isOpen() {
        return !closing && !peerClosed && !peerDead && corruption == null;
    }

    /**
     * Closes this end: queues a CLOSE for the peer after everything sent so far, marks both queues closed,
     * closes the descriptors, removes the queues' names if this end created them and they are still there,
     * and frees the buffers. Idempotent; may be called from any thread, also from a handler (then the close
     * completes when the {@code poll} returns).
     */
    @Override
    public void close() {
        synchronized (closeLock) {
            if (closing) {
                return;
            }
            closing = true;
        }
        if (receiveLock.isHeldByCurrentThread()) {
            // Called from a handler: poll is still using the receive buffer; it finishes the close on its way out.
            closeDeferred = true;
            return;
        }
        finishClose();
    }

    private void finishClose() {
        // Lock order: send, then receive. A call in progress notices `closing` within one wait slice.
        sendLock.lock();
        try {
            receiveLock.lock();
            try {
                if (closed) {
                    return;
                }
                try {
                    announceClose();
                } finally {
                    release();
                }
            } finally {
                receiveLock.unlock();
            }
        } finally {
            sendLock.unlock();
        }
    }

    /** Under both locks: tells the peer, if it is still there to hear it. */
    private void announceClose() {
        if (peerDead || peerClosed || corruption != null) {
            return;
        }
        final boolean queued = sendControl(PosixMqDescriptor.TYPE_CLOSE, PRIORITY_CLOSE);
        final boolean marked = markClosed(txMqd, txName) & markClosed(rxMqd, rxName);
        if (queued || marked || closeLingerNs == 0) {
            return;
        }
        // Another user's queues, and the peer's queue is full: wait a little for room for the CLOSE.
        final long start = System.nanoTime();
        PosixMq.setNonBlocking(txMqd, false, txAttr, txName);
        try {
            while (true) {
                final long remaining = closeLingerNs - (System.nanoTime() - start);
                final ProcessWatch watch = suppliedWatch != null ? suppliedWatch : peerWatch;
                if (remaining <= 0 || watch != null && !watch.isAlive()) {
                    return;
                }
                if (PosixMq.timedSend(txMqd, txControl, CONTROL_LENGTH, PRIORITY_CLOSE, Math.min(remaining, sliceNs),
                    txName) == 0) {
                    return;
                }
            }
        } finally {
            PosixMq.setNonBlocking(txMqd, true, txAttr, txName);
        }
    }

    /** Under both locks, or before the channel is shared: frees everything this end holds. */
    private void release() {
        if (closed) {
            return;
        }
        closed = true;
        closing = true;
        try {
            PosixMq.close(txMqd, txName);
            PosixMq.close(rxMqd, rxName);
            if (creator) {
                unlinkNames();
            }
        } finally {
            final ProcessWatch watch = peerWatch;
            if (watch != null) {
                watch.close();
            }
            arena.close();
            stats.close();
        }
    }

    /**
     * {@return the mode of one of this end's queues, read from its descriptor}, for tests.
     *
     * @param outgoing the queue this end sends on, or the one it receives from
     */
    int queueMode(final boolean outgoing) {
        return outgoing ? FileIo.mode(txMqd, txName) : FileIo.mode(rxMqd, rxName);
    }

    @Override
    public String toString() {
        return "PosixMqBlobChannel[" + channelName + (creator ? ", creator" : ", opener") + ", " + capacity + " × "
            + maxMessageLength + " bytes" + (closing ? ", closed" : "") + "]";
    }
}
