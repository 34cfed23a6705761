/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.bench;

import dev.isthmus.test.ChildJvm;
import dev.isthmus.tools.Main;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Aeron baseline run in JVMs of its own: its figures come back to the benchmark process whole, and a
 * benchmark JVM with native access only, as the {@code isthmus} launcher starts it, runs it end to end and
 * reports it as it reports Isthmus's transports. Without Aeron's export that JVM could not run Aeron itself
 * (Agrona fails with an {@link IllegalAccessError}), so a report proves the baseline ran elsewhere.
 */
class ForkedBenchTest {
    @Test
    void shouldHandTheRoundTripHistogramBackThroughOneJsonLineWithEveryCount() {
        final Histogram histogram = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
        final SplittableRandom random = new SplittableRandom(42);
        for (int i = 0; i < 100_000; i++) {
            histogram.recordValue(300 + (long) (random.nextDouble() * random.nextDouble() * 2_000_000));
        }
        histogram.recordValue(TimeUnit.SECONDS.toNanos(5));
        final String line = Json.writeLine(Map.of("histogram", ForkedBench.encode(histogram)));
        assertFalse(line.contains("\n"));
        final Histogram back = ForkedBench.decode((String) ((Map<?, ?>) Json.parse(line)).get("histogram"));
        assertEquals(histogram, back);
        assertEquals(histogram.getTotalCount(), back.getTotalCount());
        assertEquals(histogram.getMean(), back.getMean());
        for (final double percentile : new double[] {50, 90, 99, 99.9}) {
            assertEquals(histogram.getValueAtPercentile(percentile), back.getValueAtPercentile(percentile));
        }
        assertEquals(histogram.getMaxValue(), back.getMaxValue());
    }

    @Test
    void shouldRunTheAeronLatencyBaselineOutsideABenchJvmWithNativeAccessOnlyAndReportItsFigures() throws Exception {
        final Map<?, ?> document;
        try (ChildJvm bench = ChildJvm.start(Main.class, "bench", "latency", "--transport=aeron-ipc", "--sizes=64",
            "--warmup-seconds=0.1", "--seconds=0.2", "--json")) {
            document = jsonDocument(bench);
            bench.assertExit(0, Duration.ofMinutes(1));
        }
        final List<?> results = (List<?>) document.get("results");
        assertEquals(1, results.size(), document.toString());
        final Map<?, ?> result = (Map<?, ?>) results.getFirst();
        assertEquals("aeron-ipc", result.get("transport"));
        assertEquals("busy-spin", result.get("idle"));
        assertEquals(64L, result.get("size_bytes"));
        assertTrue((Long) result.get("count") > 0, result.toString());
        long previous = 1;
        for (final String key : List.of("p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns")) {
            final long value = (Long) result.get(key);
            assertTrue(value >= previous, key + " in " + result);
            previous = value;
        }
        assertEquals(List.of(), aeronDirectoriesLeft());
    }

    @Test
    void shouldShowTheAeronQueueBaselineInTheSameTableAsIsthmussQueue() throws Exception {
        try (ChildJvm bench = ChildJvm.start(Main.class, "bench", "queue", "--transport=shm-queue,aeron-ipc",
            "--rounds=20", "--runs=1", "--warmup=1")) {
            final Duration timeout = Duration.ofMinutes(1);
            bench.awaitLine(line -> line.matches("shm-queue +spin-then-futex +\\d+\\.\\d\\d M +\\d+ .*"), "the shm-queue row",
                timeout);
            bench.awaitLine(line -> line.matches("aeron-ipc +busy-spin +\\d+\\.\\d\\d M +\\d+ .*"), "the aeron-ipc row",
                timeout);
            bench.awaitLine(line -> line.matches("shm-queue/aeron-ipc = \\d+\\.\\dx"), "the ratio", timeout);
            bench.assertExit(0, timeout);
        }
        assertEquals(List.of(), aeronDirectoriesLeft());
    }

    /** The JSON document the benchmark prints, read line by line from its first line "{" to its last "}". */
    private static Map<?, ?> jsonDocument(final ChildJvm bench) {
        final StringBuilder text = new StringBuilder();
        bench.awaitLine(line -> {
            if (line.equals("{") || !text.isEmpty()) {
                text.append(line).append('\n');
            }
            return line.equals("}");
        }, "a whole JSON document", Duration.ofMinutes(1));
        try {
            return (Map<?, ?>) Json.parse(text);
        } catch (final IllegalArgumentException e) {
            throw new AssertionError(e.getMessage() + "\n" + bench.output(), e);
        }
    }

    private static List<Path> aeronDirectoriesLeft() throws IOException {
        try (Stream<Path> entries = Files.list(Path.of("/dev/shm"))) {
            return entries.filter(p -> p.getFileName().toString().startsWith("isthmus-bench-aeron-")).toList();
        }
    }
}
