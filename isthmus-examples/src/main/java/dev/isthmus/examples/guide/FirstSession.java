/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.examples.guide;

import dev.isthmus.session.Channel;
import dev.isthmus.session.ClientApp;
import dev.isthmus.session.ClientSession;
import dev.isthmus.session.ServerApp;
import dev.isthmus.session.Session;
import dev.isthmus.session.SessionOptions;
import dev.isthmus.session.SessionServer;
import dev.isthmus.transport.BlobChannel;
import dev.isthmus.transport.BlobHandler;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * The guide's first session: a pricer (the server) and a feed (its client) that send each other blobs over an
 * init channel and over a channel the client opens later.
 */
public final class FirstSession {
    // guide:app-universe:begin
    static final ClientApp FEED = ClientApp.builder("feed").mainClass("com.example.Feed").build();
    static final ServerApp PRICER = ServerApp.builder("pricer")
        .mainClass("com.example.Pricer")
        .allowedClients(FEED)
        .build();
    static final SessionOptions OPTIONS = SessionOptions.defaults().initChannels(1);
    // guide:app-universe:end

    private FirstSession() {
    }

    /**
     * Runs the pricer: accepts one session, answers the first blob of its init channel with the same bytes,
     * echoes every blob of the channels the client opens, and returns once the client has gone.
     *
     * @param pricer  the server application
     * @param options the session options
     * @throws InterruptedException if interrupted while waiting for the client to go
     */
    public static void pricer(final ServerApp pricer, final SessionOptions options) throws InterruptedException {
        // guide:first-session-server:begin
        try (SessionServer server = SessionServer.start(pricer, options);
             Session session = server.accept(Duration.ofSeconds(30))) {
            CountDownLatch gone = new CountDownLatch(1);
            session.onError(error -> {
                if (!session.isOpen()) {
                    gone.countDown();                          // the client closed, died or stopped answering
                }
            });
            // Channels the client opens later come here; the session's driver thread then hands each blob to
            // the handler, which echoes it.
            session.onChannel(channel -> channel.onBlob((buffer, offset, length) ->
                channel.blobs().offer(buffer, offset, length)));

            BlobChannel blobs = session.initChannels().getFirst().blobs();
            AtomicReference<byte[]> quote = new AtomicReference<>();
            int received = blobs.poll((buffer, offset, length) ->
                quote.set(buffer.asSlice(offset, length).toArray(JAVA_BYTE)),   // valid only during the call
                1, TimeUnit.SECONDS.toNanos(30));
            if (received == 1) {
                blobs.offer(quote.get(), 0, quote.get().length, TimeUnit.SECONDS.toNanos(1));
            }
            gone.await();
        }
        // guide:first-session-server:end
    }

    /**
     * Runs the feed: sends a quote on the init channel and on a channel it opens, and returns the answers.
     *
     * @param feed    the client application
     * @param pricer  the server application
     * @param options the session options
     * @return the two answers, concatenated
     */
    public static String feed(final ClientApp feed, final ServerApp pricer, final SessionOptions options) {
        // guide:first-session-client:begin
        try (Session session = ClientSession.connect(feed, pricer, options)) {
            BlobChannel blobs = session.initChannels().getFirst().blobs();
            byte[] quote = "XLON 101.25".getBytes(StandardCharsets.UTF_8);
            if (!blobs.offer(quote, 0, quote.length, TimeUnit.SECONDS.toNanos(1))) {
                throw new IllegalStateException("the pricer is not keeping up");
            }
            StringBuilder answers = new StringBuilder();
            BlobHandler collect = (buffer, offset, length) -> answers.append(
                new String(buffer.asSlice(offset, length).toArray(JAVA_BYTE), StandardCharsets.UTF_8));
            blobs.poll(collect, 1, TimeUnit.SECONDS.toNanos(30));

            try (Channel more = session.openChannel()) {        // no name: the session names everything
                more.blobs().offer(quote, 0, quote.length, TimeUnit.SECONDS.toNanos(1));
                more.blobs().poll(collect, 1, TimeUnit.SECONDS.toNanos(30));
            }
            return answers.toString();
        }
        // guide:first-session-client:end
    }
}
