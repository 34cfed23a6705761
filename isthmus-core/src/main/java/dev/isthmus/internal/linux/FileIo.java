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

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * File descriptors: {@code open}, {@code close}, {@code fchmod}, {@code fallocate}, {@code lseek},
 * {@code memfd_create}, {@code statx}, {@code flock}, {@code unlink}.
 *
 * <p>Every method retries {@code EINTR}, returns what the caller is expected to handle, and throws a
 * {@link dev.isthmus.NativeException} naming the call and the path for anything else.
 */
public final class FileIo {
    /** Open for reading only. */
    public static final int O_RDONLY = 0;
    /** Open for reading and writing. */
    public static final int O_RDWR = 2;
    /** Create the file if it does not exist. */
    public static final int O_CREAT = 0100;
    /** With {@link #O_CREAT}: fail with {@code EEXIST} if the name exists, even as a symbolic link. */
    public static final int O_EXCL = 0200;
    /** Close the descriptor on {@code exec}. */
    public static final int O_CLOEXEC = 02000000;
    /**
     * Never block in {@code open} or {@code read}: opening a FIFO for reading returns at once, even without
     * a writer; the same on every architecture.
     */
    public static final int O_NONBLOCK = 04000;
    /** A descriptor that only names a file (no reading or writing); the same on every architecture. */
    private static final int O_PATH = 010000000;

    private static final int SEEK_END = 2;
    private static final int AT_FDCWD = -100;
    private static final int AT_SYMLINK_NOFOLLOW = 0x100;
    private static final int AT_NO_AUTOMOUNT = 0x800;
    private static final int AT_EMPTY_PATH = 0x1000;
    private static final int STATX_TYPE = 0x1;
    private static final int STATX_MODE = 0x2;
    private static final int STATX_BASIC_STATS = 0x7ff;
    private static final int LOCK_SH = 1;
    private static final int LOCK_EX = 2;
    private static final int LOCK_NB = 4;
    // Offsets in struct statx (include/uapi/linux/stat.h), the same on every architecture.
    private static final long STX_UID_OFFSET = 20;
    private static final long STX_GID_OFFSET = 24;
    /** {@code stx_mode} is a u16 at offset 28 of {@code struct statx}, the same on every architecture. */
    private static final long STX_MODE_OFFSET = 28;
    private static final long STX_INO_OFFSET = 32;
    private static final long STX_SIZE_OFFSET = 40;
    private static final long STX_DEV_MAJOR_OFFSET = 136;
    private static final long STX_DEV_MINOR_OFFSET = 140;
    /** The empty path of {@code statx(fd, "", AT_EMPTY_PATH)}, allocated once. */
    private static final MemorySegment EMPTY_PATH = Arena.global().allocateFrom("");

    /** The size of {@code struct statx}: the scratch {@link #mode(int, MemorySegment, String)} needs. */
    public static final long STATX_LENGTH = 256;

    private static final MethodHandle OPEN = Native.downcall("open",
        FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle CLOSE = Native.downcall("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle FCHMOD =
        Native.downcall("fchmod", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle FALLOCATE =
        Native.downcall("fallocate", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle LSEEK =
        Native.downcall("lseek", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    private static final MethodHandle READ =
        Native.downcall("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE =
        Native.downcall("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle FLOCK =
        Native.downcall("flock", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle FTRUNCATE =
        Native.downcall("ftruncate", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MEMFD_CREATE =
        Native.downcall("memfd_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle STATX =
        Native.downcall("statx", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle UNLINK = Native.downcall("unlink", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle FCNTL = Native.downcall("fcntl",
        FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT), Linker.Option.firstVariadicArg(2));

    /** {@code memfd_create} flag: close the descriptor on exec. */
    public static final int MFD_CLOEXEC = 1;
    /** {@code memfd_create} flag: the file accepts seals. */
    public static final int MFD_ALLOW_SEALING = 2;
    /** Seal: no more seals may be added. */
    public static final int F_SEAL_SEAL = 1;
    /** Seal: the file may not shrink. */
    public static final int F_SEAL_SHRINK = 2;
    /** Seal: the file may not grow. */
    public static final int F_SEAL_GROW = 4;
    /** Seal: the file may not be written. */
    public static final int F_SEAL_WRITE = 8;
    /**
     * Seal (Linux 5.1): the file may not be written through any new writable mapping or {@code write}, by
     * anyone; mappings that are writable already stay so.
     */
    public static final int F_SEAL_FUTURE_WRITE = 16;
    private static final int F_DUPFD_CLOEXEC = 1030;
    private static final int F_ADD_SEALS = 1033;
    private static final int F_GET_SEALS = 1034;

    private FileIo() {
    }

    /**
     * Opens a file without following a symbolic link in the last component.
     *
     * @param path  the file
     * @param flags {@code O_*} flags; {@code O_NOFOLLOW} and {@link #O_CLOEXEC} are always added
     * @param mode  the permission bits if the file is created (subject to the umask)
     * @return the file descriptor, or {@code -errno} for {@code ENOENT} and {@code EEXIST}, which callers
     *     report in their own words
     * @throws dev.isthmus.NativeException for any other failure
     */
    public static int open(final String path, final int flags, final int mode) {
        final int fd = tryOpen(path, flags, mode);
        if (fd >= 0 || fd == -Errno.ENOENT || fd == -Errno.EEXIST) {
            return fd;
        }
        throw Errno.exception("open(" + path + ")", -fd);
    }

    /**
     * Opens a file like {@link #open}, without following a symbolic link in the last component, and
     * reports every failure as a return value: for callers that go through many files they do not trust
     * (a sweep of {@code /dev/shm}) and must go on past any one of them.
     *
     * @param path  the file
     * @param flags {@code O_*} flags; {@code O_NOFOLLOW} and {@link #O_CLOEXEC} are always added; add
     *              {@link #O_NONBLOCK} to open a FIFO that may have been planted under the name without
     *              waiting for a writer
     * @param mode  the permission bits if the file is created (subject to the umask)
     * @return the file descriptor, or {@code -errno} on any failure, e.g. {@code -ELOOP} for a symbolic link
     */
    public static int tryOpen(final String path, final int flags, final int mode) {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment cPath = arena.allocateFrom(path);
            final int allFlags = flags | O_CLOEXEC | Platform.arch().oNoFollow;
            int fd;
            do {
                fd = (int) OPEN.invokeExact(state.errnoSegment(), cPath, allFlags, mode);
            } while (fd == -1 && state.errno() == Errno.EINTR);
            return fd >= 0 ? fd : -state.errno();
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Removes a name from the file system ({@code unlink(2)}); the file lives on while descriptors of it are open.
     *
     * @param path the name
     * @return 0, or {@code -errno} on any failure (e.g. {@code -ENOENT}, {@code -EPERM}, {@code -EACCES}), which
     *     callers report in their own words
     */
    public static int unlink(final String path) {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment cPath = arena.allocateFrom(path);
            int rc;
            do {
                rc = (int) UNLINK.invokeExact(state.errnoSegment(), cPath);
            } while (rc == -1 && state.errno() == Errno.EINTR);
            return rc == 0 ? 0 : -state.errno();
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Opens the file an open descriptor refers to once more, with its own access mode: {@code open} of
     * {@code /proc/self/fd/<fd>} (which is a link the kernel resolves to the file itself, even a memfd), e.g. to
     * get a read-only descriptor of a file this process holds read-write.
     *
     * @param fd    the open descriptor
     * @param flags {@link #O_RDONLY} or {@link #O_RDWR}; {@link #O_CLOEXEC} is always added
     * @param what  the file's name, for the error message
     * @return the new descriptor, the caller's to close
     * @throws dev.isthmus.NativeException on failure, e.g. {@code EACCES} when the file's mode excludes this user
     */
    public static int reopen(final int fd, final int flags, final String what) {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment cPath = arena.allocateFrom("/proc/self/fd/" + fd);
            int copy;
            do {
                copy = (int) OPEN.invokeExact(state.errnoSegment(), cPath, flags | O_CLOEXEC, 0);
            } while (copy == -1 && state.errno() == Errno.EINTR);
            if (copy == -1) {
                throw Errno.exception("open(/proc/self/fd/" + fd + " of " + what + ")", state.errno());
            }
            return copy;
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Opens what a {@code /proc/<pid>/fd/<n>} link names (the kernel resolves it to the file itself, even a
     * memfd), following that last link, which {@link #tryOpen} would refuse; every failure is a return value.
     *
     * @param path  the link
     * @param flags {@code O_*} flags; {@link #O_CLOEXEC} is always added
     * @return the descriptor, or {@code -errno}
     */
    public static int openLink(final String path, final int flags) {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment cPath = arena.allocateFrom(path);
            int fd;
            do {
                fd = (int) OPEN.invokeExact(state.errnoSegment(), cPath, flags | O_CLOEXEC, 0);
            } while (fd == -1 && state.errno() == Errno.EINTR);
            return fd == -1 ? -state.errno() : fd;
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Opens a directory only to name it ({@code O_PATH | O_DIRECTORY}), following symbolic links, e.g. to
     * reach a file in it through {@code /proc/self/fd/<fd>/<name>}.
     *
     * @param path the directory
     * @return the descriptor, or {@code -ENOENT} if the directory does not exist
     * @throws dev.isthmus.NativeException for any other failure, e.g. {@code ENOTDIR} or {@code EACCES}
     */
    public static int openDirectoryPath(final String path) {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment cPath = arena.allocateFrom(path);
            final int allFlags = O_PATH | Platform.arch().oDirectory | O_CLOEXEC;
            int fd;
            do {
                fd = (int) OPEN.invokeExact(state.errnoSegment(), cPath, allFlags, 0);
            } while (fd == -1 && state.errno() == Errno.EINTR);
            if (fd >= 0) {
                return fd;
            }
            final int errno = state.errno();
            if (errno == Errno.ENOENT) {
                return -errno;
            }
            throw Errno.exception("open(" + path + ", O_PATH | O_DIRECTORY)", errno);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Closes a file descriptor. {@code EINTR} is not retried: on Linux the descriptor is released anyway.
     *
     * @param fd the descriptor
     * @throws dev.isthmus.NativeException if the descriptor was not open
     */
    public static void close(final int fd) {
        final Native.CallState state = Native.callState();
        final int rc;
        try {
            rc = (int) CLOSE.invokeExact(state.errnoSegment(), fd);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == -1 && state.errno() != Errno.EINTR) {
            throw Errno.exception("close(" + fd + ")", state.errno());
        }
    }

    /**
     * Sets the permission bits of an open file exactly, regardless of the umask.
     *
     * @param fd   the descriptor
     * @param mode the permission bits, e.g. {@code 0600}
     * @param what the file's name, for the error message
     */
    public static void fchmod(final int fd, final int mode, final String what) {
        final Native.CallState state = Native.callState();
        int rc;
        try {
            do {
                rc = (int) FCHMOD.invokeExact(state.errnoSegment(), fd, mode);
            } while (rc == -1 && state.errno() == Errno.EINTR);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == -1) {
            throw Errno.exception("fchmod(" + what + ", 0" + Integer.toOctalString(mode) + ")", state.errno());
        }
    }

    /**
     * Makes sure a file is at least {@code length} bytes long and that its blocks are allocated.
     *
     * <p>Unlike {@code ftruncate}, this never shrinks the file, so two processes growing the same file
     * at once cannot cut off a mapping of the other; and on tmpfs it reserves the memory now, so that a
     * full {@code /dev/shm} is an error here instead of a {@code SIGBUS} on first touch.
     *
     * @param fd     the descriptor, open for writing
     * @param length the minimum file length in bytes
     * @param what   the file's name, for the error message
     * @throws dev.isthmus.NativeException on failure, e.g. {@code ENOSPC}
     */
    public static void allocate(final int fd, final long length, final String what) {
        final Native.CallState state = Native.callState();
        int rc;
        try {
            do {
                rc = (int) FALLOCATE.invokeExact(state.errnoSegment(), fd, 0, 0L, length);
            } while (rc == -1 && state.errno() == Errno.EINTR);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == -1) {
            throw Errno.exception("fallocate(" + what + ", " + length + " bytes)", state.errno());
        }
    }

    /**
     * {@return the current length of an open file}
     *
     * @param fd   the descriptor
     * @param what the file's name, for the error message
     */
    public static long length(final int fd, final String what) {
        final Native.CallState state = Native.callState();
        final long rc;
        try {
            rc = (long) LSEEK.invokeExact(state.errnoSegment(), fd, 0L, SEEK_END);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == -1) {
            throw Errno.exception("lseek(" + what + ", SEEK_END)", state.errno());
        }
        return rc;
    }

    /**
     * Reads from a descriptor into native memory.
     *
     * @param fd     the descriptor
     * @param target where to read into
     * @param what   what the descriptor is, for the error message
     * @return the bytes read, 0 at end of file, or {@code -EAGAIN} if a non-blocking descriptor has nothing
     * @throws dev.isthmus.NativeException on failure
     */
    public static long read(final int fd, final MemorySegment target, final String what) {
        final Native.CallState state = Native.callState();
        long rc;
        try {
            do {
                rc = (long) READ.invokeExact(state.errnoSegment(), fd, target, target.byteSize());
            } while (rc == -1 && state.errno() == Errno.EINTR);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc >= 0) {
            return rc;
        }
        if (state.errno() == Errno.EAGAIN) {
            return -Errno.EAGAIN;
        }
        throw Errno.exception("read(" + what + ")", state.errno());
    }

    /**
     * Writes native memory to a descriptor.
     *
     * @param fd     the descriptor
     * @param source what to write
     * @param what   what the descriptor is, for the error message
     * @return the bytes written, or {@code -EAGAIN} if a non-blocking descriptor takes nothing now
     * @throws dev.isthmus.NativeException on failure, e.g. {@code EPIPE}
     */
    public static long write(final int fd, final MemorySegment source, final String what) {
        final Native.CallState state = Native.callState();
        long rc;
        try {
            do {
                rc = (long) WRITE.invokeExact(state.errnoSegment(), fd, source, source.byteSize());
            } while (rc == -1 && state.errno() == Errno.EINTR);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc >= 0) {
            return rc;
        }
        if (state.errno() == Errno.EAGAIN) {
            return -Errno.EAGAIN;
        }
        throw Errno.exception("write(" + what + ")", state.errno());
    }

    /**
     * Takes an exclusive {@code flock(2)} lock without waiting. Unlike {@code fcntl} locks (what
     * {@link java.nio.channels.FileChannel#tryLock()} takes), it belongs to this open file description: the
     * process closing another descriptor of the same file does not release it, and the kernel releases it
     * when the process dies.
     *
     * @param fd   the descriptor
     * @param what the file's name, for the error message
     * @return whether the lock was taken; {@code false} if another holds it
     * @throws dev.isthmus.NativeException on failure
     */
    public static boolean tryLockExclusive(final int fd, final String what) {
        return flock(fd, LOCK_EX | LOCK_NB, "flock(" + what + ", LOCK_EX|LOCK_NB)");
    }

    /**
     * Takes a shared {@code flock(2)} lock without waiting: granted unless another open file description
     * holds an exclusive lock on the file, which makes it a test of whether the file's owner is alive that
     * never blocks (and that other shared holders do not disturb). Closing the descriptor releases it.
     *
     * @param fd   the descriptor; any access mode
     * @param what the file's name, for the error message
     * @return whether the lock was taken; {@code false} if another holds an exclusive lock
     * @throws dev.isthmus.NativeException on failure
     */
    public static boolean tryLockShared(final int fd, final String what) {
        return flock(fd, LOCK_SH | LOCK_NB, "flock(" + what + ", LOCK_SH|LOCK_NB)");
    }

    private static boolean flock(final int fd, final int operation, final String call) {
        final Native.CallState state = Native.callState();
        int rc;
        try {
            do {
                rc = (int) FLOCK.invokeExact(state.errnoSegment(), fd, operation);
            } while (rc == -1 && state.errno() == Errno.EINTR);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == 0) {
            return true;
        }
        if (state.errno() == Errno.EAGAIN) {
            return false;
        }
        throw Errno.exception(call, state.errno());
    }

    /**
     * Sets a file's length.
     *
     * @param fd     the descriptor, open for writing
     * @param length the new length
     * @param what   the file's name, for the error message
     */
    public static void truncate(final int fd, final long length, final String what) {
        final Native.CallState state = Native.callState();
        int rc;
        try {
            do {
                rc = (int) FTRUNCATE.invokeExact(state.errnoSegment(), fd, length);
            } while (rc == -1 && state.errno() == Errno.EINTR);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == -1) {
            throw Errno.exception("ftruncate(" + what + ", " + length + ")", state.errno());
        }
    }

    /**
     * Creates an anonymous file in memory, as {@code memfd_create(name, MFD_CLOEXEC)}.
     *
     * @param name a name for diagnostics ({@code /proc/<pid>/fd} shows it as {@code /memfd:name})
     * @return the descriptor
     * @throws dev.isthmus.NativeException on failure
     */
    public static int memfdCreate(final String name) {
        return memfdCreate(name, MFD_CLOEXEC);
    }

    /**
     * Creates an anonymous file in memory, as {@code memfd_create(name, flags)}.
     *
     * @param name  a name for diagnostics ({@code /proc/<pid>/fd} shows it as {@code /memfd:name})
     * @param flags {@link #MFD_CLOEXEC}, {@link #MFD_ALLOW_SEALING}
     * @return the descriptor
     * @throws dev.isthmus.NativeException on failure
     */
    public static int memfdCreate(final String name, final int flags) {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment cName = arena.allocateFrom(name);
            final int fd = (int) MEMFD_CREATE.invokeExact(state.errnoSegment(), cName, flags);
            if (fd == -1) {
                throw Errno.exception("memfd_create(" + name + ")", state.errno());
            }
            return fd;
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Adds seals to a file created with {@link #MFD_ALLOW_SEALING}: {@code fcntl(fd, F_ADD_SEALS, seals)}.
     *
     * @param fd    the descriptor
     * @param seals {@code F_SEAL_*} bits
     * @param what  the file's name, for the error message
     * @throws dev.isthmus.NativeException on failure, e.g. {@code EPERM} once {@link #F_SEAL_SEAL} is set
     */
    public static void addSeals(final int fd, final int seals, final String what) {
        if (fcntl(fd, F_ADD_SEALS, seals, what) == -1) {
            throw Errno.exception("fcntl(" + what + ", F_ADD_SEALS, " + seals + ")", Native.callState().errno());
        }
    }

    /**
     * {@return the seals of a file, {@code fcntl(fd, F_GET_SEALS)}, or -1 if it cannot carry seals (not a
     * memfd or another shmem file); a memfd created without {@link #MFD_ALLOW_SEALING} reports
     * {@link #F_SEAL_SEAL}}
     *
     * @param fd   the descriptor
     * @param what the file's name, for the error message
     * @throws dev.isthmus.NativeException on any other failure
     */
    public static int seals(final int fd, final String what) {
        final int seals = fcntl(fd, F_GET_SEALS, 0, what);
        if (seals == -1) {
            final int errno = Native.callState().errno();
            if (errno == Errno.EINVAL) {
                return -1;
            }
            throw Errno.exception("fcntl(" + what + ", F_GET_SEALS)", errno);
        }
        return seals;
    }

    /**
     * {@return a new descriptor of the same open file, close-on-exec ({@code F_DUPFD_CLOEXEC}), the caller's
     * to close}
     *
     * @param fd   the descriptor
     * @param what the file's name, for the error message
     * @throws dev.isthmus.NativeException on failure, e.g. {@code EMFILE}
     */
    public static int duplicate(final int fd, final String what) {
        final int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0, what);
        if (copy == -1) {
            throw Errno.exception("fcntl(" + what + ", F_DUPFD_CLOEXEC)", Native.callState().errno());
        }
        return copy;
    }

    /** {@code fcntl} with an int argument; -1 with errno in this thread's call state on failure. */
    private static int fcntl(final int fd, final int command, final int argument, final String what) {
        final Native.CallState state = Native.callState();
        try {
            int rc;
            do {
                rc = (int) FCNTL.invokeExact(state.errnoSegment(), fd, command, argument);
            } while (rc == -1 && state.errno() == Errno.EINTR);
            return rc;
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * {@return the permission bits of an open file, with the set-user-ID, set-group-ID and sticky bits,
     * e.g. {@code 0600}: {@code statx(fd, "", AT_EMPTY_PATH)}, which works on any descriptor, including
     * a POSIX message queue's}
     *
     * <p>Allocates its scratch memory: see {@link #mode(int, MemorySegment, String)} for repeated calls.
     *
     * @param fd   the descriptor
     * @param what the file's name, for the error message
     * @throws dev.isthmus.NativeException on failure
     */
    public static int mode(final int fd, final String what) {
        try (Arena arena = Arena.ofConfined()) {
            return mode(fd, arena.allocate(STATX_LENGTH, 8), what);
        }
    }

    /**
     * {@return the permission bits of an open file, like {@link #mode(int, String)}, without allocating}
     *
     * @param fd      the descriptor
     * @param scratch native memory of at least {@link #STATX_LENGTH} bytes, 8-byte aligned, that receives
     *                the {@code struct statx}
     * @param what    the file's name, for the error message
     * @throws dev.isthmus.NativeException on failure
     */
    public static int mode(final int fd, final MemorySegment scratch, final String what) {
        if (scratch.byteSize() < STATX_LENGTH) {
            throw new IllegalArgumentException("scratch.byteSize=" + scratch.byteSize() + " must be >= " + STATX_LENGTH);
        }
        final Native.CallState state = Native.callState();
        int rc;
        try {
            do {
                rc = (int) STATX.invokeExact(state.errnoSegment(), fd, EMPTY_PATH, AT_EMPTY_PATH,
                    STATX_TYPE | STATX_MODE, scratch);
            } while (rc == -1 && state.errno() == Errno.EINTR);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == -1) {
            throw Errno.exception("statx(" + what + ")", state.errno());
        }
        return Short.toUnsignedInt(scratch.get(JAVA_SHORT, STX_MODE_OFFSET)) & 07777;
    }

    /** {@code S_IFMT}: the file-type bits of a mode. */
    public static final int S_IFMT = 0170000;
    /** {@code S_IFREG}: a regular file. */
    public static final int S_IFREG = 0100000;
    /** {@code S_IFSOCK}: a socket. */
    public static final int S_IFSOCK = 0140000;
    /** {@code S_IFLNK}: a symbolic link. */
    public static final int S_IFLNK = 0120000;
    /** {@code S_IFDIR}: a directory. */
    public static final int S_IFDIR = 0040000;
    /** {@code S_IFIFO}: a FIFO (named pipe). */
    public static final int S_IFIFO = 0010000;
    /** {@code S_IFCHR}: a character device. */
    public static final int S_IFCHR = 0020000;
    /** {@code S_IFBLK}: a block device. */
    public static final int S_IFBLK = 0060000;

    /**
     * What {@code statx} says of a file.
     *
     * @param mode      file type and permission bits, as {@code st_mode}
     * @param uid       the owner's user id
     * @param gid       the owner's group id
     * @param sizeBytes the length (of a symbolic link: of its target's path)
     * @param device    the device holding the file: {@code major << 32 | minor}
     * @param inode     the inode number on that device
     */
    public record Stat(int mode, int uid, int gid, long sizeBytes, long device, long inode) {
        /** {@return the file-type bits of the mode, e.g. {@link #S_IFREG}} */
        public int type() {
            return mode & S_IFMT;
        }

        /** {@return whether this is a regular file} */
        public boolean isRegularFile() {
            return type() == S_IFREG;
        }

        /** {@return whether this is a socket} */
        public boolean isSocket() {
            return type() == S_IFSOCK;
        }

        /**
         * {@return whether both describe the same file: the same inode on the same device}
         *
         * @param other another file's status
         */
        public boolean isSameFile(final Stat other) {
            return device == other.device && inode == other.inode;
        }

        /** {@return the file type in words, e.g. {@code "FIFO"}, for messages} */
        public String typeName() {
            return switch (type()) {
                case S_IFREG -> "regular file";
                case S_IFDIR -> "directory";
                case S_IFLNK -> "symbolic link";
                case S_IFIFO -> "FIFO";
                case S_IFSOCK -> "socket";
                case S_IFCHR -> "character device";
                case S_IFBLK -> "block device";
                default -> "file of type 0" + Integer.toOctalString(type());
            };
        }
    }

    /**
     * {@return the status of an open file: {@code statx(fd, "", AT_EMPTY_PATH)}}
     *
     * @param fd   the descriptor
     * @param what the file's name, for the error message
     * @throws dev.isthmus.NativeException on failure
     */
    public static Stat stat(final int fd, final String what) {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment buffer = arena.allocate(STATX_LENGTH, 8);
            final int errno = statx(fd, EMPTY_PATH, AT_EMPTY_PATH, buffer);
            if (errno != 0) {
                throw Errno.exception("statx(" + what + ")", errno);
            }
            return stat(buffer);
        }
    }

    /**
     * {@return the status of a name itself, not following a symbolic link (as {@code lstat}), or
     * {@code null} if nothing has that name}
     *
     * @param path the name
     * @throws dev.isthmus.NativeException on any other failure, e.g. {@code EACCES} on a directory of the path
     */
    public static Stat statNoFollow(final String path) {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment buffer = arena.allocate(STATX_LENGTH, 8);
            final int errno = statx(AT_FDCWD, arena.allocateFrom(path), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, buffer);
            if (errno == Errno.ENOENT) {
                return null;
            }
            if (errno != 0) {
                throw Errno.exception("statx(" + path + ", AT_SYMLINK_NOFOLLOW)", errno);
            }
            return stat(buffer);
        }
    }

    /** {@code statx} of the basic fields; 0 or the errno. */
    private static int statx(final int dirFd, final MemorySegment path, final int flags, final MemorySegment buffer) {
        final Native.CallState state = Native.callState();
        int rc;
        try {
            do {
                rc = (int) STATX.invokeExact(state.errnoSegment(), dirFd, path, flags, STATX_BASIC_STATS, buffer);
            } while (rc == -1 && state.errno() == Errno.EINTR);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        return rc == 0 ? 0 : state.errno();
    }

    private static Stat stat(final MemorySegment buffer) {
        final long device = (Integer.toUnsignedLong(buffer.get(JAVA_INT, STX_DEV_MAJOR_OFFSET)) << 32)
            | Integer.toUnsignedLong(buffer.get(JAVA_INT, STX_DEV_MINOR_OFFSET));
        return new Stat(Short.toUnsignedInt(buffer.get(JAVA_SHORT, STX_MODE_OFFSET)), buffer.get(JAVA_INT, STX_UID_OFFSET),
            buffer.get(JAVA_INT, STX_GID_OFFSET), buffer.get(JAVA_LONG, STX_SIZE_OFFSET), device,
            buffer.get(JAVA_LONG, STX_INO_OFFSET));
    }
}
