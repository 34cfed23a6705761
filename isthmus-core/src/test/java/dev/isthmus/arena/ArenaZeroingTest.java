/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.arena;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A zeroed allocation that reuses a block is zero over the whole length asked for, however the block's earlier
 * holders wrote it and whatever they declared ({@link ShmBlock#closeWritten}): the arena clears what may not be
 * zero, which for a block of a sealed arena's read-only pool is only what was written or could have been.
 */
class ArenaZeroingTest {
    /** A payload length whose block (8 KiB) also holds {@link #SMALL}: both come from the same free list. */
    private static final long LARGE = 8192 - ArenaDescriptor.BLOCK_HEADER_LENGTH;
    private static final long SMALL = 5000;

    private static void assertZero(final ShmBlock block, final String what) {
        final MemorySegment payload = block.segment();
        final long mismatch = payload.mismatch(MemorySegment.ofArray(new byte[(int) payload.byteSize()]));
        assertEquals(-1, mismatch, what + ": byte " + mismatch + " of " + payload.byteSize() + " is not zero");
    }

    private static ShmBlock reuse(final ShmArena arena, final ShmBlock closed, final long length,
                                  final boolean zeroed) {
        final ShmBlock block = zeroed ? arena.allocateZeroed(length) : arena.allocate(length);
        assertEquals(closed.handle().offset(), block.handle().offset(), "the same block, from the free list");
        return block;
    }

    @Test
    void shouldClearWhatAPlainCloseMayHaveLeftWritten() {
        try (SealedArenaTest.Pair pair = SealedArenaTest.pair()) {
            final ShmBlock first = pair.arena().allocateZeroed(LARGE);
            first.segment().fill((byte) 0x5a);
            first.close();
            try (ShmBlock again = reuse(pair.arena(), first, LARGE, true)) {
                assertZero(again, "after a close that declared nothing");
            }
        }
    }

    @Test
    void shouldClearWhatWasDeclaredWrittenAndFindTheRestZero() {
        try (SealedArenaTest.Pair pair = SealedArenaTest.pair()) {
            ShmBlock block = pair.arena().allocateZeroed(LARGE);
            for (int round = 1; round <= 20; round++) {
                final long written = 8L * round * round;
                block.segment().asSlice(0, written).fill((byte) round);
                block.closeWritten(written);
                final ShmBlock next = reuse(pair.arena(), block, LARGE, true);
                assertZero(next, "round " + round + ", " + written + " bytes declared");
                block = next;
            }
            block.close();
        }
    }

    /**
     * Bytes written beyond a later, shorter holder's length stay dirty until cleared: a small holder declaring
     * it wrote nothing does not make the earlier large holder's bytes zero.
     */
    @Test
    void shouldKeepTheBytesOfAnEarlierLongerHolderDirtyUntilCleared() {
        try (SealedArenaTest.Pair pair = SealedArenaTest.pair()) {
            final ShmBlock large = pair.arena().allocate(LARGE);
            large.segment().fill((byte) 0x33);
            large.close();
            final ShmBlock small = reuse(pair.arena(), large, SMALL, false);
            small.closeWritten(0);
            try (ShmBlock again = reuse(pair.arena(), small, LARGE, true)) {
                assertZero(again, "after a large holder wrote it all and a small one declared nothing");
            }
        }
        try (SealedArenaTest.Pair pair = SealedArenaTest.pair()) {
            final ShmBlock large = pair.arena().allocate(LARGE);
            large.segment().fill((byte) 0x44);
            large.closeWritten(LARGE);
            // A zeroed small allocation clears everything that was dirty, beyond its own length too.
            final ShmBlock small = reuse(pair.arena(), large, SMALL, true);
            assertZero(small, "the small holder's payload");
            small.segment().asSlice(0, 16).fill((byte) 1);
            small.closeWritten(16);
            try (ShmBlock again = reuse(pair.arena(), small, LARGE, true)) {
                assertZero(again, "after the small holder wrote 16 bytes");
            }
        }
    }

    /**
     * A block handed out as it was ({@code allocate}, not zeroed) keeps its earlier holder's bytes: its new holder
     * declaring truly that it wrote only a few cannot vouch for them, at any length of the same size class.
     */
    @Test
    void shouldNotLetTheHolderOfABlockHandedOutUnclearedVouchForItsEarlierBytes() {
        for (final long second : new long[] {LARGE, SMALL, LARGE - 8}) {
            try (SealedArenaTest.Pair pair = SealedArenaTest.pair()) {
                final ShmBlock first = pair.arena().allocate(LARGE);
                first.segment().fill((byte) 0x5a);
                first.close();
                final ShmBlock uncleared = reuse(pair.arena(), first, second, false);
                assertEquals(0x5a, uncleared.segment().get(JAVA_BYTE, 100), "handed out as it was");
                uncleared.segment().asSlice(0, 16).fill((byte) 1);
                uncleared.closeWritten(16);
                try (ShmBlock again = reuse(pair.arena(), uncleared, LARGE, true)) {
                    assertZero(again, "after an uncleared holder of " + second + " bytes declared 16");
                }
            }
        }
    }

    /**
     * {@code resolve} hands out no more of a block than it was allocated with (a handle is a public record, and
     * shared data may carry one a peer wrote): bytes beyond that length were given to no one, so a zeroed reuse
     * that does not clear them is right.
     */
    @Test
    void shouldResolveNoMoreOfABlockThanItWasAllocatedWith() {
        try (SealedArenaTest.Pair pair = SealedArenaTest.pair()) {
            final ShmBlock block = pair.arena().allocateZeroed(300);
            final ShmHandle handle = block.handle();
            assertEquals(300, pair.arena().resolve(handle).byteSize());
            final dev.isthmus.CorruptDataException refused = assertThrows(dev.isthmus.CorruptDataException.class,
                () -> pair.arena().resolve(new ShmHandle(handle.pool(), handle.generation(), handle.offset(), 448)));
            assertTrue(refused.getMessage().contains("longer than its block's 300 bytes"), refused.getMessage());
            block.close();
            try (ShmBlock again = reuse(pair.arena(), block, 448, true)) {
                assertZero(again, "a longer reuse of the block");
                assertEquals(448, pair.arena().resolve(again.handle()).byteSize());
            }
        }
    }

    /** A block lent and returned after its owner closed it, declaring what it wrote, comes back zero. */
    @Test
    void shouldUseTheDeclarationOfAnOwnerThatClosedBeforeTheBorrowerReturned() {
        try (SealedArenaTest.Pair pair = SealedArenaTest.pair()) {
            final ShmBlock block = pair.arena().allocateZeroed(LARGE);
            block.segment().asSlice(0, 300).fill((byte) 7);
            final ShmHandle lent = block.lend();
            block.closeWritten(300);
            final ShmBlock borrowed = pair.view().borrowLent(null, lent.pool(), lent.generation(), lent.offset(),
                lent.length());
            assertEquals(7, borrowed.segment().get(JAVA_BYTE, 299));
            // A borrower's declaration means nothing to the owner: its reference closes as usual.
            borrowed.closeWritten(0);
            try (ShmBlock again = reuse(pair.arena(), block, LARGE, true)) {
                assertZero(again, "after the borrower returned the block");
            }
        }
    }

    /** The peer may write a peer-writable block at any time: whatever the owner declares, it is cleared whole. */
    @Test
    void shouldIgnoreTheDeclarationForABlockThePeerMayWrite() {
        try (SealedArenaTest.Pair pair = SealedArenaTest.pair()) {
            final ShmBlock block = pair.arena().allocatePeerWritable(LARGE);
            block.segment().fill((byte) 0x77);
            block.closeWritten(0);
            try (ShmBlock again = pair.arena().allocatePeerWritable(LARGE)) {
                assertEquals(block.handle().offset(), again.handle().offset(), "the same block");
                assertZero(again, "a peer-writable block declared unwritten");
            }
        }
    }

    @Test
    void shouldTreatADeclarationBeyondTheLengthAsAPlainCloseAndRefuseANegativeOne() {
        try (SealedArenaTest.Pair pair = SealedArenaTest.pair()) {
            final ShmBlock block = pair.arena().allocateZeroed(SMALL);
            assertThrows(IllegalArgumentException.class, () -> block.closeWritten(-1));
            block.segment().fill((byte) 9);
            block.closeWritten(Long.MAX_VALUE);
            try (ShmBlock again = reuse(pair.arena(), block, LARGE, true)) {
                assertZero(again, "after a declaration beyond the length");
            }
        }
    }
}
