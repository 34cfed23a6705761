/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.linux;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicBoolean;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Prefaulting a shared mapping never writes to it: a peer may be writing the same pages.
 */
class MmapTest {
    private static final int PAGES = 64;

    private static Path newFile() {
        return Path.of("/dev/shm", "isthmus-mmaptest-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
    }

    @Test
    void shouldPrefaultByReadingWithoutWritingEvenAReadOnlyMapping() throws IOException {
        final Path file = newFile();
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE); Arena arena = Arena.ofConfined()) {
            final long length = PAGES * Mmap.pageSize();
            final MemorySegment mapping = channel.map(FileChannel.MapMode.READ_WRITE, 0, length, arena);
            for (long page = 0; page < PAGES; page++) {
                mapping.set(JAVA_BYTE, page * Mmap.pageSize(), (byte) page);
            }
            // A read-only view throws on any write: the fallback must not even try one.
            Mmap.populateByReading(mapping.asReadOnly());
            for (long page = 0; page < PAGES; page++) {
                assertEquals((byte) page, mapping.get(JAVA_BYTE, page * Mmap.pageSize()));
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @Test
    void shouldLoseNoWriteOfAPeerWhilePrefaulting() throws Exception {
        final Path file = newFile();
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE); Arena arena = Arena.ofShared()) {
            final long length = PAGES * Mmap.pageSize();
            final MemorySegment mapping = channel.map(FileChannel.MapMode.READ_WRITE, 0, length, arena);
            final AtomicBoolean stop = new AtomicBoolean();
            final long[] written = new long[1];
            // The peer: counts up in the first bytes of every page, which the old fallback wrote back stale.
            final Thread writer = Thread.ofPlatform().start(() -> {
                long value = 0;
                while (!stop.get()) {
                    value++;
                    for (long page = 0; page < PAGES; page++) {
                        mapping.set(JAVA_LONG, page * Mmap.pageSize(), value);
                    }
                }
                written[0] = value;
            });
            for (int round = 0; round < 200; round++) {
                Mmap.populateByReading(mapping);
                Mmap.populateWrite(mapping, file.toString());
            }
            stop.set(true);
            writer.join();
            for (long page = 0; page < PAGES; page++) {
                assertEquals(written[0], mapping.get(JAVA_LONG, page * Mmap.pageSize()), "page " + page);
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
