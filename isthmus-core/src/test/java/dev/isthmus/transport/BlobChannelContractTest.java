/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.PeerDeadException;
import dev.isthmus.test.AllocationProbe;
import dev.isthmus.test.ChildJvm;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The contract every {@link BlobChannel} implementation passes: order, boundaries, every size from 0 to
 * the maximum, a clear error above it, wrap-around, back-pressure, zero-copy claims, close, a peer
 * killed with {@code kill -9} in the middle of a stream, and ten million random-size messages between
 * two JVMs checked by sequence and checksum.
 *
 * <p>Subclasses provide the {@link TransportFixture}.
 */
public abstract class BlobChannelContractTest {
    static final long SECOND_NS = TimeUnit.SECONDS.toNanos(1);
    static final long STREAM_MESSAGES = 10_000_000L;

    /**
     * {@return the fixture for the transport under test}
     */
    protected abstract TransportFixture fixture();

    /**
     * {@return the longest message of the cross-process streams}
     *
     * @param channel a channel of the transport
     */
    protected int streamMaxLength(final BlobChannel channel) {
        return Math.min(channel.maxMessageLength(), 512);
    }

    /**
     * {@link BlobChannel#wakeUp()} from another thread ends a long timed poll at once, with nothing
     * delivered; the channel then works as before. A transport that cannot wake says so.
     */
    @Test
    void shouldEndATimedPollEarlyWhenWokenFromAnotherThread() throws Exception {
        try (TransportFixture.ChannelPair pair = fixture().pair(false); Arena arena = Arena.ofConfined()) {
            // Whether waking works at all; this first call's wake-up is absorbed by a poll that does not wait.
            if (!pair.b().wakeUp()) {
                return;
            }
            pair.b().poll((buffer, offset, length) -> { }, 1, 0);
            pair.b().poll((buffer, offset, length) -> { }, 1, TimeUnit.MILLISECONDS.toNanos(1));
            final java.util.concurrent.CompletableFuture<Long> polled = new java.util.concurrent.CompletableFuture<>();
            final long[] started = new long[1];
            final Thread poller = Thread.ofPlatform().start(() -> {
                started[0] = System.nanoTime();
                try {
                    final int received = pair.b().poll((buffer, offset, length) -> { }, 1, SECOND_NS * 30);
                    polled.complete((long) received);
                } catch (final RuntimeException e) {
                    polled.completeExceptionally(e);
                }
            });
            Thread.sleep(300);
            final long woken = System.nanoTime();
            assertTrue(pair.b().wakeUp());
            assertEquals(0L, polled.get(10, TimeUnit.SECONDS), "nothing was delivered");
            final long tookMs = (System.nanoTime() - woken) / 1_000_000;
            assertTrue(tookMs < 5_000, "the poll returned " + tookMs + " ms after the wake-up, not at its 30 s timeout");
            poller.join(10_000);
            final MemorySegment message = arena.allocate(8);
            assertTrue(pair.a().offer(message, 0, 8, SECOND_NS * 10));
            pair.a().flush();
            assertEquals(1, pair.b().poll((buffer, offset, length) -> { }, 1, SECOND_NS * 10), "still delivers");
        }
    }

    @Test
    void shouldDeliverInOrderWithExactBoundaries() {
        try (TransportFixture.ChannelPair pair = fixture().pair(false); Arena arena = Arena.ofConfined()) {
            final int maxLength = Math.min(pair.a().maxMessageLength(), 2048);
            final MemorySegment message = arena.allocate(maxLength);
            final long[] next = {0};
            final List<String> problems = new ArrayList<>();
            for (long sequence = 0; sequence < 2000; sequence++) {
                final int length = TestMessages.length(sequence, maxLength);
                TestMessages.write(message, 0, sequence, length);
                assertTrue(pair.a().offer(message, 0, length, SECOND_NS * 10), "offer " + sequence);
                if (sequence % 7 == 6) {
                    pair.a().flush();
                    drain(pair.b(), next, maxLength, problems, sequence + 1);
                }
            }
            pair.a().flush();
            drain(pair.b(), next, maxLength, problems, 2000);
            assertEquals(List.of(), problems);
            assertEquals(2000, next[0]);
        }
    }

    @Test
    void shouldCarryEverySizeFromZeroToTheMaximumBothWays() {
        try (TransportFixture.ChannelPair pair = fixture().pair(false); Arena arena = Arena.ofConfined()) {
            final int max = pair.a().maxMessageLength();
            final List<Integer> sizes = new ArrayList<>();
            for (int size = 0; size <= Math.min(max, 1100); size++) {
                sizes.add(size);
            }
            for (int size = 2048; size < max; size *= 2) {
                sizes.add(size - 1);
                sizes.add(size);
                sizes.add(size + 1);
            }
            sizes.add(max - 1);
            sizes.add(max);
            final MemorySegment message = arena.allocate(Math.max(1, max));
            for (final BlobChannel[] direction : new BlobChannel[][] {{pair.a(), pair.b()}, {pair.b(), pair.a()}}) {
                for (final int size : sizes) {
                    for (int i = 0; i < size; i++) {
                        message.set(JAVA_BYTE, i, (byte) (i * 31 + size));
                    }
                    assertTrue(direction[0].offer(message, 0, size, SECOND_NS * 10), "offer of " + size + " bytes");
                    direction[0].flush();
                    final int[] received = {-1};
                    final boolean[] intact = {true};
                    assertEquals(1, direction[1].poll((buffer, offset, length) -> {
                        received[0] = length;
                        for (int i = 0; i < length; i++) {
                            if (buffer.get(JAVA_BYTE, offset + i) != (byte) (i * 31 + size)) {
                                intact[0] = false;
                                break;
                            }
                        }
                    }, 1, SECOND_NS * 10), "receive of " + size + " bytes");
                    assertEquals(size, received[0]);
                    assertTrue(intact[0], "content of " + size + " bytes");
                }
            }
        }
    }

    @Test
    void shouldRejectOneByteAboveTheMaximumClearlyAndStayUsable() {
        try (TransportFixture.ChannelPair pair = fixture().pair(false)) {
            final int max = pair.a().maxMessageLength();
            final byte[] tooLong = new byte[max + 1];
            final IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> pair.a().offer(tooLong, 0, tooLong.length));
            assertTrue(e.getMessage().contains("maxMessageLength=" + max), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> pair.a().tryClaim(max + 1));
            assertTrue(pair.a().offer(new byte[] {42}, 0, 1));
            pair.a().flush();
            final byte[] got = new byte[1];
            assertEquals(1, pair.b().poll((buffer, offset, length) -> got[0] = buffer.get(JAVA_BYTE, offset), 10, SECOND_NS));
            assertEquals(42, got[0]);
        }
    }

    @Test
    void shouldSendFromArraysBuffersAndSegments() {
        try (TransportFixture.ChannelPair pair = fixture().pair(false)) {
            final byte[] array = {1, 2, 3, 4, 5};
            assertTrue(pair.a().offer(array, 1, 3));
            final ByteBuffer buffer = ByteBuffer.wrap(new byte[] {9, 8, 7, 6}).position(2);
            assertTrue(pair.a().offer(buffer));
            assertEquals(2, buffer.position(), "the buffer's position is not changed");
            final ByteBuffer direct = ByteBuffer.allocateDirect(3).put(new byte[] {5, 5, 5}).flip();
            assertTrue(pair.a().offer(direct));
            assertTrue(pair.a().offer(MemorySegment.ofArray(new byte[] {11, 12})));
            pair.a().flush();
            final List<byte[]> got = receiveAll(pair.b(), 4);
            assertArrayEquals(new byte[] {2, 3, 4}, got.get(0));
            assertArrayEquals(new byte[] {7, 6}, got.get(1));
            assertArrayEquals(new byte[] {5, 5, 5}, got.get(2));
            assertArrayEquals(new byte[] {11, 12}, got.get(3));
        }
    }

    @Test
    void shouldWrapAroundManyTimes() {
        try (TransportFixture.ChannelPair pair = fixture().pair(true); Arena arena = Arena.ofConfined()) {
            final int maxLength = Math.min(pair.a().maxMessageLength(), 300);
            final MemorySegment message = arena.allocate(maxLength);
            final long[] next = {0};
            final List<String> problems = new ArrayList<>();
            long sequence = 0;
            for (int burst = 0; burst < 3000; burst++) {
                for (int i = 0; i < 1 + burst % 5; i++, sequence++) {
                    final int length = TestMessages.length(sequence, maxLength);
                    TestMessages.write(message, 0, sequence, length);
                    // A refused offer publishes whatever was held back: draining frees room.
                    while (!pair.a().offer(message, 0, length)) {
                        drain(pair.b(), next, maxLength, problems, sequence);
                    }
                }
                pair.a().flush();
                drain(pair.b(), next, maxLength, problems, sequence);
            }
            assertEquals(List.of(), problems);
            assertEquals(sequence, next[0]);
        }
    }

    @Test
    void shouldBackPressureWhenFullAndRecoverAfterDraining() {
        try (TransportFixture.ChannelPair pair = fixture().pair(true)) {
            final byte[] message = new byte[Math.min(pair.a().maxMessageLength(), 100)];
            int accepted = 0;
            while (pair.a().offer(message, 0, message.length)) {
                accepted++;
                if (accepted > 10_000_000) {
                    fail("never back-pressured");
                }
            }
            assertTrue(accepted > 0);
            assertFalse(pair.a().offer(message, 0, message.length, TimeUnit.MILLISECONDS.toNanos(20)),
                "a timed offer times out while full");
            int received = 0;
            int batch;
            while ((batch = pair.b().poll((buffer, offset, length) -> { }, 1000)) > 0) {
                received += batch;
            }
            assertEquals(accepted, received);
            assertTrue(pair.a().offer(message, 0, message.length));
        }
    }

    @Test
    void shouldPublishClaimsOnCommitAndNothingOnAbort() {
        try (TransportFixture.ChannelPair pair = fixture().pair(false)) {
            final long claim = pair.a().tryClaim(16);
            assertTrue(claim >= 0);
            assertThrows(IllegalStateException.class, () -> pair.a().tryClaim(8), "one claim at a time");
            pair.a().claimBuffer().set(JAVA_LONG_UNALIGNED, claim, 0x1122334455667788L);
            pair.a().claimBuffer().set(JAVA_LONG_UNALIGNED, claim + 8, -1L);
            assertThrows(IllegalStateException.class, () -> pair.a().commit(claim + 1));
            pair.a().commit(claim);

            final long aborted = pair.a().tryClaim(8);
            assertTrue(aborted >= 0);
            pair.a().abort(aborted);
            assertThrows(IllegalStateException.class, () -> pair.a().commit(aborted));
            assertTrue(pair.a().offer(new byte[] {7}, 0, 1));
            pair.a().flush();

            final List<byte[]> got = receiveAll(pair.b(), 2);
            assertEquals(0x1122334455667788L, MemorySegment.ofArray(got.get(0)).get(JAVA_LONG_UNALIGNED, 0));
            assertEquals(-1L, MemorySegment.ofArray(got.get(0)).get(JAVA_LONG_UNALIGNED, 8));
            assertArrayEquals(new byte[] {7}, got.get(1));
            assertEquals(0, pair.b().poll((buffer, offset, length) -> { }, 10), "the aborted claim sends nothing");
        }
    }

    @Test
    void shouldReturnNothingWhenATimedPollTimesOut() {
        try (TransportFixture.ChannelPair pair = fixture().pair(false)) {
            final long start = System.nanoTime();
            assertEquals(0, pair.b().poll((buffer, offset, length) -> fail("no blob was sent"), 10,
                TimeUnit.MILLISECONDS.toNanos(30)));
            assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(25));
        }
    }

    @Test
    void shouldDeliverEverythingSentBeforeCloseThenReportTheClose() {
        try (TransportFixture.ChannelPair pair = fixture().pair(false)) {
            for (int i = 0; i < 3; i++) {
                assertTrue(pair.a().offer(new byte[] {(byte) i}, 0, 1));
            }
            pair.a().close();
            pair.a().close();
            assertFalse(pair.a().isOpen());
            assertEquals(3, receiveAll(pair.b(), 3).size());
            assertThrows(ChannelClosedException.class, () -> pair.b().poll((buffer, offset, length) -> { }, 10, SECOND_NS));
            assertThrows(ChannelClosedException.class, () -> pair.b().offer(new byte[1], 0, 1, SECOND_NS));
            assertFalse(pair.b().isOpen());
        }
    }

    @Test
    void shouldRefuseUseAfterOwnClose() {
        final TransportFixture.ChannelPair pair = fixture().pair(false);
        pair.close();
        assertThrows(ChannelClosedException.class, () -> pair.a().offer(new byte[1], 0, 1));
        assertThrows(ChannelClosedException.class, () -> pair.a().poll((buffer, offset, length) -> { }, 1));
    }

    @Test
    void shouldNotAllocatePerMessageInSteadyState() {
        try (TransportFixture.ChannelPair pair = fixture().pair(false); Arena arena = Arena.ofConfined()) {
            final MemorySegment message = arena.allocate(64);
            final byte[] array = new byte[64];
            final long[] sum = {0};
            final BlobHandler handler = (buffer, offset, length) -> sum[0] += length;
            final Runnable round = () -> {
                for (int i = 0; i < 64; i++) {
                    pair.a().offer(message, 0, 1 + i % 64);
                    pair.a().offer(array, 0, 1 + i % 64);
                    final long claim = pair.a().tryClaim(8);
                    // A transport with few slots (POSIX MQ: 10) is back-pressured within the round.
                    if (claim >= 0) {
                        pair.a().claimBuffer().set(JAVA_LONG_UNALIGNED, claim, i);
                        pair.a().commit(claim);
                    }
                }
                while (pair.b().poll(handler, 256) > 0) {
                    Thread.onSpinWait();
                }
            };
            AllocationProbe.assertNoAllocationPerOperation(round, 192, "messages");
            assertTrue(sum[0] > 0);
        }
    }

    @Test
    void shouldEchoAcrossProcesses() {
        try (TransportFixture.Acceptor acceptor = fixture().acceptor(false);
             ChildJvm peer = ChildJvm.start(BlobPeerMain.class, fixture().id(), acceptor.address(), "false", "echo");
             BlobChannel channel = acceptor.accept(Duration.ofSeconds(30));
             Arena arena = Arena.ofConfined()) {
            peer.awaitReady();
            final int maxLength = Math.min(channel.maxMessageLength(), 4096);
            final MemorySegment message = arena.allocate(maxLength);
            final List<String> problems = new ArrayList<>();
            for (long sequence = 0; sequence < 20_000; sequence++) {
                final int length = TestMessages.length(sequence, maxLength);
                TestMessages.write(message, 0, sequence, length);
                assertTrue(channel.offer(message, 0, length, SECOND_NS * 10), peer.output());
                channel.flush();
                final long expected = sequence;
                assertEquals(1, channel.poll((buffer, offset, len) -> {
                    final String problem = TestMessages.verify(buffer, offset, len, expected, maxLength);
                    if (problem != null) {
                        problems.add(problem);
                    }
                }, 1, SECOND_NS * 10), peer.output());
            }
            assertEquals(List.of(), problems);
            channel.close();
            peer.awaitLine("CLOSED", Duration.ofSeconds(10));
            peer.assertExit(0, Duration.ofSeconds(10));
        }
    }

    @Test
    void shouldStreamTenMillionRandomSizeMessagesBetweenTwoJvms() {
        try (TransportFixture.Acceptor acceptor = fixture().acceptor(false);
             BlobChannel channel = acceptor.accept(Duration.ofSeconds(30))) {
            final int maxLength = streamMaxLength(channel);
            try (ChildJvm peer = ChildJvm.start(BlobPeerMain.class, fixture().id(), acceptor.address(), "false", "source",
                Long.toString(STREAM_MESSAGES), Integer.toString(maxLength))) {
                peer.awaitReady();
                final long[] next = {0};
                final String[] problem = {null};
                final BlobHandler verifier = (buffer, offset, length) -> {
                    if (problem[0] == null) {
                        problem[0] = TestMessages.verify(buffer, offset, length, next[0], maxLength);
                    }
                    next[0]++;
                };
                while (next[0] < STREAM_MESSAGES && problem[0] == null) {
                    if (channel.poll(verifier, 4096, SECOND_NS * 30) == 0) {
                        fail("no message within 30 s after " + next[0] + "\n" + peer.output());
                    }
                }
                assertNull(problem[0]);
                assertEquals(STREAM_MESSAGES, next[0]);
                peer.awaitLine("SENT", Duration.ofSeconds(30));
                assertThrows(ChannelClosedException.class, () -> {
                    while (true) {
                        if (channel.poll(verifier, 16, SECOND_NS * 10) > 0) {
                            fail("a message after the last one");
                        }
                    }
                });
                peer.assertExit(0, Duration.ofSeconds(30));
            }
        }
    }

    @Test
    void shouldReportASourceKilledMidStreamWithinOneSecond() {
        try (TransportFixture.Acceptor acceptor = fixture().acceptor(false);
             BlobChannel channel = acceptor.accept(Duration.ofSeconds(30))) {
            final int maxLength = streamMaxLength(channel);
            try (ChildJvm peer = ChildJvm.start(BlobPeerMain.class, fixture().id(), acceptor.address(), "false",
                "source-forever", Integer.toString(maxLength))) {
                peer.awaitReady();
                final long[] next = {0};
                final String[] problem = {null};
                final BlobHandler verifier = (buffer, offset, length) -> {
                    if (problem[0] == null) {
                        problem[0] = TestMessages.verify(buffer, offset, length, next[0], maxLength);
                    }
                    next[0]++;
                };
                while (next[0] < 10_000) {
                    channel.poll(verifier, 256, SECOND_NS * 10);
                }
                peer.kill9();
                final long killed = System.nanoTime();
                final PeerDeadException e = assertThrows(PeerDeadException.class, () -> {
                    while (System.nanoTime() - killed < 10 * SECOND_NS) {
                        channel.poll(verifier, 4096, SECOND_NS);
                    }
                });
                final long detectedNs = System.nanoTime() - killed;
                assertTrue(detectedNs < SECOND_NS, "peer death noticed after " + detectedNs / 1_000_000 + " ms: " + e);
                assertNull(problem[0], "every message committed before the kill arrives intact");
                assertTrue(e.getMessage().contains(Long.toString(peer.pid())), e.getMessage());
            }
        }
    }

    @Test
    void shouldReportASinkKilledWhileTheSenderWaitsWithinOneSecond() {
        try (TransportFixture.Acceptor acceptor = fixture().acceptor(true);
             BlobChannel channel = acceptor.accept(Duration.ofSeconds(30))) {
            try (ChildJvm peer = ChildJvm.start(BlobPeerMain.class, fixture().id(), acceptor.address(), "true", "hang")) {
                peer.awaitReady();
                final byte[] message = new byte[Math.min(channel.maxMessageLength(), 64)];
                int accepted = 0;
                while (channel.offer(message, 0, message.length) && accepted < 10_000_000) {
                    accepted++;
                }
                peer.kill9();
                final long killed = System.nanoTime();
                final PeerDeadException e = assertThrows(PeerDeadException.class, () -> {
                    while (System.nanoTime() - killed < 10 * SECOND_NS) {
                        channel.offer(message, 0, message.length, SECOND_NS);
                    }
                });
                final long detectedNs = System.nanoTime() - killed;
                assertTrue(detectedNs < SECOND_NS, "peer death noticed after " + detectedNs / 1_000_000 + " ms: " + e);
            }
        }
    }

    static void drain(final BlobChannel channel, final long[] next, final int maxLength, final List<String> problems,
                      final long until) {
        final BlobHandler verifier = (buffer, offset, length) -> {
            final String problem = TestMessages.verify(buffer, offset, length, next[0], maxLength);
            if (problem != null && problems.size() < 10) {
                problems.add(problem);
            }
            next[0]++;
        };
        final long deadline = System.nanoTime() + 10 * SECOND_NS;
        while (next[0] < until && System.nanoTime() < deadline) {
            channel.poll(verifier, 1024, SECOND_NS);
        }
    }

    static List<byte[]> receiveAll(final BlobChannel channel, final int count) {
        final List<byte[]> got = new ArrayList<>();
        final long deadline = System.nanoTime() + 10 * SECOND_NS;
        while (got.size() < count && System.nanoTime() < deadline) {
            channel.poll((buffer, offset, length) -> got.add(buffer.asSlice(offset, length).toArray(JAVA_BYTE)),
                count - got.size(), SECOND_NS);
        }
        assertEquals(count, got.size(), "blobs received");
        return got;
    }
}
