/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.linux;

import dev.isthmus.NativeException;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Linux error numbers (the same on x86-64 and aarch64) and their translation into exceptions.
 *
 * <p>This is the one place where an {@code errno} becomes a {@link NativeException}: callers retry
 * {@link #EINTR}, treat {@link #EAGAIN} as a result, handle the values they expect, and hand anything
 * else to {@link #exception(String, int)}.
 */
public final class Errno {
    /** Operation not permitted. */
    public static final int EPERM = 1;
    /** No such file or directory. */
    public static final int ENOENT = 2;
    /** No such process. */
    public static final int ESRCH = 3;
    /** Interrupted system call. */
    public static final int EINTR = 4;
    /** Input/output error. */
    public static final int EIO = 5;
    /** Bad file descriptor. */
    public static final int EBADF = 9;
    /** Resource temporarily unavailable (also EWOULDBLOCK). */
    public static final int EAGAIN = 11;
    /** Cannot allocate memory. */
    public static final int ENOMEM = 12;
    /** Permission denied. */
    public static final int EACCES = 13;
    /** Bad address. */
    public static final int EFAULT = 14;
    /** File exists. */
    public static final int EEXIST = 17;
    /** No such device: e.g. {@code mmap} of a file that cannot be mapped. */
    public static final int ENODEV = 19;
    /** Not a directory. */
    public static final int ENOTDIR = 20;
    /** Invalid argument. */
    public static final int EINVAL = 22;
    /** Too many open files. */
    public static final int EMFILE = 24;
    /** No space left on device. */
    public static final int ENOSPC = 28;
    /** Broken pipe. */
    public static final int EPIPE = 32;
    /** File name too long. */
    public static final int ENAMETOOLONG = 36;
    /** Function not implemented. */
    public static final int ENOSYS = 38;
    /** Too many levels of symbolic links. */
    public static final int ELOOP = 40;
    /** Message too long. */
    public static final int EMSGSIZE = 90;
    /** Operation not supported. */
    public static final int EOPNOTSUPP = 95;
    /** Address already in use. */
    public static final int EADDRINUSE = 98;
    /** Connection reset by peer. */
    public static final int ECONNRESET = 104;
    /** Transport endpoint is not connected. */
    public static final int ENOTCONN = 107;
    /** Connection timed out. */
    public static final int ETIMEDOUT = 110;
    /** Connection refused. */
    public static final int ECONNREFUSED = 111;

    private static final String[] NAMES = new String[134];

    static {
        final String[] pairs = {
            "1", "EPERM", "2", "ENOENT", "3", "ESRCH", "4", "EINTR", "5", "EIO", "6", "ENXIO", "7", "E2BIG",
            "8", "ENOEXEC", "9", "EBADF", "10", "ECHILD", "11", "EAGAIN", "12", "ENOMEM", "13", "EACCES",
            "14", "EFAULT", "16", "EBUSY", "17", "EEXIST", "18", "EXDEV", "19", "ENODEV", "20", "ENOTDIR",
            "21", "EISDIR", "22", "EINVAL", "23", "ENFILE", "24", "EMFILE", "25", "ENOTTY", "26", "ETXTBSY",
            "27", "EFBIG", "28", "ENOSPC", "29", "ESPIPE", "30", "EROFS", "31", "EMLINK", "32", "EPIPE",
            "34", "ERANGE", "36", "ENAMETOOLONG", "38", "ENOSYS", "39", "ENOTEMPTY", "40", "ELOOP",
            "61", "ENODATA", "75", "EOVERFLOW", "88", "ENOTSOCK", "90", "EMSGSIZE", "91", "EPROTOTYPE",
            "92", "ENOPROTOOPT", "93", "EPROTONOSUPPORT", "95", "EOPNOTSUPP", "97", "EAFNOSUPPORT",
            "98", "EADDRINUSE", "99", "EADDRNOTAVAIL", "103", "ECONNABORTED", "104", "ECONNRESET",
            "105", "ENOBUFS", "106", "EISCONN", "107", "ENOTCONN", "110", "ETIMEDOUT", "111", "ECONNREFUSED",
            "113", "EHOSTUNREACH", "114", "EALREADY", "115", "EINPROGRESS", "122", "EDQUOT",
        };
        for (int i = 0; i < pairs.length; i += 2) {
            NAMES[Integer.parseInt(pairs[i])] = pairs[i + 1];
        }
    }

    /** glibc's {@code strerrordesc_np}: thread-safe, locale-independent; absent before glibc 2.32. */
    private static final Optional<MethodHandle> STRERRORDESC_NP =
        Native.optionalDowncallWithoutErrno("strerrordesc_np", ADDRESS, JAVA_INT);

    private Errno() {
    }

    /**
     * {@return the symbolic name of an error number, e.g. {@code "ENOENT"}, or {@code "errno N"}}
     *
     * @param errno an error number
     */
    public static String name(final int errno) {
        final String name = errno > 0 && errno < NAMES.length ? NAMES[errno] : null;
        return name != null ? name : "errno " + errno;
    }

    /**
     * {@return the system's description of an error number, e.g. {@code "No such file or directory"}}
     *
     * @param errno an error number
     */
    @SuppressWarnings("restricted")
    public static String describe(final int errno) {
        if (STRERRORDESC_NP.isPresent()) {
            try {
                final MemorySegment text = (MemorySegment) STRERRORDESC_NP.get().invokeExact(errno);
                if (!MemorySegment.NULL.equals(text)) {
                    return text.reinterpret(256).getString(0);
                }
            } catch (final Throwable t) {
                throw Native.rethrow(t);
            }
        }
        return "unknown error";
    }

    /**
     * {@return the exception for a call that failed with an error number the caller does not handle}
     *
     * @param call  the function that failed, with the object it worked on where that helps
     * @param errno the error number it set
     */
    public static NativeException exception(final String call, final int errno) {
        return new NativeException(call, errno, name(errno), describe(errno));
    }
}
