/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.PeerDeadException;
import dev.isthmus.arena.ArenaView;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.internal.event.SessionEvents;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.transport.BlobChannel;
import dev.isthmus.transport.BlobHandler;
import dev.isthmus.transport.NativeHandle;
import dev.isthmus.transport.PeerCredentials;
import dev.isthmus.transport.PosixMqBlobChannel;
import dev.isthmus.transport.PosixMqOptions;
import dev.isthmus.transport.ShmBlobChannel;
import dev.isthmus.transport.ShmQueueOptions;
import dev.isthmus.transport.UnixSocketBlobChannel;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * A communication context between two live processes: a {@link ClientSession#connect client} and a
 * {@link SessionServer server}, each knowing the other by application name, and authenticated by the
 * kernel's view of the client.
 *
 * <p>Channels come with the session ({@link #initChannels()}) or are opened later from either side
 * ({@link #openChannel()}), without naming anything: every socket, segment and queue is named by the
 * session and removed by it. The other side accepts channels it did not open through its
 * {@linkplain #onChannel passive-open handler}; without one, the opener gets a
 * {@link ChannelRefusedException} and the session goes on.
 *
 * <p><b>Liveness.</b> The session's Unix socket breaks when the peer process dies, however it dies; a
 * keep-alive ping catches a peer that hangs. Either way the {@linkplain #onError error handler} hears of
 * it exactly once, pending operations fail with {@link PeerDeadException}, and this side removes the
 * session's names from {@code /dev/shm}, its own and the dead peer's.
 *
 * <p><b>Zero copy.</b> With {@link SessionOptions#zeroCopy()}, each side owns a shared-memory
 * {@linkplain #arena() arena} for messages it builds and has a {@linkplain #peerArena() view} of the
 * peer's, through which it reads the peer's messages in place.
 *
 * <p><b>Driving.</b> By default one platform thread of the session reads its control socket, answers
 * pings and runs the passive-open handler. With {@link SessionOptions#driverThread(boolean) driverThread(false)},
 * the caller drives it with {@link #poll()}, at least once a second.
 *
 * <p>Thread safety: all methods are thread-safe.
 */
public final class Session implements AutoCloseable {
    private static final long SLICE_NS = TimeUnit.MILLISECONDS.toNanos(100);
    /** The liveness interval of the queues of a session whose driver learns of the peer's death by events. */
    private static final long EVENT_DRIVEN_LIVENESS_NS = TimeUnit.SECONDS.toNanos(1);
    /** The longest the driver sleeps on the control socket when keep-alive has nothing due sooner. */
    private static final long LONGEST_SLEEP_NS = TimeUnit.SECONDS.toNanos(10);

    enum Role { CLIENT, SERVER }

    private final Role role;
    private final String id;
    private final UUID token;
    private final String localApp;
    private final String peerApp;
    private final ProcessIdentity peer;
    private final PeerCredentials peerCredentials;
    private final PermissionLevel permissions;
    private final ChannelTransport transport;
    private final SessionOptions options;
    private final UnixSocketBlobChannel control;
    private final byte[] peerMetadata;
    private final ReentrantLock sendLock = new ReentrantLock();
    /** Held by whoever reads the control socket. Fair: a thread taking it from the receiver is next (poll). */
    private final ReentrantLock receiveLock = new ReentrantLock(true);
    /**
     * Turns at the receive lock: callers waiting for an answer without a driver thread, and {@link #poll},
     * which takes the lock from whoever receives.
     */
    private final dev.isthmus.internal.ReceiveTurns turns;
    private final AtomicLong correlations = new AtomicLong();
    private final AtomicInteger channelNumbers = new AtomicInteger();
    private final Map<Long, CompletableFuture<String>> pendingOpens = new ConcurrentHashMap<>();
    private final List<Channel> channels = new CopyOnWriteArrayList<>();
    private static final java.security.SecureRandom UNGUESSABLE = new java.security.SecureRandom();

    /** The most channels this session may have when the peer asks for one more. */
    private final int maxPeerChannels;
    /** The peer, bound to its process; closed with the session. */
    private final PeerProcess peerProcess;
    private final List<Channel> initChannels = new ArrayList<>();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final ShmArena arena;
    private final ArenaView peerArena;
    private final List<Driven> driven = new CopyOnWriteArrayList<>();
    private volatile Consumer<Channel> passiveOpenHandler;
    private volatile Consumer<Throwable> errorHandler = error -> { };
    private volatile long lastReceivedNs = System.nanoTime();
    private volatile long lastSentNs = System.nanoTime();
    private Thread driver;
    private volatile boolean closed;
    /** Set when the session is established (its driver starts): channels accepted after that are the peer's. */
    private volatile boolean established;
    private final long createdNs = System.nanoTime();
    /** This session's counters, in the process's stat file; freed with the session. */
    private final dev.isthmus.stat.StatRecord stats;

    Session(final Role role, final String id, final UUID token, final String localApp, final String peerApp,
            final PeerProcess peerProcess, final PermissionLevel permissions,
            final ChannelTransport transport, final boolean zeroCopy, final SessionOptions options,
            final UnixSocketBlobChannel control, final byte[] peerMetadata, final int maxPeerChannels) {
        this.maxPeerChannels = maxPeerChannels;
        this.role = role;
        this.id = id;
        this.token = token;
        this.localApp = localApp;
        this.peerApp = peerApp;
        this.peerProcess = peerProcess;
        this.peer = peerProcess.identity();
        this.peerCredentials = peerProcess.credentials();
        this.permissions = permissions;
        this.transport = transport;
        this.options = options;
        this.control = control;
        this.turns = new dev.isthmus.internal.ReceiveTurns(receiveLock, control::wakeUp);
        this.peerMetadata = peerMetadata;
        final java.util.Map<String, String> labels = new java.util.LinkedHashMap<>();
        labels.put("session", id);
        labels.put("role", role == Role.CLIENT ? "client" : "server");
        labels.put("local", localApp);
        labels.put("peer", peerApp);
        labels.put("peerPid", Long.toString(peer.pid()));
        labels.put("transport", transport.name());
        labels.put("zeroCopy", Boolean.toString(zeroCopy));
        this.stats = dev.isthmus.stat.StatFile.newRecord(dev.isthmus.stat.StatKind.SESSION, 0, labels);
        final dev.isthmus.stat.StatRecord controlStats = control.stats();
        if (controlStats != null) {
            controlStats.describe(stats.id(), java.util.Map.of("session", id, "channel", "control",
                "transport", "unix-socket"));
        }
        if (zeroCopy) {
            // Sealed: this side's pool reaches the peer read-only, the peer's arrives the same way, and each side
            // returns what it borrowed through a ring of its own; nothing is named, nothing outlives both.
            this.arena = ShmArena.createSealed(localApp, id, token.getMostSignificantBits(),
                options.arenaOptions().withPermissions(permissions));
            ArenaView view = null;
            try {
                view = ArenaView.createSealed(peerApp, peer, id, token.getMostSignificantBits(),
                    options.arenaOptions().withPermissions(permissions));
            } finally {
                if (view == null) {
                    this.arena.close();
                }
            }
            this.peerArena = view;
            this.arena.stats(stats);
            view.stats(stats);
        } else {
            this.arena = null;
            this.peerArena = null;
        }
    }

    // ---- accessors ----

    /**
     * {@return this session's counters ({@link dev.isthmus.stat.StatKind.Session}): channels opened and
     * refused, arena bytes in use, blocks lent and borrowed; its channels' own counters are
     * {@link BlobChannel#stats()}}
     */
    public dev.isthmus.stat.StatRecord stats() {
        return stats;
    }

    /**
     * {@return the session's id, unique on this host while the server runs, e.g. {@code s3p4711}; the
     * names of the session's resources start with it}
     */
    public String id() {
        return id;
    }

    /**
     * {@return the session token, carried by every control message (and by structured messages that
     * choose to carry it)}
     */
    public UUID token() {
        return token;
    }

    /**
     * {@return whether this side is the client}
     */
    public boolean isClient() {
        return role == Role.CLIENT;
    }

    /**
     * {@return this side's application name}
     */
    public String localApp() {
        return localApp;
    }

    /**
     * {@return the peer's application name}
     */
    public String peerApp() {
        return peerApp;
    }

    /**
     * {@return the peer process}
     */
    public ProcessIdentity peer() {
        return peer;
    }

    /**
     * {@return the metadata the peer sent when the session opened; empty if none}
     */
    public byte[] peerMetadata() {
        return peerMetadata.clone();
    }

    /**
     * {@return the permission level of the session's resources (the server app's)}
     */
    public PermissionLevel permissions() {
        return permissions;
    }

    /**
     * {@return the channels that opened with the session}
     */
    public List<Channel> initChannels() {
        return List.copyOf(initChannels);
    }

    /**
     * {@return this side's arena, for zero-copy messages}
     *
     * @throws IllegalStateException if the session was not opened with zero copy
     */
    public ShmArena arena() {
        if (arena == null) {
            throw new IllegalStateException("session " + id + " has no arena: open it with SessionOptions.zeroCopy()");
        }
        return arena;
    }

    /**
     * {@return the view of the peer's arena, to read its zero-copy messages in place}
     *
     * @throws IllegalStateException if the session was not opened with zero copy
     */
    public ArenaView peerArena() {
        if (peerArena == null) {
            throw new IllegalStateException("session " + id + " has no arena: open it with SessionOptions.zeroCopy()");
        }
        return peerArena;
    }

    /**
     * How many descriptors the arenas add to WELCOME and READY: this side's read-only pool, its return ring
     * for the peer's pools, and its peer-writable pool.
     */
    static final int ARENA_HANDLES = 3;

    /**
     * {@return the descriptors of this side's read-only pool (read-only), of its return ring for the peer's
     * pools (read-only) and of its peer-writable pool (read-write), to send to the peer (the caller closes
     * them); none without arenas}
     */
    List<NativeHandle> arenaHandles() {
        if (arena == null) {
            return List.of();
        }
        final List<NativeHandle> handles = new java.util.ArrayList<>(ARENA_HANDLES);
        try {
            handles.add(NativeHandle.adopt(arena.poolDescriptor()));
            handles.add(NativeHandle.adopt(peerArena.returnsDescriptor()));
            handles.add(NativeHandle.adopt(arena.writablePoolDescriptor()));
            return List.copyOf(handles);
        } catch (final RuntimeException | Error e) {
            handles.forEach(NativeHandle::close);
            throw e;
        }
    }

    /**
     * Attaches the peer's pools and return ring it sent ({@link #arenaHandles()} on its side).
     *
     * @param received the three descriptors, owned by this method
     * @throws CorruptDataException if they are not three, or not two sealed pools (the second writable) and a ring
     */
    void attachPeerArena(final List<NativeHandle> received) {
        if (arena == null || received.size() != ARENA_HANDLES) {
            received.forEach(NativeHandle::close);
            throw new CorruptDataException("session " + id + ": the peer sent " + received.size()
                + " arena descriptors, expected " + (arena == null ? 0 : ARENA_HANDLES));
        }
        // Each descriptor is released to the call that takes it over; whatever is not reached is closed.
        Throwable failure = null;
        try {
            peerArena.attachPool(received.get(0).release());
            peerArena.attachWritablePool(received.get(2).release());
        } catch (final RuntimeException | Error e) {
            failure = e;
        } finally {
            received.get(2).close();
        }
        try {
            arena.attachReturns(received.get(1).release());
        } catch (final RuntimeException | Error e) {
            if (failure == null) {
                failure = e;
            } else {
                failure.addSuppressed(e);
            }
        }
        if (failure instanceof RuntimeException e) {
            throw e;
        }
        if (failure instanceof Error e) {
            throw e;
        }
    }

    /**
     * {@return whether the session was opened with arenas}
     */
    public boolean isZeroCopy() {
        return arena != null;
    }

    /**
     * {@return whether the session is open and has not failed}
     */
    public boolean isOpen() {
        return !closed && failure.get() == null;
    }

    /** Run once when the session is closed (the server forgets it then); set before the session is shared. */
    private volatile Runnable closedHook;

    void onClosed(final Runnable hook) {
        this.closedHook = hook;
    }

    /** {@return whether {@link #close()} ran: everything the session held is released} */
    boolean isClosed() {
        return closed;
    }

    /**
     * {@return why the session failed, or empty}
     */
    public Optional<Throwable> failure() {
        return Optional.ofNullable(failure.get());
    }

    // ---- handlers ----

    /**
     * Sets the passive-open handler: it receives every channel the peer opens, on the session's driving
     * thread. Without one, the peer's {@link #openChannel()} is refused.
     *
     * @param handler the handler
     */
    public void onChannel(final Consumer<Channel> handler) {
        this.passiveOpenHandler = Objects.requireNonNull(handler, "handler");
    }

    /**
     * Sets the error handler: it hears, exactly once, why the session ended if it did not end by this
     * side's {@link #close()} (the peer died, hung, or closed the session). It also hears of problems the
     * session survives: a passive-open or channel handler that threw, a channel the peer asked for that could
     * not be opened, a control message refused (a wrong token, descriptors where none belong). To tell the
     * two apart, check {@link #isOpen()} (or {@link #failure()}) in the handler: a session that ended is
     * no longer open. It runs on the thread that met the problem, usually the session's driving thread:
     * it should return quickly.
     *
     * @param handler the handler
     */
    public void onError(final Consumer<Throwable> handler) {
        this.errorHandler = Objects.requireNonNull(handler, "handler");
        final Throwable failed = failure.get();
        if (failed != null && !closed) {
            handler.accept(failed);
        }
    }

    // ---- channels ----

    /**
     * Opens a channel, waiting up to the connect timeout for the peer to accept it.
     *
     * @return the channel
     * @throws ChannelRefusedException if the peer refused it (no passive-open handler)
     * @throws PeerDeadException       if the peer died
     */
    public Channel openChannel() {
        return openChannel(options.connectTimeout());
    }

    /**
     * Opens a channel, waiting up to {@code timeout} for the peer to accept it.
     *
     * @param timeout how long to wait for the peer's answer
     * @return the channel
     * @throws ChannelRefusedException if the peer refused it
     * @throws IsthmusTimeoutException if the peer did not answer in time
     * @throws PeerDeadException       if the peer died
     */
    public Channel openChannel(final Duration timeout) {
        checkUsable();
        final Prepared prepared = prepareChannel();
        final long correlation = correlations.incrementAndGet();
        final CompletableFuture<String> answer = new CompletableFuture<>();
        pendingOpens.put(correlation, answer);
        boolean opened = false;
        try {
            sendControl(new SessionProtocol.Writer(SessionProtocol.OPEN, token, correlation).putSpec(prepared.spec)
                .toArray(), prepared.handles.toArray(NativeHandle[]::new));
            prepared.closeHandles();
            final String refusal = await(answer, correlation, timeout);
            if (refusal != null) {
                stats.addAtomic(dev.isthmus.stat.StatKind.Session.CHANNELS_REFUSED, 1);
                SessionEvents.channelRefused(id, prepared.spec.id(), true, refusal);
                throw new ChannelRefusedException("session " + id + ": " + peerApp + " (pid " + peer.pid()
                    + ") refused channel " + prepared.spec.id() + ": " + refusal);
            }
            added(prepared.channel, "local");
            opened = true;
            return prepared.channel;
        } finally {
            pendingOpens.remove(correlation);
            if (!opened) {
                prepared.closeHandles();
                prepared.channel.unlinkResources();
                prepared.channel.close();
            }
        }
    }

    private String await(final CompletableFuture<String> answer, final long correlation, final Duration timeout) {
        final long deadline = System.nanoTime() + timeout.toNanos();
        try {
            while (true) {
                final long remaining = deadline - System.nanoTime();
                if (remaining <= 0) {
                    throw new IsthmusTimeoutException("session " + id + ": no answer from " + peerApp + " (pid "
                        + peer.pid() + ") within " + timeout);
                }
                if (driver == null && turns.tryTakeTurn()) {
                    try {
                        if (answer.isDone()) {
                            return answer.get();
                        }
                        receive(Math.min(remaining, SLICE_NS));
                        keepAlive();
                    } finally {
                        turns.unlock();
                    }
                    if (answer.isDone()) {
                        return answer.get();
                    }
                } else if (driver == null) {
                    // Another caller receives: its letting go wakes this one, to take over or find its answer.
                    // The answer's completion unparks no one: looked at once registered.
                    turns.awaitTurn(this, Math.min(remaining, SLICE_NS), answer::isDone);
                    if (answer.isDone()) {
                        return answer.get();
                    }
                    if (Thread.interrupted()) {
                        // A park ends at once while interrupted: fail as answer.get would, not spin to the deadline.
                        throw new InterruptedException();
                    }
                } else {
                    try {
                        return answer.get(Math.min(remaining, SLICE_NS), TimeUnit.NANOSECONDS);
                    } catch (final TimeoutException e) {
                        // next slice
                    }
                }
            }
        } catch (final ExecutionException e) {
            if (e.getCause() instanceof RuntimeException runtime) {
                throw runtime;
            }
            throw new IsthmusException(e.getCause().toString(), e.getCause());
        } catch (final InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IsthmusException("session " + id + ": interrupted while waiting for " + peerApp, e);
        }
    }

    /**
     * What this side creates for a channel it opens: the channel, its description, and the descriptors to pass
     * with it (the far end of its socket, then, for {@link ChannelTransport#SHM_QUEUE}, its two sealed queues).
     */
    record Prepared(Channel channel, SessionProtocol.ChannelSpec spec, List<NativeHandle> handles) {
        void closeHandles() {
            handles.forEach(NativeHandle::close);
        }
    }

    /**
     * {@return how many descriptors travel with a channel of this transport: its socket, and for shared-memory
     * queues each queue's control page and regions}
     */
    static int handlesPerChannel(final ChannelTransport transport) {
        return transport == ChannelTransport.SHM_QUEUE ? 5 : 1;
    }

    Prepared prepareChannel() {
        final String channelId = id + (role == Role.SERVER ? "-c" : "-d") + channelNumbers.getAndIncrement();
        final UnixSocketBlobChannel.HandOver socket = UnixSocketBlobChannel.pairForHandOver(peerCredentials,
            "session " + id + " channel " + channelId, options.socketOptions());
        final List<NativeHandle> handles = new ArrayList<>(3);
        handles.add(socket.far());
        try {
            final BlobChannel blobs;
            final String resource;
            switch (transport) {
                case SHM_QUEUE -> {
                    // Sealed anonymous files: nothing in /dev/shm to squat, truncate or sweep.
                    final ResourceName name = ResourceName.of(localApp, "queue", channelId);
                    final ShmBlobChannel queues = ShmBlobChannel.createSealed(name, queueOptions());
                    if (peerProcess.watch() != null) {
                        queues.watchPeer(peerProcess.watch());
                    }
                    blobs = queues;
                    try {
                        handles.addAll(List.of(queues.duplicateDescriptors()));
                    } catch (final RuntimeException | Error e) {
                        queues.close();
                        throw e;
                    }
                    resource = name.toString();
                }
                case UNIX_SOCKET -> {
                    blobs = socket.channel();
                    resource = "";
                }
                case POSIX_MQ -> {
                    // The MQ namespace is shared by every user: an unguessable part keeps anyone from taking
                    // the name first (the creation is exclusive, so a squatter could only make it fail).
                    final ResourceName name = ResourceName.of(localApp, "mq", channelId + "-"
                        + Long.toHexString(UNGUESSABLE.nextLong() | Long.MIN_VALUE));
                    final PosixMqBlobChannel queues = PosixMqBlobChannel.create(name, mqOptions());
                    if (peerProcess.watch() != null) {
                        queues.watchPeer(peerProcess.watch());
                    }
                    blobs = queues;
                    resource = name.toString();
                }
                default -> throw new IllegalStateException("channel transport " + transport);
            }
            return new Prepared(new Channel(this, channelId, blobs, socket.channel()),
                new SessionProtocol.ChannelSpec(channelId, transport, resource), List.copyOf(handles));
        } catch (final RuntimeException | Error e) {
            socket.channel().close();
            handles.forEach(NativeHandle::close);
            throw e;
        }
    }

    /** The resource the peer named for a channel, checked to be the peer's own, of this session and kind. */
    private ResourceName peerResource(final SessionProtocol.ChannelSpec spec, final String kind) {
        final ResourceName name = ResourceName.parse(spec.resource()).orElseThrow(
            () -> new CorruptDataException("session " + id + ": channel " + spec.id() + " names no valid resource: \""
                + spec.resource() + "\""));
        final boolean idMatches = kind.equals("mq") ? name.id().startsWith(spec.id() + "-") : name.id().equals(spec.id());
        if (!name.app().equals(peerApp) || name.pid() != peer.pid() || !idMatches || !name.kind().equals(kind)) {
            throw new CorruptDataException("session " + id + ": channel " + spec.id() + " names " + name
                + ", which is not the peer's " + kind + " for it");
        }
        return name;
    }

    private PosixMqOptions mqOptions() {
        return options.mqOptions().toBuilder().permissions(permissions).build();
    }

    private ShmQueueOptions queueOptions() {
        final ShmQueueOptions.Builder builder = options.queueOptions().toBuilder().permissions(permissions);
        if (options.driverThread() && peerProcess.watch() != null) {
            // The session's driver learns of the peer's death from the control socket at once, and wakes the
            // queues' waiters (Channel.declarePeerDead): their own checks need not wake them ten times a second.
            builder.livenessCheckIntervalNs(Math.max(options.queueOptions().livenessCheckIntervalNs(),
                EVENT_DRIVEN_LIVENESS_NS));
        }
        return builder.build();
    }

    /**
     * Opens the channel the peer described, checking that its resources are this session's and the peer's.
     *
     * @param spec     the peer's description of the channel
     * @param received the descriptors that came with it, {@link #handlesPerChannel} of them, owned by this
     *                 method (closed if it fails)
     */
    Channel acceptChannel(final SessionProtocol.ChannelSpec spec, final List<NativeHandle> received) {
        final String expectedPrefix = id + (role == Role.SERVER ? "-d" : "-c");
        if (!spec.id().startsWith(expectedPrefix) || spec.transport() != transport
            || received.size() != handlesPerChannel(transport)) {
            received.forEach(NativeHandle::close);
            throw new CorruptDataException("session " + id + ": the peer described channel " + spec.id() + " over "
                + spec.transport() + " with " + received.size() + " descriptors, expected an id starting with "
                + expectedPrefix + " over " + transport + " with " + handlesPerChannel(transport));
        }
        final UnixSocketBlobChannel handles;
        try {
            handles = UnixSocketBlobChannel.adopt(received.getFirst(), peerCredentials,
                "session " + id + " channel " + spec.id(), options.socketOptions());
        } catch (final RuntimeException | Error e) {
            received.subList(1, received.size()).forEach(NativeHandle::close);
            throw e;
        }
        try {
            final BlobChannel blobs = switch (transport) {
                case SHM_QUEUE -> {
                    final ResourceName name;
                    try {
                        name = peerResource(spec, "queue");
                    } catch (final RuntimeException e) {
                        received.subList(1, received.size()).forEach(NativeHandle::close);
                        throw e;
                    }
                    final ShmBlobChannel queues = ShmBlobChannel.adopt(name, received.get(1), received.get(2),
                        received.get(3), received.get(4), queueOptions());
                    if (peerProcess.watch() != null) {
                        queues.watchPeer(peerProcess.watch());
                    }
                    yield queues;
                }
                case UNIX_SOCKET -> handles;
                case POSIX_MQ -> {
                    final PosixMqBlobChannel queues = PosixMqBlobChannel.open(peerResource(spec, "mq"), mqOptions());
                    if (peerProcess.watch() != null) {
                        queues.watchPeer(peerProcess.watch());
                    }
                    yield queues;
                }
            };
            final Channel channel = new Channel(this, spec.id(), blobs, handles);
            // Before the session is established, the channels the peer describes are its init channels.
            added(channel, established ? "peer" : "init");
            return channel;
        } catch (final RuntimeException | Error e) {
            handles.close();
            throw e;
        }
    }

    void addInitChannel(final Channel channel) {
        initChannels.add(channel);
        if (!channels.contains(channel)) {
            added(channel, "init");
        }
    }

    void forget(final Channel channel) {
        if (channels.remove(channel)) {
            stats.addAtomic(dev.isthmus.stat.StatKind.Session.CHANNELS_OPEN, -1);
        }
    }

    private void added(final Channel channel, final String origin) {
        channels.add(channel);
        stats.addAtomic(dev.isthmus.stat.StatKind.Session.CHANNELS_OPENED, 1);
        stats.addAtomic(dev.isthmus.stat.StatKind.Session.CHANNELS_OPEN, 1);
        SessionEvents.channelOpened(id, channel.id(), transportLabel(), origin);
    }

    /** Counts and records a channel the peer asked for and this side refused. */
    private void refusedPeerChannel(final String channel, final String reason) {
        stats.addAtomic(dev.isthmus.stat.StatKind.Session.CHANNELS_REFUSED, 1);
        SessionEvents.channelRefused(id, channel, false, reason);
    }

    private String transportLabel() {
        return switch (transport) {
            case SHM_QUEUE -> "shm-queue";
            case UNIX_SOCKET -> "unix-socket";
            case POSIX_MQ -> "posix-mq";
        };
    }

    // ---- the control socket ----

    void sendControl(final byte[] message, final NativeHandle... handles) {
        final MemorySegment bytes = MemorySegment.ofArray(message);
        final long deadline = System.nanoTime() + options.connectTimeout().toNanos();
        sendLock.lock();
        try {
            long backoffNs = 10_000;
            while (true) {
                final long remaining = deadline - System.nanoTime();
                // A peer that does not read its socket costs a sleeping wait, not a spinning one.
                final boolean sent = handles.length == 0 ? control.offer(bytes, 0, message.length, Math.max(0, remaining))
                    : control.offerWithHandles(bytes, 0, message.length, handles);
                if (sent) {
                    lastSentNs = System.nanoTime();
                    return;
                }
                if (System.nanoTime() - deadline > 0) {
                    throw new IsthmusTimeoutException("session " + id + ": the control socket stayed full for "
                        + options.connectTimeout());
                }
                java.util.concurrent.locks.LockSupport.parkNanos(backoffNs);
                backoffNs = Math.min(backoffNs * 2, 1_000_000);
            }
        } finally {
            sendLock.unlock();
        }
    }

    private void receive(final long timeoutNs) {
        try {
            control.pollWithHandles(this::onControl, 16, timeoutNs);
        } catch (final RuntimeException | Error e) {
            fail(e);
        }
    }

    private void onControl(final MemorySegment buffer, final long offset, final int length,
                           final List<NativeHandle> handles) {
        try {
            dispatchControl(buffer, offset, length, handles);
        } catch (final java.nio.BufferUnderflowException e) {
            throw new CorruptDataException("session " + id + ": a truncated control message from " + peerApp + " (pid "
                + peer.pid() + ")");
        } finally {
            // Only OPEN takes descriptors, and what it adopts it releases from its handle; every other
            // message, a garbage one included, leaves the descriptors it carried here, closed.
            handles.forEach(NativeHandle::close);
        }
    }

    private void dispatchControl(final MemorySegment buffer, final long offset, final int length,
                                 final List<NativeHandle> handles) {
        lastReceivedNs = System.nanoTime();
        final SessionProtocol.Message message = SessionProtocol.parse(buffer.asSlice(offset, length).toArray(JAVA_BYTE));
        if (!message.token().equals(token)) {
            if (message.type() == SessionProtocol.OPEN) {
                sendControl(new SessionProtocol.Writer(SessionProtocol.OPEN_REFUSED, token, message.correlation())
                    .putString("the request carries a wrong session token").toArray());
            }
            errorHandler.accept(new CorruptDataException("session " + id + ": rejected a control message of type "
                + message.type() + " carrying a wrong session token"));
            return;
        }
        if (!handles.isEmpty() && message.type() != SessionProtocol.OPEN) {
            errorHandler.accept(new CorruptDataException("session " + id + ": closed the " + handles.size()
                + " descriptors a control message of type " + message.type() + " carried; only OPEN may carry any"));
        }
        switch (message.type()) {
            case SessionProtocol.PING -> sendControl(
                new SessionProtocol.Writer(SessionProtocol.PONG, token, message.correlation()).toArray());
            case SessionProtocol.PONG, SessionProtocol.READY -> {
                // signs of life; lastReceivedNs is updated above
            }
            case SessionProtocol.OPEN -> onOpen(message, handles);
            case SessionProtocol.OPEN_OK -> complete(message.correlation(), null);
            case SessionProtocol.OPEN_REFUSED -> complete(message.correlation(),
                SessionProtocol.getStringLeniently(message.body()));
            case SessionProtocol.BYE -> fail(new PeerClosedException("session " + id + ": " + peerApp + " (pid "
                + peer.pid() + ") closed the session"));
            default -> throw new CorruptDataException("session " + id + ": unexpected control message of type "
                + message.type());
        }
    }

    /** Refuses the peer's request to open a channel: counted, recorded, and the reason told to the peer. */
    private void refuseOpen(final SessionProtocol.Message message, final String channel, final String reason) {
        refusedPeerChannel(channel, reason);
        sendControl(new SessionProtocol.Writer(SessionProtocol.OPEN_REFUSED, token, message.correlation())
            .putString(reason).toArray());
    }

    private void complete(final long correlation, final String refusal) {
        final CompletableFuture<String> answer = pendingOpens.get(correlation);
        if (answer != null) {
            answer.complete(refusal);
        }
    }

    private void onOpen(final SessionProtocol.Message message, final List<NativeHandle> handles) {
        final Consumer<Channel> handler = passiveOpenHandler;
        if (handler == null || handles.size() != handlesPerChannel(transport)) {
            handles.forEach(NativeHandle::close);
            refuseOpen(message, "", handler == null ? "no passive-open handler is registered on " + localApp
                + " (pid " + ProcessHandle.current().pid() + ")" : "the request carries " + handles.size()
                + " descriptors instead of " + handlesPerChannel(transport));
            return;
        }
        final int open = channels.size();
        if (open >= maxPeerChannels) {
            refuseOpen(message, "", localApp + " (pid " + ProcessHandle.current().pid() + ") allows at most "
                + maxPeerChannels + " channels per session (maxChannelsPerSession); session " + id + " has " + open);
            return;
        }
        final Channel channel;
        try {
            channel = acceptChannel(SessionProtocol.getSpec(message.body()), handles);
        } catch (final RuntimeException e) {
            refuseOpen(message, "", "cannot open the channel: " + e.getMessage());
            errorHandler.accept(e);
            return;
        }
        sendControl(new SessionProtocol.Writer(SessionProtocol.OPEN_OK, token, message.correlation()).toArray());
        try {
            handler.accept(channel);
        } catch (final RuntimeException e) {
            errorHandler.accept(e);
        }
    }

    /**
     * {@return how long the driver may sleep before {@link #keepAlive()} has something to do: the next ping
     * or the idle deadline, whichever comes first, at least 1 ms and at most {@link #LONGEST_SLEEP_NS}}
     */
    private long untilKeepAliveNs() {
        final long now = System.nanoTime();
        final long interval = options.keepAliveInterval().toNanos();
        final long idle = options.idleTimeout().toNanos();
        long wait = LONGEST_SLEEP_NS;
        if (interval > 0) {
            wait = Math.min(wait, lastSentNs + interval - now);
        }
        if (idle > 0) {
            wait = Math.min(wait, lastReceivedNs + idle - now);
        }
        return Math.max(wait, TimeUnit.MILLISECONDS.toNanos(1));
    }

    private void keepAlive() {
        final long now = System.nanoTime();
        final long interval = options.keepAliveInterval().toNanos();
        if (interval > 0 && now - lastSentNs > interval && isOpen()) {
            try {
                sendControl(new SessionProtocol.Writer(SessionProtocol.PING, token, 0).toArray());
            } catch (final RuntimeException e) {
                fail(e);
            }
        }
        final long idle = options.idleTimeout().toNanos();
        if (idle > 0 && now - lastReceivedNs > idle) {
            fail(new PeerStalledException("session " + id + ": no sign of life from " + peerApp + " (pid " + peer.pid()
                + ") for " + options.idleTimeout()));
        }
    }

    /** A peer that may still run but stopped answering: dead to the session, though its names are its own. */
    private static final class PeerStalledException extends PeerDeadException {
        private static final long serialVersionUID = 1L;

        PeerStalledException(final String message) {
            super(message);
        }
    }

    /** The peer said goodbye: it closed the session (and may have exited since). */
    private static final class PeerClosedException extends ChannelClosedException {
        private static final long serialVersionUID = 1L;

        PeerClosedException(final String message) {
            super(message);
        }
    }

    /** A channel whose blobs the session hands to a handler. */
    private record Driven(Channel channel, BlobHandler handler) {
    }

    void drive(final Channel channel, final BlobHandler handler) {
        checkUsable();
        driven.add(new Driven(channel, handler));
        // The driver may be asleep on the control socket with nothing to drive: it starts polling now.
        control.wakeUp();
    }

    /** Polls every driven channel once; returns the blobs handled. A channel that ended is dropped quietly. */
    private int pollChannels() {
        int work = 0;
        for (final Driven entry : driven) {
            try {
                work += entry.channel.blobs().poll(entry.handler, 64);
            } catch (final ChannelClosedException e) {
                driven.remove(entry);
            } catch (final RuntimeException e) {
                driven.remove(entry);
                errorHandler.accept(e);
            }
        }
        return work;
    }

    /** The session is established (both sides have their channels): starts its driver thread, if it has one. */
    void startDriver() {
        established = true;
        SessionEvents.opened(id, role == Role.CLIENT ? "client" : "server", localApp, peerApp, peer.pid(),
            transportLabel(), arena != null);
        if (options.driverThread()) {
            driver = Thread.ofPlatform().daemon().name("isthmus-session-" + id).start(this::drive);
        }
    }

    private void drive() {
        try {
            driveLoop();
        } catch (final Error e) {
            // Not silently: the session fails and says why; the thread then ends with the error.
            fail(e);
            throw e;
        }
    }

    private void driveLoop() {
        long idleNs = 0;
        while (!closed && failure.get() == null) {
            if (driven.isEmpty()) {
                receiveLock.lock();
                try {
                    // Asleep on the control socket until a message, the peer's end, close() or the next
                    // keep-alive deadline: no wake-ups in between.
                    receive(turns.wanted() ? dev.isthmus.internal.ReceiveTurns.LOCK_RETRY_NS : untilKeepAliveNs());
                } finally {
                    receiveLock.unlock();
                }
                keepAlive();
                continue;
            }
            // Channels to drive: poll everything without blocking, and back off while nothing arrives.
            receiveLock.lock();
            try {
                receive(0);
            } finally {
                receiveLock.unlock();
            }
            if (pollChannels() > 0) {
                idleNs = 0;
            } else if (idleNs < 20_000) {
                idleNs += 1_000;
                Thread.onSpinWait();
            } else {
                idleNs = Math.min(idleNs * 2, 1_000_000);
                java.util.concurrent.locks.LockSupport.parkNanos(idleNs);
            }
            keepAlive();
        }
    }

    /**
     * Reads what arrived on the session's control socket and on the channels it drives
     * ({@link Channel#onBlob}), and acts on it, without waiting: for sessions without a driver thread.
     * Call it at least once a second, or the peer's keep-alive gives up.
     *
     * @return how many blobs the driven channels' handlers received
     * @throws ChannelClosedException if the session failed or is closed
     */
    public int poll() {
        checkUsable();
        turns.lock();
        try {
            receive(0);
        } finally {
            turns.unlock();
        }
        final int work = pollChannels();
        keepAlive();
        checkUsable();
        return work;
    }

    // ---- failure and closing ----

    void fail(final Throwable cause) {
        if (closed || !failure.compareAndSet(null, cause)) {
            return;
        }
        final RuntimeException error = failureException();
        for (final CompletableFuture<String> answer : pendingOpens.values()) {
            answer.completeExceptionally(error);
        }
        turns.wakeAll();
        // Dead, not merely stopped: its names may go. (Its socket ends before its process descriptor tells.)
        final boolean peerDead = cause instanceof PeerDeadException && !(cause instanceof PeerStalledException)
            || peerProcess.hasExited();
        if (cause instanceof PeerDeadException || cause instanceof CorruptDataException) {
            // The peer's doing: it died, stopped answering or broke the protocol. Its channels fail too,
            // pending operations included, rather than wait on a process that may never move again. A local
            // failure (ours, or the user's handler's) declares nothing about the peer.
            if (peerProcess.watch() != null) {
                peerProcess.watch().declareDead("session " + id + " failed: " + cause.getMessage());
            }
            for (final Channel channel : channels) {
                channel.declarePeerDead();
            }
        }
        removeNames(peerDead);
        final String reason = cause instanceof Error ? cause.toString() : String.valueOf(cause.getMessage());
        final boolean stalled = cause instanceof PeerStalledException;
        final boolean goodbye = cause instanceof PeerClosedException;
        if (!goodbye && (peerDead || stalled)) {
            SessionEvents.peerDeath(id, peerApp, peer.pid(), stalled, reason);
        }
        SessionEvents.failed(id, peerApp, peer.pid(), goodbye ? "peer-closed" : stalled ? "peer-stalled"
            : peerDead ? "peer-died" : cause instanceof CorruptDataException ? "corrupt-input" : "local", reason);
        errorHandler.accept(cause);
    }

    /** Removes the session's names: those this side created, and the dead peer's. */
    private void removeNames(final boolean peerDead) {
        for (final Channel channel : channels) {
            channel.unlinkResources();
        }
        if (arena != null) {
            arena.unlink();
        }
        if (peerDead) {
            removePeerNames(options.arenaOptions().directory());
        }
    }

    /** Removes every name in {@code directory} that the (dead) peer created for this session. */
    private void removePeerNames(final Path directory) {
        final String prefix = ResourceName.configuredPrefix() + "." + peerApp + "." + peer.pid() + ".";
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(directory, prefix + "*")) {
            for (final Path entry : entries) {
                final Optional<ResourceName> name = ResourceName.parse(entry.getFileName().toString());
                if (name.isPresent() && name.get().id().startsWith(id + "-")) {
                    Files.deleteIfExists(entry);
                }
            }
        } catch (final IOException e) {
            errorHandler.accept(new IsthmusException("session " + id + ": cannot remove the dead peer's resources in "
                + directory + ": " + e, e));
        }
    }

    private RuntimeException failureException() {
        final Throwable cause = failure.get();
        if (cause instanceof ChannelClosedException closedException) {
            return closedException;
        }
        return new ChannelClosedException("session " + id + " failed: " + cause, cause);
    }

    private void checkUsable() {
        if (failure.get() != null) {
            throw failureException();
        }
        if (closed) {
            throw new ChannelClosedException("session " + id + " is closed");
        }
    }

    /**
     * Ends the session: tells the peer, closes every channel, removes this side's arena, and stops the
     * driver thread. Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        final boolean wasOpen = failure.get() == null;
        if (wasOpen) {
            try {
                sendControl(new SessionProtocol.Writer(SessionProtocol.BYE, token, 0).toArray());
            } catch (final RuntimeException ignored) {
                // the peer is gone already
            }
        }
        closed = true;
        // Closing the control socket (close frame, then shutdown) wakes the driver asleep on it at once.
        control.close();
        if (driver != null && Thread.currentThread() != driver) {
            try {
                driver.join(TimeUnit.SECONDS.toMillis(5));
            } catch (final InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (final CompletableFuture<String> answer : pendingOpens.values()) {
            answer.completeExceptionally(new ChannelClosedException("session " + id + " is closed"));
        }
        turns.wakeAll();
        for (final Channel channel : List.copyOf(channels)) {
            channel.unlinkResources();
            channel.close();
        }
        if (arena != null) {
            arena.close();
        }
        if (peerArena != null) {
            final boolean peerDead = peerProcess.hasExited();
            peerArena.close(peerDead);
            if (peerDead) {
                removePeerNames(options.arenaOptions().directory());
            }
        }
        control.close();
        peerProcess.close();
        stats.close();
        SessionEvents.closed(id, peerApp, peer.pid(), !wasOpen, System.nanoTime() - createdNs);
        final Runnable hook = closedHook;
        if (hook != null) {
            hook.run();
        }
    }

    @Override
    public String toString() {
        return "Session{" + id + ", " + localApp + " <-> " + peerApp + " (pid " + peer.pid() + ")" + (isOpen() ? "" : ", "
            + (closed ? "closed" : "failed")) + "}";
    }
}
