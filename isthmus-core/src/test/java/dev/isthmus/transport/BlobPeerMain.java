/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.ChannelClosedException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

/**
 * The peer of the contract suite's cross-process tests, in a child JVM.
 *
 * <p>Arguments: {@code <fixture id> <address> <small> <mode> [count] [maxLength]}; modes:
 * <ul>
 *   <li>{@code echo}: sends every blob back, until the channel closes;</li>
 *   <li>{@code source N MAX}: sends test messages 0..N-1 (see {@link TestMessages}), then closes;</li>
 *   <li>{@code source-forever MAX}: sends test messages until the channel fails or the process is killed;</li>
 *   <li>{@code sink N MAX}: receives and verifies N test messages, then waits for the close;</li>
 *   <li>{@code hang}: connects and never reads.</li>
 * </ul>
 * Prints {@code READY} once connected and a result line at the end; exits 1 on any mismatch.
 */
public final class BlobPeerMain {
    private static final long TIMEOUT_NS = TimeUnit.SECONDS.toNanos(30);

    private BlobPeerMain() {
    }

    /**
     * Runs the peer.
     *
     * @param args fixture id, address, small, mode, then the mode's arguments
     * @throws Exception on failure, which fails the test that started this process
     */
    public static void main(final String[] args) throws Exception {
        final TransportFixture fixture = TransportFixtures.byId(args[0]);
        try (BlobChannel channel = fixture.connect(args[1], Boolean.parseBoolean(args[2]));
             Arena arena = Arena.ofConfined()) {
            System.out.println("READY");
            System.out.flush();
            switch (args[3]) {
                case "echo" -> echo(channel, arena);
                case "source" -> source(channel, arena, Long.parseLong(args[4]), Integer.parseInt(args[5]));
                case "source-forever" -> source(channel, arena, Long.MAX_VALUE, Integer.parseInt(args[4]));
                case "sink" -> sink(channel, Long.parseLong(args[4]), Integer.parseInt(args[5]));
                case "hang" -> Thread.sleep(TimeUnit.MINUTES.toMillis(10));
                default -> throw new IllegalArgumentException("unknown mode " + args[3]);
            }
        }
        System.exit(0);
    }

    private static void echo(final BlobChannel channel, final Arena arena) {
        final MemorySegment copy = arena.allocate(Math.max(1, channel.maxMessageLength()));
        final int[] length = new int[1];
        long echoed = 0;
        try {
            while (true) {
                if (channel.poll((buffer, offset, len) -> {
                    MemorySegment.copy(buffer, offset, copy, 0, len);
                    length[0] = len;
                }, 1, TIMEOUT_NS) == 0) {
                    continue;
                }
                if (!channel.offer(copy, 0, length[0], TIMEOUT_NS)) {
                    throw new IllegalStateException("could not echo blob " + echoed + " within 30 s");
                }
                channel.flush();
                echoed++;
            }
        } catch (final ChannelClosedException e) {
            System.out.println("CLOSED after " + echoed + ": " + e.getMessage());
        }
    }

    private static void source(final BlobChannel channel, final Arena arena, final long count, final int maxLength) {
        final MemorySegment message = arena.allocate(maxLength);
        for (long sequence = 0; sequence < count; sequence++) {
            final int length = TestMessages.length(sequence, maxLength);
            TestMessages.write(message, 0, sequence, length);
            if (!channel.offer(message, 0, length, TIMEOUT_NS)) {
                throw new IllegalStateException("message " + sequence + " not accepted within 30 s");
            }
        }
        System.out.println("SENT " + count);
    }

    private static void sink(final BlobChannel channel, final long count, final int maxLength) {
        final long[] received = {0};
        final BlobHandler verifier = (buffer, offset, length) -> {
            final String problem = TestMessages.verify(buffer, offset, length, received[0], maxLength);
            if (problem != null) {
                System.out.println("MISMATCH " + problem);
                System.out.flush();
                System.exit(1);
            }
            received[0]++;
        };
        while (received[0] < count) {
            if (channel.poll(verifier, 1024, TIMEOUT_NS) == 0) {
                throw new IllegalStateException("no message within 30 s after " + received[0]);
            }
        }
        System.out.println("RECEIVED " + received[0]);
        System.out.flush();
        try {
            while (channel.poll(verifier, 1024, TIMEOUT_NS) == 0) {
                Thread.onSpinWait();
            }
            throw new IllegalStateException("a message after the last one");
        } catch (final ChannelClosedException expected) {
            System.out.println("CLOSED");
        }
    }
}
