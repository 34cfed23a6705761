/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.ref.Cleaner;

/**
 * A base for codecs' {@link Received} messages: idempotent close, {@link #retain()}, and what closing gives
 * back (borrowed shared memory, a reused buffer), run exactly once.
 *
 * <p><b>Forgotten messages.</b> A message that holds shared memory and is never closed keeps the sender's
 * blocks lent until the session (its arena view) ends, which frees everything regardless. No
 * {@link Cleaner} is registered per message: one in every {@value #LEAK_SAMPLE_INTERVAL} such messages is
 * watched instead, and if the garbage collector finds it unclosed, its blocks are given back and the leak
 * is reported (a {@code WARNING} of the {@link System.Logger} named after this class, and
 * {@link #leaksReclaimed()}), so that a program that forgets to close messages is found before the sender's
 * arena runs out. The system property {@code isthmus.received.leakDetection} set to {@code all} watches
 * every message (the cost of a cleaner per message), {@code off} none. A message that holds nothing, or
 * only heap memory of this process, is never watched. The collector finds a message unreachable, not its
 * readers: readers still used after their message was dropped read whatever the memory holds next (the
 * sender's next message, or the next message the codec reads there), as after a close.
 *
 * @param <R> the root reader type
 */
public abstract class AbstractReceived<R> implements Received<R> {
    /** Of the messages that hold shared memory, one in this many is watched for a missing close by default. */
    public static final int LEAK_SAMPLE_INTERVAL = 64;

    private static final Cleaner CLEANER = Cleaner.create();
    private static final VarHandle CLOSED;
    private static final VarHandle DONE;
    /** 1 watches every message, 0 none, otherwise one in this many. */
    private static final int WATCH_INTERVAL = switch (System.getProperty("isthmus.received.leakDetection", "sample")) {
        case "all" -> 1;
        case "off" -> 0;
        default -> LEAK_SAMPLE_INTERVAL;
    };
    /** Counts messages toward the next watched one; races between threads only shift which one is watched. */
    private static int untilWatched;
    private static final java.util.concurrent.atomic.AtomicLong LEAKS = new java.util.concurrent.atomic.AtomicLong();

    static {
        try {
            CLOSED = MethodHandles.lookup().findVarHandle(AbstractReceived.class, "closed", boolean.class);
            DONE = MethodHandles.lookup().findVarHandle(Release.class, "done", boolean.class);
        } catch (final ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int type;
    private final long id;
    private final long payloadLength;
    /** What closing runs, if the message is not watched; null if it holds nothing or is watched. */
    private final Runnable onClose;
    /** A watched message's release, shared with its cleaner; null otherwise. */
    private final Release release;
    private final Cleaner.Cleanable cleanable;
    /** Whether the message is closed, unless it is watched: then its release says. Set once, through CLOSED. */
    @SuppressWarnings("unused") // through CLOSED
    private volatile boolean closed;
    private volatile boolean retained;

    /** A watched message's release: exactly once, from close or from the cleaner (then a leak). */
    private static final class Release implements Runnable {
        @SuppressWarnings("unused") // through DONE
        private volatile boolean done;
        /** Set by close() before it cleans: a run without it comes from the cleaner. */
        private volatile boolean closing;
        private final Runnable action;
        private final long id;

        Release(final Runnable action, final long id) {
            this.action = action;
            this.id = id;
        }

        @Override
        public void run() {
            if (DONE.compareAndSet(this, false, true)) {
                if (!closing) {
                    LEAKS.incrementAndGet();
                    System.getLogger(AbstractReceived.class.getName()).log(System.Logger.Level.WARNING,
                        "message " + id + " was never closed: the garbage collector found it and gave back the shared"
                            + " memory it held; close every Received (try-with-resources), or the sender's arena fills");
                }
                action.run();
            }
        }
    }

    /**
     * Creates a message that holds something to give back: shared memory (it may then be watched for a
     * missing close, see the class comment) or, with {@code sharedMemory} false, anything else, never watched.
     *
     * @param type          its type
     * @param id            its id
     * @param payloadLength the payload's length
     * @param release       what closing releases, or {@code null} if nothing; must not refer to this object,
     *                      or a watch never fires
     * @param sharedMemory  whether {@code release} gives back shared memory, which a forgotten message would
     *                      keep from the sender
     */
    @SuppressWarnings("this-escape") // the cleaner only keeps a phantom reference; it never calls back into this
    protected AbstractReceived(final int type, final long id, final long payloadLength, final Runnable release,
                               final boolean sharedMemory) {
        this.type = type;
        this.id = id;
        this.payloadLength = payloadLength;
        if (release != null && sharedMemory && watchThis()) {
            this.onClose = null;
            this.release = new Release(release, id);
            this.cleanable = CLEANER.register(this, this.release);
        } else {
            this.onClose = release;
            this.release = null;
            this.cleanable = null;
        }
    }

    /**
     * Creates a message; {@code release}, if any, is taken to give back shared memory (see
     * {@link #AbstractReceived(int, long, long, Runnable, boolean)}).
     *
     * @param type          its type
     * @param id            its id
     * @param payloadLength the payload's length
     * @param release       what closing releases, or {@code null} if nothing; must not refer to this object
     */
    protected AbstractReceived(final int type, final long id, final long payloadLength, final Runnable release) {
        this(type, id, payloadLength, release, true);
    }

    private static boolean watchThis() {
        final int interval = WATCH_INTERVAL;
        if (interval <= 1) {
            return interval == 1;
        }
        if (--untilWatched > 0) {
            return false;
        }
        untilWatched = interval;
        return true;
    }

    /**
     * {@return how many forgotten messages the garbage collector found, in this process, whose shared memory
     * was then given back}: each is a missing {@link #close()} in the program
     */
    public static long leaksReclaimed() {
        return LEAKS.get();
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
        return release == null ? closed : release.done;
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
        if (cleanable != null) {
            release.closing = true;
            cleanable.clean();
            // Reachable until the release is marked as a close: the cleaner must not take it for a leak.
            java.lang.ref.Reference.reachabilityFence(this);
        } else if (CLOSED.compareAndSet(this, false, true) && onClose != null) {
            onClose.run();
        }
    }
}
