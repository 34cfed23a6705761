/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools;

import dev.isthmus.shm.ResourceInfo;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.Resources;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code isthmus clean}: removes resources whose owner no longer runs; never a live owner's.
 */
@Command(name = "clean", mixinStandardHelpOptions = true,
    description = "Remove stale Isthmus resources, left by processes that no longer run. Live owners' resources are never touched.")
final class CleanCommand implements Callable<Integer> {
    @Option(names = "--dir", paramLabel = "DIR",
        description = "Where to look; repeatable (default: the segment directory, /dev/shm, and the run directory).")
    List<Path> directories;

    @Option(names = "--prefix", paramLabel = "PREFIX", description = "Resource name prefix (default: ${DEFAULT-VALUE}).")
    String prefix = ResourceName.configuredPrefix();

    @Option(names = "--mqueue-dir", paramLabel = "DIR",
        description = "Where the mqueue file system shows POSIX message queues (default: ${DEFAULT-VALUE}).")
    Path mqueueDirectory = Resources.DEFAULT_MQUEUE_DIRECTORY;

    @Option(names = {"-n", "--dry-run"}, description = "Only print what would be removed.")
    boolean dryRun;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    private List<Path> directories() {
        return directories == null || directories.isEmpty() ? Resources.defaultDirectories() : directories;
    }

    @Override
    public Integer call() {
        final PrintWriter out = spec.commandLine().getOut();
        final List<ResourceInfo> stale = new ArrayList<>(Resources.removeStale(directories(), prefix, dryRun));
        stale.addAll(Resources.removeStaleMessageQueues(mqueueDirectory, prefix, dryRun));
        for (final ResourceInfo info : stale) {
            out.println((dryRun ? "would remove " : "removed ") + info.path() + " (owner pid " + info.ownerPid() + ", "
                + info.detail() + ")");
        }
        out.println(stale.size() + " stale resource" + (stale.size() == 1 ? "" : "s") + (dryRun ? " found" : " removed"));
        Resources.messageQueueListingNote(mqueueDirectory).ifPresent(note -> out.println("note: " + note));
        out.flush();
        return 0;
    }
}
