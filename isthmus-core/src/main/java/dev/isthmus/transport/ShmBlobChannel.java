/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.shm.ResourceName;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A {@link BlobChannel} over two {@link OneToOneShmQueue}s, one per direction: the fastest transport
 * between two processes on one host.
 *
 * <p>One side {@linkplain #create creates} the channel and tells the other its name (a session does
 * this for you); the other side {@linkplain #open opens} it and at once removes both queues' names, so
 * that from then on nothing is left in {@code /dev/shm} whatever happens to either process. The
 * queues' segments are named {@code <name>-ab} (creator to opener) and {@code <name>-ba}.
 *
 * <p>Thread safety: as {@link BlobChannel}: one sending thread and one receiving thread. {@link #close()}
 * and {@link #wakeUp()} may be called from any thread (a session closes its channels from its own): a
 * {@code poll}, {@code offer}, claim or {@code flush} in progress on another thread then wakes if it waits
 * and throws {@link ChannelClosedException}, never the FFM runtime's exception for the unmapped memory (a
 * handler's reads of the blob are inside the {@code poll}, and covered). The caller's own writes into
 * {@link #claimBuffer()}, between {@code tryClaim} and {@code commit}, are in no call of the channel: after a
 * close they fail with {@link IllegalStateException}, as accesses to any unmapped segment do.
 */
public final class ShmBlobChannel implements BlobChannel {
    private final OneToOneShmQueue outbound;
    private final OneToOneShmQueue inbound;
    private final OneToOneShmQueue.Producer producer;
    private final OneToOneShmQueue.Consumer consumer;
    private final dev.isthmus.stat.StatRecord stats;
    private long claim = -1;
    private volatile boolean closed;
    private volatile boolean peerGone;

    private ShmBlobChannel(final OneToOneShmQueue outbound, final OneToOneShmQueue inbound) {
        this.outbound = outbound;
        this.inbound = inbound;
        this.producer = outbound.producer();
        this.consumer = inbound.consumer();
        this.stats = dev.isthmus.stat.StatFile.newRecord(dev.isthmus.stat.StatKind.CHANNEL, 0,
            java.util.Map.of("transport", "shm-queue", "channel", outbound.name().toString()));
        producer.stats(stats);
        consumer.stats(stats);
    }

    /**
     * {@inheritDoc}
     */
    @Override
    public dev.isthmus.stat.StatRecord stats() {
        return stats;
    }

    /**
     * Creates a channel: both queues, this side attached as producer of one and consumer of the other.
     *
     * @param name    the channel's name; the queues add {@code -ab} and {@code -ba} to its id
     * @param options capacities, permissions, idle strategy
     * @return this side of the channel
     */
    public static ShmBlobChannel create(final ResourceName name, final ShmQueueOptions options) {
        return create(name, options, OneToOneShmQueue::create);
    }

    /** Creates both queues with {@code maker}, closing what was made if anything fails. */
    private static ShmBlobChannel create(final ResourceName name, final ShmQueueOptions options,
                                         final java.util.function.BiFunction<ResourceName, ShmQueueOptions,
                                             OneToOneShmQueue> maker) {
        final OneToOneShmQueue ab = maker.apply(queueName(name, "ab"), options);
        try {
            final OneToOneShmQueue ba = maker.apply(queueName(name, "ba"), options);
            try {
                return new ShmBlobChannel(ab, ba);
            } catch (final RuntimeException | Error e) {
                ba.close();
                throw e;
            }
        } catch (final RuntimeException | Error e) {
            ab.close();
            throw e;
        }
    }

    /**
     * Opens the other side of a channel another process created, and removes the queues' names.
     *
     * @param name    the name the creator used
     * @param options the idle strategy and liveness interval for this side
     * @return this side of the channel
     * @throws dev.isthmus.shm.NoSuchResourceException if the channel does not exist (or was opened already)
     */
    public static ShmBlobChannel open(final ResourceName name, final ShmQueueOptions options) {
        final OneToOneShmQueue ab = OneToOneShmQueue.open(queueName(name, "ab"), options);
        try {
            final OneToOneShmQueue ba = OneToOneShmQueue.open(queueName(name, "ba"), options);
            try {
                final ShmBlobChannel channel = new ShmBlobChannel(ba, ab);
                ab.unlink();
                ba.unlink();
                return channel;
            } catch (final RuntimeException | Error e) {
                ba.close();
                throw e;
            }
        } catch (final RuntimeException | Error e) {
            ab.close();
            throw e;
        }
    }

    /**
     * Creates a channel whose two queues are sealed anonymous files ({@link OneToOneShmQueue#createSealed}):
     * nothing appears in {@code /dev/shm}; the peer gets the queues as descriptors
     * ({@link #duplicateDescriptors()}, passed with {@code SCM_RIGHTS}) and maps them with {@link #adopt}.
     *
     * @param name    the channel's name, for diagnostics
     * @param options capacities, permissions, idle strategy
     * @return this side of the channel
     */
    public static ShmBlobChannel createSealed(final ResourceName name, final ShmQueueOptions options) {
        return create(name, options, OneToOneShmQueue::createSplitSealed);
    }

    /**
     * {@return new descriptors of the two queues of a sealed channel, the caller's to close once handed over:
     * the creator-to-opener queue's control page and its regions, read-only (the opener only consumes them),
     * then the opener-to-creator queue's control page and its regions, writable (the opener produces there)}
     */
    public NativeHandle[] duplicateDescriptors() {
        final List<NativeHandle> handles = new ArrayList<>(4);
        try {
            handles.add(NativeHandle.adopt(outbound.duplicateDescriptor()));
            handles.add(NativeHandle.adopt(outbound.duplicateDataDescriptor(true)));
            handles.add(NativeHandle.adopt(inbound.duplicateDescriptor()));
            handles.add(NativeHandle.adopt(inbound.duplicateDataDescriptor(false)));
            return handles.toArray(NativeHandle[]::new);
        } catch (final RuntimeException | Error e) {
            handles.forEach(NativeHandle::close);
            throw e;
        }
    }

    /**
     * Maps the other side of a sealed channel from the four descriptors its creator handed over
     * ({@link #duplicateDescriptors()}), after checking each file's seals and length. The queue this side
     * receives from has its regions mapped read-only, from a read-only descriptor: nothing here can write a
     * byte of the creator's ring.
     *
     * @param name      the name the creator used, for diagnostics
     * @param abControl the creator-to-opener queue's control page, owned by the channel from now on
     * @param abData    its regions, read-only, likewise
     * @param baControl the opener-to-creator queue's control page, likewise
     * @param baData    its regions, writable, likewise
     * @param options   the idle strategy and liveness interval for this side; its max capacity bounds what is mapped
     * @return this side of the channel
     * @throws dev.isthmus.CorruptDataException if a file is not sealed, too large, or not a queue
     */
    public static ShmBlobChannel adopt(final ResourceName name, final NativeHandle abControl, final NativeHandle abData,
                                       final NativeHandle baControl, final NativeHandle baData,
                                       final ShmQueueOptions options) {
        final OneToOneShmQueue in;
        try {
            in = OneToOneShmQueue.adoptSplit(abControl.release(), abData.release(), queueName(name, "ab"), options, false);
        } catch (final RuntimeException | Error e) {
            abControl.close();
            abData.close();
            baControl.close();
            baData.close();
            throw e;
        }
        try {
            final OneToOneShmQueue out = OneToOneShmQueue.adoptSplit(baControl.release(), baData.release(),
                queueName(name, "ba"), options, true);
            try {
                return new ShmBlobChannel(out, in);
            } catch (final RuntimeException | Error e) {
                out.close();
                throw e;
            }
        } catch (final RuntimeException | Error e) {
            baControl.close();
            baData.close();
            in.close();
            throw e;
        }
    }

    /**
     * Judges the peer's liveness by {@code watch} from now on, in both directions, instead of by the pids
     * the peer wrote in the queues' control pages: for a channel whose peer a session has bound to its
     * process, which may live in another pid namespace. The watch stays the caller's to close, after the
     * channel.
     *
     * @param watch the peer's watch
     */
    public void watchPeer(final dev.isthmus.shm.ProcessWatch watch) {
        outbound.watchPeer(watch);
        inbound.watchPeer(watch);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Safe on a closed channel, from any thread (nothing is left to wake there).
     */
    @Override
    public boolean wakeUp() {
        consumer.wakeUp();
        producer.wakeUp();
        return true;
    }

    /**
     * Makes the receiving side wait with {@code strategy} from now on, instead of the one its
     * {@link ShmQueueOptions} gave (a server may want one session's channels to sleep at once and another's
     * to spin). Call it from the receiving thread, or before anyone polls.
     *
     * @param strategy the strategy, for this channel alone (strategies keep state)
     */
    public void receiveIdleStrategy(final dev.isthmus.sync.IdleStrategy strategy) {
        consumer.idleStrategy(strategy);
    }

    private static ResourceName queueName(final ResourceName name, final String direction) {
        Objects.requireNonNull(name, "name");
        return new ResourceName(name.prefix(), name.app(), name.pid(), name.kind(), name.id() + "-" + direction);
    }

    /**
     * {@return the queue this side sends on}
     */
    public OneToOneShmQueue outbound() {
        return outbound;
    }

    /**
     * {@return the queue this side receives from}
     */
    public OneToOneShmQueue inbound() {
        return inbound;
    }

    @Override
    public int maxMessageLength() {
        return producer.maxMessageLength();
    }

    @Override
    public boolean offer(final MemorySegment source, final long offset, final int length) {
        try {
            return producer.offer(source, offset, length);
        } catch (final ChannelClosedException e) {
            throw failed(e);
        }
    }

    @Override
    public boolean offer(final byte[] source, final int offset, final int length) {
        try {
            return producer.offer(source, offset, length);
        } catch (final ChannelClosedException e) {
            throw failed(e);
        }
    }

    @Override
    public boolean offer(final MemorySegment source, final long offset, final int length, final long timeoutNs) {
        try {
            return producer.offer(source, offset, length, timeoutNs);
        } catch (final ChannelClosedException e) {
            throw failed(e);
        }
    }

    @Override
    public long tryClaim(final int length) {
        try {
            final long result = producer.tryClaim(length);
            claim = result;
            return result;
        } catch (final ChannelClosedException e) {
            throw failed(e);
        }
    }

    @Override
    public MemorySegment claimBuffer() {
        if (claim < 0) {
            throw new IllegalStateException("no claim is pending on " + this);
        }
        return producer.buffer();
    }

    @Override
    public void commit(final long claim) {
        producer.commit(claim);
        this.claim = -1;
    }

    @Override
    public void abort(final long claim) {
        producer.abort(claim);
        this.claim = -1;
    }

    @Override
    public void flush() {
        producer.flush();
    }

    @Override
    public int poll(final BlobHandler handler, final int limit) {
        try {
            return consumer.poll(handler, limit);
        } catch (final ChannelClosedException e) {
            throw failed(e);
        }
    }

    @Override
    public int poll(final BlobHandler handler, final int limit, final long timeoutNs) {
        try {
            return consumer.poll(handler, limit, timeoutNs);
        } catch (final ChannelClosedException e) {
            throw failed(e);
        }
    }

    private ChannelClosedException failed(final ChannelClosedException e) {
        peerGone = true;
        return e;
    }

    @Override
    public boolean isOpen() {
        return !closed && !peerGone;
    }

    /**
     * {@inheritDoc}
     *
     * <p>May be called from any thread: see the class's notes on thread safety.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            outbound.close();
        } finally {
            try {
                inbound.close();
            } finally {
                stats.close();
            }
        }
    }

    @Override
    public String toString() {
        return "ShmBlobChannel{out=" + outbound.name() + ", in=" + inbound.name() + "}";
    }
}
