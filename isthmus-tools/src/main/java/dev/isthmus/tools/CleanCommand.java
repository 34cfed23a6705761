/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools;

import dev.isthmus.shm.ResourceInfo;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.Resources;
import dev.isthmus.shm.SweepReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code isthmus clean}: removes resources whose owner no longer runs; never a live owner's, nor another
 * user's, nor anything that is not an Isthmus file (a FIFO, a symbolic link).
 *
 * <p>Goes on past whatever it cannot remove, and prints it: {@code skipped} for entries it leaves alone on
 * purpose, {@code cannot remove} for stale resources whose removal failed. Exits with 0 if every stale
 * resource found was removed (skipped entries do not count against it), 1 otherwise.
 */
@Command(name = "clean", mixinStandardHelpOptions = true,
    description = {"Remove stale Isthmus resources, left by processes that no longer run. Live owners' resources are never "
        + "touched, nor other users' resources, nor entries that are not Isthmus files (FIFOs, symbolic links): those are "
        + "listed as skipped. Run it as the user whose resources to remove.",
        "Exit status: 0 if every stale resource found was removed, 1 if some could not be (each is printed)."})
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
        final SweepReport report = Resources.removeStale(directories(), prefix, dryRun)
            .plus(Resources.removeStaleMessageQueues(mqueueDirectory, prefix, dryRun));
        for (final ResourceInfo info : report.removed()) {
            out.println((dryRun ? "would remove " : "removed ") + info.path() + " (owner pid " + info.ownerPid() + ", "
                + info.detail() + ")");
        }
        for (final SweepReport.Failure failure : report.failures()) {
            out.println("cannot remove " + failure.resource().path() + " (owner pid " + failure.resource().ownerPid() + ", "
                + failure.resource().detail() + "): " + failure.reason());
        }
        for (final ResourceInfo info : report.skipped()) {
            out.println("skipped " + info.path() + " (" + info.liveness().name().toLowerCase(java.util.Locale.ROOT) + "): "
                + info.detail());
        }
        final int removed = report.removed().size();
        out.println(removed + " stale resource" + (removed == 1 ? "" : "s") + (dryRun ? " found" : " removed")
            + (report.failures().isEmpty() ? "" : ", " + report.failures().size() + " could not be removed")
            + (report.skipped().isEmpty() ? "" : ", " + report.skipped().size() + " skipped (other users' or not Isthmus files)"));
        Resources.messageQueueListingNote(mqueueDirectory).ifPresent(note -> out.println("note: " + note));
        out.flush();
        return report.isComplete() ? 0 : 1;
    }
}
