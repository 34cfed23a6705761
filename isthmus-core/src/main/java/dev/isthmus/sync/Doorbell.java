/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.sync;

import dev.isthmus.internal.event.ChannelEvents;
import dev.isthmus.internal.linux.Membarrier;
import dev.isthmus.stat.StatRecord;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.util.Locale;
import java.util.function.BooleanSupplier;

import static dev.isthmus.internal.MemoryAccess.compareAndSetInt;
import static dev.isthmus.internal.MemoryAccess.getIntAcquire;
import static dev.isthmus.internal.MemoryAccess.getIntVolatile;
import static dev.isthmus.sync.DoorbellDescriptor.MODE_ASYMMETRIC;
import static dev.isthmus.sync.DoorbellDescriptor.MODE_FENCED;
import static dev.isthmus.sync.DoorbellDescriptor.MODE_SHIFT;
import static dev.isthmus.sync.DoorbellDescriptor.MODE_UNSET;
import static dev.isthmus.sync.DoorbellDescriptor.SEQUENCE_OFFSET;
import static dev.isthmus.sync.DoorbellDescriptor.SLEEPING;
import static dev.isthmus.sync.DoorbellDescriptor.STATE_OFFSET;

/**
 * A wake-up signal in shared memory that costs a system call only when someone actually sleeps.
 *
 * <p>The protocol is the classic store-then-check on both sides (the layout is in
 * {@link DoorbellDescriptor}):
 * <ul>
 *   <li><b>Sleeper</b> ({@link #await}): reads the sequence, announces itself by setting the sleeper flag
 *       (an atomic read-modify-write, a full fence), re-checks its condition, and only then sleeps on the
 *       sequence word, so a wake-up that happens after the read makes the sleep return at once.</li>
 *   <li><b>Waker</b> ({@link #ring}): after publishing whatever the sleeper waits for, issues a full fence
 *       and reads the flag; only if it is set does it clear it, bump the sequence and call
 *       {@code FUTEX_WAKE}.</li>
 * </ul>
 * Either the waker sees the announcement, or the sleeper's re-check sees the waker's publication: no
 * wake-up is lost, and while nobody sleeps, ringing costs one fence and one load. The flag is cleared by
 * the waker, never by a sleeper (another may have announced itself meanwhile), and every sleep announces
 * anew; so a sleeper killed while asleep, or a peer that sets the flag for no reason, costs at most one
 * system call per announcement, not one per ring forever.
 *
 * <h2>Modes</h2>
 * The doorbell records in shared memory which of two protocols both sides follow; the first process to
 * attach records it, every other adopts it, so two processes can never disagree:
 * <ul>
 *   <li>{@link Mode#FENCED} (the default): as above. The store-load ordering on both sides is one the Java
 *       memory model guarantees (a full fence, and a volatile read-modify-write).</li>
 *   <li>{@link Mode#ASYMMETRIC} (opt-in, {@code -Disthmus.doorbell.mode=asymmetric}, and only where the
 *       kernel has {@code membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)} and this process registered for it;
 *       not safe, see below):
 *       the waker skips the CPU fence and the sleeper, after announcing itself, issues a barrier that makes
 *       every CPU running a registered process execute a full fence. A waker that is not registered (an
 *       expedited barrier would not reach it) fences anyway; a sleeper that cannot issue the barrier never
 *       sleeps longer than {@value #UNBARRIERED_SLEEP_CAP_NS} ns at a time.</li>
 * </ul>
 *
 * @apiNote The asymmetric mode is outside the Java memory model, which has no compiler-only barrier: the
 * waker orders its caller's publication before its read of the flag with {@link VarHandle#releaseFence()},
 * which HotSpot compiles to no instruction on x86 but which its compilers do not reorder memory accesses
 * across; the membarrier then supplies the CPU's store-load ordering. Without that compiler barrier the
 * JIT may (legally) schedule the read of the flag before the caller's release store, which no membarrier
 * can repair; that was the cause of the lost wake-ups the first version of this class had in that mode.
 * The barrier made the loss rarer, not impossible: {@code DoorbellStress.Asymmetric} and
 * {@code DekkerStress.WithCompilerBarrier} in the stress module still saw one lost wake-up in about 400,000
 * samples each, with the waker interpreted or compiled by C1, cause not found. A lost wake-up costs the
 * sleeper its whole sleep (a latency spike bounded by the idle strategy's slice), never a message; the
 * fenced mode, which the Java memory model guarantees and jcstress confirms, is therefore the default, at
 * the price of a quarter of the unbatched queue's throughput (see README).
 *
 * <p>Thread safety: all methods are thread-safe and work across processes.
 */
public final class Doorbell {
    /** The longest a sleeper sleeps in one go when it owes a barrier it cannot issue. */
    public static final long UNBARRIERED_SLEEP_CAP_NS = 1_000_000L;

    /** The mode this process records in doorbells it is the first to attach to. */
    private static final Mode DEFAULT_MODE = defaultMode();
    /** Whether expedited barriers reach this process, so that it may skip the waker's fence. */
    private static final boolean REGISTERED = Membarrier.isRegistered();
    /** Whether this process can issue expedited barriers as a sleeper. */
    private static final boolean CAN_BARRIER = Membarrier.isSupported();

    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();

    /** The fence protocol a doorbell records in its shared memory. */
    public enum Mode {
        /** Both sides fence; guaranteed by the Java memory model. */
        FENCED,
        /** The waker only loads; the sleeper issues a global {@code membarrier} before it re-checks. */
        ASYMMETRIC
    }

    private final MemorySegment memory;
    private final FutexWord sequence;
    private final Mode mode;
    /** Whether ring() may skip the CPU fence: asymmetric mode, and expedited barriers reach us. */
    private final boolean wakerSkipsFence;
    /** Whether await() must issue a barrier before its re-check: any mode but fenced. */
    private final boolean sleeperBarriers;
    /** Where this side counts its sleeps and wake-ups, or null; written before use by the owning thread. */
    private StatRecord stats;
    private int sleepCounter = -1;
    private int wakeCounter = -1;
    private String what = "doorbell";
    private String transport = "shm-queue";

    /**
     * Wraps the doorbell at {@code offset}; its {@link DoorbellDescriptor#LENGTH} bytes start zeroed. If no
     * mode is recorded yet, records this process's default ({@link Mode#FENCED} unless the system property
     * {@code isthmus.doorbell.mode} is {@code asymmetric} and the kernel supports it).
     *
     * @param segment a native segment, typically a shared mapping
     * @param offset  an 8-byte aligned offset
     * @throws IllegalArgumentException if the doorbell is misaligned or out of bounds
     */
    public Doorbell(final MemorySegment segment, final long offset) {
        this(segment, offset, DEFAULT_MODE);
    }

    /**
     * Wraps the doorbell at {@code offset}; if no mode is recorded yet, records {@code preferred}, or
     * {@link Mode#FENCED} if this process cannot use the asymmetric mode. A mode already recorded (by the
     * process that attached first) is adopted whatever {@code preferred} says.
     *
     * @param segment   a native segment, typically a shared mapping
     * @param offset    an 8-byte aligned offset
     * @param preferred the mode to record if this is the first process to attach
     * @throws IllegalArgumentException if the doorbell is misaligned or out of bounds
     */
    public Doorbell(final MemorySegment segment, final long offset, final Mode preferred) {
        this.sequence = new FutexWord(segment, offset + SEQUENCE_OFFSET);
        if ((segment.address() + offset & (DoorbellDescriptor.ALIGNMENT - 1)) != 0) {
            throw new IllegalArgumentException("offset=" + offset + " is not 8-byte aligned");
        }
        this.memory = segment.asSlice(offset, DoorbellDescriptor.LENGTH);
        final int wanted = preferred == Mode.ASYMMETRIC && REGISTERED ? MODE_ASYMMETRIC : MODE_FENCED;
        int state = getIntVolatile(memory, STATE_OFFSET);
        while (DoorbellDescriptor.mode(state) == MODE_UNSET) {
            // Records the mode once; a sleeper flag set meanwhile (by a faster peer) is kept.
            if (compareAndSetInt(memory, STATE_OFFSET, state, state | wanted << MODE_SHIFT)) {
                state |= wanted << MODE_SHIFT;
            } else {
                state = getIntVolatile(memory, STATE_OFFSET);
            }
        }
        final int recorded = DoorbellDescriptor.mode(state);
        this.mode = recorded == MODE_ASYMMETRIC ? Mode.ASYMMETRIC : Mode.FENCED;
        this.wakerSkipsFence = recorded == MODE_ASYMMETRIC && REGISTERED;
        // A peer that recorded garbage may skip its fence: pay for the barrier rather than risk it.
        this.sleeperBarriers = recorded != MODE_FENCED;
    }

    /**
     * Counts this side's sleeps in {@link #await} and wake-ups made by {@link #ring()} into {@code stats},
     * and names the channel in JFR events of sleeps. Call before use, from the thread that will use it; the
     * counters then have that single writer, so pass -1 for what another thread also does here.
     *
     * @param stats        the record, or {@code null} to stop counting
     * @param sleepCounter the counter of sleeps, or -1
     * @param wakeCounter  the counter of wake-ups made, or -1
     * @param what         the channel, for events
     * @param transport    its transport, for events
     */
    public void observe(final StatRecord stats, final int sleepCounter, final int wakeCounter, final String what,
                        final String transport) {
        this.stats = stats;
        this.sleepCounter = sleepCounter;
        this.wakeCounter = wakeCounter;
        this.what = what;
        this.transport = transport;
    }

    /**
     * Wakes every sleeper, if any has announced itself since the last wake-up. Call after publishing what
     * sleepers wait for. Allocation-free; while nobody sleeps it costs one fence and one load (one load in
     * the asymmetric mode).
     *
     * @return whether a sleeper was announced (and a system call made)
     */
    public boolean ring() {
        if (wakerSkipsFence) {
            // Compiler barrier only (no instruction on x86): keeps the caller's publication before the load
            // below in the compiled code, so that the sleeper's membarrier, which fences this CPU, orders the
            // two. Pairs with Membarrier.barrier() in await(). See the class's @apiNote.
            VarHandle.releaseFence();
        } else {
            // Store-load barrier: the caller's publication (a release store) must be visible before we read
            // the flag, or we could miss a sleeper whose re-check ran before the store. Pairs with the
            // sleeper's getAndBitwiseOr(SLEEPING), itself a full fence, in await().
            VarHandle.fullFence();
        }
        // acquire: pairs with the sleeper's getAndBitwiseOr(SLEEPING) in await().
        if ((getIntAcquire(memory, STATE_OFFSET) & SLEEPING) == 0) {
            return false;
        }
        wakeSlow();
        final StatRecord counters = stats;
        if (counters != null && wakeCounter >= 0) {
            counters.increment(wakeCounter);
        }
        return true;
    }

    private void wakeSlow() {
        // Clears the flag before the wake-up: a sleeper announcing itself after this read-modify-write
        // either sees the new sequence or is seen by the next ring. Pairs with getAndBitwiseOr in await().
        INT.getAndBitwiseAnd(memory, (long) STATE_OFFSET, ~SLEEPING);
        // volatile: a sleeper that read the old sequence returns from FUTEX_WAIT at once.
        sequence.getAndAdd(1);
        sequence.wakeAll();
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
        // volatile: pairs with the waker's getAndAdd(1) on the sequence in wakeSlow().
        final int observed = getIntVolatile(memory, SEQUENCE_OFFSET);
        // Full fence (a locked read-modify-write): the announcement is visible before the re-check reads.
        // Pairs with ring()'s fullFence before it reads the flag, and with its clearing in wakeSlow().
        INT.getAndBitwiseOr(memory, (long) STATE_OFFSET, SLEEPING);
        long sleepNs = timeoutNs;
        if (sleeperBarriers) {
            if (CAN_BARRIER) {
                // Pairs with ring()'s fence-free load of the flag: every registered waker's CPU executes a
                // full fence now, so either it sees our announcement or we see its publication.
                Membarrier.barrier();
            } else {
                sleepNs = Math.min(timeoutNs, UNBARRIERED_SLEEP_CAP_NS);
            }
        }
        if (ready.getAsBoolean()) {
            return true;
        }
        final StatRecord counters = stats;
        if (counters != null && sleepCounter >= 0) {
            counters.increment(sleepCounter);
        }
        final ChannelEvents.Wait wait = ChannelEvents.beginWait();
        sequence.await(observed, sleepNs);
        ChannelEvents.endWait(wait, what, transport, getIntVolatile(memory, SEQUENCE_OFFSET) != observed);
        return false;
    }

    /**
     * {@return the mode recorded in this doorbell, which both sides follow}
     */
    public Mode mode() {
        return mode;
    }

    /**
     * {@return 1 if a sleeper has announced itself since the last wake-up, else 0, for diagnostics}
     *
     * @apiNote This was a count of sleepers; it is now a flag that the waker clears, so it may read 1
     * after the sleeper has returned (the next ring then makes one system call) and 0 while one still
     * sleeps after a wake-up that it has not yet observed.
     */
    public int sleepers() {
        return getIntVolatile(memory, STATE_OFFSET) & SLEEPING;
    }

    /**
     * {@return how many times a waker found a sleeper announced and woke it, for diagnostics}
     */
    public int sequence() {
        return sequence.getVolatile();
    }

    private static Mode defaultMode() {
        final String value = System.getProperty("isthmus.doorbell.mode", "fenced").toLowerCase(Locale.ROOT);
        return switch (value) {
            case "asymmetric" -> Mode.ASYMMETRIC;
            // Anything else, misspellings included, gets the mode that is safe everywhere.
            default -> Mode.FENCED;
        };
    }
}
