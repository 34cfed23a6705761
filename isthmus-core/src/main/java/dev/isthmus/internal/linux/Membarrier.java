/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.linux;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * {@code membarrier(2)} with {@code MEMBARRIER_CMD_GLOBAL_EXPEDITED}: an asymmetric memory barrier across
 * processes.
 *
 * <p>A process that has {@linkplain #isRegistered() registered} may leave out the full fence on its hot
 * path (store, then load of another process's flag); the other side, on its slow path, calls
 * {@link #barrier()}, which makes every CPU running a registered process execute a full memory barrier
 * before it returns. Together the two sides form the store-load ordering the Dekker pattern needs,
 * while the fast side pays nothing (but for a compiler barrier: see {@link dev.isthmus.sync.Doorbell}).
 */
public final class Membarrier {
    private static final long CMD_QUERY = 0;
    private static final long CMD_GLOBAL_EXPEDITED = 1 << 1;
    private static final long CMD_REGISTER_GLOBAL_EXPEDITED = 1 << 2;

    private static final MethodHandle SYSCALL = Native.downcall("syscall",
        FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG), Linker.Option.firstVariadicArg(1));

    private static final boolean SUPPORTED = querySupported();
    private static final boolean REGISTERED = SUPPORTED && register();

    private Membarrier() {
    }

    /**
     * {@return whether this process is registered for expedited global barriers, so that its fast paths
     * may rely on other processes calling {@link #barrier()}}
     *
     * <p>False if the kernel lacks the commands, or if the system property
     * {@code isthmus.membarrier} is {@code false}.
     */
    public static boolean isRegistered() {
        return REGISTERED;
    }

    /**
     * {@return whether this process can issue {@link #barrier()}: the kernel has the expedited global
     * commands, whether or not this process registered}
     */
    public static boolean isSupported() {
        return SUPPORTED;
    }

    /**
     * Makes every CPU that runs a registered process execute a full memory barrier. Costs a system call
     * and inter-processor interrupts: for slow paths only, such as going to sleep.
     *
     * @throws dev.isthmus.NativeException if the kernel refuses
     */
    public static void barrier() {
        final long rc = call(CMD_GLOBAL_EXPEDITED);
        if (rc < 0) {
            throw Errno.exception("membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)", (int) -rc);
        }
    }

    private static boolean querySupported() {
        final long supported = call(CMD_QUERY);
        return supported >= 0 && (supported & CMD_GLOBAL_EXPEDITED) != 0
            && (supported & CMD_REGISTER_GLOBAL_EXPEDITED) != 0;
    }

    private static boolean register() {
        if (!Boolean.parseBoolean(System.getProperty("isthmus.membarrier", "true"))) {
            return false;
        }
        return call(CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
    }

    /** {@return the call's result, or {@code -errno}} */
    private static long call(final long command) {
        final Native.CallState state = Native.callState();
        long rc;
        try {
            do {
                rc = (long) SYSCALL.invokeExact(state.errnoSegment(), Platform.arch().sysMembarrier, command, 0L, 0L);
            } while (rc == -1 && state.errno() == Errno.EINTR);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        return rc == -1 ? -state.errno() : rc;
    }
}
