/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.test.ChildJvm;
import dev.isthmus.test.HostileEntries;
import dev.isthmus.test.Privileges;
import dev.isthmus.test.RootOnly;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * {@code isthmus ls} and {@code isthmus clean} with a FIFO, a symbolic link and a 3 GiB sparse file under
 * Isthmus names, this user's or another's, in {@code /dev/shm} and in a run directory: both finish at once,
 * exit 0, and say what each entry is; {@code clean} removes only this user's stale files.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ListAndCleanHostileEntriesTest {
    private static final Path SHM = SharedMemory.DEFAULT_DIRECTORY;
    private static final String PREFIX = ResourceName.configuredPrefix();

    @TempDir
    Path runDir;

    @TempDir
    Path elsewhere;

    private final String app = "clihostile" + Integer.toUnsignedString(ThreadLocalRandom.current().nextInt(), 36);
    private final List<Path> created = new ArrayList<>();

    @AfterEach
    void removePlanted() {
        HostileEntries.removeAll(created);
    }

    private Path segment(final long pid, final String id) {
        final Path path = SHM.resolve(new ResourceName(PREFIX, app, pid, "seg", id).toString());
        created.add(path);
        return path;
    }

    private Path pidFile(final String suffix) {
        final Path path = runDir.resolve(PREFIX + "." + app + suffix + ".pid");
        created.add(path);
        return path;
    }

    @Test
    void shouldListAndCleanPastAFifoASymbolicLinkAndAHugeFileOfThisUser() {
        final long dead = HostileEntries.deadPid();
        final Path fifo = HostileEntries.fifo(segment(dead, "fifo"));
        final Path link = HostileEntries.symlink(segment(dead, "link"), HostileEntries.fifo(elsewhere.resolve("fifo")));
        final Path huge = HostileEntries.huge(segment(dead, "huge"));
        final Path pidFifo = HostileEntries.fifo(pidFile("fifo"));
        final Path pidHuge = HostileEntries.huge(pidFile("huge"));

        final String listing = runCli("ls", "--dir", SHM.toString(), "--dir", runDir.toString());
        for (final Path path : List.of(fifo, pidFifo)) {
            assertTrue(lineOf(listing, path).contains(" unreadable ") && lineOf(listing, path).contains("a FIFO"), listing);
        }
        assertTrue(lineOf(listing, link).contains(" unreadable ") && lineOf(listing, link).contains("a symbolic link"),
            listing);
        for (final Path path : List.of(huge, pidHuge)) {
            assertTrue(lineOf(listing, path).contains(" " + HostileEntries.HUGE_BYTES + " "), listing);
            assertTrue(lineOf(listing, path).contains(" stale "), listing);
        }

        final String cleaned = runCli("clean", "--dir", SHM.toString(), "--dir", runDir.toString());
        assertTrue(cleaned.contains("removed " + huge + " "), cleaned);
        assertTrue(cleaned.contains("removed " + pidHuge + " "), cleaned);
        for (final Path path : List.of(fifo, link, pidFifo)) {
            assertTrue(cleaned.contains("skipped " + path + " (unreadable): a "), cleaned);
            assertTrue(Files.exists(path, LinkOption.NOFOLLOW_LINKS), path + " was removed");
        }
        assertTrue(cleaned.lines().anyMatch(line -> line.contains("stale resources removed") && line.contains("skipped")),
            cleaned);
        assertFalse(cleaned.contains("cannot remove"), cleaned);
        assertFalse(Files.exists(huge));
        assertFalse(Files.exists(pidHuge));
    }

    @Test
    void shouldExitWith1AndSayWhatItCouldNotRemoveAfterRemovingTheRest() throws Exception {
        assumeFalse(Privileges.overridesFileModes(), "file modes do not apply to this process: every unlink succeeds");
        final Path locked = Files.createDirectory(elsewhere.resolve("read-only"));
        final long dead = HostileEntries.deadPid();
        final Path stuck = Files.createFile(locked.resolve(new ResourceName(PREFIX, app, dead, "sock", "a").toString()));
        final Path free = HostileEntries.huge(segment(dead, "b"));
        Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("r-x------"));
        try {
            final String cleaned = runCli(1, "clean", "--dir", locked.toString(), "--dir", SHM.toString());
            assertTrue(cleaned.contains("cannot remove " + stuck + " (owner pid " + dead + ", ")
                && cleaned.contains("unlink: EACCES"), cleaned);
            assertTrue(cleaned.contains("removed " + free + " "), cleaned);
            assertTrue(cleaned.lines().anyMatch(line -> line.contains("1 could not be removed")), cleaned);
            assertTrue(Files.exists(stuck));
            assertFalse(Files.exists(free));
        } finally {
            Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("rwx------"));
        }
    }

    @Test
    @RootOnly("chowns the planted entries to another user (uid 64999)")
    void shouldListAndCleanPastEntriesOfAnotherUserWithoutTouchingThem() {
        final long dead = HostileEntries.deadPid();
        final List<Path> planted = List.of(
            HostileEntries.fifo(segment(dead, "fifo")),
            HostileEntries.symlink(segment(dead, "link"), elsewhere),
            HostileEntries.huge(segment(dead, "huge")),
            HostileEntries.fifo(pidFile("fifo")),
            HostileEntries.symlink(pidFile("link"), elsewhere),
            HostileEntries.huge(pidFile("huge")));
        planted.forEach(HostileEntries::giveAway);

        final String listing = runCli("ls", "--dir", SHM.toString(), "--dir", runDir.toString());
        for (final Path path : planted) {
            assertTrue(lineOf(listing, path).contains(" foreign ")
                && lineOf(listing, path).contains("owned by uid " + HostileEntries.OTHER_UID), listing);
        }
        final String cleaned = runCli("clean", "--dir", SHM.toString(), "--dir", runDir.toString());
        for (final Path path : planted) {
            assertTrue(cleaned.contains("skipped " + path + " (foreign): owned by uid " + HostileEntries.OTHER_UID), cleaned);
            assertTrue(Files.exists(path, LinkOption.NOFOLLOW_LINKS), path + " was removed");
        }
        assertFalse(cleaned.contains("cannot remove"), cleaned);
    }

    /** Runs the CLI in a child JVM, expecting exit 0; a hang fails here, after a minute, not the whole build. */
    private static String runCli(final String... args) {
        return runCli(0, args);
    }

    private static String runCli(final int exitCode, final String... args) {
        try (ChildJvm cli = ChildJvm.start(Main.class, args)) {
            cli.assertExit(exitCode, Duration.ofSeconds(60));
            return cli.output();
        }
    }

    private static String lineOf(final String output, final Path path) {
        final String name = path.getFileName().toString();
        return output.lines().filter(line -> line.contains(name + " ")).findFirst()
            .orElseThrow(() -> new AssertionError("no line with " + name + " in\n" + output));
    }
}
