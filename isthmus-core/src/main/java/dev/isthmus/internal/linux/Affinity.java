/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * CPU affinity of the calling thread: {@code sched_getaffinity} and {@code sched_setaffinity} with tid 0.
 */
public final class Affinity {
    /** Bytes of the CPU mask: 1024 CPUs, glibc's {@code cpu_set_t}. */
    private static final long MASK_BYTES = 128;

    private static final MethodHandle GET =
        Native.downcall("sched_getaffinity", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS));
    private static final MethodHandle SET =
        Native.downcall("sched_setaffinity", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS));

    private static final MethodHandle SET_PRIORITY =
        Native.downcall("setpriority", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final int PRIO_PROCESS = 0;

    private Affinity() {
    }

    /**
     * Sets the calling thread's nice value ({@code setpriority(PRIO_PROCESS, 0, nice)}: on Linux the nice
     * value is a thread's own).
     *
     * @param nice the nice value, -20 (most favoured) to 19
     * @return 0, or the errno: {@code EACCES}/{@code EPERM} if lowering it is not allowed
     */
    public static int setNice(final int nice) {
        final Native.CallState state = Native.callState();
        try {
            final int rc = (int) SET_PRIORITY.invokeExact(state.errnoSegment(), PRIO_PROCESS, 0, nice);
            return rc == 0 ? 0 : state.errno();
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * {@return the CPUs the calling thread may run on, in ascending order}
     */
    public static List<Integer> allowedCpus() {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment mask = arena.allocate(MASK_BYTES, 8);
            final int rc = (int) GET.invokeExact(state.errnoSegment(), 0, MASK_BYTES, mask);
            if (rc != 0) {
                throw Errno.exception("sched_getaffinity", state.errno());
            }
            final List<Integer> cpus = new ArrayList<>();
            for (int cpu = 0; cpu < MASK_BYTES * 8; cpu++) {
                if ((mask.get(JAVA_BYTE, cpu / 8) >> (cpu % 8) & 1) != 0) {
                    cpus.add(cpu);
                }
            }
            return cpus;
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Lets the calling thread run on any of the given CPUs.
     *
     * @param cpus the CPU numbers
     * @throws dev.isthmus.NativeException if the kernel refuses
     */
    public static void allow(final List<Integer> cpus) {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment mask = arena.allocate(MASK_BYTES, 8);
            for (final int cpu : cpus) {
                if (cpu < 0 || cpu >= MASK_BYTES * 8) {
                    throw new IllegalArgumentException("cpu=" + cpu + " must be in [0, " + MASK_BYTES * 8 + ")");
                }
                mask.set(JAVA_BYTE, cpu / 8,
                    (byte) (mask.get(JAVA_BYTE, cpu / 8) | 1 << (cpu % 8)));
            }
            final int rc = (int) SET.invokeExact(state.errnoSegment(), 0, MASK_BYTES, mask);
            if (rc != 0) {
                throw Errno.exception("sched_setaffinity(" + cpus + ")", state.errno());
            }
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Restricts the calling thread to one CPU.
     *
     * @param cpu the CPU number
     * @throws dev.isthmus.NativeException if the kernel refuses (e.g. the CPU is not allowed)
     */
    public static void pinCurrentThread(final int cpu) {
        allow(List.of(cpu));
    }
}
