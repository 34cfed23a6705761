/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.bench;

import dev.isthmus.test.ChildJvm;
import dev.isthmus.tools.Main;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Both benchmarks end to end, briefly, over every kind of transport: Isthmus's queue, the Unix socket and
 * Aeron IPC (its media driver embedded, and standalone in a JVM of its own for the latency), each pair of processes started and stopped, the JSON complete, and nothing left in
 * {@code /dev/shm} (Aeron's driver directory included). The benchmark JVM has native access only, as the
 * {@code isthmus} launcher gives it: Aeron runs in JVMs of its own. No figure is asserted: figures come from
 * running the benchmarks themselves.
 */
class BenchCommandTest {
    @Test
    void shouldRunTheQueueBenchmarkOverEveryKindOfTransportAndCompareWithEachBaseline() throws Exception {
        try (ChildJvm bench = ChildJvm.start(Main.class, "bench", "queue",
            "--transport=shm-queue,shm-queue-batched,uds,aeron-ipc", "--rounds=200", "--runs=2", "--warmup=1", "--json")) {
            bench.assertExit(0, Duration.ofMinutes(3));
            final String output = bench.output();
            for (final String transport : List.of("shm-queue", "shm-queue-batched", "uds", "aeron-ipc")) {
                assertTrue(output.contains("\"transport\": \"" + transport + "\""), output);
            }
            assertEquals(4, count(output, "\"msgs_per_sec\""), output);
            assertTrue(output.contains("\"idle\": \"busy-spin\""), "Aeron waits by spinning\n" + output);
            for (final String ratio : List.of("shm-queue/uds", "shm-queue/aeron-ipc", "shm-queue-batched/aeron-ipc")) {
                assertTrue(output.contains("\"" + ratio + "\""), ratio + "\n" + output);
            }
        }
        assertEquals(List.of(), aeronDirectoriesLeft());
    }

    @Test
    void shouldRunTheLatencyBenchmarkOverEveryKindOfTransportAndCompareWithEachBaseline() throws Exception {
        try (ChildJvm bench = ChildJvm.start(Main.class, "bench", "latency",
            "--transport=shm-queue,uds,aeron-ipc,aeron-ipc-standalone", "--idle=busy-spin", "--sizes=64",
            "--warmup-seconds=0.2", "--seconds=0.3", "--json")) {
            bench.assertExit(0, Duration.ofMinutes(3));
            final String output = bench.output();
            assertEquals(4, count(output, "\"p50_ns\""), output);
            assertEquals(4, count(output, "\"p999_ns\""), output);
            assertTrue(output.contains("\"baseline\": \"uds\"") && output.contains("\"baseline\": \"aeron-ipc\"")
                && output.contains("\"baseline\": \"aeron-ipc-standalone\""), output);
            assertEquals(3, count(output, "\"baseline_p50_over_p50\""), output);
        }
        assertEquals(List.of(), aeronDirectoriesLeft());
    }

    private static int count(final String text, final String what) {
        return text.split(java.util.regex.Pattern.quote(what), -1).length - 1;
    }

    private static List<Path> aeronDirectoriesLeft() throws IOException {
        try (Stream<Path> entries = Files.list(Path.of("/dev/shm"))) {
            return entries.filter(p -> p.getFileName().toString().startsWith("isthmus-bench-aeron-")).toList();
        }
    }
}
