/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import dev.isthmus.internal.linux.FileIo;
import dev.isthmus.test.HostileEntries;
import dev.isthmus.test.Privileges;
import dev.isthmus.test.RootOnly;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * What anyone can put under an Isthmus name in {@code /dev/shm} or a run directory, and that a listing or a
 * sweep must survive: a FIFO, a symbolic link, a 3 GiB sparse file, another user's file, a pid file whose text
 * lies. Each must be listed promptly, with a reason, and never make {@link Resources} hang, allocate by its
 * size, throw, or remove what is not this user's stale resource.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ResourcesHostileEntriesTest {
    private static final Path SHM = SharedMemory.DEFAULT_DIRECTORY;
    private static final String PREFIX = ResourceName.configuredPrefix();

    @TempDir
    Path runDir;

    @TempDir
    Path elsewhere;

    /** A fresh app name per test, so that the sweeps below consider only what the test planted. */
    private final String app = "hostile" + Integer.toUnsignedString(ThreadLocalRandom.current().nextInt(), 36);
    private final Predicate<ResourceName> planted = name -> name.app().equals(app);
    private final List<Path> created = new ArrayList<>();

    @AfterEach
    void removePlanted() {
        HostileEntries.removeAll(created);
    }

    private Path segmentName(final long pid, final String id) {
        final Path path = SHM.resolve(new ResourceName(PREFIX, app, pid, "seg", id).toString());
        created.add(path);
        return path;
    }

    private Path pidFileName(final String suffix) {
        final Path path = runDir.resolve(PREFIX + "." + app + suffix + ".pid");
        created.add(path);
        return path;
    }

    @Test
    void shouldListAFifoOfThisUserAsUnreadableAtOnceAndNeverRemoveIt() {
        final Path segmentFifo = HostileEntries.fifo(segmentName(HostileEntries.deadPid(), "fifo"));
        final Path pidFileFifo = HostileEntries.fifo(pidFileName(""));

        final ResourceInfo segment = find(SHM, segmentFifo);
        assertEquals(ResourceInfo.Liveness.UNREADABLE, segment.liveness(), segment.toString());
        assertTrue(segment.detail().contains("FIFO") && segment.detail().contains("never removed"), segment.detail());
        final ResourceInfo pidFile = find(runDir, pidFileFifo);
        assertEquals(ResourceInfo.Liveness.UNREADABLE, pidFile.liveness(), pidFile.toString());
        assertTrue(pidFile.detail().contains("FIFO"), pidFile.detail());

        final SweepReport report = Resources.removeStale(List.of(SHM, runDir), PREFIX, planted, false);
        assertEquals(List.of(), report.removed());
        assertEquals(List.of(), report.failures());
        assertEquals(List.of(segmentFifo, pidFileFifo), report.skipped().stream().map(ResourceInfo::path).toList());
        assertTrue(Files.exists(segmentFifo, LinkOption.NOFOLLOW_LINKS));
        assertTrue(Files.exists(pidFileFifo, LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void shouldJudgeA3GiBSparseFileByItsFirstBytesWithoutLoadingIt() {
        final Path segment = HostileEntries.huge(segmentName(HostileEntries.deadPid(), "huge"));
        final Path pidFile = HostileEntries.huge(pidFileName(""));

        final com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        final long before = threads.getCurrentThreadAllocatedBytes();
        final ResourceInfo segmentInfo = find(SHM, segment);
        final ResourceInfo pidFileInfo = find(runDir, pidFile);
        final long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        // The listing of /dev/shm itself allocates per entry; the files' 3 GiB are never read.
        assertTrue(allocated < 64L << 20, "allocated " + allocated + " bytes to list two 3 GiB files");

        assertEquals(HostileEntries.HUGE_BYTES, segmentInfo.sizeBytes());
        assertEquals(ResourceInfo.Liveness.STALE, segmentInfo.liveness(), segmentInfo.detail());
        assertTrue(segmentInfo.detail().startsWith("header not initialized"), segmentInfo.detail());
        assertEquals(HostileEntries.HUGE_BYTES, pidFileInfo.sizeBytes());
        assertEquals(ResourceInfo.Liveness.STALE, pidFileInfo.liveness(), "this user's, and nobody holds its lock");
        assertTrue(pidFileInfo.detail().contains("holds no"), pidFileInfo.detail());
        assertEquals(0, pidFileInfo.ownerPid());

        final SweepReport report = Resources.removeStale(List.of(SHM, runDir), PREFIX, planted, false);
        assertEquals(List.of(segment, pidFile), report.removed().stream().map(ResourceInfo::path).toList());
        assertTrue(report.isComplete(), report.toString());
        assertFalse(Files.exists(segment));
        assertFalse(Files.exists(pidFile));
    }

    @Test
    void shouldNeverFollowASymbolicLinkUnderAnIsthmusName() throws Exception {
        // The worst targets: a FIFO (following it would block) and a file that reads as a valid pid file.
        final Path fifo = HostileEntries.fifo(elsewhere.resolve("fifo"));
        final Path fake = Files.writeString(elsewhere.resolve("fake.pid"), "1 1\n");
        final Path segmentLink = HostileEntries.symlink(segmentName(HostileEntries.deadPid(), "link"), fifo);
        final Path pidFileLink = HostileEntries.symlink(pidFileName(""), fake);

        for (final ResourceInfo info : List.of(find(SHM, segmentLink), find(runDir, pidFileLink))) {
            assertEquals(ResourceInfo.Liveness.UNREADABLE, info.liveness(), info.toString());
            assertTrue(info.detail().contains("symbolic link"), info.detail());
        }
        final SweepReport report = Resources.removeStale(List.of(SHM, runDir), PREFIX, planted, false);
        assertEquals(List.of(segmentLink, pidFileLink), report.skipped().stream().map(ResourceInfo::path).toList());
        assertEquals(List.of(), report.removed());
        assertTrue(Files.isSymbolicLink(segmentLink) && Files.isSymbolicLink(pidFileLink));
        assertEquals("1 1\n", Files.readString(fake), "the target is untouched");
    }

    @Test
    void shouldJudgeAPidFileByItsLockWhateverItsTextSays() throws Exception {
        // Names this very process, which runs: the text says live, the lock (free) says stale.
        final ProcessIdentity me = ProcessIdentity.current();
        final Path unlocked = Files.writeString(pidFileName("a"), me.pid() + " " + me.startTimeTicks() + "\n");
        // Names a process that has exited, but is locked: live.
        final long dead = HostileEntries.deadPid();
        final Path locked = Files.writeString(pidFileName("b"), dead + " 0\n");
        final int fd = FileIo.tryOpen(locked.toString(), FileIo.O_RDONLY, 0);
        assertTrue(fd >= 0, "open: " + fd);
        try {
            assertTrue(FileIo.tryLockExclusive(fd, locked.toString()));

            final ResourceInfo stale = find(runDir, unlocked);
            assertEquals(ResourceInfo.Liveness.STALE, stale.liveness(), stale.detail());
            assertEquals(me.pid(), stale.ownerPid(), "the text still names the owner");
            assertTrue(stale.detail().contains("not locked"), stale.detail());
            final ResourceInfo live = find(runDir, locked);
            assertEquals(ResourceInfo.Liveness.LIVE, live.liveness(), live.detail());
            assertEquals(dead, live.ownerPid());

            final SweepReport report = Resources.removeStale(List.of(runDir), PREFIX,
                name -> name.app().startsWith(app), false);
            assertEquals(List.of(unlocked), report.removed().stream().map(ResourceInfo::path).toList());
            assertTrue(Files.exists(locked), "a locked pid file is never removed");
            assertFalse(Files.exists(unlocked));
        } finally {
            FileIo.close(fd);
        }
        final ResourceInfo released = find(runDir, locked);
        assertEquals(ResourceInfo.Liveness.STALE, released.liveness(), "the lock went with its holder");
        // Listing twice does not disturb a holder: listings take a shared lock only for a moment.
        assertEquals(ResourceInfo.Liveness.STALE, find(runDir, locked).liveness());
    }

    @Test
    void shouldListADirectoryUnderAPidFilesNameAsUnreadable() throws Exception {
        final Path directory = Files.createDirectory(pidFileName("dir"));
        final ResourceInfo info = find(runDir, directory);
        assertEquals(ResourceInfo.Liveness.UNREADABLE, info.liveness());
        assertTrue(info.detail().startsWith("a directory"), info.detail());
    }

    @Test
    void shouldGoOnPastAStaleEntryItCannotRemoveAndReportIt() throws Exception {
        assumeFalse(Privileges.overridesFileModes(), "file modes do not apply to this process: every unlink succeeds");
        final Path locked = Files.createDirectory(elsewhere.resolve("read-only"));
        final long dead = HostileEntries.deadPid();
        final Path stuck = Files.createFile(locked.resolve(new ResourceName(PREFIX, app, dead, "sock", "a").toString()));
        final Path free = Files.createFile(runDir.resolve(new ResourceName(PREFIX, app, dead, "sock", "b").toString()));
        Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("r-x------"));
        try {
            final SweepReport report = Resources.removeStale(List.of(locked, runDir), PREFIX, planted, false);
            assertEquals(1, report.failures().size(), report.toString());
            assertEquals(stuck, report.failures().getFirst().resource().path());
            assertTrue(report.failures().getFirst().reason().startsWith("unlink: EACCES"), report.toString());
            assertFalse(report.isComplete());
            assertEquals(List.of(free), report.removed().stream().map(ResourceInfo::path).toList(),
                "the next directory is still swept");
            assertTrue(Files.exists(stuck));
            assertFalse(Files.exists(free));
        } finally {
            Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("rwx------"));
        }
    }

    @Test
    @RootOnly("chowns the planted entries to another user (uid 64999)")
    void shouldListEntriesOfAnotherUserAsForeignWithoutReadingOrRemovingThem() throws Exception {
        final long dead = HostileEntries.deadPid();
        final Path fifo = HostileEntries.giveAway(HostileEntries.fifo(segmentName(dead, "fifo")));
        final Path link = HostileEntries.giveAway(HostileEntries.symlink(segmentName(dead, "link"), elsewhere));
        final Path huge = HostileEntries.giveAway(HostileEntries.huge(segmentName(dead, "huge")));
        final Path pidFifo = HostileEntries.giveAway(HostileEntries.fifo(pidFileName("fifo")));
        final Path pidLink = HostileEntries.giveAway(HostileEntries.symlink(pidFileName("link"), elsewhere));
        final Path pidHuge = HostileEntries.giveAway(HostileEntries.huge(pidFileName("huge")));
        // A well-formed but unlocked pid file of the other user: stale by our rules, and still not ours to remove.
        final Path pidPlain = HostileEntries.giveAway(Files.writeString(pidFileName("plain"), dead + " 0\n"));
        final List<Path> all = List.of(fifo, link, huge, pidFifo, pidLink, pidHuge, pidPlain);

        for (final Path path : all) {
            final ResourceInfo info = find(path.startsWith(runDir) ? runDir : SHM, path);
            assertEquals(ResourceInfo.Liveness.FOREIGN, info.liveness(), info.toString());
            assertTrue(info.detail().startsWith("owned by uid " + HostileEntries.OTHER_UID + ", not by this user"),
                info.detail());
            assertTrue(info.isSkipped());
        }
        final SweepReport report = Resources.removeStale(List.of(SHM, runDir), PREFIX,
            name -> name.app().startsWith(app), false);
        assertEquals(List.of(), report.removed(), "not even root removes another user's entries");
        assertEquals(List.of(), report.failures());
        assertEquals(all.size(), report.skipped().size(), report.toString());
        for (final Path path : all) {
            assertTrue(Files.exists(path, LinkOption.NOFOLLOW_LINKS), path + " was removed");
        }
        assertEquals(dead + " 0\n", Files.readString(pidPlain, StandardCharsets.US_ASCII));
    }

    private static ResourceInfo find(final Path directory, final Path path) {
        return Resources.list(directory, PREFIX).stream()
            .filter(info -> info.path().equals(path))
            .findFirst()
            .orElseThrow(() -> new AssertionError(path + " not listed"));
    }
}
