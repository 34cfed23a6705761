/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.transport.BlobChannel;
import dev.isthmus.transport.ShmBlobChannel;
import dev.isthmus.transport.UnixSocketBlobChannel;

/**
 * A channel of a {@link Session}: a pipe of blobs in both directions and a pipe of native handles, opened
 * without naming anything.
 *
 * <p>{@link #blobs()} carries the blobs over the session's transport (a shared-memory queue per direction
 * by default); {@link #handles()} is a Unix socket that carries blobs with file descriptors attached
 * ({@link UnixSocketBlobChannel#offerWithHandles}). With {@link ChannelTransport#UNIX_SOCKET} both are the
 * same socket. Wrap {@link #blobs()} in a {@link dev.isthmus.struc.StructuredChannel} for typed messages.
 *
 * <p>Thread safety: as {@link BlobChannel}, for each pipe.
 */
public final class Channel implements AutoCloseable {
    private final Session session;
    private final String id;
    private final BlobChannel blobs;
    private final UnixSocketBlobChannel handles;

    Channel(final Session session, final String id, final BlobChannel blobs, final UnixSocketBlobChannel handles) {
        this.session = session;
        this.id = id;
        this.blobs = blobs;
        this.handles = handles;
        describe(blobs, blobs == handles ? "blobs+handles" : "blobs");
        if (handles != blobs) {
            describe(handles, "handles");
        }
    }

    /** Names the pipe's counters after this channel and its session, for {@code isthmus stat}. */
    private void describe(final BlobChannel pipe, final String role) {
        final dev.isthmus.stat.StatRecord record = pipe.stats();
        if (record != null) {
            final java.util.Map<String, String> labels = new java.util.LinkedHashMap<>(record.labels());
            final String resource = labels.remove("channel");
            labels.put("session", session.id());
            labels.put("channel", id);
            if (resource != null && !resource.isEmpty()) {
                labels.put("resource", resource);
            }
            labels.put("pipe", role);
            record.describe(session.stats().id(), labels);
        }
    }

    /**
     * {@return the channel's id, unique in its session, e.g. {@code s3p4711-c0}}
     */
    public String id() {
        return id;
    }

    /**
     * {@return the session the channel belongs to}
     */
    public Session session() {
        return session;
    }

    /**
     * {@return the blob pipe}
     */
    public BlobChannel blobs() {
        return blobs;
    }

    /**
     * {@return the native-handle pipe: a Unix socket that also carries blobs}
     */
    public UnixSocketBlobChannel handles() {
        return handles;
    }

    /**
     * Has the session drive this channel's blob pipe: every blob that arrives goes to {@code handler}, on
     * the session's driver thread (or in {@link Session#poll()} for sessions without one). Do not poll
     * {@link #blobs()} yourself as well.
     *
     * @param handler receives each blob, in place
     */
    public void onBlob(final dev.isthmus.transport.BlobHandler handler) {
        session.drive(this, java.util.Objects.requireNonNull(handler, "handler"));
    }

    /**
     * {@return whether both pipes are open and their peer has not been seen closed or dead}
     */
    public boolean isOpen() {
        return blobs.isOpen() && handles.isOpen();
    }

    /**
     * Fails the channel's sockets as if the peer had died (its shared-memory queues fail through the
     * session's watch of the peer): pending and later operations get {@link dev.isthmus.PeerDeadException}.
     */
    void declarePeerDead() {
        handles.declarePeerDead();
        if (blobs instanceof UnixSocketBlobChannel socket && socket != handles) {
            socket.declarePeerDead();
        } else {
            // Shared-memory queues judge the peer by the session's watch, declared dead already: their
            // waiters check it now instead of at their next liveness slice.
            blobs.wakeUp();
        }
    }

    /** Removes the names of what this side created for the channel, keeping the mappings. */
    void unlinkResources() {
        if (blobs instanceof ShmBlobChannel shm) {
            shm.outbound().unlink();
            shm.inbound().unlink();
        }
    }

    /**
     * Closes both pipes; the peer sees the close. Idempotent.
     */
    @Override
    public void close() {
        try {
            blobs.close();
        } finally {
            handles.close();
            session.forget(this);
        }
    }

    @Override
    public String toString() {
        return "Channel{" + id + ", " + blobs + "}";
    }
}
