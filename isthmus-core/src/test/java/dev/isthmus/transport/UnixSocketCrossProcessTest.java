/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.PeerDeadException;
import dev.isthmus.test.ChildJvm;
import dev.isthmus.test.SocketPeerMain;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Unix-socket channels between this JVM and a child JVM. */
class UnixSocketCrossProcessTest {
    private static final long SECONDS_30 = TimeUnit.SECONDS.toNanos(30);
    private static final Duration CHILD_TIMEOUT = Duration.ofSeconds(60);

    @Test
    void shouldStreamFramesIntactThroughPartialWritesThenSeeTheClose() {
        final int max = 256 * 1024;
        final int count = 400;
        final UnixSocketOptions options = UnixSocketOptions.builder().maxMessageLengthBytes(max).build();
        try (UnixSocketServer server = UnixSocketServer.bind("udsxtest", "stream", options);
             ChildJvm child = ChildJvm.start(SocketPeerMain.class, "stream", server.address().toString(),
                 Integer.toString(count), Integer.toString(max), "4096");
             UnixSocketBlobChannel channel = server.accept(SECONDS_30)) {
            assertEquals(child.pid(), channel.peerCredentials().pid());
            final UnixSocketBlobChannelTest.Verifier verifier = new UnixSocketBlobChannelTest.Verifier(max);
            final ChannelClosedException closed = assertThrows(ChannelClosedException.class, () -> {
                while (true) {
                    channel.poll(verifier, 64, SECONDS_30);
                }
            }, child::output);
            assertFalse(closed instanceof PeerDeadException, closed::toString);
            assertEquals(count, verifier.count, child::output);
            child.awaitLine("DONE", CHILD_TIMEOUT);
            child.assertExit(0, CHILD_TIMEOUT);
        }
    }

    @Test
    void shouldTellTheSurvivorWithinASecondWhenThePeerIsKilled() {
        try (UnixSocketServer server = UnixSocketServer.bind("udsxtest", "kill", UnixSocketOptions.defaults());
             ChildJvm child = ChildJvm.start(SocketPeerMain.class, "hold", server.address().toString());
             UnixSocketBlobChannel channel = server.accept(SECONDS_30)) {
            child.awaitReady();
            final List<Integer> lengths = new ArrayList<>();
            child.kill9();

            final long start = System.nanoTime();
            final PeerDeadException dead = assertThrows(PeerDeadException.class, () -> {
                while (true) {
                    channel.poll((buffer, offset, length) -> lengths.add(length), 10, SECONDS_30);
                }
            });
            final long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(elapsedMs < 1000, "noticed after " + elapsedMs + " ms");
            assertEquals(List.of(100, 100, 100), lengths, "blobs sent before the death are delivered first");
            assertTrue(dead.getMessage().contains("peer pid " + child.pid()), dead.getMessage());
            assertTrue(dead.getMessage().contains("pid " + child.pid() + " no longer runs"), dead.getMessage());
            assertTrue(dead.getMessage().contains(server.address().toString()), dead.getMessage());
            assertFalse(channel.isOpen());
        }
    }

    @Test
    void shouldFailASendToAKilledPeerWithPeerDead() {
        try (UnixSocketServer server = UnixSocketServer.bind("udsxtest", "killsend", UnixSocketOptions.defaults());
             ChildJvm child = ChildJvm.start(SocketPeerMain.class, "hold", server.address().toString());
             UnixSocketBlobChannel channel = server.accept(SECONDS_30)) {
            child.awaitReady();
            child.kill9();
            final long start = System.nanoTime();
            final PeerDeadException dead = assertThrows(PeerDeadException.class, () -> {
                while (true) {
                    channel.offer(MemorySegment.ofArray(new byte[64]), 0, 64, SECONDS_30);
                }
            });
            final long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(elapsedMs < 1000, "noticed after " + elapsedMs + " ms");
            assertTrue(dead.getMessage().contains("pid " + child.pid() + " no longer runs"), dead.getMessage());
        }
    }

    @Test
    @SuppressWarnings("try") // closes the channel inside the try on purpose: the child must see the close
    void shouldPassAFileAndAMemfdToAnotherJvmAndGetAMemfdBack() throws Exception {
        final Path file = Files.createTempFile("isthmus-fd-pass", ".txt");
        try (UnixSocketServer server = UnixSocketServer.bind("udsxtest", "handles", UnixSocketOptions.defaults());
             ChildJvm child = ChildJvm.start(SocketPeerMain.class, "handles", server.address().toString());
             UnixSocketBlobChannel channel = server.accept(SECONDS_30);
             Arena arena = Arena.ofConfined()) {
            Files.writeString(file, "hello from a regular file");
            final byte[] memfdText = "hello from a memfd".getBytes(StandardCharsets.UTF_8);
            try (NativeHandle opened = NativeHandle.open(file, false);
                 NativeHandle memfd = NativeHandle.memfd("fdpass", memfdText.length)) {
                MemorySegment.copy(memfdText, 0, memfd.mapShared(memfdText.length, true, arena), ValueLayout.JAVA_BYTE, 0,
                    memfdText.length);
                final MemorySegment length = arena.allocateFrom(ValueLayout.JAVA_LONG, memfdText.length);
                assertTrue(channel.offerWithHandles(length, 0, 8, opened, memfd));
            }
            child.awaitLine("FILE hello from a regular file", CHILD_TIMEOUT);
            child.awaitLine("MEMFD hello from a memfd", CHILD_TIMEOUT);

            final List<String> replies = new ArrayList<>();
            assertEquals(1, channel.pollWithHandles((buffer, offset, size, handles) -> {
                final long replyLength = buffer.get(ValueLayout.JAVA_LONG_UNALIGNED, offset);
                try (NativeHandle reply = handles.getFirst()) {
                    replies.add(new String(reply.mapShared(replyLength, false, arena).toArray(ValueLayout.JAVA_BYTE),
                        StandardCharsets.UTF_8));
                }
            }, 1, SECONDS_30), child::output);
            assertEquals(List.of("from child " + child.pid()), replies);

            channel.close();
            child.awaitLine("CLOSED", CHILD_TIMEOUT);
            child.assertExit(0, CHILD_TIMEOUT);
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
