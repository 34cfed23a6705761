/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.arena;

import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import dev.isthmus.internal.linux.FileIo;
import dev.isthmus.shm.ProcessIdentity;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static dev.isthmus.arena.ArenaDescriptor.RING_ENTRIES_OFFSET;
import static dev.isthmus.arena.ArenaDescriptor.RING_PUBLISHED_OFFSET;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A session's arena: a sealed pool the borrower maps read-only, returns through a ring the borrower owns
 * (the peer-writable pool is tested by {@code SharedDataWritableTest}). Both ends live in this JVM here; the
 * descriptors travel as they would over {@code SCM_RIGHTS}.
 */
class SealedArenaTest {
    private static final AtomicInteger GROUPS = new AtomicInteger();
    private static final ArenaOptions OPTIONS = ArenaOptions.defaults().withSealedPoolBytes(64L << 20);

    /** A sealed arena and a view of it, attached to each other as a session attaches them. */
    record Pair(ShmArena arena, ArenaView view) implements AutoCloseable {
        @Override
        public void close() {
            view.close();
            arena.close();
        }
    }

    static Pair pair() {
        final String group = "z" + GROUPS.incrementAndGet();
        final ShmArena arena = ShmArena.createSealed("sealarena", group, 3, OPTIONS);
        final ArenaView view = ArenaView.createSealed("sealarena", ProcessIdentity.current(), group, 3, OPTIONS);
        view.attachPool(arena.poolDescriptor());
        arena.attachReturns(view.returnsDescriptor());
        return new Pair(arena, view);
    }

    /**
     * A peer running as the same user owns the pool's file: with the read-only descriptor it was handed, it
     * gives the file its write bits back and reopens it for writing through {@code /proc/self/fd} (root need not
     * even do the first). The seal makes the writable mapping fail all the same; the owner's own mapping, made
     * before, stays writable. The same holds for the return ring, which the view owns and the arena reads.
     */
    @Test
    void shouldRefuseAWritableMappingOfWhatIsHandedOverReadOnlyEvenToAPeerThatOwnsTheFile() {
        try (Pair pair = pair()) {
            for (final int readOnly : new int[] {pair.arena().poolDescriptor(), pair.view().returnsDescriptor()}) {
                int readWrite = -1;
                try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
                    FileIo.fchmod(readOnly, 0600, "test");
                    readWrite = FileIo.reopen(readOnly, FileIo.O_RDWR, "test");
                    final int fd = readWrite;
                    final dev.isthmus.NativeException refused = assertThrows(dev.isthmus.NativeException.class,
                        () -> dev.isthmus.internal.linux.Mmap.map(fd, FileIo.length(fd, "test"), true, arena, "test"));
                    assertEquals(dev.isthmus.internal.linux.Errno.EPERM, refused.errno(), refused.getMessage());
                } finally {
                    FileIo.close(readOnly);
                    if (readWrite >= 0) {
                        FileIo.close(readWrite);
                    }
                }
            }
            try (ShmBlock block = pair.arena().allocate(4096)) {
                block.segment().fill((byte) 1);
                assertEquals(1, block.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 4095), "the owner still writes");
            }
        }
    }

    @Test
    void shouldLendReadOnlyAndTakeEveryBorrowBackThroughTheBorrowersRing() throws Exception {
        try (Pair pair = pair()) {
            final ShmBlock block = pair.arena.allocate(10_000);
            block.segment().set(JAVA_LONG, 0, 0xabcdL);
            final ShmHandle first = block.lend();
            final ShmHandle second = block.lend();
            assertEquals(3, block.references(), "this process's and two lent");
            block.close();
            try (ShmBlock borrowed = pair.view.borrow(first)) {
                assertEquals(0xabcdL, borrowed.segment().get(JAVA_LONG, 0));
                assertTrue(borrowed.segment().isReadOnly(), "the borrower cannot write a byte of the owner's pool");
                assertThrows(IllegalArgumentException.class, () -> borrowed.segment().set(JAVA_LONG, 0, 1L));
            }
            assertTrue(pair.arena.allocatedBytes() > 0, "one lent reference is still out");
            pair.view.borrow(second).close();
            assertEquals(0, pair.arena.allocatedBytes());
            assertEquals(0, pair.arena.refusedReturns());
        }
        try (Stream<Path> entries = Files.list(Path.of("/dev/shm"))) {
            assertEquals(0, entries.filter(p -> p.getFileName().toString().contains("sealarena")).count());
        }
    }

    private static ShmBlock borrowLent(final ArenaView view, final ShmHandle handle) {
        return view.borrowLent(null, handle.pool(), handle.generation(), handle.offset(), handle.length());
    }

    private static void assertLentRefused(final ArenaView view, final ShmHandle handle, final String why) {
        final CorruptDataException e = assertThrows(CorruptDataException.class, () -> borrowLent(view, handle),
            handle::toString);
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }

    /**
     * A handle lent with a message is borrowed by its bounds alone: nothing of the pool is read for it, so a
     * block header the owner scribbled over still lends (where {@code borrow}, which checks the header,
     * refuses it), and the reference still comes back to the owner.
     */
    @Test
    void shouldBorrowALentHandleByItsBoundsAloneWithoutReadingTheBlockHeader() {
        try (Pair pair = pair()) {
            final ShmBlock block = pair.arena.allocate(4096);
            block.segment().set(JAVA_LONG, 0, 42L);
            final ShmHandle handle = block.lend();
            block.pool().asSlice(block.offset(), ArenaDescriptor.BLOCK_HEADER_LENGTH).fill((byte) 0x5a);
            final CorruptDataException checked = assertThrows(CorruptDataException.class,
                () -> pair.view.borrow(handle));
            assertTrue(checked.getMessage().contains("no block starts there"), checked.getMessage());
            try (ShmBlock borrowed = borrowLent(pair.view, handle)) {
                assertEquals(42L, borrowed.segment().get(JAVA_LONG, 0));
                assertEquals(handle.length(), borrowed.segment().byteSize());
                assertTrue(borrowed.segment().isReadOnly());
            }
            block.close();
            pair.arena.allocate(8).close(); // reads the returns
            assertEquals(0, pair.arena.allocatedBytes(), "the lent reference came back and the block was freed");
            assertEquals(0, pair.arena.refusedReturns());
        }
    }

    /**
     * What a lying owner's handle can do to a borrower that checks only bounds: read the owner's pool where
     * it points (a freed block carved again, memory across blocks), never outside it; and what its return
     * can do to the owner: count as the return of a reference the owner lent for that block, or be refused,
     * never take the owner's own reference.
     */
    @Test
    void shouldKeepALentHandleInsideThePoolAndNeverLetItsReturnTakeTheOwnersReference() {
        try (Pair pair = pair()) {
            final ShmBlock first = pair.arena.allocate(4096);
            final ShmHandle stale = first.handle();
            first.close();
            final ShmBlock carved = pair.arena.allocate(4096);
            carved.segment().set(JAVA_LONG, 0, 7L);
            final ShmHandle current = carved.lend();
            assertEquals(stale.offset(), current.offset(), "the freed block is carved again");
            assertNotEquals(stale.generation(), current.generation());
            try (ShmBlock read = borrowLent(pair.view, stale)) {
                assertEquals(7L, read.segment().get(JAVA_LONG, 0), "a stale handle reads what is there now");
            }
            pair.arena.allocate(8).close(); // reads the returns
            // A return names a block, not a generation: the stale handle's is taken for the reference lent for
            // the block, which only the lying peer reads; the owner's own reference is untouched.
            assertEquals(0, pair.arena.refusedReturns());
            assertEquals(1, carved.references());
            final long poolBytes = 64L << 20;
            final ShmHandle across = new ShmHandle(0, current.generation(), current.offset(),
                poolBytes - current.offset() - ArenaDescriptor.BLOCK_HEADER_LENGTH);
            try (ShmBlock wide = borrowLent(pair.view, across)) {
                assertEquals(across.length(), wide.segment().byteSize(), "up to the pool's last byte, no further");
            }
            pair.arena.allocate(8).close();
            assertEquals(1, pair.arena.refusedReturns(), "a return of more than was lent is refused");
            assertEquals(1, carved.references(), "and takes nothing from the owner's own reference");
            assertEquals(7L, carved.segment().get(JAVA_LONG, 0));
            carved.close();
            pair.arena.allocate(8).close();
            assertEquals(0, pair.arena.allocatedBytes(), "the owner's close frees it");

            assertLentRefused(pair.view, new ShmHandle(0, 1, current.offset() + 8, 8), "not a block offset");
            assertLentRefused(pair.view, new ShmHandle(0, 1, 0, 8), "not a block offset");
            assertLentRefused(pair.view, new ShmHandle(0, 1, -4096, 8), "not a block offset");
            assertLentRefused(pair.view, new ShmHandle(0, 1, current.offset(), -1), "not a block offset");
            assertLentRefused(pair.view, new ShmHandle(0, 1, poolBytes, 0), "not a block offset");
            assertLentRefused(pair.view, new ShmHandle(0, 1, current.offset(), across.length() + 1), "runs past the end");
            assertLentRefused(pair.view, new ShmHandle(0, 1, poolBytes - 256, 256), "runs past the end");
            assertLentRefused(pair.view, new ShmHandle(0, 1, current.offset(), Long.MAX_VALUE), "runs past the end");
            assertThrows(IsthmusException.class, () -> borrowLent(pair.view, new ShmHandle(3, 1, 4096, 8)));
            assertThrows(IsthmusException.class, () -> borrowLent(pair.view, new ShmHandle(-1, 1, 4096, 8)));
            pair.arena.allocate(8).close();
            assertEquals(1, pair.arena.refusedReturns(), "a refused borrow returns nothing");
        }
    }

    /**
     * A holder that keeps its closed reference for the next borrow of the same memory gets that object back,
     * open and counted as a new reference, only for the same block in the same generation; an open reference,
     * a stale one (the block freed and carved again) or another view's is never reused, and every borrow still
     * comes back to the owner.
     */
    @Test
    void shouldReuseAClosedReferenceOnlyForTheSameBlockInTheSameGeneration() {
        try (Pair pair = pair(); Pair other = pair()) {
            final ShmBlock block = pair.arena.allocate(4096);
            block.segment().set(JAVA_LONG, 0, 7L);
            final ShmHandle handle = block.lend();
            final ShmBlock first = pair.view.borrow(handle);
            first.close();
            block.lend();
            final ShmBlock again = pair.view.borrowAgain(first, handle.pool(), handle.generation(), handle.offset(),
                handle.length());
            assertSame(first, again, "the closed reference serves again");
            assertTrue(again.isOpen());
            assertEquals(7L, again.segment().get(JAVA_LONG, 0));
            block.lend();
            final ShmBlock whileOpen = pair.view.borrowAgain(again, handle.pool(), handle.generation(),
                handle.offset(), handle.length());
            assertNotSame(again, whileOpen, "an open reference is not handed out twice");
            whileOpen.close();
            again.close();
            final ShmBlock elsewhere = other.arena.allocate(4096);
            final ShmHandle otherHandle = elsewhere.lend();
            final ShmBlock foreign = other.view.borrowAgain(again, otherHandle.pool(), otherHandle.generation(),
                otherHandle.offset(), otherHandle.length());
            assertNotSame(again, foreign, "another view's reference is not reused");
            foreign.close();
            elsewhere.close();
            block.close();
            assertEquals(0, pair.arena.allocatedBytes(), "every borrow came back");
            // The block freed, carved again at the same offset: a new generation, so a new reference.
            final ShmBlock carved = pair.arena.allocate(4096);
            final ShmHandle fresh = carved.lend();
            assertEquals(handle.offset(), fresh.offset(), "the freed block is carved again");
            assertNotEquals(handle.generation(), fresh.generation());
            final ShmBlock stale = pair.view.borrowAgain(again, fresh.pool(), fresh.generation(), fresh.offset(),
                fresh.length());
            assertNotSame(again, stale, "a reference of an earlier generation is not reused");
            assertFalse(again.isOpen(), "and stays closed");
            stale.close();
            carved.close();
            assertEquals(0, pair.arena.allocatedBytes());
            assertEquals(0, pair.arena.refusedReturns());
        }
    }

    @Test
    void shouldKeepReturnsThatFindTheRingFullUntilTheOwnerReads() {
        try (Pair pair = pair()) {
            final List<ShmBlock> blocks = new ArrayList<>();
            final List<ShmHandle> handles = new ArrayList<>();
            for (int i = 0; i < ArenaDescriptor.RING_CAPACITY + 100; i++) {
                final ShmBlock block = pair.arena.allocate(1);
                handles.add(block.lend());
                block.close();
                blocks.add(block);
            }
            // The owner allocates nothing meanwhile, so it reads no returns: the ring fills, the rest wait.
            for (final ShmHandle handle : handles) {
                pair.view.borrow(handle).close();
            }
            assertEquals(100L * 256, pair.arena.allocatedBytes(), "all but the 100 waiting in the borrower came back");
            final ShmBlock last = pair.arena.allocate(1);
            pair.view.borrow(last.lend()).close();
            last.close();
            assertEquals(0, pair.arena.allocatedBytes(), "the waiting returns followed once there was room");
        }
    }

    /**
     * A server that answers with one pre-built response allocates nothing between sends: lending alone must
     * read the returns, or the ring fills, returns pile up in the borrower and the block's lend count
     * reaches its limit (65,535) after as many round trips.
     */
    @Test
    void shouldReadReturnsWhileOnlyLendingOneBlockOverAndOver() {
        try (Pair pair = pair()) {
            final ShmBlock block = pair.arena.allocate(4096);
            for (int i = 0; i < 200_000; i++) {
                pair.view.borrow(block.lend()).close();
            }
            assertEquals(0, pair.view.droppedReturns(), "no return was dropped for want of room");
            assertTrue(block.references() <= 1 + ShmArena.LENDS_PER_DRAIN,
                "the returns were read as they came: " + block.references() + " references");
            block.close();
            assertEquals(0, pair.arena.allocatedBytes(), "every lend came back");
            assertEquals(0, pair.arena.refusedReturns());
        }
    }

    /**
     * An owner that never reads its returns (stopped, or lying in its pool header about how far it read)
     * cannot make the borrower's memory grow without bound: past a bounded backlog, returns are dropped
     * and counted, and the owner keeps those blocks.
     */
    @Test
    void shouldBoundTheReturnsWaitingForAnOwnerThatNeverReads() {
        try (Pair pair = pair()) {
            final ShmBlock block = pair.arena.allocate(1);
            final int lends = ArenaDescriptor.RING_CAPACITY + ArenaView.MAX_PENDING_RETURNS + 10;
            final List<ShmHandle> handles = new ArrayList<>();
            for (int i = 0; i < lends && i < 60_000; i++) {
                handles.add(block.lend());
            }
            // The owner allocates nothing, so it reads no returns; the view borrows and returns over and over.
            int returned = 0;
            while (returned < lends) {
                for (final ShmHandle handle : handles) {
                    if (returned++ == lends) {
                        break;
                    }
                    pair.view.borrow(handle).close();
                }
            }
            assertEquals(10, pair.view.droppedReturns());
            block.close();
        }
    }

    @Test
    void shouldRefuseForgedReturnsAndStopReadingARingWithImpossibleCounts() {
        try (Pair pair = pair()) {
            final ShmBlock held = pair.arena.allocate(100);
            final ShmHandle lent = held.lend();
            // The borrower's ring is its own memory: it can write anything there. Here: a return of a block it
            // never borrowed, twice, and one of a block that does not exist.
            final MemorySegment ring = ringOf(pair.view);
            ring.set(JAVA_LONG, RING_ENTRIES_OFFSET, lent.offset());
            ring.set(JAVA_LONG, RING_ENTRIES_OFFSET + 8, lent.offset());
            ring.set(JAVA_LONG, RING_ENTRIES_OFFSET + 16, 1L << 40);
            ring.set(JAVA_LONG, RING_PUBLISHED_OFFSET, 3);
            final ShmBlock other = pair.arena.allocate(100);
            assertTrue(other.handle().offset() != held.handle().offset(), "the owner still holds that block");
            assertEquals(2, pair.arena.refusedReturns(), "the second return of the block and the wild one");
            ring.set(JAVA_LONG, RING_PUBLISHED_OFFSET, 1L << 50);
            pair.arena.allocate(100).close();
            assertEquals(3, pair.arena.refusedReturns());
            held.close();
            other.close();
        }
    }

    /** The view's return ring, as the view itself (a hostile borrower) can write it. */
    private static MemorySegment ringOf(final ArenaView view) {
        return view.ringForTests();
    }

    @Test
    void shouldSayTheArenaIsFullInsteadOfGrowing() {
        try (Pair pair = pair()) {
            final IsthmusException full = assertThrows(IsthmusException.class, () -> pair.arena.allocate(64L << 20));
            assertTrue(full.getMessage().contains("is full"), full.getMessage());
            pair.arena.allocate(1 << 20).close();
        }
    }

    @Test
    void shouldRefuseAPoolThatIsNotSealedOrTooLarge() {
        final String group = "z" + GROUPS.incrementAndGet();
        try (ArenaView view = ArenaView.createSealed("sealarena", ProcessIdentity.current(), group, 3, OPTIONS);
             ShmArena large = ShmArena.createSealed("sealarena", group, 3, OPTIONS.withSealedPoolBytes(1L << 30))) {
            assertThrows(CorruptDataException.class, () -> view.attachPool(large.poolDescriptor()));
            final int unsealed = FileIo.memfdCreate("unsealed");
            FileIo.truncate(unsealed, 1 << 20, "unsealed");
            assertThrows(CorruptDataException.class, () -> view.attachPool(unsealed));
        }
    }
}
