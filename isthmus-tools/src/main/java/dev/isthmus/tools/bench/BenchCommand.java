/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.bench;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code isthmus bench}: benchmarks between two JVMs on this host.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
    description = "Benchmarks between two JVMs, each transport side by side in the same run.",
    subcommands = {QueueBench.class, LatencyBench.class})
public final class BenchCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
