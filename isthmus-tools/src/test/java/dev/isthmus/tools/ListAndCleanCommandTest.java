/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.test.ChildJvm;
import dev.isthmus.test.SegmentOwnerMain;
import dev.isthmus.test.SocketPeerMain;
import dev.isthmus.transport.UnixSocketOptions;
import dev.isthmus.transport.UnixSocketServer;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ListAndCleanCommandTest {
    @Test
    void shouldListKilledOwnersSegmentAsStaleAndCleanOnlyThat() throws Exception {
        final ResourceName liveName = ResourceName.of("clitest", "seg", "live");
        try (SharedMemory live = SharedMemory.builder(liveName).lengthBytes(4096).create();
             ChildJvm owner = ChildJvm.start(SegmentOwnerMain.class, "clitest", "orphan")) {
            final Path orphan = Path.of(owner.awaitReady().substring("READY ".length()));
            final String orphanName = orphan.getFileName().toString();
            try {
                owner.kill9();

                final String listing = runCli("ls");
                assertTrue(lineOf(listing, orphanName).contains(" stale "), listing);
                assertTrue(lineOf(listing, liveName.toString()).contains(" live "), listing);
                assertTrue(lineOf(listing, orphanName).contains(" " + owner.pid() + " "), listing);

                final String dryRun = runCli("clean", "--dry-run");
                assertTrue(dryRun.contains("would remove " + orphan), dryRun);
                assertFalse(dryRun.contains(liveName.toString()), dryRun);
                assertTrue(Files.exists(orphan));

                final String cleaned = runCli("clean");
                assertTrue(cleaned.contains("removed " + orphan), cleaned);
                assertFalse(Files.exists(orphan));
                assertTrue(Files.exists(live.path()), "a live owner's segment is never removed");

                final String after = runCli("ls", "--stale");
                assertFalse(after.contains(orphanName), after);
            } finally {
                Files.deleteIfExists(orphan);
                live.unlink();
            }
        }
    }

    @Test
    void shouldListSocketsInTheRunDirectoryAndCleanOnlyThoseOfKilledOwners() throws Exception {
        try (UnixSocketServer live = UnixSocketServer.bind("clitest", "livesock", UnixSocketOptions.defaults());
             ChildJvm owner = ChildJvm.start(SocketPeerMain.class, "owner", "clitest", "orphansock")) {
            final Path orphan = Path.of(owner.awaitReady().substring("READY ".length()));
            final String orphanName = orphan.getFileName().toString();
            try {
                assertTrue(lineOf(runCli("ls"), orphanName).contains(" live "));
                owner.kill9();

                final String listing = runCli("ls");
                assertTrue(lineOf(listing, orphanName).contains(" sock "), listing);
                assertTrue(lineOf(listing, orphanName).contains(" stale "), listing);
                assertTrue(lineOf(listing, live.name().toString()).contains(" live "), listing);

                final String elsewhere = runCli("ls", "--dir", SharedMemory.DEFAULT_DIRECTORY.toString());
                assertFalse(elsewhere.contains(orphanName), "--dir limits the listing to that directory\n" + elsewhere);

                final String cleaned = runCli("clean");
                assertTrue(cleaned.contains("removed " + orphan), cleaned);
                assertFalse(Files.exists(orphan));
                assertTrue(Files.exists(live.address()), "a live owner's socket is never removed");
            } finally {
                Files.deleteIfExists(orphan);
            }
        }
    }

    @Test
    void shouldListWhatADeadSessionLeftAsStaleAndNothingOfALiveSealedOne(@org.junit.jupiter.api.io.TempDir final Path runDir)
        throws Exception {
        final dev.isthmus.session.ClientApp client = dev.isthmus.session.ClientApp.builder("lscli").build();
        final dev.isthmus.session.ServerApp serverApp = dev.isthmus.session.ServerApp.builder("lssrv")
            .allowedClients(client).runDirectory(runDir).build();
        final Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        final Path deadSession = SharedMemory.DEFAULT_DIRECTORY.resolve(new ResourceName(ResourceName.configuredPrefix(),
            "lsgone", gone.pid(), "arena", "s9p" + gone.pid() + "-p0").toString());
        try (dev.isthmus.session.SessionServer server = dev.isthmus.session.SessionServer.start(serverApp,
            dev.isthmus.session.SessionOptions.defaults())) {
            final java.util.concurrent.CompletableFuture<dev.isthmus.session.Session> connecting =
                java.util.concurrent.CompletableFuture.supplyAsync(() -> dev.isthmus.session.ClientSession.connect(client,
                    serverApp, dev.isthmus.session.SessionOptions.zeroCopy()));
            try (dev.isthmus.session.Session accepted = server.accept(java.time.Duration.ofSeconds(30));
                 dev.isthmus.session.Session session = connecting.join()) {
                session.arena().allocate(10);
                accepted.arena().allocate(10);
                Files.createFile(deadSession);
                final String listing = runCli("ls", "--dir", SharedMemory.DEFAULT_DIRECTORY.toString(), "--dir",
                    runDir.toString());
                // A live session's queues and pools are sealed anonymous files: nothing of it has a name in a
                // directory to list or to leave behind; they are listed from /proc as memory live processes hold.
                // What an older, named session of a dead process left is listed as stale.
                final int anonymous = listing.indexOf("anonymous shared memory held by live processes");
                assertTrue(anonymous >= 0, listing);
                assertFalse(listing.substring(0, anonymous).contains(session.id()), listing);
                assertTrue(listing.substring(anonymous).contains(".arena." + session.id() + "-p0 "), listing);
                assertTrue(listing.contains("session s9p" + gone.pid() + ": stale (1 of 1 resources have a dead owner)"),
                    listing);
                assertTrue(listing.contains("isthmus.lssrv.pid ") || listing.contains(".lssrv.pid "), listing);
            } finally {
                Files.deleteIfExists(deadSession);
            }
        }
    }

    @Test
    void shouldListCommandsInHelp() {
        final String help = runCli("--help");
        assertTrue(help.contains("ls") && help.contains("clean"), help);
    }

    private static String runCli(final String... args) {
        try (ChildJvm cli = ChildJvm.start(Main.class, args)) {
            cli.assertExit(0, Duration.ofSeconds(60));
            return cli.output();
        }
    }

    private static String lineOf(final String output, final String needle) {
        return output.lines().filter(line -> line.contains(needle)).findFirst()
            .orElseThrow(() -> new AssertionError("no line with " + needle + " in\n" + output));
    }
}
