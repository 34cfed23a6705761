/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.stat;

import dev.isthmus.session.ChannelTransport;
import dev.isthmus.session.ClientSession;
import dev.isthmus.session.Session;
import dev.isthmus.session.SessionOptions;
import dev.isthmus.session.TestUniverse;
import dev.isthmus.transport.BlobChannel;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * The client of {@link StatCommandTest}: connects over the transport it is given, sends {@code count}
 * messages of {@code size} bytes on its init channel, prints {@code SENT <session id>}, and holds the
 * session open until its standard input ends.
 */
public final class StatPeerMain {
    private StatPeerMain() {
    }

    public static void main(final String[] args) throws Exception {
        final TestUniverse universe = TestUniverse.parse(args, 0);
        final ChannelTransport transport = ChannelTransport.valueOf(args[TestUniverse.ARGS]);
        final int count = Integer.parseInt(args[TestUniverse.ARGS + 1]);
        final int size = Integer.parseInt(args[TestUniverse.ARGS + 2]);
        try (Session session = ClientSession.connect(universe.client(), universe.server(),
            SessionOptions.defaults().transport(transport).initChannels(1))) {
            final BlobChannel channel = session.initChannels().getFirst().blobs();
            final byte[] message = new byte[size];
            for (int i = 0; i < count; i++) {
                message[0] = (byte) i;
                if (!channel.offer(message, 0, size, TimeUnit.SECONDS.toNanos(30))) {
                    throw new IllegalStateException("no room for message " + i + " in 30 s");
                }
            }
            channel.flush();
            System.out.println("SENT " + session.id());
            System.out.flush();
            final BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            stdin.readLine();
        }
        System.out.println("END");
    }
}
