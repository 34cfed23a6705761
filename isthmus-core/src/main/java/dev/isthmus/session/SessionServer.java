/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.AuthenticationException;
import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.internal.event.SessionEvents;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceInfo;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.Resources;
import dev.isthmus.shm.RunDirectory;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.stat.StatKind;
import dev.isthmus.transport.NativeHandle;
import dev.isthmus.transport.PeerCredentials;
import dev.isthmus.transport.UnixSocketBlobChannel;
import dev.isthmus.transport.UnixSocketServer;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The running instance of a server application: accepts sessions from its allowed clients.
 *
 * {@snippet :
 * try (SessionServer server = SessionServer.start(CACHE_SRV, SessionOptions.zeroCopy())) {
 *     server.onSession(session -> serve(session));          // or: Session s = server.accept(timeout)
 * }
 * }
 *
 * <p>One instance per server app runs at a time: a second one is refused with the first one's pid. At
 * start, the server removes what dead earlier instances of itself, and dead clients of it, left in
 * {@code /dev/shm} and the run directory. Every connecting process is authenticated before anything is
 * created for it; a rejected client is told why (a stranger learns nothing of the allowed apps, users or
 * files), and the {@linkplain #onError error handler} hears of it once.
 *
 * <p>What a hostile or stalled client can cost is bounded by {@link ServerLimits}: a connection from a uid
 * no allowed client runs as is refused before anything is read from it; handshakes run concurrently, each
 * on a thread of its own with a deadline, a few per uid at a time (further connections of that uid wait in
 * order, those that have spoken first); sessions per client app, channels per session and init channels
 * are capped, each refusal a {@link SessionRefusedException} naming the limit.
 *
 * <p>Thread safety: all methods are thread-safe.
 */
public final class SessionServer implements AutoCloseable {
    private final ServerApp app;
    private final SessionOptions options;
    private final ServerLimits limits;
    private final Path runDirectory;
    private final PidFile pidFile;
    private final UnixSocketServer socket;
    /** The user ids of the allowed clients: a connection from any other is refused before it is read. */
    private final Set<Integer> allowedUids;
    /**
     * Process-wide, so that a session's id (its number and this process's pid) is unique on the host whichever
     * of this process's server apps accepted it: counters, events and resource names tell sessions apart by it.
     */
    private static final AtomicInteger SESSION_NUMBERS = new AtomicInteger();
    private final AtomicInteger handshakeNumbers = new AtomicInteger();
    /** Open sessions, accepted or not yet taken by {@link #accept} or the handler. */
    private final List<Session> sessions = new CopyOnWriteArrayList<>();
    /** Sessions established and not yet handed out. */
    private final LinkedBlockingQueue<Session> established = new LinkedBlockingQueue<>();
    /** Guards {@link #closed}, {@link #handshakes} and {@link #pendingPerUid}. */
    private final Object lock = new Object();
    /** The handshakes in progress: their threads, with the socket each reads. */
    private final Map<Thread, UnixSocketBlobChannel> handshakes = new HashMap<>();
    private final Map<Integer, Integer> pendingPerUid = new HashMap<>();
    /** Per client app, the handshakes past the session limit's check and not yet ended. */
    private final Map<String, Integer> reservedPerApp = new HashMap<>();
    /** Connections waiting for a handshake slot, in arrival order, with their user ids. */
    private final ArrayDeque<Queued> queued = new ArrayDeque<>();
    private final Map<Integer, Integer> queuedPerUid = new HashMap<>();
    private volatile Consumer<Throwable> errorHandler = error -> { };
    private final Thread acceptor;
    private Thread dispatcher;
    private volatile boolean closed;
    /** Handshakes by outcome ({@link dev.isthmus.stat.StatKind.Server}), in the process's stat file. */
    private final dev.isthmus.stat.StatRecord stats;

    private SessionServer(final ServerApp app, final SessionOptions options, final ServerLimits limits,
                          final Path runDirectory, final PidFile pidFile, final UnixSocketServer socket) {
        this.app = app;
        this.options = options;
        this.limits = limits;
        this.runDirectory = runDirectory;
        this.pidFile = pidFile;
        this.socket = socket;
        final Set<Integer> uids = new HashSet<>();
        app.allowedClients().values().forEach(client -> uids.add(client.uid()));
        this.allowedUids = Set.copyOf(uids);
        this.acceptor = Thread.ofPlatform().daemon().name("isthmus-accept-" + app.name()).unstarted(this::acceptLoop);
        this.stats = dev.isthmus.stat.StatFile.newRecord(StatKind.SERVER, 0,
            Map.of("server", app.name(), "socket", socket.address().toString()));
    }

    /**
     * {@return this server's counters: handshakes accepted and refused, by reason
     * ({@link dev.isthmus.stat.StatKind.Server}); updated atomically by the handshake threads}
     */
    public dev.isthmus.stat.StatRecord stats() {
        return stats;
    }

    /**
     * Starts the instance of a server app in this process, with the {@linkplain ServerLimits#defaults()
     * default limits}.
     *
     * @param app     the server application, as both programs define it
     * @param options options of the sessions it accepts (the client's choice of transport and zero copy
     *                applies); metadata given here goes to every client
     * @return the running server
     * @throws IsthmusException if another instance of the app runs, naming its pid
     */
    public static SessionServer start(final ServerApp app, final SessionOptions options) {
        return start(app, options, ServerLimits.defaults());
    }

    /**
     * Starts the instance of a server app in this process. From now on it accepts connections and runs
     * their handshakes concurrently, each on a thread of its own with the limits' deadline; established
     * sessions wait for {@link #accept} or the {@link #onSession handler}.
     *
     * @param app     the server application, as both programs define it
     * @param options options of the sessions it accepts (the client's choice of transport and zero copy
     *                applies); metadata given here goes to every client
     * @param limits  what one client may cost the server
     * @return the running server
     * @throws IsthmusException if another instance of the app runs, naming its pid
     */
    public static SessionServer start(final ServerApp app, final SessionOptions options, final ServerLimits limits) {
        Objects.requireNonNull(app, "app");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(limits, "limits");
        final Path runDirectory = app.runDirectory().map(dir -> RunDirectory.ensure(dir, app.permissions()))
            .orElseGet(() -> RunDirectory.ensure(app.permissions()));
        final PidFile pidFile = PidFile.acquire(runDirectory, app.name(), app.permissions());
        try {
            sweep(app, runDirectory);
            final UnixSocketServer socket = UnixSocketServer.bind(
                new ResourceName(ResourceName.configuredPrefix(), app.name(), ProcessHandle.current().pid(), "sock", "srv"),
                SessionProtocol.controlOptions().toBuilder().directory(runDirectory).permissions(app.permissions()).build());
            final SessionServer server = new SessionServer(app, options, limits, runDirectory, pidFile, socket);
            server.acceptor.start();
            return server;
        } catch (final RuntimeException | Error e) {
            pidFile.close();
            throw e;
        }
    }

    /**
     * Removes what dead instances of this app, and dead clients of it, left behind: in {@code /dev/shm}, the
     * run directory and the POSIX message queues (where the {@code mqueue} file system is mounted at
     * {@link Resources#DEFAULT_MQUEUE_DIRECTORY}).
     *
     * <p>Nothing found there stops the start: entries of other users and entries that are not Isthmus files
     * (a FIFO, a symbolic link) are left alone, and a stale entry that cannot be removed is skipped. Both are
     * reported through the {@link System.Logger} named after this class ({@code WARNING} for what could not be
     * removed, {@code INFO} for what was left alone), which {@code java.util.logging} prints by default and
     * any {@link System.LoggerFinder} redirects.
     */
    private static void sweep(final ServerApp app, final Path runDirectory) {
        final Set<String> apps = new HashSet<>(app.allowedClients().keySet());
        apps.add(app.name());
        final String prefix = ResourceName.configuredPrefix();
        final java.util.function.Predicate<ResourceName> ofTheseApps = name -> apps.contains(name.app());
        final dev.isthmus.shm.SweepReport report = Resources.removeStale(
                List.of(SharedMemory.DEFAULT_DIRECTORY, runDirectory), prefix, ofTheseApps, false)
            .plus(Resources.removeStaleMessageQueues(Resources.DEFAULT_MQUEUE_DIRECTORY, prefix, ofTheseApps, false));
        if (report.failures().isEmpty() && report.skipped().isEmpty()) {
            return;
        }
        final System.Logger log = System.getLogger(SessionServer.class.getName());
        for (final dev.isthmus.shm.SweepReport.Failure failure : report.failures()) {
            log.log(System.Logger.Level.WARNING, "server app \"" + app.name() + "\" could not remove the stale "
                + failure.resource().path() + " (" + failure.resource().detail() + "): " + failure.reason()
                + "; starting anyway, remove it by hand or with isthmus clean");
        }
        for (final ResourceInfo skipped : report.skipped()) {
            log.log(System.Logger.Level.INFO, "server app \"" + app.name() + "\" left " + skipped.path() + " alone: "
                + skipped.detail());
        }
    }

    /**
     * {@return the server application}
     */
    public ServerApp app() {
        return app;
    }

    /**
     * {@return the limits it enforces on each client}
     */
    public ServerLimits limits() {
        return limits;
    }

    /**
     * {@return the run directory holding the server's socket and pid file}
     */
    public Path runDirectory() {
        return runDirectory;
    }

    /**
     * {@return the sessions open now, those not yet accepted included}
     */
    public List<Session> sessions() {
        // A failed session stays on the list close() walks until it is closed: it still holds resources.
        sessions.removeIf(Session::isClosed);
        return sessions.stream().filter(Session::isOpen).toList();
    }

    /**
     * Sets the error handler: it hears of each refused connection, rejected client and failed handshake,
     * once, on a thread of the server's.
     *
     * @param handler the handler
     */
    public void onError(final Consumer<Throwable> handler) {
        this.errorHandler = Objects.requireNonNull(handler, "handler");
    }

    /**
     * Takes the next established session, waiting up to {@code timeout} for one; rejected clients and
     * failed handshakes never reach it (the {@linkplain #onError error handler} hears of them).
     *
     * @param timeout how long to wait for an established session
     * @return the session, with its init channels open on both sides
     * @throws IsthmusTimeoutException if none was established in time, or the server is closed
     */
    public Session accept(final Duration timeout) {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (!closed) {
            final long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                break;
            }
            final Session session;
            try {
                session = established.poll(Math.min(remaining, TimeUnit.MILLISECONDS.toNanos(100)), TimeUnit.NANOSECONDS);
            } catch (final InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IsthmusTimeoutException("server app \"" + app.name() + "\": interrupted while waiting for a"
                    + " client");
            }
            if (session != null) {
                // Handed out even if it has failed meanwhile (a client that connected and left at once):
                // the caller sees why on first use, and closes it.
                return session;
            }
        }
        throw new IsthmusTimeoutException("server app \"" + app.name() + "\": no client within " + timeout
            + (closed ? " (the server is closed)" : ""));
    }

    /**
     * Hands each established session to {@code handler}, on a thread of the server's, until the server
     * closes.
     *
     * @param handler receives each new session
     * @throws IllegalStateException if a handler was set already
     */
    public void onSession(final Consumer<Session> handler) {
        Objects.requireNonNull(handler, "handler");
        synchronized (lock) {
            if (dispatcher != null) {
                throw new IllegalStateException("server app \"" + app.name() + "\" has a session handler already");
            }
            dispatcher = Thread.ofPlatform().daemon().name("isthmus-server-" + app.name()).start(() -> {
                while (!closed) {
                    try {
                        handler.accept(accept(Duration.ofMillis(200)));
                    } catch (final IsthmusTimeoutException e) {
                        // poll the closed flag
                    } catch (final RuntimeException e) {
                        if (!closed) {
                            errorHandler.accept(e);
                        }
                    }
                }
            });
        }
    }

    /** Accepts connections until the server closes; never reads from one. */
    private void acceptLoop() {
        while (!closed) {
            reapUnaccepted();
            final UnixSocketBlobChannel control;
            try {
                control = socket.accept(TimeUnit.MILLISECONDS.toNanos(200));
            } catch (final IsthmusTimeoutException e) {
                continue;
            } catch (final RuntimeException | Error e) {
                if (!closed) {
                    report(new IsthmusException("server app \"" + app.name() + "\" cannot accept: " + e, e));
                    sleepQuietly();
                }
                continue;
            }
            try {
                admit(control);
            } catch (final RuntimeException | Error e) {
                // The acceptor goes on whatever one connection did: it is the server's only way in.
                control.close();
                report(e);
            }
        }
    }

    /**
     * Closes the established sessions that failed before anyone took them (a client that connected and
     * died): nobody else can hold them, so everything they hold is released now, not when the server closes.
     */
    private void reapUnaccepted() {
        for (final Iterator<Session> it = established.iterator(); it.hasNext(); ) {
            final Session session = it.next();
            if (!session.isOpen() && established.remove(session)) {
                session.close();
                sessions.remove(session);
            }
        }
    }

    /**
     * Starts the handshake of a new connection, or refuses it at once: a user id no allowed client runs
     * as, or a limit on handshakes in progress. A refusal is one REJECT sent without waiting, nothing read.
     */
    private void admit(final UnixSocketBlobChannel control) {
        final PeerCredentials credentials = control.peerCredentials();
        final int uid = credentials.uid();
        if (!allowedUids.contains(uid)) {
            refuse(control, "", "server app \"" + app.name() + "\" accepts no client running as uid "
                + Integer.toUnsignedString(uid), SessionProtocol.REJECT_AUTHENTICATION,
                StatKind.Server.REFUSED_STRANGER_UID,
                new AuthenticationException("server app \"" + app.name() + "\" refused a connection from pid "
                    + credentials.pid() + ": it runs as uid " + Integer.toUnsignedString(uid)
                    + ", which no allowed client runs as"));
            return;
        }
        final String limit;
        synchronized (lock) {
            if (closed) {
                limit = "server app \"" + app.name() + "\" is closing";
            } else if (mayBegin(uid)) {
                limit = null;
                begin(control, uid);
            } else if (queuedPerUid.getOrDefault(uid, 0) < limits.maxQueuedPerUid()) {
                limit = null;
                queued.addLast(new Queued(control, uid));
                queuedPerUid.merge(uid, 1, Integer::sum);
            } else {
                limit = "server app \"" + app.name() + "\" has " + pendingPerUid.getOrDefault(uid, 0) + " handshakes in"
                    + " progress and " + queuedPerUid.getOrDefault(uid, 0) + " connections waiting from uid "
                    + Integer.toUnsignedString(uid) + ", its limits (maxHandshakesPerUid, maxQueuedPerUid); try again later";
            }
        }
        if (limit != null) {
            refuse(control, "", limit, SessionProtocol.REJECT_SERVER, StatKind.Server.REFUSED_LIMIT,
                new SessionRefusedException(limit + " (pid " + credentials.pid() + ")"));
        }
    }

    /** A connection waiting for a handshake slot. */
    private record Queued(UnixSocketBlobChannel control, int uid) {
    }

    /** Whether a handshake for {@code uid} may begin now. Call holding {@link #lock}. */
    private boolean mayBegin(final int uid) {
        return handshakes.size() < limits.maxHandshakes()
            && pendingPerUid.getOrDefault(uid, 0) < limits.maxHandshakesPerUid();
    }

    /** Starts a handshake's thread. Call holding {@link #lock}. */
    private void begin(final UnixSocketBlobChannel control, final int uid) {
        final Thread thread = Thread.ofPlatform().daemon()
            .name("isthmus-handshake-" + app.name() + "-" + handshakeNumbers.incrementAndGet())
            .unstarted(() -> runHandshake(control, uid));
        pendingPerUid.merge(uid, 1, Integer::sum);
        handshakes.put(thread, control);
        try {
            thread.start();
        } catch (final RuntimeException | Error e) {
            // No thread (the user's process limit, memory): the slot and the connection are given back.
            handshakes.remove(thread);
            pendingPerUid.computeIfPresent(uid, (key, count) -> count == 1 ? null : count - 1);
            control.close();
            report(new IsthmusException("server app \"" + app.name() + "\" cannot start a handshake thread: " + e, e));
        }
    }

    /** Begins the oldest waiting connections that may begin now. Call holding {@link #lock}. */
    private void beginQueued() {
        // First those whose HELLO is there: a connection that stays silent can hold a slot for one handshake
        // deadline, never keep a client that speaks waiting behind it for longer.
        beginQueued(true);
        beginQueued(false);
    }

    private void beginQueued(final boolean speakingOnly) {
        for (final Iterator<Queued> it = queued.iterator(); it.hasNext() && handshakes.size() < limits.maxHandshakes(); ) {
            final Queued next = it.next();
            if (mayBegin(next.uid()) && (!speakingOnly || next.control().hasInput())) {
                it.remove();
                queuedPerUid.computeIfPresent(next.uid(), (key, count) -> count == 1 ? null : count - 1);
                begin(next.control(), next.uid());
            }
        }
    }

    private void refuse(final UnixSocketBlobChannel control, final String peerApp, final String toPeer, final byte kind,
                        final int counter, final IsthmusException report) {
        // Several handshake threads count here: atomically (a handshake is far from any hot path).
        stats.addAtomic(counter, 1);
        if (kind == SessionProtocol.REJECT_AUTHENTICATION) {
            final PeerCredentials credentials = control.peerCredentials();
            SessionEvents.authenticationRefused(app.name(), peerApp, credentials.pid(),
                Integer.toUnsignedLong(credentials.uid()), false, report.getMessage());
        }
        try {
            final byte[] reject = SessionProtocol.encodeReject(toPeer, kind);
            control.offer(reject, 0, reject.length, 0);
        } catch (final RuntimeException ignored) {
            // the peer is gone, or its socket is full: it learns from the closed connection
        } finally {
            control.close();
        }
        report(report);
    }

    private void runHandshake(final UnixSocketBlobChannel control, final int uid) {
        try {
            handshake(control);
        } finally {
            synchronized (lock) {
                handshakes.remove(Thread.currentThread());
                pendingPerUid.computeIfPresent(uid, (key, count) -> count == 1 ? null : count - 1);
                if (!closed) {
                    beginQueued();
                }
                lock.notifyAll();
            }
        }
    }

    /** {@return the session, or {@code null} if the client was rejected or the handshake failed (reported)} */
    private Session handshake(final UnixSocketBlobChannel control) {
        final PeerCredentials credentials = control.peerCredentials();
        Session session = null;
        PeerProcess peerProcess = null;
        String reservedFor = null;
        final List<NativeHandle> fars = new ArrayList<>();
        try {
            final SessionProtocol.Reply reply = SessionProtocol.awaitReply(control, limits.handshakeTimeout());
            reply.closeHandles();
            if (reply.message().type() != SessionProtocol.HELLO) {
                throw new CorruptDataException("a client (pid " + credentials.pid() + ") began with message type "
                    + reply.message().type() + " instead of HELLO");
            }
            final SessionProtocol.Hello hello = SessionProtocol.hello(reply.message().body());
            try {
                peerProcess = PeerProcess.of(control, hello.pid(), hello.startTime());
            } catch (final AuthenticationException e) {
                refuse(control, hello.clientApp(), e.getMessage(), SessionProtocol.REJECT_AUTHENTICATION,
                    StatKind.Server.REFUSED_AUTHENTICATION,
                    new AuthenticationException("server app \"" + app.name() + "\" rejected a client: " + e.getMessage()));
                return null;
            }
            final Authenticator.Result result = Authenticator.check(app, hello.clientApp(), hello.uid(), hello.gid(),
                peerProcess);
            if (!result.isAccepted()) {
                peerProcess.close();
                refuse(control, hello.clientApp(), result.toPeer(), SessionProtocol.REJECT_AUTHENTICATION,
                    app.allowedClients().containsKey(hello.clientApp()) ? StatKind.Server.REFUSED_AUTHENTICATION
                        : StatKind.Server.REFUSED_APP_NOT_ALLOWED,
                    new AuthenticationException("server app \"" + app.name() + "\" rejected a client: " + result.reason()));
                return null;
            }
            final String limit = sessionLimit(hello);
            if (limit == null) {
                reservedFor = hello.clientApp();
            } else {
                peerProcess.close();
                refuse(control, hello.clientApp(), limit, SessionProtocol.REJECT_SERVER, StatKind.Server.REFUSED_LIMIT,
                    new SessionRefusedException(limit + " (pid " + credentials.pid() + ")"));
                return null;
            }
            final String id = "s" + SESSION_NUMBERS.incrementAndGet() + "p" + ProcessHandle.current().pid();
            final UUID token = UUID.randomUUID();
            session = new Session(Session.Role.SERVER, id, token, app.name(), hello.clientApp(), peerProcess,
                app.permissions(), hello.transport(), hello.zeroCopy(), options, control, hello.metadata(),
                limits.maxChannelsPerSession());
            final List<SessionProtocol.ChannelSpec> specs = new ArrayList<>();
            for (int i = 0; i < hello.initChannels(); i++) {
                final Session.Prepared prepared = session.prepareChannel();
                specs.add(prepared.spec());
                fars.addAll(prepared.handles());
                session.addInitChannel(prepared.channel());
            }
            fars.addAll(session.arenaHandles());
            final ProcessIdentity me = ProcessIdentity.current();
            session.sendControl(SessionProtocol.encodeWelcome(token, new SessionProtocol.Welcome(id, app.name(), me.pid(),
                me.startTimeTicks(), app.permissions().ordinal(), specs, options.metadata())),
                fars.toArray(NativeHandle[]::new));
            final SessionProtocol.Reply ready;
            try {
                ready = SessionProtocol.awaitReply(control, limits.handshakeTimeout());
            } catch (final IsthmusTimeoutException e) {
                // Said before the connection closes, so that a slow client learns why rather than an EPIPE.
                try {
                    final byte[] reject = SessionProtocol.encodeReject("no READY within " + limits.handshakeTimeout()
                        + " of WELCOME (ServerLimits.handshakeTimeout); the server gave up", SessionProtocol.REJECT_SERVER);
                    control.offer(reject, 0, reject.length, 0);
                } catch (final RuntimeException ignored) {
                    // the client is gone, or its socket is full: it learns from the closed connection
                }
                throw e;
            }
            try {
                if (ready.message().type() != SessionProtocol.READY || !ready.message().token().equals(token)) {
                    throw new CorruptDataException("client app \"" + hello.clientApp() + "\" (pid " + credentials.pid()
                        + ") answered WELCOME with message type " + ready.message().type()
                        + (ready.message().token().equals(token) ? "" : " and a wrong session token"));
                }
                if (session.isZeroCopy()) {
                    session.attachPeerArena(ready.handles());
                }
            } finally {
                // attachPeerArena released what it adopted; anything else a READY carried is closed
                ready.closeHandles();
            }
            session.startDriver();
            final Session done = session;
            session.onClosed(() -> sessions.remove(done));
            synchronized (lock) {
                if (!closed) {
                    // Counted from now on by the list, not by the reservation (released below).
                    sessions.add(session);
                    established.add(session);
                    stats.addAtomic(StatKind.Server.ACCEPTED, 1);
                    return session;
                }
            }
            session.close();
            return null;
        } catch (final RuntimeException | Error e) {
            if (session != null) {
                session.close();
            } else {
                control.close();
                if (peerProcess != null) {
                    peerProcess.close();
                }
            }
            stats.addAtomic(e instanceof IsthmusTimeoutException ? StatKind.Server.REFUSED_TIMEOUT
                : e instanceof CorruptDataException ? StatKind.Server.REFUSED_PROTOCOL
                : StatKind.Server.REFUSED_OTHER, 1);
            if (e instanceof Error error) {
                throw error;
            }
            if (!closed) {
                report(new IsthmusException("server app \"" + app.name() + "\": the handshake with pid "
                    + credentials.pid() + " failed: " + e.getMessage(), e));
            }
            return null;
        } finally {
            // The far ends went to the peer with the WELCOME (the kernel holds its copies), or not at all.
            fars.forEach(NativeHandle::close);
            if (reservedFor != null) {
                releaseReservation(reservedFor);
            }
        }
    }

    /** {@return why an authenticated client may not have this session, or {@code null} if it may} */
    private String sessionLimit(final SessionProtocol.Hello hello) {
        if (hello.initChannels() > limits.maxInitChannels()) {
            return "server app \"" + app.name() + "\" allows at most " + limits.maxInitChannels()
                + " init channels (maxInitChannels); client app \"" + hello.clientApp() + "\" asked for "
                + hello.initChannels();
        }
        synchronized (lock) {
            // Every session not yet closed counts (a failed one still holds its resources), and so does every
            // handshake of the app past this point: concurrent handshakes cannot overshoot the limit.
            long held = reservedPerApp.getOrDefault(hello.clientApp(), 0);
            for (final Session session : sessions) {
                if (!session.isClosed() && session.peerApp().equals(hello.clientApp())) {
                    held++;
                }
            }
            if (held >= limits.maxSessionsPerClient()) {
                return "client app \"" + hello.clientApp() + "\" has " + held + " sessions with server app \""
                    + app.name() + "\", its limit (maxSessionsPerClient); close one first (a failed session counts"
                    + " until it is closed)";
            }
            reservedPerApp.merge(hello.clientApp(), 1, Integer::sum);
            return null;
        }
    }

    /** Gives back what {@link #sessionLimit} reserved for a handshake that ended. */
    private void releaseReservation(final String clientApp) {
        synchronized (lock) {
            reservedPerApp.computeIfPresent(clientApp, (key, count) -> count == 1 ? null : count - 1);
        }
    }

    private void report(final Throwable error) {
        try {
            errorHandler.accept(error);
        } catch (final RuntimeException ignored) {
            // the user's handler failed: nothing to tell it about that
        }
    }

    private static void sleepQuietly() {
        try {
            Thread.sleep(50);
        } catch (final InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Stops accepting, ends the handshakes in progress (their sockets are closed, and this waits for their
     * threads), closes every session, removes the socket and the pid file. Idempotent.
     */
    @Override
    public void close() {
        final List<UnixSocketBlobChannel> inProgress;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            inProgress = new ArrayList<>(handshakes.values());
            queued.forEach(waiting -> inProgress.add(waiting.control()));
            queued.clear();
            queuedPerUid.clear();
        }
        joinQuietly(acceptor);
        // A handshake blocked on its peer fails at once when its socket closes.
        inProgress.forEach(UnixSocketBlobChannel::close);
        synchronized (lock) {
            final long deadline = System.nanoTime() + limits.handshakeTimeout().toNanos() * 2 + TimeUnit.SECONDS.toNanos(1);
            while (!handshakes.isEmpty()) {
                final long remaining = deadline - System.nanoTime();
                if (remaining <= 0) {
                    break;
                }
                try {
                    lock.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(remaining)));
                } catch (final InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        final Thread handlerThread;
        synchronized (lock) {
            handlerThread = dispatcher;
        }
        if (handlerThread != null && Thread.currentThread() != handlerThread) {
            joinQuietly(handlerThread);
        }
        for (final Session session : sessions) {
            session.close();
        }
        established.clear();
        socket.close();
        pidFile.close();
        stats.close();
    }

    private static void joinQuietly(final Thread thread) {
        if (thread == Thread.currentThread()) {
            return;
        }
        try {
            thread.join(TimeUnit.SECONDS.toMillis(5));
        } catch (final InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "SessionServer{" + app.name() + ", pid " + ProcessHandle.current().pid() + ", " + socket.address() + "}";
    }
}
