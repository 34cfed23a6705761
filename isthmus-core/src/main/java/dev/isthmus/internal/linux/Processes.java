/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.linux;

import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Process liveness and identity: {@code kill(pid, 0)}, {@code /proc/<pid>/stat} and {@code geteuid()}.
 */
public final class Processes {
    /** The process exists (possibly owned by another user). */
    public static final int ALIVE = 0;
    /** No such process, or only its zombie is left. */
    public static final int DEAD = 1;

    private static final MethodHandle KILL = Native.downcall("kill", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    /** {@code geteuid(2)} always succeeds. */
    private Processes() {
    }

    /**
     * Sends signal 0 to a process, which checks its existence without disturbing it.
     *
     * @param pid the process id, greater than 0
     * @return {@link #ALIVE} or {@link #DEAD}
     */
    public static int signalZero(final long pid) {
        if (pid <= 0 || pid > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("pid=" + pid + " is not a process id");
        }
        final Native.CallState state = Native.callState();
        int rc;
        do {
            try {
                rc = (int) KILL.invokeExact(state.errnoSegment(), (int) pid, 0);
            } catch (final Throwable t) {
                throw Native.rethrow(t);
            }
        } while (rc == -1 && state.errno() == Errno.EINTR);
        if (rc == 0) {
            return ALIVE;
        }
        return switch (state.errno()) {
            case Errno.ESRCH -> DEAD;
            // The process exists but belongs to someone we may not signal.
            case Errno.EPERM -> ALIVE;
            default -> throw Errno.exception("kill(" + pid + ", 0)", state.errno());
        };
    }

    /**
     * What {@code /proc/<pid>/stat} says of a process: its state letter and its start time.
     *
     * @param state            the state letter, e.g. {@code 'R'}, {@code 'S'}, or {@code 'Z'} for a zombie
     * @param startTimeTicks   the start time after boot, in clock ticks: with the pid, it identifies the
     *                         process even after the pid is reused
     */
    public record ProcStat(char state, long startTimeTicks) {
        /**
         * {@return whether the process has exited and only its zombie is left}
         */
        public boolean isZombie() {
            return state == 'Z' || state == 'X' || state == 'x';
        }
    }

    /**
     * Reads {@code /proc/<pid>/stat}.
     *
     * @param pid the process id
     * @return the state and start time, or {@code null} if there is no such process
     * @throws dev.isthmus.IsthmusException if the file exists but cannot be read or parsed
     */
    public static ProcStat procStat(final long pid) {
        final String text;
        try {
            text = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.ISO_8859_1);
        } catch (final NoSuchFileException e) {
            return null;
        } catch (final IOException e) {
            // A process that exits while we read it makes the read fail with ESRCH.
            if (!Files.exists(Path.of("/proc", Long.toString(pid)))) {
                return null;
            }
            throw new dev.isthmus.IsthmusException("cannot read /proc/" + pid + "/stat: " + e.getMessage(), e);
        }
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so parse after the last ')'.
        final int close = text.lastIndexOf(')');
        if (close < 0 || close + 2 >= text.length()) {
            throw new dev.isthmus.IsthmusException("unexpected format of /proc/" + pid + "/stat: " + text);
        }
        final String[] fields = text.substring(close + 2).trim().split(" ");
        // fields[0] is field 3 (state); field 22 (starttime) is fields[19].
        if (fields.length < 20) {
            throw new dev.isthmus.IsthmusException("unexpected format of /proc/" + pid + "/stat: " + text);
        }
        return new ProcStat(fields[0].charAt(0), Long.parseLong(fields[19]));
    }
}
