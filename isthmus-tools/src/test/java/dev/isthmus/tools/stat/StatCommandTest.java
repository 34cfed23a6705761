/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.stat;

import dev.isthmus.internal.linux.Credentials;
import dev.isthmus.session.ChannelTransport;
import dev.isthmus.session.Session;
import dev.isthmus.session.SessionOptions;
import dev.isthmus.session.SessionServer;
import dev.isthmus.session.TestUniverse;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.stat.StatKind;
import dev.isthmus.test.ChildJvm;
import dev.isthmus.tools.Main;
import dev.isthmus.transport.BlobChannel;
import dev.isthmus.transport.PosixMqBlobChannel;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code isthmus stat} against live sessions between two JVMs: known traffic, and the exact counts its
 * {@code --json} snapshot reports for both processes; the live view refreshed twice.
 */
class StatCommandTest {
    private static final AtomicInteger NAMES = new AtomicInteger();
    private static final Duration LONG = Duration.ofSeconds(60);
    private static final int MESSAGES = 1_000;
    private static final int SIZE = 100;

    private static TestUniverse universe(final Path runDir) {
        final int n = NAMES.incrementAndGet();
        return new TestUniverse("statsrv" + n, "statcli" + n, runDir, PermissionLevel.USER_ACCESS,
            StatPeerMain.class.getName(), Credentials.effectiveUid(), Credentials.effectiveGid());
    }

    private static String[] args(final TestUniverse universe, final String... more) {
        final List<String> args = new ArrayList<>(universe.args());
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    /** Receives until {@code messages} messages arrived, returning their bytes. */
    private static long receive(final BlobChannel channel, final int messages) {
        final AtomicLong bytes = new AtomicLong();
        final long deadline = System.nanoTime() + LONG.toNanos();
        int received = 0;
        while (received < messages) {
            assertTrue(System.nanoTime() < deadline, "received " + received + " of " + messages);
            received += channel.poll((buffer, offset, length) -> bytes.addAndGet(length), 256, TimeUnit.SECONDS.toNanos(1));
        }
        return bytes.get();
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> records(final Map<String, Object> document, final long pid) {
        for (final Object process : (List<Object>) document.get("processes")) {
            final Map<String, Object> entry = (Map<String, Object>) process;
            if (((Number) entry.get("pid")).longValue() == pid) {
                return (List<Map<String, Object>>) entry.get("records");
            }
        }
        throw new AssertionError("no process " + pid + " in " + document);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> find(final List<Map<String, Object>> records, final String kind,
                                            final String label, final String value) {
        for (final Map<String, Object> record : records) {
            final Map<String, Object> labels = (Map<String, Object>) record.get("labels");
            if (kind.equals(record.get("kind")) && value.equals(labels.get(label))
                && (!kind.equals("channel") || "blobs".equals(labels.get("pipe")) || "blobs+handles".equals(labels.get("pipe")))) {
                return record;
            }
        }
        throw new AssertionError("no " + kind + " record with " + label + "=" + value + " in " + records);
    }

    @SuppressWarnings("unchecked")
    private static long counter(final Map<String, Object> record, final String name) {
        final Object value = ((Map<String, Object>) record.get("counters")).get(name);
        assertNotNull(value, name + " in " + record);
        return ((Number) value).longValue();
    }

    @ParameterizedTest
    @EnumSource(ChannelTransport.class)
    @SuppressWarnings("unchecked")
    void shouldReportTheExactMessagesAndBytesBothSidesCounted(final ChannelTransport transport, @TempDir final Path runDir) {
        if (transport == ChannelTransport.POSIX_MQ) {
            Assumptions.assumeTrue(PosixMqBlobChannel.isAvailable(), "POSIX message queues are unavailable here: "
                + PosixMqBlobChannel.unavailabilityCause().orElse("?"));
        }
        final TestUniverse universe = universe(runDir);
        final SessionOptions options = SessionOptions.defaults().transport(transport).initChannels(1);
        try (SessionServer server = SessionServer.start(universe.server(), options);
             ChildJvm client = ChildJvm.start(StatPeerMain.class, args(universe, transport.name(),
                 Integer.toString(MESSAGES), Integer.toString(SIZE)));
             Session session = server.accept(LONG)) {
            final BlobChannel channel = session.initChannels().getFirst().blobs();
            assertEquals((long) MESSAGES * SIZE, receive(channel, MESSAGES));
            client.awaitLine("SENT", LONG);

            final String json;
            try (ChildJvm stat = ChildJvm.start(Main.class, "stat", "--json", "--interval", "200ms")) {
                stat.assertExit(0, LONG);
                json = stat.output();
            }
            final Map<String, Object> document = (Map<String, Object>) MiniJson.parse(json.substring(json.indexOf('{'),
                json.lastIndexOf('}') + 1));

            final List<Map<String, Object>> mine = records(document, ProcessHandle.current().pid());
            final Map<String, Object> received = find(mine, "channel", "session", session.id());
            assertEquals(MESSAGES, counter(received, "messages_received"), received.toString());
            assertEquals((long) MESSAGES * SIZE, counter(received, "bytes_received"), received.toString());
            assertEquals(0, counter(received, "corrupt_refused"));
            final Map<String, Object> serverSession = find(mine, "session", "session", session.id());
            assertEquals("server", ((Map<String, Object>) serverSession.get("labels")).get("role"));
            assertEquals(universe.clientName(), ((Map<String, Object>) serverSession.get("labels")).get("peer"));
            assertEquals(((Number) serverSession.get("id")).longValue(), ((Number) received.get("parent")).longValue());
            assertEquals(1, counter(serverSession, "channels_open"));
            final Map<String, Object> serverRecord = find(mine, "server", "server", universe.serverName());
            assertEquals(1, counter(serverRecord, "accepted"), serverRecord.toString());

            final List<Map<String, Object>> theirs = records(document, client.pid());
            final Map<String, Object> sent = find(theirs, "channel", "session", session.id());
            assertEquals(MESSAGES, counter(sent, "messages_sent"), sent.toString());
            assertEquals((long) MESSAGES * SIZE, counter(sent, "bytes_sent"), sent.toString());
            final Map<String, Object> clientSession = find(theirs, "session", "session", session.id());
            assertEquals("client", ((Map<String, Object>) clientSession.get("labels")).get("role"));
            final Map<String, Object> clientRecord = find(theirs, "client", "client", universe.clientName());
            assertEquals(1, counter(clientRecord, "accepted"), clientRecord.toString());
            assertEquals(0, counter(clientRecord, "refused_by_server"), clientRecord.toString());

            client.send("bye");
            client.awaitLine("END", LONG);
            client.assertExit(0, LONG);
        }
    }

    @Test
    void shouldRefreshTheLiveViewWithEachSessionAndChannel(@TempDir final Path runDir) {
        final TestUniverse universe = universe(runDir);
        final SessionOptions options = SessionOptions.defaults().initChannels(1);
        try (SessionServer server = SessionServer.start(universe.server(), options);
             ChildJvm client = ChildJvm.start(StatPeerMain.class, args(universe, ChannelTransport.SHM_QUEUE.name(),
                 "10", "8"));
             Session session = server.accept(LONG)) {
            receive(session.initChannels().getFirst().blobs(), 10);
            client.awaitLine("SENT", LONG);
            final String output;
            try (ChildJvm stat = ChildJvm.start(Main.class, "stat", "--count", "2", "--interval", "300ms",
                "--pid", Long.toString(ProcessHandle.current().pid()))) {
                stat.assertExit(0, LONG);
                output = stat.output();
            }
            assertEquals(2, output.split("isthmus stat: ", -1).length - 1, output);
            assertEquals(2, output.split("session " + session.id() + " \\(server\\) " + universe.serverName(), -1).length - 1,
                output);
            assertTrue(output.contains("server " + universe.serverName() + ": handshakes accepted 1"), output);
            assertTrue(output.contains("(10 msgs)"), output);

            final String listing;
            try (ChildJvm ls = ChildJvm.start(Main.class, "ls")) {
                ls.assertExit(0, LONG);
                listing = ls.output();
            }
            // The session's sealed queues (both directions, from each side) and both processes' stat files.
            assertTrue(listing.contains("anonymous shared memory held by live processes"), listing);
            assertTrue(listing.contains("." + ProcessHandle.current().pid() + ".queue." + session.id() + "-c0-ab"), listing);
            assertTrue(listing.contains("process." + client.pid() + ".stat.counters"), listing);
            client.send("bye");
            client.assertExit(0, LONG);
        }
    }

    @Test
    void shouldNameEveryCounterOfEveryKind() {
        for (final StatKind kind : StatKind.values()) {
            assertTrue(kind.counterNames().stream().anyMatch(java.util.Objects::nonNull), kind.name());
        }
    }
}
