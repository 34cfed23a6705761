/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.IsthmusException;
import dev.isthmus.PeerDeadException;
import dev.isthmus.internal.linux.Credentials;
import dev.isthmus.internal.linux.Sockets;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.test.ChildJvm;
import dev.isthmus.transport.NativeHandle;
import dev.isthmus.transport.TestMessages;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import dev.isthmus.test.RootOnly;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sessions between this JVM and child JVMs: authentication by the kernel's view of a real process, the
 * death of either side, one server instance per app, a TCP connection handed to another process, and many
 * sessions at once.
 */
class SessionCrossProcessTest {
    private static final AtomicInteger NAMES = new AtomicInteger();
    private static final Duration LONG = Duration.ofSeconds(60);
    private static final String PEER = SessionPeerMain.class.getName();

    private Path runDir;

    @BeforeEach
    void createRunDirectory() throws IOException {
        // Under /tmp and open to search, so that a child running as another user reaches the server.
        runDir = Files.createTempDirectory(Path.of("/tmp"), "isthmus-sessiontest-",
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        Files.setPosixFilePermissions(runDir, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @AfterEach
    void removeRunDirectory() throws IOException {
        try (Stream<Path> entries = Files.walk(runDir)) {
            for (final Path path : entries.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }

    private TestUniverse universe(final String clientMain) {
        return universe(clientMain, PermissionLevel.USER_ACCESS, Credentials.effectiveUid(), Credentials.effectiveGid());
    }

    private TestUniverse universe(final String clientMain, final PermissionLevel level, final int uid, final int gid) {
        final int n = NAMES.incrementAndGet();
        return new TestUniverse("xsrv" + n, "xcli" + n, runDir, level, clientMain, uid, gid, Credentials.effectiveUid(),
            Credentials.effectiveGid());
    }

    private static String[] args(final String role, final TestUniverse universe, final String... mode) {
        final List<String> args = new ArrayList<>();
        args.add(role);
        args.addAll(universe.args());
        args.addAll(List.of(mode));
        return args.toArray(String[]::new);
    }

    private List<String> runDirEntries() throws IOException {
        try (Stream<Path> entries = Files.list(runDir)) {
            return entries.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static List<String> shmEntriesOf(final String sessionId) throws IOException {
        try (Stream<Path> entries = Files.list(SharedMemory.DEFAULT_DIRECTORY)) {
            return entries.map(p -> p.getFileName().toString()).filter(name -> name.contains("." + sessionId + "-")).toList();
        }
    }

    @Test
    void shouldAuthenticateAClientProcessByItsMainClass() {
        final TestUniverse universe = universe(PEER);
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults());
             ChildJvm client = ChildJvm.start(SessionPeerMain.class, args("client", universe, "connect"))) {
            try (Session session = server.accept(LONG)) {
                assertEquals(client.pid(), session.peer().pid());
                assertEquals(universe.clientName(), session.peerApp());
            }
            assertTrue(client.awaitLine("CONNECTED", LONG).startsWith("CONNECTED s"), client.output());
            client.assertExit(0, LONG);
        }
    }

    @Test
    void shouldRejectAClientProcessRunningAnotherMainClass() {
        final TestUniverse universe = universe("com.acme.cache.CacheClient");
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults());
             ChildJvm client = ChildJvm.start(SessionPeerMain.class, args("client", universe, "connect"))) {
            assertThrows(IsthmusException.class, () -> server.accept(Duration.ofSeconds(3)));
            final String line = client.awaitLine("REJECTED", LONG);
            assertTrue(line.contains("must run main class com.acme.cache.CacheClient") && line.contains(PEER), line);
            client.assertExit(0, LONG);
        }
    }

    @Test
    @RootOnly("runs a client as another user (setpriv)")
    void shouldRejectAClientRunningAsAnotherUser() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")), "setpriv is not installed");
        final TestUniverse universe = universe(PEER, PermissionLevel.UNRESTRICTED, 0, 0);
        final Path classes = Files.createTempDirectory(Path.of("/tmp"), "isthmus-cp-",
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            final List<String> command = new ArrayList<>(List.of("/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                "--clear-groups"));
            command.addAll(ChildJvm.command(List.of("-XX:-UsePerfData"), PEER, args("client", universe, "connect")));
            replaceClassPath(command, copyClassPath(classes));
            try (ChildJvm client = ChildJvm.startCommand("nobody-client", command)) {
                assertThrows(IsthmusException.class, () -> server.accept(Duration.ofSeconds(4)));
                final String line = client.awaitLine("REJECTED", LONG);
                assertTrue(line.contains("accepts no client running as uid 65534"), line);
                assertFalse(line.contains("uid 0") || line.contains("must run"), "a process of another user hears"
                    + " nothing of the allowed clients' users: " + line);
                client.assertExit(0, LONG);
            }
        } finally {
            try (Stream<Path> entries = Files.walk(classes)) {
                for (final Path path : entries.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(path);
                }
            }
        }
    }

    @Test
    @RootOnly("runs another user's impostor server (setpriv)")
    void shouldGiveAnotherUsersImpostorServerNothing() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/setpriv")), "setpriv is not installed");
        final Path classes = Files.createTempDirectory(Path.of("/tmp"), "isthmus-cp-",
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        // A world-writable, sticky place like /tmp, where the /tmp/isthmus-<uid> fallback lives.
        final Path shared = Files.createDirectory(runDir.resolve("shared"));
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
        Files.setAttribute(shared, "unix:mode", 01777);
        final Path squatted = shared.resolve("isthmus-run");
        final int n = NAMES.incrementAndGet();
        final TestUniverse impostorUniverse = new TestUniverse("xsrv" + n, "xcli" + n, squatted,
            PermissionLevel.UNRESTRICTED, "-", 0, 0, 65534, 65534);
        try {
            final List<String> command = new ArrayList<>(List.of("/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                "--clear-groups"));
            command.addAll(ChildJvm.command(List.of("-XX:-UsePerfData"), PEER, args("impostor", impostorUniverse, "-")));
            replaceClassPath(command, copyClassPath(classes));
            try (ChildJvm impostor = ChildJvm.startCommand("impostor", command)) {
                impostor.awaitReady();
                assertEquals(65534, (Integer) Files.getAttribute(squatted, "unix:uid"));
                final ClientApp client = ClientApp.builder("xcli" + n).build();
                final SessionOptions secret = SessionOptions.defaults()
                    .metadata("the client's secret".getBytes(java.nio.charset.StandardCharsets.UTF_8));
                // The client's definition: the server runs as this (root) user. The directory is the impostor's.
                final ServerApp real = ServerApp.builder("xsrv" + n).allowedClients(client).runDirectory(squatted).build();
                final dev.isthmus.AuthenticationException byDirectory = assertThrows(
                    dev.isthmus.AuthenticationException.class, () -> ClientSession.connect(client, real, secret));
                assertTrue(byDirectory.getMessage().contains("is owned by uid 65534, but the server app runs as uid 0"),
                    byDirectory.getMessage());
                // A definition that matches the directory's owner but not the listener's group: the socket's
                // credentials give it away, and nothing is sent.
                final ServerApp wrongGroup = ServerApp.builder("xsrv" + n).user(65534, 0).allowedClients(client)
                    .runDirectory(squatted).build();
                final dev.isthmus.AuthenticationException byCredentials = assertThrows(
                    dev.isthmus.AuthenticationException.class, () -> ClientSession.connect(client, wrongGroup, secret));
                assertTrue(byCredentials.getMessage().contains("runs as uid 65534, gid 65534")
                    && byCredentials.getMessage().contains("nothing was sent"), byCredentials.getMessage());
                final String heard = impostor.awaitLine("RECEIVED", LONG);
                assertEquals("RECEIVED NOTHING", heard, impostor.output());
                assertFalse(impostor.output().contains("BYTES"), impostor.output());
                assertEquals(1, impostor.output().lines().filter(line -> line.startsWith("CONNECTION")).count(),
                    "only the credentials check connected: " + impostor.output());
            }
        } finally {
            try (Stream<Path> entries = Files.walk(classes)) {
                for (final Path path : entries.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(path);
                }
            }
        }
    }

    /** Copies this module's classes where another user can read them (a home directory may be closed). */
    private static String copyClassPath(final Path target) throws IOException {
        final List<String> entries = new ArrayList<>();
        int i = 0;
        for (final String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            final Path source = Path.of(entry);
            if (!Files.isDirectory(source)) {
                continue;
            }
            final Path copy = target.resolve("cp" + i++);
            try (Stream<Path> files = Files.walk(source)) {
                for (final Path file : files.toList()) {
                    final Path to = copy.resolve(source.relativize(file).toString());
                    if (Files.isDirectory(file)) {
                        Files.createDirectories(to);
                        Files.setPosixFilePermissions(to, PosixFilePermissions.fromString("rwxr-xr-x"));
                    } else {
                        Files.copy(file, to);
                        Files.setPosixFilePermissions(to, PosixFilePermissions.fromString("rw-r--r--"));
                    }
                }
            }
            entries.add(copy.toString());
        }
        return String.join(java.io.File.pathSeparator, entries);
    }

    private static void replaceClassPath(final List<String> command, final String classPath) {
        final int index = command.indexOf("-cp");
        command.set(index + 1, classPath);
    }

    private static void signal(final long pid, final String signal) throws Exception {
        assertEquals(0, new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).inheritIO().start().waitFor());
    }

    @Test
    void shouldFailAPendingPollWhenTheClientIsStoppedForLongerThanTheIdleTimeout() throws Exception {
        final TestUniverse universe = universe(PEER);
        final SessionOptions impatient = SessionOptions.defaults().keepAlive(Duration.ofMillis(300), Duration.ofSeconds(2));
        try (SessionServer server = SessionServer.start(universe.server(), impatient);
             ChildJvm client = ChildJvm.start(SessionPeerMain.class, args("client", universe, "stream"))) {
            try (Session session = server.accept(LONG)) {
                final dev.isthmus.transport.BlobChannel channel = session.initChannels().getFirst().blobs();
                final long[] received = {0};
                while (received[0] < 1_000) {
                    received[0] += channel.poll((buffer, offset, length) -> { }, 256, TimeUnit.SECONDS.toNanos(10));
                }
                signal(client.pid(), "STOP");
                final long stoppedAt = System.nanoTime();
                final PeerDeadException failed = assertThrows(PeerDeadException.class, () -> {
                    while (true) {
                        channel.poll((buffer, offset, length) -> { }, 4096, TimeUnit.SECONDS.toNanos(30));
                    }
                });
                final long afterMs = (System.nanoTime() - stoppedAt) / 1_000_000;
                assertTrue(afterMs < 2_000 + 3_000, "the pending poll failed after " + afterMs + " ms");
                assertTrue(failed.getMessage().contains("declared dead"), failed.getMessage());
                assertInstanceOf(PeerDeadException.class, session.failure().orElseThrow());
            } finally {
                client.kill9();
            }
        }
    }

    @Test
    void shouldFailAPendingOfferWhenTheServerIsStoppedForLongerThanTheIdleTimeout() throws Exception {
        final TestUniverse universe = universe("-");
        final SessionOptions impatient = SessionOptions.defaults().initChannels(1)
            .keepAlive(Duration.ofMillis(300), Duration.ofSeconds(2));
        try (ChildJvm server = ChildJvm.start(SessionPeerMain.class, args("server", universe, "hold"))) {
            server.awaitReady();
            try (Session session = ClientSession.connect(universe.client(), universe.server(), impatient)) {
                final dev.isthmus.transport.BlobChannel channel = session.initChannels().getFirst().blobs();
                final byte[] message = new byte[1024];
                // Nobody reads on the server: fill the ring, then stop the server with this offer waiting.
                while (channel.offer(message, 0, message.length, 0)) {
                    assertTrue(session.isOpen());
                }
                signal(server.pid(), "STOP");
                final long stoppedAt = System.nanoTime();
                assertThrows(PeerDeadException.class, () -> channel.offer(message, 0, message.length,
                    TimeUnit.SECONDS.toNanos(30)));
                final long afterMs = (System.nanoTime() - stoppedAt) / 1_000_000;
                assertTrue(afterMs < 2_000 + 3_000, "the pending offer failed after " + afterMs + " ms");
            } finally {
                server.kill9();
            }
        }
    }

    @Test
    void shouldTellTheServerWithinOneSecondWhenTheClientIsKilledAndLeaveNothingBehind() throws Exception {
        final TestUniverse universe = universe(PEER);
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults());
             ChildJvm client = ChildJvm.start(SessionPeerMain.class, args("client", universe, "stream"))) {
            final Session session = server.accept(LONG);
            final CompletableFuture<Long> toldAt = new CompletableFuture<>();
            session.onError(error -> toldAt.complete(System.nanoTime()));
            final long[] next = {0};
            while (next[0] < 10_000) {
                session.initChannels().getFirst().blobs().poll((buffer, offset, length) -> {
                    assertEquals(null, TestMessages.verify(buffer, offset, length, next[0], SessionPeerMain.MAX_LENGTH));
                    next[0]++;
                }, 256, TimeUnit.SECONDS.toNanos(10));
            }
            client.kill9();
            final long killedAt = System.nanoTime();
            final long toldAfterMs = (toldAt.get(10, TimeUnit.SECONDS) - killedAt) / 1_000_000;
            assertTrue(toldAfterMs < 1000, "told after " + toldAfterMs + " ms");
            assertInstanceOf(PeerDeadException.class, session.failure().orElseThrow());
            assertThrows(PeerDeadException.class, () -> {
                while (true) {
                    session.initChannels().getFirst().blobs().poll((buffer, offset, length) -> { }, 4096,
                        TimeUnit.SECONDS.toNanos(5));
                }
            });
            assertEquals(List.of(), shmEntriesOf(session.id()), "the survivor removed the session's shared memory");
            session.close();
            assertEquals(2, runDirEntries().size(), "only the running server's pid file and socket: " + runDirEntries());
        }
        assertEquals(List.of(), runDirEntries());
    }

    /**
     * Queues, pools and return rings are sealed anonymous files: when both processes of a zero-copy session
     * are killed during traffic, the kernel frees them all, and nothing is left in {@code /dev/shm} for anyone
     * to sweep.
     */
    @Test
    void shouldLeaveNothingInDevShmWhenBothSidesOfAZeroCopySessionAreKilled() throws Exception {
        final TestUniverse universe = universe(PEER);
        try (ChildJvm server = ChildJvm.start(SessionPeerMain.class, args("server", universe, "zerostream"))) {
            server.awaitReady();
            final long serverPid = server.pid();
            try (ChildJvm client = ChildJvm.start(SessionPeerMain.class, args("client", universe, "zerostream"))) {
                final String session = client.awaitLine("STREAMING", LONG).substring("STREAMING ".length()).trim();
                server.awaitLine("STREAMING", LONG);
                assertEquals(List.of(), shmEntriesOf(session), "a live session names nothing in /dev/shm either");
                client.kill9();
                server.kill9();
                assertEquals(List.of(), shmEntriesOf(session));
                assertEquals(List.of(), shmEntriesOfPid(serverPid));
                assertEquals(List.of(), shmEntriesOfPid(client.pid()));
            }
        } finally {
            // What the killed server left in the run directory (its socket and pid file) is swept by the next start.
            try (SessionServer next = SessionServer.start(universe.server(), SessionOptions.defaults())) {
                assertEquals(2, runDirEntries().size(), runDirEntries().toString());
            }
        }
    }

    private static List<String> shmEntriesOfPid(final long pid) throws IOException {
        try (Stream<Path> entries = Files.list(dev.isthmus.shm.SharedMemory.DEFAULT_DIRECTORY)) {
            return entries.map(p -> p.getFileName().toString()).filter(n -> n.contains("." + pid + ".")).toList();
        }
    }

    @Test
    void shouldTellTheClientWithinOneSecondWhenTheServerIsKilledAndSweepAtTheNextStart() throws Exception {
        final TestUniverse universe = universe("-");
        final String sessionId;
        try (ChildJvm serverProcess = ChildJvm.start(SessionPeerMain.class, args("server", universe, "stream"))) {
            serverProcess.awaitReady();
            final Session session = ClientSession.connect(universe.client(), universe.server(),
                SessionOptions.zeroCopy().initChannels(1));
            sessionId = session.id();
            session.arena().allocate(1 << 20);
            final CompletableFuture<Long> toldAt = new CompletableFuture<>();
            session.onError(error -> toldAt.complete(System.nanoTime()));
            final long[] next = {0};
            while (next[0] < 10_000) {
                session.initChannels().getFirst().blobs().poll((buffer, offset, length) -> next[0]++, 256,
                    TimeUnit.SECONDS.toNanos(10));
            }
            serverProcess.kill9();
            final long killedAt = System.nanoTime();
            final long toldAfterMs = (toldAt.get(10, TimeUnit.SECONDS) - killedAt) / 1_000_000;
            assertTrue(toldAfterMs < 1000, "told after " + toldAfterMs + " ms");
            assertInstanceOf(PeerDeadException.class, session.failure().orElseThrow());
            session.close();
        }
        assertEquals(List.of(), shmEntriesOf(sessionId), "the survivor removed the session's shared memory");
        assertEquals(2, runDirEntries().size(), "the dead server's pid file and socket remain: " + runDirEntries());
        try (SessionServer restarted = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            assertEquals(2, runDirEntries().size(), "the new instance swept the old one's socket: " + runDirEntries());
        }
        assertEquals(List.of(), runDirEntries());
    }

    @Test
    void shouldRefuseASecondInstanceOfAServerApp() {
        final TestUniverse universe = universe("-");
        try (ChildJvm first = ChildJvm.start(SessionPeerMain.class, args("server", universe, "hold"))) {
            first.awaitReady();
            final IsthmusException e = assertThrows(IsthmusException.class,
                () -> SessionServer.start(universe.server(), SessionOptions.defaults()));
            assertTrue(e.getMessage().contains("already runs as pid " + first.pid()), e.getMessage());
        }
    }

    @Test
    void shouldHandAnAcceptedTcpConnectionToAnotherProcessWhichAnswersOnIt() throws Exception {
        final TestUniverse universe = universe("-");
        final int[] listener = Sockets.listenTcpLoopback();
        try (NativeHandle listening = NativeHandle.adopt(listener[0]);
             ChildJvm worker = ChildJvm.start(SessionPeerMain.class, args("server", universe, "worker"))) {
            worker.awaitReady();
            try (Session session = ClientSession.connect(universe.client(), universe.server(),
                SessionOptions.defaults().initChannels(1))) {
                final CompletableFuture<String> response = CompletableFuture.supplyAsync(() -> {
                    try (Socket socket = new Socket("127.0.0.1", listener[1])) {
                        final OutputStream out = socket.getOutputStream();
                        out.write("GET /hello HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                        out.flush();
                        final InputStream in = socket.getInputStream();
                        return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
                    } catch (final IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                int connection;
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while ((connection = Sockets.accept(listening.fd(), "127.0.0.1:" + listener[1])) < 0) {
                    assertTrue(System.nanoTime() < deadline, "no TCP connection came");
                    Sockets.poll(listening.fd(), Sockets.POLLIN, TimeUnit.MILLISECONDS.toNanos(100));
                }
                try (NativeHandle accepted = NativeHandle.adopt(connection)) {
                    assertTrue(session.initChannels().getFirst().handles().offerWithHandles(
                        MemorySegment.ofArray(new byte[] {1}), 0, 1, accepted));
                }
                final String answer = response.get(30, TimeUnit.SECONDS);
                assertTrue(answer.startsWith("HTTP/1.0 200 OK"), answer);
                assertTrue(answer.endsWith("served by pid " + worker.pid() + " for GET /hello HTTP/1.0"), answer);
                worker.awaitLine("SERVED", LONG);
            }
        }
    }

    @Test
    void shouldPassARegularFileAndAMemfdToAnotherProcess() throws Exception {
        final TestUniverse universe = universe("-");
        final Path file = Files.createTempFile("isthmus-fd", ".txt");
        try (ChildJvm peer = ChildJvm.start(SessionPeerMain.class, args("server", universe, "fds"))) {
            Files.writeString(file, "the file's content");
            peer.awaitReady();
            try (Session session = ClientSession.connect(universe.client(), universe.server(),
                     SessionOptions.defaults().initChannels(1));
                 NativeHandle regular = NativeHandle.open(file, false);
                 NativeHandle memfd = NativeHandle.memfd("isthmus-test", 4096);
                 java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
                final MemorySegment shared = memfd.mapShared(4096, true, arena);
                shared.setString(0, "the memfd's content", StandardCharsets.UTF_8);
                assertTrue(session.initChannels().getFirst().handles().offerWithHandles(
                    MemorySegment.ofArray(new byte[] {1}), 0, 1, regular, memfd));
                assertEquals("FILE the file's content", peer.awaitLine("FILE", LONG));
                assertEquals("MEMFD the memfd's content", peer.awaitLine("MEMFD", LONG));
                peer.awaitLine("READ", LONG);
                assertEquals("written back by pid " + peer.pid(), shared.getString(0, StandardCharsets.UTF_8),
                    "both processes map the same memory");
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @Test
    void shouldCarryTwentySessionsOfFourChannelsEachWithoutLoss() {
        final TestUniverse universe = universe(PEER);
        final int clients = 4;
        final int sessionsPerClient = 5;
        final String perChannel = "20000";
        try (ChildJvm server = ChildJvm.start(SessionPeerMain.class,
            args("server", universe, "sessions", Integer.toString(clients * sessionsPerClient), perChannel))) {
            server.awaitReady();
            final List<ChildJvm> children = new ArrayList<>();
            try {
                for (int i = 0; i < clients; i++) {
                    children.add(ChildJvm.start(SessionPeerMain.class,
                        args("client", universe, "sessions", Integer.toString(sessionsPerClient), perChannel)));
                }
                for (final ChildJvm child : children) {
                    assertEquals("DONE " + sessionsPerClient * 4, child.awaitLine(l -> l.startsWith("DONE")
                        || l.startsWith("PROBLEM"), "a result", Duration.ofMinutes(3)), child.output());
                    child.assertExit(0, LONG);
                }
                assertEquals("VERIFIED " + clients * sessionsPerClient * 4, server.awaitLine(l -> l.startsWith("VERIFIED")
                    || l.startsWith("PROBLEM"), "a result", LONG), server.output());
                server.assertExit(0, LONG);
            } finally {
                children.forEach(ChildJvm::close);
            }
        }
    }
}
