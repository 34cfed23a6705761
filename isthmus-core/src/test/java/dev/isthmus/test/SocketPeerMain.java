/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.test;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.transport.NativeHandle;
import dev.isthmus.transport.UnixSocketBlobChannel;
import dev.isthmus.transport.UnixSocketOptions;
import dev.isthmus.transport.UnixSocketServer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The other process in Unix-socket tests. Modes (first argument):
 * <ul>
 *   <li>{@code owner <app> <id>}: binds a server, prints {@code READY <socket path>}, sleeps until killed;</li>
 *   <li>{@code stream <socket> <count> <maxLength> <sndbuf>}: connects, sends {@code count} blobs of the
 *       sizes and contents {@link #blobLength}/{@link #blobByte} define, closes, prints {@code DONE};</li>
 *   <li>{@code hold <socket>}: connects, sends 3 blobs of 100 bytes, prints {@code READY}, sleeps until killed;</li>
 *   <li>{@code handles <socket>}: connects, receives a blob with a file handle and a memfd handle and
 *       prints their contents ({@code FILE ...}, {@code MEMFD ...}), sends back a memfd holding
 *       {@code "from child <pid>"}, then waits for the close and prints {@code CLOSED}.</li>
 * </ul>
 */
public final class SocketPeerMain {
    private static final long TIMEOUT_NS = TimeUnit.SECONDS.toNanos(60);

    private SocketPeerMain() {
    }

    /**
     * {@return the length of blob {@code index} in a stream whose blobs are at most {@code maxLength}}
     *
     * @param index     the blob's index
     * @param maxLength the largest length
     */
    public static int blobLength(final long index, final int maxLength) {
        // Every length from 0 to max comes up, the extremes often.
        return switch ((int) (index % 4)) {
            case 0 -> 0;
            case 1 -> maxLength;
            default -> (int) ((index * 7919L) % (maxLength + 1L));
        };
    }

    /**
     * {@return byte {@code position} of blob {@code index}}
     *
     * @param index    the blob's index
     * @param position the byte's position in the blob
     */
    public static byte blobByte(final long index, final int position) {
        return (byte) (index * 31 + position);
    }

    /**
     * Runs the peer.
     *
     * @param args the mode and its arguments
     * @throws Exception on any failure, which fails the test through the exit code
     */
    public static void main(final String[] args) throws Exception {
        switch (args[0]) {
            case "owner" -> owner(args[1], args[2]);
            case "stream" -> stream(Path.of(args[1]), Long.parseLong(args[2]), Integer.parseInt(args[3]),
                Integer.parseInt(args[4]));
            case "hold" -> hold(Path.of(args[1]));
            case "handles" -> handles(Path.of(args[1]));
            default -> throw new IllegalArgumentException("mode=" + args[0]);
        }
    }

    private static void owner(final String app, final String id) throws InterruptedException {
        final UnixSocketServer server = UnixSocketServer.bind(app, id, UnixSocketOptions.defaults());
        System.out.println("READY " + server.address());
        Thread.sleep(600_000);
    }

    private static void stream(final Path socket, final long count, final int maxLength, final int sendBuffer) {
        final UnixSocketOptions options = UnixSocketOptions.builder().maxMessageLengthBytes(maxLength)
            .socketSendBufferBytes(sendBuffer).build();
        final byte[] blob = new byte[maxLength];
        try (UnixSocketBlobChannel channel = UnixSocketBlobChannel.connect(socket, TIMEOUT_NS, options)) {
            for (long i = 0; i < count; i++) {
                final int length = blobLength(i, maxLength);
                for (int j = 0; j < length; j++) {
                    blob[j] = blobByte(i, j);
                }
                if (!channel.offer(MemorySegment.ofArray(blob), 0, length, TIMEOUT_NS)) {
                    throw new IllegalStateException("blob " + i + " not taken within 60 s");
                }
            }
        }
        System.out.println("DONE " + count);
    }

    private static void hold(final Path socket) throws InterruptedException {
        final UnixSocketBlobChannel channel = UnixSocketBlobChannel.connect(socket, TIMEOUT_NS, UnixSocketOptions.defaults());
        for (int i = 0; i < 3; i++) {
            if (!channel.offer(new byte[100], 0, 100)) {
                throw new IllegalStateException("blob " + i + " not taken");
            }
        }
        System.out.println("READY " + channel.peerCredentials());
        Thread.sleep(600_000);
    }

    private static void handles(final Path socket) throws Exception {
        try (UnixSocketBlobChannel channel = UnixSocketBlobChannel.connect(socket, TIMEOUT_NS, UnixSocketOptions.defaults());
             Arena arena = Arena.ofConfined()) {
            final List<NativeHandle> received = new ArrayList<>();
            final long[] memfdLength = new long[1];
            final int count = channel.pollWithHandles((buffer, offset, length, handles) -> {
                memfdLength[0] = buffer.get(ValueLayout.JAVA_LONG_UNALIGNED, offset);
                received.addAll(handles);
            }, 1, TIMEOUT_NS);
            if (count != 1 || received.size() != 2) {
                throw new IllegalStateException("expected one blob with 2 handles, got " + count + " with " + received);
            }
            try (NativeHandle file = received.get(0); NativeHandle memfd = received.get(1);
                 FileChannel fileChannel = file.openFileChannel(StandardOpenOption.READ)) {
                final ByteBuffer content = ByteBuffer.allocate((int) fileChannel.size());
                while (content.hasRemaining() && fileChannel.read(content) >= 0) {
                    // read it all
                }
                System.out.println("FILE " + new String(content.array(), StandardCharsets.UTF_8));
                final MemorySegment mapped = memfd.mapShared(memfdLength[0], false, arena);
                System.out.println("MEMFD " + new String(mapped.toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8));
            }
            final byte[] answer = ("from child " + ProcessHandle.current().pid()).getBytes(StandardCharsets.UTF_8);
            try (NativeHandle reply = NativeHandle.memfd("reply", answer.length)) {
                MemorySegment.copy(answer, 0, reply.mapShared(answer.length, true, arena), ValueLayout.JAVA_BYTE, 0,
                    answer.length);
                final MemorySegment length = arena.allocateFrom(ValueLayout.JAVA_LONG, answer.length);
                while (!channel.offerWithHandles(length, 0, 8, reply)) {
                    Thread.onSpinWait();
                }
            }
            try {
                while (true) {
                    channel.poll((buffer, offset, length) -> { }, 16, TIMEOUT_NS);
                }
            } catch (final ChannelClosedException e) {
                System.out.println("CLOSED " + e.getMessage());
            }
        }
    }
}
