/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.CorruptDataException;
import dev.isthmus.internal.linux.FileIo;
import dev.isthmus.test.AllocationProbe;
import dev.isthmus.test.NoLeftovers;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The map's contract in one process: puts, gets, removes, full stripes, tombstones, iteration, counters,
 * option checks, read-only mappings and closing.
 */
class ShmMapTest {
    private static final String APP = "shmmaptest";

    private static byte[] bytes(final String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static ShmMap small(final int capacity, final int stripes) {
        return ShmMap.create(APP, "small", ShmMapOptions.builder().capacity(capacity).stripes(stripes).maxKeyBytes(16)
            .maxValueBytes(32).build());
    }

    @Test
    void shouldPutGetOverwriteAndRemove() {
        try (ShmMap map = small(64, 4)) {
            assertNull(map.get(bytes("a")));
            assertTrue(map.put(bytes("a"), bytes("one")));
            assertTrue(map.put(bytes("bb"), bytes("two")));
            assertArrayEquals(bytes("one"), map.get(bytes("a")));
            assertArrayEquals(bytes("two"), map.get(bytes("bb")));
            assertTrue(map.containsKey(bytes("a")));
            assertFalse(map.containsKey(bytes("b")));
            assertEquals(2, map.size());

            assertTrue(map.put(bytes("a"), bytes("a longer value")));
            assertArrayEquals(bytes("a longer value"), map.get(bytes("a")));
            assertTrue(map.put(bytes("a"), new byte[0]));
            assertArrayEquals(new byte[0], map.get(bytes("a")));
            assertEquals(2, map.size());

            assertTrue(map.remove(bytes("a")));
            assertFalse(map.remove(bytes("a")));
            assertNull(map.get(bytes("a")));
            assertArrayEquals(bytes("two"), map.get(bytes("bb")));
            assertEquals(1, map.size());
        }
    }

    @Test
    void shouldHoldKeysAndValuesOfEveryLength() {
        try (ShmMap map = small(256, 8)) {
            for (int keyLength = 1; keyLength <= 16; keyLength++) {
                final byte[] key = new byte[keyLength];
                for (int i = 0; i < keyLength; i++) {
                    key[i] = (byte) (keyLength * 7 + i);
                }
                final byte[] value = new byte[keyLength * 2];
                java.util.Arrays.fill(value, (byte) keyLength);
                assertTrue(map.put(key, value));
            }
            for (int keyLength = 1; keyLength <= 16; keyLength++) {
                final byte[] key = new byte[keyLength];
                for (int i = 0; i < keyLength; i++) {
                    key[i] = (byte) (keyLength * 7 + i);
                }
                final byte[] value = map.get(key);
                assertEquals(keyLength * 2, value.length, "value of the key of length " + keyLength);
                for (final byte b : value) {
                    assertEquals((byte) keyLength, b);
                }
            }
            assertEquals(16, map.size());
        }
    }

    @Test
    void shouldReturnFalseWhenTheStripeIsFullAndReuseTombstones() {
        try (ShmMap map = small(4, 1)) {
            for (int i = 0; i < 4; i++) {
                assertTrue(map.put(bytes("k" + i), bytes("v" + i)));
            }
            assertFalse(map.put(bytes("k4"), bytes("v4")), "a full stripe is a result, not an exception");
            assertTrue(map.put(bytes("k2"), bytes("replaced")), "a present key is replaced in a full stripe");
            assertNull(map.get(bytes("k4")));
            assertEquals(4, map.size());

            assertTrue(map.remove(bytes("k1")));
            // Every slot was full, so the removed one is followed by a full slot and stays a tombstone.
            assertEquals(1, map.stats().tombstones());
            assertEquals(3, map.stats().entries());
            assertTrue(map.put(bytes("k4"), bytes("v4")), "the tombstone is reused");
            assertEquals(0, map.stats().tombstones());
            assertEquals(4, map.size());
            assertArrayEquals(bytes("v4"), map.get(bytes("k4")));
            for (final int i : new int[] {0, 2, 3}) {
                assertTrue(map.containsKey(bytes("k" + i)), "k" + i + " is still found past the reused slot");
            }
            assertFalse(map.containsKey(bytes("k1")));
        }
    }

    @Test
    void shouldFindKeysPastTombstonesAndEmptySlotsAgainWhenChainsEnd() {
        try (ShmMap map = small(8, 1)) {
            for (int i = 0; i < 6; i++) {
                assertTrue(map.put(bytes("key" + i), bytes("value" + i)));
            }
            for (int i = 0; i < 6; i += 2) {
                assertTrue(map.remove(bytes("key" + i)));
            }
            for (int i = 1; i < 6; i += 2) {
                assertArrayEquals(bytes("value" + i), map.get(bytes("key" + i)));
            }
            for (int i = 1; i < 6; i += 2) {
                assertTrue(map.remove(bytes("key" + i)));
            }
            assertEquals(0, map.size());
            // With the map empty, every chain ends, and every slot can be reused.
            for (int i = 10; i < 18; i++) {
                assertTrue(map.put(bytes("key" + i), bytes("value" + i)), "key" + i);
            }
            assertEquals(8, map.size());
            assertEquals(0, map.stats().tombstones());
        }
    }

    @Test
    void shouldIterateEveryEntryWithForEach() {
        try (ShmMap map = small(128, 4)) {
            final Map<String, String> expected = new HashMap<>();
            for (int i = 0; i < 50; i++) {
                expected.put("key" + i, "value" + i * i);
                assertTrue(map.put(bytes("key" + i), bytes("value" + i * i)));
            }
            map.remove(bytes("key7"));
            expected.remove("key7");
            final Map<String, String> seen = new HashMap<>();
            map.forEach((key, value) -> {
                final String k = new String(key.toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
                final String v = new String(value.toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
                assertNull(seen.put(k, v), "each entry once");
            });
            assertEquals(expected, seen);
        }
    }

    @Test
    void shouldStoreLongKeysAsEightLittleEndianBytes() {
        try (ShmMap map = ShmMap.create(APP, "longs", ShmMapOptions.builder().capacity(4096).build());
             Arena arena = Arena.ofConfined()) {
            final MemorySegment value = arena.allocate(64);
            final MemorySegment out = arena.allocate(64);
            for (long key = -500; key < 500; key++) {
                value.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, key * 3);
                assertTrue(map.put(key, value.asSlice(0, 8 + (key & 7))));
            }
            for (long key = -500; key < 500; key++) {
                assertEquals(8 + (key & 7), map.get(key, out));
                assertEquals(key * 3, out.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
            }
            final MemorySegment keyBytes = arena.allocate(8);
            keyBytes.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, 123);
            assertEquals(8 + (123 & 7), map.get(keyBytes, out), "the same key, as bytes");
            assertTrue(map.containsKey(123));
            assertTrue(map.remove(123));
            assertFalse(map.containsKey(keyBytes));
            assertEquals(-1, map.get(123, out));
            assertEquals(999, map.size());
        }
    }

    @Test
    void shouldCountInStats() {
        try (ShmMap map = small(64, 2)) {
            assertEquals(new ShmMapStats(0, 0, 0, 0, 0, 0), map.stats());
            for (int i = 0; i < 10; i++) {
                map.put(bytes("k" + i), bytes("v"));
            }
            final ShmMapStats stats = map.stats();
            assertEquals(10, stats.entries());
            assertEquals(0, stats.recoveries());
            assertEquals(0, stats.lockTimeouts());
            assertEquals(64, map.capacity());
            assertEquals(2, map.stripes());
            assertEquals(16, map.maxKeyBytes());
            assertEquals(32, map.maxValueBytes());
        }
    }

    @Test
    void shouldRejectOutOfRangeArguments() {
        try (ShmMap map = small(64, 2); Arena arena = Arena.ofConfined()) {
            assertThrows(IllegalArgumentException.class, () -> map.put(new byte[0], bytes("v")));
            assertThrows(IllegalArgumentException.class, () -> map.put(new byte[17], bytes("v")));
            assertThrows(IllegalArgumentException.class, () -> map.put(bytes("k"), new byte[33]));
            assertThrows(IllegalArgumentException.class, () -> map.get(new byte[17]));
            map.put(bytes("k"), new byte[20]);
            final IllegalArgumentException tooSmall = assertThrows(IllegalArgumentException.class,
                () -> map.get(MemorySegment.ofArray(bytes("k")), arena.allocate(19)));
            assertTrue(tooSmall.getMessage().contains("20"), tooSmall.getMessage());
            assertEquals(20, map.get(MemorySegment.ofArray(bytes("k")), arena.allocate(20)));
        }
        try (ShmMap map = ShmMap.create(APP, "short", ShmMapOptions.builder().maxKeyBytes(4).build())) {
            assertThrows(IllegalArgumentException.class, () -> map.get(1L, MemorySegment.ofArray(new byte[64])));
            assertThrows(IllegalArgumentException.class, () -> map.put(1L, MemorySegment.ofArray(new byte[1])));
        }
    }

    @Test
    void shouldValidateOptions() {
        assertThrows(IllegalArgumentException.class, () -> ShmMapOptions.builder().capacity(0).build());
        assertThrows(IllegalArgumentException.class, () -> ShmMapOptions.builder().maxKeyBytes(0).build());
        assertThrows(IllegalArgumentException.class,
            () -> ShmMapOptions.builder().maxKeyBytes(ShmMapDescriptor.MAX_KEY_BYTES + 1).build());
        assertThrows(IllegalArgumentException.class, () -> ShmMapOptions.builder().maxValueBytes(-1).build());
        assertThrows(IllegalArgumentException.class,
            () -> ShmMapOptions.builder().maxValueBytes(ShmMapDescriptor.MAX_VALUE_BYTES + 1).build());
        assertThrows(IllegalArgumentException.class, () -> ShmMapOptions.builder().stripes(3).build());
        assertThrows(IllegalArgumentException.class, () -> ShmMapOptions.builder().stripes(0).build());
        assertThrows(IllegalArgumentException.class, () -> ShmMapOptions.builder().capacity(8).stripes(16).build());
        assertThrows(IllegalArgumentException.class, () -> ShmMapOptions.builder().lockTimeoutNs(0).build());
        assertThrows(IllegalArgumentException.class, () -> ShmMapOptions.builder().readTimeoutNs(-1).build());
        assertThrows(IllegalArgumentException.class,
            () -> ShmMapOptions.builder().readTimeoutNs(ShmMapDescriptor.MAX_TIMEOUT_NS + 1).build());
        assertThrows(IllegalArgumentException.class, () -> ShmMapOptions.builder().capacity(Integer.MAX_VALUE)
            .stripes(1 << 16).maxValueBytes(ShmMapDescriptor.MAX_VALUE_BYTES).build(), "too large in total");
        assertThrows(IllegalArgumentException.class, () -> ShmMapOptions.builder().capacity(1 << 30).stripes(1).build(),
            "too many slots per stripe");
        assertThrows(NullPointerException.class, () -> ShmMapOptions.builder().permissions(null));
        final ShmMapOptions options = ShmMapOptions.builder().capacity(100).stripes(8).build();
        assertEquals(13, options.slotsPerStripe());
        assertEquals(ShmMapOptions.DEFAULT_LOCK_TIMEOUT_NS, options.lockTimeoutNs());
    }

    @Test
    void shouldShareEntriesWithAnAdoptedMapping() {
        try (ShmMap map = small(64, 4); ShmMap peer = ShmMap.adopt(map.duplicateDescriptor(false), true)) {
            assertTrue(peer.isWritable());
            map.put(bytes("from-creator"), bytes("1"));
            peer.put(bytes("from-peer"), bytes("2"));
            assertArrayEquals(bytes("1"), peer.get(bytes("from-creator")));
            assertArrayEquals(bytes("2"), map.get(bytes("from-peer")));
            assertEquals(2, peer.size());
        }
    }

    @Test
    void shouldRefuseWritesOnAReadOnlyMappingThatReallyIsReadOnly() {
        try (ShmMap map = small(64, 4)) {
            map.put(bytes("k"), bytes("v"));
            try (ShmMap reader = ShmMap.adopt(map.duplicateDescriptor(true), false)) {
                assertFalse(reader.isWritable());
                assertArrayEquals(bytes("v"), reader.get(bytes("k")));
                assertThrows(IllegalStateException.class, () -> reader.put(bytes("k"), bytes("w")));
                assertThrows(IllegalStateException.class, () -> reader.put(1L, MemorySegment.ofArray(new byte[1])));
                assertThrows(IllegalStateException.class, () -> reader.remove(bytes("k")));
                assertThrows(IllegalStateException.class, () -> reader.remove(1L));
                assertThrows(IllegalStateException.class,
                    () -> reader.recoverLocksHeldBy(new dev.isthmus.shm.ProcessIdentity(Integer.MAX_VALUE - 1, 1)));
                assertTrue(reader.memory().isReadOnly(), "the mapping is read-only");
                assertThrows(IllegalArgumentException.class, () -> reader.memory().set(ValueLayout.JAVA_LONG, 0, 0));
                assertArrayEquals(bytes("v"), map.get(bytes("k")), "nothing was written");
            }
            // A read-only descriptor cannot be mapped for writing at all: the kernel refuses.
            assertThrows(CorruptDataException.class, () -> ShmMap.adopt(map.duplicateDescriptor(true), true));
        }
    }

    @Test
    void shouldRefuseDescriptorsOfOtherFiles() {
        final int fd = FileIo.memfdCreate("not-a-map");
        assertThrows(CorruptDataException.class, () -> ShmMap.adopt(fd, false), "an unsealed memfd");
    }

    @Test
    void shouldCloseIdempotentlyAndFailCallsAfterwards() {
        final Set<java.nio.file.Path> before = NoLeftovers.snapshot();
        final ShmMap map = small(64, 4);
        map.put(bytes("k"), bytes("v"));
        map.close();
        map.close();
        assertThrows(IllegalStateException.class, () -> map.get(bytes("k")));
        assertThrows(IllegalStateException.class, () -> map.put(bytes("k"), bytes("v")));
        assertThrows(IllegalStateException.class, () -> map.duplicateDescriptor(false));
        assertEquals(before, NoLeftovers.snapshot(), "a map lives in a sealed anonymous file, never in /dev/shm");
    }

    @Test
    void shouldAllocateNothingPerGetOrPut() {
        try (ShmMap map = ShmMap.create(APP, "alloc", ShmMapOptions.builder().capacity(4096).build());
             Arena arena = Arena.ofConfined()) {
            final MemorySegment value = arena.allocate(64);
            final MemorySegment out = arena.allocate(64);
            final MemorySegment key = arena.allocate(8);
            for (long k = 0; k < 1000; k++) {
                map.put(k, value);
            }
            AllocationProbe.assertNoAllocationPerOperation(() -> {
                for (long k = 0; k < 1000; k++) {
                    key.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, k);
                    map.get(k, out);
                    map.put(k, value);
                    map.get(key, out);
                    map.containsKey(key);
                }
            }, 4000, "gets and puts");
        }
    }
}
