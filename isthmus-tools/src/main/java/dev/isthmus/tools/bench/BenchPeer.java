/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.bench;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.sync.ThreadAffinity;
import dev.isthmus.transport.BlobChannel;
import dev.isthmus.transport.BlobHandler;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * The other process of the benchmarks.
 *
 * <ul>
 *   <li>{@code queue <transport> <address> <idle> <rounds>}: on each {@code 'G'} from the benchmark, pushes
 *       the ipc_vector workload (for each round, messages of 1 to 155 bytes); exits on {@code 'S'};</li>
 *   <li>{@code echo <transport> <address> <idle>}: sends every message back, until the channel closes.</li>
 * </ul>
 */
public final class BenchPeer {
    /** The seed's message text: the alphabet six times; messages are its prefixes of 1 to 155 bytes. */
    static final byte[] TEXT = "abcdefghijklmnopqrstuvwxyz".repeat(6).getBytes(StandardCharsets.US_ASCII);
    /** The longest message of the queue workload. */
    static final int MAX_MESSAGE = TEXT.length - 1;
    /** The blob size the batching client coalesces messages into. */
    static final int BATCH_BYTES = 64 * 1024;
    /** Start command. */
    static final byte GO = 'G';
    /** Stop command. */
    static final byte STOP = 'S';

    private static final long TIMEOUT_NS = TimeUnit.SECONDS.toNanos(60);

    private BenchPeer() {
    }

    /**
     * {@return the command line that starts a peer in a JVM like this one}
     *
     * @param args the peer's arguments
     */
    static List<String> command(final String... args) {
        // Every mode names its transport second.
        return javaCommand(BenchTransport.byAlias(args[1]), List.of("-XX:+UseSerialGC"), BenchPeer.class, List.of(args));
    }

    /**
     * {@return the command line that runs a main class of the benchmarks in a JVM like this one: native
     * access, and the transport's own {@linkplain BenchTransport#jvmOptions() options} (only the Aeron
     * baseline has any)}
     *
     * @param transport the transport the JVM runs
     * @param options   further JVM options
     * @param mainClass the main class
     * @param args      its arguments
     */
    static List<String> javaCommand(final BenchTransport transport, final List<String> options, final Class<?> mainClass,
                                    final List<String> args) {
        final List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("--enable-native-access=ALL-UNNAMED");
        command.addAll(transport.jvmOptions());
        command.addAll(options);
        final String capacity = System.getProperty(BenchTransport.CAPACITY_PROPERTY);
        if (capacity != null) {
            command.add("-D" + BenchTransport.CAPACITY_PROPERTY + "=" + capacity);
        }
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(mainClass.getName());
        command.addAll(args);
        return command;
    }

    /**
     * Starts a peer process whose output goes to this process's error stream.
     *
     * @param args the peer's arguments
     * @return the process
     * @throws IOException if it cannot start
     */
    static Process start(final String... args) throws IOException {
        // The peer must not inherit a pinned affinity; then this (benchmark) thread takes one CPU and the
        // peer's hot thread another: two spinning threads on one CPU would wait for the scheduler's tick.
        ThreadAffinity.unpin();
        final Process peer = new ProcessBuilder(command(args)).redirectOutput(ProcessBuilder.Redirect.INHERIT)
            .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        ThreadAffinity.pinToAllowed(0);
        return peer;
    }

    /**
     * Runs the peer.
     *
     * @param args the mode and its arguments
     */
    public static void main(final String[] args) {
        final BenchTransport transport = BenchTransport.byAlias(args[1]);
        try (BlobChannel channel = transport.connect(args[2], args[3]); Arena arena = Arena.ofConfined()) {
            // The peer's hot thread on its own CPU, apart from the benchmark's; pinned after connecting, so
            // that threads the transport starts (Aeron's client conductor) are not.
            ThreadAffinity.pinToAllowed(1);
            switch (args[0]) {
                case "queue" -> queue(channel, transport.coalesced(), Integer.parseInt(args[4]), arena);
                case "echo" -> echo(channel, arena);
                default -> throw new IllegalArgumentException("unknown mode " + args[0]);
            }
        } catch (final ChannelClosedException e) {
            // the benchmark ended
        }
        System.exit(0);
    }

    private static void queue(final BlobChannel channel, final boolean batched, final int rounds, final Arena arena) {
        final MemorySegment text = arena.allocate(TEXT.length);
        MemorySegment.copy(TEXT, 0, text, JAVA_BYTE, 0, TEXT.length);
        final byte[] command = new byte[1];
        while (true) {
            while (channel.poll((buffer, offset, length) -> command[0] = buffer.get(JAVA_BYTE, offset), 1, TIMEOUT_NS) == 0) {
                Thread.onSpinWait();
            }
            if (command[0] == STOP) {
                return;
            }
            if (batched) {
                pushBatched(channel, text, rounds);
            } else {
                push(channel, text, rounds);
            }
            // The end of the burst: nothing may stay held back (a no-op unless publication is batched).
            channel.flush();
        }
    }

    /** The seed's client loop: one message per send. */
    private static void push(final BlobChannel channel, final MemorySegment text, final int rounds) {
        for (int j = 0; j < rounds; j++) {
            for (int i = 1; i <= MAX_MESSAGE; i++) {
                if (!channel.offer(text, 0, i) && !channel.offer(text, 0, i, TIMEOUT_NS)) {
                    throw new IllegalStateException("no room within 60 s");
                }
            }
        }
    }

    /**
     * The same messages, each prefixed with its 2-byte length, coalesced into 64 KiB blobs; a length of 0
     * ends a blob that is not full.
     */
    private static void pushBatched(final BlobChannel channel, final MemorySegment text, final int rounds) {
        long claim = -1;
        int used = 0;
        MemorySegment buffer = null;
        for (int j = 0; j < rounds; j++) {
            for (int i = 1; i <= MAX_MESSAGE; i++) {
                if (claim >= 0 && used + 2 + i > BATCH_BYTES) {
                    commitBatch(channel, buffer, claim, used);
                    claim = -1;
                }
                if (claim < 0) {
                    claim = claimBatch(channel);
                    buffer = channel.claimBuffer();
                    used = 0;
                }
                buffer.set(JAVA_SHORT_UNALIGNED, claim + used, (short) i);
                MemorySegment.copy(text, 0, buffer, claim + used + 2, i);
                used += 2 + i;
            }
        }
        if (claim >= 0) {
            commitBatch(channel, buffer, claim, used);
        }
    }

    private static void commitBatch(final BlobChannel channel, final MemorySegment buffer, final long claim,
                                    final int used) {
        if (used + 2 <= BATCH_BYTES) {
            buffer.set(JAVA_SHORT_UNALIGNED, claim + used, (short) 0);
        }
        channel.commit(claim);
    }

    private static long claimBatch(final BlobChannel channel) {
        final long deadline = System.nanoTime() + TIMEOUT_NS;
        long claim;
        while ((claim = channel.tryClaim(BATCH_BYTES)) < 0) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("no room within 60 s");
            }
            Thread.onSpinWait();
        }
        return claim;
    }

    private static void echo(final BlobChannel channel, final Arena arena) {
        final MemorySegment copy = arena.allocate(channel.maxMessageLength());
        final int[] length = new int[1];
        // One handler for the whole run: the echo allocates nothing per message, whatever the transport.
        final BlobHandler keep = (buffer, offset, len) -> {
            MemorySegment.copy(buffer, offset, copy, 0, len);
            length[0] = len;
        };
        while (true) {
            if (channel.poll(keep, 1, TIMEOUT_NS) > 0) {
                if (!channel.offer(copy, 0, length[0], TIMEOUT_NS)) {
                    throw new IllegalStateException("no room within 60 s");
                }
                channel.flush();
            }
        }
    }
}
