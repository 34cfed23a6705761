/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.CorruptDataException;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.stat.StatFile;
import dev.isthmus.stat.StatKind;
import dev.isthmus.stat.StatRecord;
import dev.isthmus.sync.FutexIdleStrategy;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.isthmus.transport.ShmQueueDescriptor.FIRST_REGION_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.HEADER_LENGTH;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_PADDING;
import static dev.isthmus.transport.ShmQueueDescriptor.header;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The data path's JFR events and counters, recorded for real: a producer stalled by a full queue, a
 * consumer asleep on its futex, a ring holding an impossible record. Each shows up once as an event with
 * its fields, and in the channel's counters.
 */
class ChannelEventsJfrTest {
    private static final AtomicInteger IDS = new AtomicInteger();

    private static ShmQueueOptions small() {
        return ShmQueueOptions.builder().initialCapacityBytes(4096).maxCapacityBytes(4096).maxMessageLengthBytes(512)
            .prefault(false).build();
    }

    private static List<RecordedEvent> events(final Path file, final String name) throws Exception {
        return RecordingFile.readAllEvents(file).stream().filter(event -> event.getEventType().getName().equals(name))
            .toList();
    }

    @Test
    void shouldRecordStallsWaitsAndCorruptInputAndCountThem(@TempDir final Path dir) throws Exception {
        final ResourceName name = ResourceName.of("jfrq", "queue", "q" + IDS.incrementAndGet());
        final Path file = dir.resolve("channel.jfr");
        try (StatRecord stats = StatFile.newRecord(StatKind.CHANNEL, 0, Map.of("channel", "test"));
             OneToOneShmQueue queue = OneToOneShmQueue.create(name, small());
             SharedMemory raw = SharedMemory.open(name);
             Recording recording = new Recording()) {
            recording.enable("dev.isthmus.BackPressureStall");
            recording.enable("dev.isthmus.ChannelWait");
            recording.enable("dev.isthmus.CorruptInput");
            recording.start();

            final ShmQueue.Producer producer = queue.producer();
            final ShmQueue.Consumer consumer = queue.consumer();
            producer.stats(stats);
            consumer.stats(stats);
            consumer.idleStrategy(new FutexIdleStrategy());

            // Nothing to read: the consumer sleeps on its futex until the poll times out.
            assertEquals(0, consumer.poll((b, o, l) -> { }, 1, TimeUnit.MILLISECONDS.toNanos(60)));
            assertTrue(stats.get(StatKind.Channel.RECEIVER_SLEEPS) >= 1);

            // A full queue: the timed offer waits for room that never comes.
            final byte[] message = new byte[256];
            int sent = 0;
            while (producer.offer(message, 0, message.length)) {
                sent++;
            }
            assertFalse(producer.offer(MemoryOf.array(message), 0, message.length, TimeUnit.MILLISECONDS.toNanos(50)));
            assertEquals(sent, stats.get(StatKind.Channel.MESSAGES_SENT));
            assertEquals(2, stats.get(StatKind.Channel.OFFERS_REFUSED));
            assertEquals(1, stats.get(StatKind.Channel.BACK_PRESSURE_WAITS));
            assertTrue(stats.get(StatKind.Channel.BACK_PRESSURE_NANOS) >= TimeUnit.MILLISECONDS.toNanos(50));

            // The consumer reads what was sent, then meets an impossible record.
            assertEquals(sent, consumer.poll((b, o, l) -> { }, 1000));
            assertEquals(sent, stats.get(StatKind.Channel.MESSAGES_RECEIVED));
            final long head = raw.segment().get(JAVA_LONG, ShmQueueDescriptor.HEAD_OFFSET) & 4095;
            raw.segment().asSlice(FIRST_REGION_OFFSET, 4096).set(JAVA_LONG, head, header(TYPE_PADDING, 4096 - HEADER_LENGTH));
            assertThrows(CorruptDataException.class, () -> consumer.poll((b, o, l) -> { }, 16));
            assertEquals(1, stats.get(StatKind.Channel.CORRUPT_REFUSED));

            recording.stop();
            recording.dump(file);
        }
        final List<RecordedEvent> stalls = events(file, "dev.isthmus.BackPressureStall");
        assertEquals(1, stalls.size(), stalls.toString());
        assertFalse(stalls.getFirst().getBoolean("sent"));
        assertEquals("shm-queue", stalls.getFirst().getString("transport"));
        // The event's clock (JFR ticks) is not System.nanoTime: a few ms either way.
        assertTrue(stalls.getFirst().getDuration().compareTo(Duration.ofMillis(30)) >= 0, stalls.toString());

        final List<RecordedEvent> waits = events(file, "dev.isthmus.ChannelWait");
        assertFalse(waits.isEmpty(), "the consumer's futex sleep");
        assertTrue(waits.stream().allMatch(event -> event.getDuration().compareTo(Duration.ofMillis(1)) >= 0), waits.toString());

        final List<RecordedEvent> corrupt = events(file, "dev.isthmus.CorruptInput");
        assertEquals(1, corrupt.size(), corrupt.toString());
        assertTrue(corrupt.getFirst().getString("reason").contains("impossible record header"), corrupt.toString());
    }

    /** A segment over an array, for the timed offer. */
    private static final class MemoryOf {
        static java.lang.foreign.MemorySegment array(final byte[] bytes) {
            return java.lang.foreign.MemorySegment.ofArray(bytes);
        }
    }
}
