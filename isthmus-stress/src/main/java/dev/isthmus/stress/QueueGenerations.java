/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.stress;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Shares one real queue (a file in /dev/shm) among a run of consecutive jcstress states, then replaces it,
 * so that a test neither creates a file per state nor keeps one queue for its whole life (growth happens
 * only in a young queue). A queue is closed, and its file unlinked, once it is retired and the arbiter of
 * every state that used it has run; a shutdown hook closes the last one.
 *
 * <p>Messages flow across the states of a generation: a consumer actor may take what the producer actor
 * of a later state offered. What each message carries (producer, sequence number, a pattern that depends
 * on both) lets the consumer tell a torn, lost, duplicated or reordered message from a good one.
 *
 * @param <G> the generation: the queue and what its actors keep between states
 */
final class QueueGenerations<G extends QueueGenerations.Generation> {
    /** One queue and what its actors keep from state to state. */
    abstract static class Generation {
        final AtomicInteger outstanding = new AtomicInteger();
        final AtomicBoolean closed = new AtomicBoolean();
        volatile boolean retired;

        /** Closes the queue objects, which unlinks the file. */
        abstract void closeQueues();

        final void closeOnce() {
            if (closed.compareAndSet(false, true)) {
                closeQueues();
            }
        }
    }

    private static final AtomicInteger IDS = new AtomicInteger();

    private final int statesPerGeneration;
    private final Supplier<G> factory;
    private G current;
    private int attached;

    QueueGenerations(final int statesPerGeneration, final Supplier<G> factory) {
        this.statesPerGeneration = statesPerGeneration;
        this.factory = factory;
        Runtime.getRuntime().addShutdownHook(new Thread(this::closeCurrent, "close-queue"));
    }

    /** {@return a name for a new queue, unique within this JVM; the pid makes it unique on the host} */
    static String newId(final String kind) {
        return kind + "-" + IDS.incrementAndGet();
    }

    /** {@return the generation a new state uses}; the state must {@link #detach} it in its arbiter. */
    synchronized G attach() {
        if (current == null || attached == statesPerGeneration) {
            final G old = current;
            current = factory.get();
            attached = 0;
            if (old != null) {
                old.retired = true;
                if (old.outstanding.get() == 0) {
                    old.closeOnce();
                }
            }
        }
        attached++;
        current.outstanding.incrementAndGet();
        return current;
    }

    /** Called by a state's arbiter, after both actors ran. */
    void detach(final G generation) {
        if (generation.outstanding.decrementAndGet() == 0 && generation.retired) {
            generation.closeOnce();
        }
    }

    private synchronized void closeCurrent() {
        if (current != null) {
            current.closeOnce();
        }
    }
}
