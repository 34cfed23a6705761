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
    description = {"List Isthmus resources (shared memory, sockets, queues, pid files): name, kind, size, owner pid, "
        + "state (live, stale; foreign: another user's, not read; unreadable: not an Isthmus file, not read).",
        "Then the anonymous shared memory (memfd) live processes of this user hold: session queues, arena pools, "
        + "shared maps, stat files; seen in /proc/<pid>/fd, with no name to squat or sweep."})
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
        if (!staleOnly) {
            printAnonymous(out, anonymous(Path.of("/proc"), prefix));
        }
        out.flush();
        return 0;
    }

    /**
     * An anonymous file ({@code memfd}) with an Isthmus name that a live process holds open: a session's queue,
     * arena pool, return ring, shared map, or the process's stat file. It has no name in any directory, so only
     * {@code /proc/<pid>/fd} shows it; it is freed when the last process holding it lets go.
     *
     * @param pid       a process holding it (the lowest pid, if several do)
     * @param name      its name
     * @param sizeBytes its size
     * @param holders   how many processes hold it open
     */
    record Anonymous(long pid, ResourceName name, long sizeBytes, int holders) {
    }

    /** {@return the Isthmus memfds the processes this user may see hold open, one entry per file} */
    static List<Anonymous> anonymous(final Path proc, final String prefix) {
        final Map<Object, Anonymous> byFile = new java.util.LinkedHashMap<>();
        final List<Long> pids = new ArrayList<>();
        try (java.nio.file.DirectoryStream<Path> entries = java.nio.file.Files.newDirectoryStream(proc)) {
            for (final Path entry : entries) {
                final String name = entry.getFileName().toString();
                if (!name.isEmpty() && name.length() < 10 && name.chars().allMatch(Character::isDigit)) {
                    pids.add(Long.parseLong(name));
                }
            }
        } catch (final java.io.IOException e) {
            return List.of();
        }
        java.util.Collections.sort(pids);
        for (final long pid : pids) {
            try (java.nio.file.DirectoryStream<Path> fds = java.nio.file.Files.newDirectoryStream(
                proc.resolve(Long.toString(pid)).resolve("fd"))) {
                for (final Path fd : fds) {
                    final String target;
                    try {
                        target = java.nio.file.Files.readSymbolicLink(fd).toString();
                    } catch (final java.io.IOException | UnsupportedOperationException e) {
                        continue;
                    }
                    if (!target.startsWith("/memfd:" + prefix + ".")) {
                        continue;
                    }
                    String text = target.substring("/memfd:".length());
                    if (text.endsWith(" (deleted)")) {
                        text = text.substring(0, text.length() - " (deleted)".length());
                    }
                    final java.util.Optional<ResourceName> name = ResourceName.parse(text);
                    if (name.isEmpty()) {
                        continue;
                    }
                    final java.nio.file.attribute.BasicFileAttributes attributes;
                    try {
                        // Follows the link to the file itself: its identity and size.
                        attributes = java.nio.file.Files.readAttributes(fd, java.nio.file.attribute.BasicFileAttributes.class);
                    } catch (final java.io.IOException e) {
                        continue;
                    }
                    final Object key = attributes.fileKey() == null ? pid + ":" + fd.getFileName() : attributes.fileKey();
                    final Anonymous seen = byFile.get(key);
                    if (seen == null) {
                        byFile.put(key, new Anonymous(pid, name.get(), attributes.size(), 1));
                    } else if (seen.pid() != pid) {
                        byFile.put(key, new Anonymous(seen.pid(), seen.name(), seen.sizeBytes(), seen.holders() + 1));
                    }
                }
            } catch (final java.io.IOException | RuntimeException e) {
                // Another user's process, or gone: nothing of it to show.
            }
        }
        return List.copyOf(byFile.values());
    }

    static void printAnonymous(final PrintWriter out, final List<Anonymous> files) {
        if (files.isEmpty()) {
            return;
        }
        out.println();
        out.println("anonymous shared memory held by live processes (memfd, seen in /proc/<pid>/fd; freed with its last holder):");
        int width = "NAME".length() + 2;
        for (final Anonymous file : files) {
            width = Math.max(width, file.name().toString().length() + 2);
        }
        final String format = "%-" + width + "s  %-8s  %12s  %8s  %s%n";
        out.printf(format, "NAME", "KIND", "SIZE", "PID", "HELD BY");
        for (final Anonymous file : files) {
            out.printf(format, file.name(), file.name().kind(), file.sizeBytes(), file.pid(),
                file.holders() == 1 ? "1 process" : file.holders() + " processes");
        }
    }

    /** Session ids, as resource ids begin with them: {@code s<number>p<server pid>}. */
    private static final Pattern SESSION = Pattern.compile("s\\d+p\\d+");

    static void print(final PrintWriter out, final List<ResourceInfo> resources) {
        if (resources.isEmpty()) {
            out.println("no named Isthmus resources");
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
