/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.AuthenticationException;
import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceInfo;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.Resources;
import dev.isthmus.shm.RunDirectory;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.transport.NativeHandle;
import dev.isthmus.transport.PeerCredentials;
import dev.isthmus.transport.UnixSocketBlobChannel;
import dev.isthmus.transport.UnixSocketServer;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
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
 * created for it; a rejected client is told why, and the {@linkplain #onError error handler} hears of it
 * once.
 *
 * <p>Thread safety: all methods are thread-safe.
 */
public final class SessionServer implements AutoCloseable {
    private final ServerApp app;
    private final SessionOptions options;
    private final Path runDirectory;
    private final PidFile pidFile;
    private final UnixSocketServer socket;
    private final AtomicInteger sessionNumbers = new AtomicInteger();
    private final List<Session> sessions = new CopyOnWriteArrayList<>();
    private volatile Consumer<Throwable> errorHandler = error -> { };
    private Thread acceptor;
    private volatile boolean closed;

    private SessionServer(final ServerApp app, final SessionOptions options, final Path runDirectory,
                          final PidFile pidFile, final UnixSocketServer socket) {
        this.app = app;
        this.options = options;
        this.runDirectory = runDirectory;
        this.pidFile = pidFile;
        this.socket = socket;
    }

    /**
     * Starts the instance of a server app in this process.
     *
     * @param app     the server application, as both programs define it
     * @param options options of the sessions it accepts (the client's choice of transport and zero copy
     *                applies); metadata given here goes to every client
     * @return the running server
     * @throws IsthmusException if another instance of the app runs, naming its pid
     */
    public static SessionServer start(final ServerApp app, final SessionOptions options) {
        Objects.requireNonNull(app, "app");
        Objects.requireNonNull(options, "options");
        final Path runDirectory = app.runDirectory().map(dir -> RunDirectory.ensure(dir, app.permissions()))
            .orElseGet(() -> RunDirectory.ensure(app.permissions()));
        final PidFile pidFile = PidFile.acquire(runDirectory, app.name(), app.permissions());
        try {
            sweep(app, runDirectory);
            final UnixSocketServer socket = UnixSocketServer.bind(
                new ResourceName(ResourceName.configuredPrefix(), app.name(), ProcessHandle.current().pid(), "sock", "srv"),
                ClientSession.controlOptions().toBuilder().directory(runDirectory).permissions(app.permissions()).build());
            return new SessionServer(app, options, runDirectory, pidFile, socket);
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
     * {@return the run directory holding the server's socket and pid file}
     */
    public Path runDirectory() {
        return runDirectory;
    }

    /**
     * {@return the sessions open now}
     */
    public List<Session> sessions() {
        sessions.removeIf(session -> !session.isOpen());
        return List.copyOf(sessions);
    }

    /**
     * Sets the error handler: it hears of each rejected client and each failed handshake, once.
     *
     * @param handler the handler
     */
    public void onError(final Consumer<Throwable> handler) {
        this.errorHandler = Objects.requireNonNull(handler, "handler");
    }

    /**
     * Waits for a client and opens a session with it; rejected clients are skipped (and reported).
     *
     * @param timeout how long to wait for an accepted client
     * @return the session, with its init channels open on both sides
     * @throws IsthmusTimeoutException if no client was accepted in time
     */
    public Session accept(final Duration timeout) {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            final long remaining = deadline - System.nanoTime();
            if (remaining <= 0 || closed) {
                throw new IsthmusTimeoutException("server app \"" + app.name() + "\": no client within " + timeout);
            }
            final UnixSocketBlobChannel control;
            try {
                control = socket.accept(remaining);
            } catch (final IsthmusTimeoutException e) {
                throw new IsthmusTimeoutException("server app \"" + app.name() + "\": no client within " + timeout);
            }
            final Session session = handshake(control);
            if (session != null) {
                return session;
            }
        }
    }

    /**
     * Accepts sessions on a thread of the server's and hands each to {@code handler}, until the server
     * closes.
     *
     * @param handler receives each new session, on the accepting thread
     * @throws IllegalStateException if a handler was set already
     */
    public synchronized void onSession(final Consumer<Session> handler) {
        Objects.requireNonNull(handler, "handler");
        if (acceptor != null) {
            throw new IllegalStateException("server app \"" + app.name() + "\" has a session handler already");
        }
        acceptor = Thread.ofPlatform().daemon().name("isthmus-server-" + app.name()).start(() -> {
            while (!closed) {
                try {
                    final Session session = accept(Duration.ofMillis(200));
                    handler.accept(session);
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

    private Session handshake(final UnixSocketBlobChannel control) {
        final PeerCredentials credentials = control.peerCredentials();
        Session session = null;
        List<NativeHandle> fars = List.of();
        try {
            final ClientSession.Reply reply = ClientSession.awaitReply(control, options);
            reply.handles().forEach(NativeHandle::close);
            if (reply.message().type() != SessionProtocol.HELLO) {
                throw new CorruptDataException("a client (pid " + credentials.pid() + ") began with message type "
                    + reply.message().type() + " instead of HELLO");
            }
            final SessionProtocol.Hello hello = SessionProtocol.hello(reply.message().body());
            final Authenticator.Result result = Authenticator.check(app, hello.clientApp(), hello.uid(), hello.gid(),
                new Authenticator.PeerCredentials(credentials.pid(), credentials.uid(), credentials.gid()));
            if (!result.isAccepted()) {
                final byte[] reject = new SessionProtocol.Writer(SessionProtocol.REJECT, new UUID(0, 0), 0)
                    .putString(result.reason()).toArray();
                control.offer(reject, 0, reject.length, TimeUnit.SECONDS.toNanos(1));
                control.close();
                errorHandler.accept(new AuthenticationException("server app \"" + app.name() + "\" rejected a client: "
                    + result.reason()));
                return null;
            }
            final String id = "s" + sessionNumbers.incrementAndGet() + "p" + ProcessHandle.current().pid();
            final UUID token = UUID.randomUUID();
            session = new Session(Session.Role.SERVER, id, token, app.name(), hello.clientApp(), result.identity(),
                credentials, app.permissions(), hello.transport(), hello.zeroCopy(), options, control, hello.metadata());
            final List<SessionProtocol.ChannelSpec> specs = new ArrayList<>();
            fars = new ArrayList<>();
            final List<Channel> initChannels = new ArrayList<>();
            for (int i = 0; i < hello.initChannels(); i++) {
                final Session.Prepared prepared = session.prepareChannel();
                initChannels.add(prepared.channel());
                specs.add(prepared.spec());
                fars.addAll(prepared.handles());
                session.addInitChannel(prepared.channel());
            }
            fars.addAll(session.arenaHandles());
            final ProcessIdentity me = ProcessIdentity.current();
            session.sendControl(SessionProtocol.encodeWelcome(token, new SessionProtocol.Welcome(id, app.name(), me.pid(),
                me.startTimeTicks(), app.permissions().ordinal(), specs, options.metadata())),
                fars.toArray(NativeHandle[]::new));
            fars.forEach(NativeHandle::close);
            final ClientSession.Reply ready = ClientSession.awaitReply(control, options);
            if (ready.message().type() != SessionProtocol.READY || !ready.message().token().equals(token)) {
                ready.handles().forEach(NativeHandle::close);
                throw new CorruptDataException("client app \"" + hello.clientApp() + "\" (pid " + credentials.pid()
                    + ") answered WELCOME with message type " + ready.message().type()
                    + (ready.message().token().equals(token) ? "" : " and a wrong session token"));
            }
            if (session.isZeroCopy()) {
                session.attachPeerArena(ready.handles());
            } else {
                ready.handles().forEach(NativeHandle::close);
            }
            session.startDriver();
            sessions.add(session);
            return session;
        } catch (final RuntimeException | Error e) {
            fars.forEach(NativeHandle::close);
            if (session != null) {
                session.close();
            } else {
                control.close();
            }
            if (e instanceof Error error) {
                throw error;
            }
            errorHandler.accept(new IsthmusException("server app \"" + app.name() + "\": the handshake with pid "
                + credentials.pid() + " failed: " + e.getMessage(), e));
            return null;
        }
    }

    /**
     * Stops accepting, closes every session, removes the socket and the pid file. Idempotent.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        if (acceptor != null && Thread.currentThread() != acceptor) {
            try {
                acceptor.join(TimeUnit.SECONDS.toMillis(5));
            } catch (final InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (final Session session : sessions) {
            session.close();
        }
        socket.close();
        pidFile.close();
    }

    @Override
    public String toString() {
        return "SessionServer{" + app.name() + ", pid " + ProcessHandle.current().pid() + ", " + socket.address() + "}";
    }
}
