/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.transport.NativeHandle;
import dev.isthmus.transport.UnixSocketBlobChannel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A client that stalls, floods or overreaches cannot stall, exhaust or leak the server: silent
 * connections delay no one, descriptors that come with garbage are closed, and every limit is a clear
 * refusal for that client alone.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SessionServerAbuseTest {
    private static final AtomicInteger NAMES = new AtomicInteger();
    private static final Duration LONG = Duration.ofSeconds(30);

    @TempDir
    Path runDirectory;

    private final List<Throwable> heard = new CopyOnWriteArrayList<>();

    private ClientApp client;
    private ServerApp app;

    private SessionServer start(final ServerLimits limits) {
        client = ClientApp.builder("bcli" + NAMES.incrementAndGet()).build();
        app = ServerApp.builder("bsrv" + NAMES.incrementAndGet()).allowedClients(client).runDirectory(runDirectory).build();
        final SessionServer server = SessionServer.start(app, SessionOptions.defaults(), limits);
        server.onError(heard::add);
        return server;
    }

    private Path socketPath() {
        return runDirectory.resolve(new ResourceName(ResourceName.configuredPrefix(), app.name(),
            ProcessHandle.current().pid(), "sock", "srv").toString());
    }

    private UnixSocketBlobChannel rawConnection() {
        return UnixSocketBlobChannel.connect(socketPath(), TimeUnit.SECONDS.toNanos(10), SessionProtocol.controlOptions());
    }

    /** Connects a client in the background and takes the session on the server. */
    private Session[] connect(final SessionServer server, final SessionOptions options) {
        final CompletableFuture<Session> connecting =
            CompletableFuture.supplyAsync(() -> ClientSession.connect(client, app, options));
        final Session accepted;
        try {
            accepted = server.accept(LONG);
        } catch (final IsthmusTimeoutException e) {
            // The client's side says why no session came: its own failure, or a session the server did not hand out.
            connecting.handle((session, failure) -> {
                if (failure != null) {
                    e.addSuppressed(failure);
                } else {
                    e.addSuppressed(new AssertionError("the client has a session the server did not hand out: " + session));
                    session.close();
                }
                return null;
            }).join();
            throw e;
        }
        return new Session[] {connecting.join(), accepted};
    }

    private static long openDescriptors() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }

    /**
     * {@return this process's descriptor count once it has held still for 200 ms: a baseline that does not
     * include what an earlier step is still letting go of}
     */
    private static long settledDescriptors() throws Exception {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        long last = openDescriptors();
        long stableSince = System.nanoTime();
        while (System.nanoTime() - stableSince < TimeUnit.MILLISECONDS.toNanos(200) && System.nanoTime() < deadline) {
            Thread.sleep(20);
            final long now = openDescriptors();
            if (now != last) {
                last = now;
                stableSince = System.nanoTime();
            }
        }
        return last;
    }

    /**
     * Waits until this process holds no more than {@code baseline} descriptors again; fails with the count if
     * it does not. (Fewer is fine: something of the JVM's own may have closed meanwhile; more is a leak.)
     */
    private static void awaitDescriptors(final long baseline) throws Exception {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        long now = openDescriptors();
        while (now > baseline && System.nanoTime() < deadline) {
            Thread.sleep(20);
            now = openDescriptors();
        }
        assertTrue(now <= baseline, "descriptors held by this process after the flood: " + now + ", before: "
            + baseline);
    }

    private static boolean handshakeThreadsOf(final String appName) {
        return Thread.getAllStackTraces().keySet().stream()
            .anyMatch(thread -> thread.getName().startsWith("isthmus-handshake-" + appName + "-") && thread.isAlive());
    }

    @Test
    void shouldNotDelayALegitimateClientBehindSilentConnections() {
        // Silent connections may hold their handshake slot for 20 s: a legitimate client must not wait for them.
        try (SessionServer server = start(ServerLimits.defaults().handshakeTimeout(Duration.ofSeconds(20)));
             UnixSocketBlobChannel silent1 = rawConnection();
             UnixSocketBlobChannel silent2 = rawConnection()) {
            final long start = System.nanoTime();
            final Session[] sessions = connect(server, SessionOptions.defaults().initChannels(1));
            final long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            try (Session mine = sessions[0]; Session theirs = sessions[1]) {
                assertTrue(tookMs < 10_000, "the client took " + tookMs + " ms behind two silent connections");
                assertEquals("through", SessionTest.roundTrip(mine.initChannels().getFirst().blobs(),
                    theirs.initChannels().getFirst().blobs(), "through"));
            }
            assertTrue(silent1.isOpen() && silent2.isOpen());
        }
    }

    @Test
    void shouldLetAClientThatSpeaksGoBeforeQueuedSilentConnectionsOfItsUser() throws Exception {
        // One handshake at a time for this uid, 3 s each: four silent connections would hold a client that
        // waited its turn behind them for 12 s; one that speaks waits for one deadline at most.
        try (SessionServer server = start(ServerLimits.defaults().maxHandshakes(1, 64)
                 .handshakeTimeout(Duration.ofSeconds(3)));
             UnixSocketBlobChannel silent1 = rawConnection();
             UnixSocketBlobChannel silent2 = rawConnection();
             UnixSocketBlobChannel silent3 = rawConnection();
             UnixSocketBlobChannel silent4 = rawConnection()) {
            Thread.sleep(100);
            final long start = System.nanoTime();
            final Session[] sessions = connect(server, SessionOptions.defaults());
            final long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            sessions[0].close();
            sessions[1].close();
            assertTrue(tookMs < 8_000, "the client waited " + tookMs + " ms behind four silent connections");
        }
    }

    @Test
    void shouldDropASilentConnectionAtTheHandshakeDeadlineAndEndHandshakesOnClose() throws Exception {
        final SessionServer server = start(ServerLimits.defaults().handshakeTimeout(Duration.ofMillis(300)));
        try (UnixSocketBlobChannel silent = rawConnection()) {
            final long deadline = System.nanoTime() + LONG.toNanos();
            while (heard.isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertTrue(heard.getFirst().getMessage().contains("no answer"), heard.getFirst().toString());
            // A second silent connection is in progress when the server closes: close ends it and waits.
            try (UnixSocketBlobChannel another = rawConnection()) {
                final long waitStart = System.nanoTime();
                while (!handshakeThreadsOf(app.name()) && System.nanoTime() - waitStart < LONG.toNanos()) {
                    Thread.sleep(1);
                }
                server.close();
                assertTrue(!handshakeThreadsOf(app.name()), "a handshake thread outlived close()");
            }
        } finally {
            server.close();
        }
    }

    @Test
    void shouldCloseTheDescriptorsOfGarbageFramesBeforeAuthentication() throws Exception {
        try (SessionServer server = start(ServerLimits.defaults());
             Arena arena = Arena.ofConfined();
             NativeHandle memfd = NativeHandle.memfd("isthmus-abuse", 4096)) {
            final MemorySegment garbage = arena.allocate(40);
            garbage.fill((byte) 0x5a);
            final long before = settledDescriptors();
            final NativeHandle[] three = {memfd, memfd, memfd};
            final NativeHandle[] most = new NativeHandle[253];
            Arrays.fill(most, memfd);
            int frames = 0;
            // 250 connections of 4 frames each: 3 descriptors a frame, and 253 in the first frame of every 25th.
            for (int connection = 0; connection < 250; connection++) {
                try (UnixSocketBlobChannel attacker = rawConnection()) {
                    for (int frame = 0; frame < 4; frame++) {
                        final NativeHandle[] handles = frame == 0 && connection % 25 == 0 ? most : three;
                        try {
                            attacker.offerWithHandles(garbage, 0, (int) garbage.byteSize(), handles);
                            frames++;
                        } catch (final RuntimeException closedByTheServer) {
                            break;
                        }
                    }
                }
            }
            assertTrue(frames >= 250, "at least the first frame of each connection went out: " + frames);
            awaitDescriptors(before);
            assertTrue(!heard.isEmpty(), "the server reported the garbage");
            // And it still serves.
            final Session[] sessions = connect(server, SessionOptions.defaults().initChannels(1));
            sessions[0].close();
            sessions[1].close();
        }
    }

    @Test
    void shouldCloseTheDescriptorsOfControlMessagesThatTakeNoneAfterAuthentication() throws Exception {
        try (SessionServer server = start(ServerLimits.defaults());
             NativeHandle memfd = NativeHandle.memfd("isthmus-abuse", 4096)) {
            final Session[] sessions = connect(server, SessionOptions.defaults().initChannels(1));
            try (Session mine = sessions[0]; Session theirs = sessions[1]) {
                final List<Throwable> serverSide = new CopyOnWriteArrayList<>();
                theirs.onError(serverSide::add);
                final long before = settledDescriptors();
                final byte[] types = {SessionProtocol.PING, SessionProtocol.PONG, SessionProtocol.READY,
                    SessionProtocol.OPEN_OK, SessionProtocol.OPEN_REFUSED};
                for (int i = 0; i < 1_000; i++) {
                    final SessionProtocol.Writer writer = new SessionProtocol.Writer(types[i % types.length], mine.token(),
                        1_000_000 + i);
                    if (types[i % types.length] == SessionProtocol.OPEN_REFUSED) {
                        writer.putString("no");
                    }
                    mine.sendControl(writer.toArray(), memfd, memfd);
                }
                // Wrong tokens are refused with their descriptors closed too.
                for (int i = 0; i < 100; i++) {
                    mine.sendControl(new SessionProtocol.Writer(SessionProtocol.OPEN, UUID.randomUUID(), i).toArray(),
                        memfd);
                }
                awaitDescriptors(before);
                assertTrue(theirs.isOpen() && mine.isOpen(), "a misbehaving but authenticated peer is told, not cut off");
                assertEquals("still", SessionTest.roundTrip(mine.initChannels().getFirst().blobs(),
                    theirs.initChannels().getFirst().blobs(), "still"));
                assertTrue(serverSide.stream().anyMatch(e -> e.getMessage().contains("only OPEN may carry any")),
                    serverSide.toString());
            }
        }
    }

    @Test
    void shouldRejectAHelloThatLiesAboutItsPidOrStartTime() throws Exception {
        try (SessionServer ignored = start(ServerLimits.defaults())) {
            final dev.isthmus.shm.ProcessIdentity me = dev.isthmus.shm.ProcessIdentity.current();
            final long[][] lies = {{me.pid() + 1, me.startTimeTicks()}, {me.pid(), me.startTimeTicks() + 1}};
            final String[] expected = {"claims pid " + (me.pid() + 1), "claims start time " + (me.startTimeTicks() + 1)};
            for (int i = 0; i < lies.length; i++) {
                try (UnixSocketBlobChannel liar = rawConnection()) {
                    final byte[] hello = SessionProtocol.encodeHello(new SessionProtocol.Hello(client.name(),
                        dev.isthmus.internal.linux.Credentials.effectiveUid(),
                        dev.isthmus.internal.linux.Credentials.effectiveGid(), lies[i][0], lies[i][1], 0,
                        ChannelTransport.SHM_QUEUE, false, new byte[0]));
                    assertTrue(liar.offer(hello, 0, hello.length, TimeUnit.SECONDS.toNanos(10)));
                    final SessionProtocol.Reply reply = SessionProtocol.awaitReply(liar, LONG);
                    assertEquals(SessionProtocol.REJECT, reply.message().type());
                    final String reason = SessionProtocol.rejection(reply.message().body()).reason();
                    assertTrue(reason.contains(expected[i]), reason);
                }
            }
        }
    }

    @Test
    void shouldTellAClientThatDoesNotAnswerItsWelcomeWhyTheHandshakeEnded() throws Exception {
        try (SessionServer server = start(ServerLimits.defaults().handshakeTimeout(Duration.ofMillis(300)))) {
            final dev.isthmus.shm.ProcessIdentity me = dev.isthmus.shm.ProcessIdentity.current();
            try (UnixSocketBlobChannel slow = rawConnection()) {
                final byte[] hello = SessionProtocol.encodeHello(new SessionProtocol.Hello(client.name(),
                    dev.isthmus.internal.linux.Credentials.effectiveUid(),
                    dev.isthmus.internal.linux.Credentials.effectiveGid(), me.pid(), me.startTimeTicks(), 0,
                    ChannelTransport.SHM_QUEUE, false, new byte[0]));
                assertTrue(slow.offer(hello, 0, hello.length, TimeUnit.SECONDS.toNanos(10)));
                final SessionProtocol.Reply welcome = SessionProtocol.awaitReply(slow, LONG);
                welcome.closeHandles();
                assertEquals(SessionProtocol.WELCOME, welcome.message().type());
                // No READY: the server gives up at its deadline, and says so before it closes.
                final SessionProtocol.Reply reply = SessionProtocol.awaitReply(slow, LONG);
                assertEquals(SessionProtocol.REJECT, reply.message().type());
                final String reason = SessionProtocol.rejection(reply.message().body()).reason();
                assertTrue(reason.contains("no READY within PT0.3S of WELCOME (ServerLimits.handshakeTimeout)"), reason);
            }
            assertEquals(0, server.sessions().size(), "no session is left of it");
        }
    }

    @Test
    void shouldRefuseTheSessionBeyondTheLimitOfAClientApp() {
        try (SessionServer server = start(ServerLimits.defaults().maxSessionsPerClient(2))) {
            final Session[] first = connect(server, SessionOptions.defaults());
            final Session[] second = connect(server, SessionOptions.defaults());
            try {
                final SessionRefusedException refused = assertThrows(SessionRefusedException.class,
                    () -> ClientSession.connect(client, app, SessionOptions.defaults()));
                assertTrue(refused.getMessage().contains("has 2 sessions") && refused.getMessage().contains(
                    "maxSessionsPerClient"), refused.getMessage());
                assertThrows(IsthmusTimeoutException.class, () -> server.accept(Duration.ofMillis(200)));
            } finally {
                for (final Session session : List.of(first[0], first[1], second[0], second[1])) {
                    session.close();
                }
            }
            // Closing one makes room again.
            final Session[] third = connect(server, SessionOptions.defaults());
            third[0].close();
            third[1].close();
        }
    }

    @Test
    void shouldRefuseMoreInitChannelsThanTheLimit() {
        try (SessionServer ignored = start(ServerLimits.defaults().maxInitChannels(2))) {
            final SessionRefusedException refused = assertThrows(SessionRefusedException.class,
                () -> ClientSession.connect(client, app, SessionOptions.defaults().initChannels(3)));
            assertTrue(refused.getMessage().contains("at most 2 init channels (maxInitChannels)")
                && refused.getMessage().contains("asked for 3"), refused.getMessage());
        }
    }

    @Test
    void shouldRefuseTheChannelBeyondTheLimitOfASessionAndGoOn() {
        try (SessionServer server = start(ServerLimits.defaults().maxChannelsPerSession(3))) {
            final Session[] sessions = connect(server, SessionOptions.defaults().initChannels(1));
            try (Session mine = sessions[0]; Session theirs = sessions[1]) {
                final List<Channel> opened = new ArrayList<>();
                theirs.onChannel(opened::add);
                mine.openChannel();
                mine.openChannel();
                final ChannelRefusedException refused = assertThrows(ChannelRefusedException.class, mine::openChannel);
                assertTrue(refused.getMessage().contains("at most 3 channels per session (maxChannelsPerSession)"),
                    refused.getMessage());
                assertEquals("after", SessionTest.roundTrip(mine.initChannels().getFirst().blobs(),
                    theirs.initChannels().getFirst().blobs(), "after"));
            }
        }
    }

    /** {@return the resident kilobytes of this process: anonymous, file-backed and shared memory} */
    private static long residentKiB() throws IOException {
        long total = 0;
        for (final String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("RssAnon:") || line.startsWith("RssShmem:")) {
                total += Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return total;
    }

    @Test
    void shouldBoundTheMemoryOfIdleChannels() throws Exception {
        try (SessionServer server = start(ServerLimits.defaults())) {
            final Session[] sessions = connect(server, SessionOptions.defaults());
            try (Session mine = sessions[0]; Session theirs = sessions[1]) {
                theirs.onChannel(channel -> { });
                for (int i = 0; i < 10; i++) {
                    mine.openChannel();
                }
                System.gc();
                final long before = residentKiB();
                final int count = 200;
                for (int i = 0; i < count; i++) {
                    mine.openChannel();
                }
                System.gc();
                final long perChannelKiB = (residentKiB() - before) / count;
                System.out.println("resident memory per idle channel, both ends: " + perChannelKiB + " KiB");
                assertTrue(perChannelKiB < 256, "an idle channel costs both ends " + perChannelKiB + " KiB");
            }
        }
    }

    @Test
    void shouldLetABurstOfOneUsersClientsWaitTheirTurnRatherThanBeRefused() {
        try (SessionServer server = start(ServerLimits.defaults().maxHandshakes(1, 1).maxSessionsPerClient(16))) {
            final List<CompletableFuture<Session>> clients = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                clients.add(CompletableFuture.supplyAsync(() -> ClientSession.connect(client, app, SessionOptions.defaults())));
            }
            final List<Session> accepted = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                accepted.add(server.accept(LONG));
            }
            for (final CompletableFuture<Session> future : clients) {
                future.join().close();
            }
            accepted.forEach(Session::close);
        }
    }
}
