/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.examples.guide;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.PeerDeadException;
import dev.isthmus.session.ClientApp;
import dev.isthmus.session.ClientSession;
import dev.isthmus.session.ServerApp;
import dev.isthmus.session.Session;
import dev.isthmus.session.SessionOptions;
import dev.isthmus.shm.NoSuchResourceException;

import java.time.Duration;
import java.util.function.Consumer;

/**
 * The guide's failure handling: waiting for a server that is not running yet, and hearing why a session ended.
 */
public final class Failures {
    private Failures() {
    }

    /**
     * Connects, retrying while the server app is not running.
     *
     * @param client   the client application
     * @param server   the server application
     * @param options  the session options
     * @param patience how long to keep trying
     * @return the session
     * @throws InterruptedException if interrupted between attempts
     */
    public static Session connectWhenUp(final ClientApp client, final ServerApp server, final SessionOptions options,
                                        final Duration patience) throws InterruptedException {
        // guide:connect-retry:begin
        long deadline = System.nanoTime() + patience.toNanos();
        while (true) {
            try {
                return ClientSession.connect(client, server, options);
            } catch (NoSuchResourceException notRunning) {     // no run directory, pid file or socket (yet)
                if (System.nanoTime() - deadline > 0) {
                    throw notRunning;
                }
                Thread.sleep(100);
            }
        }
        // guide:connect-retry:end
    }

    /**
     * Reports why a session ended, if this side did not close it.
     *
     * @param session the session
     * @param log     where the report goes
     */
    public static void watch(final Session session, final Consumer<String> log) {
        // guide:session-errors:begin
        session.onError(error -> {
            if (session.isOpen()) {                 // trouble the session survived, e.g. a handler that threw
                log.accept("the session goes on after: " + error);
                return;
            }
            switch (error) {                        // why it ended: heard once
                case PeerDeadException dead -> log.accept("the peer died or stopped answering: " + dead.getMessage());
                case ChannelClosedException closed -> log.accept("the peer closed the session: " + closed.getMessage());
                default -> log.accept("the session failed: " + error);
            }
        });
        // guide:session-errors:end
    }
}
