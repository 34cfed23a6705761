/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.event;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.EventType;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Threshold;

/**
 * The JFR events of a channel's data path: a sender stalled by back-pressure, a thread asleep in the kernel
 * waiting for its peer, input refused as corrupt. They are made only where the channel already waits or
 * fails (never on the path of a message that goes through at once); with no recording, an event is an
 * allocation the compiler removes and one check.
 *
 * <p>The stall and wait events are duration events recorded above a threshold, 1 ms unless the recording's
 * settings say otherwise ({@code dev.isthmus.BackPressureStall#threshold}). Without a recording that enables them, beginning one
 * is a check of a flag and makes no object.
 */
public final class ChannelEvents {
    private static final EventType STALL = EventType.getEventType(Stall.class);
    private static final EventType WAIT = EventType.getEventType(Wait.class);

    private ChannelEvents() {
    }

    /** A sender waited for room in a channel. */
    @Name("dev.isthmus.BackPressureStall")
    @Label("Back-Pressure Stall")
    @Category("Isthmus")
    @Description("A sender waited for room in a channel: the receiver was not keeping up")
    @Threshold("1 ms")
    @StackTrace(false)
    public static final class Stall extends Event {
        /** An event not yet begun. */
        public Stall() {
        }

        @Label("Channel")
        String channel;
        @Label("Transport")
        String transport;
        @Label("Sent")
        @Description("Whether the message went out in the end (false: the offer timed out)")
        boolean sent;
    }

    /** A thread slept in the kernel (futex, poll) waiting for its peer. */
    @Name("dev.isthmus.ChannelWait")
    @Label("Channel Wait")
    @Category("Isthmus")
    @Description("A thread slept in the kernel waiting for data or room in a channel")
    @Threshold("1 ms")
    @StackTrace(false)
    public static final class Wait extends Event {
        /** An event not yet begun. */
        public Wait() {
        }

        @Label("Channel")
        String channel;
        @Label("Transport")
        String transport;
        @Label("Woken")
        @Description("Whether the peer woke it (false: the sleep timed out)")
        boolean woken;
    }

    /** A channel refused input as corrupt: impossible records, frames, handles or messages. */
    @Name("dev.isthmus.CorruptInput")
    @Label("Corrupt Input")
    @Category("Isthmus")
    @Description("A channel refused what the peer wrote as corrupt; the channel is failed")
    @StackTrace(false)
    public static final class Corrupt extends Event {
        /** An event not yet begun. */
        public Corrupt() {
        }

        @Label("Channel")
        String channel;
        @Label("Transport")
        String transport;
        @Label("Reason")
        String reason;
    }

    /**
     * {@return a stall event begun now}, for {@link #endStall} when the wait ends
     */
    public static Stall beginStall() {
        // No event object unless a recording wants one: a producer that meets a full queue often (a fast
        // sender) begins a stall for every wait, however short.
        if (!STALL.isEnabled()) {
            return null;
        }
        final Stall event = new Stall();
        event.begin();
        return event;
    }

    /**
     * Ends a stall and records it if it lasted longer than the threshold; never throws.
     *
     * @param event     from {@link #beginStall()}, or {@code null} for none
     * @param channel   the channel
     * @param transport its transport
     * @param sent      whether the message was sent in the end
     */
    public static void endStall(final Stall event, final String channel, final String transport, final boolean sent) {
        if (event == null) {
            return;
        }
        event.end();
        if (event.shouldCommit()) {
            event.channel = channel;
            event.transport = transport;
            event.sent = sent;
            event.commit();
        }
    }

    /**
     * {@return a wait event begun now}, for {@link #endWait} when the sleep ends
     */
    public static Wait beginWait() {
        if (!WAIT.isEnabled()) {
            return null;
        }
        final Wait event = new Wait();
        event.begin();
        return event;
    }

    /**
     * Ends a sleep and records it if it lasted longer than the threshold; never throws.
     *
     * @param event     from {@link #beginWait()}, or {@code null} for none
     * @param channel   the channel
     * @param transport its transport
     * @param woken     whether the peer woke the sleeper
     */
    public static void endWait(final Wait event, final String channel, final String transport, final boolean woken) {
        if (event == null) {
            return;
        }
        event.end();
        if (event.shouldCommit()) {
            event.channel = channel;
            event.transport = transport;
            event.woken = woken;
            event.commit();
        }
    }

    /**
     * Records input refused as corrupt; never throws.
     *
     * @param channel   the channel
     * @param transport its transport
     * @param reason    the refusal's message
     */
    public static void corruptInput(final String channel, final String transport, final String reason) {
        final Corrupt event = new Corrupt();
        if (event.isEnabled()) {
            event.channel = channel;
            event.transport = transport;
            event.reason = reason;
            event.commit();
        }
    }
}
