/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.AuthenticationException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.arena.ShmBlock;
import dev.isthmus.arena.ShmHandle;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.test.Privileges;
import dev.isthmus.test.RootOnly;
import dev.isthmus.transport.BlobChannel;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sessions with both ends in this JVM: what does not need a second process to be shown.
 */
class SessionTest {
    private static final AtomicInteger NAMES = new AtomicInteger();
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    @TempDir
    Path runDirectory;

    /** A client app and a server app that allows it, both in this JVM. */
    record Universe(ClientApp client, ServerApp server) {
    }

    private Universe universe(final PermissionLevel level, final ClientApp.Builder client) {
        return universe(runDirectory, level, client);
    }

    private Universe universe() {
        return universe(runDirectory);
    }

    /** {@return a new client app and a server app that allows it at user access, running in {@code runDirectory}} */
    static Universe universe(final Path runDirectory) {
        return universe(runDirectory, PermissionLevel.USER_ACCESS, ClientApp.builder("tcli" + NAMES.incrementAndGet()));
    }

    private static Universe universe(final Path runDirectory, final PermissionLevel level,
                                     final ClientApp.Builder client) {
        final ClientApp cli = client.build();
        return new Universe(cli, ServerApp.builder("tsrv" + NAMES.incrementAndGet()).allowedClients(cli)
            .permissions(level).runDirectory(runDirectory).build());
    }

    /**
     * Connects in the background while the server accepts in this thread; a client that fails makes this
     * fail at once with the client's exception, not after the accept timeout.
     */
    static Session[] connect(final Universe universe, final SessionServer server, final SessionOptions options) {
        final CompletableFuture<Session> client = CompletableFuture.supplyAsync(
            () -> ClientSession.connect(universe.client(), universe.server(), options));
        final long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (true) {
            try {
                final Session accepted = server.accept(Duration.ofMillis(100));
                return new Session[] {client.join(), accepted};
            } catch (final IsthmusTimeoutException e) {
                if (client.isCompletedExceptionally()) {
                    try {
                        client.join();
                    } catch (final CompletionException failed) {
                        if (failed.getCause() instanceof RuntimeException cause) {
                            throw cause;
                        }
                        throw failed;
                    }
                }
                if (System.nanoTime() - deadline > 0) {
                    throw e;
                }
            }
        }
    }

    static String roundTrip(final BlobChannel from, final BlobChannel to, final String text) {
        final byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        assertTrue(from.offer(bytes, 0, bytes.length, TimeUnit.SECONDS.toNanos(10)));
        final String[] got = new String[1];
        assertEquals(1, to.poll((buffer, offset, length) -> got[0] = new String(
            buffer.asSlice(offset, length).toArray(JAVA_BYTE), StandardCharsets.UTF_8), 1, TimeUnit.SECONDS.toNanos(10)));
        return got[0];
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(ChannelTransport.class)
    void shouldConnectWithInitChannelsAndOpenMoreFromBothSides(final ChannelTransport transport) throws Exception {
        final Universe universe = universe();
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            final Session[] sessions = connect(universe, server, SessionOptions.defaults().initChannels(2)
                .transport(transport).metadata("hello server".getBytes(StandardCharsets.UTF_8)));
            try (Session client = sessions[0]; Session accepted = sessions[1]) {
                assertEquals(2, client.initChannels().size());
                assertEquals(2, accepted.initChannels().size());
                assertEquals("hello server", new String(accepted.peerMetadata(), StandardCharsets.UTF_8));
                assertEquals(client.id(), accepted.id());
                assertEquals(client.token(), accepted.token());
                for (int i = 0; i < 2; i++) {
                    final Channel mine = client.initChannels().get(i);
                    final Channel theirs = accepted.initChannels().get(i);
                    assertEquals(mine.id(), theirs.id());
                    assertEquals("ping " + i, roundTrip(mine.blobs(), theirs.blobs(), "ping " + i));
                    assertEquals("pong " + i, roundTrip(theirs.blobs(), mine.blobs(), "pong " + i));
                }

                final BlockingQueue<Channel> atServer = new ArrayBlockingQueue<>(4);
                final BlockingQueue<Channel> atClient = new ArrayBlockingQueue<>(4);
                accepted.onChannel(atServer::add);
                client.onChannel(atClient::add);
                final Channel fromClient = client.openChannel();
                final Channel serverEnd = atServer.poll(30, TimeUnit.SECONDS);
                assertEquals(fromClient.id(), serverEnd.id());
                assertEquals("later", roundTrip(fromClient.blobs(), serverEnd.blobs(), "later"));
                final Channel fromServer = accepted.openChannel();
                final Channel clientEnd = atClient.poll(30, TimeUnit.SECONDS);
                assertEquals(fromServer.id(), clientEnd.id());
                assertEquals("back", roundTrip(clientEnd.blobs(), fromServer.blobs(), "back"));
            }
        }
    }

    /**
     * An idle session's driver threads sleep on the control socket until keep-alive has something to do
     * (a ping every 2 s, by default): they do not wake every 100 ms on CPUs where other threads spin.
     * Counted from the kernel's voluntary context switches of both sessions' drivers over 3 s: a driver in
     * 100 ms slices makes 30 each; sleeping to the next ping and waking for the peer's makes about 3.
     */
    @Test
    void shouldLeaveAnIdleSessionsDriversAsleep() throws Exception {
        final Universe universe = universe();
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            final Session[] sessions = connect(universe, server, SessionOptions.defaults());
            try (Session client = sessions[0]; Session accepted = sessions[1]) {
                Thread.sleep(200);
                final long before = sessionDriverWakeUps();
                Thread.sleep(3_000);
                final long wakeUps = sessionDriverWakeUps() - before;
                assertTrue(wakeUps <= 16, "the two drivers woke " + wakeUps + " times in 3 s");
                assertTrue(client.isOpen() && accepted.isOpen(), "keep-alive kept both sides alive");
            }
        }
    }

    /** The voluntary context switches of this JVM's session driver threads ({@code isthmus-session-*}). */
    private static long sessionDriverWakeUps() throws java.io.IOException {
        long total = 0;
        int drivers = 0;
        try (var tasks = java.nio.file.Files.list(Path.of("/proc/self/task"))) {
            for (final Path task : (Iterable<Path>) tasks::iterator) {
                final String name;
                final List<String> status;
                try {
                    name = java.nio.file.Files.readString(task.resolve("comm")).strip();
                    status = java.nio.file.Files.readAllLines(task.resolve("status"));
                } catch (final java.nio.file.NoSuchFileException gone) {
                    continue;
                }
                // The kernel keeps 15 characters of a thread's name.
                if (!name.startsWith("isthmus-sessio")) {
                    continue;
                }
                drivers++;
                for (final String line : status) {
                    if (line.startsWith("voluntary_ctxt_switches:")) {
                        total += Long.parseLong(line.substring(line.indexOf(':') + 1).strip());
                    }
                }
            }
        }
        assertEquals(2, drivers, "both sessions' drivers are found");
        return total;
    }

    @Test
    void shouldRunChannelHandlersOnTheSessionThread() throws Exception {
        final Universe universe = universe();
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            final Session[] sessions = connect(universe, server, SessionOptions.defaults().initChannels(1));
            try (Session client = sessions[0]; Session accepted = sessions[1]) {
                final BlockingQueue<String> received = new ArrayBlockingQueue<>(1000);
                accepted.initChannels().getFirst().onBlob((buffer, offset, length) -> received.add(
                    Thread.currentThread().getName() + " " + new String(buffer.asSlice(offset, length).toArray(JAVA_BYTE),
                        StandardCharsets.UTF_8)));
                for (int i = 0; i < 500; i++) {
                    final byte[] bytes = ("m" + i).getBytes(StandardCharsets.UTF_8);
                    assertTrue(client.initChannels().getFirst().blobs().offer(bytes, 0, bytes.length,
                        TimeUnit.SECONDS.toNanos(10)));
                }
                for (int i = 0; i < 500; i++) {
                    assertEquals("isthmus-session-" + accepted.id() + " m" + i, received.poll(10, TimeUnit.SECONDS));
                }
            }
        }
    }

    @Test
    void shouldLetTheCallerDriveTheSessionAndItsChannels() {
        final Universe universe = universe();
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            final Session[] sessions = connect(universe, server,
                SessionOptions.defaults().initChannels(1).driverThread(false));
            try (Session client = sessions[0]; Session accepted = sessions[1]) {
                final List<String> received = new ArrayList<>();
                client.initChannels().getFirst().onBlob((buffer, offset, length) -> received.add(
                    Thread.currentThread().getName() + " " + length));
                for (int i = 0; i < 100; i++) {
                    assertTrue(accepted.initChannels().getFirst().blobs().offer(new byte[i + 1], 0, i + 1,
                        TimeUnit.SECONDS.toNanos(10)));
                }
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (received.size() < 100 && System.nanoTime() < deadline) {
                    client.poll();
                }
                assertEquals(100, received.size());
                assertEquals(Thread.currentThread().getName() + " 100", received.getLast());
            }
        }
    }

    @Test
    void shouldRefuseAChannelWhenThePeerHasNoPassiveOpenHandler() {
        final Universe universe = universe();
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            final Session[] sessions = connect(universe, server, SessionOptions.defaults().initChannels(1));
            try (Session client = sessions[0]; Session accepted = sessions[1]) {
                final ChannelRefusedException e = assertThrows(ChannelRefusedException.class, client::openChannel);
                assertTrue(e.getMessage().contains("no passive-open handler"), e.getMessage());
                assertTrue(client.isOpen(), "a refusal is not fatal");
                assertEquals("still", roundTrip(client.initChannels().getFirst().blobs(),
                    accepted.initChannels().getFirst().blobs(), "still"));
            }
        }
    }

    @Test
    void shouldRejectAnUnknownClientAppWithTheReason() {
        final Universe universe = universe();
        final List<Throwable> reported = Collections.synchronizedList(new ArrayList<>());
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            server.onError(reported::add);
            final ClientApp stranger = ClientApp.builder("stranger").build();
            final CompletableFuture<Session> attempt = CompletableFuture.supplyAsync(
                () -> ClientSession.connect(stranger, universe.server(), SessionOptions.defaults()));
            assertThrows(Exception.class, () -> server.accept(Duration.ofSeconds(3)));
            final Exception e = assertThrows(Exception.class, attempt::join);
            assertTrue(e.getCause() instanceof AuthenticationException, e.toString());
            assertTrue(e.getCause().getMessage().contains("does not allow client app \"stranger\""),
                e.getCause().getMessage());
            assertFalse(e.getCause().getMessage().contains(universe.client().name()),
                "a stranger hears nothing of the allowed clients: " + e.getCause().getMessage());
            assertEquals(1, reported.size(), "the server reports a rejection once");
            assertTrue(reported.getFirst() instanceof AuthenticationException);
            assertTrue(reported.getFirst().getMessage().contains("client app \"stranger\" is not among the clients")
                && reported.getFirst().getMessage().contains(universe.client().name()),
                "the server's own report is in full: " + reported.getFirst().getMessage());
        }
    }

    @Test
    void shouldRejectAClientRunningAnotherMainClass() {
        final Universe universe = universe(PermissionLevel.USER_ACCESS,
            ClientApp.builder("tcli" + NAMES.incrementAndGet()).mainClass("com.acme.cache.CacheClient"));
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            final CompletableFuture<Session> attempt = CompletableFuture.supplyAsync(
                () -> ClientSession.connect(universe.client(), universe.server(), SessionOptions.defaults()));
            assertThrows(Exception.class, () -> server.accept(Duration.ofSeconds(3)));
            final Exception e = assertThrows(Exception.class, attempt::join);
            assertTrue(e.getCause() instanceof AuthenticationException, e.toString());
            assertTrue(e.getCause().getMessage().contains("must run main class com.acme.cache.CacheClient"),
                e.getCause().getMessage());
        }
    }

    @Test
    void shouldRefuseASecondInstanceEvenInTheSameProcessAndAfterAListing() {
        final Universe universe = universe();
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            // Reading the pid file (as ls and the start-up sweep do) must not release the lock.
            dev.isthmus.shm.Resources.list(runDirectory, dev.isthmus.shm.ResourceName.configuredPrefix());
            final dev.isthmus.IsthmusException e = assertThrows(dev.isthmus.IsthmusException.class,
                () -> SessionServer.start(universe.server(), SessionOptions.defaults()));
            assertTrue(e.getMessage().contains("already runs as pid " + ProcessHandle.current().pid()), e.getMessage());
        }
        SessionServer.start(universe.server(), SessionOptions.defaults()).close();
    }

    @Test
    void shouldShareArenasForZeroCopy() {
        final Universe universe = universe();
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.zeroCopy())) {
            final Session[] sessions = connect(universe, server, SessionOptions.zeroCopy().initChannels(1));
            try (Session client = sessions[0]; Session accepted = sessions[1]) {
                final ShmBlock block = accepted.arena().allocate(1 << 20);
                block.segment().set(JAVA_LONG, 8, 4242);
                final ShmHandle handle = block.lend();
                try (ShmBlock borrowed = client.peerArena().borrow(handle)) {
                    assertEquals(4242, borrowed.segment().get(JAVA_LONG, 8));
                }
                block.close();
                assertEquals(0, accepted.arena().allocatedBytes());
            }
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = PermissionLevel.class, names = "NO_ACCESS",
        mode = org.junit.jupiter.params.provider.EnumSource.Mode.EXCLUDE)
    void shouldGiveEveryResourceTheModeOfThePermissionLevel(final PermissionLevel level) throws Exception {
        assertSessionResourcesHaveTheModeOf(level);
    }

    /** Root is not kept out by mode 0000: a whole session runs, and every resource has that mode. */
    @Test
    @RootOnly("mode 0000 keeps out every process without CAP_DAC_OVERRIDE, the session's own too")
    void shouldGiveEveryResourceModeZeroAtNoAccess() throws Exception {
        Assumptions.assumeTrue(Privileges.overridesFileModes(), "this root process lacks CAP_DAC_OVERRIDE");
        assertSessionResourcesHaveTheModeOf(PermissionLevel.NO_ACCESS);
    }

    /**
     * What {@link PermissionLevel#NO_ACCESS} means for an ordinary user: the kernel keeps even the owner out
     * of mode-0000 files, so a client is refused at once, saying why, and the server sees nothing.
     */
    @Test
    void shouldRefuseAClientAtNoAccessAtOnceWithTheReason() throws Exception {
        Assumptions.assumeFalse(Privileges.overridesFileModes(),
            "this process holds CAP_DAC_OVERRIDE, for which mode 0000 does not apply (see the root-only test)");
        final PermissionLevel level = PermissionLevel.NO_ACCESS;
        final Universe universe = universe(level, ClientApp.builder("tcli" + NAMES.incrementAndGet()));
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.zeroCopy())) {
            final SessionOptions patient = SessionOptions.zeroCopy().connectTimeout(Duration.ofSeconds(60));
            final long start = System.nanoTime();
            final AuthenticationException refused = assertThrows(AuthenticationException.class,
                () -> ClientSession.connect(universe.client(), universe.server(), patient));
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(30),
                "refused at once, not at the 60 s connect timeout");
            assertTrue(refused.getMessage().contains("NO_ACCESS") && refused.getMessage().contains("EACCES")
                && refused.getMessage().contains("CAP_DAC_OVERRIDE"), refused.getMessage());
            assertThrows(IsthmusTimeoutException.class, () -> server.accept(Duration.ofMillis(200)));
            for (final Path entry : list(runDirectory)) {
                assertEquals("---------", mode(entry), entry.getFileName().toString());
            }
            assertEquals("rwx------", mode(runDirectory));
        }
    }

    private void assertSessionResourcesHaveTheModeOf(final PermissionLevel level) throws Exception {
        final Universe universe = universe(level, ClientApp.builder("tcli" + NAMES.incrementAndGet()));
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.zeroCopy())) {
            final Session[] sessions = connect(universe, server, SessionOptions.zeroCopy().initChannels(1));
            try (Session client = sessions[0]; Session accepted = sessions[1]) {
                client.arena().allocate(100).close();
                accepted.arena().allocate(100).close();
                final String file = PosixFilePermissions.toString(PosixFilePermissions.fromString(level.symbolic()));
                final java.util.Map<String, String> modes = new java.util.TreeMap<>();
                for (final Path entry : list(runDirectory)) {
                    modes.put(entry.getFileName().toString(), mode(entry));
                }
                modes.put("run directory", mode(runDirectory));
                for (final Path entry : list(dev.isthmus.shm.SharedMemory.DEFAULT_DIRECTORY)) {
                    assertFalse(entry.getFileName().toString().contains("." + client.id() + "-"),
                        "a session names nothing in /dev/shm: " + entry);
                }
                // Queues, pools and return rings are sealed anonymous files: stat them through the open descriptors.
                for (final Path fd : list(Path.of("/proc/self/fd"))) {
                    final String target;
                    try {
                        target = Files.readSymbolicLink(fd).toString();
                    } catch (final java.io.IOException e) {
                        continue;
                    }
                    if (target.startsWith("/memfd:") && (target.contains(".queue." + client.id() + "-")
                        || target.contains(".arena." + client.id() + "-"))) {
                        try {
                            modes.put(target, mode(fd));
                        } catch (final java.nio.file.NoSuchFileException closedMeanwhile) {
                            // A duplicate handed over (the handshake closes its copies after sending them): the
                            // file itself stays open through the descriptor its owner maps it with.
                        }
                    }
                }
                final String pidFile = PosixFilePermissions.toString(PidFile.permissions(level));
                final String directory = level == PermissionLevel.USER_ACCESS || level == PermissionLevel.NO_ACCESS
                    ? "rwx------" : level == PermissionLevel.GROUP_ACCESS ? "rwxr-x---" : "rwxr-xr-x";
                int queues = 0;
                int pools = 0;
                for (final java.util.Map.Entry<String, String> entry : modes.entrySet()) {
                    final String name = entry.getKey();
                    // A session's memfds keep the level's read bits and lose every write bit, so that a descriptor
                    // handed over read-only cannot be reopened for writing through /proc/self/fd.
                    final String expected = name.equals("run directory") ? directory : name.endsWith(".pid") ? pidFile
                        : name.startsWith("/memfd:") ? file.replace('w', '-') : file;
                    assertEquals(expected, entry.getValue(), name + " at " + level);
                    queues += name.contains(".queue.") ? 1 : 0;
                    pools += name.contains(".arena.") && name.contains("-p0") ? 1 : 0;
                }
                assertEquals(4, queues, "the two queues of the init channel, each a control page and a file of rings: "
                    + modes);
                assertEquals(2, pools, "one pool per side: " + modes);
                assertTrue(modes.keySet().stream().anyMatch(n -> n.endsWith(".sock.srv")), modes.toString());
            }
        }
    }

    private static List<Path> list(final Path directory) throws java.io.IOException {
        try (java.util.stream.Stream<Path> entries = java.nio.file.Files.list(directory)) {
            return entries.toList();
        }
    }

    private static String mode(final Path path) throws java.io.IOException {
        return PosixFilePermissions.toString(java.nio.file.Files.getPosixFilePermissions(path));
    }

    @Test
    void shouldTellTheOtherSideWhenOneClosesTheSession() throws Exception {
        final Universe universe = universe();
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            final Session[] sessions = connect(universe, server, SessionOptions.defaults().initChannels(1));
            final CompletableFuture<Throwable> told = new CompletableFuture<>();
            sessions[1].onError(told::complete);
            sessions[0].close();
            final Throwable reason = told.get(10, TimeUnit.SECONDS);
            assertTrue(reason.getMessage().contains("closed the session"), reason.getMessage());
            assertFalse(sessions[1].isOpen());
            sessions[1].close();
        }
    }
}
