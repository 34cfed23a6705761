/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A channel over sealed anonymous queues, as sessions make them: handed over as descriptors, growing through them. */
class SealedShmBlobChannelTest {
    @Test
    void shouldGrowASealedQueueThroughTheSameDescriptor() throws Exception {
        final ResourceName name = ResourceName.of("sealtest", "queue", "grow");
        final ShmQueueOptions options = ShmQueueOptions.builder().initialCapacityBytes(4096).maxCapacityBytes(1 << 20)
            .maxMessageLengthBytes(4096).prefault(false).build();
        try (ShmBlobChannel creator = ShmBlobChannel.createSealed(name, options)) {
            final NativeHandle[] fds = creator.duplicateDescriptors();
            try (ShmBlobChannel opener = ShmBlobChannel.adopt(name, fds[0], fds[1], fds[2], fds[3], options)) {
                final byte[] message = new byte[1000];
                final long[] received = {0};
                final long[] wrong = {0};
                for (int i = 0; i < 200; i++) {
                    // Nine messages in flight: more than the 4 KiB ring holds, so it grows.
                    for (int j = 0; j < 9; j++) {
                        message[0] = (byte) (i * 9 + j);
                        assertTrue(creator.offer(message, 0, message.length, TimeUnit.SECONDS.toNanos(10)));
                    }
                    while (received[0] < (i + 1) * 9L) {
                        opener.poll((buffer, offset, length) -> {
                            if (buffer.get(JAVA_BYTE, offset) != (byte) received[0] || length != 1000) {
                                wrong[0]++;
                            }
                            received[0]++;
                        }, 16, TimeUnit.SECONDS.toNanos(10));
                    }
                }
                assertEquals(0, wrong[0]);
                assertTrue(creator.outbound().data.lengthBytes() > 4096 + 4096, "the ring grew");
                assertTrue(opener.inbound().memory.isSealed() && opener.inbound().data.isSealed());
                assertTrue(opener.inbound().data.segment().isReadOnly(), "the opener reads the creator's ring read-only");
            }
            try (Stream<Path> entries = Files.list(SharedMemory.DEFAULT_DIRECTORY)) {
                assertEquals(0, entries.filter(p -> p.getFileName().toString().contains("sealtest")).count());
            }
        }
    }

    @Test
    void shouldHandTheConsumerARingItCannotMapForWriting() throws Exception {
        final ResourceName name = ResourceName.of("sealtest", "queue", "readonly");
        final ShmQueueOptions options = ShmQueueOptions.builder().initialCapacityBytes(4096).maxCapacityBytes(1 << 20)
            .maxMessageLengthBytes(4096).build();
        try (ShmBlobChannel creator = ShmBlobChannel.createSealed(name, options)) {
            final NativeHandle[] fds = creator.duplicateDescriptors();
            try {
                // A consumer that tries for a writable mapping of the creator's ring is refused by the kernel.
                final int ringFd = fds[1].fd();
                final dev.isthmus.NativeException refused = org.junit.jupiter.api.Assertions.assertThrows(
                    dev.isthmus.NativeException.class,
                    () -> dev.isthmus.internal.linux.Mmap.map(ringFd, 4096, true, java.lang.foreign.Arena.global(), "ring"));
                assertEquals(dev.isthmus.internal.linux.Errno.EACCES, refused.errno(), refused.getMessage());
                // Nor can it reopen the descriptor for writing through /proc: the file's mode stays the creator's.
                assertEquals(0, dev.isthmus.internal.linux.FileIo.mode(ringFd, "ring") & 0022);
                // The control page and the other queue's ring are writable: the opener writes its position and
                // produces there.
                final java.lang.foreign.MemorySegment control = dev.isthmus.internal.linux.Mmap.map(fds[0].fd(), 4096, true,
                    java.lang.foreign.Arena.ofAuto(), "control");
                assertTrue(control.byteSize() == 4096);
            } finally {
                for (final NativeHandle fd : fds) {
                    fd.close();
                }
            }
        }
    }

    @Test
    void shouldRefuseDescriptorsHandedOverInTheWrongPlaces() throws Exception {
        final ResourceName name = ResourceName.of("sealtest", "queue", "swapped");
        final ShmQueueOptions options = ShmQueueOptions.builder().initialCapacityBytes(4096).maxCapacityBytes(1 << 20)
            .maxMessageLengthBytes(4096).build();
        try (ShmBlobChannel creator = ShmBlobChannel.createSealed(name, options)) {
            final NativeHandle[] fds = creator.duplicateDescriptors();
            // A peer that passes a ring where a control page belongs: larger than a control page, refused
            // before it is mapped; every descriptor handed over is closed.
            final dev.isthmus.CorruptDataException refused = org.junit.jupiter.api.Assertions.assertThrows(
                dev.isthmus.CorruptDataException.class,
                () -> ShmBlobChannel.adopt(name, fds[1], fds[0], fds[2], fds[3], options));
            assertTrue(refused.getMessage() != null, refused.toString());
            for (final NativeHandle fd : fds) {
                org.junit.jupiter.api.Assertions.assertFalse(fd.isOpen(), fd + " was left open");
            }
        }
    }
}
