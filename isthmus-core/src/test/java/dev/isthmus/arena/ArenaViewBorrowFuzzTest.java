/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.arena;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.isthmus.CorruptDataException;
import dev.isthmus.shm.NoSuchResourceException;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.test.Recipe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fuzzes {@link ArenaView#borrow} through public API only: arbitrary handle fields, and arbitrary bytes
 * written into the header of a live block of a real {@link ShmArena} pool (as a hostile owner could). Every
 * borrow must succeed on a block that really is there, or fail with a {@link CorruptDataException} or a
 * {@link NoSuchResourceException}, never anything else; afterwards the arena's allocated bytes are
 * unchanged and every block holds exactly the references it held before.
 *
 * <p>Inputs are recipes: byte 0 selects the mode (bit 0: write into the victim block's header) and the
 * handle to start from (bits 1-3, {@link #CANDIDATES}); byte 1 the mutation of that handle, whose operand
 * follows; in header mode, then, a byte for the offset in the 64-byte header, a byte for the count, and the
 * bytes to write. Missing bytes read as zero. Jazzer 0.24.0 cannot instrument Java 25 class files, so it
 * fuzzes these without coverage feedback from our classes: the recipe keeps it near valid handles.
 *
 * <p>{@code mvn verify} runs the committed inputs ({@code ArenaViewBorrowFuzzTestInputs/}); with
 * {@code JAZZER_FUZZ=1} (set by profile {@code slow}) Jazzer fuzzes for {@code maxDuration}.
 */
class ArenaViewBorrowFuzzTest {
    private static final String APP = "arenafuzz";

    private static ShmArena arena;
    private static ArenaView view;
    /** The pool mapped a second time, to write block headers as a hostile owner would. */
    private static SharedMemory pool;
    private static final List<ShmBlock> LIVE = new ArrayList<>();
    /** Handles the recipes start from: the live blocks', then a freed block's. */
    private static final List<ShmHandle> CANDIDATES = new ArrayList<>();
    private static ShmBlock victim;
    private static long baselineBytes;

    @BeforeAll
    static void openArena() {
        final long pid = ProcessHandle.current().pid();
        final String group = "bf" + pid;
        arena = ShmArena.create(APP, group, pid, ArenaOptions.defaults());
        view = ArenaView.of(APP, ProcessIdentity.current(), group, pid, ArenaOptions.defaults());
        for (final long length : new long[] {100, 1000, 5000, 100_000, 1500}) {
            LIVE.add(arena.allocate(length));
        }
        victim = LIVE.getLast();
        final ShmBlock freed = arena.allocate(3000);
        for (final ShmBlock block : LIVE) {
            CANDIDATES.add(block.handle());
        }
        CANDIDATES.add(freed.handle());
        freed.close();
        pool = SharedMemory.open(ArenaOptions.defaults().directory(),
            new ResourceName(ResourceName.configuredPrefix(), APP, pid, "arena", group + "-p0"), true);
        baselineBytes = arena.allocatedBytes();
    }

    @AfterAll
    static void closeArena() {
        pool.close();
        for (final ShmBlock block : LIVE) {
            block.close();
        }
        assertEquals(0, arena.allocatedBytes(), "every block came back");
        view.close();
        arena.close();
    }

    @FuzzTest(maxDuration = "3m")
    void shouldBorrowOnlyBlocksThatAreThere(final byte[] recipe) {
        final Recipe in = new Recipe(recipe);
        final int mode = in.u8();
        final boolean header = (mode & 1) != 0;
        final ShmHandle handle = mutate(in, CANDIDATES.get((mode >>> 1 & 7) % CANDIDATES.size()), in.u8());

        for (final ShmBlock block : LIVE) {
            block.lend(); // the reference a handle carries
        }
        final MemorySegment victimHeader = pool.segment().asSlice(victim.handle().offset(), ArenaDescriptor.BLOCK_HEADER_LENGTH);
        final byte[] saved = victimHeader.toArray(ValueLayout.JAVA_BYTE);
        if (header) {
            final int at = in.u8() % ArenaDescriptor.BLOCK_HEADER_LENGTH;
            final byte[] bytes = in.bytes(Math.min(in.u8(), ArenaDescriptor.BLOCK_HEADER_LENGTH - at));
            MemorySegment.copy(MemorySegment.ofArray(bytes), 0, victimHeader, at, bytes.length);
        }
        try {
            final ShmBlock borrowed = view.borrow(handle);
            checkBorrowed(handle, borrowed, header);
            if (!header) {
                borrowed.close(); // gives back the lent reference
            }
            // With a forged header the reference count is the fuzzer's: the borrowed block is dropped unclosed.
        } catch (final CorruptDataException | NoSuchResourceException refused) {
            // The documented outcomes.
        } catch (final RuntimeException e) {
            fail("borrow(" + handle + ") threw " + e, e);
        } finally {
            MemorySegment.copy(MemorySegment.ofArray(saved), 0, victimHeader, 0, saved.length);
        }
        for (final ShmBlock block : LIVE) {
            final int references = block.references();
            assertTrue(references == 1 || references == 2, "references=" + references + " of " + block);
            if (references == 2) {
                block.unlend();
            }
        }
        assertEquals(baselineBytes, arena.allocatedBytes(), "no block freed or leaked");
    }

    /** A borrowed block is exactly what the handle names, and a block of the arena's is there. */
    private static void checkBorrowed(final ShmHandle handle, final ShmBlock borrowed, final boolean header) {
        assertEquals(handle.length(), borrowed.length());
        assertEquals(handle, borrowed.handle(handle.length()));
        if (header && handle.offset() == victim.handle().offset() && handle.pool() == victim.handle().pool()) {
            return; // the forged header decides the size and generation; borrow checked them against the pool
        }
        for (final ShmBlock block : LIVE) {
            final ShmHandle live = block.handle();
            if (live.pool() == handle.pool() && live.offset() == handle.offset()) {
                assertEquals(live.generation(), handle.generation(), "generation of " + block);
                assertTrue(handle.length() <= ArenaDescriptor.blockSizeFor(live.length()) - ArenaDescriptor.BLOCK_HEADER_LENGTH,
                    "length=" + handle.length() + " fits " + block);
                return;
            }
        }
        fail("borrow(" + handle + ") succeeded on no live block");
    }

    private static ShmHandle mutate(final Recipe in, final ShmHandle base, final int selector) {
        return switch (selector & 7) {
            case 1 -> new ShmHandle(in.i32(), base.generation(), base.offset(), base.length());
            case 2 -> new ShmHandle(base.pool(), in.i32(), base.offset(), base.length());
            case 3 -> new ShmHandle(base.pool(), base.generation(), in.i64(), base.length());
            case 4 -> new ShmHandle(base.pool(), base.generation(), base.offset(), in.i64());
            case 5 -> new ShmHandle(base.pool(), base.generation(), base.offset() + 8L * (byte) in.u8(), base.length());
            case 6 -> new ShmHandle(base.pool(), base.generation(), base.offset(), base.length() + 8L * (byte) in.u8());
            case 7 -> new ShmHandle(in.i32(), in.i32(), in.i64(), in.i64());
            default -> base;
        };
    }

    /** Reads a recipe little-endian; past its end, every byte is zero. */
}
