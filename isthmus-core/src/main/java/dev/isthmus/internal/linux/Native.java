/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.Optional;

/**
 * The only place that creates downcall handles.
 *
 * <p>Every handle is created once, in a {@code static final} field of the class that wraps the call.
 * Handles made by {@link #downcall} take the per-thread {@link CallState#errno() errno capture segment}
 * as their first argument ({@code Linker.Option.captureCallState("errno")}), so that the {@code errno}
 * of a failed call is read reliably, without another native call in between.
 */
public final class Native {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
        CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    private static final ThreadLocal<CallState> CALL_STATE = ThreadLocal.withInitial(CallState::new);

    private Native() {
    }

    /**
     * Per-thread scratch memory for native calls: the errno capture segment and a {@code timespec}.
     *
     * <p>Allocated once per thread from an automatic arena, so that calls on the hot path allocate
     * nothing. A {@code CallState} must only be used by the thread that obtained it.
     */
    public static final class CallState {
        private final MemorySegment errno;
        private final MemorySegment timespec;

        CallState() {
            final Arena arena = Arena.ofAuto();
            errno = arena.allocate(CAPTURE_LAYOUT);
            timespec = arena.allocate(16, 8);
        }

        /**
         * {@return the segment that receives {@code errno}, to pass as the first argument of a handle}
         */
        public MemorySegment errnoSegment() {
            return errno;
        }

        /**
         * {@return the {@code errno} captured by the last call made with this state}
         */
        public int errno() {
            return (int) ERRNO.get(errno, 0L);
        }

        /**
         * Fills the {@code struct timespec} scratch with a relative duration and returns it.
         *
         * @param durationNs the duration, at least 0
         * @return the scratch {@code timespec}
         */
        public MemorySegment timespec(final long durationNs) {
            timespec.set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, durationNs / 1_000_000_000L);
            timespec.set(java.lang.foreign.ValueLayout.JAVA_LONG, 8, durationNs % 1_000_000_000L);
            return timespec;
        }
    }

    /**
     * {@return the calling thread's call state}
     */
    public static CallState callState() {
        return CALL_STATE.get();
    }

    /**
     * Creates a handle for a C library function that reports failure through {@code errno}.
     *
     * @param name       the symbol
     * @param descriptor the C signature
     * @param options    further linker options, e.g. {@code firstVariadicArg}
     * @return a handle whose first parameter is the errno capture segment
     * @throws UnsupportedOperationException if the platform is not supported
     * @throws IllegalStateException         if the C library lacks the symbol
     */
    @SuppressWarnings("restricted")
    static MethodHandle downcall(final String name, final FunctionDescriptor descriptor, final Linker.Option... options) {
        Platform.requireSupported();
        final MemorySegment symbol = LIBC.find(name)
            .orElseThrow(() -> new IllegalStateException("the C library has no function " + name));
        final Linker.Option[] all = Arrays.copyOf(options, options.length + 1);
        all[options.length] = CAPTURE_ERRNO;
        return LINKER.downcallHandle(symbol, descriptor, all);
    }

    /**
     * Creates a handle for a function that never fails, or whose failure is not reported through errno.
     *
     * @param name   the symbol
     * @param result the result layout
     * @param args   the parameter layouts
     * @return the handle, or empty if the platform is not supported or the C library lacks the symbol
     */
    @SuppressWarnings("restricted")
    static Optional<MethodHandle> optionalDowncallWithoutErrno(
        final String name, final MemoryLayout result, final MemoryLayout... args) {
        if (!Platform.isSupported()) {
            return Optional.empty();
        }
        return LIBC.find(name).map(symbol -> LINKER.downcallHandle(symbol, FunctionDescriptor.of(result, args)));
    }

    /**
     * {@return {@code t} as an unchecked throwable, for the {@code catch} around {@code invokeExact}}
     *
     * <p>Downcalls throw only what the linker throws (errors, illegal arguments, closed scopes); none of
     * them is checked, so this wraps nothing in practice.
     *
     * @param t what a downcall threw
     */
    static RuntimeException rethrow(final Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException("native call failed", t);
    }
}
