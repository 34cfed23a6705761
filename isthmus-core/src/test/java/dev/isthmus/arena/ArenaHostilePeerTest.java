/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.arena;

import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.SharedMemory;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.isthmus.arena.ArenaDescriptor.BLOCK_HEADER_LENGTH;
import static dev.isthmus.arena.ArenaDescriptor.BLOCK_NEXT_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.BLOCK_REFERENCES_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.BLOCK_SIZE_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.BLOCK_STATE_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.RETURN_HEAD_OFFSET;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The arena against a borrower that writes the worst it can into the owner's pool (block headers,
 * reference counts, the return stack) or borrows twice. The owner keeps every block's size class,
 * generation and state in its own memory: a forged value can at worst make it keep a block, never hand out
 * memory that is in use, and never fail it.
 */
class ArenaHostilePeerTest {
    private static final AtomicInteger GROUPS = new AtomicInteger();

    private static String newGroup() {
        return "h" + GROUPS.incrementAndGet();
    }

    /** The pool as the hostile borrower sees it: the same file, mapped again (the arena creates it lazily). */
    private static SharedMemory rawPool(final ShmArena arena, final int index) {
        if (arena.poolCount() <= index) {
            arena.allocate(1).close();
        }
        return SharedMemory.open(ShmArena.poolName(arena.app(), ProcessHandle.current().pid(), arena.group(), index));
    }

    private static boolean overlap(final ShmBlock a, final ShmBlock b) {
        final long aStart = a.segment().address() - BLOCK_HEADER_LENGTH;
        final long bStart = b.segment().address() - BLOCK_HEADER_LENGTH;
        final long aEnd = a.segment().address() + a.length();
        final long bEnd = b.segment().address() + b.length();
        return aStart < bEnd && bStart < aEnd;
    }

    @Test
    void shouldFreeByItsOwnSizeWhateverTheBorrowerWroteInTheHeader() {
        final String group = newGroup();
        try (ShmArena arena = ShmArena.create("arenahost", group, 5, ArenaOptions.defaults());
             ArenaView view = ArenaView.of("arenahost", ProcessIdentity.current(), group, 5, ArenaOptions.defaults());
             SharedMemory raw = rawPool(arena, 0)) {
            final ShmBlock lent = arena.allocate(100);
            final ShmBlock neighbour = arena.allocate(100);
            final ShmHandle handle = lent.lend();
            lent.close();
            final ShmBlock borrowed = view.borrow(handle);
            // The borrower claims the 256-byte block is 512 bytes (it would overlap the neighbour), then returns it.
            raw.segment().set(JAVA_LONG, handle.offset() + BLOCK_SIZE_OFFSET, 512L);
            borrowed.close();
            final ShmBlock next = arena.allocate(300);
            assertTrue(!overlap(next, neighbour), "a 512-byte block over the live neighbour");
            final ShmBlock again = arena.allocate(100);
            assertEquals(handle.offset(), again.handle().offset(), "the block came back in its own size class");
            // A size of 0 in the header makes no difference either.
            raw.segment().set(JAVA_LONG, handle.offset() + BLOCK_SIZE_OFFSET, 0L);
            again.close();
            assertEquals(arena.allocate(100).handle().offset(), handle.offset());
            neighbour.close();
            next.close();
        }
    }

    @Test
    void shouldNeverHandOutABlockTheOwnerStillHoldsWhateverTheReturnStackSays() {
        final String group = newGroup();
        try (ShmArena arena = ShmArena.create("arenahost", group, 6, ArenaOptions.defaults());
             SharedMemory raw = rawPool(arena, 0)) {
            final ShmBlock held = arena.allocate(100);
            final long offset = held.handle().offset();
            // A forged return of a block nobody lent, with its count and state made to look returned.
            final MemorySegment pool = raw.segment();
            pool.set(JAVA_INT, offset + BLOCK_REFERENCES_OFFSET, 0);
            pool.set(JAVA_LONG, offset + BLOCK_NEXT_OFFSET, 0L);
            pool.set(JAVA_LONG, RETURN_HEAD_OFFSET, offset);
            final ShmBlock other = arena.allocate(100);
            assertNotEquals(offset, other.handle().offset(), "the owner still holds that block");
            assertTrue(!overlap(held, other));
            other.close();
            held.close();
        }
    }

    @Test
    void shouldSurviveAWildReturnLinkAndCountIt() {
        final String group = newGroup();
        try (ShmArena arena = ShmArena.create("arenahost", group, 7, ArenaOptions.defaults());
             SharedMemory raw = rawPool(arena, 0)) {
            final MemorySegment pool = raw.segment();
            for (final long wild : new long[] {8, 4096 + 7, 1L << 40, -256}) {
                pool.set(JAVA_LONG, RETURN_HEAD_OFFSET, wild);
                final ShmBlock block = arena.allocate(100);
                block.close();
            }
            assertEquals(4, arena.refusedReturns());
            // A cycle on the return stack: each block once, then the walk stops.
            final ShmBlock a = arena.allocate(100);
            final ShmBlock b = arena.allocate(100);
            final long aOffset = a.handle().offset();
            final long bOffset = b.handle().offset();
            a.lend();
            b.lend();
            a.close();
            b.close();
            pool.set(JAVA_LONG, aOffset + BLOCK_NEXT_OFFSET, bOffset);
            pool.set(JAVA_LONG, bOffset + BLOCK_NEXT_OFFSET, aOffset);
            pool.set(JAVA_LONG, RETURN_HEAD_OFFSET, aOffset);
            arena.allocate(100).close();
            assertEquals(0, arena.allocatedBytes(), "both returned, the cycle did not loop");
        }
    }

    /**
     * A block lent twice may be borrowed twice at once (a prebuilt response answering two requests): each
     * borrow gives one reference back, and the block is free only after both.
     */
    @Test
    void shouldTakeABlockBorrowedTwiceBackOnlyAfterBoth() {
        final String group = newGroup();
        try (ShmArena arena = ShmArena.create("arenahost", group, 8, ArenaOptions.defaults());
             ArenaView view = ArenaView.of("arenahost", ProcessIdentity.current(), group, 8, ArenaOptions.defaults())) {
            final ShmBlock block = arena.allocate(1000);
            final ShmHandle handle = block.lend();
            block.lend();
            block.close();
            final ShmBlock first = view.borrow(handle);
            final ShmBlock second = view.borrow(handle);
            first.close();
            assertTrue(arena.allocatedBytes() > 0, "the second borrow still holds it");
            assertEquals(1000, second.length());
            second.close();
            assertEquals(0, arena.allocatedBytes());
        }
    }

    @Test
    void shouldIgnoreAForgedStateAndGenerationInTheHeader() {
        final String group = newGroup();
        try (ShmArena arena = ShmArena.create("arenahost", group, 9, ArenaOptions.defaults());
             SharedMemory raw = rawPool(arena, 0)) {
            final ShmBlock block = arena.allocate(100);
            final long offset = block.handle().offset();
            raw.segment().set(JAVA_INT, offset + BLOCK_STATE_OFFSET, 2);
            raw.segment().set(JAVA_INT, offset + ArenaDescriptor.BLOCK_GENERATION_OFFSET, 12345);
            block.close();
            final ShmBlock reused = arena.allocate(100);
            assertEquals(offset, reused.handle().offset());
            assertEquals(block.handle().generation() + 1, reused.handle().generation(), "the owner's own generation");
            reused.close();
        }
    }
}
