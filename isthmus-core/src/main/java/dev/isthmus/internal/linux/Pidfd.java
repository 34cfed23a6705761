/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Process file descriptors ({@code pidfd_open(2)}, Linux 5.3): a descriptor that refers to one process
 * and becomes readable when it exits, so that checking a peer's liveness needs neither {@code /proc} nor
 * a pid that could be reused.
 */
public final class Pidfd {
    private static final short POLLIN = 0x1;

    private static final MethodHandle SYSCALL = Native.downcall("syscall",
        FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG), Linker.Option.firstVariadicArg(1));
    private static final MethodHandle POLL =
        Native.downcall("poll", FunctionDescriptor.of(JAVA_INT, java.lang.foreign.ValueLayout.ADDRESS, JAVA_LONG, JAVA_INT));

    private Pidfd() {
    }

    /**
     * Opens a process descriptor.
     *
     * @param pid the process id
     * @return the descriptor, or {@code -errno}: {@code -ESRCH} if there is no such process,
     *     {@code -ENOSYS} if the kernel has no pidfd
     */
    public static int open(final long pid) {
        final Native.CallState state = Native.callState();
        final long rc;
        try {
            rc = (long) SYSCALL.invokeExact(state.errnoSegment(), Platform.arch().sysPidfdOpen, pid, 0L);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        return rc >= 0 ? (int) rc : -state.errno();
    }

    /**
     * {@return the process's pids as the kernel shows them for a process descriptor of this process's: the
     * {@code NSpid} line of {@code /proc/self/fdinfo/<pidfd>}, from the pid namespace of this process's
     * {@code /proc} down to the process's own; {@code {0}} if the process lives in a pid namespace this
     * one cannot see into (a sibling container), {@code {-1}} once it has exited}
     *
     * <p>For a process in this pid namespace the array has one element, its pid; for one in a nested
     * namespace (a container this process started) the first element is its pid here and the last its
     * pid there.
     *
     * @param pidfd a process descriptor
     * @throws dev.isthmus.NativeException if the descriptor's fdinfo cannot be read
     */
    public static long[] namespacePids(final int pidfd) {
        final java.nio.file.Path info = java.nio.file.Path.of("/proc/self/fdinfo/" + pidfd);
        final java.util.List<String> lines;
        try {
            lines = java.nio.file.Files.readAllLines(info, java.nio.charset.StandardCharsets.US_ASCII);
        } catch (final java.io.IOException e) {
            throw new dev.isthmus.NativeException("read(" + info + ")", Errno.EIO, "EIO", e.toString());
        }
        String pidLine = null;
        for (final String line : lines) {
            if (line.startsWith("NSpid:")) {
                return parsePids(line.substring(6));
            }
            if (line.startsWith("Pid:")) {
                pidLine = line.substring(4);
            }
        }
        if (pidLine == null) {
            throw new dev.isthmus.NativeException("read(" + info + ")", Errno.EINVAL, "EINVAL",
                "fd " + pidfd + " is not a process descriptor");
        }
        return parsePids(pidLine);
    }

    private static long[] parsePids(final String text) {
        final String[] fields = text.trim().split("\\s+");
        final long[] pids = new long[fields.length];
        for (int i = 0; i < fields.length; i++) {
            pids[i] = Long.parseLong(fields[i]);
        }
        return pids;
    }

    /**
     * A reusable {@code struct pollfd} for one process descriptor, so that checks allocate nothing.
     */
    public static final class Probe implements AutoCloseable {
        private final Arena arena = Arena.ofShared();
        private final MemorySegment pollfd = arena.allocate(8, 4);
        private final int fd;
        private boolean closed;

        /**
         * Wraps an open process descriptor, which the probe then owns.
         *
         * @param fd a descriptor from {@link #open(long)}
         */
        public Probe(final int fd) {
            this.fd = fd;
        }

        /**
         * {@return whether the process has exited (it may be a zombie not yet reaped); {@code true} once the
         * probe is closed}
         */
        public synchronized boolean hasExited() {
            if (closed) {
                // Nothing can be told any more: whoever still asks is told the process is gone.
                return true;
            }
            pollfd.set(JAVA_INT, 0, fd);
            pollfd.set(JAVA_SHORT, 4, POLLIN);
            pollfd.set(JAVA_SHORT, 6, (short) 0);
            final Native.CallState state = Native.callState();
            int rc;
            try {
                do {
                    rc = (int) POLL.invokeExact(state.errnoSegment(), pollfd, 1L, 0);
                } while (rc == -1 && state.errno() == Errno.EINTR);
            } catch (final Throwable t) {
                throw Native.rethrow(t);
            }
            if (rc < 0) {
                throw Errno.exception("poll(pidfd " + fd + ")", state.errno());
            }
            return rc > 0;
        }

        /** Closes the descriptor. Idempotent. */
        @Override
        public synchronized void close() {
            if (!closed) {
                closed = true;
                FileIo.close(fd);
                arena.close();
            }
        }
    }
}
