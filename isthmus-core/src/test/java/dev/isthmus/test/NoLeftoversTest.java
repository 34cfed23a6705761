/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.test;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the leftover check takes for this run's: a server app's pid file counts only if it names this JVM or
 * a child it started, so that a suite never reports, nor removes, the pid file of a server another run
 * (a demo, another checkout's suite) has running on the same machine.
 */
class NoLeftoversTest {
    @Test
    void shouldTakeAPidFileForThisRunsOnlyIfItNamesThisRunsProcess() throws Exception {
        final Path run = NoLeftovers.watchedDirectories().getLast();
        Files.createDirectories(run);
        final String prefix = System.getProperty("isthmus.prefix", "isthmus");
        final Path others = run.resolve(prefix + ".leftoverTestOther" + ProcessHandle.current().pid() + ".pid");
        final Path ours = run.resolve(prefix + ".leftoverTestOurs" + ProcessHandle.current().pid() + ".pid");
        try {
            // pid 1 runs on every machine, and is never this JVM nor one of its children.
            Files.writeString(others, "1 0\n", StandardCharsets.US_ASCII);
            Files.writeString(ours, ProcessHandle.current().pid() + " 0\n", StandardCharsets.US_ASCII);
            assertFalse(NoLeftovers.snapshot().contains(others), "another process's pid file is not this run's");
            assertTrue(NoLeftovers.snapshot().contains(ours), "this JVM's pid file is");
        } finally {
            Files.deleteIfExists(others);
            Files.deleteIfExists(ours);
        }
    }
}
