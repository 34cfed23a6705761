/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.bench;

import dev.isthmus.sync.BusySpinIdleStrategy;
import dev.isthmus.sync.FutexIdleStrategy;
import dev.isthmus.sync.SpinThenFutexIdleStrategy;
import dev.isthmus.transport.BlobChannel;
import dev.isthmus.transport.BlobHandler;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * {@code isthmus bench latency}: ping-pong round trips between two JVMs, per transport, idle strategy and
 * message size, with HdrHistogram percentiles. Each configuration warms up, then measures for a fixed time.
 * Each Isthmus configuration is compared with each baseline of the same size in the same run. Each
 * configuration's pinging side runs in a fresh JVM ({@link ForkedBench}), the same code for every transport
 * (with Aeron's JVM option for Aeron's), and hands its histogram back.
 */
@Command(name = "latency", mixinStandardHelpOptions = true,
    description = "Round-trip latency (ping-pong) between two JVMs, per transport, idle strategy and size.")
public final class LatencyBench implements Callable<Integer> {
    @Option(names = "--sizes", split = ",", paramLabel = "BYTES", description = "Message sizes (default: 64,1024).")
    List<Integer> sizes = List.of(64, 1024);

    @Option(names = "--transport", split = ",", paramLabel = "NAME",
        description = "Transports, of shm-queue, shm-queue-batched, uds, uds-batched, aeron-ipc (media driver embedded), aeron-ipc-standalone (media driver in its own JVM) (default: shm-queue, uds, aeron-ipc, aeron-ipc-standalone).")
    List<String> transports;

    @Option(names = "--idle", split = ",", paramLabel = "NAME",
        description = "Idle strategies of the shared-memory queue (default: busy-spin,spin-then-futex,futex-only).")
    List<String> idles = List.of(BusySpinIdleStrategy.ALIAS, SpinThenFutexIdleStrategy.ALIAS, FutexIdleStrategy.ALIAS);

    @Option(names = "--warmup-seconds", paramLabel = "S", description = "Warm-up per configuration (default: ${DEFAULT-VALUE}).")
    double warmupSeconds = 2;

    @Option(names = "--seconds", paramLabel = "S", description = "Measurement per configuration (default: ${DEFAULT-VALUE}).")
    double seconds = 4;

    @Option(names = "--json", description = "Print one JSON document with the raw figures instead of the table.")
    boolean json;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        final PrintWriter out = spec.commandLine().getOut();
        final List<String> selected = transports == null
            ? BenchTransport.aliases().stream().filter(a -> !BenchTransport.byAlias(a).batched()).toList() : transports;
        final List<Map<String, Object>> results = new ArrayList<>();
        for (final int size : sizes) {
            for (final String alias : selected) {
                final BenchTransport transport = BenchTransport.byAlias(alias);
                for (final String idle : transport.usesIdleStrategy() ? idles : List.of(transport.idleLabel(""))) {
                    if (!json) {
                        out.printf("running %s / %s / %d bytes ...%n", alias, idle, size);
                        out.flush();
                    }
                    results.add(measure(transport, idle, size));
                }
            }
        }
        final List<Map<String, Object>> ratios = ratios(results);
        if (json) {
            final Map<String, Object> document = new LinkedHashMap<>();
            document.put("benchmark", "latency");
            document.put("workload", Map.of("kind", "ping-pong round trip", "warmup_seconds", warmupSeconds,
                "measure_seconds", seconds));
            document.put("machine", Machine.describe());
            document.put("results", results);
            document.put("ratios", ratios);
            out.print(Json.write(document));
        } else {
            printTable(out, results, ratios);
        }
        out.flush();
        return 0;
    }

    private Map<String, Object> measure(final BenchTransport transport, final String idle, final int size) throws Exception {
        // In a fresh JVM: code compiled for an earlier configuration (another channel class, another idle
        // strategy at the same call sites) would slow the later ones, and Aeron's side needs a JVM of its own.
        final Histogram histogram = ForkedBench.latency(transport, idle, size, warmupSeconds, seconds);
        final Map<String, Object> result = new LinkedHashMap<>();
        result.put("transport", transport.alias());
        result.put("idle", transport.idleLabel(idle));
        result.put("size_bytes", size);
        result.put("count", histogram.getTotalCount());
        result.put("mean_ns", histogram.getMean());
        result.put("p50_ns", histogram.getValueAtPercentile(50));
        result.put("p90_ns", histogram.getValueAtPercentile(90));
        result.put("p99_ns", histogram.getValueAtPercentile(99));
        result.put("p999_ns", histogram.getValueAtPercentile(99.9));
        result.put("max_ns", histogram.getMaxValue());
        return result;
    }

    /**
     * Runs one configuration in this JVM: listens, starts the echoing peer, warms up, then measures round
     * trips for a fixed time.
     *
     * @param transport     the transport
     * @param idle          the idle strategy name (ignored by transports without one)
     * @param size          the message size
     * @param warmupSeconds the warm-up
     * @param seconds       the measurement
     * @return the round trips, in nanoseconds
     * @throws Exception if the peer cannot start or the benchmark fails
     */
    static Histogram roundTrips(final BenchTransport transport, final String idle, final int size,
                                final double warmupSeconds, final double seconds) throws Exception {
        final String idleName = transport.usesIdleStrategy() ? idle : SpinThenFutexIdleStrategy.ALIAS;
        final Histogram histogram = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
        try (BenchTransport.Listener listener = transport.listen(idleName); Arena arena = Arena.ofConfined()) {
            final Process peer = BenchPeer.start("echo", transport.alias(), listener.address(), idleName);
            try (BlobChannel channel = listener.acceptor().accept(TimeUnit.SECONDS.toNanos(60))) {
                final MemorySegment message = arena.allocate(size);
                final BlobHandler handler = (buffer, offset, length) -> {
                    if (length != size) {
                        throw new IllegalStateException("echo of " + length + " bytes, sent " + size);
                    }
                };
                final long timeoutNs = TimeUnit.SECONDS.toNanos(30);
                final long warmupEnd = System.nanoTime() + (long) (warmupSeconds * 1e9);
                while (System.nanoTime() < warmupEnd) {
                    roundTrip(channel, message, size, handler, timeoutNs);
                }
                final long end = System.nanoTime() + (long) (seconds * 1e9);
                long now;
                do {
                    final long start = System.nanoTime();
                    roundTrip(channel, message, size, handler, timeoutNs);
                    now = System.nanoTime();
                    histogram.recordValue(now - start);
                } while (now < end);
            } finally {
                if (!peer.waitFor(30, TimeUnit.SECONDS)) {
                    peer.destroyForcibly().waitFor();
                }
            }
        }
        return histogram;
    }

    private static void roundTrip(final BlobChannel channel, final MemorySegment message, final int size,
                                  final BlobHandler handler, final long timeoutNs) {
        if (!channel.offer(message, 0, size) && !channel.offer(message, 0, size, timeoutNs)) {
            throw new IllegalStateException("no room within 30 s");
        }
        channel.flush();
        if (channel.poll(handler, 1) == 0 && channel.poll(handler, 1, timeoutNs) == 0) {
            throw new IllegalStateException("no echo within 30 s");
        }
    }

    /**
     * For each size, how many times lower each Isthmus configuration's median is than each baseline's
     * (the Unix socket, Aeron IPC).
     */
    private static List<Map<String, Object>> ratios(final List<Map<String, Object>> results) {
        final List<Map<String, Object>> ratios = new ArrayList<>();
        for (final Map<String, Object> baseline : results) {
            if (!BenchTransport.byAlias((String) baseline.get("transport")).baseline()) {
                continue;
            }
            for (final Map<String, Object> r : results) {
                if (!BenchTransport.byAlias((String) r.get("transport")).baseline()
                    && r.get("size_bytes").equals(baseline.get("size_bytes"))) {
                    final Map<String, Object> ratio = new LinkedHashMap<>();
                    ratio.put("size_bytes", r.get("size_bytes"));
                    ratio.put("transport", r.get("transport"));
                    ratio.put("idle", r.get("idle"));
                    ratio.put("baseline", baseline.get("transport"));
                    ratio.put("baseline_p50_over_p50", ((Number) baseline.get("p50_ns")).doubleValue()
                        / ((Number) r.get("p50_ns")).doubleValue());
                    ratios.add(ratio);
                }
            }
        }
        return ratios;
    }

    private static void printTable(final PrintWriter out, final List<Map<String, Object>> results,
                                   final List<Map<String, Object>> ratios) {
        out.printf("%nround trip between two JVMs (ns)%n%n");
        out.printf("%-20s  %-16s  %6s  %10s  %9s  %9s  %9s  %9s  %11s%n", "transport", "idle", "bytes", "count", "p50",
            "p90", "p99", "p99.9", "max");
        for (final Map<String, Object> r : results) {
            out.printf(Locale.ROOT, "%-20s  %-16s  %6d  %,10d  %,9d  %,9d  %,9d  %,9d  %,11d%n", r.get("transport"),
                r.get("idle"), (Integer) r.get("size_bytes"), (Long) r.get("count"), (Long) r.get("p50_ns"),
                (Long) r.get("p90_ns"), (Long) r.get("p99_ns"), (Long) r.get("p999_ns"), (Long) r.get("max_ns"));
        }
        if (!ratios.isEmpty()) {
            out.println();
            for (final Map<String, Object> ratio : ratios) {
                out.printf(Locale.ROOT, "%d bytes: %s p50 / %s %s p50 = %.1fx%n", (Integer) ratio.get("size_bytes"),
                    ratio.get("baseline"), ratio.get("transport"), ratio.get("idle"),
                    (Double) ratio.get("baseline_p50_over_p50"));
            }
        }
    }
}
