/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.linux;

import dev.isthmus.NativeException;
import dev.isthmus.test.NoMessageQueueLeftovers;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PosixMqTest {
    private static String newName(final String what) {
        final String name = "/isthmus.mqtest." + ProcessHandle.current().pid() + ".mq." + what;
        NoMessageQueueLeftovers.track(name);
        return name;
    }

    @Test
    void shouldSendAndReceiveByPriorityThenInOrder() {
        final String name = newName("prio");
        final int mqd = PosixMq.create(name, 0600, 4, 64);
        assertTrue(mqd >= 0, "create: " + mqd);
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment buffer = arena.allocate(64);
            final MemorySegment priority = arena.allocate(JAVA_INT);
            for (final int[] message : new int[][] {{1, 1}, {2, 0}, {3, 1}, {4, 2}}) {
                buffer.set(JAVA_BYTE, 0, (byte) message[0]);
                assertEquals(0, PosixMq.send(mqd, buffer, message[0], message[1], name));
            }
            buffer.set(JAVA_BYTE, 0, (byte) 5);
            assertEquals(-Errno.EAGAIN, PosixMq.send(mqd, buffer, 1, 1, name), "full after 4");
            final MemorySegment attr = arena.allocate(PosixMq.MQ_ATTR);
            PosixMq.getAttributes(mqd, attr, name);
            assertEquals(4, attr.get(JAVA_LONG, PosixMq.MQ_CURMSGS_OFFSET));
            assertEquals(64, attr.get(JAVA_LONG, PosixMq.MQ_MSGSIZE_OFFSET));
            assertEquals(PosixMq.O_NONBLOCK, attr.get(JAVA_LONG, PosixMq.MQ_FLAGS_OFFSET));
            // Highest priority first; equal priorities in the order sent.
            for (final int[] expected : new int[][] {{4, 2}, {1, 1}, {3, 1}, {2, 0}}) {
                assertEquals(expected[0], PosixMq.receive(mqd, buffer, priority, name));
                assertEquals(expected[0], buffer.get(JAVA_BYTE, 0));
                assertEquals(expected[1], priority.get(JAVA_INT, 0));
            }
            assertEquals(-Errno.EAGAIN, PosixMq.receive(mqd, buffer, priority, name));
        } finally {
            PosixMq.close(mqd, name);
            assertEquals(0, PosixMq.unlink(name));
        }
        assertEquals(-Errno.ENOENT, PosixMq.unlink(name));
        assertEquals(-Errno.ENOENT, PosixMq.open(name));
    }

    @Test
    void shouldWaitUntilTheDeadlineOnlyInBlockingMode() {
        final String name = newName("timed");
        final int mqd = PosixMq.create(name, 0600, 1, 16);
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment buffer = arena.allocate(16);
            final MemorySegment priority = arena.allocate(JAVA_INT);
            final MemorySegment attr = arena.allocate(PosixMq.MQ_ATTR);
            assertEquals(-Errno.EAGAIN, PosixMq.timedReceive(mqd, buffer, priority, TimeUnit.SECONDS.toNanos(10), name),
                "a non-blocking descriptor never waits");
            PosixMq.setNonBlocking(mqd, false, attr, name);
            // 0.95 s: the deadline's nanoseconds overflow into the next second most of the time.
            final long waitNs = TimeUnit.MILLISECONDS.toNanos(950);
            final long start = System.nanoTime();
            assertEquals(-Errno.ETIMEDOUT, PosixMq.timedReceive(mqd, buffer, priority, waitNs, name));
            final long waited = System.nanoTime() - start;
            assertTrue(waited >= TimeUnit.MILLISECONDS.toNanos(900), "waited " + waited + " ns");
            assertEquals(0, PosixMq.timedSend(mqd, buffer, 1, 1, waitNs, name));
            assertEquals(-Errno.ETIMEDOUT, PosixMq.timedSend(mqd, buffer, 1, 1, TimeUnit.MILLISECONDS.toNanos(10), name));
            assertEquals(1, PosixMq.timedReceive(mqd, buffer, priority, 0, name));
        } finally {
            PosixMq.close(mqd, name);
            PosixMq.unlink(name);
        }
    }

    @Test
    void shouldReturnTheErrnosCallersWordAndThrowTheRestNamingTheQueue() {
        final String name = newName("errors");
        final int mqd = PosixMq.create(name, 0600, 2, 16);
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(-Errno.EEXIST, PosixMq.create(name, 0600, 2, 16));
            assertEquals(-Errno.EINVAL, PosixMq.create(newName("huge"), 0600, 1_000_000, 16));
            final MemorySegment big = arena.allocate(32);
            final NativeException e = assertThrows(NativeException.class, () -> PosixMq.send(mqd, big, 17, 1, name));
            assertEquals(Errno.EMSGSIZE, e.errno());
            assertTrue(e.getMessage().contains(name), e.getMessage());
            assertEquals(0600, FileIo.mode(mqd, name));
        } finally {
            PosixMq.close(mqd, name);
            PosixMq.unlink(name);
        }
    }
}
