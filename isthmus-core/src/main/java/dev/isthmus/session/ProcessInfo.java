/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * What {@code /proc} says a process runs: its executable, its command line, and for a JVM its main class
 * or jar.
 *
 * @param pid        the process id
 * @param executable the executable, or empty if it cannot be read (another user's process, unless root)
 * @param arguments  the command line
 * @param mainClass  for a JVM, the main class (or {@code module/class}) it was started with
 * @param jar        for a JVM started with {@code -jar}, the jar as an absolute path
 */
public record ProcessInfo(long pid, Optional<Path> executable, List<String> arguments, Optional<String> mainClass,
                          Optional<Path> jar) {
    /** Launcher options that take the next argument as their value. */
    private static final Set<String> OPTIONS_WITH_VALUE = Set.of("-cp", "-classpath", "--class-path", "-p",
        "--module-path", "--upgrade-module-path", "--add-modules", "--limit-modules", "--add-reads", "--add-exports",
        "--add-opens", "--patch-module", "--enable-native-access", "--source", "--describe-module", "-d");

    /**
     * Reads a process's description.
     *
     * @param pid the process id
     * @return the description, or empty if the process does not exist (any more)
     */
    public static Optional<ProcessInfo> of(final long pid) {
        final Path proc = Path.of("/proc", Long.toString(pid));
        final List<String> arguments;
        try {
            arguments = splitCommandLine(Files.readAllBytes(proc.resolve("cmdline")));
        } catch (final NoSuchFileException e) {
            return Optional.empty();
        } catch (final IOException e) {
            return Optional.empty();
        }
        Optional<Path> executable;
        try {
            executable = Optional.of(Files.readSymbolicLink(proc.resolve("exe")));
        } catch (final AccessDeniedException e) {
            executable = Optional.empty();
        } catch (final IOException e) {
            executable = Optional.empty();
        }
        Path cwd;
        try {
            cwd = Files.readSymbolicLink(proc.resolve("cwd"));
        } catch (final IOException e) {
            cwd = null;
        }
        return Optional.of(parse(pid, executable, arguments, cwd));
    }

    static ProcessInfo parse(final long pid, final Optional<Path> executable, final List<String> arguments,
                             final Path cwd) {
        String mainClass = null;
        Path jar = null;
        for (int i = 1; i < arguments.size(); i++) {
            final String argument = arguments.get(i);
            if (argument.equals("-jar") && i + 1 < arguments.size()) {
                final Path path = Path.of(arguments.get(i + 1));
                jar = (path.isAbsolute() || cwd == null ? path : cwd.resolve(path)).normalize();
                break;
            }
            if ((argument.equals("-m") || argument.equals("--module")) && i + 1 < arguments.size()) {
                mainClass = arguments.get(i + 1);
                break;
            }
            if (argument.startsWith("--module=")) {
                mainClass = argument.substring("--module=".length());
                break;
            }
            if (OPTIONS_WITH_VALUE.contains(argument)) {
                i++;
                continue;
            }
            if (argument.startsWith("-") || argument.startsWith("@")) {
                continue;
            }
            mainClass = argument;
            break;
        }
        return new ProcessInfo(pid, executable, List.copyOf(arguments), Optional.ofNullable(mainClass),
            Optional.ofNullable(jar));
    }

    private static List<String> splitCommandLine(final byte[] bytes) {
        final List<String> arguments = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == 0) {
                arguments.add(new String(bytes, start, i - start, StandardCharsets.UTF_8));
                start = i + 1;
            }
        }
        if (start < bytes.length) {
            arguments.add(new String(bytes, start, bytes.length - start, StandardCharsets.UTF_8));
        }
        return arguments;
    }
}
