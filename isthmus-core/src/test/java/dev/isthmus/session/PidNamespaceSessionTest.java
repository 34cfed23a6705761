/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.AuthenticationException;
import dev.isthmus.PeerDeadException;
import dev.isthmus.internal.linux.Credentials;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.test.ChildJvm;
import dev.isthmus.test.RootOnly;
import dev.isthmus.transport.BlobChannel;
import dev.isthmus.transport.TestMessages;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
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
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sessions between processes in different pid namespaces that share the run directory and
 * {@code /dev/shm}, as a sidecar container does: a peer started with {@code unshare --pid --fork
 * --mount-proc}, whose pids mean nothing here and ours nothing there. Such a session exists only where the
 * server app accepts other pid namespaces; it is never declared dead while the peer lives, and is told of
 * the peer's kill -9 within a second, whichever side runs in the container.
 */
@RootOnly("runs peers in a new pid namespace (unshare --pid needs CAP_SYS_ADMIN)")
class PidNamespaceSessionTest {
    private static final Duration LONG = Duration.ofSeconds(60);
    private static final AtomicInteger NAMES = new AtomicInteger();
    private static final Path UNSHARE = Path.of("/usr/bin/unshare");

    private Path runDir;

    @BeforeEach
    void createRunDirectory() throws IOException {
        Assumptions.assumeTrue(Files.isExecutable(UNSHARE), "util-linux's unshare is not installed");
        runDir = Files.createTempDirectory(Path.of("/tmp"), "isthmus-pidns-",
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
    }

    @AfterEach
    void removeRunDirectory() throws IOException {
        if (runDir == null) {
            return;
        }
        try (Stream<Path> entries = Files.walk(runDir)) {
            for (final Path path : entries.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }

    private TestUniverse universe() {
        final int n = NAMES.incrementAndGet();
        final int uid = Credentials.effectiveUid();
        final int gid = Credentials.effectiveGid();
        return new TestUniverse("nsrv" + n, "ncli" + n, runDir, PermissionLevel.USER_ACCESS, "-", uid, gid, uid, gid);
    }

    /** A peer JVM as the init process of a new pid namespace; killing the launcher kills it (--kill-child). */
    private static ChildJvm inNewPidNamespace(final String name, final String role, final TestUniverse universe,
                                              final String mode) {
        final List<String> args = new ArrayList<>();
        args.add(role);
        args.addAll(universe.args());
        args.add(mode);
        final List<String> command = new ArrayList<>(List.of(UNSHARE.toString(), "--pid", "--fork", "--mount-proc",
            "--kill-child"));
        command.addAll(ChildJvm.command(List.of("-XX:-UsePerfData"), SessionPeerMain.class.getName(),
            args.toArray(String[]::new)));
        return ChildJvm.startCommand(name, command);
    }

    /** Reads {@code count} test messages in order, failing on the first wrong one. */
    private static void readMessages(final BlobChannel channel, final long count) {
        final long[] next = {0};
        while (next[0] < count) {
            channel.poll((buffer, offset, length) -> {
                assertNull(TestMessages.verify(buffer, offset, length, next[0], SessionPeerMain.MAX_LENGTH));
                next[0]++;
            }, 256, TimeUnit.SECONDS.toNanos(10));
        }
    }

    /** Reads for {@code duration}: the peer must not be declared dead meanwhile. */
    private static void readFor(final BlobChannel channel, final Duration duration) {
        final long end = System.nanoTime() + duration.toNanos();
        while (System.nanoTime() < end) {
            channel.poll((buffer, offset, length) -> { }, 4096, TimeUnit.MILLISECONDS.toNanos(100));
        }
    }

    /**
     * Reads the peer's stream, then keeps reading for several liveness intervals (a live peer whose pid names
     * nothing here must not be declared dead), then kills it: the session must be told within a second.
     */
    private static void streamThenKill(final Session session, final ChildJvm peer) throws Exception {
        final CompletableFuture<Long> toldAt = new CompletableFuture<>();
        session.onError(error -> toldAt.complete(System.nanoTime()));
        final BlobChannel channel = session.initChannels().getFirst().blobs();
        readMessages(channel, 10_000);
        readFor(channel, Duration.ofSeconds(3));
        assertTrue(session.isOpen(), "declared dead while alive: " + session.failure());
        peer.kill9();
        final long killedAt = System.nanoTime();
        final long toldAfterMs = (toldAt.get(10, TimeUnit.SECONDS) - killedAt) / 1_000_000;
        assertTrue(toldAfterMs < 1000, "told after " + toldAfterMs + " ms");
        assertInstanceOf(PeerDeadException.class, session.failure().orElseThrow());
    }

    @Test
    void shouldRefuseAPeerInAnotherPidNamespaceUnlessTheServerAppAcceptsThem() {
        final TestUniverse universe = universe();
        // Both definitions refuse: the client refuses the server it cannot see, before sending anything.
        try (SessionServer ignored = SessionServer.start(universe.server(), SessionOptions.defaults());
             ChildJvm client = inNewPidNamespace("ns-client", "client", universe, "connect")) {
            final String line = client.awaitLine("REJECTED", LONG);
            assertTrue(line.contains("another pid namespace") && line.contains("acceptOtherPidNamespaces"), line);
        }
        // The client's definition accepts, the server's does not: the server refuses and says why.
        final TestUniverse lenientClient = universe();
        try (SessionServer server = SessionServer.start(lenientClient.server(), SessionOptions.defaults());
             ChildJvm client = inNewPidNamespace("ns-client", "client", lenientClient.acrossPidNamespaces(), "connect")) {
            final List<Throwable> heard = new java.util.concurrent.CopyOnWriteArrayList<>();
            server.onError(heard::add);
            final String line = client.awaitLine("REJECTED", LONG);
            assertTrue(line.contains("runs in another pid namespace") && line.contains("does not accept clients from"
                + " other pid namespaces"), line);
            assertTrue(heard.stream().anyMatch(e -> e instanceof AuthenticationException), heard.toString());
        }
    }

    @Test
    void shouldServeAClientInAnotherPidNamespaceAndTellOfItsKillWithinOneSecond() throws Exception {
        final TestUniverse universe = universe().acrossPidNamespaces();
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults());
             ChildJvm client = inNewPidNamespace("ns-client", "client", universe, "stream")) {
            final Session session = server.accept(LONG);
            assertEquals(1, session.peer().pid(), "the client's own pid, as init of its namespace");
            streamThenKill(session, client);
            assertThrows(PeerDeadException.class,
                () -> readFor(session.initChannels().getFirst().blobs(), Duration.ofSeconds(10)));
            session.close();
        }
    }

    @Test
    void shouldServeAClientOnTheHostFromAServerInAContainerAndTellOfItsKillWithinOneSecond() throws Exception {
        final TestUniverse universe = universe().acrossPidNamespaces();
        try (ChildJvm server = inNewPidNamespace("ns-server", "server", universe, "stream")) {
            assertEquals("READY 1", server.awaitReady().trim(), "the server is init of its namespace");
            final Session session = ClientSession.connect(universe.client(), universe.server(),
                SessionOptions.defaults().initChannels(1));
            try {
                assertEquals(1, session.peer().pid());
                streamThenKill(session, server);
            } finally {
                session.close();
            }
        }
    }
}
