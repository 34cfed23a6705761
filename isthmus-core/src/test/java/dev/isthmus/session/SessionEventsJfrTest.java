/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.internal.linux.Credentials;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.test.ChildJvm;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The session lifecycle's JFR events, recorded for real: a child JVM runs with
 * {@code -XX:StartFlightRecording}, lives through sessions opened and closed, channels opened and refused,
 * an arena exhausted, a stranger refused and a client killed with {@code kill -9}; the file it writes on
 * exit is read back here with {@code jdk.jfr.consumer}.
 */
class SessionEventsJfrTest {
    private static final Duration LONG = Duration.ofSeconds(60);

    @Test
    void shouldRecordEverySessionLifecycleEventInAChildJvm(@TempDir final Path dir) throws Exception {
        final Path runDir = dir.resolve("run");
        final Path file = dir.resolve("sessions.jfr");
        final TestUniverse universe = new TestUniverse("evkill", "evvictim", runDir, PermissionLevel.USER_ACCESS,
            SessionPeerMain.class.getName(), Credentials.effectiveUid(), Credentials.effectiveGid());
        final List<String> recorderArgs = new ArrayList<>();
        recorderArgs.add(runDir.toString());
        recorderArgs.addAll(universe.args());
        final String killedSession;
        try (ChildJvm recorder = ChildJvm.start(List.of("-XX:StartFlightRecording=filename=" + file + ",settings=default"),
            SessionEventsMain.class, recorderArgs.toArray(String[]::new))) {
            recorder.awaitLine("LOCAL DONE", LONG);
            recorder.awaitLine("READY", LONG);
            final List<String> clientArgs = new ArrayList<>();
            clientArgs.add("client");
            clientArgs.addAll(universe.args());
            clientArgs.add("stream");
            try (ChildJvm client = ChildJvm.start(SessionPeerMain.class, clientArgs.toArray(String[]::new))) {
                client.awaitLine("READY", LONG);
                killedSession = recorder.awaitLine("ACCEPTED ", LONG).substring("ACCEPTED ".length()).trim();
                client.kill9();
            }
            recorder.awaitLine("FAILED " + killedSession, LONG);
            recorder.assertExit(0, LONG);
        }
        final List<RecordedEvent> events = RecordingFile.readAllEvents(file).stream()
            .filter(event -> event.getEventType().getName().startsWith("dev.isthmus.")).toList();

        // Both ends of the local session, and the server's end of the killed client's.
        final List<RecordedEvent> opened = named(events, "dev.isthmus.SessionOpened");
        assertEquals(3, opened.size(), opened.toString());
        final RecordedEvent clientEnd = only(opened, e -> "client".equals(e.getString("role")));
        assertEquals("evcli", clientEnd.getString("localApp"));
        assertEquals("evsrv", clientEnd.getString("peerApp"));
        assertTrue(clientEnd.getLong("peerPid") > 0);
        assertTrue(clientEnd.getBoolean("zeroCopy"));
        assertEquals("shm-queue", clientEnd.getString("transport"));
        final RecordedEvent killedEnd = only(opened, e -> killedSession.equals(e.getString("session")));
        assertEquals("server", killedEnd.getString("role"));
        assertEquals("evvictim", killedEnd.getString("peerApp"));

        // Init channels: both ends of the local session, the server's end of the other; then one the local
        // client opened, which the server took.
        final List<RecordedEvent> channels = named(events, "dev.isthmus.ChannelOpened");
        assertEquals(3, count(channels, e -> "init".equals(e.getString("origin"))), channels.toString());
        final RecordedEvent local = only(channels, e -> "local".equals(e.getString("origin")));
        final RecordedEvent peer = only(channels, e -> "peer".equals(e.getString("origin")));
        assertEquals(local.getString("channel"), peer.getString("channel"));
        assertEquals(clientEnd.getString("session"), local.getString("session"));

        // The first open, refused by the server for want of a handler: recorded by both.
        final List<RecordedEvent> refusedChannels = named(events, "dev.isthmus.ChannelRefused");
        assertEquals(2, refusedChannels.size(), refusedChannels.toString());
        final RecordedEvent refusedHere = only(refusedChannels, e -> e.getBoolean("byPeer"));
        assertTrue(refusedHere.getString("reason").contains("no passive-open handler"), refusedHere.toString());
        assertFalse(refusedHere.getString("channel").isEmpty());
        only(refusedChannels, e -> !e.getBoolean("byPeer"));

        final RecordedEvent exhausted = only(named(events, "dev.isthmus.ArenaExhausted"), e -> true);
        assertTrue(exhausted.getLong("requested") >= 2 << 20, exhausted.toString());
        assertTrue(exhausted.getString("reason").contains("is full"), exhausted.toString());

        // The stranger: refused by the server (it is not an allowed app), and told so.
        final List<RecordedEvent> refusals = named(events, "dev.isthmus.AuthenticationRefused");
        assertEquals(2, refusals.size(), refusals.toString());
        final RecordedEvent byServer = only(refusals, e -> !e.getBoolean("byPeer"));
        assertEquals("evsrv", byServer.getString("localApp"));
        assertEquals("evstranger", byServer.getString("peerApp"));
        assertEquals(Integer.toUnsignedLong(Credentials.effectiveUid()), byServer.getLong("peerUid"));
        final RecordedEvent toClient = only(refusals, e -> e.getBoolean("byPeer"));
        assertEquals("evstranger", toClient.getString("localApp"));
        assertTrue(toClient.getString("reason").contains("evstranger"), toClient.toString());

        // The killed client: its death, the failure it caused, and the close that followed.
        final RecordedEvent death = only(named(events, "dev.isthmus.PeerDeath"), e -> true);
        assertEquals(killedSession, death.getString("session"));
        assertFalse(death.getBoolean("stalled"));
        final List<RecordedEvent> failures = named(events, "dev.isthmus.SessionFailed");
        final RecordedEvent failed = only(failures, e -> killedSession.equals(e.getString("session")));
        assertEquals("peer-died", failed.getString("cause"), failed.toString());
        assertTrue(failed.getString("reason").contains("the peer died"), failed.toString());
        // The local client's close says goodbye; the server's end fails with that, if it hears it before it
        // closes too.
        assertTrue(failures.stream().filter(e -> e != failed).allMatch(e -> "peer-closed".equals(e.getString("cause"))
            && clientEnd.getString("session").equals(e.getString("session"))), failures.toString());

        final List<RecordedEvent> closed = named(events, "dev.isthmus.SessionClosed");
        assertEquals(3, closed.size(), closed.toString());
        assertTrue(only(closed, e -> killedSession.equals(e.getString("session"))).getBoolean("failed"));
        assertTrue(closed.stream().anyMatch(e -> clientEnd.getString("session").equals(e.getString("session"))
            && !e.getBoolean("failed")), closed.toString());
        assertTrue(closed.stream().allMatch(e -> e.getDuration("lifetime").compareTo(Duration.ZERO) > 0), closed.toString());
    }

    private static List<RecordedEvent> named(final List<RecordedEvent> events, final String name) {
        return events.stream().filter(event -> event.getEventType().getName().equals(name)).toList();
    }

    private static long count(final List<RecordedEvent> events, final Predicate<RecordedEvent> which) {
        return events.stream().filter(which).count();
    }

    private static RecordedEvent only(final List<RecordedEvent> events, final Predicate<RecordedEvent> which) {
        final List<RecordedEvent> matching = events.stream().filter(which).toList();
        assertEquals(1, matching.size(), events.toString());
        return matching.getFirst();
    }
}
