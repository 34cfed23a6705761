/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.IsthmusException;
import dev.isthmus.internal.linux.Credentials;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceInfo;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.Resources;
import dev.isthmus.shm.SweepReport;
import dev.isthmus.test.ChildJvm;
import dev.isthmus.test.HostileEntries;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pid file's lock is the truth about whether a server instance runs, and its protocol (check the inode
 * after locking, unlink before unlocking) keeps two instances from both owning the name.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class PidFileTest {
    private static final String PREFIX = ResourceName.configuredPrefix();

    @TempDir
    Path runDir;

    private final String app = "pidf" + Integer.toUnsignedString(ThreadLocalRandom.current().nextInt(), 36);

    @Test
    void shouldCallALockedPidFileLiveWhateverItSaysAndStaleOnceItsHolderIsKilled() throws Exception {
        final TestUniverse universe = new TestUniverse(app, app + "cli", runDir, PermissionLevel.USER_ACCESS, "-",
            Credentials.effectiveUid(), Credentials.effectiveGid());
        final Path pidFile = PidFile.path(runDir, app);
        try (ChildJvm server = ChildJvm.start(SessionPeerMain.class, args(universe))) {
            server.awaitReady();
            // The holder's text now names a process that has exited: the lock still says it runs.
            final long dead = HostileEntries.deadPid();
            Files.writeString(pidFile, dead + " 0\n", StandardCharsets.US_ASCII);
            final ResourceInfo live = find(pidFile);
            assertEquals(ResourceInfo.Liveness.LIVE, live.liveness(), live.detail());
            assertEquals(dead, live.ownerPid());
            assertEquals(List.of(), Resources.removeStale(runDir, PREFIX, false).removed(),
                "nothing of a running server is removed, whatever its pid file says");

            server.kill9();
            final ResourceInfo stale = find(pidFile);
            assertEquals(ResourceInfo.Liveness.STALE, stale.liveness(), stale.detail());
            assertTrue(stale.detail().contains("not locked"), stale.detail());
        }
        // The next instance takes the name over (its sweep removes the dead one's socket) and gives it back.
        try (SessionServer next = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            assertEquals(ResourceInfo.Liveness.LIVE, find(pidFile).liveness());
            assertEquals(ProcessHandle.current().pid(), find(pidFile).ownerPid());
            assertEquals(2, entries().size(), "its pid file and socket only: " + entries());
        }
        assertEquals(List.of(), entries());
    }

    @Test
    void shouldWaitForAStartingInstanceToSayWhoItIsAndCallAnUnlockedEmptyFileNotRunning() throws Exception {
        final Path pidFile = PidFile.path(runDir, app);
        // Created and not yet locked or written: nobody runs.
        Files.createFile(pidFile);
        final dev.isthmus.shm.NoSuchResourceException none = assertThrows(dev.isthmus.shm.NoSuchResourceException.class,
            () -> PidFile.read(runDir, app, Credentials.effectiveUid()));
        assertTrue(none.getMessage().contains("is not running"), none.getMessage());

        // Locked, still empty, written 50 ms later: the reader waits for the text instead of calling it corrupt.
        final String what = pidFile.toString();
        final int fd = dev.isthmus.internal.linux.FileIo.tryOpen(what, dev.isthmus.internal.linux.FileIo.O_RDWR, 0);
        assertTrue(fd >= 0);
        try {
            assertTrue(dev.isthmus.internal.linux.FileIo.tryLockExclusive(fd, what));
            final Thread writer = Thread.ofPlatform().start(() -> {
                LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
                try {
                    Files.writeString(pidFile, "4242 777\n", StandardCharsets.US_ASCII);
                } catch (final java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            assertEquals(new ProcessIdentity(4242, 777), PidFile.read(runDir, app, Credentials.effectiveUid()));
            writer.join();

            // Locked and never saying anything sensible: corrupt, after a bounded wait.
            Files.writeString(pidFile, "not a pid\n", StandardCharsets.US_ASCII);
            final long start = System.nanoTime();
            final dev.isthmus.CorruptDataException corrupt = assertThrows(dev.isthmus.CorruptDataException.class,
                () -> PidFile.read(runDir, app, Credentials.effectiveUid()));
            assertTrue(corrupt.getMessage().contains("not a pid"), corrupt.getMessage());
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5));
        } finally {
            dev.isthmus.internal.linux.FileIo.close(fd);
        }
    }

    @Test
    void shouldRemoveAStalePidFileAndNothingElseOfARunningServer() throws Exception {
        final ProcessIdentity me = ProcessIdentity.current();
        final Path stale = Files.writeString(PidFile.path(runDir, app + "old"), me.pid() + " " + me.startTimeTicks());
        try (PidFile held = PidFile.acquire(runDir, app, PermissionLevel.USER_ACCESS)) {
            final SweepReport report = Resources.removeStale(runDir, PREFIX, false);
            assertEquals(List.of(stale), report.removed().stream().map(ResourceInfo::path).toList(),
                "the unlocked one, though it names this running process");
            assertTrue(Files.exists(held.path()));
        }
        assertEquals(List.of(), entries(), "close removed the held one");
    }

    /**
     * Two would-be instances take and give back the name as fast as they can while a sweeper removes stale pid
     * files: at no moment may both hold it, and whoever holds it finds its own identity under the name. Without
     * the same-inode check after locking, a contender locks a file the other instance (or the sweeper) just
     * unlinked and believes it owns the name.
     */
    @Test
    void shouldNeverLetTwoInstancesOwnTheNameWhileTheyRaceEachOtherAndASweep() throws Exception {
        final Path path = PidFile.path(runDir, app);
        final ProcessIdentity me = ProcessIdentity.current();
        final String mine = me.pid() + " " + me.startTimeTicks() + "\n";
        final AtomicInteger owners = new AtomicInteger();
        final AtomicInteger acquired = new AtomicInteger();
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final List<Thread> threads = new ArrayList<>();
        threads.add(Thread.ofPlatform().name("sweeper").start(() -> {
            try {
                while (!stop.get() && failure.get() == null) {
                    final SweepReport report = Resources.removeStale(runDir, PREFIX, false);
                    if (!report.isComplete() || !report.skipped().isEmpty()) {
                        throw new AssertionError(report.toString());
                    }
                }
            } catch (final Throwable t) {
                failure.compareAndSet(null, t);
            }
        }));
        for (int c = 0; c < 2; c++) {
            threads.add(Thread.ofPlatform().name("contender-" + c).start(() -> {
                try {
                    for (int i = 0; i < 150 && failure.get() == null; i++) {
                        final PidFile held;
                        try {
                            held = PidFile.acquire(runDir, app, PermissionLevel.USER_ACCESS);
                        } catch (final IsthmusException refused) {
                            if (!refused.getMessage().contains("already runs")) {
                                throw refused;
                            }
                            continue;
                        }
                        try (held) {
                            assertEquals(1, owners.incrementAndGet(), "two instances own " + path);
                            acquired.incrementAndGet();
                            assertEquals(mine, Files.readString(path), "the name names the owner's file");
                            LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(200_000));
                            assertEquals(mine, Files.readString(path), "the name still names the owner's file");
                            owners.decrementAndGet();
                        }
                        LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(200_000));
                    }
                } catch (final Throwable t) {
                    failure.compareAndSet(null, t);
                }
            }));
        }
        for (final Thread thread : threads.subList(1, threads.size())) {
            thread.join();
        }
        stop.set(true);
        threads.getFirst().join();
        if (failure.get() != null) {
            throw new AssertionError("after " + acquired.get() + " acquisitions", failure.get());
        }
        assertTrue(acquired.get() > 0);
        assertEquals(List.of(), entries());
    }

    @Test
    void shouldRefuseAFifoOrASymbolicLinkUnderItsPidFilesNameAtOnceSayingWhatToDo() throws Exception {
        final Path path = PidFile.path(runDir, app);
        HostileEntries.fifo(path);
        final IsthmusException fifo = assertThrows(IsthmusException.class,
            () -> PidFile.acquire(runDir, app, PermissionLevel.USER_ACCESS));
        assertTrue(fifo.getMessage().contains(path + " as its pid file: it is a FIFO"), fifo.getMessage());
        assertTrue(fifo.getMessage().endsWith("remove it"), fifo.getMessage());
        Files.delete(path);

        final Path target = Files.writeString(runDir.resolve("target"), "untouched");
        HostileEntries.symlink(path, target);
        final IsthmusException link = assertThrows(IsthmusException.class,
            () -> PidFile.acquire(runDir, app, PermissionLevel.USER_ACCESS));
        assertTrue(link.getMessage().contains(path.toString()) && link.getMessage().contains("ELOOP")
            && link.getMessage().contains("symbolic link: remove it"), link.getMessage());
        assertEquals("untouched", Files.readString(target));
        Files.delete(path);
        Files.delete(target);
        PidFile.acquire(runDir, app, PermissionLevel.USER_ACCESS).close();
        assertNull(listed(path));
    }

    @Test
    void shouldLeaveAFileSomeoneElsePutUnderTheNameWhenClosing() throws Exception {
        final Path path = PidFile.path(runDir, app);
        final PidFile held = PidFile.acquire(runDir, app, PermissionLevel.USER_ACCESS);
        // Not how any Isthmus process behaves: replaced by hand while the server runs.
        Files.delete(path);
        Files.writeString(path, "by hand");
        held.close();
        assertEquals("by hand", Files.readString(path), "close removes only the file it locked");
        Files.delete(path);
        assertFalse(Files.exists(path));
    }

    private ResourceInfo find(final Path path) {
        final ResourceInfo info = listed(path);
        if (info == null) {
            throw new AssertionError(path + " not listed");
        }
        return info;
    }

    private ResourceInfo listed(final Path path) {
        return Resources.list(runDir, PREFIX).stream().filter(info -> info.path().equals(path)).findFirst().orElse(null);
    }

    private List<Path> entries() throws Exception {
        try (Stream<Path> entries = Files.list(runDir)) {
            return entries.sorted().toList();
        }
    }

    private static String[] args(final TestUniverse universe) {
        final List<String> args = new ArrayList<>();
        args.add("server");
        args.addAll(universe.args());
        args.add("hold");
        return args.toArray(String[]::new);
    }
}
