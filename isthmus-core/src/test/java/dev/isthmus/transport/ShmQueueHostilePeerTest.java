/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.isthmus.transport.ShmQueueDescriptor.FIRST_REGION_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.HEADER_LENGTH;
import static dev.isthmus.transport.ShmQueueDescriptor.PRODUCER_SLOTS;
import static dev.isthmus.transport.ShmQueueDescriptor.SLOT_CLAIM_POSITION_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.SLOT_OWNER_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.TAIL_OFFSET;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_DATA;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_JUMP;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_PADDING;
import static dev.isthmus.transport.ShmQueueDescriptor.TYPE_SKIP;
import static dev.isthmus.transport.ShmQueueDescriptor.header;
import static dev.isthmus.transport.ShmQueueDescriptor.recordLength;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The queues against a peer that writes the worst bytes it can into the ring and the control page, or
 * dies or stalls at the worst moment. The hostile peer is played by a second, raw mapping of the segment
 * (what another process with the segment mapped can do); each case ends in a precise exception or a
 * bounded result, never a hang, a loop or damage to this side's state.
 */
class ShmQueueHostilePeerTest {
    private static final AtomicInteger IDS = new AtomicInteger();
    private static final long SECOND_NS = TimeUnit.SECONDS.toNanos(1);

    private static ResourceName newName() {
        return ResourceName.of("qhost", "queue", "q" + IDS.incrementAndGet());
    }

    private static ShmQueueOptions small() {
        return ShmQueueOptions.builder().initialCapacityBytes(4096).maxCapacityBytes(4096).maxMessageLengthBytes(512)
            .prefault(false).build();
    }

    /** The ring as the hostile peer sees it: the same file, mapped again. */
    private static MemorySegment ring(final SharedMemory raw, final long capacity) {
        return raw.segment().asSlice(FIRST_REGION_OFFSET, capacity);
    }

    @Test
    void shouldRejectPaddingAtTheStartOfTheRingInsteadOfLoopingForever() {
        final ResourceName name = newName();
        try (OneToOneShmQueue queue = OneToOneShmQueue.create(name, small()); SharedMemory raw = SharedMemory.open(name)) {
            final ShmQueue.Consumer consumer = queue.consumer();
            ring(raw, 4096).set(JAVA_LONG, 0, header(TYPE_PADDING, 4096 - HEADER_LENGTH));
            final CorruptDataException e = assertThrows(CorruptDataException.class, () -> consumer.poll((b, o, l) -> { }, 16));
            assertTrue(e.getMessage().contains("impossible record header"), e.getMessage());
            // The failure is sticky and stays precise: no later call reads the ring again.
            assertThrows(CorruptDataException.class, () -> consumer.poll((b, o, l) -> { }, 16));
        }
    }

    @Test
    void shouldRejectAJumpThatDoesNotMoveForwardToALargerRegion() {
        final ResourceName name = newName();
        final ShmQueueOptions growing = small().toBuilder().maxCapacityBytes(64 * 1024).build();
        try (OneToOneShmQueue queue = OneToOneShmQueue.create(name, growing); SharedMemory raw = SharedMemory.open(name)) {
            final ShmQueue.Consumer consumer = queue.consumer();
            final MemorySegment ring = ring(raw, 4096);
            // A jump to its own region: followed, it would loop over the same records forever.
            ring.set(JAVA_LONG, HEADER_LENGTH, FIRST_REGION_OFFSET);
            ring.set(JAVA_LONG, HEADER_LENGTH + 8, 4096L);
            ring.set(JAVA_LONG, 0, header(TYPE_JUMP, 16));
            assertThrows(CorruptDataException.class, () -> consumer.poll((b, o, l) -> { }, 16));
        }
        try (OneToOneShmQueue queue = OneToOneShmQueue.create(name, growing); SharedMemory raw = SharedMemory.open(name)) {
            final ShmQueue.Consumer consumer = queue.consumer();
            final MemorySegment ring = ring(raw, 4096);
            // A jump far beyond anything the protocol grows to: refused before anything is mapped.
            ring.set(JAVA_LONG, HEADER_LENGTH, 1L << 40);
            ring.set(JAVA_LONG, HEADER_LENGTH + 8, 8192L);
            ring.set(JAVA_LONG, 0, header(TYPE_JUMP, 16));
            assertThrows(CorruptDataException.class, () -> consumer.poll((b, o, l) -> { }, 16));
        }
    }

    @Test
    void shouldRejectALengthBeyondTheMaxMessageOrTheRegion() {
        for (final int length : new int[] {-1, 513, Integer.MAX_VALUE}) {
            final ResourceName name = newName();
            try (OneToOneShmQueue queue = OneToOneShmQueue.create(name, small()); SharedMemory raw = SharedMemory.open(name)) {
                final ShmQueue.Consumer consumer = queue.consumer();
                ring(raw, 4096).set(JAVA_LONG, 0, header(TYPE_DATA, length));
                assertThrows(CorruptDataException.class, () -> consumer.poll((b, o, l) -> { }, 16), "length " + length);
            }
        }
    }

    @Test
    void shouldBoundTheWorkOfOnePollOverARingOfSkipRecords() {
        final ResourceName name = newName();
        try (ManyToOneShmQueue queue = ManyToOneShmQueue.create(name, small()); SharedMemory raw = SharedMemory.open(name)) {
            final ShmQueue.Consumer consumer = queue.consumer();
            final MemorySegment ring = ring(raw, 4096);
            // Skip records over the whole ring, and a tail that says they were all claimed: each poll walks a
            // bounded number of them, never allocating, and the consumer stays usable.
            for (long offset = 0; offset < 4096; offset += 16) {
                ring.set(JAVA_LONG, offset, header(TYPE_SKIP, 8));
            }
            raw.segment().set(JAVA_LONG, TAIL_OFFSET, 1L << 40);
            for (int i = 0; i < 1000; i++) {
                assertEquals(0, consumer.poll((b, o, l) -> { }, 16));
            }
        }
    }

    @Test
    void shouldRejectARecordBeyondTheTailOfAManyToOneQueue() {
        final ResourceName name = newName();
        try (ManyToOneShmQueue queue = ManyToOneShmQueue.create(name, small()); SharedMemory raw = SharedMemory.open(name)) {
            final ShmQueue.Consumer consumer = queue.consumer();
            // A header nobody claimed: the tail is still 0.
            ring(raw, 4096).set(JAVA_LONG, 0, header(TYPE_DATA, 4));
            assertThrows(CorruptDataException.class, () -> consumer.poll((b, o, l) -> { }, 16));
        }
    }

    @Test
    void shouldLeaveTheProducerUsableWhenTheSourceIsShorterThanStated() {
        for (final boolean many : new boolean[] {false, true}) {
            final ResourceName name = newName();
            try (ShmQueue queue = many ? ManyToOneShmQueue.create(name, small()) : OneToOneShmQueue.create(name, small());
                 Arena arena = Arena.ofConfined()) {
                final ShmQueue.Producer producer = queue.producer();
                final ShmQueue.Consumer consumer = queue.consumer();
                final MemorySegment shortSource = arena.allocate(10);
                assertThrows(IndexOutOfBoundsException.class, () -> producer.offer(shortSource, 0, 100));
                assertThrows(IndexOutOfBoundsException.class, () -> producer.offer(shortSource, 0, 100, SECOND_NS));
                // A source that becomes unreadable between the claim and the copy: the claim is aborted.
                final MemorySegment gone;
                try (Arena scoped = Arena.ofConfined()) {
                    gone = scoped.allocate(100);
                }
                assertThrows(IllegalStateException.class, () -> producer.offer(gone, 0, 100));
                assertTrue(producer.offer(new byte[] {7, 8, 9}, 0, 3), "usable after the failures, many=" + many);
                final List<Integer> lengths = new ArrayList<>();
                consumer.poll((b, o, l) -> lengths.add(l), 16);
                assertEquals(List.of(3), lengths, "many=" + many);
            }
        }
    }

    /**
     * The worst moment for a many-to-one producer to die: after its compare-and-set of the tail, before it
     * marked its claim. Played exactly: the tail advanced over a claim, and a slot naming a process that no
     * longer runs as the one claiming there.
     */
    @Test
    void shouldSkipAClaimWhoseProducerDiedBeforeMarkingIt() throws Exception {
        final ResourceName name = newName();
        try (ManyToOneShmQueue queue = ManyToOneShmQueue.create(name, small()); SharedMemory raw = SharedMemory.open(name)) {
            final ShmQueue.Consumer consumer = queue.consumer();
            final Process gone = new ProcessBuilder("true").start();
            gone.waitFor();
            final MemorySegment control = raw.segment();
            final long slot = ShmQueueDescriptor.PRODUCER_SLOTS_OFFSET + (PRODUCER_SLOTS - 1) * 16L;
            control.set(JAVA_LONG, slot + SLOT_OWNER_OFFSET, gone.pid() | 12345L << 32);
            control.set(JAVA_LONG, slot + SLOT_CLAIM_POSITION_OFFSET, 0L);
            control.set(JAVA_LONG, TAIL_OFFSET, recordLength(100));

            final ShmQueue.Producer producer = queue.producer();
            assertTrue(producer.offer(new byte[] {1, 2, 3}, 0, 3));
            final List<Integer> lengths = new ArrayList<>();
            final long deadline = System.nanoTime() + 30 * SECOND_NS;
            while (lengths.isEmpty() && System.nanoTime() < deadline) {
                consumer.poll((b, o, l) -> lengths.add(l), 16, SECOND_NS / 10);
            }
            assertEquals(List.of(3), lengths, "the dead claim is skipped without waiting for the unblock timeout");
        }
    }

    @Test
    void shouldSkipTheClaimOfAStalledProducerAfterTheUnblockTimeoutAndFailItsCommit() {
        final ResourceName name = newName();
        final ShmQueueOptions options = small().toBuilder().unblockTimeoutNs(TimeUnit.MILLISECONDS.toNanos(200))
            .livenessCheckIntervalNs(TimeUnit.MILLISECONDS.toNanos(10)).build();
        try (ManyToOneShmQueue queue = ManyToOneShmQueue.create(name, options);
             ManyToOneShmQueue other = ManyToOneShmQueue.open(name, options)) {
            final ShmQueue.Consumer consumer = queue.consumer();
            final ShmQueue.Producer stalled = queue.producer();
            final ShmQueue.Producer live = other.producer();
            final long claim = stalled.tryClaim(64);
            assertTrue(claim >= 0);
            assertTrue(live.offer(new byte[] {4, 5}, 0, 2));
            final List<Integer> lengths = new ArrayList<>();
            final long deadline = System.nanoTime() + 30 * SECOND_NS;
            while (lengths.isEmpty() && System.nanoTime() < deadline) {
                consumer.poll((b, o, l) -> lengths.add(l), 16, SECOND_NS / 10);
            }
            assertEquals(List.of(2), lengths, "the live producer's message gets through the stalled claim");
            final IsthmusException late = assertThrows(IsthmusException.class, () -> stalled.commit(claim));
            assertTrue(late.getMessage().contains("skipped by the consumer"), late.getMessage());
            assertTrue(stalled.offer(new byte[] {6}, 0, 1), "the stalled producer is usable again");
            lengths.clear();
            consumer.poll((b, o, l) -> lengths.add(l), 16, SECOND_NS);
            assertEquals(List.of(1), lengths);
        }
    }
}
