/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.arena;

import dev.isthmus.CorruptDataException;
import dev.isthmus.shm.NoSuchResourceException;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.test.ChildJvm;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ShmArenaTest {
    private static final AtomicInteger GROUPS = new AtomicInteger();

    private static String newGroup() {
        return "t" + GROUPS.incrementAndGet();
    }

    @Test
    void shouldLendABlockThatAViewReadsInPlace() {
        final String group = newGroup();
        try (ShmArena arena = ShmArena.create("arenatest", group, 42, ArenaOptions.defaults());
             ArenaView view = ArenaView.of("arenatest", ProcessIdentity.current(), group, 42, ArenaOptions.defaults())) {
            final ShmBlock block = arena.allocate(1000);
            block.segment().set(JAVA_LONG, 992, 0xfeedL);
            final ShmHandle handle = block.lend();
            assertEquals(2, block.references());
            try (ShmBlock borrowed = view.borrow(handle)) {
                assertEquals(0xfeedL, borrowed.segment().get(JAVA_LONG, 992));
                assertEquals(1000, borrowed.length());
            }
            assertEquals(1, block.references());
            block.close();
            block.close();
            assertEquals(0, arena.allocatedBytes());
        }
    }

    @Test
    void shouldReuseFreedBlocksOfTheSameSize() {
        try (ShmArena arena = ShmArena.create("arenatest", newGroup(), 1, ArenaOptions.defaults())) {
            final ShmBlock first = arena.allocate(5000);
            final ShmHandle firstHandle = first.handle();
            first.close();
            final ShmBlock second = arena.allocate(6000);
            assertEquals(firstHandle.offset(), second.handle().offset(), "same size class, same block");
            assertNotEquals(firstHandle.generation(), second.handle().generation());
            second.close();
        }
    }

    @Test
    void shouldTakeBackBlocksWhoseLastReferenceABorrowerDropped() {
        final String group = newGroup();
        try (ShmArena arena = ShmArena.create("arenatest", group, 7, ArenaOptions.defaults());
             ArenaView view = ArenaView.of("arenatest", ProcessIdentity.current(), group, 7, ArenaOptions.defaults())) {
            final ShmBlock block = arena.allocate(100_000);
            final ShmHandle handle = block.lend();
            block.close();
            assertTrue(arena.allocatedBytes() > 0, "the borrower still holds it");
            view.borrow(handle).close();
            assertEquals(0, arena.allocatedBytes(), "returned through the pool's return stack");
            assertEquals(handle.offset(), arena.allocate(100_000).handle().offset(), "and reused");
        }
    }

    @Test
    void shouldGiveHugeBlocksAPoolOfTheirOwn() {
        final String group = newGroup();
        try (ShmArena arena = ShmArena.create("arenatest", group, 1, ArenaOptions.defaults().withPoolBytes(1 << 20))) {
            final ShmBlock small = arena.allocate(1000);
            final ShmBlock huge = arena.allocate(8 << 20);
            final ShmBlock small2 = arena.allocate(1000);
            assertEquals(2, arena.poolCount());
            assertEquals(small.handle().pool(), small2.handle().pool(), "small blocks keep using the regular pool");
            huge.segment().fill((byte) 1);
            assertEquals(1, huge.segment().get(JAVA_BYTE, (8 << 20) - 1));
        }
    }

    @Test
    void shouldRefuseHostileAndStaleHandlesClearly() {
        final String group = newGroup();
        try (ShmArena arena = ShmArena.create("arenatest", group, 9, ArenaOptions.defaults());
             ArenaView view = ArenaView.of("arenatest", ProcessIdentity.current(), group, 9, ArenaOptions.defaults())) {
            final ShmBlock block = arena.allocate(4000);
            final ShmHandle good = block.handle();
            assertRefused(view, new ShmHandle(0, good.generation(), good.offset(), 5000), "exceeds the block");
            assertRefused(view, new ShmHandle(0, good.generation(), good.offset() + 8192, 10), "no block starts there");
            assertRefused(view, new ShmHandle(0, good.generation(), good.offset() + 8, 10), "not a block offset");
            assertRefused(view, new ShmHandle(0, good.generation(), 1L << 40, 10), "not a block offset");
            assertRefused(view, new ShmHandle(0, good.generation(), -4096, 10), "not a block offset");
            assertRefused(view, new ShmHandle(0, good.generation(), good.offset(), -1), "not a block offset");
            assertRefused(view, new ShmHandle(0, good.generation() + 5, good.offset(), 10), "stale handle");
            // A named arena's blocks count their references in their headers: a lent handle is checked as fully.
            final CorruptDataException lent = assertThrows(CorruptDataException.class,
                () -> view.borrowLent(null, 0, good.generation() + 5, good.offset(), 10));
            assertTrue(lent.getMessage().contains("stale handle"), lent.getMessage());
            assertRefused(view, new ShmHandle(-1, good.generation(), good.offset(), 10), "outside");
            assertThrows(NoSuchResourceException.class, () -> view.borrow(new ShmHandle(7, 1, 4096, 10)));
            block.close();
            assertRefused(view, good, "freed");
        }
    }

    @Test
    void shouldRefusePoolsOfAnotherSessionOrProcess() {
        final String group = newGroup();
        try (ShmArena arena = ShmArena.create("arenatest", group, 11, ArenaOptions.defaults());
             ArenaView otherSession = ArenaView.of("arenatest", ProcessIdentity.current(), group, 12, ArenaOptions.defaults());
             ArenaView otherProcess = ArenaView.of("arenatest", new ProcessIdentity(ProcessHandle.current().pid(), 1), group,
                 11, ArenaOptions.defaults())) {
            final ShmBlock block = arena.allocate(10);
            CorruptDataException e = assertThrows(CorruptDataException.class, () -> otherSession.borrow(block.handle()));
            assertTrue(e.getMessage().contains("another session"), e.getMessage());
            e = assertThrows(CorruptDataException.class, () -> otherProcess.borrow(block.handle()));
            assertTrue(e.getMessage().contains("not to the peer"), e.getMessage());
        }
    }

    @Test
    void shouldLendAcrossProcessesAndGetTheBlockBack() {
        final String group = newGroup();
        try (ShmArena arena = ShmArena.create("arenatest", group, 77, ArenaOptions.defaults());
             ChildJvm child = ChildJvm.start(BorrowerMain.class, Long.toString(ProcessIdentity.current().pid()),
                 Long.toString(ProcessIdentity.current().startTimeTicks()), group)) {
            final int length = 48 << 20;
            final ShmBlock block = arena.allocate(length);
            final MemorySegment data = block.segment();
            long sum = 0;
            for (long i = 0; i < length; i += 8) {
                data.set(JAVA_LONG, i, i * 31);
                sum += i * 31;
            }
            final ShmHandle handle = block.lend();
            block.close();
            child.awaitReady();
            child.send(handle.pool() + " " + handle.generation() + " " + handle.offset() + " " + handle.length());
            assertEquals("SUM " + sum, child.awaitLine("SUM", Duration.ofSeconds(60)));
            child.assertExit(0, Duration.ofSeconds(30));
            assertEquals(0, arena.allocatedBytes(), "the child's close returned the block");
        }
    }

    @Test
    void shouldRemoveEveryPoolOnClose() {
        final ShmArena arena = ShmArena.create("arenatest", newGroup(), 1, ArenaOptions.defaults().withPoolBytes(1 << 20));
        final ShmBlock block = arena.allocate(3 << 20);
        arena.allocate(100);
        arena.close();
        arena.close();
        assertFalse(block.isOpen() && block.segment().scope().isAlive());
        block.close();
        assertThrows(IllegalStateException.class, () -> arena.allocate(1));
    }

    private static void assertRefused(final ArenaView view, final ShmHandle handle, final String why) {
        final CorruptDataException e = assertThrows(CorruptDataException.class, () -> view.borrow(handle), handle::toString);
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }

    /** Borrows the handle read from stdin, sums the block's longs, closes it. */
    public static final class BorrowerMain {
        public static void main(final String[] args) throws Exception {
            final ProcessIdentity owner = new ProcessIdentity(Long.parseLong(args[0]), Long.parseLong(args[1]));
            try (ArenaView view = ArenaView.of("arenatest", owner, args[2], 77, ArenaOptions.defaults())) {
                System.out.println("READY");
                final String[] parts = new java.io.BufferedReader(new java.io.InputStreamReader(System.in)).readLine().split(" ");
                final ShmHandle handle = new ShmHandle(Integer.parseInt(parts[0]), Integer.parseInt(parts[1]),
                    Long.parseLong(parts[2]), Long.parseLong(parts[3]));
                long sum = 0;
                try (ShmBlock block = view.borrow(handle)) {
                    for (long i = 0; i < block.length(); i += 8) {
                        sum += block.segment().get(JAVA_LONG, i);
                    }
                }
                System.out.println("SUM " + sum);
            }
        }
    }
}
