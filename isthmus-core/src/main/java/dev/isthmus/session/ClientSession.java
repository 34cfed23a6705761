/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.AuthenticationException;
import dev.isthmus.ChannelClosedException;
import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.RunDirectory;
import dev.isthmus.transport.NativeHandle;
import dev.isthmus.transport.UnixSocketBlobChannel;
import dev.isthmus.transport.UnixSocketOptions;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

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
     * @throws AuthenticationException                  if the server rejected this process, or the server's
     *                                                  permission level keeps this user from its socket; the
     *                                                  message says why
     * @throws IsthmusTimeoutException                  if the server did not answer within the connect timeout
     */
    public static Session connect(final ClientApp client, final ServerApp server, final SessionOptions options) {
        final Path runDirectory = server.runDirectory().orElseGet(RunDirectory::path);
        final ProcessIdentity serverProcess;
        final UnixSocketBlobChannel control;
        try {
            serverProcess = PidFile.read(runDirectory, server.name());
            final Path socket = runDirectory.resolve(new ResourceName(ResourceName.configuredPrefix(), server.name(),
                serverProcess.pid(), "sock", "srv").toString());
            control = UnixSocketBlobChannel.connect(socket, options.connectTimeout().toNanos(), controlOptions());
        } catch (final AuthenticationException e) {
            // The kernel refused a file or socket by its mode: say which level made it so.
            throw new AuthenticationException("client app \"" + client.name() + "\" may not reach server app \""
                + server.name() + "\", whose permission level is " + server.permissions()
                + (server.permissions() == PermissionLevel.NO_ACCESS
                    ? " (mode 0000: only a process that overrides file modes, i.e. holds CAP_DAC_OVERRIDE, may connect)"
                    : "") + ": " + e.getMessage());
        }
        Session session = null;
        Reply reply = null;
        try {
            final ProcessIdentity me = ProcessIdentity.current();
            final byte[] hello = SessionProtocol.encodeHello(new SessionProtocol.Hello(client.name(),
                dev.isthmus.internal.linux.Credentials.effectiveUid(), dev.isthmus.internal.linux.Credentials.effectiveGid(),
                me.pid(), me.startTimeTicks(), options.initChannels(), options.transport(), options.isZeroCopy(),
                options.metadata()));
            if (!control.offer(hello, 0, hello.length, options.connectTimeout().toNanos())) {
                throw new IsthmusTimeoutException("server app \"" + server.name() + "\" did not read its socket within "
                    + options.connectTimeout());
            }
            reply = awaitReply(control, options);
            if (reply.message.type() == SessionProtocol.REJECT) {
                throw new AuthenticationException("server app \"" + server.name() + "\" (pid " + serverProcess.pid()
                    + ") rejected client app \"" + client.name() + "\": " + SessionProtocol.getString(reply.message.body()));
            }
            if (reply.message.type() != SessionProtocol.WELCOME) {
                throw new CorruptDataException("server app \"" + server.name() + "\" answered HELLO with message type "
                    + reply.message.type());
            }
            final SessionProtocol.Welcome welcome = SessionProtocol.welcome(reply.message.body());
            if (welcome.serverPid() != control.peerCredentials().pid() || welcome.channels().size() != options.initChannels()
                || reply.handles.size() != welcome.channels().size() * Session.handlesPerChannel(options.transport())
                    + (options.isZeroCopy() ? Session.ARENA_HANDLES : 0)
                || welcome.permissionLevel() < 0
                || welcome.permissionLevel() >= PermissionLevel.values().length) {
                throw new CorruptDataException("server app \"" + server.name() + "\" sent an inconsistent WELCOME: pid "
                    + welcome.serverPid() + " (socket peer " + control.peerCredentials().pid() + "), "
                    + welcome.channels().size() + " channels with " + reply.handles.size() + " descriptors, "
                    + options.initChannels() + " asked for");
            }
            session = new Session(Session.Role.CLIENT, welcome.sessionId(), reply.message.token(), client.name(),
                server.name(), new ProcessIdentity(welcome.serverPid(), welcome.serverStartTime()),
                control.peerCredentials(), PermissionLevel.values()[welcome.permissionLevel()], options.transport(),
                options.isZeroCopy(), options, control, welcome.metadata());
            final int perChannel = Session.handlesPerChannel(options.transport());
            final int channelHandles = welcome.channels().size() * perChannel;
            for (int i = 0; i < welcome.channels().size(); i++) {
                session.addInitChannel(session.acceptChannel(welcome.channels().get(i),
                    reply.handles.subList(i * perChannel, (i + 1) * perChannel)));
            }
            if (session.isZeroCopy()) {
                session.attachPeerArena(reply.handles.subList(channelHandles, reply.handles.size()));
            }
            final List<NativeHandle> arenaHandles = session.arenaHandles();
            try {
                session.sendControl(new SessionProtocol.Writer(SessionProtocol.READY, session.token(), 0).toArray(),
                    arenaHandles.toArray(NativeHandle[]::new));
            } finally {
                arenaHandles.forEach(NativeHandle::close);
            }
            session.startDriver();
            return session;
        } catch (final RuntimeException | Error e) {
            if (reply != null) {
                // Those a channel took over are released already; the rest would leak.
                reply.handles.forEach(NativeHandle::close);
            }
            if (session != null) {
                session.close();
            } else {
                control.close();
            }
            throw e;
        }
    }

    static UnixSocketOptions controlOptions() {
        return UnixSocketOptions.builder().maxMessageLengthBytes(SessionProtocol.MAX_MESSAGE).build();
    }

    /** A control message with the descriptors that came with it. */
    record Reply(SessionProtocol.Message message, List<NativeHandle> handles) {
    }

    static Reply awaitReply(final UnixSocketBlobChannel control, final SessionOptions options) {
        final List<Reply> replies = new ArrayList<>(1);
        final long deadline = System.nanoTime() + options.connectTimeout().toNanos();
        while (replies.isEmpty()) {
            final long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                throw new IsthmusTimeoutException("no answer on " + control + " within " + options.connectTimeout());
            }
            try {
                control.pollWithHandles((MemorySegment buffer, long offset, int length, List<NativeHandle> handles) ->
                    replies.add(new Reply(SessionProtocol.parse(buffer.asSlice(offset, length).toArray(JAVA_BYTE)),
                        List.copyOf(handles))), 1, remaining);
            } catch (final ChannelClosedException e) {
                throw new ChannelClosedException("the other side of " + control + " closed during the handshake: "
                    + e.getMessage(), e);
            }
        }
        return replies.getFirst();
    }
}
