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
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;

/**
 * {@code isthmus ls}: lists the resources Isthmus processes created, live or stale, and the entries under
 * Isthmus names it did not judge: {@code foreign} (another user's) or {@code unreadable} (a FIFO, a symbolic
 * link, anything else Isthmus does not create), each with the reason.
 */
@Command(name = "ls", mixinStandardHelpOptions = true,
    description = "List Isthmus resources (shared memory, sockets, queues, pid files): name, kind, size, owner pid, "
        + "state (live, stale; foreign: another user's, not read; unreadable: not an Isthmus file, not read).")
final class ListCommand implements Callable<Integer> {
    @Option(names = "--dir", paramLabel = "DIR",
        description = "Where to look; repeatable (default: the segment directory, /dev/shm, and the run directory).")
    List<Path> directories;

    @Option(names = "--prefix", paramLabel = "PREFIX", description = "Resource name prefix (default: ${DEFAULT-VALUE}).")
    String prefix = ResourceName.configuredPrefix();

    @Option(names = "--mqueue-dir", paramLabel = "DIR",
        description = "Where the mqueue file system shows POSIX message queues (default: ${DEFAULT-VALUE}).")
    Path mqueueDirectory = Resources.DEFAULT_MQUEUE_DIRECTORY;

    @Option(names = "--stale", description = "Only list stale resources.")
    boolean staleOnly;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    private List<Path> directories() {
        return directories == null || directories.isEmpty() ? Resources.defaultDirectories() : directories;
    }

    @Override
    public Integer call() {
        final List<ResourceInfo> all = new ArrayList<>(Resources.list(directories(), prefix));
        all.addAll(Resources.listMessageQueues(mqueueDirectory, prefix));
        final List<ResourceInfo> resources = all.stream()
            .filter(info -> !staleOnly || info.isStale())
            .toList();
        final PrintWriter out = spec.commandLine().getOut();
        print(out, resources);
        Resources.messageQueueListingNote(mqueueDirectory).ifPresent(note -> out.println("note: " + note));
        out.flush();
        return 0;
    }

    /** Session ids, as resource ids begin with them: {@code s<number>p<server pid>}. */
    private static final Pattern SESSION = Pattern.compile("s\\d+p\\d+");

    static void print(final PrintWriter out, final List<ResourceInfo> resources) {
        if (resources.isEmpty()) {
            out.println("no Isthmus resources");
            out.flush();
            return;
        }
        final Map<String, List<ResourceInfo>> sessions = new TreeMap<>();
        final List<ResourceInfo> others = new ArrayList<>();
        int width = "NAME".length() + 2;
        for (final ResourceInfo info : resources) {
            width = Math.max(width, info.path().getFileName().toString().length() + 2);
            final String group = info.name().group();
            if (SESSION.matcher(group).matches()) {
                sessions.computeIfAbsent(group, g -> new ArrayList<>()).add(info);
            } else {
                others.add(info);
            }
        }
        final String format = "%-" + width + "s  %-6s  %12s  %8s  %-10s  %s%n";
        out.printf(format, "NAME", "KIND", "SIZE", "PID", "STATE", "DETAIL");
        for (final Map.Entry<String, List<ResourceInfo>> session : sessions.entrySet()) {
            final long stale = session.getValue().stream().filter(ResourceInfo::isStale).count();
            final long skipped = session.getValue().stream().filter(ResourceInfo::isSkipped).count();
            final String state;
            if (stale > 0) {
                state = "stale (" + stale + " of " + session.getValue().size() + " resources have a dead owner)";
            } else if (skipped == session.getValue().size()) {
                state = "not judged (other users' entries, or not Isthmus files)";
            } else {
                state = "live";
            }
            out.printf("session %s: %s%n", session.getKey(), state);
            for (final ResourceInfo info : session.getValue()) {
                row(out, format, "  ", info);
            }
        }
        if (!sessions.isEmpty() && !others.isEmpty()) {
            out.println("not in a session:");
        }
        for (final ResourceInfo info : others) {
            row(out, format, sessions.isEmpty() ? "" : "  ", info);
        }
        out.flush();
    }

    private static void row(final PrintWriter out, final String format, final String indent, final ResourceInfo info) {
        out.printf(format, indent + info.path().getFileName(), info.name().kind(), info.sizeBytes(), info.ownerPid(),
            info.liveness().name().toLowerCase(java.util.Locale.ROOT), info.detail());
    }
}
