/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.isthmus.CorruptDataException;
import dev.isthmus.arena.ArenaOptions;
import dev.isthmus.arena.ArenaView;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.arena.ShmHandle;
import dev.isthmus.shm.NoSuchResourceException;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.test.Recipe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fuzzes {@link SharedData}'s borrowing and reference following as a hostile lender would drive it: arbitrary
 * bytes written over a lent object's header and over the reference a record holds, arbitrary changes to the
 * reference sent. Every borrow or follow must succeed with a view inside the object's block, sized to what
 * its header says, or fail with a {@link CorruptDataException} (or {@link NoSuchResourceException}); nothing
 * else, and the arena ends with exactly the blocks it started with.
 *
 * <p>Recipe: byte 0 selects the object (a record, an array of longs, a string) and whether to write its
 * header (bit 2) or the record's reference to it (bit 3); then an offset and up to 32 bytes to write; then
 * XOR masks for the sent reference's pool, generation, offset, length and tag. Missing bytes read as zero.
 * {@code mvn verify} runs the committed inputs; {@code -Disthmus.fuzz=1 -Dtest=SharedDataBorrowFuzzTest} fuzzes.
 */
class SharedDataBorrowFuzzTest {
    private static ShmArena arena;
    private static ArenaView view;
    private static SharedData owner;
    private static SharedData borrower;
    private static SharedStruct record;
    private static SharedObject[] targets;
    private static long baselineBytes;

    @BeforeAll
    static void open() {
        final long pid = ProcessHandle.current().pid();
        final String group = "df" + pid;
        final ArenaOptions options = ArenaOptions.defaults().withSealedPoolBytes(8L << 20);
        arena = ShmArena.createSealed("datafuzz", group, 9, options);
        view = ArenaView.createSealed("datafuzz", ProcessIdentity.current(), group, 9, options);
        view.attachPool(arena.poolDescriptor());
        arena.attachReturns(view.returnsDescriptor());
        owner = SharedData.of(arena, null);
        borrower = SharedData.of(arena, view);
        record = owner.allocate(SharedDataTest.QUOTE);
        final SharedArray longs = owner.allocateArray(JAVA_LONG, 100);
        targets = new SharedObject[] {owner.allocate(SharedDataTest.QUOTE), longs, owner.allocateString("fuzz me")};
        baselineBytes = arena.allocatedBytes();
    }

    @AfterAll
    static void close() {
        record.close();
        for (final SharedObject target : targets) {
            target.close();
        }
        assertEquals(0, arena.allocatedBytes(), "every block came back");
        view.close();
        arena.close();
    }

    @FuzzTest(maxDuration = "2m")
    void shouldBorrowOnlyWhatTheHeaderAndBlockAgreeOn(final byte[] recipe) {
        final Recipe in = new Recipe(recipe);
        final int mode = in.u8();
        final SharedObject target = targets[(mode & 3) % targets.length];
        final MemorySegment whole = arena.resolve(target.ref().handle());
        final MemorySegment refSlot = record.segment().asSlice(SharedDataTest.HISTORY.offset(), DataDescriptor.REF_LENGTH);
        final byte[] savedHeader = whole.asSlice(0, DataDescriptor.HEADER_LENGTH).toArray(ValueLayout.JAVA_BYTE);
        record.set(SharedDataTest.HISTORY, target);
        final int at = in.u8() % DataDescriptor.HEADER_LENGTH;
        final byte[] bytes = in.bytes(Math.min(in.u8(), DataDescriptor.HEADER_LENGTH - at));
        if ((mode & 4) != 0) {
            MemorySegment.copy(MemorySegment.ofArray(bytes), 0, whole, at, bytes.length);
        }
        if ((mode & 8) != 0) {
            MemorySegment.copy(MemorySegment.ofArray(bytes), 0, refSlot, at, bytes.length);
        }
        final ShmHandle h = target.ref().handle();
        final DataRef sent = new DataRef(new ShmHandle(h.pool() ^ in.i32() & 0x3, h.generation() ^ in.u8(),
            h.offset() ^ in.i64(), h.length() ^ in.i64()), target.typeTag() ^ (in.u8() == 0 ? 0 : in.i64()));
        try {
            borrowOne(sent, target);
            try (SharedStruct quote = borrower.borrowStruct(owner.lend(record), SharedDataTest.QUOTE)) {
                followOne(quote, target);
            }
        } finally {
            MemorySegment.copy(MemorySegment.ofArray(savedHeader), 0, whole, 0, savedHeader.length);
            refSlot.fill((byte) 0);
        }
        // Lends and returns balance: each refused borrow gave its reference back.
        owner.allocate(SharedDataTest.PRICE).close();
        assertEquals(baselineBytes, arena.allocatedBytes());
    }

    private static void borrowOne(final DataRef ref, final SharedObject target) {
        final int before = target.block.references();
        final long refusedBefore = arena.refusedReturns();
        final ShmHandle lent = target.ref().handle();
        final boolean sameBlock = ref.handle().pool() == lent.pool() && ref.handle().offset() == lent.offset()
            && ref.handle().generation() == lent.generation();
        owner.lend(target);
        try {
            final SharedObject borrowed = switch (target) {
                case SharedStruct s -> borrower.borrowStruct(ref, SharedDataTest.QUOTE);
                case SharedArray a -> borrower.borrowArray(ref, JAVA_LONG);
                case SharedString s -> borrower.borrowString(ref);
            };
            try (borrowed) {
                checkInside(borrowed, ref.handle());
            }
        } catch (final CorruptDataException | NoSuchResourceException refused) {
            // refused, as it should be
        } catch (final RuntimeException e) {
            fail("borrowing " + ref + " threw " + e, e);
        }
        // A borrow that got as far as the block gave its reference back through the ring; one refused before
        // never took it, and the lender takes it back as it would for a reference that never arrived.
        owner.allocate(SharedDataTest.PRICE).close();
        if (target.block.references() > before) {
            owner.unlend(target);
        }
        assertEquals(before, target.block.references());
        if (sameBlock) {
            assertEquals(refusedBefore, arena.refusedReturns(), "no return named a block that was not lent");
        }
        // A forged reference to another allocated block that was never lent is borrowed, refused by its header,
        // and returned: the owner refuses that return (counted), and nothing it holds is freed.
    }

    private static void followOne(final SharedStruct quote, final SharedObject target) {
        try {
            final SharedObject followed = switch (target) {
                case SharedStruct s -> quote.follow(SharedDataTest.HISTORY, SharedDataTest.QUOTE);
                case SharedArray a -> quote.followArray(SharedDataTest.HISTORY, JAVA_LONG);
                case SharedString s -> quote.followString(SharedDataTest.HISTORY);
            };
            if (followed != null) {
                checkInside(followed, followed.ref().handle());
            }
        } catch (final CorruptDataException | NoSuchResourceException refused) {
            // refused, as it should be
        } catch (final RuntimeException e) {
            fail("following " + SharedDataTest.HISTORY.get(quote.segment()) + " threw " + e, e);
        }
    }

    /** A view is read-only, starts after its header, and never reaches past what its handle covers in the block. */
    private static void checkInside(final SharedObject borrowed, final ShmHandle handle) {
        assertTrue(borrowed.isReadOnly());
        final MemorySegment object = view.resolve(handle);
        assertEquals(object.address() + DataDescriptor.HEADER_LENGTH, borrowed.segment().address());
        assertTrue(borrowed.segment().byteSize() <= object.byteSize() - DataDescriptor.HEADER_LENGTH,
            borrowed + " is larger than its handle covers");
        if (borrowed.segment().byteSize() > 0) {
            borrowed.segment().get(ValueLayout.JAVA_BYTE, borrowed.segment().byteSize() - 1);
        }
    }
}
