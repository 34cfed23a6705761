/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.transport.BlobChannel;
import dev.isthmus.transport.BlobHandler;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.function.Function;

import static dev.isthmus.struc.StructuredDescriptor.FLAGS_OFFSET;
import static dev.isthmus.struc.StructuredDescriptor.FLAG_MORE;
import static dev.isthmus.struc.StructuredDescriptor.FRAGMENT_HEADER_LENGTH;
import static dev.isthmus.struc.StructuredDescriptor.FRAGMENT_ID_OFFSET;
import static dev.isthmus.struc.StructuredDescriptor.HEADER_LENGTH;
import static dev.isthmus.struc.StructuredDescriptor.ID_OFFSET;
import static dev.isthmus.struc.StructuredDescriptor.IN_RESPONSE_TO_OFFSET;
import static dev.isthmus.struc.StructuredDescriptor.KIND_FAILURE;
import static dev.isthmus.struc.StructuredDescriptor.KIND_FRAGMENT;
import static dev.isthmus.struc.StructuredDescriptor.KIND_NOTIFICATION;
import static dev.isthmus.struc.StructuredDescriptor.KIND_OFFSET;
import static dev.isthmus.struc.StructuredDescriptor.KIND_REQUEST;
import static dev.isthmus.struc.StructuredDescriptor.KIND_RESPONSE;
import static dev.isthmus.struc.StructuredDescriptor.MAGIC;
import static dev.isthmus.struc.StructuredDescriptor.MAGIC_OFFSET;
import static dev.isthmus.struc.StructuredDescriptor.PAYLOAD_LENGTH_OFFSET;
import static dev.isthmus.struc.StructuredDescriptor.TOKEN_OFFSET;
import static dev.isthmus.struc.StructuredDescriptor.TYPE_OFFSET;
import static dev.isthmus.struc.StructuredDescriptor.VERSION;
import static dev.isthmus.struc.StructuredDescriptor.VERSION_OFFSET;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * Typed messages over a {@link BlobChannel}: notifications, requests answered by one response or a
 * stream of them, handlers chosen by message type.
 *
 * {@snippet :
 * StructuredChannel<Body.Reader, Body.Builder> ch = StructuredChannel.open(blobChannel, codec, options);
 * ch.onMessage(Body.Which.GET_CACHE_REQ, (request, replier) -> replier.reply(response));
 * Outgoing<Body.Builder> request = ch.newMessage();
 * request.root().initGetCacheReq().setFileName("huge-file.bin");
 * try (Received<Body.Reader> response = ch.request(request, Duration.ofSeconds(5))) {
 *     read(response.root());
 * }
 * }
 *
 * <p><b>Delivery.</b> Messages arrive in the order they were sent. A request or notification whose type
 * has no handler yet is kept, in order, until {@link #onMessage} registers one, up to
 * {@link StructuredChannelOptions#maxUnhandledMessages()} messages and
 * {@link StructuredChannelOptions#maxUnhandledBytes()} bytes of payload: one more fails the channel with a
 * {@link CorruptDataException} naming the bound, so that a peer cannot fill this process's memory, or keep
 * its shared memory lent, with messages no one handles. Nothing is dropped silently. A response to a request
 * that stopped waiting (it timed out or was interrupted) is released unread and counted in
 * {@link #lateResponses()}; one that arrives just as the wait ends is either returned to the caller or
 * released so, never left open.
 *
 * <p><b>Reading in place.</b> A handler registered with {@link #onMessageInPlace} is given the root of each
 * message and a replier valid only during the call; {@link #request(Outgoing, Duration, java.util.function.Function)}
 * reads the response within the call and closes it. Since nothing of those messages outlives the call, the
 * channel and the codec ({@link Codec#decodeScoped}) recycle what they made for them: a round trip of both
 * kinds costs no allocation of theirs.
 *
 * <p><b>Failure.</b> A timeout fails only the call that timed out. A transport failure (the peer closed
 * or died, corrupt data, a message carrying another session's token) fails the channel once: the error
 * handler hears of it, every pending call fails with it, and later calls fail at once.
 *
 * <p><b>Driving.</b> With a driver thread (the default), the channel receives and runs handlers on its own
 * platform thread. Without one, the caller drives it with {@link #poll(int)}, and a blocking
 * {@link #request} receives for itself while it waits: one caller at a time receives, for everyone, and the
 * others wait for their response or for their turn, which comes as soon as the receiving caller stops.
 *
 * <p><b>Threads.</b> All methods are thread-safe; handlers run one at a time, on the thread that receives.
 * A handler must not wait on its own channel there: a blocking {@code request} or a {@code poll} from a
 * handler throws {@link IllegalStateException} (it would wait for a response only that thread can receive);
 * it sends, answers, and requests with {@link #requestAsync} or {@link #requestStream}.
 * Closing the structured channel closes the blob channel under it.
 *
 * @param <R> the root reader type
 * @param <B> the root builder type
 */
public final class StructuredChannel<R, B> implements AutoCloseable {
    /**
     * The longest a receiving thread waits in one poll: {@link #close()} wakes it ({@link BlobChannel#wakeUp()},
     * or closing a socket), so this only bounds how long a wait lasts before the loop looks around.
     */
    private static final long POLL_SLICE_NS = TimeUnit.SECONDS.toNanos(1);
    /** The slice over a channel that cannot {@linkplain BlobChannel#wakeUp() wake} its waiter (a socket). */
    private static final long UNWAKEABLE_SLICE_NS = TimeUnit.MILLISECONDS.toNanos(100);

    private final BlobChannel channel;
    private final Codec<R, B> codec;
    private final StructuredChannelOptions options;
    private final long tokenHigh;
    private final long tokenLow;
    private final ReentrantLock sendLock = new ReentrantLock();
    /**
     * Held by whoever receives. Fair: a thread that must take it from the receiver ({@link #onMessage},
     * {@link #unhandledCount}, {@link #poll}, {@link #close}) wakes the receiver's poll and is next, rather
     * than racing the receiver's loop for it.
     */
    private final ReentrantLock receiveLock = new ReentrantLock(true);
    /**
     * Turns at the receive lock: callers waiting for a response without a driver thread, and threads that must
     * take the lock from whoever receives ({@link #lockReceiving}).
     */
    private final dev.isthmus.internal.ReceiveTurns turns;
    private final AtomicLong nextId = new AtomicLong();
    private final AtomicLong lateResponses = new AtomicLong();
    private final Map<Long, Pending<R>> pending = new ConcurrentHashMap<>();
    private final Map<Integer, MessageHandler<R, B>> handlers = new ConcurrentHashMap<>();
    private final ArrayDeque<Unhandled<R>> unhandled = new ArrayDeque<>();
    /** The payload bytes of the messages in {@link #unhandled}; touched only under the receive lock. */
    private long unhandledBytes;
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final BlobHandler onBlob = this::onBlob;
    private final Thread driver;
    private volatile boolean closed;
    /** How long one poll of the receiving thread lasts at most: long if the channel can be woken. */
    private final long sliceNs;

    // The synchronous request slot: one blocking request at a time waits here, with no future, no map entry
    // and no allocation of its own; concurrent ones take the pending map.
    private static final VarHandle SLOT_WAITING_FOR;
    private static final VarHandle ANSWERED;
    /**
     * Free if 0; the id of the request waiting, with {@link #SCOPED} if it reads its response in place;
     * {@code | DONE} once its response is in {@link #slotResult}.
     */
    @SuppressWarnings("unused") // through SLOT_WAITING_FOR
    private volatile long slotWaitingFor;
    /** The slot's response or {@link RemoteFailureException}: written by the receiving thread only, before DONE. */
    private Object slotResult;
    /** The thread waiting in the slot, to unpark when the driver thread completes it or the channel fails. */
    private volatile Thread slotWaiter;
    private static final long DONE = Long.MIN_VALUE;
    /** A slot's request reads its response within the call: the codec may recycle the message. Ids stay below. */
    private static final long SCOPED = 1L << 62;
    /** For a caller whose answer wakes it itself (the slot's: completeSlot unparks it). */
    private static final java.util.function.BooleanSupplier NOT_ANSWERED = () -> false;

    static {
        try {
            SLOT_WAITING_FOR = MethodHandles.lookup().findVarHandle(StructuredChannel.class, "slotWaitingFor", long.class);
            ANSWERED = MethodHandles.lookup().findVarHandle(StructuredChannel.ReplierImpl.class, "answered", boolean.class);
        } catch (final ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    // Reassembly of a payload spread over several blobs; touched only by the receiving thread.
    private long assemblingId = -1;
    private Header assemblingHeader;
    private MemorySegment assembly;
    /** The reused buffer {@link #assembly} is a slice of, or null if it is memory of its own. */
    private MemorySegment assemblyBase;
    private long assembled;
    /** A reassembly buffer handed back by a closed message, for the next payload ({@code reuseReceiveBuffer}). */
    private final AtomicReference<MemorySegment> spareAssembly = new AtomicReference<>();

    /**
     * A message's header. The receiving thread decodes each blob's into {@link #receivedHeader}, one object for
     * the channel, and keeps a {@link #copy()} of what must outlive the blob (a payload still arriving, an
     * unhandled message). Nothing reads it after a handler was called, so a handler that leads to another message
     * being decoded (registering a handler hands it the messages waiting) may overwrite it.
     */
    private static final class Header {
        private byte kind;
        private short flags;
        private int type;
        private long id;
        private long inResponseTo;
        private long payloadLength;

        Header set(final byte kind, final short flags, final int type, final long id, final long inResponseTo,
                   final long payloadLength) {
            this.kind = kind;
            this.flags = flags;
            this.type = type;
            this.id = id;
            this.inResponseTo = inResponseTo;
            this.payloadLength = payloadLength;
            return this;
        }

        Header copy() {
            return new Header().set(kind, flags, type, id, inResponseTo, payloadLength);
        }
    }

    /** The header of the blob being decoded; touched only by the receiving thread, under the receive lock. */
    private final Header receivedHeader = new Header();
    /** Walks a payload's parts as it is sent; used only under the send lock. */
    private final PartCursor sendCursor = new PartCursor();

    private record Pending<R>(CompletableFuture<Received<R>> future, Consumer<Received<R>> onEach) {
    }

    private record Unhandled<R>(Received<R> message, Header header) {
    }

    private StructuredChannel(final BlobChannel channel, final Codec<R, B> codec, final StructuredChannelOptions options) {
        this.channel = channel;
        this.turns = new dev.isthmus.internal.ReceiveTurns(receiveLock, channel::wakeUp);
        this.codec = codec;
        this.options = options;
        this.tokenHigh = options.token().getMostSignificantBits();
        this.tokenLow = options.token().getLeastSignificantBits();
        // One spurious wake-up of a poll that has not begun: harmless, and it tells whether waking works.
        this.sliceNs = channel.wakeUp() ? POLL_SLICE_NS : UNWAKEABLE_SLICE_NS;
        this.driver = options.driverThread()
            ? Thread.ofPlatform().daemon().name(options.name() + "-driver").unstarted(this::drive)
            : null;
    }

    /**
     * Opens a structured channel over a blob channel, which it then owns.
     *
     * @param channel the blob channel
     * @param codec   how messages are encoded
     * @param options driving, session token, limits
     * @param <R>     the root reader type
     * @param <B>     the root builder type
     * @return the channel, receiving already if it has a driver thread
     * @throws IllegalArgumentException if the blob channel's messages are too short to carry the framing
     */
    public static <R, B> StructuredChannel<R, B> open(final BlobChannel channel, final Codec<R, B> codec,
                                                      final StructuredChannelOptions options) {
        if (channel.maxMessageLength() < HEADER_LENGTH + 8) {
            throw new IllegalArgumentException("the blob channel carries at most " + channel.maxMessageLength()
                + " bytes per blob, fewer than the " + (HEADER_LENGTH + 8) + " structured messages need");
        }
        final StructuredChannel<R, B> structured =
            new StructuredChannel<>(Objects.requireNonNull(channel, "channel"), Objects.requireNonNull(codec, "codec"),
                Objects.requireNonNull(options, "options"));
        if (structured.driver != null) {
            structured.driver.start();
        }
        return structured;
    }

    /**
     * {@return a new message to fill and send}
     */
    public Outgoing<B> newMessage() {
        return codec.newMessage();
    }

    /**
     * {@return the codec}
     */
    public Codec<R, B> codec() {
        return codec;
    }

    /**
     * Sends a notification: a message that expects no response.
     *
     * @param message the message; it may be sent again, and must be closed by the caller
     * @throws ChannelClosedException  if the channel failed or is closed
     * @throws IsthmusTimeoutException if there was no room within the send timeout
     */
    public void send(final Outgoing<B> message) {
        send(KIND_NOTIFICATION, (short) 0, codec.typeOf(message), nextId.incrementAndGet(), 0, codec.encode(message));
    }

    /**
     * Sends a request and waits for its response. A response that comes after this call gave up (timed out,
     * interrupted) is released unread and counted in {@link #lateResponses()}; one that comes just as it
     * gives up is returned instead, with the thread's interrupt, if any, still set.
     *
     * @param message the request
     * @param timeout the longest wait; a timeout fails this call only
     * @return the response; close it when done
     * @throws IsthmusTimeoutException if no response came in time
     * @throws RemoteFailureException  if the peer's handler failed the request
     * @throws ChannelClosedException  if the channel failed or closed before the response came
     * @throws IsthmusException        if the thread was interrupted while it waited; its interrupt stays set
     * @throws IllegalStateException   if called from a handler, on the thread that receives for this channel
     */
    public Received<R> request(final Outgoing<B> message, final Duration timeout) {
        checkNotReceiving("a blocking request");
        final long id = nextId.incrementAndGet();
        if (SLOT_WAITING_FOR.compareAndSet(this, 0L, id)) {
            return requestInSlot(id, id, message, timeout);
        }
        return requestInMap(id, message, timeout);
    }

    /**
     * Sends a request, waits for its response, and reads it in place with {@code reader}: the response is
     * closed when {@code reader} returns (or throws), and this returns what {@code reader} returned. As nothing
     * of the response outlives the call, the channel and its codec recycle what they made for it: with one
     * such request waiting at a time, a request answered by a response read in place allocates nothing of
     * theirs (the Cap'n Proto codec: nothing for a response sent in one segment, or inline).
     *
     * {@snippet :
     * long parts = channel.request(request, Duration.ofSeconds(5), response -> response.getGetCacheRsp().getFileParts().size());
     * }
     *
     * <p>{@code reader} runs on the calling thread. The root it is given, and every reader taken from it, must
     * not be kept past the call: the memory they read goes back to the sender when it returns.
     *
     * @param message the request
     * @param timeout the longest wait; a timeout fails this call only
     * @param reader  reads the response's root; what it throws is thrown here, after the response is closed
     * @param <T>     what the reader makes of the response
     * @return what {@code reader} returned
     * @throws IsthmusTimeoutException if no response came in time
     * @throws RemoteFailureException  if the peer's handler failed the request
     * @throws ChannelClosedException  if the channel failed or closed before the response came
     * @throws IllegalStateException   if called from a handler, on the thread that receives for this channel
     */
    public <T> T request(final Outgoing<B> message, final Duration timeout, final Function<? super R, ? extends T> reader) {
        Objects.requireNonNull(reader, "reader");
        checkNotReceiving("a blocking request");
        final long id = nextId.incrementAndGet();
        final Received<R> response = SLOT_WAITING_FOR.compareAndSet(this, 0L, id | SCOPED)
            ? requestInSlot(id, id | SCOPED, message, timeout)
            : requestInMap(id, message, timeout);
        try {
            return reader.apply(response.root());
        } finally {
            response.close();
        }
    }

    /** A blocking request while the slot is taken: its response comes through the pending map. */
    private Received<R> requestInMap(final long id, final Outgoing<B> message, final Duration timeout) {
        final CompletableFuture<Received<R>> future = new CompletableFuture<>();
        pending.put(id, new Pending<>(future, null));
        try {
            send(KIND_REQUEST, (short) 0, codec.typeOf(message), id, 0, codec.encode(message));
        } catch (final RuntimeException e) {
            pending.remove(id);
            if (!future.completeExceptionally(e) && !future.isCompletedExceptionally()) {
                // Answered although the send failed (a peer answering an id it had not been sent): unread.
                lateResponses.incrementAndGet();
                future.join().close();
            }
            throw e;
        }
        return await(id, future, System.nanoTime() + timeout.toNanos(), timeout);
    }

    /**
     * A blocking request in the slot, which this thread claimed for {@code id} (as {@code claimed}: the id, with
     * {@link #SCOPED} or not): the receiving thread puts the response in {@link #slotResult} and marks the slot
     * done; whoever moves the slot away from {@code claimed} first (done, or timed out, or failed) decides the
     * outcome.
     */
    private Received<R> requestInSlot(final long id, final long claimed, final Outgoing<B> message,
                                      final Duration timeout) {
        slotWaiter = Thread.currentThread();
        try {
            send(KIND_REQUEST, (short) 0, codec.typeOf(message), id, 0, codec.encode(message));
        } catch (final RuntimeException | Error e) {
            slotWaiter = null;
            if (!SLOT_WAITING_FOR.compareAndSet(this, claimed, 0L)) {
                // Answered although the send failed (a peer answering an id it had not been sent): unread.
                discardSlotResult();
            }
            throw e;
        }
        final long deadline = System.nanoTime() + timeout.toNanos();
        final long done = claimed | DONE;
        while (true) {
            // acquire (volatile read): pairs with the receiving thread's CAS to done, after it wrote slotResult.
            if ((long) SLOT_WAITING_FOR.getVolatile(this) == done) {
                return takeSlotResult();
            }
            final long remaining = deadline - System.nanoTime();
            if (failure.get() != null || remaining <= 0 || Thread.currentThread().isInterrupted()) {
                // Before the slot is free: a request that claims it next sets its own waiter.
                slotWaiter = null;
                if (SLOT_WAITING_FOR.compareAndSet(this, claimed, 0L)) {
                    if (failure.get() != null) {
                        throw failureException();
                    }
                    if (remaining <= 0) {
                        throw new IsthmusTimeoutException(options.name() + ": no response to request " + id + " within "
                            + timeout);
                    }
                    throw new IsthmusException(options.name() + ": interrupted while waiting for the response to request "
                        + id);
                }
                // The response arrived as the wait ended: it is ours (an interrupt stays set for the caller).
                return takeSlotResult();
            }
            if (driver == null) {
                if (turns.tryTakeTurn()) {
                    try {
                        // Looked at again under the lock: the holder before may have completed it, and a poll
                        // now would wait for a message that is not coming.
                        if ((long) SLOT_WAITING_FOR.getVolatile(this) != done) {
                            receive(Math.min(remaining, sliceNs));
                        }
                    } finally {
                        turns.unlock();
                    }
                } else {
                    // completeSlot unparks this thread too, registered or not: no need to look at the slot.
                    turns.awaitTurn(this, Math.min(remaining, sliceNs), NOT_ANSWERED);
                }
            } else {
                java.util.concurrent.locks.LockSupport.parkNanos(this, Math.min(remaining, sliceNs));
            }
        }
    }

    @SuppressWarnings("unchecked")
    private Received<R> takeSlotResult() {
        final Object result = slotResult;
        releaseSlot();
        if (result instanceof RuntimeException failed) {
            throw failed;
        }
        return (Received<R>) result;
    }

    /** Releases a done slot whose waiter will not read its result: counted late, and closed if a response. */
    private void discardSlotResult() {
        final Object result = slotResult;
        releaseSlot();
        lateResponses.incrementAndGet();
        if (result instanceof Received<?> response) {
            response.close();
        }
    }

    private void releaseSlot() {
        slotResult = null;
        slotWaiter = null;
        // release: the slot's fields are cleared before another request may claim it with its CAS.
        SLOT_WAITING_FOR.setVolatile(this, 0L);
    }

    /**
     * The receiving thread offers the slot a response or failure for {@code requestId}.
     *
     * @return whether the slot was waiting for it and took it
     */
    private boolean completeSlot(final long requestId, final Object result) {
        final long waiting = (long) SLOT_WAITING_FOR.getVolatile(this);
        if (requestId <= 0 || (waiting & ~SCOPED) != requestId) {
            return false;
        }
        // Only the receiving thread (under receiveLock) writes slotResult, and only while the slot waits for
        // this id; the CAS publishes it (release) to the waiter's volatile read of done.
        slotResult = result;
        if (SLOT_WAITING_FOR.compareAndSet(this, waiting, waiting | DONE)) {
            final Thread waiter = slotWaiter;
            if (waiter != null && waiter != Thread.currentThread()) {
                java.util.concurrent.locks.LockSupport.unpark(waiter);
            }
            return true;
        }
        // The waiter gave up (timeout, failure) just now.
        slotResult = null;
        return false;
    }

    /**
     * Sends a request; the future completes with its response.
     *
     * @param message the request
     * @return the response's future; it fails with {@link RemoteFailureException} or the channel's failure
     */
    public CompletableFuture<Received<R>> requestAsync(final Outgoing<B> message) {
        final long id = nextId.incrementAndGet();
        final CompletableFuture<Received<R>> future = new CompletableFuture<>();
        pending.put(id, new Pending<>(future, null));
        sendRequest(id, message, future);
        return future;
    }

    /**
     * Sends a request answered by a stream of responses; each goes to {@code onEach} (which must close
     * it), and the future completes after the last.
     *
     * @param message the request
     * @param onEach  receives every response, in order, on the receiving thread
     * @return completes after the last response, or fails like {@link #requestAsync}
     */
    public CompletableFuture<Void> requestStream(final Outgoing<B> message, final Consumer<Received<R>> onEach) {
        final long id = nextId.incrementAndGet();
        final CompletableFuture<Received<R>> future = new CompletableFuture<>();
        pending.put(id, new Pending<>(future, Objects.requireNonNull(onEach, "onEach")));
        sendRequest(id, message, future);
        return future.thenApply(last -> null);
    }

    private void sendRequest(final long id, final Outgoing<B> message, final CompletableFuture<Received<R>> future) {
        try {
            send(KIND_REQUEST, (short) 0, codec.typeOf(message), id, 0, codec.encode(message));
        } catch (final RuntimeException e) {
            pending.remove(id);
            future.completeExceptionally(e);
        }
    }

    private Received<R> await(final long id, final CompletableFuture<Received<R>> future, final long deadline,
                              final Duration timeout) {
        try {
            while (!future.isDone()) {
                final long remaining = deadline - System.nanoTime();
                if (remaining <= 0) {
                    throw new TimeoutException();
                }
                if (Thread.interrupted()) {
                    // Checked here too: a caller that receives for itself would not notice it before the deadline.
                    throw new InterruptedException();
                }
                if (driver == null) {
                    if (turns.tryTakeTurn()) {
                        try {
                            // Looked at again under the lock: the holder before may have completed it.
                            if (!future.isDone()) {
                                receive(Math.min(remaining, sliceNs));
                            }
                        } finally {
                            turns.unlock();
                        }
                    } else {
                        // Parked rather than in future.get: a caller that stops receiving wakes it to take over.
                        // Its completion unparks no one: looked at once registered.
                        turns.awaitTurn(this, Math.min(remaining, sliceNs), future::isDone);
                    }
                } else {
                    try {
                        return future.get(Math.min(remaining, sliceNs), TimeUnit.NANOSECONDS);
                    } catch (final TimeoutException e) {
                        // another slice
                    }
                }
            }
            return future.get();
        } catch (final TimeoutException e) {
            return giveUp(id, future,
                new IsthmusTimeoutException(options.name() + ": no response to request " + id + " within " + timeout));
        } catch (final ExecutionException e) {
            throw rethrow(e.getCause());
        } catch (final InterruptedException e) {
            // Set again whatever the outcome: a caller handed the response still learns of the interrupt.
            Thread.currentThread().interrupt();
            return giveUp(id, future, new IsthmusException(options.name()
                + ": interrupted while waiting for the response to request " + id, e));
        }
    }

    /**
     * Stops waiting for request {@code id}: fails its future with {@code why}, unless the response (or its
     * failure) completed it first. Whichever completes the future first decides: if this call does,
     * {@link #respond} finds it done and releases the response as late; if the response does, it is the
     * caller's.
     *
     * @return the response, if it came first
     * @throws RuntimeException {@code why}, or the failure that came first
     */
    private Received<R> giveUp(final long id, final CompletableFuture<Received<R>> future, final RuntimeException why) {
        pending.remove(id);
        if (future.completeExceptionally(why)) {
            throw why;
        }
        try {
            return future.join();
        } catch (final java.util.concurrent.CompletionException failed) {
            throw rethrow(failed.getCause());
        }
    }

    private static RuntimeException rethrow(final Throwable cause) {
        if (cause instanceof RuntimeException runtime) {
            return runtime;
        }
        if (cause instanceof Error error) {
            throw error;
        }
        return new IsthmusException(cause.toString(), cause);
    }

    /**
     * Registers the handler of one message type, replacing any earlier one, and hands it, in order, the
     * messages of that type that arrived before it.
     *
     * @param type    the message type
     * @param handler the handler
     */
    public void onMessage(final int type, final MessageHandler<R, B> handler) {
        Objects.requireNonNull(handler, "handler");
        lockReceiving();
        try {
            handlers.put(type, handler);
            final List<Unhandled<R>> waiting = new ArrayList<>();
            final Iterator<Unhandled<R>> iterator = unhandled.iterator();
            while (iterator.hasNext()) {
                final Unhandled<R> message = iterator.next();
                if (message.header.type == type) {
                    waiting.add(message);
                    iterator.remove();
                    unhandledBytes -= message.header.payloadLength;
                }
            }
            int next = 0;
            try {
                for (; next < waiting.size(); next++) {
                    invoke(handler, waiting.get(next).message, waiting.get(next).header);
                }
            } finally {
                // An Error out of the handler (invoke closed the message it was given): the messages it did not
                // reach are taken from the channel already; close them rather than leave them lent.
                for (int i = next + 1; i < waiting.size(); i++) {
                    waiting.get(i).message.close();
                }
            }
        } finally {
            unlockReceiving();
        }
    }

    /**
     * Refuses to wait, or to receive, on the thread that receives for this channel, inside a handler's call: a
     * blocking request there would wait for a response only this thread can receive, and a poll would hand
     * over the message being handled again.
     */
    private void checkNotReceiving(final String what) {
        if (receiveLock.isHeldByCurrentThread()) {
            throw new IllegalStateException(options.name() + ": " + what + " from a handler, on the thread that receives"
                + " for this channel, would wait for itself or receive the message it handles again; a handler"
                + " requests with requestAsync or requestStream");
        }
    }

    /**
     * Takes the receive lock from whoever holds it asleep in a poll (the driver, or a caller receiving for
     * itself) without waiting for the poll's slice to end ({@link dev.isthmus.internal.ReceiveTurns#lock}).
     */
    private void lockReceiving() {
        turns.lock();
    }

    /** Lets go of the receive lock, and wakes the callers parked for their turn. */
    private void unlockReceiving() {
        turns.unlock();
    }

    /**
     * Registers the handler of the message type whose number is the constant's ordinal (for Cap'n Proto,
     * the root union's {@code Which} enum).
     *
     * @param type    the message type
     * @param handler the handler
     */
    public void onMessage(final Enum<?> type, final MessageHandler<R, B> handler) {
        onMessage(type.ordinal(), handler);
    }

    /**
     * Registers a handler that reads the messages of one type in place and answers within the call,
     * replacing any earlier handler of that type, and hands it, in order, the messages of that type that
     * arrived before it. The channel recycles the message and the replier it hands the handler, and the codec
     * what it read the message with: a request answered within the call costs no allocation of theirs
     * (see {@link InPlaceHandler} for what that asks of the handler).
     *
     * @param type    the message type
     * @param handler the handler
     */
    public void onMessageInPlace(final int type, final InPlaceHandler<R, B> handler) {
        onMessage(type, new InPlace<>(Objects.requireNonNull(handler, "handler")));
    }

    /**
     * {@link #onMessageInPlace(int, InPlaceHandler)} for the message type whose number is the constant's
     * ordinal (for Cap'n Proto, the root union's {@code Which} enum).
     *
     * @param type    the message type
     * @param handler the handler
     */
    public void onMessageInPlace(final Enum<?> type, final InPlaceHandler<R, B> handler) {
        onMessageInPlace(type.ordinal(), handler);
    }

    /** An {@link InPlaceHandler} among the handlers: {@link #invoke} hands it the root and a scoped replier. */
    private record InPlace<R, B>(InPlaceHandler<R, B> handler) implements MessageHandler<R, B> {
        @Override
        public void onMessage(final Received<R> message, final Replier<B> replier) throws Exception {
            handler.onMessage(message.root(), replier);
        }
    }

    /**
     * Receives and dispatches what has arrived, without waiting: for channels without a driver thread.
     *
     * @param limit the most blobs to receive
     * @return how many blobs were received
     * @throws ChannelClosedException if the channel failed or is closed
     * @throws IllegalStateException  if called from a handler, on the thread that receives for this channel
     */
    public int poll(final int limit) {
        checkUsable();
        checkNotReceiving("poll");
        lockReceiving();
        try {
            return channel.poll(onBlob, limit);
        } catch (final RuntimeException | Error e) {
            fail(e);
            throw failureException();
        } finally {
            unlockReceiving();
        }
    }

    private void receive(final long timeoutNs) {
        // Under the receive lock: close() and fail() set these before they wake the channel; a wake-up that a
        // caller receiving before this one consumed would not end this poll.
        if (closed || failure.get() != null) {
            return;
        }
        try {
            channel.poll(onBlob, 64, timeoutNs);
        } catch (final RuntimeException | Error e) {
            fail(e);
        }
    }

    private void drive() {
        if (options.driverCpu() >= 0) {
            dev.isthmus.sync.ThreadAffinity.pinToAllowed(options.driverCpu());
        }
        while (!closed && failure.get() == null) {
            receiveLock.lock();
            try {
                // A thread taking the lock (lockReceiving) may not be queued on it yet: a short poll, after which
                // the fair lock hands it over, and the driver's turn comes back after it, in order.
                receive(turns.wanted() ? dev.isthmus.internal.ReceiveTurns.LOCK_RETRY_NS : sliceNs);
            } finally {
                receiveLock.unlock();
            }
        }
    }

    // ---- receiving ----

    private void onBlob(final MemorySegment buffer, final long offset, final int length) {
        try {
            decodeBlob(buffer, offset, length);
        } catch (final CorruptDataException e) {
            // Refused here, by this layer (the transport counts what it refuses itself); under the receive lock.
            final dev.isthmus.stat.StatRecord stats = channel.stats();
            if (stats != null) {
                stats.addAtomic(dev.isthmus.stat.StatKind.Channel.CORRUPT_REFUSED, 1);
            }
            dev.isthmus.internal.event.ChannelEvents.corruptInput(options.name(), "structured", e.getMessage());
            throw e;
        }
    }

    private void decodeBlob(final MemorySegment buffer, final long offset, final int length) {
        if (length < FRAGMENT_HEADER_LENGTH || buffer.get(JAVA_INT_UNALIGNED, offset + MAGIC_OFFSET) != MAGIC
            || buffer.get(JAVA_BYTE, offset + VERSION_OFFSET) != VERSION) {
            throw new CorruptDataException(options.name() + ": a blob of " + length + " bytes is not a structured message"
                + " of version " + VERSION);
        }
        final byte kind = buffer.get(JAVA_BYTE, offset + KIND_OFFSET);
        if (kind == KIND_FRAGMENT) {
            continueAssembly(buffer, offset, length);
            return;
        }
        if (assemblingId >= 0) {
            throw new CorruptDataException(options.name() + ": message " + assemblingId + " is missing "
                + (assemblingHeader.payloadLength - assembled) + " payload bytes");
        }
        if (length < HEADER_LENGTH) {
            throw new CorruptDataException(options.name() + ": a " + length + "-byte blob is shorter than a header");
        }
        if (kind < KIND_NOTIFICATION || kind > KIND_FAILURE) {
            throw new CorruptDataException(options.name() + ": unknown message kind " + kind);
        }
        if (buffer.get(JAVA_LONG_UNALIGNED, offset + TOKEN_OFFSET) != tokenHigh
            || buffer.get(JAVA_LONG_UNALIGNED, offset + TOKEN_OFFSET + 8) != tokenLow) {
            throw new CorruptDataException(options.name() + ": a message carries a wrong session token");
        }
        final Header header = receivedHeader.set(kind, buffer.get(JAVA_SHORT_UNALIGNED, offset + FLAGS_OFFSET),
            buffer.get(JAVA_INT_UNALIGNED, offset + TYPE_OFFSET), buffer.get(JAVA_LONG_UNALIGNED, offset + ID_OFFSET),
            buffer.get(JAVA_LONG_UNALIGNED, offset + IN_RESPONSE_TO_OFFSET),
            buffer.get(JAVA_LONG_UNALIGNED, offset + PAYLOAD_LENGTH_OFFSET));
        final long first = length - HEADER_LENGTH;
        if (header.payloadLength < first || header.payloadLength > options.maxPayloadBytes()) {
            throw new CorruptDataException(options.name() + ": message " + header.id + " declares a payload of "
                + header.payloadLength + " bytes (" + first + " in its first blob, at most " + options.maxPayloadBytes()
                + " accepted)");
        }
        if (first == header.payloadLength) {
            // Read where it lies: no slice per message.
            dispatch(header, buffer, offset + HEADER_LENGTH, false, null);
            return;
        }
        assemblingId = header.id;
        assemblingHeader = header.copy();
        final MemorySegment spare = options.reuseReceiveBuffer() ? spareAssembly.getAndSet(null) : null;
        if (spare != null && spare.byteSize() >= header.payloadLength) {
            // Memory this channel holds already: nothing is allocated for what the peer declares.
            assembly = spare.asSlice(0, header.payloadLength);
            assemblyBase = spare;
        } else {
            // What the peer declares is allocated only as its bytes arrive, beyond upFrontBytes.
            assembly = allocateAssembly(Math.min(header.payloadLength, Math.max(first, options.upFrontBytes())));
            assemblyBase = null;
        }
        MemorySegment.copy(buffer, offset + HEADER_LENGTH, assembly, 0, first);
        assembled = first;
    }

    private void continueAssembly(final MemorySegment buffer, final long offset, final int length) {
        final long id = buffer.get(JAVA_LONG_UNALIGNED, offset + FRAGMENT_ID_OFFSET);
        if (assemblingId < 0 || id != assemblingId) {
            throw new CorruptDataException(options.name() + ": a payload part of message " + id + " arrived while "
                + (assemblingId < 0 ? "no message was incomplete" : "message " + assemblingId + " was incomplete"));
        }
        final long part = length - FRAGMENT_HEADER_LENGTH;
        final long declared = assemblingHeader.payloadLength;
        if (part > declared - assembled) {
            throw new CorruptDataException(options.name() + ": message " + id + " has more payload than it declared ("
                + declared + " bytes)");
        }
        if (part > assembly.byteSize() - assembled) {
            // Doubling, capped at the declared length: the buffer ends exactly that long.
            final MemorySegment grown = allocateAssembly(Math.min(declared,
                Math.max(assembled + part, assembly.byteSize() * 2)));
            assemblyBase = null;
            MemorySegment.copy(assembly, 0, grown, 0, assembled);
            assembly = grown;
        }
        MemorySegment.copy(buffer, offset + FRAGMENT_HEADER_LENGTH, assembly, assembled, part);
        assembled += part;
        if (assembled == declared) {
            final Header header = assemblingHeader;
            final MemorySegment payload = assembly;
            final MemorySegment base = assemblyBase == null ? payload : assemblyBase;
            assemblingId = -1;
            assemblingHeader = null;
            assembly = null;
            assemblyBase = null;
            dispatch(header, payload, 0, true, options.reuseReceiveBuffer() ? base : null);
        }
    }

    private static MemorySegment allocateAssembly(final long bytes) {
        return bytes <= Integer.MAX_VALUE - 16 ? MemorySegment.ofArray(new byte[(int) bytes])
            : java.lang.foreign.Arena.ofAuto().allocate(bytes);
    }

    /**
     * @param buffer   the memory the payload lies in: the channel's (valid during this call), or, if
     *                 {@code owned}, the reassembled payload itself
     * @param offset   where the payload starts in {@code buffer}; its length is the header's
     * @param owned    whether the payload is in memory of its own (reassembled), which the codec may keep
     * @param reusable the buffer an owned payload lies in, to take back for the next reassembly once the
     *                 message is closed; null if it is not to be reused
     */
    private void dispatch(final Header header, final MemorySegment buffer, final long offset, final boolean owned,
                          final MemorySegment reusable) {
        switch (header.kind) {
            case KIND_RESPONSE, KIND_FAILURE -> respond(header, buffer, offset, owned, reusable);
            default -> {
                final MessageHandler<R, B> handler = handlers.get(header.type);
                if (handler == null) {
                    keepUnhandled(header, buffer, offset, owned, reusable);
                } else if (handler instanceof InPlace<R, B> && !owned) {
                    // Read within the handler's call, which closes it, and never handed on: the codec may recycle it.
                    invoke(handler, codec.decodeScoped(buffer, offset, header.payloadLength, header.type, header.id),
                        header);
                } else {
                    invoke(handler, decode(header, buffer, offset, owned, reusable), header);
                }
            }
        }
    }

    /**
     * Decodes and keeps a message whose type has no handler yet, within the bounds of the options; beyond
     * them, fails the channel without decoding it, so that nothing is borrowed for it (the exception goes up
     * through {@link #onBlob} to the receiving loop).
     */
    private void keepUnhandled(final Header header, final MemorySegment buffer, final long offset, final boolean owned,
                               final MemorySegment reusable) {
        final int maxMessages = options.maxUnhandledMessages();
        final long maxBytes = options.maxUnhandledBytes();
        if (unhandled.size() >= maxMessages) {
            throw new CorruptDataException(options.name() + ": more than " + maxMessages
                + " messages wait for a handler of their type (StructuredChannelOptions.maxUnhandledMessages)");
        }
        if (header.payloadLength > maxBytes - unhandledBytes) {
            throw new CorruptDataException(options.name() + ": more than " + maxBytes
                + " payload bytes wait for a handler of their type (StructuredChannelOptions.maxUnhandledBytes)");
        }
        unhandled.add(new Unhandled<>(decode(header, buffer, offset, owned, reusable), header.copy()));
        unhandledBytes += header.payloadLength;
    }

    private Received<R> decode(final Header header, final MemorySegment buffer, final long offset, final boolean owned,
                               final MemorySegment reusable) {
        if (!owned) {
            return codec.decode(buffer, offset, header.payloadLength, header.type, header.id);
        }
        if (reusable == null) {
            return codec.decode(buffer, header.type, header.id, true);
        }
        // Handed back when the message is closed (any thread), for the next payload that arrives in parts.
        return codec.decodeReusable(buffer, header.type, header.id, () -> spareAssembly.set(reusable));
    }

    /** The text of a failure response: the payload, as UTF-8. */
    private static String failureText(final Header header, final MemorySegment buffer, final long offset) {
        return new String(buffer.asSlice(offset, header.payloadLength).toArray(JAVA_BYTE), StandardCharsets.UTF_8);
    }

    private void respond(final Header header, final MemorySegment buffer, final long offset, final boolean owned,
                         final MemorySegment reusable) {
        final boolean more = (header.flags & FLAG_MORE) != 0;
        final long slot = (long) SLOT_WAITING_FOR.getVolatile(this);
        if (!more && (slot & ~SCOPED) == header.inResponseTo && header.inResponseTo > 0) {
            // A slot whose request has given up since sends this on as a late response (completeSlot).
            respondToSlot(header, buffer, offset, owned, reusable, (slot & SCOPED) != 0);
            return;
        }
        final Pending<R> waiting = more ? pending.get(header.inResponseTo) : pending.remove(header.inResponseTo);
        if (more && header.kind != KIND_FAILURE && waiting != null && waiting.onEach == null) {
            // A stream part answering a plain request, whose response is the final one, as in the slot: this part
            // is released unread (its memory given back), and the request waits on, until its deadline at most.
            decode(header, buffer, offset, owned, reusable).close();
            lateResponses.incrementAndGet();
            return;
        }
        if (header.kind == KIND_FAILURE) {
            final String text = failureText(header, buffer, offset);
            if (waiting == null) {
                lateResponses.incrementAndGet();
            } else {
                pending.remove(header.inResponseTo);
                if (!waiting.future.completeExceptionally(new RemoteFailureException(options.name() + ": request "
                    + header.inResponseTo + " failed at the peer: " + text))) {
                    // The wait ended first (giveUp, or the channel failed).
                    lateResponses.incrementAndGet();
                }
            }
            return;
        }
        final Received<R> response;
        try {
            response = decode(header, buffer, offset, owned, reusable);
        } catch (final RuntimeException e) {
            // A response that cannot be decoded still ends its request: the caller gets why, not a hang.
            if (waiting != null) {
                pending.remove(header.inResponseTo);
                waiting.future.completeExceptionally(e);
            }
            throw e;
        }
        if (waiting == null) {
            lateResponses.incrementAndGet();
            response.close();
            return;
        }
        if (waiting.onEach != null) {
            try {
                waiting.onEach.accept(response);
            } catch (final RuntimeException e) {
                options.errorHandler().accept(e);
                // The callback owned the response and failed before it could close it; idempotent if it did.
                response.close();
            }
            if (!more) {
                waiting.future.complete(null);
            }
        } else if (!waiting.future.complete(response)) {
            // The wait ended first (giveUp, or the channel failed): no one will read it.
            lateResponses.incrementAndGet();
            response.close();
        }
    }

    private void respondToSlot(final Header header, final MemorySegment buffer, final long offset, final boolean owned,
                               final MemorySegment reusable, final boolean scoped) {
        if (header.kind == KIND_FAILURE) {
            final String text = failureText(header, buffer, offset);
            if (!completeSlot(header.inResponseTo, new RemoteFailureException(options.name() + ": request "
                + header.inResponseTo + " failed at the peer: " + text))) {
                lateResponses.incrementAndGet();
            }
            return;
        }
        final Received<R> response;
        try {
            // Scoped: read within the waiter's call, which closes it, and by nothing else.
            response = scoped && !owned ? codec.decodeScoped(buffer, offset, header.payloadLength, header.type, header.id)
                : decode(header, buffer, offset, owned, reusable);
        } catch (final RuntimeException e) {
            // A response that cannot be decoded still ends its request: the caller gets why, not a hang.
            completeSlot(header.inResponseTo, e);
            throw e;
        }
        if (!completeSlot(header.inResponseTo, response)) {
            lateResponses.incrementAndGet();
            response.close();
        }
    }

    private void invoke(final MessageHandler<R, B> handler, final Received<R> message, final Header header) {
        final long requestId = header.kind == KIND_REQUEST ? header.id : 0;
        final boolean inPlace = handler instanceof InPlace<R, B>;
        final ReplierImpl replier;
        if (!inPlace) {
            replier = new ReplierImpl(requestId, false);
        } else if (inPlaceReplier.scope == null) {
            // Receiving thread only: the one replier serves every in-place call that is not nested in another.
            replier = inPlaceReplier.enter(requestId);
        } else {
            // A handler that registers another, which is handed the messages waiting: the outer call's replier
            // is in use.
            replier = new ReplierImpl(requestId, true).enter(requestId);
        }
        try {
            handler.onMessage(message, replier);
        } catch (final Exception e) {
            options.errorHandler().accept(e);
            if (replier.expectsResponse() && !replier.answered && !replier.noRoom) {
                try {
                    replier.fail(e.toString());
                } catch (final RuntimeException failure) {
                    // The channel cannot carry even the failure (it failed, or is closing): its own error says so.
                    options.errorHandler().accept(failure);
                }
            }
        } finally {
            replier.scope = null;
            if (inPlace || !(message instanceof AbstractReceived<R> received) || !received.isRetained()) {
                message.close();
            }
        }
    }

    /** The replier of in-place handlers, recycled from call to call; touched only by the receiving thread. */
    private final ReplierImpl inPlaceReplier = new ReplierImpl(0, true);

    private final class ReplierImpl implements Replier<B> {
        private long requestId;
        /**
         * For an in-place handler's replier, the thread in the handler's call, during it only (null once it
         * returned); null for a replier that may be kept.
         */
        private Thread scope;
        private final boolean scoped;
        /**
         * Whether the request was answered, or an answer is being sent: claimed through {@link #ANSWERED}, and
         * given back if that send fails.
         */
        private volatile boolean answered;
        /**
         * Whether the last try to answer found no room within the send timeout: a failure sent for the handler's
         * exception would only wait as long again for the same room. Cleared by every try. Plain: the handler's
         * exception is seen by the thread that called it, after the tries it made from that thread.
         */
        private boolean noRoom;

        ReplierImpl(final long requestId, final boolean scoped) {
            this.requestId = requestId;
            this.scoped = scoped;
        }

        /** Recycles the in-place replier for another call, on the receiving thread. */
        ReplierImpl enter(final long requestId) {
            this.requestId = requestId;
            this.answered = false;
            this.noRoom = false;
            this.scope = Thread.currentThread();
            return this;
        }

        @Override
        public void reply(final Outgoing<B> response) {
            checkCanAnswer();
            if (noRoom) {
                noRoom = false;
            }
            if (answered) {
                throw new IllegalStateException(options.name() + ": request " + requestId + " was answered already");
            }
            // Encoded before the request counts as answered: a response that cannot be encoded (closed, too many
            // segments) leaves it unanswered, and the handler's exception then answers it with a failure instead
            // of leaving the requester to its timeout.
            final int type = codec.typeOf(response);
            final Codec.Encoded encoded = codec.encode(response);
            if (!ANSWERED.compareAndSet(this, false, true)) {
                encoded.abandon();
                throw new IllegalStateException(options.name() + ": request " + requestId + " was answered already");
            }
            sendAnswer(KIND_RESPONSE, type, encoded);
        }

        /**
         * Sends the answer this replier just claimed. If the send fails, the request counts as unanswered again:
         * when nothing of it was sent (no room for its first fragment within the send timeout) the requester got
         * nothing, and a retry or the handler's exception may still answer it; when some fragments were sent, this
         * channel failed, so any later answer fails too, and the requester learns of it only from its own timeout
         * or from this side closing the channel.
         */
        private void sendAnswer(final byte kind, final int type, final Codec.Encoded encoded) {
            try {
                send(kind, (short) 0, type, nextId.incrementAndGet(), requestId, encoded);
            } catch (final RuntimeException | Error e) {
                noRoom = e instanceof IsthmusTimeoutException;
                answered = false;
                throw e;
            }
        }

        @Override
        public void replyMore(final Outgoing<B> response) {
            checkCanAnswer();
            if (answered) {
                throw new IllegalStateException(options.name() + ": request " + requestId + " was answered already");
            }
            send(KIND_RESPONSE, FLAG_MORE, codec.typeOf(response), nextId.incrementAndGet(), requestId,
                codec.encode(response));
        }

        @Override
        public void fail(final String message) {
            checkCanAnswer();
            if (noRoom) {
                noRoom = false;
            }
            if (!ANSWERED.compareAndSet(this, false, true)) {
                throw new IllegalStateException(options.name() + ": request " + requestId + " was answered already");
            }
            final MemorySegment text = MemorySegment.ofArray(message.getBytes(StandardCharsets.UTF_8));
            sendAnswer(KIND_FAILURE, 0, new Codec.Encoded(List.of(text), () -> { }));
        }

        @Override
        public boolean expectsResponse() {
            return requestId != 0;
        }

        private void checkCanAnswer() {
            if (scoped && scope != Thread.currentThread()) {
                throw new IllegalStateException(options.name() + ": the replier of an in-place handler answers only"
                    + " during its call, on its thread; a handler that answers later is a MessageHandler");
            }
            if (requestId == 0) {
                throw new IllegalStateException(options.name() + ": a notification cannot be answered");
            }
        }
    }

    // ---- sending ----

    private void send(final byte kind, final short flags, final int type, final long id, final long inResponseTo,
                      final Codec.Encoded payload) {
        boolean delivered = false;
        sendLock.lock();
        try {
            checkUsable();
            final long total = payload.length();
            final int max = channel.maxMessageLength();
            final PartCursor cursor = sendCursor.reset(payload.parts());
            final int first = (int) Math.min(max, HEADER_LENGTH + total);
            long claim = claim(first);
            MemorySegment buffer = channel.claimBuffer();
            buffer.set(JAVA_INT_UNALIGNED, claim + MAGIC_OFFSET, MAGIC);
            buffer.set(JAVA_BYTE, claim + VERSION_OFFSET, VERSION);
            buffer.set(JAVA_BYTE, claim + KIND_OFFSET, kind);
            buffer.set(JAVA_SHORT_UNALIGNED, claim + FLAGS_OFFSET, flags);
            buffer.set(JAVA_INT_UNALIGNED, claim + TYPE_OFFSET, type);
            buffer.set(JAVA_INT_UNALIGNED, claim + TYPE_OFFSET + 4, 0);
            buffer.set(JAVA_LONG_UNALIGNED, claim + ID_OFFSET, id);
            buffer.set(JAVA_LONG_UNALIGNED, claim + IN_RESPONSE_TO_OFFSET, inResponseTo);
            buffer.set(JAVA_LONG_UNALIGNED, claim + TOKEN_OFFSET, tokenHigh);
            buffer.set(JAVA_LONG_UNALIGNED, claim + TOKEN_OFFSET + 8, tokenLow);
            buffer.set(JAVA_LONG_UNALIGNED, claim + PAYLOAD_LENGTH_OFFSET, total);
            cursor.copyTo(buffer, claim + HEADER_LENGTH, first - HEADER_LENGTH);
            channel.commit(claim);
            delivered = true;
            long remaining = total - (first - HEADER_LENGTH);
            while (remaining > 0) {
                final int part = (int) Math.min(max - FRAGMENT_HEADER_LENGTH, remaining);
                claim = claim(FRAGMENT_HEADER_LENGTH + part);
                buffer = channel.claimBuffer();
                buffer.set(JAVA_INT_UNALIGNED, claim + MAGIC_OFFSET, MAGIC);
                buffer.set(JAVA_BYTE, claim + VERSION_OFFSET, VERSION);
                buffer.set(JAVA_BYTE, claim + KIND_OFFSET, KIND_FRAGMENT);
                buffer.set(JAVA_SHORT_UNALIGNED, claim + FLAGS_OFFSET, (short) 0);
                buffer.set(JAVA_LONG_UNALIGNED, claim + FRAGMENT_ID_OFFSET, id);
                cursor.copyTo(buffer, claim + FRAGMENT_HEADER_LENGTH, part);
                channel.commit(claim);
                remaining -= part;
            }
        } catch (final RuntimeException | Error e) {
            if (!delivered) {
                payload.abandon();
            }
            if (delivered || !(e instanceof IsthmusTimeoutException || e instanceof IllegalArgumentException
                || e instanceof IllegalStateException)) {
                // Part of a message is in the channel, or the channel itself failed: it is unusable.
                fail(e);
            }
            throw e;
        } finally {
            // The cursor keeps no message alive between sends.
            sendCursor.reset(null);
            sendLock.unlock();
        }
    }

    private long claim(final int length) {
        final long claim = channel.tryClaim(length, options.sendTimeout().toNanos());
        if (claim < 0) {
            throw new IsthmusTimeoutException(options.name() + ": no room for " + length + " bytes in the channel within "
                + options.sendTimeout());
        }
        return claim;
    }

    /** Walks the parts of a payload, copying them out in pieces. */
    private static final class PartCursor {
        private List<MemorySegment> parts;
        private int index;
        private long offset;

        PartCursor reset(final List<MemorySegment> parts) {
            this.parts = parts;
            this.index = 0;
            this.offset = 0;
            return this;
        }

        void copyTo(final MemorySegment target, final long at, final long length) {
            long done = 0;
            while (done < length) {
                final MemorySegment part = parts.get(index);
                final long n = Math.min(length - done, part.byteSize() - offset);
                MemorySegment.copy(part, offset, target, at + done, n);
                done += n;
                offset += n;
                if (offset == part.byteSize()) {
                    index++;
                    offset = 0;
                }
            }
        }
    }

    // ---- failure and closing ----

    private void fail(final Throwable cause) {
        if (!failure.compareAndSet(null, cause)) {
            return;
        }
        final RuntimeException error = failureException();
        final Thread waiter = slotWaiter;
        if (waiter != null) {
            // The slot's waiter sees the failure on waking: it checks failure before waiting again.
            java.util.concurrent.locks.LockSupport.unpark(waiter);
        }
        // A caller receiving for itself, asleep in the blob channel, wakes and sees the failure too.
        channel.wakeUp();
        for (final Long id : List.copyOf(pending.keySet())) {
            final Pending<R> waiting = pending.remove(id);
            if (waiting != null) {
                waiting.future.completeExceptionally(error);
            }
        }
        // Callers parked for their turn to receive (no driver thread) look at their futures again.
        turns.wakeAll();
        if (!closed) {
            options.errorHandler().accept(cause);
        }
    }

    private RuntimeException failureException() {
        final Throwable cause = failure.get();
        if (cause instanceof ChannelClosedException closedException) {
            return closedException;
        }
        return new ChannelClosedException(options.name() + " failed: " + cause, cause);
    }

    private void checkUsable() {
        if (failure.get() != null) {
            throw failureException();
        }
        if (closed) {
            throw new ChannelClosedException(options.name() + " is closed");
        }
    }

    /**
     * {@return whether the channel is open and has not failed}
     */
    public boolean isOpen() {
        return !closed && failure.get() == null;
    }

    /**
     * {@return why the channel failed, or {@code null}}
     */
    public Throwable failure() {
        return failure.get();
    }

    /**
     * {@return how many responses arrived after their request had stopped waiting (it timed out or was
     * interrupted), and were released unread; stream parts ({@link Replier#replyMore}) answering a request
     * that waits for one response are counted here too, as its response is the final one}
     */
    public long lateResponses() {
        return lateResponses.get();
    }

    /**
     * {@return how many received messages wait for a handler of their type}
     */
    public int unhandledCount() {
        lockReceiving();
        try {
            return unhandled.size();
        } finally {
            unlockReceiving();
        }
    }

    /**
     * Closes the channel and the blob channel under it: the driver thread stops, pending calls fail, and
     * messages still waiting for a handler are released. Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (!channel.wakeUp()) {
            // A channel that cannot wake its waiters (a socket) wakes them by closing: their poll then fails.
            sendLock.lock();
            try {
                channel.close();
            } finally {
                sendLock.unlock();
            }
        }
        if (driver != null && Thread.currentThread() != driver) {
            try {
                driver.join(TimeUnit.SECONDS.toMillis(5));
            } catch (final InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        fail(new ChannelClosedException(options.name() + " is closed"));
        receiveLock.lock();
        try {
            Unhandled<R> message;
            while ((message = unhandled.poll()) != null) {
                message.message.close();
            }
            unhandledBytes = 0;
        } finally {
            unlockReceiving();
        }
        sendLock.lock();
        try {
            channel.close();
        } finally {
            sendLock.unlock();
        }
        for (final Pending<R> waiting : pending.values()) {
            waiting.future.completeExceptionally(new CancellationException(options.name() + " is closed"));
        }
    }
}
