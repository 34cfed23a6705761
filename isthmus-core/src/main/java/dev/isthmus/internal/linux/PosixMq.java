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
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * POSIX message queues: {@code mq_open}, {@code mq_send}, {@code mq_receive}, {@code mq_timedsend},
 * {@code mq_timedreceive}, {@code mq_getattr}, {@code mq_setattr}, {@code mq_close}, {@code mq_unlink}
 * (all in {@code libc.so.6} since glibc 2.34; {@code mq_open} is variadic).
 *
 * <p>On Linux a message-queue descriptor ({@code mqd_t}) is a file descriptor: {@link FileIo#fchmod} and
 * {@link FileIo#mode} work on it, and no {@code /dev/mqueue} mount is needed to use queues.
 *
 * <p>Every method retries {@code EINTR}; results the caller is expected to handle ({@code EAGAIN} for a
 * full or empty queue, {@code ETIMEDOUT}, and the {@code errno}s listed per method) are returned as
 * {@code -errno}; anything else throws a {@link dev.isthmus.NativeException} naming the call and the
 * queue. The data calls allocate nothing: they take caller-owned native buffers and use the calling
 * thread's {@link Native.CallState} for {@code errno} and the {@code timespec}.
 *
 * <p>Timed calls take a <em>relative</em> wait and turn it into the absolute {@code CLOCK_REALTIME} deadline
 * that {@code mq_timedsend}/{@code mq_timedreceive} expect. Callers keep each wait short (a slice of at
 * most ~100 ms) and loop: a step of the wall clock then stretches or shortens one slice only, and the
 * caller regains control regularly to check deadlines, liveness and closing.
 */
public final class PosixMq {
    /** Open for reading and writing. */
    public static final int O_RDWR = FileIo.O_RDWR;
    /** Calls on the descriptor return {@code EAGAIN} instead of waiting; the same on x86-64 and aarch64. */
    public static final int O_NONBLOCK = 04000;

    /**
     * {@code struct mq_attr}: four {@code long}s and four reserved {@code long}s, which the kernel copies
     * in and out with the rest (64 bytes in all).
     */
    public static final StructLayout MQ_ATTR = MemoryLayout.structLayout(
        JAVA_LONG.withName("mq_flags"),
        JAVA_LONG.withName("mq_maxmsg"),
        JAVA_LONG.withName("mq_msgsize"),
        JAVA_LONG.withName("mq_curmsgs"),
        MemoryLayout.sequenceLayout(4, JAVA_LONG).withName("__pad")).withName("mq_attr");

    /** Offset of {@code mq_flags} (0 or {@link #O_NONBLOCK}) in {@link #MQ_ATTR}. */
    public static final long MQ_FLAGS_OFFSET = offset("mq_flags");
    /** Offset of {@code mq_maxmsg}, the queue's capacity in messages. */
    public static final long MQ_MAXMSG_OFFSET = offset("mq_maxmsg");
    /** Offset of {@code mq_msgsize}, the largest message in bytes. */
    public static final long MQ_MSGSIZE_OFFSET = offset("mq_msgsize");
    /** Offset of {@code mq_curmsgs}, the number of messages queued now. */
    public static final long MQ_CURMSGS_OFFSET = offset("mq_curmsgs");

    private static final int O_CREAT = FileIo.O_CREAT;
    private static final int O_EXCL = FileIo.O_EXCL;
    private static final int O_CLOEXEC = FileIo.O_CLOEXEC;
    /** Too many open files in the system (not in {@link Errno}'s constants). */
    private static final int ENFILE = 23;
    private static final int CLOCK_REALTIME = 0;
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    /** {@code mqd_t mq_open(const char *name, int oflag, ...)}: the variadic part is {@code (mode_t, struct mq_attr *)}. */
    private static final MethodHandle MQ_OPEN = Native.downcall("mq_open",
        FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS), Linker.Option.firstVariadicArg(2));
    private static final MethodHandle MQ_SEND = Native.downcall("mq_send",
        FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle MQ_TIMEDSEND = Native.downcall("mq_timedsend",
        FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS));
    private static final MethodHandle MQ_RECEIVE = Native.downcall("mq_receive",
        FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS));
    private static final MethodHandle MQ_TIMEDRECEIVE = Native.downcall("mq_timedreceive",
        FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS));
    private static final MethodHandle MQ_GETATTR = Native.downcall("mq_getattr",
        FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle MQ_SETATTR = Native.downcall("mq_setattr",
        FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle MQ_CLOSE = Native.downcall("mq_close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle MQ_UNLINK = Native.downcall("mq_unlink", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    private static final MethodHandle CLOCK_GETTIME = Native.downcall("clock_gettime",
        FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));

    private PosixMq() {
    }

    private static long offset(final String field) {
        return MQ_ATTR.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }

    /**
     * Creates a queue exclusively, as {@code mq_open(name, O_CREAT|O_EXCL|O_RDWR|O_NONBLOCK|O_CLOEXEC, mode, attr)}.
     *
     * @param name        the queue's name: {@code '/'} followed by up to 255 characters without {@code '/'}
     * @param mode        the permission bits (subject to the umask: {@link FileIo#fchmod} the result to set
     *                    them exactly)
     * @param maxMessages the capacity in messages, {@code mq_maxmsg}
     * @param messageSize the largest message in bytes, {@code mq_msgsize}
     * @return the descriptor (non-blocking), or {@code -errno} for the failures callers word themselves:
     *     {@code EEXIST} (the name exists), {@code EINVAL} (a size beyond the kernel's limits, or a bad name),
     *     {@code EMFILE} (the descriptor limit, or {@code RLIMIT_MSGQUEUE}), {@code ENFILE}, {@code ENOSPC}
     *     ({@code queues_max}), {@code ENOMEM}, {@code EACCES}, {@code ENAMETOOLONG}
     * @throws dev.isthmus.NativeException for any other failure
     */
    public static int create(final String name, final int mode, final long maxMessages, final long messageSize) {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment cName = arena.allocateFrom(name);
            final MemorySegment attr = arena.allocate(MQ_ATTR);
            attr.set(JAVA_LONG, MQ_MAXMSG_OFFSET, maxMessages);
            attr.set(JAVA_LONG, MQ_MSGSIZE_OFFSET, messageSize);
            final int flags = O_CREAT | O_EXCL | O_RDWR | O_NONBLOCK | O_CLOEXEC;
            int mqd;
            do {
                mqd = (int) MQ_OPEN.invokeExact(state.errnoSegment(), cName, flags, mode, attr);
            } while (mqd == -1 && state.errno() == Errno.EINTR);
            if (mqd >= 0) {
                return mqd;
            }
            final int errno = state.errno();
            return switch (errno) {
                case Errno.EEXIST, Errno.EINVAL, Errno.EMFILE, Errno.ENOSPC, Errno.ENOMEM, Errno.EACCES,
                     Errno.ENAMETOOLONG, ENFILE -> -errno;
                default -> throw Errno.exception("mq_open(" + name + ", O_CREAT|O_EXCL)", errno);
            };
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Opens an existing queue, as {@code mq_open(name, O_RDWR|O_NONBLOCK|O_CLOEXEC)}.
     *
     * @param name the queue's name, starting with {@code '/'}
     * @return the descriptor (non-blocking), or {@code -errno} for {@code ENOENT}, {@code EACCES},
     *     {@code EMFILE}, {@code ENFILE}, {@code ENAMETOOLONG}, {@code EINVAL} (a bad name)
     * @throws dev.isthmus.NativeException for any other failure
     */
    public static int open(final String name) {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment cName = arena.allocateFrom(name);
            final int flags = O_RDWR | O_NONBLOCK | O_CLOEXEC;
            int mqd;
            do {
                mqd = (int) MQ_OPEN.invokeExact(state.errnoSegment(), cName, flags, 0, MemorySegment.NULL);
            } while (mqd == -1 && state.errno() == Errno.EINTR);
            if (mqd >= 0) {
                return mqd;
            }
            final int errno = state.errno();
            return switch (errno) {
                case Errno.ENOENT, Errno.EACCES, Errno.EMFILE, ENFILE, Errno.ENAMETOOLONG, Errno.EINVAL -> -errno;
                default -> throw Errno.exception("mq_open(" + name + ")", errno);
            };
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Queues a message, as {@code mq_send}: waits for room only if the descriptor is in blocking mode.
     *
     * @param mqd      the descriptor
     * @param buffer   native memory holding the message at offset 0
     * @param length   the message's length, at most the queue's {@code mq_msgsize} and {@code buffer}'s size
     * @param priority the priority: higher ones are received first, equal ones in order
     * @param what     the queue's name, for the error message
     * @return 0, or {@code -EAGAIN} if the queue is full and the descriptor non-blocking
     * @throws dev.isthmus.NativeException for any other failure (e.g. {@code EMSGSIZE}, {@code EBADF})
     */
    public static int send(final int mqd, final MemorySegment buffer, final long length, final int priority,
                           final String what) {
        final Native.CallState state = Native.callState();
        int rc;
        try {
            do {
                rc = (int) MQ_SEND.invokeExact(state.errnoSegment(), mqd, buffer, length, priority);
            } while (rc == -1 && state.errno() == Errno.EINTR);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == 0) {
            return 0;
        }
        final int errno = state.errno();
        if (errno == Errno.EAGAIN) {
            return -Errno.EAGAIN;
        }
        throw Errno.exception("mq_send(" + what + ", " + length + " bytes)", errno);
    }

    /**
     * Queues a message, waiting up to {@code waitNs} for room, as {@code mq_timedsend} with the deadline
     * now + {@code waitNs} on {@code CLOCK_REALTIME}. The descriptor must be in blocking mode
     * ({@link #setNonBlocking}) for the call to wait.
     *
     * @param mqd      the descriptor
     * @param buffer   native memory holding the message at offset 0
     * @param length   the message's length
     * @param priority the priority
     * @param waitNs   the longest wait, at least 0; keep it to a slice of ~100 ms
     * @param what     the queue's name, for the error message
     * @return 0, {@code -ETIMEDOUT} if the queue stayed full, or {@code -EAGAIN} if it is full and the
     *     descriptor non-blocking
     * @throws dev.isthmus.NativeException for any other failure
     */
    public static int timedSend(final int mqd, final MemorySegment buffer, final long length, final int priority,
                                final long waitNs, final String what) {
        final Native.CallState state = Native.callState();
        final MemorySegment deadline = realtimeDeadline(state, waitNs);
        int rc;
        try {
            // EINTR: retry with the same absolute deadline, so interruptions never lengthen the wait.
            do {
                rc = (int) MQ_TIMEDSEND.invokeExact(state.errnoSegment(), mqd, buffer, length, priority, deadline);
            } while (rc == -1 && state.errno() == Errno.EINTR);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == 0) {
            return 0;
        }
        final int errno = state.errno();
        if (errno == Errno.ETIMEDOUT || errno == Errno.EAGAIN) {
            return -errno;
        }
        throw Errno.exception("mq_timedsend(" + what + ", " + length + " bytes)", errno);
    }

    /**
     * Takes the oldest message of the highest priority, as {@code mq_receive}: waits only if the descriptor
     * is in blocking mode.
     *
     * @param mqd      the descriptor
     * @param buffer   native memory of at least the queue's {@code mq_msgsize} bytes (the kernel refuses a
     *                 smaller one with {@code EMSGSIZE}); the message is written at offset 0
     * @param priority a 4-byte native segment that receives the message's priority
     * @param what     the queue's name, for the error message
     * @return the message's length, or {@code -EAGAIN} if the queue is empty and the descriptor non-blocking
     * @throws dev.isthmus.NativeException for any other failure
     */
    public static long receive(final int mqd, final MemorySegment buffer, final MemorySegment priority,
                               final String what) {
        final Native.CallState state = Native.callState();
        long rc;
        try {
            do {
                rc = (long) MQ_RECEIVE.invokeExact(state.errnoSegment(), mqd, buffer, buffer.byteSize(), priority);
            } while (rc == -1 && state.errno() == Errno.EINTR);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc >= 0) {
            return rc;
        }
        final int errno = state.errno();
        if (errno == Errno.EAGAIN) {
            return -Errno.EAGAIN;
        }
        throw Errno.exception("mq_receive(" + what + ")", errno);
    }

    /**
     * Takes a message, waiting up to {@code waitNs} for one, as {@code mq_timedreceive} with the deadline
     * now + {@code waitNs} on {@code CLOCK_REALTIME}. The descriptor must be in blocking mode for the call
     * to wait.
     *
     * @param mqd      the descriptor
     * @param buffer   native memory of at least the queue's {@code mq_msgsize} bytes
     * @param priority a 4-byte native segment that receives the message's priority
     * @param waitNs   the longest wait, at least 0; keep it to a slice of ~100 ms
     * @param what     the queue's name, for the error message
     * @return the message's length, {@code -ETIMEDOUT} if none came, or {@code -EAGAIN} if the queue is empty
     *     and the descriptor non-blocking
     * @throws dev.isthmus.NativeException for any other failure
     */
    public static long timedReceive(final int mqd, final MemorySegment buffer, final MemorySegment priority,
                                    final long waitNs, final String what) {
        final Native.CallState state = Native.callState();
        final MemorySegment deadline = realtimeDeadline(state, waitNs);
        long rc;
        try {
            do {
                rc = (long) MQ_TIMEDRECEIVE.invokeExact(state.errnoSegment(), mqd, buffer, buffer.byteSize(),
                    priority, deadline);
            } while (rc == -1 && state.errno() == Errno.EINTR);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc >= 0) {
            return rc;
        }
        final int errno = state.errno();
        if (errno == Errno.ETIMEDOUT || errno == Errno.EAGAIN) {
            return -errno;
        }
        throw Errno.exception("mq_timedreceive(" + what + ")", errno);
    }

    /**
     * Reads a queue's attributes, as {@code mq_getattr}.
     *
     * @param mqd  the descriptor
     * @param attr a native segment of {@link #MQ_ATTR}'s size, filled in
     * @param what the queue's name, for the error message
     * @throws dev.isthmus.NativeException on failure
     */
    public static void getAttributes(final int mqd, final MemorySegment attr, final String what) {
        final Native.CallState state = Native.callState();
        final int rc;
        try {
            rc = (int) MQ_GETATTR.invokeExact(state.errnoSegment(), mqd, attr);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == -1) {
            throw Errno.exception("mq_getattr(" + what + ")", state.errno());
        }
    }

    /**
     * Switches the descriptor between non-blocking and blocking mode, as {@code mq_setattr}, the only
     * attribute it can change. The mode belongs to this process's open descriptor, not to the queue.
     *
     * @param mqd         the descriptor
     * @param nonBlocking {@code true} for {@link #O_NONBLOCK}
     * @param attr        a native scratch segment of {@link #MQ_ATTR}'s size
     * @param what        the queue's name, for the error message
     * @throws dev.isthmus.NativeException on failure
     */
    public static void setNonBlocking(final int mqd, final boolean nonBlocking, final MemorySegment attr,
                                      final String what) {
        attr.set(JAVA_LONG, MQ_FLAGS_OFFSET, nonBlocking ? O_NONBLOCK : 0);
        final Native.CallState state = Native.callState();
        final int rc;
        try {
            rc = (int) MQ_SETATTR.invokeExact(state.errnoSegment(), mqd, attr, MemorySegment.NULL);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == -1) {
            throw Errno.exception("mq_setattr(" + what + ")", state.errno());
        }
    }

    /**
     * Closes a descriptor, as {@code mq_close}; the queue itself lives on until unlinked and closed
     * everywhere.
     *
     * @param mqd  the descriptor
     * @param what the queue's name, for the error message
     * @throws dev.isthmus.NativeException if the descriptor was not open
     */
    public static void close(final int mqd, final String what) {
        final Native.CallState state = Native.callState();
        final int rc;
        try {
            rc = (int) MQ_CLOSE.invokeExact(state.errnoSegment(), mqd);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        // EINTR: like close(2), the descriptor is released anyway.
        if (rc == -1 && state.errno() != Errno.EINTR) {
            throw Errno.exception("mq_close(" + what + ")", state.errno());
        }
    }

    /**
     * Removes a queue's name, as {@code mq_unlink}; processes that opened it keep using it.
     *
     * @param name the queue's name, starting with {@code '/'}
     * @return 0, or {@code -errno} for {@code ENOENT} (already gone), {@code EACCES} or {@code EPERM}
     *     (another user's queue)
     * @throws dev.isthmus.NativeException for any other failure
     */
    public static int unlink(final String name) {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment cName = arena.allocateFrom(name);
            int rc;
            do {
                rc = (int) MQ_UNLINK.invokeExact(state.errnoSegment(), cName);
            } while (rc == -1 && state.errno() == Errno.EINTR);
            if (rc == 0) {
                return 0;
            }
            final int errno = state.errno();
            if (errno == Errno.ENOENT || errno == Errno.EACCES || errno == Errno.EPERM) {
                return -errno;
            }
            throw Errno.exception("mq_unlink(" + name + ")", errno);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Fills the thread's {@code timespec} scratch with {@code CLOCK_REALTIME} now + {@code waitNs},
     * normalised ({@code 0 <= tv_nsec < 10^9}), which is what the timed calls require.
     */
    private static MemorySegment realtimeDeadline(final Native.CallState state, final long waitNs) {
        final MemorySegment timespec = state.timespec(0);
        final int rc;
        try {
            rc = (int) CLOCK_GETTIME.invokeExact(state.errnoSegment(), CLOCK_REALTIME, timespec);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == -1) {
            throw Errno.exception("clock_gettime(CLOCK_REALTIME)", state.errno());
        }
        final long wait = Math.max(0, waitNs);
        final long nanos = timespec.get(JAVA_LONG, 8) + wait % NANOS_PER_SECOND;
        final long seconds = timespec.get(JAVA_LONG, 0) + wait / NANOS_PER_SECOND + nanos / NANOS_PER_SECOND;
        timespec.set(JAVA_LONG, 0, seconds);
        timespec.set(JAVA_LONG, 8, nanos % NANOS_PER_SECOND);
        return timespec;
    }
}
