/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.arena.ArenaOptions;
import dev.isthmus.transport.PosixMqOptions;
import dev.isthmus.transport.ShmQueueOptions;
import dev.isthmus.transport.UnixSocketOptions;

import java.time.Duration;
import java.util.Objects;

/**
 * How a session is set up and driven. Immutable: every setter returns a new object.
 *
 * {@snippet :
 * SessionOptions options = SessionOptions.zeroCopy().initChannels(2);
 * }
 *
 * <p>Defaults: no init channel, shared-memory-queue channels, no arena, a driver thread, 10 s to connect,
 * a keep-alive ping every 2 s with a 5 s idle timeout. The client's choice of transport and of zero-copy
 * applies to the session; the permission level of every resource is the server app's.
 */
public final class SessionOptions {
    private static final SessionOptions DEFAULTS = new SessionOptions(0, ChannelTransport.SHM_QUEUE, false, new byte[0],
        true, Duration.ofSeconds(10), Duration.ofSeconds(2), Duration.ofSeconds(5), ShmQueueOptions.defaults(),
        ArenaOptions.defaults(), UnixSocketOptions.defaults(), PosixMqOptions.defaults());

    private final int initChannels;
    private final ChannelTransport transport;
    private final boolean zeroCopy;
    private final byte[] metadata;
    private final boolean driverThread;
    private final Duration connectTimeout;
    private final Duration keepAliveInterval;
    private final Duration idleTimeout;
    private final ShmQueueOptions queueOptions;
    private final ArenaOptions arenaOptions;
    private final UnixSocketOptions socketOptions;
    private final PosixMqOptions mqOptions;

    private SessionOptions(final int initChannels, final ChannelTransport transport, final boolean zeroCopy,
                           final byte[] metadata, final boolean driverThread, final Duration connectTimeout,
                           final Duration keepAliveInterval, final Duration idleTimeout, final ShmQueueOptions queueOptions,
                           final ArenaOptions arenaOptions, final UnixSocketOptions socketOptions,
                           final PosixMqOptions mqOptions) {
        this.initChannels = initChannels;
        this.transport = transport;
        this.zeroCopy = zeroCopy;
        this.metadata = metadata;
        this.driverThread = driverThread;
        this.connectTimeout = connectTimeout;
        this.keepAliveInterval = keepAliveInterval;
        this.idleTimeout = idleTimeout;
        this.queueOptions = queueOptions;
        this.arenaOptions = arenaOptions;
        this.socketOptions = socketOptions;
        this.mqOptions = mqOptions;
    }

    /**
     * {@return the defaults}
     */
    public static SessionOptions defaults() {
        return DEFAULTS;
    }

    /**
     * {@return the defaults with a shared-memory arena on each side, for zero-copy messages}
     */
    public static SessionOptions zeroCopy() {
        return DEFAULTS.zeroCopy(true);
    }

    private SessionOptions copy(final int initChannels, final ChannelTransport transport, final boolean zeroCopy,
                                final byte[] metadata, final boolean driverThread, final Duration connectTimeout,
                                final Duration keepAliveInterval, final Duration idleTimeout,
                                final ShmQueueOptions queueOptions, final ArenaOptions arenaOptions,
                                final UnixSocketOptions socketOptions) {
        return new SessionOptions(initChannels, transport, zeroCopy, metadata, driverThread, connectTimeout,
            keepAliveInterval, idleTimeout, queueOptions, arenaOptions, socketOptions, mqOptions);
    }

    /**
     * {@return these options with other POSIX message queue options for channels (the permission level is
     * the server app's regardless)}
     *
     * @param options the queue options
     */
    public SessionOptions mqOptions(final PosixMqOptions options) {
        return new SessionOptions(initChannels, transport, zeroCopy, metadata, driverThread, connectTimeout,
            keepAliveInterval, idleTimeout, queueOptions, arenaOptions, socketOptions,
            Objects.requireNonNull(options, "options"));
    }

    /** {@return the POSIX message queue options of channels} */
    public PosixMqOptions mqOptions() {
        return mqOptions;
    }

    /**
     * {@return these options with {@code count} channels opened together with the session}
     *
     * @param count 0 to 200
     */
    public SessionOptions initChannels(final int count) {
        if (count < 0 || count > 200) {
            throw new IllegalArgumentException("initChannels=" + count + " must be in [0, 200]");
        }
        return copy(count, transport, zeroCopy, metadata, driverThread, connectTimeout, keepAliveInterval, idleTimeout,
            queueOptions, arenaOptions, socketOptions);
    }

    /**
     * {@return these options with another channel transport (the client's choice applies)}
     *
     * @param transport the transport
     */
    public SessionOptions transport(final ChannelTransport transport) {
        return copy(initChannels, Objects.requireNonNull(transport, "transport"), zeroCopy, metadata, driverThread,
            connectTimeout, keepAliveInterval, idleTimeout, queueOptions, arenaOptions, socketOptions);
    }

    /**
     * {@return these options with or without a shared-memory arena per side (the client's choice applies)}
     *
     * @param zeroCopy whether to create arenas
     */
    public SessionOptions zeroCopy(final boolean zeroCopy) {
        return copy(initChannels, transport, zeroCopy, metadata, driverThread, connectTimeout, keepAliveInterval,
            idleTimeout, queueOptions, arenaOptions, socketOptions);
    }

    /**
     * {@return these options with metadata delivered to the other side when the session opens}
     *
     * @param metadata up to 60 KiB
     */
    public SessionOptions metadata(final byte[] metadata) {
        if (metadata.length > 60 * 1024) {
            throw new IllegalArgumentException("metadata of " + metadata.length + " bytes exceeds 60 KiB");
        }
        return copy(initChannels, transport, zeroCopy, metadata.clone(), driverThread, connectTimeout, keepAliveInterval,
            idleTimeout, queueOptions, arenaOptions, socketOptions);
    }

    /**
     * {@return these options with or without a driver thread; without one, call {@link Session#poll()}
     * at least every second}
     *
     * @param driverThread whether the session runs its own platform thread
     */
    public SessionOptions driverThread(final boolean driverThread) {
        return copy(initChannels, transport, zeroCopy, metadata, driverThread, connectTimeout, keepAliveInterval,
            idleTimeout, queueOptions, arenaOptions, socketOptions);
    }

    /**
     * {@return these options with another connect (and handshake) timeout}
     *
     * @param timeout a positive duration
     */
    public SessionOptions connectTimeout(final Duration timeout) {
        return copy(initChannels, transport, zeroCopy, metadata, driverThread, Objects.requireNonNull(timeout, "timeout"),
            keepAliveInterval, idleTimeout, queueOptions, arenaOptions, socketOptions);
    }

    /**
     * {@return these options with another keep-alive: a ping after {@code interval} of silence, and the
     * session failed after {@code idleTimeout} without hearing from the peer; zero disables either}
     *
     * @param interval    how long this side may stay silent
     * @param idleTimeout how long the peer may stay silent
     */
    public SessionOptions keepAlive(final Duration interval, final Duration idleTimeout) {
        return copy(initChannels, transport, zeroCopy, metadata, driverThread, connectTimeout,
            Objects.requireNonNull(interval, "interval"), Objects.requireNonNull(idleTimeout, "idleTimeout"), queueOptions,
            arenaOptions, socketOptions);
    }

    /**
     * {@return these options with other shared-memory queue options for channels (the permission level is
     * the server app's regardless)}
     *
     * @param options the queue options
     */
    public SessionOptions queueOptions(final ShmQueueOptions options) {
        return copy(initChannels, transport, zeroCopy, metadata, driverThread, connectTimeout, keepAliveInterval,
            idleTimeout, Objects.requireNonNull(options, "options"), arenaOptions, socketOptions);
    }

    /**
     * {@return these options with other arena options (the permission level is the server app's regardless)}
     *
     * @param options the arena options
     */
    public SessionOptions arenaOptions(final ArenaOptions options) {
        return copy(initChannels, transport, zeroCopy, metadata, driverThread, connectTimeout, keepAliveInterval,
            idleTimeout, queueOptions, Objects.requireNonNull(options, "options"), socketOptions);
    }

    /**
     * {@return these options with other Unix-socket options for channels}
     *
     * @param options the socket options
     */
    public SessionOptions socketOptions(final UnixSocketOptions options) {
        return copy(initChannels, transport, zeroCopy, metadata, driverThread, connectTimeout, keepAliveInterval,
            idleTimeout, queueOptions, arenaOptions, Objects.requireNonNull(options, "options"));
    }

    /** {@return the number of init channels} */
    public int initChannels() {
        return initChannels;
    }

    /** {@return the channel transport} */
    public ChannelTransport transport() {
        return transport;
    }

    /** {@return whether each side has an arena} */
    public boolean isZeroCopy() {
        return zeroCopy;
    }

    /** {@return the metadata delivered to the other side} */
    public byte[] metadata() {
        return metadata.clone();
    }

    /** {@return whether the session runs a driver thread} */
    public boolean driverThread() {
        return driverThread;
    }

    /** {@return the connect and handshake timeout} */
    public Duration connectTimeout() {
        return connectTimeout;
    }

    /** {@return the keep-alive ping interval, zero if disabled} */
    public Duration keepAliveInterval() {
        return keepAliveInterval;
    }

    /** {@return the idle timeout, zero if disabled} */
    public Duration idleTimeout() {
        return idleTimeout;
    }

    /** {@return the shared-memory queue options of channels} */
    public ShmQueueOptions queueOptions() {
        return queueOptions;
    }

    /** {@return the arena options} */
    public ArenaOptions arenaOptions() {
        return arenaOptions;
    }

    /** {@return the Unix-socket options of channels} */
    public UnixSocketOptions socketOptions() {
        return socketOptions;
    }
}
