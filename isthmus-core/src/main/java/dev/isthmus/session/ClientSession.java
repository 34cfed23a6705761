/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.AuthenticationException;
import dev.isthmus.ChannelClosedException;
import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.internal.event.SessionEvents;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.RunDirectory;
import dev.isthmus.stat.StatFile;
import dev.isthmus.stat.StatKind;
import dev.isthmus.stat.StatRecord;
import dev.isthmus.transport.NativeHandle;
import dev.isthmus.transport.UnixSocketBlobChannel;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Connects a client application to a running server application.
 *
 * {@snippet :
 * try (Session session = ClientSession.connect(CACHE_CLI, CACHE_SRV, SessionOptions.zeroCopy().initChannels(1))) {
 *     Channel channel = session.initChannels().get(0);
 *     Channel more = session.openChannel();          // any time, no names
 * }
 * }
 */
public final class ClientSession {
    /**
     * The most channels a client's session may have when the server opens one more: a server that opens
     * channels without end is refused (its open fails with the reason), however many the client opened.
     */
    public static final int MAX_SERVER_OPENED_CHANNELS = 1024;

    /** Handshakes by outcome, one record per client app this process connected as; they live as long as it. */
    private static final ConcurrentHashMap<String, StatRecord> STATS = new ConcurrentHashMap<>();

    private ClientSession() {
    }

    /**
     * Opens a session with the running instance of {@code server}, as {@code client}.
     *
     * @param client  this application, as both programs define it
     * @param server  the server application, as both programs define it
     * @param options the init channels, transport, zero copy, metadata for the server, timeouts
     * @return the session, with its init channels open on both sides
     * @throws dev.isthmus.shm.NoSuchResourceException if the server app is not running
     * @throws AuthenticationException                  if the server rejected this process; or the server's
     *                                                  permission level keeps this user from its socket; or the
     *                                                  server failed this client's checks of it (its run
     *                                                  directory, pid file or credentials are not its user's,
     *                                                  or it asks for a wider permission level than
     *                                                  {@code server} gives), in which case nothing was sent to
     *                                                  it. The message says which
     * @throws SessionRefusedException                  if the server refused the session for a reason of its own,
     *                                                  e.g. a {@link ServerLimits limit} reached; the message names it
     * @throws IsthmusTimeoutException                  if the server did not answer within the connect timeout
     */
    public static Session connect(final ClientApp client, final ServerApp server, final SessionOptions options) {
        final StatRecord stats = STATS.computeIfAbsent(client.name(),
            name -> StatFile.newRecord(StatKind.CLIENT, 0, Map.of("client", name)));
        // The server's pid and uid, once known: for the event of a refusal.
        final long[] serverPidUid = {-1, -1};
        try {
            final Session session = connect(client, server, options, serverPidUid);
            stats.addAtomic(StatKind.Client.ACCEPTED, 1);
            return session;
        } catch (final RuntimeException | Error e) {
            final boolean byServer = e instanceof RejectedByServer || e instanceof SessionRefusedException;
            // Several threads may connect at once: atomically (a handshake is far from any hot path).
            stats.addAtomic(byServer ? StatKind.Client.REFUSED_BY_SERVER
                : e instanceof AuthenticationException ? StatKind.Client.REFUSED_AUTHENTICATION
                : e instanceof CorruptDataException ? StatKind.Client.REFUSED_PROTOCOL
                : e instanceof IsthmusTimeoutException ? StatKind.Client.REFUSED_TIMEOUT
                : StatKind.Client.REFUSED_OTHER, 1);
            if (e instanceof AuthenticationException) {
                SessionEvents.authenticationRefused(client.name(), server.name(), serverPidUid[0], serverPidUid[1],
                    byServer, e.getMessage());
            }
            throw e;
        }
    }

    /** A server's REJECT of the authentication kind: told apart from this side's own refusals in the counters. */
    private static final class RejectedByServer extends AuthenticationException {
        private static final long serialVersionUID = 1L;

        RejectedByServer(final String message) {
            super(message);
        }
    }

    /**
     * The server closed the connection before this client's READY: a server that gave up waiting (its handshake
     * deadline) says why before closing, and that reason is what the caller gets; otherwise the failure itself,
     * with how long this side took.
     */
    private static RuntimeException closedBeforeReady(final ServerApp server, final ProcessIdentity serverProcess,
                                                      final UnixSocketBlobChannel control, final long welcomedNs,
                                                      final ChannelClosedException failure) {
        final long tookMs = (System.nanoTime() - welcomedNs) / 1_000_000;
        try {
            final SessionProtocol.Reply reply = SessionProtocol.awaitReply(control, Duration.ofSeconds(1));
            reply.closeHandles();
            if (reply.message().type() == SessionProtocol.REJECT) {
                final SessionProtocol.Rejection rejection = SessionProtocol.rejection(reply.message().body());
                final SessionRefusedException refused = new SessionRefusedException("server app \"" + server.name()
                    + "\" (pid " + serverProcess.pid() + ") ended the handshake: " + rejection.reason()
                    + "; this client took " + tookMs + " ms from WELCOME to READY");
                refused.initCause(failure);
                return refused;
            }
        } catch (final RuntimeException none) {
            failure.addSuppressed(none);
        }
        return new ChannelClosedException("server app \"" + server.name() + "\" (pid " + serverProcess.pid()
            + ") closed the connection before this client's READY, " + tookMs + " ms after its WELCOME: "
            + failure.getMessage(), failure);
    }

    private static Session connect(final ClientApp client, final ServerApp server, final SessionOptions options,
                                   final long[] serverPidUid) {
        // Nothing in the directory is trusted before it is shown to be the server user's alone.
        final Path runDirectory = RunDirectory.verify(server.runDirectory().orElseGet(RunDirectory::path), server.uid());
        final ProcessIdentity serverProcess;
        try {
            serverProcess = PidFile.read(runDirectory, server.name(), server.uid());
        } catch (final dev.isthmus.NativeException e) {
            if (e.errno() == dev.isthmus.internal.linux.Errno.EACCES) {
                throw refusedByMode(client, server, "this process (uid "
                    + Integer.toUnsignedString(dev.isthmus.internal.linux.Credentials.effectiveUid()) + ") may not read "
                    + PidFile.path(runDirectory, server.name()) + " (EACCES): its mode excludes it");
            }
            throw e;
        }
        serverPidUid[0] = serverProcess.pid();
        final Path socket = runDirectory.resolve(new ResourceName(ResourceName.configuredPrefix(), server.name(),
            serverProcess.pid(), "sock", "srv").toString());
        final UnixSocketBlobChannel control;
        try {
            control = UnixSocketBlobChannel.connect(socket, options.connectTimeout().toNanos(), SessionProtocol.controlOptions());
        } catch (final AuthenticationException e) {
            throw refusedByMode(client, server, e.getMessage());
        }
        serverPidUid[1] = Integer.toUnsignedLong(control.peerCredentials().uid());
        Session session = null;
        SessionProtocol.Reply reply = null;
        PeerProcess peerProcess = null;
        try {
            peerProcess = authenticateServer(server, serverProcess, control);
            final ProcessIdentity me = ProcessIdentity.current();
            final byte[] hello = SessionProtocol.encodeHello(new SessionProtocol.Hello(client.name(),
                dev.isthmus.internal.linux.Credentials.effectiveUid(), dev.isthmus.internal.linux.Credentials.effectiveGid(),
                me.pid(), me.startTimeTicks(), options.initChannels(), options.transport(), options.isZeroCopy(),
                options.metadata()));
            try {
                if (!control.offer(hello, 0, hello.length, options.connectTimeout().toNanos())) {
                    throw new IsthmusTimeoutException("server app \"" + server.name() + "\" did not read its socket within "
                        + options.connectTimeout());
                }
            } catch (final ChannelClosedException e) {
                // A server refuses a process of a user it does not serve without reading anything: its REJECT
                // may be waiting although the socket is closed for sending.
                try {
                    reply = SessionProtocol.awaitReply(control, Duration.ofSeconds(1));
                } catch (final RuntimeException none) {
                    e.addSuppressed(none);
                    throw e;
                }
            }
            if (reply == null) {
                reply = SessionProtocol.awaitReply(control, options.connectTimeout());
            }
            if (reply.message().type() == SessionProtocol.REJECT) {
                final SessionProtocol.Rejection rejection = SessionProtocol.rejection(reply.message().body());
                final String message = "server app \"" + server.name() + "\" (pid " + serverProcess.pid() + ") "
                    + (rejection.kind() == SessionProtocol.REJECT_SERVER ? "refused a session to" : "rejected")
                    + " client app \"" + client.name() + "\": " + rejection.reason();
                throw rejection.kind() == SessionProtocol.REJECT_SERVER ? new SessionRefusedException(message)
                    : new RejectedByServer(message);
            }
            if (reply.message().type() != SessionProtocol.WELCOME) {
                throw new CorruptDataException("server app \"" + server.name() + "\" answered HELLO with message type "
                    + reply.message().type());
            }
            final long welcomedNs = System.nanoTime();
            final SessionProtocol.Welcome welcome = SessionProtocol.welcome(reply.message().body());
            if (welcome.serverPid() != peerProcess.identity().pid()
                || welcome.serverStartTime() != peerProcess.identity().startTimeTicks()
                || welcome.channels().size() != options.initChannels()
                || reply.handles().size() != welcome.channels().size() * Session.handlesPerChannel(options.transport())
                    + (options.isZeroCopy() ? Session.ARENA_HANDLES : 0)
                || welcome.permissionLevel() < 0
                || welcome.permissionLevel() >= PermissionLevel.values().length) {
                throw new CorruptDataException("server app \"" + server.name() + "\" sent an inconsistent WELCOME: pid "
                    + welcome.serverPid() + " (the listener is " + peerProcess + "), "
                    + welcome.channels().size() + " channels with " + reply.handles().size() + " descriptors, "
                    + options.initChannels() + " asked for, permission level " + welcome.permissionLevel());
            }
            if (welcome.permissionLevel() > server.permissions().ordinal()) {
                // The level decides the mode of what this side creates: a server may narrow it, never widen it.
                throw new AuthenticationException("server app \"" + server.name() + "\" (pid " + welcome.serverPid()
                    + ") asks for permission level " + PermissionLevel.values()[welcome.permissionLevel()]
                    + ", wider than the " + server.permissions() + " this client's definition of it gives: refusing the"
                    + " session");
            }
            session = new Session(Session.Role.CLIENT, welcome.sessionId(), reply.message().token(), client.name(),
                server.name(), peerProcess, PermissionLevel.values()[welcome.permissionLevel()], options.transport(),
                options.isZeroCopy(), options, control, welcome.metadata(),
                MAX_SERVER_OPENED_CHANNELS);
            final int perChannel = Session.handlesPerChannel(options.transport());
            final int channelHandles = welcome.channels().size() * perChannel;
            for (int i = 0; i < welcome.channels().size(); i++) {
                session.addInitChannel(session.acceptChannel(welcome.channels().get(i),
                    reply.handles().subList(i * perChannel, (i + 1) * perChannel)));
            }
            if (session.isZeroCopy()) {
                session.attachPeerArena(reply.handles().subList(channelHandles, reply.handles().size()));
            }
            final List<NativeHandle> arenaHandles = session.arenaHandles();
            try {
                session.sendControl(new SessionProtocol.Writer(SessionProtocol.READY, session.token(), 0).toArray(),
                    arenaHandles.toArray(NativeHandle[]::new));
            } catch (final ChannelClosedException e) {
                throw closedBeforeReady(server, serverProcess, control, welcomedNs, e);
            } finally {
                arenaHandles.forEach(NativeHandle::close);
            }
            session.startDriver();
            return session;
        } catch (final RuntimeException | Error e) {
            if (reply != null) {
                // Those a channel took over are released already; the rest would leak.
                reply.handles().forEach(NativeHandle::close);
            }
            if (session != null) {
                session.close();
            } else {
                control.close();
                if (peerProcess != null) {
                    peerProcess.close();
                }
            }
            throw e;
        }
    }

    /** The kernel refused a file or socket by its mode: says which level made it so. */
    private static AuthenticationException refusedByMode(final ClientApp client, final ServerApp server,
                                                         final String why) {
        return new AuthenticationException("client app \"" + client.name() + "\" may not reach server app \""
            + server.name() + "\", whose permission level is " + server.permissions()
            + (server.permissions() == PermissionLevel.NO_ACCESS
                ? " (mode 0000: only a process that overrides file modes, i.e. holds CAP_DAC_OVERRIDE, may connect)"
                : "") + ": " + why);
    }

    /**
     * Checks, before anything is sent, that the process listening on the socket is the server app as this
     * client defines it: its kernel credentials ({@code SO_PEERCRED}) carry the app's uid and gid, and it is
     * the process the pid file names, bound to it by its process descriptor. An impostor (another user's
     * process in a run directory it should not control) gets nothing: not the HELLO, not the metadata.
     *
     * @return the server process, the caller's to close
     */
    private static PeerProcess authenticateServer(final ServerApp server, final ProcessIdentity serverProcess,
                                                  final UnixSocketBlobChannel control) {
        final dev.isthmus.transport.PeerCredentials peer = control.peerCredentials();
        if (peer.uid() != server.uid() || peer.gid() != server.gid()) {
            throw new AuthenticationException("the process listening for server app \"" + server.name() + "\" (pid "
                + peer.pid() + ") runs as uid " + Integer.toUnsignedString(peer.uid()) + ", gid "
                + Integer.toUnsignedString(peer.gid()) + ", but the server app is defined to run as uid "
                + Integer.toUnsignedString(server.uid()) + ", gid " + Integer.toUnsignedString(server.gid())
                + ": refusing it, nothing was sent");
        }
        final PeerProcess process;
        try {
            process = PeerProcess.of(control, serverProcess.pid(), serverProcess.startTimeTicks());
        } catch (final AuthenticationException e) {
            throw new AuthenticationException("the process listening for server app \"" + server.name() + "\" is not"
                + " the one its pid file names: " + e.getMessage() + "; refusing it, nothing was sent");
        }
        if (!process.isInThisPidNamespace() && !server.otherPidNamespaces()) {
            process.close();
            throw new AuthenticationException("server app \"" + server.name() + "\" (" + process + ") runs in another pid"
                + " namespace (a container?), and its definition does not accept other pid namespaces (see"
                + " ServerApp.Builder.acceptOtherPidNamespaces): refusing it, nothing was sent");
        }
        return process;
    }
}
