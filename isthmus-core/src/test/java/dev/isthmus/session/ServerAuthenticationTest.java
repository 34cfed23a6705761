/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.AuthenticationException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.shm.PermissionLevel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The client authenticates the server before it sends anything: the run directory, the pid file, the
 * listening process's kernel credentials and the permission level the server asks for. What another user's
 * impostor can do is shown with a real second user in {@link SessionCrossProcessTest}; these show each
 * check with what an ordinary user can set up.
 */
class ServerAuthenticationTest {
    private static final AtomicInteger NAMES = new AtomicInteger();
    private static final byte[] SECRET = "the client's metadata".getBytes(StandardCharsets.UTF_8);

    @TempDir
    Path runDirectory;

    private final List<Throwable> heard = new CopyOnWriteArrayList<>();

    private ClientApp client() {
        return ClientApp.builder("acli" + NAMES.incrementAndGet()).build();
    }

    private ServerApp.Builder server(final ClientApp client) {
        return ServerApp.builder("asrv" + NAMES.incrementAndGet()).allowedClients(client).runDirectory(runDirectory);
    }

    private SessionServer start(final ServerApp app) {
        final SessionServer server = SessionServer.start(app, SessionOptions.defaults());
        server.onError(heard::add);
        return server;
    }

    private static SessionOptions withSecret() {
        return SessionOptions.defaults().metadata(SECRET).connectTimeout(Duration.ofSeconds(5));
    }

    /** No session was accepted, and no HELLO reached the server (it could only see a connection close). */
    private void assertTheServerGotNothing(final SessionServer server) {
        assertThrows(IsthmusTimeoutException.class, () -> server.accept(Duration.ofMillis(300)));
        for (final Throwable error : heard) {
            assertTrue(!error.getMessage().contains("rejected") && !error.getMessage().contains("HELLO"),
                "the server heard more than a closed connection: " + error);
        }
        assertTrue(server.sessions().isEmpty());
    }

    @Test
    void shouldRefuseARunDirectoryOthersCanWriteTo() throws Exception {
        final ClientApp client = client();
        final ServerApp app = server(client).build();
        try (SessionServer server = start(app)) {
            Files.setPosixFilePermissions(runDirectory, PosixFilePermissions.fromString("rwxrwxrwx"));
            try {
                final AuthenticationException refused = assertThrows(AuthenticationException.class,
                    () -> ClientSession.connect(client, app, withSecret()));
                assertTrue(refused.getMessage().contains("is writable by others")
                    && refused.getMessage().contains(runDirectory.toString()), refused.getMessage());
                assertTheServerGotNothing(server);
            } finally {
                Files.setPosixFilePermissions(runDirectory, PosixFilePermissions.fromString("rwx------"));
            }
        }
    }

    @Test
    void shouldNarrowAGroupWritableRunDirectoryWhenTheServerStarts() throws Exception {
        Files.setPosixFilePermissions(runDirectory, PosixFilePermissions.fromString("rwxrwx---"));
        final ClientApp client = client();
        try (SessionServer ignored = start(server(client).build())) {
            assertEquals("rwxr-x---", PosixFilePermissions.toString(Files.getPosixFilePermissions(runDirectory)),
                "group write removed, group read and search kept");
        }
    }

    @Test
    void shouldRefuseAListenerWhoseCredentialsAreNotTheServerAppsBeforeSendingAnything() {
        final ClientApp client = client();
        final ServerApp real = server(client).build();
        // The client's definition of the same app names another group: the listener does not match it.
        final ServerApp expected = ServerApp.builder(real.name()).user(real.uid(), real.gid() + 1).allowedClients(client)
            .runDirectory(runDirectory).build();
        try (SessionServer server = start(real)) {
            final AuthenticationException refused = assertThrows(AuthenticationException.class,
                () -> ClientSession.connect(client, expected, withSecret()));
            assertTrue(refused.getMessage().contains("gid " + Integer.toUnsignedString(real.gid())
                + ", but the server app is defined to run as uid " + Integer.toUnsignedString(real.uid()) + ", gid "
                + Integer.toUnsignedString(real.gid() + 1)) && refused.getMessage().contains("nothing was sent"),
                refused.getMessage());
            assertTheServerGotNothing(server);
        }
    }

    @Test
    void shouldRefuseAPidFileThatIsASymbolicLink() throws Exception {
        final ClientApp client = client();
        final ServerApp app = server(client).build();
        try (SessionServer server = start(app)) {
            final Path pidFile = PidFile.path(runDirectory, app.name());
            final Path elsewhere = Files.writeString(runDirectory.resolve("elsewhere"), Files.readString(pidFile));
            Files.delete(pidFile);
            Files.createSymbolicLink(pidFile, elsewhere);
            try {
                final AuthenticationException refused = assertThrows(AuthenticationException.class,
                    () -> ClientSession.connect(client, app, withSecret()));
                assertTrue(refused.getMessage().contains(pidFile.toString())
                    && refused.getMessage().contains("ELOOP"), refused.getMessage());
                assertTheServerGotNothing(server);
            } finally {
                Files.deleteIfExists(pidFile);
                Files.delete(elsewhere);
            }
        }
    }

    @Test
    void shouldRefuseAPidFileThatIsAFifoWithoutBlocking() throws Exception {
        final ClientApp client = client();
        final ServerApp app = server(client).build();
        try (SessionServer server = start(app)) {
            final Path pidFile = PidFile.path(runDirectory, app.name());
            Files.delete(pidFile);
            final Process mkfifo = new ProcessBuilder("mkfifo", pidFile.toString()).inheritIO().start();
            assertEquals(0, mkfifo.waitFor());
            try {
                final AuthenticationException refused = assertThrows(AuthenticationException.class,
                    () -> ClientSession.connect(client, app, withSecret()));
                assertTrue(refused.getMessage().contains("not a regular file"), refused.getMessage());
                assertTheServerGotNothing(server);
            } finally {
                Files.deleteIfExists(pidFile);
            }
        }
    }

    @Test
    void shouldRefuseAWelcomeThatWidensThePermissionLevel() {
        final ClientApp client = client();
        final ServerApp real = server(client).permissions(PermissionLevel.UNRESTRICTED).build();
        final ServerApp expected = ServerApp.builder(real.name()).allowedClients(client).runDirectory(runDirectory)
            .permissions(PermissionLevel.USER_ACCESS).build();
        try (SessionServer ignored = start(real)) {
            final AuthenticationException refused = assertThrows(AuthenticationException.class,
                () -> ClientSession.connect(client, expected, SessionOptions.defaults()));
            assertTrue(refused.getMessage().contains("asks for permission level UNRESTRICTED, wider than the USER_ACCESS"),
                refused.getMessage());
        }
    }

    @Test
    void shouldAcceptAWelcomeThatNarrowsThePermissionLevel() {
        final ClientApp client = client();
        final ServerApp real = server(client).permissions(PermissionLevel.USER_ACCESS).build();
        final ServerApp expected = ServerApp.builder(real.name()).allowedClients(client).runDirectory(runDirectory)
            .permissions(PermissionLevel.GROUP_ACCESS).build();
        try (SessionServer server = start(real)) {
            final java.util.concurrent.CompletableFuture<Session> connecting = java.util.concurrent.CompletableFuture
                .supplyAsync(() -> ClientSession.connect(client, expected, SessionOptions.defaults()));
            try (Session accepted = server.accept(Duration.ofSeconds(30)); Session session = connecting.join()) {
                assertEquals(PermissionLevel.USER_ACCESS, session.permissions());
                assertEquals(accepted.id(), session.id());
            }
        }
    }
}
