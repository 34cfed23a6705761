/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.AuthenticationException;
import dev.isthmus.IsthmusException;
import dev.isthmus.arena.ArenaOptions;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The recording JVM of {@link SessionEventsJfrTest}: lives through every event of a session's life, some in
 * one process (a session, channels opened and refused, an exhausted arena, a stranger refused), and then
 * serves a session whose client the test kills.
 *
 * <p>Arguments: {@code <run directory> <universe (TestUniverse.ARGS)>}. Prints {@code LOCAL DONE}, then
 * {@code READY} with the server up, {@code ACCEPTED <session>} and {@code FAILED <session>} once the killed
 * client's death has failed it; exits 0 (the JVM writes its recording on exit).
 */
public final class SessionEventsMain {
    private SessionEventsMain() {
    }

    public static void main(final String[] args) throws Exception {
        local(Path.of(args[0]));
        System.out.println("LOCAL DONE");
        final TestUniverse universe = TestUniverse.parse(args, 1);
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            System.out.println("READY");
            try (Session session = server.accept(Duration.ofSeconds(60))) {
                final CountDownLatch failed = new CountDownLatch(1);
                session.onError(error -> failed.countDown());
                System.out.println("ACCEPTED " + session.id());
                if (!failed.await(60, TimeUnit.SECONDS)) {
                    throw new AssertionError("the killed client's session did not fail");
                }
                System.out.println("FAILED " + session.id());
            }
        }
        System.out.flush();
        System.exit(0);
    }

    private static void local(final Path runDir) throws Exception {
        final ClientApp client = ClientApp.builder("evcli").build();
        final ClientApp stranger = ClientApp.builder("evstranger").build();
        final ServerApp serverApp = ServerApp.builder("evsrv").allowedClients(client).runDirectory(runDir).build();
        final SessionOptions options = SessionOptions.zeroCopy().initChannels(1)
            .arenaOptions(ArenaOptions.defaults().withSealedPoolBytes(1 << 20));
        try (SessionServer server = SessionServer.start(serverApp, options)) {
            final CompletableFuture<Session> connecting =
                CompletableFuture.supplyAsync(() -> ClientSession.connect(client, serverApp, options));
            try (Session accepted = server.accept(Duration.ofSeconds(30));
                 Session session = connecting.join()) {
                try {
                    session.openChannel().close();
                    throw new AssertionError("a channel opened without a passive-open handler");
                } catch (final ChannelRefusedException expected) {
                    // no handler on the server: refused, recorded on both sides
                }
                accepted.onChannel(channel -> { });
                session.openChannel();
                try {
                    session.arena().allocate(2 << 20);
                    throw new AssertionError("2 MiB allocated in a 1 MiB arena");
                } catch (final IsthmusException expected) {
                    // full: recorded
                }
            }
            try {
                ClientSession.connect(stranger, serverApp, SessionOptions.defaults()).close();
                throw new AssertionError("a stranger got a session");
            } catch (final AuthenticationException expected) {
                // refused on both sides
            }
        }
    }
}
