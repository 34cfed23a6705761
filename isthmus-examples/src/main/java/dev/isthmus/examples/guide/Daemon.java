/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.examples.guide;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.session.ClientApp;
import dev.isthmus.session.ServerApp;
import dev.isthmus.session.ServerLimits;
import dev.isthmus.session.Session;
import dev.isthmus.session.SessionOptions;
import dev.isthmus.session.SessionServer;
import dev.isthmus.transport.BlobChannel;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The guide's daemon: one server application that several client applications connect to, each with as many
 * sessions as the limits allow.
 */
public final class Daemon {
    // guide:daemon-universe:begin
    static final ClientApp FEED = ClientApp.builder("feed").mainClass("com.example.Feed").build();
    static final ClientApp RISK = ClientApp.builder("risk").mainClass("com.example.Risk").build();
    static final ClientApp AUDIT = ClientApp.builder("audit").jar(Path.of("/opt/audit/audit.jar")).build();
    static final ServerApp PRICER = ServerApp.builder("pricer")
        .mainClass("com.example.Pricer")
        .allowedClients(FEED, RISK, AUDIT)
        .build();
    // guide:daemon-universe:end

    private Daemon() {
    }

    /**
     * Starts the daemon: every session gets a thread that answers each blob with a greeting naming the client.
     *
     * @param pricer the server application
     * @return the running server, for the caller to close
     */
    public static SessionServer start(final ServerApp pricer) {
        // guide:daemon-server:begin
        ServerLimits limits = ServerLimits.defaults()
            .maxSessionsPerClient(4)                   // e.g. one feed process per venue
            .maxChannelsPerSession(32)
            .handshakeTimeout(Duration.ofSeconds(1));
        SessionServer server = SessionServer.start(pricer, SessionOptions.defaults(), limits);
        // Refused connections, rejected clients and failed handshakes: the sessions never see them.
        server.onError(error -> System.getLogger("pricer").log(System.Logger.Level.WARNING, error.getMessage()));
        // One handler for every client app; it runs on a thread of the server, so it hands each session on.
        server.onSession(session -> Thread.ofPlatform()
            .name(session.peerApp() + "-" + session.id())
            .start(() -> serve(session)));
        // guide:daemon-server:end
        return server;
    }

    // guide:daemon-session:begin
    private static void serve(Session session) {
        byte[] greeting = ("hello " + session.peerApp()).getBytes(StandardCharsets.UTF_8);
        try (session) {
            BlobChannel blobs = session.initChannels().getFirst().blobs();
            while (true) {
                blobs.poll((buffer, offset, length) -> blobs.offer(greeting, 0, greeting.length),
                    16, TimeUnit.SECONDS.toNanos(1));
            }
        } catch (ChannelClosedException gone) {
            // The client closed its session, or died (PeerDeadException): everything it held is released.
        }
    }
    // guide:daemon-session:end
}
