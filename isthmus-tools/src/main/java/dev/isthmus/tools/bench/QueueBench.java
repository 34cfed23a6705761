/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.bench;

import dev.isthmus.sync.IdleStrategies;
import dev.isthmus.transport.BlobChannel;
import dev.isthmus.transport.BlobHandler;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * {@code isthmus bench queue}: the ipc_vector workload between two JVMs. The client pushes, for each of
 * {@code --rounds} rounds, messages of 1 to 155 bytes (the seed's 10000 x 155 messages, 121 MB); the
 * server receives them in batches and counts them. Timed at the server, from its start signal to the last
 * message; warm-up runs first, then the median of the measured runs. Each transport's server runs in a fresh
 * JVM ({@link ForkedBench}), the same code for every transport (with Aeron's JVM option for Aeron's), and hands
 * its run times back.
 */
@Command(name = "queue", mixinStandardHelpOptions = true,
    description = "Throughput of the ipc_vector workload (messages of 1..155 bytes) between two JVMs, per transport.")
public final class QueueBench implements Callable<Integer> {
    @Option(names = "--transport", split = ",", paramLabel = "NAME",
        description = "Transports to compare, of shm-queue, shm-queue-batched, uds, uds-batched, aeron-ipc (media driver embedded), aeron-ipc-standalone (media driver in its own JVM) (default: all).")
    List<String> transports;

    @Option(names = "--rounds", paramLabel = "N", description = "Rounds of 155 messages per run (default: ${DEFAULT-VALUE}).")
    int rounds = 10_000;

    @Option(names = "--runs", paramLabel = "N", description = "Measured runs per transport (default: ${DEFAULT-VALUE}).")
    int runs = 11;

    @Option(names = "--warmup", paramLabel = "N", description = "Warm-up runs per transport (default: ${DEFAULT-VALUE}).")
    int warmup = 3;

    @Option(names = "--idle", paramLabel = "NAME", description = "Idle strategy of the shared-memory queue (default: ${DEFAULT-VALUE}).")
    String idle = IdleStrategies.ALIASES.getFirst();

    @Option(names = "--json", description = "Print one JSON document with the raw figures instead of the table.")
    boolean json;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        final PrintWriter out = spec.commandLine().getOut();
        final List<String> selected = transports == null ? BenchTransport.aliases() : transports;
        final long messagesPerRun = (long) rounds * BenchPeer.MAX_MESSAGE;
        final long bytesPerRun = (long) rounds * BenchPeer.MAX_MESSAGE * (BenchPeer.MAX_MESSAGE + 1) / 2;
        final List<Map<String, Object>> results = new ArrayList<>();
        for (final String alias : selected) {
            final BenchTransport transport = BenchTransport.byAlias(alias);
            if (!json) {
                out.printf("running %s ...%n", alias);
                out.flush();
            }
            // In a fresh JVM, as LatencyBench measures: no configuration runs on code compiled for another.
            final double[] seconds = ForkedBench.queue(transport, idle, rounds, warmup, runs);
            final double[] msgsPerSec = new double[seconds.length];
            for (int i = 0; i < seconds.length; i++) {
                msgsPerSec[i] = messagesPerRun / seconds[i];
            }
            final double median = Stats.median(msgsPerSec);
            final Map<String, Object> result = new LinkedHashMap<>();
            result.put("transport", alias);
            result.put("idle", transport.idleLabel(idle));
            result.put("msgs_per_sec", median);
            result.put("mb_per_sec", median * bytesPerRun / messagesPerRun / 1e6);
            result.put("min_msgs_per_sec", Stats.min(msgsPerSec));
            result.put("max_msgs_per_sec", Stats.max(msgsPerSec));
            result.put("run_seconds", toList(seconds));
            results.add(result);
        }
        final Map<String, Object> ratios = ratios(results);
        if (json) {
            final Map<String, Object> document = new LinkedHashMap<>();
            document.put("benchmark", "queue");
            document.put("workload", Map.of("rounds", rounds, "messages_per_run", messagesPerRun, "bytes_per_run", bytesPerRun,
                "message_sizes", "1..155", "warmup_runs", warmup, "measured_runs", runs));
            document.put("machine", Machine.describe());
            document.put("results", results);
            document.put("ratios", ratios);
            out.print(Json.write(document));
        } else {
            printTable(out, messagesPerRun, bytesPerRun, results, ratios);
        }
        out.flush();
        return 0;
    }

    /**
     * Runs the workload in this JVM: listens, starts the pushing peer, then times each run from the start
     * signal to the last message.
     *
     * @param transport the transport
     * @param idle      the idle strategy name (ignored by transports without one)
     * @param rounds    rounds of 155 messages per run
     * @param warmup    warm-up runs
     * @param runs      measured runs
     * @return the seconds of each measured run
     * @throws Exception if the peer cannot start or the benchmark fails
     */
    static double[] runSeconds(final BenchTransport transport, final String idle, final int rounds, final int warmup,
                               final int runs) throws Exception {
        final long messagesPerRun = (long) rounds * BenchPeer.MAX_MESSAGE;
        final double[] seconds = new double[runs];
        try (BenchTransport.Listener listener = transport.listen(idle)) {
            final Process peer = BenchPeer.start("queue", transport.alias(), listener.address(), idle, Integer.toString(rounds));
            try (BlobChannel channel = listener.acceptor().accept(TimeUnit.SECONDS.toNanos(60))) {
                final long[] count = new long[1];
                final BlobHandler handler = transport.coalesced() ? (buffer, offset, length) -> {
                    long position = offset;
                    final long end = offset + length;
                    while (position + 2 <= end) {
                        final int size = buffer.get(JAVA_SHORT_UNALIGNED, position);
                        if (size == 0) {
                            break;
                        }
                        count[0]++;
                        position += 2 + size;
                    }
                } : (buffer, offset, length) -> count[0]++;
                final byte[] go = {BenchPeer.GO};
                for (int run = 0; run < warmup + runs; run++) {
                    count[0] = 0;
                    final long start = System.nanoTime();
                    if (!channel.offer(go, 0, 1, TimeUnit.SECONDS.toNanos(60))) {
                        throw new IllegalStateException("the peer does not read");
                    }
                    while (count[0] < messagesPerRun) {
                        if (channel.poll(handler, 4096, TimeUnit.SECONDS.toNanos(60)) == 0) {
                            throw new IllegalStateException(transport.alias() + ": no message within 60 s after " + count[0]);
                        }
                    }
                    final long elapsed = System.nanoTime() - start;
                    if (count[0] != messagesPerRun) {
                        throw new IllegalStateException(transport.alias() + ": received " + count[0] + " messages, expected "
                            + messagesPerRun);
                    }
                    if (run >= warmup) {
                        seconds[run - warmup] = elapsed / 1e9;
                    }
                }
                channel.offer(new byte[] {BenchPeer.STOP}, 0, 1, TimeUnit.SECONDS.toNanos(10));
            } finally {
                if (!peer.waitFor(30, TimeUnit.SECONDS)) {
                    peer.destroyForcibly().waitFor();
                }
            }
        }
        return seconds;
    }

    /** Each Isthmus transport's throughput over each baseline's (Unix sockets, Aeron), from the same run. */
    private static Map<String, Object> ratios(final List<Map<String, Object>> results) {
        final Map<String, Object> ratios = new LinkedHashMap<>();
        for (final Map<String, Object> shm : results) {
            if (BenchTransport.byAlias((String) shm.get("transport")).baseline()) {
                continue;
            }
            for (final Map<String, Object> baseline : results) {
                if (BenchTransport.byAlias((String) baseline.get("transport")).baseline()) {
                    ratios.put(shm.get("transport") + "/" + baseline.get("transport"),
                        (Double) shm.get("msgs_per_sec") / (Double) baseline.get("msgs_per_sec"));
                }
            }
        }
        return ratios;
    }

    private static void printTable(final PrintWriter out, final long messagesPerRun, final long bytesPerRun,
                                   final List<Map<String, Object>> results, final Map<String, Object> ratios) {
        out.printf("%nipc_vector workload: %,d messages of 1..155 bytes (%,d bytes) per run, two JVMs%n%n", messagesPerRun,
            bytesPerRun);
        out.printf("%-20s  %-16s  %14s  %10s  %22s%n", "transport", "idle", "msgs/s (p50)", "MB/s", "runs min..max msgs/s");
        for (final Map<String, Object> r : results) {
            out.printf(Locale.ROOT, "%-20s  %-16s  %14s  %10.0f  %22s%n", r.get("transport"), r.get("idle"),
                millions((Double) r.get("msgs_per_sec")), (Double) r.get("mb_per_sec"),
                millions((Double) r.get("min_msgs_per_sec")) + ".." + millions((Double) r.get("max_msgs_per_sec")));
        }
        if (!ratios.isEmpty()) {
            out.println();
            ratios.forEach((name, value) -> out.printf(Locale.ROOT, "%s = %.1fx%n", name, (Double) value));
        }
    }

    static String millions(final double value) {
        return String.format(Locale.ROOT, "%.2f M", value / 1e6);
    }

    private static List<Double> toList(final double[] values) {
        final List<Double> list = new ArrayList<>();
        for (final double value : values) {
            list.add(value);
        }
        return list;
    }
}
