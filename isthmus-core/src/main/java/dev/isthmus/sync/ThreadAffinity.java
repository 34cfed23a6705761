/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.sync;

import dev.isthmus.internal.linux.Affinity;
import dev.isthmus.internal.linux.Platform;

import java.util.List;

/**
 * Pins threads to CPUs, as latency-sensitive deployments do with their hot threads.
 *
 * <p>Two threads that spin waiting for each other must not share a CPU: the one that would end the other's
 * wait then runs only when the scheduler preempts the spinner, milliseconds later. On machines with as
 * many cores as busy threads (two-core virtual machines, say), the scheduler does put them together now and
 * then; pinning each to its own CPU rules it out.
 *
 * <p>A pinned thread passes its affinity on to the threads and processes it creates: start peer processes
 * before pinning, or {@link #unpin()} first.
 */
public final class ThreadAffinity {
    /** The CPUs of the thread that first used this class, normally all the process may use. */
    private static final List<Integer> INITIAL = Platform.isSupported() ? Affinity.allowedCpus() : List.of();

    private ThreadAffinity() {
    }

    /**
     * Lets the calling thread run on every CPU the process could use when this class was first used.
     */
    public static void unpin() {
        Platform.requireSupported();
        Affinity.allow(INITIAL);
    }

    /**
     * {@return the CPUs this thread may run on}
     */
    public static List<Integer> allowedCpus() {
        Platform.requireSupported();
        return Affinity.allowedCpus();
    }

    /**
     * Pins the calling thread to one CPU.
     *
     * @param cpu the CPU, one of {@link #allowedCpus()}
     * @throws dev.isthmus.NativeException if the kernel refuses
     */
    public static void pinCurrentThread(final int cpu) {
        Platform.requireSupported();
        Affinity.pinCurrentThread(cpu);
    }

    /**
     * Favours the calling thread over the process's other threads (JIT compilers, collectors, housekeeping)
     * and other work on its CPU, if this process may: nice -10, which needs {@code CAP_SYS_NICE} or a
     * {@code RLIMIT_NICE} that allows it. With the kernel's session autogroups, a nice value orders the threads
     * of one login session (this process's among them), not those of others.
     *
     * @return whether the priority was raised; {@code false} if the process may not (nothing changed)
     */
    public static boolean raiseCurrentThreadPriority() {
        Platform.requireSupported();
        return Affinity.setNice(-10) == 0;
    }

    /**
     * Pins the calling thread to the {@code index}-th CPU the process may use (modulo their number), if
     * there are at least two: a no-op on a single CPU, where pinning two threads together would be pointless.
     *
     * @param index which allowed CPU, e.g. 0 for one side of a pair and 1 for the other
     * @return the CPU pinned to, or -1 if none
     */
    public static int pinToAllowed(final int index) {
        final List<Integer> cpus = INITIAL.size() >= 2 ? INITIAL : allowedCpus();
        if (cpus.size() < 2) {
            return -1;
        }
        final int cpu = cpus.get(Math.floorMod(index, cpus.size()));
        pinCurrentThread(cpu);
        return cpu;
    }
}
