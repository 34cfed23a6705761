/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.stat;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * What a {@link StatRecord} counts for, and the names of its counters. The names are part of the file's
 * format: {@code isthmus stat} and {@link StatReader} print them, and the indices below are where each
 * lives in a record.
 *
 * <p>Counters 0 to 15 and 16 to 31 lie on different cache lines: for a channel, the first group is
 * written by the thread that sends, the second by the thread that receives, so the two never share a line.
 */
public enum StatKind {
    /** A blob channel: what it sent and received, its waits and wake-ups, what it refused. */
    CHANNEL(Channel.class),
    /** A session: its channels, its arena, the blocks lent and borrowed. */
    SESSION(Session.class),
    /** A session server: the handshakes it accepted and refused, by reason. */
    SERVER(Server.class),
    /** The client side of handshakes made by this process: servers accepted and refused, by reason. */
    CLIENT(Client.class);

    /** How many counters a record holds. */
    public static final int COUNTERS = 32;

    private final List<String> names;

    StatKind(final Class<?> constants) {
        final String[] byIndex = new String[COUNTERS];
        for (final java.lang.reflect.Field field : constants.getFields()) {
            try {
                final int index = field.getInt(null);
                byIndex[index] = field.getName().toLowerCase(java.util.Locale.ROOT);
            } catch (final IllegalAccessException e) {
                throw new AssertionError(e);
            }
        }
        this.names = Collections.unmodifiableList(Arrays.asList(byIndex));
    }

    /**
     * {@return the counters' names by index, {@code null} where an index is unused}
     */
    public List<String> counterNames() {
        return names;
    }

    /**
     * {@return the index of the counter named {@code name}, or -1}
     *
     * @param name a name from {@link #counterNames()}
     */
    public int indexOf(final String name) {
        return names.indexOf(name);
    }

    /** The counters of a {@link #CHANNEL}. */
    public static final class Channel {
        /** Messages sent (committed to the transport). */
        public static final int MESSAGES_SENT = 0;
        /** Payload bytes sent. */
        public static final int BYTES_SENT = 1;
        /** Offers that returned without sending: no room in time (back-pressure). */
        public static final int OFFERS_REFUSED = 2;
        /** Sends that had to wait for room. */
        public static final int BACK_PRESSURE_WAITS = 3;
        /** Nanoseconds spent waiting for room. */
        public static final int BACK_PRESSURE_NANOS = 4;
        /** Wake-ups of the receiver actually made (a futex wake or a socket wake-up; none while it spins). */
        public static final int RECEIVER_WAKES = 5;
        /** Times the sender slept in the kernel waiting for room (futex waits actually made). */
        public static final int SENDER_SLEEPS = 6;
        /** Times the queue grew to a larger region. */
        public static final int GROWTHS = 7;
        /** Descriptors sent with messages. */
        public static final int DESCRIPTORS_SENT = 8;

        /** Messages received. */
        public static final int MESSAGES_RECEIVED = 16;
        /** Payload bytes received. */
        public static final int BYTES_RECEIVED = 17;
        /** Times the receiver slept in the kernel waiting for data (futex waits actually made). */
        public static final int RECEIVER_SLEEPS = 18;
        /** Wake-ups of a sender waiting for room actually made. */
        public static final int SENDER_WAKES = 19;
        /** Inputs refused as corrupt (impossible records, frames, handles or messages). */
        public static final int CORRUPT_REFUSED = 20;
        /** Descriptors received with messages. */
        public static final int DESCRIPTORS_RECEIVED = 21;

        private Channel() {
        }
    }

    /** The counters of a {@link #SESSION}. */
    public static final class Session {
        /** Channels opened (by either side). */
        public static final int CHANNELS_OPENED = 0;
        /** Channels refused (by either side). */
        public static final int CHANNELS_REFUSED = 1;
        /** Channels open now. */
        public static final int CHANNELS_OPEN = 2;
        /** Bytes of this side's arena allocated now (blocks in use, by size class). */
        public static final int ARENA_BYTES_IN_USE = 3;
        /** Bytes of this side's arena mapped (its pools). */
        public static final int ARENA_BYTES_MAPPED = 4;
        /** Blocks of this side's arena lent to the peer and not yet returned. */
        public static final int BLOCKS_LENT_NOW = 5;
        /** Allocations this side's arena refused for lack of room. */
        public static final int ARENA_EXHAUSTED = 6;

        /** Blocks of the peer's arena borrowed and not yet released. */
        public static final int BLOCKS_BORROWED_NOW = 16;
        /** Control messages refused as corrupt. */
        public static final int CORRUPT_REFUSED = 17;

        private Session() {
        }
    }

    /** The counters of a {@link #SERVER}: handshakes by outcome. */
    public static final class Server {
        /** Handshakes accepted: a session was opened. */
        public static final int ACCEPTED = 0;
        /** Refused: the connecting uid is none any allowed client runs as. */
        public static final int REFUSED_STRANGER_UID = 1;
        /** Refused: the client app is not allowed. */
        public static final int REFUSED_APP_NOT_ALLOWED = 2;
        /** Refused: the client is not who it claims (main class, jar, executable, gid, process). */
        public static final int REFUSED_AUTHENTICATION = 3;
        /** Refused: a limit was reached (handshakes, sessions, queue). */
        public static final int REFUSED_LIMIT = 4;
        /** Refused: the client broke the protocol (garbage, wrong version or token). */
        public static final int REFUSED_PROTOCOL = 5;
        /** Refused: the client did not complete the handshake in time. */
        public static final int REFUSED_TIMEOUT = 6;
        /** Refused or failed for another reason (e.g. the server closing). */
        public static final int REFUSED_OTHER = 7;

        private Server() {
        }
    }

    /** The counters of a {@link #CLIENT}: handshakes this process made as a client, by outcome. */
    public static final class Client {
        /** Sessions opened. */
        public static final int ACCEPTED = 0;
        /** The server was not who it should be (run directory, pid file, credentials). */
        public static final int REFUSED_AUTHENTICATION = 3;
        /** The server refused the session (app, uid, limit). */
        public static final int REFUSED_BY_SERVER = 4;
        /** The server broke the protocol. */
        public static final int REFUSED_PROTOCOL = 5;
        /** The handshake did not complete in time. */
        public static final int REFUSED_TIMEOUT = 6;
        /** Failed for another reason. */
        public static final int REFUSED_OTHER = 7;

        private Client() {
        }
    }
}
