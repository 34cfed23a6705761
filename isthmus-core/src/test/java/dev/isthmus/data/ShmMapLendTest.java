/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.transport.NativeHandle;
import dev.isthmus.transport.UnixSocketBlobChannel;
import dev.isthmus.transport.UnixSocketOptions;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link ShmMap#lend} and {@link ShmMap#borrow} over a real socket pair, descriptors passed with {@code SCM_RIGHTS}. */
class ShmMapLendTest {
    private static final long TIMEOUT_NS = TimeUnit.SECONDS.toNanos(10);
    private static final ShmMapOptions OPTIONS = ShmMapOptions.builder().capacity(1024).maxKeyBytes(8).maxValueBytes(64)
        .build();

    @Test
    void shouldLendReadOnlyOrWritableAsTheLenderSays() {
        try (UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(UnixSocketOptions.defaults());
             ShmMap map = ShmMap.create("maplend", "m", OPTIONS)) {
            final MemorySegment value = MemorySegment.ofArray(new byte[64]);
            value.fill((byte) 3);
            assertTrue(map.put(1L, value));
            assertTrue(map.lend(pair.first(), false, TIMEOUT_NS));
            try (ShmMap reader = ShmMap.borrow(pair.second(), TIMEOUT_NS)) {
                assertFalse(reader.isWritable());
                assertEquals(64, reader.get(1L, MemorySegment.ofArray(new byte[64])));
                assertThrows(IllegalStateException.class, () -> reader.put(2L, value));
            }
            assertTrue(map.lend(pair.first(), true, TIMEOUT_NS));
            try (ShmMap writer = ShmMap.borrow(pair.second(), TIMEOUT_NS)) {
                assertTrue(writer.isWritable());
                assertTrue(writer.put(2L, value));
            }
            assertEquals(64, map.get(2L, MemorySegment.ofArray(new byte[64])), "the borrower's write is the map's");
        }
    }

    /**
     * A map created {@code peersReadOnly()}: a peer running as the same user, handed a read-only descriptor,
     * gives the file its write bits back and reopens it for writing through {@code /proc/self/fd}; mapping it
     * writable is still refused (the seal), and the creator hands out no writable descriptor at all.
     */
    @Test
    void shouldKeepAPeersReadOnlyMapReadOnlyEvenForAPeerThatOwnsTheFile() {
        final ShmMapOptions options = ShmMapOptions.builder().capacity(1024).maxKeyBytes(8).maxValueBytes(64)
            .stripes(4).peersReadOnly().build();
        try (ShmMap map = ShmMap.create("lendtest", "ro" + ProcessHandle.current().pid(), options)) {
            assertTrue(map.put(7L, MemorySegment.ofArray(new byte[64])), "the creator writes");
            assertThrows(IllegalStateException.class, () -> map.duplicateDescriptor(false));
            final int readOnly = map.duplicateDescriptor(true);
            dev.isthmus.internal.linux.FileIo.fchmod(readOnly, 0600, "test");
            final int readWrite = dev.isthmus.internal.linux.FileIo.reopen(readOnly,
                dev.isthmus.internal.linux.FileIo.O_RDWR, "test");
            dev.isthmus.internal.linux.FileIo.close(readOnly);
            assertThrows(CorruptDataException.class, () -> ShmMap.adopt(readWrite, true), "sealed against writing");
            try (ShmMap reader = ShmMap.adopt(map.duplicateDescriptor(true), false)) {
                assertTrue(reader.containsKey(7L));
                assertFalse(reader.isWritable());
            }
            assertTrue(map.put(8L, MemorySegment.ofArray(new byte[64])), "the creator still writes");
        }
    }

    @Test
    void shouldRefuseWhatIsNotALentMapAndGiveUpInTime() {
        try (UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(UnixSocketOptions.defaults())) {
            assertThrows(IsthmusTimeoutException.class, () -> ShmMap.borrow(pair.second(), TimeUnit.MILLISECONDS.toNanos(50)));
            final byte[] text = "hello, I am a map".getBytes();
            assertTrue(pair.first().offer(text, 0, text.length, TIMEOUT_NS));
            assertThrows(CorruptDataException.class, () -> ShmMap.borrow(pair.second(), TIMEOUT_NS), "no descriptor");
            // A lent-map blob with a descriptor that is not a map: a memfd without the map's seals and header.
            final byte[] blob = new byte[ShmMap.LEND_LENGTH];
            MemorySegment.ofArray(blob).set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 0, ShmMap.LEND_MAGIC);
            try (NativeHandle memfd = NativeHandle.memfd("notamap", 1 << 16)) {
                assertTrue(pair.first().offerWithHandles(MemorySegment.ofArray(blob), 0, blob.length, memfd));
            }
            assertThrows(CorruptDataException.class, () -> ShmMap.borrow(pair.second(), TIMEOUT_NS), "not a map");
        }
        // A writable map offered through a read-only descriptor is refused, not mapped.
        try (UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(UnixSocketOptions.defaults());
             ShmMap map = ShmMap.create("maplend", "ro", OPTIONS)) {
            final byte[] blob = new byte[ShmMap.LEND_LENGTH];
            final MemorySegment wire = MemorySegment.ofArray(blob);
            wire.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 0, ShmMap.LEND_MAGIC);
            wire.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 4, 1);
            try (NativeHandle readOnly = NativeHandle.adopt(map.duplicateDescriptor(true))) {
                assertTrue(pair.first().offerWithHandles(wire, 0, blob.length, readOnly));
            }
            assertThrows(CorruptDataException.class, () -> ShmMap.borrow(pair.second(), TIMEOUT_NS));
        }
    }
}
