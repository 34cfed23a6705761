/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.test;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.RunDirectory;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * Fails a test class that leaves Isthmus resources behind in {@code /dev/shm} (or the configured
 * segment directory) and removes what it left, so that one leak does not fail every later class.
 *
 * <p>Registered for every test class through JUnit's extension auto-detection
 * ({@code META-INF/services} and {@code junit-platform.properties} in the test resources).
 */
public final class NoLeftovers implements BeforeAllCallback, AfterAllCallback {
    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(NoLeftovers.class);

    /**
     * {@return the directories checked: the segment directory, and the run directory (the configured one,
     * or the default one this process resolves)}
     */
    public static List<Path> watchedDirectories() {
        final List<Path> dirs = new ArrayList<>();
        dirs.add(Path.of(System.getProperty("isthmus.shm.dir", "/dev/shm")));
        final String runDir = System.getProperty("isthmus.run.dir");
        final Path run = runDir != null ? Path.of(runDir) : RunDirectory.path();
        if (!dirs.contains(run)) {
            dirs.add(run);
        }
        return dirs;
    }

    /**
     * {@return the Isthmus entries now present in the watched directories that this test run created:
     * those whose name carries the pid of this JVM or of a child it started}
     *
     * <p>Other processes' entries are left alone: test runs of other checkouts, benchmarks and demos may
     * run on the same machine at the same time, and their live resources must not be reported, let alone
     * removed, here.
     */
    public static Set<Path> snapshot() {
        final String prefix = System.getProperty("isthmus.prefix", "isthmus") + ".";
        final Set<Path> found = new TreeSet<>();
        for (final Path dir : watchedDirectories()) {
            if (!Files.isDirectory(dir)) {
                continue;
            }
            try (Stream<Path> entries = Files.list(dir)) {
                entries.filter(p -> p.getFileName().toString().startsWith(prefix) && isThisRuns(p)).forEach(found::add);
            } catch (final IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return found;
    }

    private static boolean isThisRuns(final Path entry) {
        final String fileName = entry.getFileName().toString();
        return ResourceName.parse(fileName)
            .map(name -> isThisRuns(name.pid()))
            // A server app's pid file ("<prefix>.<app>.pid") names its owner inside: another run's server (a demo,
            // another checkout's suite) is left alone. Any other name outside the scheme has no owner to tell by:
            // report it, as before.
            .orElseGet(() -> !fileName.endsWith(".pid") || pidInside(entry) < 0 || isThisRuns(pidInside(entry)));
    }

    private static boolean isThisRuns(final long pid) {
        return pid == ProcessHandle.current().pid() || ChildJvm.startedPids().contains(pid);
    }

    /** {@return the pid a pid file's first word gives, or -1 if it cannot be read as one} */
    private static long pidInside(final Path pidFile) {
        try {
            final String[] words = Files.readString(pidFile, java.nio.charset.StandardCharsets.US_ASCII).strip()
                .split("\\s+");
            return Long.parseLong(words[0]);
        } catch (final IOException | NumberFormatException | UncheckedIOException e) {
            return -1;
        }
    }

    @Override
    public void beforeAll(final ExtensionContext context) {
        context.getStore(NAMESPACE).put("before", snapshot());
    }

    @Override
    public void afterAll(final ExtensionContext context) {
        @SuppressWarnings("unchecked") final Set<Path> before = (Set<Path>) context.getStore(NAMESPACE).get("before");
        final Set<Path> leaked = new TreeSet<>(snapshot());
        leaked.removeAll(before);
        if (leaked.isEmpty()) {
            return;
        }
        for (final Path path : leaked) {
            try {
                Files.deleteIfExists(path);
            } catch (final IOException ignored) {
                // reported below either way
            }
        }
        throw new AssertionError(context.getDisplayName() + " left Isthmus resources behind (now removed): " + leaked);
    }
}
