/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.sync;

import dev.isthmus.internal.linux.Membarrier;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.util.function.BooleanSupplier;

import static dev.isthmus.internal.MemoryAccess.getAndAddInt;
import static dev.isthmus.internal.MemoryAccess.getIntAcquire;
import static dev.isthmus.internal.MemoryAccess.getIntVolatile;
import static dev.isthmus.sync.DoorbellDescriptor.SEQUENCE_OFFSET;
import static dev.isthmus.sync.DoorbellDescriptor.SLEEPERS_OFFSET;

/**
 * A wake-up signal in shared memory that costs a system call only when someone actually sleeps.
 *
 * <p>The protocol is the classic store-then-check on both sides:
 * <ul>
 *   <li><b>Sleeper</b> ({@link #await}): reads the sequence, announces itself by incrementing the sleeper
 *       count (a full fence), re-checks its condition, and only then sleeps on the sequence word, so a ring
 *       that happens after the read makes the sleep return at once.</li>
 *   <li><b>Waker</b> ({@link #ring}): after publishing whatever the sleeper waits for, issues a full fence
 *       and reads the sleeper count; only if it is not zero does it bump the sequence and call
 *       {@code FUTEX_WAKE}.</li>
 * </ul>
 * Either the waker sees the announced sleeper, or the sleeper's re-check sees the waker's publication:
 * no wake-up is lost, and while nobody sleeps, ringing costs one fence and one load.
 *
 * <p>Where the kernel offers {@code membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)}, the fence moves from
 * the waker to the sleeper: every Isthmus process registers for expedited barriers, the waker only loads
 * the sleeper count, and the sleeper, after announcing itself, issues a barrier that makes every
 * registered process's CPU execute a full fence before it re-checks. Ringing a doorbell nobody sleeps on
 * then costs one load; going to sleep costs a few microseconds more, after the spin phase has already
 * waited far longer.
 *
 * <p>Thread safety: all methods are thread-safe and work across processes.
 */
public final class Doorbell {
    /** Whether wakers skip the fence and sleepers issue a global barrier instead. */
    private static final boolean ASYMMETRIC = Membarrier.isRegistered();

    private final MemorySegment memory;
    private final FutexWord sequence;

    /**
     * Wraps the doorbell at {@code offset}; its {@link DoorbellDescriptor#LENGTH} bytes start zeroed.
     *
     * @param segment a native segment, typically a shared mapping
     * @param offset  an 8-byte aligned offset
     * @throws IllegalArgumentException if the doorbell is misaligned or out of bounds
     */
    public Doorbell(final MemorySegment segment, final long offset) {
        this.sequence = new FutexWord(segment, offset + SEQUENCE_OFFSET);
        if ((segment.address() + offset & (DoorbellDescriptor.ALIGNMENT - 1)) != 0) {
            throw new IllegalArgumentException("offset=" + offset + " is not 8-byte aligned");
        }
        this.memory = segment.asSlice(offset, DoorbellDescriptor.LENGTH);
    }

    /**
     * Wakes every sleeper, if any has announced itself. Call after publishing what sleepers wait for.
     *
     * @return whether a sleeper was announced (and a system call made)
     */
    public boolean ring() {
        if (!ASYMMETRIC) {
            // Store-load barrier: the caller's publication (a release store) must be globally visible
            // before we read the sleeper count, or we could miss a sleeper whose re-check ran before the
            // store. Pairs with the sleeper's getAndAddInt(SLEEPERS), itself a full fence, in await().
            VarHandle.fullFence();
        }
        // With ASYMMETRIC, the store-load barrier comes from the sleeper's Membarrier.barrier(), which runs
        // a full fence on this CPU between its announcement and its re-check.
        if (getIntAcquire(memory, SLEEPERS_OFFSET) == 0) {
            return false;
        }
        sequence.getAndAdd(1);
        sequence.wakeAll();
        return true;
    }

    /**
     * Sleeps until rung, unless {@code ready} holds after announcing the sleep; returns after at most
     * {@code timeoutNs}, and may return spuriously: the caller re-checks its condition.
     *
     * @param ready     the condition the caller waits for
     * @param timeoutNs the longest sleep in nanoseconds, greater than 0
     * @return {@code true} if {@code ready} held on the re-check, {@code false} after a sleep
     */
    public boolean await(final BooleanSupplier ready, final long timeoutNs) {
        final int observed = getIntVolatile(memory, SEQUENCE_OFFSET);
        // Full fence (a locked read-modify-write): the announcement is visible before the re-check reads.
        // Pairs with ring()'s fullFence before it reads the sleeper count.
        getAndAddInt(memory, SLEEPERS_OFFSET, 1);
        try {
            if (ASYMMETRIC) {
                // Pairs with ring()'s fence-free load of the sleeper count: every registered waker's CPU
                // executes a full fence now, so either it sees our announcement or we see its publication.
                Membarrier.barrier();
            }
            if (ready.getAsBoolean()) {
                return true;
            }
            sequence.await(observed, timeoutNs);
            return false;
        } finally {
            getAndAddInt(memory, SLEEPERS_OFFSET, -1);
        }
    }

    /**
     * {@return the number of announced sleepers, for diagnostics}
     */
    public int sleepers() {
        return getIntVolatile(memory, SLEEPERS_OFFSET);
    }

    /**
     * {@return how many times a sleeper was woken, for diagnostics}
     */
    public int sequence() {
        return sequence.getVolatile();
    }
}
