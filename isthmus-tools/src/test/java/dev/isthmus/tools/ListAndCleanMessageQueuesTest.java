/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools;

import dev.isthmus.internal.linux.PosixMq;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.test.ChildJvm;
import dev.isthmus.test.NoMessageQueueLeftovers;
import dev.isthmus.test.RootOnly;
import dev.isthmus.transport.PosixMqBlobChannel;
import dev.isthmus.transport.PosixMqOptions;
import dev.isthmus.transport.PosixMqPeerMain;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code isthmus ls} and {@code isthmus clean} for POSIX message queues. The kernel shows queues only where
 * the {@code mqueue} file system is mounted; this machine does not mount it, so the test mounts it for the
 * command alone, in a private mount namespace ({@code unshare -m}, which needs {@code CAP_SYS_ADMIN}), and
 * skips that part where that is not allowed.
 */
class ListAndCleanMessageQueuesTest {
    @Test
    void shouldSayOnceThatQueuesAreNotListedWhereMqueueIsNotMounted() throws IOException {
        final Path notMounted = Files.createTempDirectory("no-mqueue");
        try {
            final String listing = runCli(List.of(), "ls", "--mqueue-dir", notMounted.toString());
            assertEquals(1, count(listing, "note: POSIX message queues are not listed"), listing);
            assertTrue(listing.contains("mount -t mqueue none " + notMounted), listing);
            final String cleaned = runCli(List.of(), "clean", "--mqueue-dir", notMounted.toString());
            assertEquals(1, count(cleaned, "note: POSIX message queues are not listed"), cleaned);
        } finally {
            Files.deleteIfExists(notMounted);
        }
    }

    @Test
    @RootOnly("mounts a private mqueue file system in a mount namespace (unshare -m)")
    void shouldListAKilledCreatorsQueuesAsStaleAndCleanOnlyThose() throws Exception {
        assumeTrue(canMountPrivately(), "unshare -m with a private mqueue mount is not allowed here");
        final Path mountPoint = Files.createTempDirectory("mqueue");
        final ResourceName liveName = ResourceName.of("mqcli", "mq", "live");
        NoMessageQueueLeftovers.track(PosixMqBlobChannel.upQueueName(liveName));
        NoMessageQueueLeftovers.track(PosixMqBlobChannel.downQueueName(liveName));
        try (PosixMqBlobChannel live = PosixMqBlobChannel.create(liveName, PosixMqOptions.defaults());
             ChildJvm owner = ChildJvm.start(PosixMqPeerMain.class, "create", "mqcli", "orphan", "hang")) {
            final ResourceName orphan = ResourceName.parse(owner.awaitReady().substring("READY ".length())).orElseThrow();
            final String orphanUp = PosixMqBlobChannel.upQueueName(orphan);
            final String orphanDown = PosixMqBlobChannel.downQueueName(orphan);
            NoMessageQueueLeftovers.track(orphanUp);
            NoMessageQueueLeftovers.track(orphanDown);
            try {
                owner.awaitLine("HANGING", Duration.ofSeconds(60));
                owner.kill9();
                assertTrue(NoMessageQueueLeftovers.exists(orphanUp), "nobody attached: the names stay");

                final String listing = runCli(privateMount(mountPoint), "ls", "--mqueue-dir", mountPoint.toString());
                assertFalse(listing.contains("note:"), listing);
                for (final String queue : List.of(orphanUp, orphanDown)) {
                    final String line = lineOf(listing, queue.substring(1));
                    assertTrue(line.contains(" mq ") && line.contains(" stale ") && line.contains(" " + owner.pid() + " "),
                        line);
                    assertTrue(line.contains("POSIX message queue"), line);
                }
                assertTrue(lineOf(listing, PosixMqBlobChannel.upQueueName(liveName).substring(1)).contains(" live "),
                    listing);

                final String dryRun = runCli(privateMount(mountPoint), "clean", "--dry-run", "--mqueue-dir",
                    mountPoint.toString());
                assertTrue(dryRun.contains("would remove " + mountPoint.resolve(orphanUp.substring(1))), dryRun);
                assertFalse(dryRun.contains(liveName.toString()), dryRun);
                assertTrue(NoMessageQueueLeftovers.exists(orphanUp), "a dry run removes nothing");

                final String cleaned = runCli(privateMount(mountPoint), "clean", "--mqueue-dir", mountPoint.toString());
                assertTrue(cleaned.contains("removed " + mountPoint.resolve(orphanUp.substring(1))), cleaned);
                assertTrue(cleaned.contains("removed " + mountPoint.resolve(orphanDown.substring(1))), cleaned);
                assertFalse(NoMessageQueueLeftovers.exists(orphanUp));
                assertFalse(NoMessageQueueLeftovers.exists(orphanDown));
                assertTrue(NoMessageQueueLeftovers.exists(PosixMqBlobChannel.upQueueName(liveName)),
                    "a live owner's queue is never removed");
                assertTrue(live.isOpen());
            } finally {
                PosixMq.unlink(orphanUp);
                PosixMq.unlink(orphanDown);
            }
        } finally {
            Files.deleteIfExists(mountPoint);
        }
    }

    /** {@return the command prefix that runs the rest with the mqueue file system mounted at mountPoint} */
    private static List<String> privateMount(final Path mountPoint) {
        return List.of("unshare", "-m", "--propagation", "private", "sh", "-c",
            "mount -t mqueue none \"$0\" && exec \"$@\"", mountPoint.toString());
    }

    private static boolean canMountPrivately() throws IOException, InterruptedException {
        final Path probe = Files.createTempDirectory("mqueue-probe");
        try {
            final List<String> command = new ArrayList<>(privateMount(probe));
            command.add("true");
            final Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            process.getInputStream().transferTo(java.io.OutputStream.nullOutputStream());
            return process.waitFor(30, TimeUnit.SECONDS) && process.exitValue() == 0;
        } catch (final IOException e) {
            return false;
        } finally {
            Files.deleteIfExists(probe);
        }
    }

    private static String runCli(final List<String> prefix, final String... args) {
        final List<String> command = new ArrayList<>(prefix);
        command.addAll(ChildJvm.command(List.of(), Main.class.getName(), args));
        try (ChildJvm cli = ChildJvm.startCommand("isthmus-" + args[0], command)) {
            cli.assertExit(0, Duration.ofSeconds(60));
            return cli.output();
        }
    }

    private static int count(final String text, final String needle) {
        return (int) text.lines().filter(line -> line.contains(needle)).count();
    }

    private static String lineOf(final String output, final String needle) {
        return output.lines().filter(line -> line.contains(needle)).findFirst()
            .orElseThrow(() -> new AssertionError("no line with " + needle + " in\n" + output));
    }
}
