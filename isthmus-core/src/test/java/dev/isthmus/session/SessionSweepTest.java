/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.internal.linux.Credentials;
import dev.isthmus.internal.linux.PosixMq;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.test.ChildJvm;
import dev.isthmus.test.HostileEntries;
import dev.isthmus.test.NoMessageQueueLeftovers;
import dev.isthmus.test.RootOnly;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The start-up sweep of {@link SessionServer}: it removes what dead processes of its apps left, goes past
 * whatever it must not or cannot remove, and says so; nothing under its apps' names, whoever put it there,
 * stops the server from starting.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class SessionSweepTest {
    private static final Path SHM = SharedMemory.DEFAULT_DIRECTORY;
    private static final String PREFIX = ResourceName.configuredPrefix();

    @TempDir
    Path runDir;

    @TempDir
    Path elsewhere;

    private final String suffix = Integer.toUnsignedString(ThreadLocalRandom.current().nextInt(), 36);
    private final TestUniverse universe = new TestUniverse("swsrv" + suffix, "swcli" + suffix, null,
        PermissionLevel.USER_ACCESS, "-", Credentials.effectiveUid(), Credentials.effectiveGid());
    private final List<Path> created = new ArrayList<>();

    @AfterEach
    void removePlanted() {
        HostileEntries.removeAll(created);
    }

    private TestUniverse universe() {
        return new TestUniverse(universe.serverName(), universe.clientName(), runDir, universe.level(),
            universe.clientMain(), universe.clientUid(), universe.clientGid());
    }

    private Path named(final Path directory, final String app, final long pid, final String kind, final String id) {
        final Path path = directory.resolve(new ResourceName(PREFIX, app, pid, kind, id).toString());
        created.add(path);
        return path;
    }

    private Path pidFileOf(final String app) {
        final Path path = PidFile.path(runDir, app);
        created.add(path);
        return path;
    }

    /** The hostile set, under the names of the server app and its client, by a process that has exited. */
    private List<Path> plantHostileSet(final long dead) {
        final Path fifo = HostileEntries.fifo(elsewhere.resolve("fifo"));
        return List.of(
            HostileEntries.fifo(named(SHM, universe.serverName(), dead, "seg", "fifo")),
            HostileEntries.symlink(named(SHM, universe.clientName(), dead, "seg", "link"), fifo),
            HostileEntries.fifo(named(runDir, universe.serverName(), dead, "sock", "fifo")),
            HostileEntries.symlink(named(runDir, universe.clientName(), dead, "sock", "link"), fifo),
            // The client app has no pid file of its own: a FIFO there would hang a reader of pid files.
            HostileEntries.fifo(pidFileOf(universe.clientName())));
    }

    private List<Path> plantHugeSet(final long dead) {
        return List.of(
            HostileEntries.huge(named(SHM, universe.serverName(), dead, "seg", "huge")),
            HostileEntries.huge(named(runDir, universe.clientName(), dead, "sock", "huge")));
    }

    @Test
    void shouldStartPastAFifoASymbolicLinkAndAHugeFileOfThisUserUnderItsAppsNames() throws Exception {
        final long dead = HostileEntries.deadPid();
        final List<Path> leftAlone = plantHostileSet(dead);
        final List<Path> stale = plantHugeSet(dead);
        try (SweepLog log = new SweepLog();
             SessionServer server = SessionServer.start(universe().server(), SessionOptions.defaults())) {
            for (final Path path : leftAlone) {
                assertTrue(Files.exists(path, LinkOption.NOFOLLOW_LINKS), path + " is not an Isthmus file: never removed");
                assertTrue(log.messages(Level.INFO).stream().anyMatch(message -> message.contains("left " + path + " alone: a ")),
                    "reported: " + log.messages(Level.INFO));
            }
            for (final Path path : stale) {
                assertFalse(Files.exists(path), path + " is this user's and stale: swept");
            }
            assertEquals(List.of(), log.messages(Level.WARNING));
            assertTrue(server.sessions().isEmpty());
        }
    }

    @Test
    @RootOnly("chowns the planted entries to another user (uid 64999)")
    void shouldStartPastEntriesOfAnotherUserUnderItsAppsNamesAndLeaveThemAlone() throws Exception {
        final long dead = HostileEntries.deadPid();
        final List<Path> planted = new ArrayList<>(plantHostileSet(dead));
        planted.addAll(plantHugeSet(dead));
        final Path plain = Files.writeString(named(SHM, universe.serverName(), dead, "seg", "plain"), "");
        planted.add(plain);
        planted.forEach(HostileEntries::giveAway);
        try (SweepLog log = new SweepLog();
             SessionServer server = SessionServer.start(universe().server(), SessionOptions.defaults())) {
            for (final Path path : planted) {
                assertTrue(Files.exists(path, LinkOption.NOFOLLOW_LINKS), path + " is another user's: never removed");
                assertTrue(log.messages(Level.INFO).stream().anyMatch(message -> message.contains("left " + path
                    + " alone: owned by uid " + HostileEntries.OTHER_UID)), "reported: " + log.messages(Level.INFO));
            }
            assertEquals(List.of(), log.messages(Level.WARNING));
        }
    }

    @Test
    @RootOnly("mounts a private mqueue file system in a mount namespace (unshare -m) and chowns a queue to another user")
    void shouldSweepTheMessageQueuesADeadProcessLeftAndNoOneElses() throws Exception {
        assumeTrue(canMountPrivately(), "unshare -m with a private mqueue mount is not allowed here");
        final long dead = HostileEntries.deadPid();
        final String stale = "/" + new ResourceName(PREFIX, universe.serverName(), dead, "mq", "s1-up");
        final String foreign = "/" + new ResourceName(PREFIX, universe.clientName(), dead, "mq", "s2-up");
        final String live = "/" + ResourceName.of(universe.serverName(), "mq", "s3-up");
        final List<String> queues = List.of(stale, foreign, live);
        queues.forEach(NoMessageQueueLeftovers::track);
        final Path mountPoint = Files.createTempDirectory("mqueue");
        try {
            for (final String queue : queues) {
                final int mqd = PosixMq.create(queue, 0600, 1, 64);
                assertTrue(mqd >= 0, "mq_open(" + queue + "): " + mqd);
                PosixMq.close(mqd, queue);
            }
            final List<String> command = new ArrayList<>(List.of("unshare", "-m", "--propagation", "private", "sh", "-c",
                "mount -t mqueue none \"$0\" && chown " + HostileEntries.OTHER_UID + " \"$0/" + foreign.substring(1)
                    + "\" && exec \"$@\"", mountPoint.toString()));
            command.addAll(ChildJvm.command(List.of("-Disthmus.mqueue.dir=" + mountPoint),
                SweepServerMain.class.getName(), universe().args().toArray(String[]::new)));
            try (ChildJvm server = ChildJvm.startCommand("sweep-mq", command)) {
                server.assertExit(0, Duration.ofSeconds(60));
                final String output = server.output();
                assertTrue(output.contains("STARTED"), output);
                assertTrue(output.contains("LOG INFO server app \"" + universe.serverName() + "\" left "
                    + mountPoint.resolve(foreign.substring(1)) + " alone: owned by uid " + HostileEntries.OTHER_UID), output);
                assertFalse(output.contains("LOG WARNING"), output);
            }
            assertFalse(NoMessageQueueLeftovers.exists(stale), "the dead process's queue is swept");
            assertTrue(NoMessageQueueLeftovers.exists(foreign), "another user's queue is left alone");
            assertTrue(NoMessageQueueLeftovers.exists(live), "a live process's queue is left alone");
        } finally {
            queues.forEach(PosixMq::unlink);
            Files.deleteIfExists(mountPoint);
        }
    }

    private static boolean canMountPrivately() throws IOException, InterruptedException {
        final Path probe = Files.createTempDirectory("mqueue-probe");
        try {
            final Process process = new ProcessBuilder("unshare", "-m", "--propagation", "private", "sh", "-c",
                "mount -t mqueue none \"$0\"", probe.toString()).redirectErrorStream(true).start();
            process.getInputStream().transferTo(java.io.OutputStream.nullOutputStream());
            return process.waitFor(30, TimeUnit.SECONDS) && process.exitValue() == 0;
        } catch (final IOException e) {
            return false;
        } finally {
            Files.deleteIfExists(probe);
        }
    }
}
