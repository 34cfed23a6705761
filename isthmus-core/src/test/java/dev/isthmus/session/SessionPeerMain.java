/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.AuthenticationException;
import dev.isthmus.ChannelClosedException;
import dev.isthmus.transport.BlobChannel;
import dev.isthmus.transport.NativeHandle;
import dev.isthmus.transport.TestMessages;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * The other process of the cross-process session tests.
 *
 * <p>Arguments: {@code server|client <universe (7 args)> <mode> [mode args]}. Prints {@code READY} when set
 * up, and results as lines.
 */
public final class SessionPeerMain {
    static final long SECOND_NS = TimeUnit.SECONDS.toNanos(1);
    static final int MAX_LENGTH = 200;

    private SessionPeerMain() {
    }

    public static void main(final String[] args) throws Exception {
        final TestUniverse universe = TestUniverse.parse(args, 1);
        final String mode = args[1 + TestUniverse.ARGS];
        final String[] rest = java.util.Arrays.copyOfRange(args, 2 + TestUniverse.ARGS, args.length);
        if (args[0].equals("impostor")) {
            impostor(universe);
        } else if (args[0].equals("server")) {
            server(universe, mode, rest);
        } else {
            client(universe, mode, rest);
        }
        System.out.flush();
        System.exit(0);
    }

    /**
     * Plays another user's impostor of the server app: takes the run directory and the server's names
     * first, then reports every connection and every byte a client sends it.
     */
    private static void impostor(final TestUniverse universe) {
        final java.nio.file.Path runDir = dev.isthmus.shm.RunDirectory.ensure(universe.runDir(), universe.level());
        try (PidFile ignored = PidFile.acquire(runDir, universe.serverName(), universe.level());
             dev.isthmus.transport.UnixSocketServer socket = dev.isthmus.transport.UnixSocketServer.bind(
                 new dev.isthmus.shm.ResourceName(dev.isthmus.shm.ResourceName.configuredPrefix(), universe.serverName(),
                     ProcessHandle.current().pid(), "sock", "srv"),
                 SessionProtocol.controlOptions().toBuilder().directory(runDir).permissions(universe.level()).build())) {
            System.out.println("READY " + ProcessHandle.current().pid());
            while (true) {
                try (dev.isthmus.transport.UnixSocketBlobChannel connection = socket.accept(600 * SECOND_NS)) {
                    System.out.println("CONNECTION from pid " + connection.peerCredentials().pid());
                    final long[] bytes = {0};
                    try {
                        connection.poll((buffer, offset, length) -> bytes[0] += length, 16, 2 * SECOND_NS);
                    } catch (final ChannelClosedException e) {
                        // the client left
                    }
                    System.out.println(bytes[0] == 0 ? "RECEIVED NOTHING" : "RECEIVED " + bytes[0] + " BYTES");
                }
            }
        }
    }

    private static void server(final TestUniverse universe, final String mode, final String[] rest) throws Exception {
        // Twenty sessions from four JVMs starting at once starve this machine's two CPUs for seconds: a client may
        // take longer than the default deadline to answer WELCOME, which is not what that test is about.
        final ServerLimits limits = "sessions".equals(mode)
            ? ServerLimits.defaults().handshakeTimeout(java.time.Duration.ofSeconds(60)) : ServerLimits.defaults();
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults(), limits)) {
            System.out.println("READY " + ProcessHandle.current().pid());
            switch (mode) {
                case "hold" -> Thread.sleep(600_000);
                case "stream" -> {
                    try (Session session = server.accept(Duration.ofSeconds(60))) {
                        stream(session.initChannels().getFirst().blobs());
                    }
                }
                case "worker" -> {
                    try (Session session = server.accept(Duration.ofSeconds(60))) {
                        serveHttp(session.initChannels().getFirst());
                    }
                }
                case "fds" -> {
                    try (Session session = server.accept(Duration.ofSeconds(60))) {
                        readHandles(session.initChannels().getFirst());
                    }
                }
                case "sessions" -> verifySessions(server, Integer.parseInt(rest[0]), Long.parseLong(rest[1]));
                case "zerostream" -> {
                    try (Session session = server.accept(Duration.ofSeconds(60))) {
                        touchArena(session);
                        System.out.println("STREAMING " + session.id());
                        stream(session.initChannels().getFirst().blobs());
                    }
                }
                default -> throw new IllegalArgumentException(mode);
            }
        }
    }

    /** Puts a block of this side's arena in use and lends it, so that both pools hold pages. */
    private static void touchArena(final Session session) {
        final dev.isthmus.arena.ShmBlock block = session.arena().allocate(1 << 20);
        block.segment().fill((byte) 1);
        block.lend();
    }

    private static void client(final TestUniverse universe, final String mode, final String[] rest) throws Exception {
        switch (mode) {
            case "connect" -> {
                try (Session session = ClientSession.connect(universe.client(), universe.server(),
                    SessionOptions.defaults().initChannels(1))) {
                    System.out.println("CONNECTED " + session.id());
                } catch (final AuthenticationException e) {
                    System.out.println("REJECTED " + e.getMessage());
                }
            }
            case "stream" -> {
                try (Session session = ClientSession.connect(universe.client(), universe.server(),
                    SessionOptions.defaults().initChannels(1))) {
                    System.out.println("READY " + session.id());
                    stream(session.initChannels().getFirst().blobs());
                }
            }
            case "sessions" -> streamSessions(universe, Integer.parseInt(rest[0]), Long.parseLong(rest[1]));
            case "zerostream" -> {
                try (Session session = ClientSession.connect(universe.client(), universe.server(),
                    SessionOptions.zeroCopy().initChannels(1))) {
                    touchArena(session);
                    System.out.println("STREAMING " + session.id());
                    stream(session.initChannels().getFirst().blobs());
                }
            }
            default -> throw new IllegalArgumentException(mode);
        }
    }

    /** Sends test messages until the channel fails or the process is killed. */
    private static void stream(final BlobChannel channel) {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment message = arena.allocate(MAX_LENGTH);
            for (long sequence = 0; ; sequence++) {
                final int length = TestMessages.length(sequence, MAX_LENGTH);
                TestMessages.write(message, 0, sequence, length);
                if (!channel.offer(message, 0, length, 30 * SECOND_NS)) {
                    throw new IllegalStateException("no room for 30 s");
                }
            }
        } catch (final ChannelClosedException e) {
            System.out.println("ENDED " + e.getMessage());
        }
    }

    /** Receives a TCP connection on the channel's handle pipe and answers an HTTP request on it. */
    private static void serveHttp(final Channel channel) throws Exception {
        final AtomicReference<NativeHandle> received = new AtomicReference<>();
        while (received.get() == null) {
            channel.handles().pollWithHandles((buffer, offset, length, handles) -> received.set(handles.getFirst()), 1,
                30 * SECOND_NS);
        }
        try (NativeHandle connection = received.get(); Arena arena = Arena.ofConfined()) {
            final MemorySegment request = arena.allocate(4096);
            final StringBuilder text = new StringBuilder();
            while (!text.toString().contains("\r\n\r\n")) {
                final long n = connection.read(request, 30 * SECOND_NS);
                if (n <= 0) {
                    throw new IllegalStateException("the request ended early: " + text);
                }
                text.append(new String(request.asSlice(0, n).toArray(JAVA_BYTE), StandardCharsets.US_ASCII));
            }
            final String body = "served by pid " + ProcessHandle.current().pid() + " for " + text.toString().split("\r\n")[0];
            final byte[] response = ("HTTP/1.0 200 OK\r\nContent-Length: " + body.length() + "\r\n\r\n" + body)
                .getBytes(StandardCharsets.US_ASCII);
            final MemorySegment out = arena.allocate(response.length);
            MemorySegment.copy(response, 0, out, JAVA_BYTE, 0, response.length);
            if (!connection.write(out, 30 * SECOND_NS)) {
                throw new IllegalStateException("could not write the response");
            }
        }
        System.out.println("SERVED");
    }

    /** Receives a regular file and a memfd on the channel's handle pipe and prints what they hold. */
    private static void readHandles(final Channel channel) throws Exception {
        final List<NativeHandle> received = new ArrayList<>();
        while (received.size() < 2) {
            channel.handles().pollWithHandles((buffer, offset, length, handles) -> received.addAll(handles), 1,
                30 * SECOND_NS);
        }
        try (NativeHandle file = received.get(0); NativeHandle memfd = received.get(1); Arena arena = Arena.ofConfined();
             java.nio.channels.FileChannel channelOfFile = file.openFileChannel(java.nio.file.StandardOpenOption.READ)) {
            final java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate((int) channelOfFile.size());
            channelOfFile.read(bytes, 0);
            System.out.println("FILE " + new String(bytes.array(), StandardCharsets.UTF_8));
            final MemorySegment mapped = memfd.mapShared(4096, true, arena);
            System.out.println("MEMFD " + mapped.getString(0, StandardCharsets.UTF_8));
            mapped.setString(0, "written back by pid " + ProcessHandle.current().pid(), StandardCharsets.UTF_8);
        }
        System.out.println("READ");
    }

    /** Accepts sessions, verifies every channel's stream, answers each with the count it received. */
    private static void verifySessions(final SessionServer server, final int sessionCount, final long perChannel)
        throws Exception {
        final List<Thread> threads = new ArrayList<>();
        final List<Session> sessions = new ArrayList<>();
        final AtomicReference<String> problem = new AtomicReference<>();
        for (int s = 0; s < sessionCount; s++) {
            final Session session = server.accept(Duration.ofSeconds(120));
            sessions.add(session);
            for (final Channel channel : session.initChannels()) {
                threads.add(Thread.ofPlatform().start(() -> {
                    final long[] next = {0};
                    try {
                        while (next[0] < perChannel) {
                            channel.blobs().poll((buffer, offset, length) -> {
                                final String wrong = TestMessages.verify(buffer, offset, length, next[0], MAX_LENGTH);
                                if (wrong != null) {
                                    problem.compareAndSet(null, channel.id() + ": " + wrong);
                                }
                                next[0]++;
                            }, 1024, 30 * SECOND_NS);
                        }
                        final byte[] answer = Long.toString(next[0]).getBytes(StandardCharsets.US_ASCII);
                        channel.blobs().offer(answer, 0, answer.length, 30 * SECOND_NS);
                    } catch (final RuntimeException e) {
                        problem.compareAndSet(null, channel.id() + ": " + e);
                    }
                }));
            }
        }
        for (final Thread thread : threads) {
            thread.join();
        }
        System.out.println(problem.get() == null ? "VERIFIED " + threads.size() : "PROBLEM " + problem.get());
        for (final Session session : sessions) {
            session.close();
        }
    }

    /** Opens sessions of 4 channels each and streams test messages on every channel at once. */
    private static void streamSessions(final TestUniverse universe, final int sessionCount, final long perChannel)
        throws Exception {
        final List<Session> sessions = new ArrayList<>();
        for (int s = 0; s < sessionCount; s++) {
            sessions.add(ClientSession.connect(universe.client(), universe.server(),
                SessionOptions.defaults().initChannels(4)));
        }
        System.out.println("READY " + sessions.size());
        final List<Thread> threads = new ArrayList<>();
        final AtomicReference<String> problem = new AtomicReference<>();
        for (final Session session : sessions) {
            for (final Channel channel : session.initChannels()) {
                threads.add(Thread.ofPlatform().start(() -> {
                    try (Arena arena = Arena.ofConfined()) {
                        final MemorySegment message = arena.allocate(MAX_LENGTH);
                        for (long sequence = 0; sequence < perChannel; sequence++) {
                            final int length = TestMessages.length(sequence, MAX_LENGTH);
                            TestMessages.write(message, 0, sequence, length);
                            if (!channel.blobs().offer(message, 0, length, 30 * SECOND_NS)) {
                                throw new IllegalStateException("no room for 30 s");
                            }
                        }
                        final String[] answer = new String[1];
                        channel.blobs().poll((buffer, offset, length) -> answer[0] = new String(
                            buffer.asSlice(offset, length).toArray(JAVA_BYTE), StandardCharsets.US_ASCII), 1, 60 * SECOND_NS);
                        if (!Long.toString(perChannel).equals(answer[0])) {
                            problem.compareAndSet(null, channel.id() + ": the server counted " + answer[0]);
                        }
                    } catch (final RuntimeException e) {
                        problem.compareAndSet(null, channel.id() + ": " + e);
                    }
                }));
            }
        }
        for (final Thread thread : threads) {
            thread.join();
        }
        System.out.println(problem.get() == null ? "DONE " + threads.size() : "PROBLEM " + problem.get());
        for (final Session session : sessions) {
            session.close();
        }
    }
}
