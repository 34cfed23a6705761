/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import dev.isthmus.CorruptDataException;
import dev.isthmus.NativeException;
import dev.isthmus.internal.linux.FileIo;
import dev.isthmus.internal.linux.Mmap;
import dev.isthmus.transport.NativeHandle;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sealed anonymous segments, as sessions hand them over: what the receiver refuses before it maps, what
 * the kernel refuses a peer, and that nothing of them ever appears in {@code /dev/shm}.
 */
class SealedSharedMemoryTest {
    private static final AtomicInteger IDS = new AtomicInteger();

    private static ResourceName newName() {
        return ResourceName.of("sealtest", "seg", "m" + IDS.incrementAndGet());
    }

    private static long inDevShm(final ResourceName name) throws Exception {
        try (Stream<Path> entries = Files.list(SharedMemory.DEFAULT_DIRECTORY)) {
            return entries.filter(p -> p.getFileName().toString().startsWith(name.toString())).count();
        }
    }

    @Test
    void shouldHandTheSegmentOverAsADescriptorWithNothingInDevShm() throws Exception {
        final ResourceName name = newName();
        try (SharedMemory created = SharedMemory.builder(name).lengthBytes(1 << 16).createSealed();
             SharedMemory adopted = SharedMemory.adopt(created.duplicateDescriptor(false), name, true, 1 << 20)) {
            assertTrue(created.isSealed() && adopted.isSealed());
            created.segment().set(JAVA_LONG, 4096, 42L);
            assertEquals(42L, adopted.segment().get(JAVA_LONG, 4096));
            assertEquals(0, inDevShm(name));
            created.unlink();
            assertEquals(42L, adopted.segment().get(JAVA_LONG, 4096));
        }
    }

    /**
     * A read-only descriptor cannot be turned into a writable one by reopening it through {@code /proc/self/fd}:
     * the file itself has no write bit, so only the creator's own descriptor writes.
     */
    @Test
    void shouldRefuseToReopenAReadOnlyDescriptorForWriting() {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.isthmus.test.Privileges.overridesFileModes(),
            "this process has CAP_DAC_OVERRIDE (root): file modes do not apply to it");
        final ResourceName name = ResourceName.of("sealtest", "seg", "ro" + IDS.incrementAndGet());
        try (SharedMemory created = SharedMemory.builder(name).lengthBytes(1 << 16).createSealed();
             NativeHandle readOnly = NativeHandle.adopt(created.duplicateDescriptor(true))) {
            assertThrows(NativeException.class, () -> FileIo.close(FileIo.reopen(readOnly.fd(), FileIo.O_RDWR, "test")));
            FileIo.close(FileIo.reopen(readOnly.fd(), FileIo.O_RDONLY, "test"));
            created.segment().set(JAVA_LONG, 0, 42L);
            try (NativeHandle writable = NativeHandle.adopt(created.duplicateDescriptor(false));
                 SharedMemory peer = SharedMemory.adopt(writable.release(), name, true, 1 << 16)) {
                peer.segment().set(JAVA_LONG, 8, 43L);
                assertEquals(43L, created.segment().get(JAVA_LONG, 8), "a writable duplicate still writes");
            }
        }
    }

    @Test
    void shouldRefuseAPeerTheShrinkThatWouldFaultItsReader() {
        final ResourceName name = newName();
        try (SharedMemory created = SharedMemory.builder(name).lengthBytes(1 << 16).createSealed()) {
            final int peer = created.duplicateDescriptor(false);
            try {
                final NativeException refused = assertThrows(NativeException.class, () -> FileIo.truncate(peer, 4096, "peer"));
                assertTrue(refused.getMessage().contains("EPERM"), refused.getMessage());
            } finally {
                FileIo.close(peer);
            }
            created.segment().set(JAVA_LONG, (1 << 16) - 8, 7L);
            assertEquals(7L, created.segment().get(JAVA_LONG, (1 << 16) - 8));
        }
    }

    @Test
    void shouldRefuseAnUnsealedMemfdAndAFileFromDevShm() {
        final ResourceName name = newName();
        try (NativeHandle unsealed = NativeHandle.memfd("unsealed", 1 << 16)) {
            final int copy = FileIo.duplicate(unsealed.fd(), "unsealed");
            final CorruptDataException e = assertThrows(CorruptDataException.class,
                () -> SharedMemory.adopt(copy, name, true, 1 << 20));
            assertTrue(e.getMessage().contains("not sealed against shrinking"), e.getMessage());
        }
        try (SharedMemory named = SharedMemory.builder(name).lengthBytes(1 << 16).create()) {
            final int copy = named.duplicateDescriptor(false);
            assertThrows(CorruptDataException.class, () -> SharedMemory.adopt(copy, name, true, 1 << 20));
            named.unlink();
        }
    }

    @Test
    void shouldRefuseASegmentLargerThanTheReceiverAcceptsBeforeMappingIt() {
        final ResourceName name = newName();
        try (SharedMemory created = SharedMemory.builder(name).lengthBytes(1L << 30).createSealed()) {
            final CorruptDataException e = assertThrows(CorruptDataException.class,
                () -> SharedMemory.adopt(created.duplicateDescriptor(false), name, true, 1 << 20));
            assertTrue(e.getMessage().contains("more than the 1048576 data bytes"), e.getMessage());
        }
    }

    @Test
    void shouldRefuseToFollowAPeerThatGrowsTheFileBeyondTheLimit() {
        final ResourceName name = newName();
        try (SharedMemory created = SharedMemory.builder(name).lengthBytes(1 << 16).createSealed();
             SharedMemory adopted = SharedMemory.adopt(created.duplicateDescriptor(false), name, true, 1 << 20)) {
            created.grow(1 << 19, false);
            assertTrue(adopted.refresh());
            created.grow(1 << 22, false);
            final CorruptDataException e = assertThrows(CorruptDataException.class, adopted::refresh);
            assertTrue(e.getMessage().contains("more than the"), e.getMessage());
        }
    }

    @Test
    void shouldGiveAReadOnlyDescriptorThatCannotBeMappedForWriting() {
        final ResourceName name = newName();
        try (SharedMemory created = SharedMemory.builder(name).lengthBytes(1 << 16).createSealed()) {
            final int readOnly = created.duplicateDescriptor(true);
            try (Arena arena = Arena.ofShared()) {
                assertThrows(NativeException.class, () -> Mmap.map(readOnly, 1 << 16, true, arena, "read-only peer"));
                final MemorySegment view = Mmap.map(readOnly, 4096 + (1 << 16), false, arena, "read-only peer");
                created.segment().set(JAVA_LONG, 0, 99L);
                final long headerLength = view.get(JAVA_INT, SegmentDescriptor.HEADER_LENGTH_OFFSET);
                assertEquals(99L, view.get(JAVA_LONG, headerLength));
                assertTrue(view.isReadOnly());
            } finally {
                FileIo.close(readOnly);
            }
        }
    }
}
