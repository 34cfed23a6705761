/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.stat;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.transport.ShmBlobChannel;
import dev.isthmus.transport.ShmQueueOptions;
import dev.isthmus.transport.UnixSocketBlobChannel;
import dev.isthmus.transport.UnixSocketOptions;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The stat file in one process: records count exactly what channels do, a reader of {@code /proc} sees
 * them (and their descriptions) as they change, freed records disappear, and the file can be read by
 * nobody else than its user.
 */
class StatFileTest {
    private static final long PID = ProcessHandle.current().pid();

    private static Optional<StatReader.Entry> find(final StatReader reader, final long id) {
        return reader.read(PID).orElseThrow().entries().stream().filter(entry -> entry.id() == id).findFirst();
    }

    @Test
    void shouldCountWhatAUnixSocketChannelSendsAndReceivesExactly() {
        try (UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(UnixSocketOptions.defaults());
             StatReader reader = new StatReader()) {
            final byte[] message = new byte[37];
            final AtomicLong bytes = new AtomicLong();
            int sent = 0;
            int received = 0;
            int refused = 0;
            while (received < 500) {
                while (sent < 500) {
                    if (!pair.first().offer(message, 0, message.length)) {
                        refused++;
                        break;
                    }
                    sent++;
                }
                received += pair.second().poll((buffer, offset, length) -> bytes.addAndGet(length), 64,
                    TimeUnit.SECONDS.toNanos(5));
            }
            assertEquals(refused, pair.first().stats().get(StatKind.Channel.OFFERS_REFUSED));
            final StatRecord sender = pair.first().stats();
            final StatRecord receiver = pair.second().stats();
            assertTrue(sender.isShared());
            assertEquals(500, sender.get(StatKind.Channel.MESSAGES_SENT));
            assertEquals(500 * 37, sender.get(StatKind.Channel.BYTES_SENT));
            assertEquals(500, receiver.get(StatKind.Channel.MESSAGES_RECEIVED));
            assertEquals(500 * 37, receiver.get(StatKind.Channel.BYTES_RECEIVED));

            final StatReader.Entry seen = find(reader, receiver.id()).orElseThrow();
            assertEquals(StatKind.CHANNEL, seen.kind());
            assertEquals("unix-socket", seen.labels().get("transport"));
            assertEquals(500, seen.counter("messages_received"));
            assertEquals(500 * 37, seen.counter("bytes_received"));
        }
    }

    @Test
    void shouldCountAQueueChannelAndForgetItOnceClosed() {
        final ResourceName name = ResourceName.of("stattest", "queue", "q" + System.nanoTime());
        final long id;
        try (StatReader reader = new StatReader()) {
            try (ShmBlobChannel a = ShmBlobChannel.createSealed(name, ShmQueueOptions.defaults());
                 ShmBlobChannel b = ShmBlobChannel.adopt(name, handles(a)[0], handles(a)[1], handles(a)[2], handles(a)[3],
                     ShmQueueOptions.defaults())) {
                id = a.stats().id();
                final byte[] message = new byte[64];
                int sent = 0;
                int received = 0;
                while (received < 10_000) {
                    while (sent < 10_000 && a.offer(message, 0, message.length)) {
                        sent++;
                    }
                    received += b.poll((buffer, offset, length) -> { }, 256);
                }
                assertEquals(10_000, a.stats().get(StatKind.Channel.MESSAGES_SENT));
                assertEquals(640_000, a.stats().get(StatKind.Channel.BYTES_SENT));
                assertEquals(10_000, b.stats().get(StatKind.Channel.MESSAGES_RECEIVED));
                assertEquals(640_000, b.stats().get(StatKind.Channel.BYTES_RECEIVED));
                final StatReader.Entry seen = find(reader, id).orElseThrow();
                assertEquals(10_000, seen.counter("messages_sent"));
                assertEquals("shm-queue", seen.labels().get("transport"));
            }
            assertFalse(find(reader, id).isPresent(), "a closed channel's record is freed");
        }
    }

    private static dev.isthmus.transport.NativeHandle[] cached;

    private static dev.isthmus.transport.NativeHandle[] handles(final ShmBlobChannel channel) {
        if (cached == null) {
            cached = channel.duplicateDescriptors();
        }
        final dev.isthmus.transport.NativeHandle[] result = cached;
        return result;
    }

    @Test
    void shouldPublishNewDescriptionsAndCutLongLabelsAtACharacterBoundary() {
        final Map<String, String> labels = new LinkedHashMap<>();
        labels.put("session", "s1");
        labels.put("long", "é".repeat(200));
        try (StatRecord record = StatFile.newRecord(StatKind.SESSION, 0, Map.of("session", "s0"));
             StatReader reader = new StatReader()) {
            assertEquals("s0", find(reader, record.id()).orElseThrow().labels().get("session"));
            record.describe(42, labels);
            final StatReader.Entry seen = find(reader, record.id()).orElseThrow();
            assertEquals(42, seen.parentId());
            assertEquals("s1", seen.labels().get("session"));
            final String cut = seen.labels().get("long");
            assertTrue(cut.length() > 50 && cut.chars().allMatch(c -> c == 'é'), cut);
        }
    }

    @Test
    void shouldReuseFreedSlotsLastAndCountPrivatelyAfterClose() {
        final StatRecord first = StatFile.newRecord(StatKind.CHANNEL, 0, Map.of());
        first.close();
        first.increment(StatKind.Channel.MESSAGES_SENT);
        final StatRecord second = StatFile.newRecord(StatKind.CHANNEL, 0, Map.of());
        try (second) {
            // Slots freed are handed out after every never-used one: the late update above touched no record.
            assertEquals(0, second.get(StatKind.Channel.MESSAGES_SENT));
            assertEquals(1, first.get(StatKind.Channel.MESSAGES_SENT));
        }
    }

    @Test
    void shouldTallyFromTheRecordsValuesAndMoveToPrivateMemoryWithIt() {
        final StatRecord record = StatFile.newRecord(StatKind.CHANNEL, 0, Map.of());
        final long id = record.id();
        try (StatReader reader = new StatReader()) {
            record.add(StatKind.Channel.BYTES_SENT, 5);
            final StatRecord.Tally sent = record.tally(StatKind.Channel.MESSAGES_SENT);
            sent.add(64);
            sent.add(3, 30);
            assertEquals(4, record.get(StatKind.Channel.MESSAGES_SENT));
            assertEquals(99, record.get(StatKind.Channel.BYTES_SENT));
            final StatReader.Entry seen = find(reader, id).orElseThrow();
            assertEquals(4, seen.counter("messages_sent"));
            assertEquals(99, seen.counter("bytes_sent"));

            record.close();
            final StatRecord next = StatFile.newRecord(StatKind.CHANNEL, 0, Map.of());
            try (next) {
                sent.add(1);
                // Late counting goes to the closed record's private memory, not to the file.
                assertEquals(5, record.get(StatKind.Channel.MESSAGES_SENT));
                assertEquals(0, next.get(StatKind.Channel.MESSAGES_SENT));
                assertFalse(find(reader, id).isPresent());
            }
        }
        assertThrowsIllegalArgument(() -> record.tally(StatKind.COUNTERS - 1));
    }

    private static void assertThrowsIllegalArgument(final Runnable call) {
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, call::run);
    }

    @Test
    void shouldBeReadableByItsOwnerOnly() throws Exception {
        StatFile.newRecord(StatKind.CLIENT, 0, Map.of()).close();
        final StatFile file = StatFile.process();
        final List<java.nio.file.Path> links;
        try (var fds = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/fd"))) {
            links = fds.filter(fd -> {
                try {
                    return java.nio.file.Files.readSymbolicLink(fd).toString().startsWith("/memfd:" + file.name());
                } catch (final java.io.IOException e) {
                    return false;
                }
            }).toList();
        }
        assertFalse(links.isEmpty(), "the stat file is open as /memfd:" + file.name());
        final int mode = (Integer) java.nio.file.Files.getAttribute(links.getFirst(), "unix:mode");
        assertEquals(0400, mode & 0777, "owner read-only: no reopening for writing, no other user");
    }
}
