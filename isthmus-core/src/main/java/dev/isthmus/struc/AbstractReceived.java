/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A base for codecs' {@link Received} messages: idempotent close, {@link #retain()}, and, for a message that
 * holds something to give back (borrowed shared memory), a {@link Cleaner} that releases it if its user
 * forgot to close it (a backstop, not a way of working). A message that holds nothing, such as one copied
 * to the heap, registers no cleaner: closing it only marks it closed.
 *
 * @param <R> the root reader type
 */
public abstract class AbstractReceived<R> implements Received<R> {
    private static final Cleaner CLEANER = Cleaner.create();

    private final int type;
    private final long id;
    private final long payloadLength;
    /** Null if the message holds nothing: then {@link #closed} alone says whether it is closed. */
    private final Release release;
    private final Cleaner.Cleanable cleanable;
    private final AtomicBoolean closed;
    private volatile boolean retained;

    /** Releases a message's resources exactly once, from close or from the cleaner. */
    private static final class Release implements Runnable {
        private final AtomicBoolean done = new AtomicBoolean();
        private final Runnable action;

        Release(final Runnable action) {
            this.action = action;
        }

        @Override
        public void run() {
            if (done.compareAndSet(false, true)) {
                action.run();
            }
        }
    }

    /**
     * Creates the message.
     *
     * @param type          its type
     * @param id            its id
     * @param payloadLength the payload's length
     * @param release       what closing releases, or {@code null} if nothing; must not refer to this object,
     *                      or the cleaner never runs
     */
    @SuppressWarnings("this-escape") // the cleaner only keeps a phantom reference; it never calls back into this
    protected AbstractReceived(final int type, final long id, final long payloadLength, final Runnable release) {
        this.type = type;
        this.id = id;
        this.payloadLength = payloadLength;
        if (release == null) {
            this.release = null;
            this.cleanable = null;
            this.closed = new AtomicBoolean();
        } else {
            this.release = new Release(release);
            this.cleanable = CLEANER.register(this, this.release);
            this.closed = this.release.done;
        }
    }

    @Override
    public final int type() {
        return type;
    }

    @Override
    public final long id() {
        return id;
    }

    @Override
    public final long payloadLength() {
        return payloadLength;
    }

    /**
     * {@return whether the message is closed}
     */
    protected final boolean isClosed() {
        return closed.get();
    }

    /**
     * Throws if the message is closed.
     *
     * @throws IllegalStateException if it is
     */
    protected final void checkOpen() {
        if (isClosed()) {
            throw new IllegalStateException("message " + id + " is closed");
        }
    }

    @Override
    public final Received<R> retain() {
        retained = true;
        return this;
    }

    /**
     * {@return whether a handler retained the message}
     */
    final boolean isRetained() {
        return retained;
    }

    @Override
    public final void close() {
        if (cleanable == null) {
            closed.set(true);
        } else {
            cleanable.clean();
        }
    }
}
