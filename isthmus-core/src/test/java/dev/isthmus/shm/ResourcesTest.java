/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import dev.isthmus.test.ChildJvm;
import dev.isthmus.test.SegmentOwnerMain;
import dev.isthmus.test.SocketPeerMain;
import dev.isthmus.transport.UnixSocketOptions;
import dev.isthmus.transport.UnixSocketServer;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ResourcesTest {
    @Test
    void shouldTellStaleSegmentOfKilledOwnerFromLiveOneAndRemoveOnlyTheStale() throws Exception {
        final ResourceName liveName = ResourceName.of("sweeptest", "seg", "live");
        final String prefix = ResourceName.configuredPrefix();
        try (SharedMemory live = SharedMemory.builder(liveName).lengthBytes(4096).create();
             ChildJvm child = ChildJvm.start(SegmentOwnerMain.class, "sweeptest", "orphan")) {
            final Path orphan = Path.of(child.awaitReady().substring("READY ".length()));
            try {
                assertEquals(ResourceInfo.Liveness.LIVE, find(prefix, orphan).liveness(), "child still runs");
                child.kill9();

                final ResourceInfo stale = find(prefix, orphan);
                assertEquals(ResourceInfo.Liveness.STALE, stale.liveness());
                assertEquals(child.pid(), stale.ownerPid());
                assertEquals(4096 + 8192, stale.sizeBytes());
                assertEquals(ResourceInfo.Liveness.LIVE, find(prefix, live.path()).liveness());

                final List<ResourceInfo> wouldRemove = Resources.removeStale(SharedMemory.DEFAULT_DIRECTORY, prefix, true).removed();
                assertTrue(wouldRemove.stream().anyMatch(info -> info.path().equals(orphan)));
                assertTrue(Files.exists(orphan), "a dry run removes nothing");

                final List<ResourceInfo> removed = Resources.removeStale(SharedMemory.DEFAULT_DIRECTORY, prefix, false).removed();
                assertTrue(removed.stream().anyMatch(info -> info.path().equals(orphan)));
                assertTrue(removed.stream().noneMatch(info -> info.path().equals(live.path())));
                assertFalse(Files.exists(orphan));
                assertTrue(Files.exists(live.path()), "a live owner's segment is never removed");
            } finally {
                Files.deleteIfExists(orphan);
                live.unlink();
            }
        }
    }

    @Test
    void shouldUseThePidInTheNameWhenTheHeaderIsMissing() throws Exception {
        final String prefix = ResourceName.configuredPrefix();
        final long deadPid;
        final Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        deadPid = gone.pid();
        final Path dead = SharedMemory.DEFAULT_DIRECTORY.resolve(new ResourceName(prefix, "sweeptest", deadPid, "sock", "x").toString());
        final Path mine = SharedMemory.DEFAULT_DIRECTORY.resolve(ResourceName.of("sweeptest", "sock", "y").toString());
        try {
            Files.createFile(dead);
            Files.createFile(mine);
            final ResourceInfo deadInfo = find(prefix, dead);
            assertEquals(ResourceInfo.Liveness.STALE, deadInfo.liveness(), deadInfo.detail());
            assertTrue(deadInfo.detail().contains("truncated header"), deadInfo.detail());
            assertEquals(ResourceInfo.Liveness.LIVE, find(prefix, mine).liveness());
        } finally {
            Files.deleteIfExists(dead);
            Files.deleteIfExists(mine);
        }
    }

    @Test
    void shouldListSocketsInTheRunDirectoryAndRemoveOnlyThoseOfDeadOwners() throws Exception {
        final String prefix = ResourceName.configuredPrefix();
        final List<Path> directories = Resources.defaultDirectories();
        assertTrue(directories.contains(RunDirectory.path()), directories.toString());
        try (UnixSocketServer live = UnixSocketServer.bind("sweeptest", "live", UnixSocketOptions.defaults());
             ChildJvm child = ChildJvm.start(SocketPeerMain.class, "owner", "sweeptest", "orphan")) {
            final Path orphan = Path.of(child.awaitReady().substring("READY ".length()));
            try {
                final ResourceInfo running = find(directories, prefix, orphan);
                assertEquals(ResourceInfo.Liveness.LIVE, running.liveness());
                assertEquals("sock", running.name().kind());
                assertTrue(running.detail().startsWith("socket"), running.detail());
                child.kill9();

                final ResourceInfo stale = find(directories, prefix, orphan);
                assertEquals(ResourceInfo.Liveness.STALE, stale.liveness(), stale.detail());
                assertEquals(child.pid(), stale.ownerPid());
                assertEquals(ResourceInfo.Liveness.LIVE, find(directories, prefix, live.address()).liveness());

                final List<ResourceInfo> removed = Resources.removeStale(directories, prefix, false).removed();
                assertTrue(removed.stream().anyMatch(info -> info.path().equals(orphan)));
                assertFalse(Files.exists(orphan));
                assertTrue(Files.exists(live.address()), "a live owner's socket is never removed");
            } finally {
                Files.deleteIfExists(orphan);
            }
        }
    }

    private static ResourceInfo find(final List<Path> directories, final String prefix, final Path path) {
        return Resources.list(directories, prefix).stream()
            .filter(info -> info.path().equals(path))
            .findFirst()
            .orElseThrow(() -> new AssertionError(path + " not listed"));
    }

    private static ResourceInfo find(final String prefix, final Path path) {
        return Resources.list(SharedMemory.DEFAULT_DIRECTORY, prefix).stream()
            .filter(info -> info.path().equals(path))
            .findFirst()
            .orElseThrow(() -> new AssertionError(path + " not listed"));
    }
}
