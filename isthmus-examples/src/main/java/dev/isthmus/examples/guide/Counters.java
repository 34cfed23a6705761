/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.examples.guide;

import dev.isthmus.session.Channel;
import dev.isthmus.stat.StatKind;
import dev.isthmus.stat.StatReader;
import dev.isthmus.stat.StatRecord;

import java.util.ArrayList;
import java.util.List;

/**
 * The guide's counters: read one channel's from inside the process, and every session's of a process from
 * outside it, as {@code isthmus stat} does.
 */
public final class Counters {
    private Counters() {
    }

    /**
     * {@return the messages a channel has sent, 0 if it keeps no counters}
     *
     * @param channel the channel
     */
    public static long messagesSent(final Channel channel) {
        // guide:counters-own:begin
        StatRecord counters = channel.blobs().stats();     // null for a channel that keeps none
        return counters == null ? 0 : counters.get(StatKind.Channel.MESSAGES_SENT);
        // guide:counters-own:end
    }

    /**
     * {@return one line per session of a process: its labels and counters}
     *
     * @param pid a process of this user (any process, for root)
     */
    public static List<String> sessions(final long pid) {
        // guide:counters-reader:begin
        List<String> lines = new ArrayList<>();
        try (StatReader reader = new StatReader()) {                // maps each process's stat file once
            reader.read(pid).ifPresent(process -> {
                for (StatReader.Entry entry : process.entries()) {
                    if (entry.kind() == StatKind.SESSION) {
                        lines.add(entry.labels().get("session") + " " + entry.labels().get("peer")
                            + " channels_open=" + entry.counter("channels_open"));
                    }
                }
            });
        }
        // guide:counters-reader:end
        return lines;
    }
}
