/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.event;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/**
 * The JFR events of a session's life: opened, closed, failed (with the reason), the peer's death, a
 * handshake refused on authentication, a channel opened or refused, an arena out of room. Each is made
 * where the event happens, never on a message's path; with no recording, making one costs a check.
 *
 * <p>All of them are instant events, enabled by default, without stack traces.
 */
public final class SessionEvents {
    private SessionEvents() {
    }

    /** A session was established, on this side. */
    @Name("dev.isthmus.SessionOpened")
    @Label("Session Opened")
    @Category("Isthmus")
    @Description("A session between two applications was established")
    @StackTrace(false)
    public static final class Opened extends Event {
        /** An event not yet filled in. */
        public Opened() {
        }

        @Label("Session")
        String session;
        @Label("Role")
        @Description("This side's role: client or server")
        String role;
        @Label("Local App")
        String localApp;
        @Label("Peer App")
        String peerApp;
        @Label("Peer Pid")
        long peerPid;
        @Label("Transport")
        String transport;
        @Label("Zero-Copy")
        boolean zeroCopy;
    }

    /** A session was closed by this side (after failing, or while open). */
    @Name("dev.isthmus.SessionClosed")
    @Label("Session Closed")
    @Category("Isthmus")
    @Description("This side closed a session; failed tells whether it had failed before")
    @StackTrace(false)
    public static final class Closed extends Event {
        /** An event not yet filled in. */
        public Closed() {
        }

        @Label("Session")
        String session;
        @Label("Peer App")
        String peerApp;
        @Label("Peer Pid")
        long peerPid;
        @Label("Failed")
        @Description("Whether the session had failed before it was closed")
        boolean failed;
        @Label("Lifetime")
        @Timespan(Timespan.NANOSECONDS)
        long lifetime;
    }

    /** A session failed: the peer died, stopped answering, broke the protocol or said goodbye; or a local error. */
    @Name("dev.isthmus.SessionFailed")
    @Label("Session Failed")
    @Category("Isthmus")
    @Description("A session failed; the reason is the failure the error handler was given")
    @StackTrace(false)
    public static final class Failed extends Event {
        /** An event not yet filled in. */
        public Failed() {
        }

        @Label("Session")
        String session;
        @Label("Peer App")
        String peerApp;
        @Label("Peer Pid")
        long peerPid;
        @Label("Cause")
        @Description("peer-died, peer-stalled, peer-closed, corrupt-input or local")
        String cause;
        @Label("Reason")
        String reason;
    }

    /** The peer of a session died or stopped answering. */
    @Name("dev.isthmus.PeerDeath")
    @Label("Peer Death")
    @Category("Isthmus")
    @Description("The peer process of a session died, or stopped answering and was given up on")
    @StackTrace(false)
    public static final class PeerDeath extends Event {
        /** An event not yet filled in. */
        public PeerDeath() {
        }

        @Label("Session")
        String session;
        @Label("Peer App")
        String peerApp;
        @Label("Peer Pid")
        long peerPid;
        @Label("Stalled")
        @Description("True if the peer is alive but stopped answering; false if it exited")
        boolean stalled;
        @Label("Reason")
        String reason;
    }

    /** A handshake was refused on authentication, by this side or by the peer. */
    @Name("dev.isthmus.AuthenticationRefused")
    @Label("Authentication Refused")
    @Category("Isthmus")
    @Description("A session handshake was refused on authentication (uid, executable, app, pid namespace)")
    @StackTrace(false)
    public static final class AuthenticationRefused extends Event {
        /** An event not yet filled in. */
        public AuthenticationRefused() {
        }

        @Label("Local App")
        String localApp;
        @Label("Peer App")
        @Description("The app the peer claimed to be, or the server app reached; empty if unknown")
        String peerApp;
        @Label("Peer Pid")
        long peerPid;
        @Label("Peer Uid")
        @Description("The peer's uid from the kernel, or -1 if not known here")
        long peerUid;
        @Label("By Peer")
        @Description("True if the peer refused this process; false if this process refused the peer")
        boolean byPeer;
        @Label("Reason")
        String reason;
    }

    /** A channel was opened in a session. */
    @Name("dev.isthmus.ChannelOpened")
    @Label("Channel Opened")
    @Category("Isthmus")
    @Description("A channel was opened in a session")
    @StackTrace(false)
    public static final class ChannelOpened extends Event {
        /** An event not yet filled in. */
        public ChannelOpened() {
        }

        @Label("Session")
        String session;
        @Label("Channel")
        String channel;
        @Label("Transport")
        String transport;
        @Label("Origin")
        @Description("init (with the session), local (openChannel) or peer (the peer's openChannel)")
        String origin;
    }

    /** A channel was refused: this side refused the peer's, or the peer refused this side's. */
    @Name("dev.isthmus.ChannelRefused")
    @Label("Channel Refused")
    @Category("Isthmus")
    @Description("A request to open a channel was refused")
    @StackTrace(false)
    public static final class ChannelRefused extends Event {
        /** An event not yet filled in. */
        public ChannelRefused() {
        }

        @Label("Session")
        String session;
        @Label("Channel")
        String channel;
        @Label("By Peer")
        @Description("True if the peer refused this side's request; false if this side refused the peer's")
        boolean byPeer;
        @Label("Reason")
        String reason;
    }

    /** An arena could not satisfy an allocation. */
    @Name("dev.isthmus.ArenaExhausted")
    @Label("Arena Exhausted")
    @Category("Isthmus")
    @Description("A session's shared-memory arena had no room for an allocation")
    @StackTrace(true)
    public static final class ArenaExhausted extends Event {
        /** An event not yet filled in. */
        public ArenaExhausted() {
        }

        @Label("Arena")
        String arena;
        @Label("Requested")
        @DataAmount
        long requested;
        @Label("Mapped")
        @DataAmount
        long mapped;
        @Label("Reason")
        String reason;
    }

    /**
     * Records a session established; never throws.
     *
     * @param session   its id
     * @param role      {@code client} or {@code server}
     * @param localApp  this side's app
     * @param peerApp   the peer's app
     * @param peerPid   the peer's pid
     * @param transport the channels' transport
     * @param zeroCopy  whether the session has arenas
     */
    public static void opened(final String session, final String role, final String localApp, final String peerApp,
                              final long peerPid, final String transport, final boolean zeroCopy) {
        final Opened event = new Opened();
        if (event.isEnabled()) {
            event.session = session;
            event.role = role;
            event.localApp = localApp;
            event.peerApp = peerApp;
            event.peerPid = peerPid;
            event.transport = transport;
            event.zeroCopy = zeroCopy;
            event.commit();
        }
    }

    /**
     * Records a session closed by this side; never throws.
     *
     * @param session    its id
     * @param peerApp    the peer's app
     * @param peerPid    the peer's pid
     * @param failed     whether it had failed before
     * @param lifetimeNs how long it lived, in nanoseconds
     */
    public static void closed(final String session, final String peerApp, final long peerPid, final boolean failed,
                              final long lifetimeNs) {
        final Closed event = new Closed();
        if (event.isEnabled()) {
            event.session = session;
            event.peerApp = peerApp;
            event.peerPid = peerPid;
            event.failed = failed;
            event.lifetime = lifetimeNs;
            event.commit();
        }
    }

    /**
     * Records a session's failure; never throws.
     *
     * @param session its id
     * @param peerApp the peer's app
     * @param peerPid the peer's pid
     * @param cause   the kind of cause (see {@link Failed})
     * @param reason  the failure's message
     */
    public static void failed(final String session, final String peerApp, final long peerPid, final String cause,
                              final String reason) {
        final Failed event = new Failed();
        if (event.isEnabled()) {
            event.session = session;
            event.peerApp = peerApp;
            event.peerPid = peerPid;
            event.cause = cause;
            event.reason = reason;
            event.commit();
        }
    }

    /**
     * Records a peer's death; never throws.
     *
     * @param session its id
     * @param peerApp the peer's app
     * @param peerPid the peer's pid
     * @param stalled whether it stopped answering rather than exited
     * @param reason  how it was noticed
     */
    public static void peerDeath(final String session, final String peerApp, final long peerPid, final boolean stalled,
                                 final String reason) {
        final PeerDeath event = new PeerDeath();
        if (event.isEnabled()) {
            event.session = session;
            event.peerApp = peerApp;
            event.peerPid = peerPid;
            event.stalled = stalled;
            event.reason = reason;
            event.commit();
        }
    }

    /**
     * Records a handshake refused on authentication; never throws.
     *
     * @param localApp this side's app
     * @param peerApp  the peer's app, or {@code ""}
     * @param peerPid  the peer's pid
     * @param peerUid  the peer's uid, or -1
     * @param byPeer   whether the peer refused this process
     * @param reason   the refusal's message
     */
    public static void authenticationRefused(final String localApp, final String peerApp, final long peerPid,
                                             final long peerUid, final boolean byPeer, final String reason) {
        final AuthenticationRefused event = new AuthenticationRefused();
        if (event.isEnabled()) {
            event.localApp = localApp;
            event.peerApp = peerApp;
            event.peerPid = peerPid;
            event.peerUid = peerUid;
            event.byPeer = byPeer;
            event.reason = reason;
            event.commit();
        }
    }

    /**
     * Records a channel opened; never throws.
     *
     * @param session   the session's id
     * @param channel   the channel's id
     * @param transport its transport
     * @param origin    {@code init}, {@code local} or {@code peer}
     */
    public static void channelOpened(final String session, final String channel, final String transport,
                                     final String origin) {
        final ChannelOpened event = new ChannelOpened();
        if (event.isEnabled()) {
            event.session = session;
            event.channel = channel;
            event.transport = transport;
            event.origin = origin;
            event.commit();
        }
    }

    /**
     * Records a channel refused; never throws.
     *
     * @param session the session's id
     * @param channel the channel's id, or {@code ""} if the request was unreadable
     * @param byPeer  whether the peer refused this side's request
     * @param reason  the refusal
     */
    public static void channelRefused(final String session, final String channel, final boolean byPeer,
                                      final String reason) {
        final ChannelRefused event = new ChannelRefused();
        if (event.isEnabled()) {
            event.session = session;
            event.channel = channel;
            event.byPeer = byPeer;
            event.reason = reason;
            event.commit();
        }
    }

    /**
     * Records an allocation an arena could not satisfy; never throws.
     *
     * @param arena     the arena's name
     * @param requested the bytes asked for
     * @param mapped    the bytes the arena has mapped
     * @param reason    the exception's message
     */
    public static void arenaExhausted(final String arena, final long requested, final long mapped,
                                      final String reason) {
        final ArenaExhausted event = new ArenaExhausted();
        if (event.isEnabled()) {
            event.arena = arena;
            event.requested = requested;
            event.mapped = mapped;
            event.reason = reason;
            event.commit();
        }
    }
}
