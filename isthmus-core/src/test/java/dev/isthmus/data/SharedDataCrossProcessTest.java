/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.CorruptDataException;
import dev.isthmus.internal.linux.Credentials;
import dev.isthmus.session.Session;
import dev.isthmus.session.SessionOptions;
import dev.isthmus.session.SessionServer;
import dev.isthmus.session.TestUniverse;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.test.ChildJvm;
import dev.isthmus.transport.BlobChannel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static dev.isthmus.data.SharedDataPeerMain.receive;
import static dev.isthmus.data.SharedDataTest.QUOTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Shared records, arrays, strings and references between two JVMs over a real zero-copy session: this JVM
 * is the server, a {@link SharedDataPeerMain} child the client.
 */
class SharedDataCrossProcessTest {
    private static final AtomicInteger NAMES = new AtomicInteger();
    private static final Duration LONG = Duration.ofSeconds(60);

    private Path runDir;

    @BeforeEach
    void createRunDirectory() throws IOException {
        runDir = Files.createTempDirectory("isthmus-datatest-");
    }

    @AfterEach
    void removeRunDirectory() throws IOException {
        try (Stream<Path> entries = Files.walk(runDir)) {
            for (final Path path : entries.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }

    private TestUniverse universe() {
        final int n = NAMES.incrementAndGet();
        return new TestUniverse("dsrv" + n, "dcli" + n, runDir, PermissionLevel.USER_ACCESS,
            SharedDataPeerMain.class.getName(), Credentials.effectiveUid(), Credentials.effectiveGid());
    }

    private static String[] args(final TestUniverse universe, final String... mode) {
        final List<String> args = new ArrayList<>(universe.args());
        args.addAll(List.of(mode));
        return args.toArray(String[]::new);
    }

    @Test
    void shouldLendAGraphOfObjectsThatThePeerReadsInPlaceAndGivesBack() {
        final TestUniverse universe = universe();
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.zeroCopy());
             ChildJvm client = ChildJvm.start(SharedDataPeerMain.class, args(universe, "borrow"));
             Session session = server.accept(LONG)) {
            client.awaitReady();
            final SharedData data = SharedData.of(session);
            final BlobChannel channel = session.initChannels().getFirst().blobs();
            final long expected;
            try (SharedStruct quote = SharedDataPeerMain.build(data, 100_000, "Xetra — Frankfurt")) {
                expected = SharedDataPeerMain.checksum(quote);
                assertTrue(data.lend(quote, channel, SharedDataPeerMain.TIMEOUT_NS));
            }
            assertEquals("SUM " + expected + " Xetra — Frankfurt", client.awaitLine("SUM", LONG));
            assertEquals("READONLY true", client.awaitLine("READONLY", LONG));
            assertNull(receive(channel), "DONE");
            client.awaitLine("END", LONG);
            client.assertExit(0, LONG);
        }
    }

    @Test
    void shouldBorrowWhatThePeerLendsAndLetItFreeItWhenThisSideCloses() {
        final TestUniverse universe = universe();
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.zeroCopy());
             ChildJvm client = ChildJvm.start(SharedDataPeerMain.class, args(universe, "lend"));
             Session session = server.accept(LONG)) {
            client.awaitReady();
            final SharedData data = SharedData.of(session);
            final BlobChannel channel = session.initChannels().getFirst().blobs();
            final DataRef ref = receive(channel);
            assertNotNull(ref);
            final long sum = Long.parseLong(client.awaitLine("LENT", LONG).substring(5));
            try (SharedStruct quote = data.borrowStruct(ref, QUOTE)) {
                assertEquals(sum, SharedDataPeerMain.checksum(quote));
                assertEquals("lent by the client", quote.followString(SharedDataTest.VENUE).toString());
                assertThrows(IllegalArgumentException.class, () -> SharedDataTest.INSTRUMENT.set(quote.segment(), 0),
                    "the peer's arena is mapped read-only here");
            }
            SharedDataPeerMain.send(channel, "DONE");
            // What stays allocated on the client is the history and venue the record referred to: the
            // record itself came back.
            final long inUse = Long.parseLong(client.awaitLine("IN USE", LONG).substring(7));
            assertTrue(inUse > 0 && inUse < 5000L * 16 * 2 + 4096, "in use: " + inUse);
            client.awaitLine("END", LONG);
            client.assertExit(0, LONG);
        }
    }

    /**
     * A record and an array lent read-write: the child updates them in place (an atomic counter both
     * processes increment at once, elements, a reference, a release-store flag) while a record lent beside
     * them stays read-only in the child; everything comes back when the child lets go.
     */
    @Test
    void shouldLetThePeerUpdateInPlaceWhatWasLentReadWriteAndNothingElse() throws InterruptedException {
        final TestUniverse universe = universe();
        final int adds = 200_000;
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.zeroCopy());
             ChildJvm client = ChildJvm.start(SharedDataPeerMain.class, args(universe, "share", Integer.toString(adds)));
             Session session = server.accept(LONG)) {
            client.awaitReady();
            final SharedData data = SharedData.of(session);
            final BlobChannel channel = session.initChannels().getFirst().blobs();
            final SharedStruct order = data.allocate(SharedDataWritableTest.ORDER, PeerAccess.READ_WRITE);
            final SharedArray fills = data.allocateArray(java.lang.foreign.ValueLayout.JAVA_LONG, 1000,
                PeerAccess.READ_WRITE);
            final SharedStruct quote = data.allocate(QUOTE);
            SharedDataTest.INSTRUMENT.set(quote.segment(), 77);
            assertTrue(data.lend(order, channel, SharedDataPeerMain.TIMEOUT_NS));
            assertTrue(data.lend(fills, channel, SharedDataPeerMain.TIMEOUT_NS));
            assertTrue(data.lend(quote, channel, SharedDataPeerMain.TIMEOUT_NS));
            assertEquals("READONLY false false true", client.awaitLine("READONLY", LONG));
            assertEquals("WRITE TO READ-ONLY REFUSED true", client.awaitLine("WRITE TO", LONG));
            final java.lang.foreign.MemorySegment o = order.segment();
            awaitState(o, 1);
            for (int i = 0; i < adds; i++) {
                SharedDataWritableTest.FILLED.getAndAdd(o, 1);
            }
            awaitState(o, 2);
            assertEquals(2L * adds, SharedDataWritableTest.FILLED.getVolatile(o), "no add of either process was lost");
            final SharedArray followed = order.followArray(SharedDataWritableTest.FILLS,
                java.lang.foreign.ValueLayout.JAVA_LONG);
            assertEquals(1000, followed.length());
            for (int i = 0; i < 1000; i++) {
                assertEquals(i * 7L + 1, fills.getLong(i));
                assertEquals(i * 7L + 1, followed.getLong(i));
            }
            assertEquals(77, SharedDataTest.INSTRUMENT.get(quote.segment()), "the read-only record is untouched");
            SharedDataPeerMain.send(channel, "DONE");
            client.awaitLine("END", LONG);
            client.assertExit(0, LONG);
            order.close();
            fills.close();
            quote.close();
            assertEquals(0, session.arena().allocatedBytes(), "freed: the peer gave back all three");
        }
    }

    private static void awaitState(final java.lang.foreign.MemorySegment order, final long state)
        throws InterruptedException {
        final long deadline = System.nanoTime() + LONG.toNanos();
        // acquire: pairs with the child's setRelease(STATE).
        while (SharedDataWritableTest.STATE.getAcquire(order) < state) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("the peer never reached state " + state);
            }
            Thread.sleep(1);
        }
    }

    @Test
    void shouldRefuseEveryForgedReferenceThePeerSendsAndStillBorrowTheRealOne() {
        final TestUniverse universe = universe();
        final int forged = 4_000;
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.zeroCopy());
             ChildJvm client = ChildJvm.start(SharedDataPeerMain.class, args(universe, "hostile", Integer.toString(forged)));
             Session session = server.accept(LONG)) {
            client.awaitReady();
            final SharedData data = SharedData.of(session);
            final BlobChannel channel = session.initChannels().getFirst().blobs();
            int refused = 0;
            for (int i = 0; i < forged; i++) {
                final DataRef ref = receive(channel);
                try {
                    data.borrowStruct(ref, QUOTE).close();
                } catch (final CorruptDataException expected) {
                    refused++;
                }
            }
            assertEquals(forged, refused);
            final long sum = Long.parseLong(client.awaitLine("SUM", LONG).substring(4));
            try (SharedStruct quote = data.borrowStruct(receive(channel), QUOTE)) {
                assertEquals(sum, SharedDataPeerMain.checksum(quote));
            }
            assertTrue(session.isOpen());
            SharedDataPeerMain.send(channel, "DONE");
            client.awaitLine("END", LONG);
            client.assertExit(0, LONG);
        }
    }

    @Test
    void shouldKeepABorrowedObjectReadableAfterTheLenderIsKilledAndFreeEverythingWithTheSession() throws Exception {
        final TestUniverse universe = universe();
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.zeroCopy());
             ChildJvm client = ChildJvm.start(SharedDataPeerMain.class, args(universe, "hold"))) {
            final String sessionId;
            try (Session session = server.accept(LONG)) {
                client.awaitReady();
                sessionId = session.id();
                final SharedData data = SharedData.of(session);
                final DataRef ref = receive(session.initChannels().getFirst().blobs());
                final long sum = Long.parseLong(client.awaitLine("LENT", LONG).substring(5));
                try (SharedStruct quote = data.borrowStruct(ref, QUOTE)) {
                    client.kill9();
                    final long deadline = System.nanoTime() + LONG.toNanos();
                    while (session.isOpen() && System.nanoTime() < deadline) {
                        Thread.sleep(10);
                    }
                    assertTrue(!session.isOpen(), "the session saw its peer die");
                    assertEquals(sum, SharedDataPeerMain.checksum(quote), "the mapping outlives the lender");
                }
            }
            try (Stream<Path> entries = Files.list(dev.isthmus.shm.SharedMemory.DEFAULT_DIRECTORY)) {
                assertEquals(List.of(), entries.map(p -> p.getFileName().toString())
                    .filter(name -> name.contains(sessionId)).toList(), "nothing of the session is left");
            }
        }
    }
}
