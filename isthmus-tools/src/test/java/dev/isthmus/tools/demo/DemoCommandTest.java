/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.demo;

import dev.isthmus.test.ChildJvm;
import dev.isthmus.tools.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The demo end to end, small: the cache client in a child JVM starts the cache server in another, both
 * modes answer and verify, and nothing is left in shared memory. No timing is asserted: figures come
 * from running the demo itself.
 */
class DemoCommandTest {
    @Test
    void shouldServeAndVerifyEverySizeInBothModesAndLeaveNothingBehind(@TempDir final Path dir) throws Exception {
        final Path chart = dir.resolve("chart.png");
        try (ChildJvm demo = ChildJvm.start(Main.class, "demo", "--sizes", "100K,1M,3M", "--requests", "3",
            "--zero-copy-requests", "5", "--sweeps", "2", "--warmup", "1", "--jit-warmup", "200", "--chart", chart.toString(), "--json")) {
            demo.assertExit(0, Duration.ofMinutes(5));
            final String output = demo.output();
            for (final String size : new String[] {"102400", "1048576", "3145728"}) {
                assertTrue(output.contains("\"size_bytes\": " + size), output);
            }
            assertEquals(3, output.split("\"verified\": true", -1).length - 1, output);
            assertTrue(output.contains("\"shared_memory_left_behind\": []"), output);
            for (final String key : new String[] {"classic_p50_ns", "classic_p99_ns", "zero_copy_p50_ns", "zero_copy_p99_ns",
                "zero_copy_spread", "zero_copy_back_to_back_p50_ns", "zero_copy_server_asleep_p99_ns",
                "zero_copy_server_asleep_sweep_p50_ns", "wake_up_estimate_ns", "server_asleep_quiet_ns",
                "futex_wake_up_same_quiet_p50_ns", "futex_wake_up_same_quiet_p99_ns", "futex_wake_up_same_quiet_sweep_p50_ns",
                "server_asleep_over_wake_up_ns", "zero_copy_client_idle_p50_ns", "zero_copy_client_idle_sweep_p50_ns",
                "client_idle_ns", "client_idle_over_back_to_back_ns", "verifying_over_client_idle_ns", "ratio"}) {
                assertTrue(output.contains("\"" + key + "\""), key + " in " + output);
            }
        }
        assertTrue(Files.size(chart) > 1000, "a PNG chart was written");
    }
}
