/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SharedMemoryTest {
    private static final AtomicInteger IDS = new AtomicInteger();
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private final List<Path> toDelete = new ArrayList<>();

    @AfterEach
    void cleanUp() throws Exception {
        for (final AutoCloseable closeable : toClose) {
            closeable.close();
        }
        for (final Path path : toDelete) {
            Files.deleteIfExists(path);
        }
    }

    private ResourceName newName() {
        return ResourceName.of("shmtest", "seg", "t" + IDS.incrementAndGet());
    }

    private SharedMemory track(final SharedMemory memory) {
        toClose.add(memory);
        toDelete.add(memory.path());
        return memory;
    }

    @Test
    void shouldShareWritesBetweenCreatorAndOpener() {
        final ResourceName name = newName();
        final SharedMemory created = track(SharedMemory.builder(name).lengthBytes(64 * 1024).create());
        final SharedMemory opened = track(SharedMemory.open(name));

        created.segment().set(JAVA_LONG, 4096, 0x1234_5678_9abc_def0L);
        assertEquals(0x1234_5678_9abc_def0L, opened.segment().get(JAVA_LONG, 4096));
        opened.segment().set(JAVA_INT, 0, 7);
        assertEquals(7, created.segment().get(JAVA_INT, 0));
        assertEquals(64 * 1024, opened.lengthBytes());
        assertTrue(created.isOwner());
        assertTrue(opened.isOwner(), "same process created it");
        assertEquals(ProcessIdentity.current(), opened.owner());
    }

    @Test
    void shouldStartZeroFilledAndPageAligned() {
        final SharedMemory memory = track(SharedMemory.builder(newName()).lengthBytes(3 * 4096).prefault(true).create());
        final MemorySegment segment = memory.segment();
        assertEquals(0, segment.address() % 4096);
        for (long offset = 0; offset < segment.byteSize(); offset += 8) {
            assertEquals(0, segment.get(JAVA_LONG, offset));
        }
    }

    @ParameterizedTest
    @EnumSource(PermissionLevel.class)
    void shouldCreateWithExactModeOfPermissionLevel(final PermissionLevel level) throws IOException {
        final SharedMemory memory = track(SharedMemory.builder(newName()).lengthBytes(4096).permissions(level).create());
        assertEquals(level.symbolic(), PosixFilePermissions.toString(Files.getPosixFilePermissions(memory.path())));
        assertEquals(level.fileMode(), memory.mode());
    }

    @Test
    void shouldRefuseToCreateAnExistingName() {
        final ResourceName name = newName();
        track(SharedMemory.builder(name).lengthBytes(4096).create());
        final IsthmusException e = assertThrows(IsthmusException.class,
            () -> SharedMemory.builder(name).lengthBytes(4096).create());
        assertTrue(e.getMessage().contains("already exists"), e.getMessage());
    }

    @Test
    void shouldReportMissingSegmentByName() {
        final ResourceName name = newName();
        final NoSuchResourceException e = assertThrows(NoSuchResourceException.class, () -> SharedMemory.open(name));
        assertTrue(e.getMessage().contains(name.toString()), e.getMessage());
    }

    @Test
    void shouldReportMissingDirectory(@org.junit.jupiter.api.io.TempDir final Path temp) {
        final Path missing = temp.resolve("absent");
        final NoSuchResourceException e = assertThrows(NoSuchResourceException.class,
            () -> SharedMemory.builder(newName()).directory(missing).lengthBytes(4096).create());
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
    }

    @Test
    void shouldRejectWrongMagic() throws IOException {
        final ResourceName name = newName();
        writeRaw(name, 8192, header -> header.putLong(SegmentDescriptor.MAGIC_OFFSET, 0x0123456789L));
        final CorruptDataException e = assertThrows(CorruptDataException.class, () -> SharedMemory.open(name));
        assertTrue(e.getMessage().contains("wrong magic"), e.getMessage());
    }

    @Test
    void shouldRejectUninitializedHeader() throws IOException {
        final ResourceName name = newName();
        writeRaw(name, 8192, header -> { });
        final CorruptDataException e = assertThrows(CorruptDataException.class, () -> SharedMemory.open(name));
        assertTrue(e.getMessage().contains("not initialized"), e.getMessage());
    }

    @Test
    void shouldRejectWrongVersion() throws IOException {
        final ResourceName name = newName();
        writeRaw(name, 8192, header -> validHeader(header, 4096).putInt(SegmentDescriptor.VERSION_OFFSET, 99));
        final CorruptDataException e = assertThrows(CorruptDataException.class, () -> SharedMemory.open(name));
        assertTrue(e.getMessage().contains("layout version 99"), e.getMessage());
    }

    @Test
    void shouldRejectFileShorterThanHeaderDeclares() throws IOException {
        final ResourceName name = newName();
        writeRaw(name, 8192, header -> validHeader(header, 1 << 20));
        final CorruptDataException e = assertThrows(CorruptDataException.class, () -> SharedMemory.open(name));
        assertTrue(e.getMessage().contains("truncated") && e.getMessage().contains("1048576"), e.getMessage());
    }

    @Test
    void shouldRejectFileShorterThanHeader() throws IOException {
        final ResourceName name = newName();
        writeRaw(name, 100, header -> { });
        final CorruptDataException e = assertThrows(CorruptDataException.class, () -> SharedMemory.open(name));
        assertTrue(e.getMessage().contains("truncated") && e.getMessage().contains("100 bytes"), e.getMessage());
    }

    @Test
    void shouldRejectImpossibleHeaderLength() throws IOException {
        final ResourceName name = newName();
        writeRaw(name, 8192, header -> validHeader(header, 0).putInt(SegmentDescriptor.HEADER_LENGTH_OFFSET, 12345));
        final CorruptDataException e = assertThrows(CorruptDataException.class, () -> SharedMemory.open(name));
        assertTrue(e.getMessage().contains("header length 12345"), e.getMessage());
    }

    @Test
    void shouldOpenAHandWrittenValidHeader() throws IOException {
        final ResourceName name = newName();
        writeRaw(name, 8192, header -> validHeader(header, 4096));
        final SharedMemory memory = track(SharedMemory.open(name));
        assertEquals(4096, memory.lengthBytes());
        assertEquals(ProcessIdentity.current(), memory.owner());
    }

    @Test
    void shouldGrowAndLetOpenersCatchUp() {
        final ResourceName name = newName();
        final SharedMemory created = track(SharedMemory.builder(name).lengthBytes(4096).create());
        final SharedMemory opened = track(SharedMemory.open(name));
        final MemorySegment before = created.segment();
        before.set(JAVA_LONG, 0, 99);

        assertTrue(created.grow(1 << 20, true));
        assertFalse(created.grow(4096, false), "never shrinks");
        assertEquals(1 << 20, created.lengthBytes());
        created.segment().set(JAVA_LONG, (1 << 20) - 8, 42);
        assertEquals(99, before.get(JAVA_LONG, 0), "the old mapping stays valid");

        assertEquals(4096, opened.lengthBytes());
        assertTrue(opened.refresh());
        assertFalse(opened.refresh());
        assertEquals(42, opened.segment().get(JAVA_LONG, (1 << 20) - 8));
        assertEquals(99, opened.segment().get(JAVA_LONG, 0));
    }

    @Test
    void shouldMapReadOnly() {
        final ResourceName name = newName();
        final SharedMemory created = track(SharedMemory.builder(name).lengthBytes(4096).create());
        created.segment().set(JAVA_LONG, 8, 5);
        final SharedMemory reader = track(SharedMemory.open(SharedMemory.DEFAULT_DIRECTORY, name, false));
        assertEquals(5, reader.segment().get(JAVA_LONG, 8));
        assertTrue(reader.segment().isReadOnly());
        assertThrows(IllegalStateException.class, () -> reader.grow(8192, false));
    }

    @Test
    void shouldCloseIdempotentlyAndFailLaterAccessClearly() {
        final SharedMemory memory = track(SharedMemory.builder(newName()).lengthBytes(4096).create());
        final MemorySegment segment = memory.segment();
        memory.close();
        memory.close();
        assertThrows(IllegalStateException.class, memory::segment);
        assertThrows(IllegalStateException.class, () -> segment.get(JAVA_LONG, 0));
    }

    @Test
    void shouldKeepMappingsAfterUnlink() {
        final ResourceName name = newName();
        final SharedMemory created = track(SharedMemory.builder(name).lengthBytes(4096).create());
        final SharedMemory opened = track(SharedMemory.open(name));
        created.unlink();
        created.unlink();
        assertFalse(Files.exists(created.path()));
        created.segment().set(JAVA_LONG, 0, 17);
        assertEquals(17, opened.segment().get(JAVA_LONG, 0));
        assertThrows(NoSuchResourceException.class, () -> SharedMemory.open(name));
    }

    @Test
    void shouldRejectInvalidLengths() {
        assertThrows(IllegalArgumentException.class, () -> SharedMemory.builder(newName()).lengthBytes(-1));
        assertThrows(IllegalStateException.class, () -> SharedMemory.builder(newName()).create());
    }

    private interface HeaderWriter {
        void write(ByteBuffer header);
    }

    private static ByteBuffer validHeader(final ByteBuffer header, final long dataLength) {
        final ProcessIdentity me = ProcessIdentity.current();
        return header.putLong(SegmentDescriptor.MAGIC_OFFSET, SegmentDescriptor.MAGIC)
            .putInt(SegmentDescriptor.VERSION_OFFSET, SegmentDescriptor.VERSION)
            .putInt(SegmentDescriptor.HEADER_LENGTH_OFFSET, 4096)
            .putLong(SegmentDescriptor.DATA_LENGTH_OFFSET, dataLength)
            .putInt(SegmentDescriptor.OWNER_PID_OFFSET, (int) me.pid())
            .putInt(SegmentDescriptor.MODE_OFFSET, 0600)
            .putLong(SegmentDescriptor.OWNER_START_TIME_OFFSET, me.startTimeTicks());
    }

    private void writeRaw(final ResourceName name, final int fileLength, final HeaderWriter writer) throws IOException {
        final Path path = SharedMemory.DEFAULT_DIRECTORY.resolve(name.toString());
        toDelete.add(path);
        final ByteBuffer bytes = ByteBuffer.allocate(fileLength).order(ByteOrder.LITTLE_ENDIAN);
        if (fileLength >= SegmentDescriptor.FIELDS_LENGTH) {
            writer.write(bytes);
        }
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            channel.write(bytes);
        }
    }
}
