/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools;

import dev.isthmus.stat.StatKind;
import dev.isthmus.stat.StatReader;
import dev.isthmus.tools.bench.Json;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code isthmus stat}: the live counters of every Isthmus session, channel and server on this host that
 * this user may see (its own processes; every process for root), read from each process's stat file
 * without disturbing it, with rates per second over each interval.
 */
@Command(name = "stat", mixinStandardHelpOptions = true,
    description = {"Live counters of the Isthmus sessions, channels and servers of this user's processes (all "
        + "processes for root), refreshed every interval, with rates per second: messages and bytes each way, "
        + "back-pressure, sleeps and wake-ups, corrupt input refused, arena use, handshakes by outcome.",
        "With --json: one snapshot as JSON (rates over one interval); with --json --watch, one per interval."})
final class StatCommand implements Callable<Integer> {
    @Option(names = "--json", description = "Print one snapshot as JSON (totals, and rates over one interval).")
    boolean json;

    @Option(names = "--watch", description = "Keep refreshing (the default without --json; with --json, one "
        + "document per interval).")
    boolean watch;

    @Option(names = "--interval", paramLabel = "DURATION", description = "Time between refreshes, e.g. 500ms, 2s "
        + "(default: ${DEFAULT-VALUE}).", converter = DurationConverter.class)
    Duration interval = Duration.ofSeconds(1);

    @Option(names = "--count", paramLabel = "N", description = "Stop after N refreshes (default: until interrupted; "
        + "1 with --json unless --watch).")
    int count = -1;

    @Option(names = "--pid", paramLabel = "PID", description = "Only this process.")
    long pid = -1;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    /** Parses {@code 500ms}, {@code 2s}, {@code 1m} or an ISO-8601 duration. */
    static final class DurationConverter implements picocli.CommandLine.ITypeConverter<Duration> {
        @Override
        public Duration convert(final String value) {
            final String text = value.trim().toLowerCase(Locale.ROOT);
            final Duration result;
            if (text.endsWith("ms")) {
                result = Duration.ofMillis(Long.parseLong(text.substring(0, text.length() - 2)));
            } else if (text.endsWith("s")) {
                result = Duration.ofMillis(Math.round(Double.parseDouble(text.substring(0, text.length() - 1)) * 1000));
            } else if (text.endsWith("m")) {
                result = Duration.ofSeconds(Long.parseLong(text.substring(0, text.length() - 1)) * 60);
            } else {
                result = Duration.parse(value);
            }
            if (result.isNegative() || result.isZero() || result.toMillis() < 10) {
                throw new picocli.CommandLine.TypeConversionException("interval=" + value + " must be at least 10ms");
            }
            return result;
        }
    }

    @Override
    public Integer call() throws InterruptedException {
        final PrintWriter out = spec.commandLine().getOut();
        final int refreshes = count > 0 ? count : json && !watch ? 1 : Integer.MAX_VALUE;
        final boolean terminal = System.console() != null && !json;
        try (StatReader reader = new StatReader()) {
            List<StatReader.ProcessStats> before = snapshot(reader);
            long beforeNs = System.nanoTime();
            for (int i = 0; i < refreshes; i++) {
                Thread.sleep(interval.toMillis());
                final List<StatReader.ProcessStats> now = snapshot(reader);
                final long nowNs = System.nanoTime();
                final double seconds = (nowNs - beforeNs) / 1e9;
                if (json) {
                    out.print(Json.write(document(before, now, seconds)));
                } else {
                    if (terminal) {
                        out.print("\033[H\033[2J");
                    }
                    print(out, before, now, seconds);
                }
                out.flush();
                before = now;
                beforeNs = nowNs;
            }
        }
        return 0;
    }

    private List<StatReader.ProcessStats> snapshot(final StatReader reader) {
        if (pid >= 0) {
            return reader.read(pid).map(List::of).orElse(List.of());
        }
        return reader.snapshot();
    }

    /** The records of {@code before}, by process and id, to compute rates from. */
    private static Map<String, StatReader.Entry> index(final List<StatReader.ProcessStats> processes) {
        final Map<String, StatReader.Entry> byKey = new HashMap<>();
        for (final StatReader.ProcessStats process : processes) {
            for (final StatReader.Entry entry : process.entries()) {
                byKey.put(process.pid() + "/" + process.startTimeTicks() + "/" + entry.id(), entry);
            }
        }
        return byKey;
    }

    private static double rate(final StatReader.Entry previous, final StatReader.Entry entry, final int index,
                               final double seconds) {
        if (previous == null || previous.kind() != entry.kind() || seconds <= 0) {
            return 0;
        }
        return Math.max(0, entry.counters()[index] - previous.counters()[index]) / seconds;
    }

    static Map<String, Object> document(final List<StatReader.ProcessStats> before,
                                        final List<StatReader.ProcessStats> now, final double seconds) {
        final Map<String, StatReader.Entry> previous = index(before);
        final List<Object> processes = new ArrayList<>();
        for (final StatReader.ProcessStats process : now) {
            final List<Object> records = new ArrayList<>();
            for (final StatReader.Entry entry : process.entries()) {
                final StatReader.Entry was = previous.get(process.pid() + "/" + process.startTimeTicks() + "/" + entry.id());
                final Map<String, Object> record = new LinkedHashMap<>();
                record.put("kind", entry.kind().name().toLowerCase(Locale.ROOT));
                record.put("id", entry.id());
                record.put("parent", entry.parentId());
                record.put("labels", new LinkedHashMap<>(entry.labels()));
                record.put("counters", new LinkedHashMap<>(entry.namedCounters()));
                final Map<String, Object> rates = new LinkedHashMap<>();
                final List<String> names = entry.kind().counterNames();
                for (int i = 0; i < names.size(); i++) {
                    if (names.get(i) != null) {
                        rates.put(names.get(i), rate(was, entry, i, seconds));
                    }
                }
                record.put("per_second", rates);
                records.add(record);
            }
            final Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("pid", process.pid());
            entry.put("records_without_slot", process.dropped());
            entry.put("records", records);
            processes.add(entry);
        }
        final Map<String, Object> document = new LinkedHashMap<>();
        document.put("interval_seconds", seconds);
        document.put("processes", processes);
        return document;
    }

    static void print(final PrintWriter out, final List<StatReader.ProcessStats> before,
                      final List<StatReader.ProcessStats> now, final double seconds) {
        final Map<String, StatReader.Entry> previous = index(before);
        out.printf(Locale.ROOT, "isthmus stat: %d process(es) with Isthmus counters, rates over %.1f s%n", now.size(),
            seconds);
        for (final StatReader.ProcessStats process : now) {
            out.printf(Locale.ROOT, "%npid %d%s%n", process.pid(),
                process.dropped() > 0 ? " (" + process.dropped() + " records found no slot and are not shown)" : "");
            final Map<Long, List<StatReader.Entry>> children = new LinkedHashMap<>();
            final List<StatReader.Entry> roots = new ArrayList<>();
            final java.util.Set<Long> ids = new java.util.HashSet<>();
            process.entries().forEach(entry -> ids.add(entry.id()));
            for (final StatReader.Entry entry : process.entries()) {
                if (entry.parentId() != 0 && ids.contains(entry.parentId())) {
                    children.computeIfAbsent(entry.parentId(), key -> new ArrayList<>()).add(entry);
                } else {
                    roots.add(entry);
                }
            }
            for (final StatReader.Entry entry : roots) {
                final StatReader.Entry was = previous.get(process.pid() + "/" + process.startTimeTicks() + "/" + entry.id());
                printEntry(out, "  ", entry, was, seconds);
                for (final StatReader.Entry child : children.getOrDefault(entry.id(), List.of())) {
                    printEntry(out, "    ", child,
                        previous.get(process.pid() + "/" + process.startTimeTicks() + "/" + child.id()), seconds);
                }
            }
        }
    }

    private static void printEntry(final PrintWriter out, final String indent, final StatReader.Entry entry,
                                   final StatReader.Entry was, final double seconds) {
        final Map<String, String> l = entry.labels();
        final long[] c = entry.counters();
        switch (entry.kind()) {
            case SERVER -> out.printf(Locale.ROOT, "%sserver %s: handshakes accepted %d; refused: stranger uid %d, app not "
                    + "allowed %d, authentication %d, limit %d, protocol %d, timeout %d, other %d%n", indent,
                l.getOrDefault("server", "?"), c[StatKind.Server.ACCEPTED], c[StatKind.Server.REFUSED_STRANGER_UID],
                c[StatKind.Server.REFUSED_APP_NOT_ALLOWED], c[StatKind.Server.REFUSED_AUTHENTICATION],
                c[StatKind.Server.REFUSED_LIMIT], c[StatKind.Server.REFUSED_PROTOCOL], c[StatKind.Server.REFUSED_TIMEOUT],
                c[StatKind.Server.REFUSED_OTHER]);
            case CLIENT -> out.printf(Locale.ROOT, "%sclient %s: handshakes accepted %d; refused by server %d, server "
                    + "not authenticated %d, protocol %d, timeout %d, other %d%n", indent, l.getOrDefault("client", "?"),
                c[StatKind.Client.ACCEPTED],
                c[StatKind.Client.REFUSED_BY_SERVER], c[StatKind.Client.REFUSED_AUTHENTICATION],
                c[StatKind.Client.REFUSED_PROTOCOL], c[StatKind.Client.REFUSED_TIMEOUT], c[StatKind.Client.REFUSED_OTHER]);
            case SESSION -> out.printf(Locale.ROOT, "%ssession %s (%s) %s <-> %s (pid %s) over %s%s: channels open %d "
                    + "(opened %d, refused %d); arena %s in use of %s mapped, %d blocks lent, %d borrowed%n", indent,
                l.getOrDefault("session", "?"), l.getOrDefault("role", "?"), l.getOrDefault("local", "?"),
                l.getOrDefault("peer", "?"), l.getOrDefault("peerPid", "?"), l.getOrDefault("transport", "?"),
                "true".equals(l.get("zeroCopy")) ? ", zero-copy" : "", c[StatKind.Session.CHANNELS_OPEN],
                c[StatKind.Session.CHANNELS_OPENED], c[StatKind.Session.CHANNELS_REFUSED],
                bytes(c[StatKind.Session.ARENA_BYTES_IN_USE]), bytes(c[StatKind.Session.ARENA_BYTES_MAPPED]),
                c[StatKind.Session.BLOCKS_LENT_NOW], c[StatKind.Session.BLOCKS_BORROWED_NOW]);
            case CHANNEL -> out.printf(Locale.ROOT, "%schannel %s [%s%s]: out %,.0f msg/s %s/s (%d msgs), in %,.0f msg/s "
                    + "%s/s (%d msgs); refused %d, waited %d times %.1f ms; sleeps %d recv %d send, wakes %d recv %d send; "
                    + "corrupt %d%n", indent,
                l.getOrDefault("channel", "?"), l.getOrDefault("transport", "?"),
                l.containsKey("pipe") ? ", " + l.get("pipe") : "",
                rate(was, entry, StatKind.Channel.MESSAGES_SENT, seconds),
                bytes(Math.round(rate(was, entry, StatKind.Channel.BYTES_SENT, seconds))), c[StatKind.Channel.MESSAGES_SENT],
                rate(was, entry, StatKind.Channel.MESSAGES_RECEIVED, seconds),
                bytes(Math.round(rate(was, entry, StatKind.Channel.BYTES_RECEIVED, seconds))),
                c[StatKind.Channel.MESSAGES_RECEIVED], c[StatKind.Channel.OFFERS_REFUSED],
                c[StatKind.Channel.BACK_PRESSURE_WAITS], c[StatKind.Channel.BACK_PRESSURE_NANOS] / 1e6,
                c[StatKind.Channel.RECEIVER_SLEEPS], c[StatKind.Channel.SENDER_SLEEPS], c[StatKind.Channel.RECEIVER_WAKES],
                c[StatKind.Channel.SENDER_WAKES], c[StatKind.Channel.CORRUPT_REFUSED]);
        }
    }

    private static String bytes(final long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        if (bytes < 1024 * 1024) {
            return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
        }
        if (bytes < 1024L * 1024 * 1024) {
            return String.format(Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024));
        }
        return String.format(Locale.ROOT, "%.1f GiB", bytes / (1024.0 * 1024 * 1024));
    }
}
