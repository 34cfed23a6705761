/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import java.time.Duration;
import java.util.Objects;

/**
 * What one client may cost a {@link SessionServer}: how long and how many of its handshakes may be in
 * progress, how many sessions it may hold, and how many channels each may have. A client that reaches a
 * limit is refused with a message naming it; the others are not affected. Immutable.
 *
 * {@snippet :
 * SessionServer server = SessionServer.start(app, SessionOptions.defaults(),
 *     ServerLimits.defaults().maxSessionsPerClient(4).maxChannelsPerSession(16));
 * }
 *
 * <p>Defaults: 2 s to complete a handshake, 4 handshakes in progress per user id and 64 in all, 64
 * connections of a user id waiting beyond those, 64 sessions per client app, 256 channels per session,
 * 16 init channels. The handshakes run concurrently, one thread each, so a connection that stays silent
 * delays no other user's clients and is dropped at its deadline; a burst of one user's connections waits
 * its turn (in order) rather than being refused. A connection from a user id that no allowed client runs
 * as is refused before anything is read from it, and costs no handshake.
 *
 * @param handshakeTimeout          how long a connected process has to send its HELLO, and again to
 *                                  answer the WELCOME
 * @param maxHandshakesPerUid       the most handshakes in progress from processes of one user id
 * @param maxHandshakes             the most handshakes in progress in all
 * @param maxQueuedPerUid           the most connections of one user id waiting for a handshake to begin
 *                                  while the handshake limits are reached; beyond, a connection is refused
 * @param maxSessionsPerClient      the most open sessions of one client app
 * @param maxChannelsPerSession     the most channels of one session, init channels included, whichever
 *                                  side opened them
 * @param maxInitChannels           the most init channels a HELLO may ask for
 */
public record ServerLimits(Duration handshakeTimeout, int maxHandshakesPerUid, int maxHandshakes, int maxQueuedPerUid,
                           int maxSessionsPerClient, int maxChannelsPerSession, int maxInitChannels) {
    private static final ServerLimits DEFAULTS = new ServerLimits(Duration.ofSeconds(2), 4, 64, 64, 64, 256, 16);

    /**
     * Checks the limits.
     *
     * @throws IllegalArgumentException if a count is below 1, the timeout is not positive, or
     *                                  {@code maxInitChannels} exceeds 200 or {@code maxChannelsPerSession}
     */
    public ServerLimits {
        Objects.requireNonNull(handshakeTimeout, "handshakeTimeout");
        if (handshakeTimeout.isNegative() || handshakeTimeout.isZero()) {
            throw new IllegalArgumentException("handshakeTimeout=" + handshakeTimeout + " must be positive");
        }
        if (maxHandshakesPerUid < 1 || maxHandshakes < 1 || maxQueuedPerUid < 0 || maxSessionsPerClient < 1
            || maxChannelsPerSession < 1 || maxInitChannels < 0) {
            throw new IllegalArgumentException("limits must be at least 1 (maxQueuedPerUid and maxInitChannels at least 0): " + this);
        }
        if (maxInitChannels > 200 || maxInitChannels > maxChannelsPerSession) {
            throw new IllegalArgumentException("maxInitChannels=" + maxInitChannels + " must be at most 200 and at most"
                + " maxChannelsPerSession=" + maxChannelsPerSession);
        }
    }

    /** {@return the defaults} */
    public static ServerLimits defaults() {
        return DEFAULTS;
    }

    /**
     * {@return these limits with another handshake deadline}
     *
     * @param timeout a positive duration
     */
    public ServerLimits handshakeTimeout(final Duration timeout) {
        return new ServerLimits(timeout, maxHandshakesPerUid, maxHandshakes, maxQueuedPerUid, maxSessionsPerClient,
            maxChannelsPerSession, maxInitChannels);
    }

    /**
     * {@return these limits with other caps on handshakes in progress}
     *
     * @param perUid per user id of the connecting processes
     * @param total  in all
     */
    public ServerLimits maxHandshakes(final int perUid, final int total) {
        return new ServerLimits(handshakeTimeout, perUid, total, maxQueuedPerUid, maxSessionsPerClient,
            maxChannelsPerSession, maxInitChannels);
    }

    /**
     * {@return these limits with another cap on the connections of one user id waiting for a handshake}
     *
     * @param max at least 0 (0: refuse at once when the handshake limits are reached)
     */
    public ServerLimits maxQueuedPerUid(final int max) {
        return new ServerLimits(handshakeTimeout, maxHandshakesPerUid, maxHandshakes, max, maxSessionsPerClient,
            maxChannelsPerSession, maxInitChannels);
    }

    /**
     * {@return these limits with another cap on the open sessions of one client app}
     *
     * @param max at least 1
     */
    public ServerLimits maxSessionsPerClient(final int max) {
        return new ServerLimits(handshakeTimeout, maxHandshakesPerUid, maxHandshakes, maxQueuedPerUid, max,
            maxChannelsPerSession, maxInitChannels);
    }

    /**
     * {@return these limits with another cap on the channels of one session}
     *
     * @param max at least 1, and at least {@link #maxInitChannels()}
     */
    public ServerLimits maxChannelsPerSession(final int max) {
        return new ServerLimits(handshakeTimeout, maxHandshakesPerUid, maxHandshakes, maxQueuedPerUid,
            maxSessionsPerClient, max, Math.min(maxInitChannels, max));
    }

    /**
     * {@return these limits with another cap on the init channels a HELLO may ask for}
     *
     * @param max 0 to 200, and at most {@link #maxChannelsPerSession()}
     */
    public ServerLimits maxInitChannels(final int max) {
        return new ServerLimits(handshakeTimeout, maxHandshakesPerUid, maxHandshakes, maxQueuedPerUid,
            maxSessionsPerClient, maxChannelsPerSession, max);
    }
}
