/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.test;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Plants what a hostile user (or a confused one) can put under an Isthmus name in a shared directory: a
 * FIFO (which blocks a plain {@code open} for reading until a writer comes), a symbolic link (to anything),
 * a huge sparse file (which a careless reader loads whole), and gives them away to another user.
 */
public final class HostileEntries {
    /** A uid no account on the test machines has: the "other user" of root-only tests. */
    public static final int OTHER_UID = 64999;
    /** 3 GiB: more than a {@code byte[]} or a {@code String} can hold; sparse, so it costs no memory. */
    public static final long HUGE_BYTES = 3L << 30;

    private HostileEntries() {
    }

    /** {@return a pid that no process has now: that of a child that has exited and been reaped} */
    public static long deadPid() {
        try {
            final Process gone = new ProcessBuilder("true").start();
            if (!gone.waitFor(30, TimeUnit.SECONDS)) {
                gone.destroyForcibly();
                throw new AssertionError("true did not exit");
            }
            return gone.pid();
        } catch (final IOException e) {
            throw new UncheckedIOException(e);
        } catch (final InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /**
     * Creates a FIFO, mode 0600.
     *
     * @param path where
     * @return {@code path}
     */
    public static Path fifo(final Path path) {
        run(List.of("mkfifo", "-m", "600", path.toString()));
        return path;
    }

    /**
     * Creates a symbolic link.
     *
     * @param path   where
     * @param target what it points to (need not exist)
     * @return {@code path}
     */
    public static Path symlink(final Path path, final Path target) {
        try {
            return Files.createSymbolicLink(path, target);
        } catch (final IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Creates a sparse file of {@link #HUGE_BYTES}: no block is allocated, every byte reads as zero.
     *
     * @param path where
     * @return {@code path}
     */
    public static Path huge(final Path path) {
        try (RandomAccessFile file = new RandomAccessFile(path.toFile(), "rw")) {
            file.setLength(HUGE_BYTES);
        } catch (final IOException e) {
            throw new UncheckedIOException(e);
        }
        return path;
    }

    /**
     * Gives an entry to {@link #OTHER_UID} (as {@code lchown}: a symbolic link itself, not its target).
     * Needs root.
     *
     * @param path the entry
     * @return {@code path}
     */
    public static Path giveAway(final Path path) {
        try {
            Files.setAttribute(path, "unix:uid", OTHER_UID, LinkOption.NOFOLLOW_LINKS);
            Files.setAttribute(path, "unix:gid", OTHER_UID, LinkOption.NOFOLLOW_LINKS);
        } catch (final IOException e) {
            throw new UncheckedIOException(e);
        }
        return path;
    }

    /**
     * Removes entries, whatever they are, without following links; missing ones are fine.
     *
     * @param paths the entries
     */
    public static void removeAll(final Iterable<Path> paths) {
        for (final Path path : paths) {
            try {
                Files.deleteIfExists(path);
            } catch (final IOException e) {
                throw new UncheckedIOException("cannot remove " + path, e);
            }
        }
    }

    private static void run(final List<String> command) {
        try {
            final Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            final String output = new String(process.getInputStream().readAllBytes());
            if (!process.waitFor(30, TimeUnit.SECONDS) || process.exitValue() != 0) {
                process.destroyForcibly();
                throw new AssertionError(command + " failed: " + output);
            }
        } catch (final IOException e) {
            throw new UncheckedIOException(e);
        } catch (final InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
