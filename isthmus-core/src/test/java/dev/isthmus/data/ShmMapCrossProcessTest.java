/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.test.ChildJvm;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A map shared with child JVMs ({@link ShmMapPeerMain}) that write into it: the parent reads millions of
 * times and never sees a torn value; a writer halted in the middle of an update (holding the lock, half the
 * value written), or killed with {@code kill -9} at a random moment, leaves a map the parent recovers: the
 * half-written value is rolled back, every entry is whole, and puts and removes go on.
 */
class ShmMapCrossProcessTest {
    private static final int KEYS = 32;
    private static final long GETS = 3_000_000;

    private static ShmMap newMap(final String name) {
        return ShmMap.create("shmmapxp", name, ShmMapOptions.builder().capacity(128).stripes(4)
            .maxValueBytes(ShmMapPeerMain.VALUE_BYTES).lockTimeoutNs(10_000_000_000L).readTimeoutNs(10_000_000_000L)
            .build());
    }

    private static final java.util.concurrent.atomic.AtomicInteger SOCKETS = new java.util.concurrent.atomic.AtomicInteger();

    /**
     * Starts a child and lends it {@code map} writable over a Unix socket, as a real peer gets it: the descriptor
     * travels with {@code SCM_RIGHTS} (the memfd has no write bit, so it could not be reopened through /proc).
     */
    private static ChildJvm startChild(final ShmMap map, final List<String> jvmOptions, final String command,
                                       final String argument) {
        final long tenSeconds = java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        try (dev.isthmus.transport.UnixSocketServer server = dev.isthmus.transport.UnixSocketServer.bind("shmmaptest",
            "m" + SOCKETS.incrementAndGet(), dev.isthmus.transport.UnixSocketOptions.defaults())) {
            final ChildJvm child = ChildJvm.start(jvmOptions, ShmMapPeerMain.class, command,
                server.address().toString(), argument);
            try (dev.isthmus.transport.UnixSocketBlobChannel channel = server.accept(6 * tenSeconds)) {
                assertTrue(map.lend(channel, true, tenSeconds));
                child.awaitReady();
            }
            return child;
        }
    }

    private static void putInitialValues(final ShmMap map, final MemorySegment value) {
        for (long key = 0; key < KEYS; key++) {
            ShmMapPeerMain.fill(value, key, 0);
            assertTrue(map.put(key, value));
        }
    }

    /** Checks that every entry is whole, and that the map is fully usable. */
    private static void assertConsistentAndUsable(final ShmMap map, final MemorySegment value) {
        final long[] entries = {0};
        map.forEach((key, v) -> {
            ShmMapPeerMain.check(v, v.byteSize(), key.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0));
            entries[0]++;
        });
        assertEquals(KEYS, entries[0]);
        assertEquals(KEYS, map.size());
        for (long key = 0; key < KEYS; key++) {
            assertTrue(map.remove(key), "remove " + key);
            assertEquals(-1, map.get(key, value));
            ShmMapPeerMain.fill(value, key, 7);
            assertTrue(map.put(key, value), "put " + key);
            assertEquals(7, ShmMapPeerMain.check(value, map.get(key, value), key));
        }
        assertEquals(KEYS, map.size());
    }

    @Test
    void shouldNeverShowATornValueWrittenByAnotherProcess() {
        try (ShmMap map = newMap("torn"); Arena arena = Arena.ofConfined()) {
            final MemorySegment value = arena.allocate(ShmMapPeerMain.VALUE_BYTES);
            putInitialValues(map, value);
            try (ChildJvm child = startChild(map, List.of(), "loop", Integer.toString(KEYS))) {
                child.awaitLine("WROTE", Duration.ofSeconds(60));
                long newer = 0;
                for (long i = 0; i < GETS; i++) {
                    final long key = i % KEYS;
                    final long counter = ShmMapPeerMain.check(value, map.get(key, value), key);
                    if (counter > 0) {
                        newer++;
                    }
                }
                child.send("stop");
                child.awaitLine("DONE", Duration.ofSeconds(60));
                child.assertExit(0, Duration.ofSeconds(30));
                assertTrue(newer > 0, "the child's values were seen");
            }
            assertConsistentAndUsable(map, value);
            assertEquals(0, map.stats().recoveries());
        }
    }

    @Test
    void shouldRollBackAWriterHaltedMidUpdate() {
        try (ShmMap map = newMap("halt"); Arena arena = Arena.ofConfined()) {
            final MemorySegment value = arena.allocate(ShmMapPeerMain.VALUE_BYTES);
            putInitialValues(map, value);
            final long key = 5;
            final ProcessIdentity childIdentity;
            try (ChildJvm child = startChild(map, List.of("-Disthmus.test.shmmap.haltMidUpdate=true"), "halt",
                Long.toString(key))) {
                childIdentity = ProcessIdentity.of(child.pid());
                child.send("go");
                assertEquals(ShmMap.HALT_STATUS, child.awaitExit(Duration.ofSeconds(60)), child.output());
            }
            // The child died holding the lock, half its value written: a reader of a writable mapping waits,
            // finds the holder dead, and rolls the slot back.
            assertEquals(0, ShmMapPeerMain.check(value, map.get(key, value), key), "the old value, whole");
            assertEquals(1, map.stats().recoveries());
            assertEquals(0, map.recoverLocksHeldBy(childIdentity), "nothing left to recover");
            assertConsistentAndUsable(map, value);
        }
    }

    @Test
    void shouldRecoverLocksOfAHaltedWriterOnRequest() {
        try (ShmMap map = newMap("request"); Arena arena = Arena.ofConfined()) {
            final MemorySegment value = arena.allocate(ShmMapPeerMain.VALUE_BYTES);
            putInitialValues(map, value);
            final ProcessIdentity childIdentity;
            try (ChildJvm child = startChild(map, List.of("-Disthmus.test.shmmap.haltMidUpdate=true"), "halt", "9")) {
                childIdentity = ProcessIdentity.of(child.pid());
                child.send("go");
                assertEquals(ShmMap.HALT_STATUS, child.awaitExit(Duration.ofSeconds(60)), child.output());
            }
            assertEquals(1, map.recoverLocksHeldBy(childIdentity));
            assertEquals(1, map.stats().recoveries());
            assertEquals(0, ShmMapPeerMain.check(value, map.get(9, value), 9));
            assertConsistentAndUsable(map, value);
        }
    }

    @Test
    void shouldRecoverFromAWriterKilledAtARandomMoment() {
        try (ShmMap map = newMap("kill"); Arena arena = Arena.ofConfined()) {
            final MemorySegment value = arena.allocate(ShmMapPeerMain.VALUE_BYTES);
            putInitialValues(map, value);
            for (int round = 0; round < 3; round++) {
                try (ChildJvm child = startChild(map, List.of(), "loop", Integer.toString(KEYS))) {
                    child.awaitLine("WROTE", Duration.ofSeconds(60));
                    // Read for a random while, then kill the busy writer wherever it is.
                    final long gets = ThreadLocalRandom.current().nextLong(10_000, 200_000);
                    for (long i = 0; i < gets; i++) {
                        ShmMapPeerMain.check(value, map.get(i % KEYS, value), i % KEYS);
                    }
                    child.kill9();
                }
                // Whatever it was doing, the next writer of each stripe takes over: put into every key.
                for (long key = 0; key < KEYS; key++) {
                    ShmMapPeerMain.fill(value, key, 1_000_000 + round);
                    assertTrue(map.put(key, value));
                }
                assertConsistentAndUsable(map, value);
            }
            assertTrue(map.stats().recoveries() <= 3, "at most one stripe held at each kill: " + map.stats());
        }
    }
}
