/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * One end of a two-way pipe of blobs between two processes: ordered, reliable, boundary-preserving.
 *
 * <p>Every blob offered is delivered exactly once, in order, with its exact length (0 to
 * {@link #maxMessageLength()} bytes), or the channel fails with an exception; nothing is dropped
 * silently. Implementations: a shared-memory queue per direction ({@code ShmBlobChannel}), a Unix
 * domain socket, POSIX message queues; all pass the same contract tests.
 *
 * <h2>Sending</h2>
 * {@link #offer(MemorySegment, long, int)} and its overloads copy a blob into the channel and return
 * {@code false} if it is full (back-pressure); the variants with a timeout wait for room, up to the
 * timeout. For zero-copy sending, {@link #tryClaim(int)} reserves room, the caller writes the blob into
 * {@link #claimBuffer()} at the returned offset, and {@link #commit(long)} publishes it:
 * {@snippet :
 * long claim = channel.tryClaim(16);
 * if (claim >= 0) {
 *     MemorySegment buffer = channel.claimBuffer();
 *     buffer.set(ValueLayout.JAVA_LONG_UNALIGNED, claim, orderId);
 *     buffer.set(ValueLayout.JAVA_LONG_UNALIGNED, claim + 8, quantity);
 *     channel.commit(claim);
 * }
 * }
 *
 * <h2>Receiving</h2>
 * {@link #poll(BlobHandler, int)} hands every pending blob (up to a limit) to the handler, in order, in
 * one batch, and returns how many; {@link #poll(BlobHandler, int, long)} first waits for at least one.
 * The handler reads the blob in place; the memory is released when the batch ends.
 *
 * <h2>Closing and failure</h2>
 * {@link #close()} is seen by the peer: after it has received everything sent before the close, its
 * {@code poll} and {@code offer} throw {@link dev.isthmus.ChannelClosedException}. If the peer process
 * dies, operations that need it throw {@link dev.isthmus.PeerDeadException} within a second instead of
 * waiting. Corrupt data from the peer (an impossible length, a broken frame) throws
 * {@link dev.isthmus.CorruptDataException}; the channel is then unusable.
 *
 * <h2>Thread safety</h2>
 * One thread may send while another receives. Sending methods must not be called by two threads at
 * once, nor receiving methods; callers that share an end between threads synchronise themselves. In
 * steady state no method allocates on the Java heap.
 */
public interface BlobChannel extends AutoCloseable {
    /** Returned by {@link #tryClaim} when there is no room: back-pressure. */
    long BACK_PRESSURED = -1;

    /**
     * {@return the largest blob this channel carries, in bytes}
     */
    int maxMessageLength();

    /**
     * Copies a blob into the channel, if there is room.
     *
     * @param source the memory to copy from
     * @param offset where the blob starts in {@code source}
     * @param length the blob's length, 0 to {@link #maxMessageLength()}
     * @return {@code true} if sent, {@code false} if the channel is full
     * @throws IllegalArgumentException           if {@code length} exceeds {@link #maxMessageLength()} or the
     *                                            range is outside {@code source}
     * @throws dev.isthmus.ChannelClosedException if either end is closed
     * @throws dev.isthmus.PeerDeadException      if the peer died
     */
    boolean offer(MemorySegment source, long offset, int length);

    /**
     * Copies a blob into the channel, waiting up to {@code timeoutNs} for room.
     *
     * @param source    the memory to copy from
     * @param offset    where the blob starts in {@code source}
     * @param length    the blob's length, 0 to {@link #maxMessageLength()}
     * @param timeoutNs how long to wait for room, in nanoseconds
     * @return {@code true} if sent, {@code false} if there was no room within the timeout
     * @throws IllegalArgumentException           if {@code length} exceeds {@link #maxMessageLength()}
     * @throws dev.isthmus.ChannelClosedException if either end is closed
     * @throws dev.isthmus.PeerDeadException      if the peer died
     */
    boolean offer(MemorySegment source, long offset, int length, long timeoutNs);

    /**
     * Copies a whole segment into the channel, if there is room.
     *
     * @param source the blob
     * @return {@code true} if sent, {@code false} if the channel is full
     * @throws IllegalArgumentException if the segment is longer than {@link #maxMessageLength()}
     */
    default boolean offer(final MemorySegment source) {
        return offer(source, 0, checkedLength(source.byteSize()));
    }

    /**
     * Copies part of an array into the channel, if there is room.
     *
     * @param source the array
     * @param offset where the blob starts
     * @param length the blob's length
     * @return {@code true} if sent, {@code false} if the channel is full
     */
    default boolean offer(final byte[] source, final int offset, final int length) {
        return offer(MemorySegment.ofArray(source), offset, length);
    }

    /**
     * Copies part of an array into the channel, waiting up to {@code timeoutNs} for room.
     *
     * @param source    the array
     * @param offset    where the blob starts
     * @param length    the blob's length
     * @param timeoutNs how long to wait for room, in nanoseconds
     * @return {@code true} if sent, {@code false} if there was no room within the timeout
     */
    default boolean offer(final byte[] source, final int offset, final int length, final long timeoutNs) {
        return offer(MemorySegment.ofArray(source), offset, length, timeoutNs);
    }

    /**
     * Copies the remaining bytes of a buffer (position to limit) into the channel, if there is room.
     * The buffer's position is not changed.
     *
     * @param source the buffer
     * @return {@code true} if sent, {@code false} if the channel is full
     */
    default boolean offer(final ByteBuffer source) {
        return offer(MemorySegment.ofBuffer(source), 0, source.remaining());
    }

    /**
     * Reserves room for a blob of exactly {@code length} bytes, to be written in place.
     *
     * @param length the blob's length, 0 to {@link #maxMessageLength()}
     * @return the offset in {@link #claimBuffer()} where the blob goes, or {@link #BACK_PRESSURED}
     * @throws IllegalArgumentException           if {@code length} exceeds {@link #maxMessageLength()}
     * @throws IllegalStateException              if a claim is already pending
     * @throws dev.isthmus.ChannelClosedException if either end is closed
     */
    long tryClaim(int length);

    /**
     * Reserves room for a blob, waiting up to {@code timeoutNs} for it.
     *
     * <p>The default implementation retries {@link #tryClaim(int)}, spinning briefly, then yielding, then
     * parking for growing intervals of up to a millisecond; implementations with a wake-up mechanism
     * override it.
     *
     * @param length    the blob's length, 0 to {@link #maxMessageLength()}
     * @param timeoutNs how long to wait for room, in nanoseconds
     * @return the offset in {@link #claimBuffer()} where the blob goes, or {@link #BACK_PRESSURED} on timeout
     */
    default long tryClaim(final int length, final long timeoutNs) {
        long claim = tryClaim(length);
        if (claim >= 0) {
            return claim;
        }
        final long deadline = System.nanoTime() + timeoutNs;
        long parkNs = 1_000;
        for (int attempt = 0; ; attempt++) {
            if (System.nanoTime() - deadline >= 0) {
                return BACK_PRESSURED;
            }
            if (attempt < 100) {
                Thread.onSpinWait();
            } else if (attempt < 200) {
                Thread.yield();
            } else {
                java.util.concurrent.locks.LockSupport.parkNanos(parkNs);
                parkNs = Math.min(parkNs * 2, 1_000_000);
            }
            claim = tryClaim(length);
            if (claim >= 0) {
                return claim;
            }
        }
    }

    /**
     * {@return the memory the pending claim points into; valid until {@link #commit} or {@link #abort}}
     *
     * @throws IllegalStateException if no claim is pending
     */
    MemorySegment claimBuffer();

    /**
     * Publishes the claimed blob.
     *
     * @param claim the value {@link #tryClaim} returned
     * @throws IllegalStateException if {@code claim} is not the pending claim
     */
    void commit(long claim);

    /**
     * Gives up the claimed room; the peer receives nothing.
     *
     * @param claim the value {@link #tryClaim} returned
     * @throws IllegalStateException if {@code claim} is not the pending claim
     */
    void abort(long claim);

    /**
     * Makes every blob offered so far visible to the peer, for channels that publish in batches (a
     * shared-memory queue with {@link ShmQueueOptions#publishBatchBytes()} set); a no-op for the others,
     * which publish each blob as it is offered or committed.
     */
    default void flush() {
    }

    /**
     * Hands every pending blob, up to {@code limit}, to {@code handler}, in order. Does not wait.
     *
     * @param handler receives each blob
     * @param limit   the most blobs to hand over, at least 1
     * @return how many blobs were handed over, possibly 0
     * @throws dev.isthmus.ChannelClosedException if the peer closed and every blob it sent was received,
     *                                            or this end is closed
     * @throws dev.isthmus.PeerDeadException      if the peer died and every blob it committed was received
     * @throws dev.isthmus.CorruptDataException   if the peer wrote something impossible
     */
    int poll(BlobHandler handler, int limit);

    /**
     * Like {@link #poll(BlobHandler, int)}, but waits up to {@code timeoutNs} for the first blob.
     *
     * @param handler   receives each blob
     * @param limit     the most blobs to hand over, at least 1
     * @param timeoutNs how long to wait for the first blob, in nanoseconds
     * @return how many blobs were handed over; 0 if none came within the timeout
     */
    int poll(BlobHandler handler, int limit, long timeoutNs);

    /**
     * {@return whether this end is open and the peer has not been seen closed or dead}
     */
    boolean isOpen();

    /**
     * Wakes this process's threads waiting in this channel, from any thread: a timed {@code poll} returns
     * (0 if nothing came), a send waiting for room checks the peer again, each checking at once whether the
     * peer was declared dead. For a thread that stops the waiting one, or a watch declared dead, without
     * waiting for the waiter's next slice. May wake a wait that begins just after, once.
     *
     * @return whether this channel can wake its waiters this way; {@code false} (the default) if not, as for
     *     a socket, whose waiters wake when it is closed or shut down
     */
    default boolean wakeUp() {
        return false;
    }

    /**
     * {@return this channel's counters (messages and bytes each way, back-pressure, sleeps and wake-ups,
     * corrupt input refused; {@link dev.isthmus.stat.StatKind.Channel}), in this process's
     * {@linkplain dev.isthmus.stat.StatFile stat file} where {@code isthmus stat} reads them; {@code null}
     * if this implementation keeps none}
     *
     * <p>Any thread may read them; the channel alone writes them.
     */
    default dev.isthmus.stat.StatRecord stats() {
        return null;
    }

    /**
     * Closes this end; the peer sees it after receiving what was sent before. Releases the channel's
     * memory and descriptors in this process. Idempotent.
     */
    @Override
    void close();

    private static int checkedLength(final long length) {
        if (length > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("length=" + length + " exceeds the largest blob");
        }
        return (int) length;
    }
}
