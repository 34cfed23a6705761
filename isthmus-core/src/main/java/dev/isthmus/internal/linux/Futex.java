/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.linux;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * {@code futex(2)} on a 4-byte word in shared memory, with the <em>shared</em> operations: a private
 * futex ({@code FUTEX_PRIVATE_FLAG}) is keyed by the address space and would not wake another process.
 *
 * <p>The word is passed to the kernel as a 4-byte {@link MemorySegment}, so the linker keeps its
 * mapping alive for the duration of the call and rejects a closed one.
 */
public final class Futex {
    /** {@link #await} returned because of a wake-up, or spuriously: re-check the condition. */
    public static final int WOKEN = 0;
    /** {@link #await} returned at once because the word no longer held the expected value. */
    public static final int VALUE_CHANGED = 1;
    /** {@link #await} returned because the timeout elapsed. */
    public static final int TIMED_OUT = 2;

    private static final long FUTEX_WAIT = 0;
    private static final long FUTEX_WAKE = 1;

    /** {@code long syscall(long number, ...)}; every variadic argument is passed as a full register. */
    private static final MethodHandle SYSCALL = Native.downcall("syscall",
        FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG),
        Linker.Option.firstVariadicArg(1));

    private static final long SYS_FUTEX = Platform.arch().sysFutex;

    private Futex() {
    }

    /**
     * Sleeps while {@code word} holds {@code expected}, until woken or the timeout elapses.
     *
     * @param word      the futex word: a native, 4-byte aligned, 4-byte segment
     * @param expected  the value the caller saw; if the word differs, the call returns at once
     * @param timeoutNs the longest sleep in nanoseconds, or a negative value to sleep until woken
     * @return {@link #WOKEN}, {@link #VALUE_CHANGED} or {@link #TIMED_OUT}
     * @throws dev.isthmus.NativeException on any other failure (a bad address, for instance)
     */
    public static int await(final MemorySegment word, final int expected, final long timeoutNs) {
        final Native.CallState state = Native.callState();
        final MemorySegment timeout = timeoutNs < 0 ? MemorySegment.NULL : state.timespec(timeoutNs);
        final long rc;
        try {
            rc = (long) SYSCALL.invokeExact(state.errnoSegment(), SYS_FUTEX, word, FUTEX_WAIT,
                (long) expected, timeout, 0L, 0L);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == 0) {
            return WOKEN;
        }
        final int errno = state.errno();
        return switch (errno) {
            // A signal interrupted the sleep: report a spurious wake-up; the caller re-checks anyway.
            case Errno.EINTR -> WOKEN;
            case Errno.EAGAIN -> VALUE_CHANGED;
            case Errno.ETIMEDOUT -> TIMED_OUT;
            default -> throw Errno.exception("futex(FUTEX_WAIT)", errno);
        };
    }

    /**
     * Wakes up to {@code count} processes or threads sleeping on {@code word}.
     *
     * @param word  the futex word: a native, 4-byte aligned, 4-byte segment
     * @param count how many sleepers to wake at most, e.g. {@link Integer#MAX_VALUE} for all
     * @return how many were woken
     * @throws dev.isthmus.NativeException if the kernel rejects the call
     */
    public static int wake(final MemorySegment word, final int count) {
        final Native.CallState state = Native.callState();
        long rc;
        do {
            try {
                rc = (long) SYSCALL.invokeExact(state.errnoSegment(), SYS_FUTEX, word, FUTEX_WAKE,
                    (long) count, MemorySegment.NULL, 0L, 0L);
            } catch (final Throwable t) {
                throw Native.rethrow(t);
            }
        } while (rc == -1 && state.errno() == Errno.EINTR);
        if (rc < 0) {
            throw Errno.exception("futex(FUTEX_WAKE)", state.errno());
        }
        return (int) rc;
    }
}
