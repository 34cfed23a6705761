/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.sync;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.test.ChildJvm;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FutexWordTest {
    @Test
    void shouldReturnAtOnceWhenTheValueDiffers() {
        try (Arena arena = Arena.ofConfined()) {
            final FutexWord word = new FutexWord(arena.allocate(8, 8), 0);
            word.putRelease(3);
            assertEquals(FutexWord.VALUE_CHANGED, word.await(2, 1_000_000_000L));
        }
    }

    @Test
    void shouldTimeOut() {
        try (Arena arena = Arena.ofConfined()) {
            final FutexWord word = new FutexWord(arena.allocate(8, 8), 0);
            final long start = System.nanoTime();
            assertEquals(FutexWord.TIMED_OUT, word.await(0, 20_000_000L));
            assertTrue(System.nanoTime() - start >= 10_000_000L);
            assertEquals(0, word.wakeAll(), "nobody sleeps");
        }
    }

    @Test
    void shouldRejectMisalignedOutOfBoundsAndHeapWords() {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment segment = arena.allocate(16, 8);
            assertThrows(IllegalArgumentException.class, () -> new FutexWord(segment, 2));
            assertThrows(IllegalArgumentException.class, () -> new FutexWord(segment, 14));
            assertThrows(IllegalArgumentException.class, () -> new FutexWord(segment, -4));
            assertThrows(IllegalArgumentException.class, () -> new FutexWord(MemorySegment.ofArray(new int[4]), 0));
        }
    }

    @Test
    void shouldWakeASleeperInAnotherProcess() throws InterruptedException {
        final ResourceName name = ResourceName.of("futextest", "seg", "wake");
        try (SharedMemory memory = SharedMemory.builder(name).lengthBytes(4096).create();
             ChildJvm child = ChildJvm.start(Sleeper.class, name.toString())) {
            try {
                final FutexWord word = new FutexWord(memory.segment(), 64);
                child.awaitReady();
                // The value never changes: only a real FUTEX_WAKE crossing the process boundary ends the
                // child's 60 s sleep, and wake() reports 1 only once the child is asleep in the kernel.
                final long deadline = System.nanoTime() + 30_000_000_000L;
                int woken = 0;
                while (woken == 0 && System.nanoTime() < deadline) {
                    woken = word.wake(1);
                    if (woken == 0) {
                        Thread.sleep(1);
                    }
                }
                assertEquals(1, woken, child.output());
                assertEquals("WOKE " + FutexWord.WOKEN, child.awaitLine("WOKE", Duration.ofSeconds(10)));
                child.assertExit(0, Duration.ofSeconds(30));
            } finally {
                memory.unlink();
            }
        }
    }

    /** Sleeps on the futex word at offset 64 and reports how the sleep ended. */
    public static final class Sleeper {
        public static void main(final String[] args) {
            try (SharedMemory memory = SharedMemory.open(ResourceName.parse(args[0]).orElseThrow())) {
                final FutexWord word = new FutexWord(memory.segment(), 64);
                System.out.println("READY");
                System.out.println("WOKE " + word.await(0, 60_000_000_000L));
            }
        }
    }
}
