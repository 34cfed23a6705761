/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * {@code AF_UNIX} stream sockets: {@code socket}, {@code socketpair}, {@code bind}, {@code listen},
 * {@code accept4}, {@code connect}, {@code sendmsg}/{@code recvmsg} (with {@code SCM_RIGHTS}),
 * {@code getsockopt(SO_PEERCRED)}, {@code setsockopt(SO_SNDBUF/SO_RCVBUF)}, {@code shutdown},
 * {@code close} and {@code ppoll} on one descriptor.
 *
 * <p>Every socket is created non-blocking and close-on-exec. Data moves with {@code sendmsg} and
 * {@code recvmsg} through a {@link MessageHeader}: a preallocated {@code msghdr}, {@code iovec} and
 * control buffer, so that the data path allocates nothing and makes exactly one system call. Sending
 * always passes {@code MSG_NOSIGNAL}: a dead peer is an {@code EPIPE} result, never a {@code SIGPIPE}.
 *
 * <p>Results follow {@link FileIo}: {@code EINTR} is retried, {@code EAGAIN} and the errors a caller is
 * expected to word for its user ({@code ECONNREFUSED}, {@code ENOENT}, {@code EPIPE}, {@code ECONNRESET})
 * are returned as {@code -errno}, and anything else becomes a {@link dev.isthmus.NativeException} naming
 * the call and the path or descriptor.
 *
 * <p>The constants and structure layouts used here are the same on x86-64 and aarch64 (both LP64 with
 * the generic socket ABI), so none of them lives in {@link Platform.Arch}.
 *
 * <p>Thread safety: the static methods are thread-safe; a {@link MessageHeader} belongs to one thread at
 * a time.
 */
public final class Sockets {
    /** {@code AF_UNIX}. */
    private static final int AF_UNIX = 1;
    /** {@code SOCK_STREAM}. */
    private static final int SOCK_STREAM = 1;
    /** {@code SOCK_NONBLOCK}, the same bit as {@code O_NONBLOCK} on both architectures. */
    private static final int SOCK_NONBLOCK = 04000;
    /** {@code SOCK_CLOEXEC}, the same bit as {@code O_CLOEXEC}. */
    private static final int SOCK_CLOEXEC = 02000000;
    private static final int SOL_SOCKET = 1;
    private static final int SO_SNDBUF = 7;
    private static final int SO_RCVBUF = 8;
    private static final int SO_PEERCRED = 17;
    /** {@code SO_PEERPIDFD} (Linux 6.5), the same on x86-64 and aarch64. */
    private static final int SO_PEERPIDFD = 77;
    private static final int SCM_RIGHTS = 1;
    private static final int MSG_CTRUNC = 0x8;
    private static final int MSG_DONTWAIT = 0x40;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final int MSG_CMSG_CLOEXEC = 0x40000000;
    private static final int ECONNABORTED = 103;

    /** {@code shutdown(2)}: no more receptions. */
    public static final int SHUT_RD = 0;
    /** {@code shutdown(2)}: no more transmissions; the peer reads end-of-file after the data. */
    public static final int SHUT_WR = 1;
    /** {@code shutdown(2)}: neither. */
    public static final int SHUT_RDWR = 2;

    /** {@code poll(2)}: there is data to read. */
    public static final int POLLIN = 0x1;
    /** {@code poll(2)}: writing will not block. */
    public static final int POLLOUT = 0x4;
    /** {@code poll(2)}: an error is pending (always reported). */
    public static final int POLLERR = 0x8;
    /** {@code poll(2)}: the peer hung up (always reported). */
    public static final int POLLHUP = 0x10;
    /** {@code poll(2)}: the descriptor is not open (always reported). */
    public static final int POLLNVAL = 0x20;

    /** The most descriptors one {@code SCM_RIGHTS} message carries ({@code SCM_MAX_FD}). */
    public static final int MAX_FDS_PER_MESSAGE = 253;

    /** {@code sizeof(sun_path)}: the longest path plus its terminating NUL. */
    private static final int SUN_PATH_LENGTH = 108;
    /** The longest socket path in bytes, without the terminating NUL. */
    public static final int MAX_PATH_BYTES = SUN_PATH_LENGTH - 1;
    /** How a longer path is reached: through a descriptor of its directory. */
    private static final String PROC_FD_PREFIX = "/proc/self/fd/";

    /** {@code struct sockaddr_un}. */
    private static final StructLayout SOCKADDR_UN = MemoryLayout.structLayout(
        JAVA_SHORT.withName("sun_family"),
        MemoryLayout.sequenceLayout(SUN_PATH_LENGTH, JAVA_BYTE).withName("sun_path"));
    private static final long SUN_PATH_OFFSET = SOCKADDR_UN.byteOffset(groupElement("sun_path"));

    /** {@code struct iovec}. */
    private static final StructLayout IOVEC = MemoryLayout.structLayout(
        ADDRESS.withName("iov_base"),
        JAVA_LONG.withName("iov_len"));
    private static final long IOV_BASE = IOVEC.byteOffset(groupElement("iov_base"));
    private static final long IOV_LEN = IOVEC.byteOffset(groupElement("iov_len"));

    /** {@code struct msghdr}: 56 bytes on LP64. */
    private static final StructLayout MSGHDR = MemoryLayout.structLayout(
        ADDRESS.withName("msg_name"),
        JAVA_INT.withName("msg_namelen"),
        MemoryLayout.paddingLayout(4),
        ADDRESS.withName("msg_iov"),
        JAVA_LONG.withName("msg_iovlen"),
        ADDRESS.withName("msg_control"),
        JAVA_LONG.withName("msg_controllen"),
        JAVA_INT.withName("msg_flags"),
        MemoryLayout.paddingLayout(4));
    private static final long MSG_IOV = MSGHDR.byteOffset(groupElement("msg_iov"));
    private static final long MSG_IOVLEN = MSGHDR.byteOffset(groupElement("msg_iovlen"));
    private static final long MSG_CONTROL = MSGHDR.byteOffset(groupElement("msg_control"));
    private static final long MSG_CONTROLLEN = MSGHDR.byteOffset(groupElement("msg_controllen"));
    private static final long MSG_FLAGS = MSGHDR.byteOffset(groupElement("msg_flags"));

    /** {@code struct cmsghdr}; the data follows at {@code CMSG_DATA}, 8-byte aligned. */
    private static final StructLayout CMSGHDR = MemoryLayout.structLayout(
        JAVA_LONG.withName("cmsg_len"),
        JAVA_INT.withName("cmsg_level"),
        JAVA_INT.withName("cmsg_type"));
    private static final long CMSG_LEN = CMSGHDR.byteOffset(groupElement("cmsg_len"));
    private static final long CMSG_LEVEL = CMSGHDR.byteOffset(groupElement("cmsg_level"));
    private static final long CMSG_TYPE = CMSGHDR.byteOffset(groupElement("cmsg_type"));
    private static final long CMSG_DATA = CMSGHDR.byteSize();
    /** {@code CMSG_SPACE(MAX_FDS_PER_MESSAGE * sizeof(int))}: room for the largest descriptor set. */
    private static final long CONTROL_CAPACITY = CMSG_DATA + align8(MAX_FDS_PER_MESSAGE * 4L);

    /** {@code struct ucred}. */
    private static final StructLayout UCRED = MemoryLayout.structLayout(
        JAVA_INT.withName("pid"),
        JAVA_INT.withName("uid"),
        JAVA_INT.withName("gid"));

    /** {@code struct pollfd}. */
    private static final StructLayout POLLFD = MemoryLayout.structLayout(
        JAVA_INT.withName("fd"),
        JAVA_SHORT.withName("events"),
        JAVA_SHORT.withName("revents"));
    private static final long POLLFD_FD = POLLFD.byteOffset(groupElement("fd"));
    private static final long POLLFD_EVENTS = POLLFD.byteOffset(groupElement("events"));
    private static final long POLLFD_REVENTS = POLLFD.byteOffset(groupElement("revents"));

    private static final MethodHandle SOCKET =
        Native.downcall("socket", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SOCKETPAIR =
        Native.downcall("socketpair", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle BIND =
        Native.downcall("bind", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle LISTEN =
        Native.downcall("listen", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle ACCEPT4 =
        Native.downcall("accept4", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
    private static final MethodHandle CONNECT =
        Native.downcall("connect", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SENDMSG =
        Native.downcall("sendmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle RECVMSG =
        Native.downcall("recvmsg", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle GETSOCKOPT = Native.downcall("getsockopt",
        FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle SETSOCKOPT = Native.downcall("setsockopt",
        FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SHUTDOWN =
        Native.downcall("shutdown", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle GETSOCKNAME =
        Native.downcall("getsockname", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle PPOLL =
        Native.downcall("ppoll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS));

    /** Per-thread {@code pollfd} for {@link #poll}: waits allocate nothing. */
    private static final ThreadLocal<MemorySegment> POLL_SCRATCH =
        ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(POLLFD));
    /** Per-thread pair of {@code pollfd}s for {@link #pollOrWake}. */
    private static final ThreadLocal<MemorySegment> POLL_PAIR_SCRATCH =
        ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(POLLFD.byteSize() * 2, 8));
    private static final MethodHandle EVENTFD =
        Native.downcall("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final int EFD_CLOEXEC = 0x80000;
    private static final int EFD_NONBLOCK = 0x800;
    /** In what {@link #pollOrWake} returns: the wake-up descriptor was readable. */
    public static final int WOKEN = 1 << 16;

    private Sockets() {
    }

    /**
     * What the kernel recorded about the process at the other end of a connection when it connected
     * (or, for the connecting side, when the server called {@code listen}).
     *
     * @param pid the peer's process id, in this process's pid namespace
     * @param uid the peer's effective user id
     * @param gid the peer's effective group id
     */
    public record PeerCred(int pid, int uid, int gid) {
    }

    /**
     * Creates a non-blocking, close-on-exec {@code AF_UNIX} stream socket.
     *
     * @return the descriptor
     * @throws dev.isthmus.NativeException on failure, e.g. {@code EMFILE}
     */
    public static int socket() {
        final Native.CallState state = Native.callState();
        final int fd;
        try {
            fd = (int) SOCKET.invokeExact(state.errnoSegment(), AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (fd == -1) {
            throw Errno.exception("socket(AF_UNIX, SOCK_STREAM)", state.errno());
        }
        return fd;
    }

    /**
     * Creates a connected pair of non-blocking, close-on-exec {@code AF_UNIX} stream sockets.
     *
     * @return the two descriptors
     * @throws dev.isthmus.NativeException on failure
     */
    public static int[] socketPair() {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment fds = arena.allocate(JAVA_INT, 2);
            final int rc = (int) SOCKETPAIR.invokeExact(state.errnoSegment(), AF_UNIX,
                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds);
            if (rc == -1) {
                throw Errno.exception("socketpair(AF_UNIX, SOCK_STREAM)", state.errno());
            }
            return new int[] {fds.getAtIndex(JAVA_INT, 0), fds.getAtIndex(JAVA_INT, 1)};
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Binds a socket to a path, creating the socket file (with the mode the umask allows).
     *
     * @param fd   the socket
     * @param path the socket file's path; one longer than {@value #MAX_PATH_BYTES} bytes is reached through
     *             a descriptor of its directory, so only its file name must be short
     * @return 0, or {@code -EADDRINUSE} if the path exists, or {@code -ENOENT} if its directory does not
     * @throws IllegalArgumentException   if the path is empty or holds a NUL, or its file name is too long
     *                                    for {@code sockaddr_un}
     * @throws dev.isthmus.NativeException on any other failure
     */
    public static int bind(final int fd, final String path) {
        final Native.CallState state = Native.callState();
        final int directory = openDirectoryOfLongPath(path);
        if (directory == -Errno.ENOENT) {
            return directory;
        }
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment address = sockaddr(arena, path, directory);
            final int rc = (int) BIND.invokeExact(state.errnoSegment(), fd, address, (int) address.byteSize());
            if (rc == 0) {
                return 0;
            }
            final int errno = state.errno();
            if (errno == Errno.EADDRINUSE || errno == Errno.ENOENT) {
                return -errno;
            }
            throw Errno.exception("bind(" + path + ")", errno);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        } finally {
            if (directory >= 0) {
                FileIo.close(directory);
            }
        }
    }

    /**
     * Marks a bound socket as accepting connections.
     *
     * @param fd      the socket
     * @param backlog the longest queue of connections not yet accepted
     * @param what    the socket's path, for the error message
     * @throws dev.isthmus.NativeException on failure
     */
    public static void listen(final int fd, final int backlog, final String what) {
        final Native.CallState state = Native.callState();
        final int rc;
        try {
            rc = (int) LISTEN.invokeExact(state.errnoSegment(), fd, backlog);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == -1) {
            throw Errno.exception("listen(" + what + ")", state.errno());
        }
    }

    /**
     * Creates a TCP socket listening on the loopback interface (127.0.0.1) at a port the kernel picks:
     * for handing accepted connections to other processes.
     *
     * @return the listening socket's descriptor (non-blocking, close-on-exec) and its port
     * @throws dev.isthmus.NativeException on failure
     */
    public static int[] listenTcpLoopback() {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final int fd = (int) SOCKET.invokeExact(state.errnoSegment(), 2 /* AF_INET */,
                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                throw Errno.exception("socket(AF_INET, SOCK_STREAM)", state.errno());
            }
            // struct sockaddr_in: family (2), port (2, big-endian), address (4, big-endian), zero (8).
            final MemorySegment address = arena.allocate(16, 4);
            address.set(JAVA_SHORT, 0, (short) 2);
            address.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), 4,
                0x7f000001);
            int rc = (int) BIND.invokeExact(state.errnoSegment(), fd, address, 16);
            if (rc == 0) {
                rc = (int) LISTEN.invokeExact(state.errnoSegment(), fd, 64);
            }
            final MemorySegment length = arena.allocate(JAVA_INT);
            length.set(JAVA_INT, 0, 16);
            if (rc == 0) {
                rc = (int) GETSOCKNAME.invokeExact(state.errnoSegment(), fd, address, length);
            }
            if (rc != 0) {
                final int errno = state.errno();
                close(fd);
                throw Errno.exception("bind/listen(AF_INET 127.0.0.1)", errno);
            }
            final int port = Short.toUnsignedInt(address.get(
                java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), 2));
            return new int[] {fd, port};
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Accepts a pending connection, as a non-blocking, close-on-exec socket.
     *
     * @param fd   the listening socket
     * @param what the socket's path, for the error message
     * @return the new connection's descriptor, or {@code -EAGAIN} if none is pending
     * @throws dev.isthmus.NativeException on failure, e.g. {@code EMFILE}
     */
    public static int accept(final int fd, final String what) {
        final Native.CallState state = Native.callState();
        int rc;
        try {
            do {
                rc = (int) ACCEPT4.invokeExact(state.errnoSegment(), fd, MemorySegment.NULL, MemorySegment.NULL,
                    SOCK_NONBLOCK | SOCK_CLOEXEC);
                // A connection that was reset while queued is gone: look at the next one.
            } while (rc == -1 && (state.errno() == Errno.EINTR || state.errno() == ECONNABORTED));
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc >= 0) {
            return rc;
        }
        if (state.errno() == Errno.EAGAIN) {
            return -Errno.EAGAIN;
        }
        throw Errno.exception("accept4(" + what + ")", state.errno());
    }

    /**
     * Connects a socket to the socket file at {@code path}. For {@code AF_UNIX} this completes at once:
     * there is no {@code EINPROGRESS}.
     *
     * @param fd   a fresh socket
     * @param path the socket file; one longer than {@value #MAX_PATH_BYTES} bytes is reached through a
     *             descriptor of its directory
     * @return 0, or {@code -ENOENT} (no such file or directory), {@code -ECONNREFUSED} (nobody listens),
     *     {@code -EAGAIN} (the listener's backlog is full)
     * @throws IllegalArgumentException   if the path is empty or holds a NUL, or its file name is too long
     *                                    for {@code sockaddr_un}
     * @throws dev.isthmus.NativeException on any other failure, e.g. {@code EACCES}
     */
    public static int connect(final int fd, final String path) {
        final Native.CallState state = Native.callState();
        final int directory = openDirectoryOfLongPath(path);
        if (directory == -Errno.ENOENT) {
            return directory;
        }
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment address = sockaddr(arena, path, directory);
            final int rc = (int) CONNECT.invokeExact(state.errnoSegment(), fd, address, (int) address.byteSize());
            if (rc == 0) {
                return 0;
            }
            final int errno = state.errno();
            if (errno == Errno.ENOENT || errno == Errno.ECONNREFUSED || errno == Errno.EAGAIN || errno == Errno.EACCES) {
                return -errno;
            }
            throw Errno.exception("connect(" + path + ")", errno);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        } finally {
            if (directory >= 0) {
                FileIo.close(directory);
            }
        }
    }

    /**
     * Sends the bytes a header's {@code iovec} describes, and the descriptors it carries, without
     * blocking and without {@code SIGPIPE}.
     *
     * @param fd     the connected socket
     * @param header the message: {@link MessageHeader#data} set, and {@link MessageHeader#rights} if
     *               descriptors go along
     * @param what   the socket, for the error message
     * @return the number of bytes the kernel took (possibly fewer than offered; the descriptors went with
     *     the first of them), or {@code -EAGAIN} (nothing taken), {@code -EPIPE} or {@code -ECONNRESET}
     *     (the peer is gone)
     * @throws dev.isthmus.NativeException on any other failure
     */
    public static long sendmsg(final int fd, final MessageHeader header, final String what) {
        final Native.CallState state = Native.callState();
        final MemorySegment msghdr = header.msghdr;
        long rc;
        try {
            do {
                rc = (long) SENDMSG.invokeExact(state.errnoSegment(), fd, msghdr, MSG_NOSIGNAL | MSG_DONTWAIT);
            } while (rc == -1 && state.errno() == Errno.EINTR);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc >= 0) {
            return rc;
        }
        final int errno = state.errno();
        if (errno == Errno.EAGAIN || errno == Errno.EPIPE || errno == Errno.ECONNRESET) {
            return -errno;
        }
        throw Errno.exception("sendmsg(" + what + ")", errno);
    }

    /**
     * Receives bytes into the range a header's {@code iovec} describes, and any descriptors that came
     * with them (close-on-exec, owned by the caller: see {@link MessageHeader#receivedFdCount()}).
     *
     * <p>On Linux a read stops right after the bytes that carried descriptors, so one call returns at
     * most one descriptor set, and the descriptors came with the first byte of the last message the peer
     * sent with {@code SCM_RIGHTS} among the bytes returned.
     *
     * @param fd     the connected socket
     * @param header the message: {@link MessageHeader#data} set
     * @param what   the socket, for the error message
     * @return the number of bytes received, 0 at end of file, or {@code -EAGAIN} (nothing to read) or
     *     {@code -ECONNRESET} (the peer vanished with data of ours unread)
     * @throws dev.isthmus.NativeException on any other failure
     */
    public static long recvmsg(final int fd, final MessageHeader header, final String what) {
        final Native.CallState state = Native.callState();
        final MemorySegment msghdr = header.msghdr;
        header.prepareReceive();
        long rc;
        try {
            do {
                rc = (long) RECVMSG.invokeExact(state.errnoSegment(), fd, msghdr, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
            } while (rc == -1 && state.errno() == Errno.EINTR);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc >= 0) {
            return rc;
        }
        final int errno = state.errno();
        if (errno == Errno.EAGAIN || errno == Errno.ECONNRESET) {
            return -errno;
        }
        throw Errno.exception("recvmsg(" + what + ")", errno);
    }

    /**
     * Reads the credentials the kernel recorded for the peer of a connected socket.
     *
     * @param fd   the connected socket
     * @param what the socket, for the error message
     * @return the peer's pid, uid and gid
     * @throws dev.isthmus.NativeException on failure
     */
    public static PeerCred peerCredentials(final int fd, final String what) {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment ucred = arena.allocate(UCRED);
            final MemorySegment length = arena.allocate(JAVA_INT);
            length.set(JAVA_INT, 0, (int) UCRED.byteSize());
            final int rc = (int) GETSOCKOPT.invokeExact(state.errnoSegment(), fd, SOL_SOCKET, SO_PEERCRED, ucred, length);
            if (rc == -1) {
                throw Errno.exception("getsockopt(" + what + ", SO_PEERCRED)", state.errno());
            }
            return new PeerCred(ucred.get(JAVA_INT, 0), ucred.get(JAVA_INT, 4), ucred.get(JAVA_INT, 8));
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Opens a process descriptor of the peer of a connected socket ({@code SO_PEERPIDFD}): the process
     * that connected (or listened), whichever pid namespace it lives in and even if its pid has been reused
     * since. Linux 6.5 and later.
     *
     * @param fd   the connected socket
     * @param what the socket, for the error message
     * @return the pidfd, the caller's to close, or {@code -errno}: {@code -ENOPROTOOPT} if the kernel has no
     *     {@code SO_PEERPIDFD}, {@code -ESRCH} if the peer has exited already
     * @throws dev.isthmus.NativeException on any other failure
     */
    public static int peerPidfd(final int fd, final String what) {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment optval = arena.allocate(JAVA_INT);
            final MemorySegment length = arena.allocateFrom(JAVA_INT, (int) JAVA_INT.byteSize());
            final int rc = (int) GETSOCKOPT.invokeExact(state.errnoSegment(), fd, SOL_SOCKET, SO_PEERPIDFD, optval, length);
            if (rc == -1) {
                final int errno = state.errno();
                if (errno == ENOPROTOOPT || errno == Errno.ESRCH || errno == Errno.EINVAL) {
                    return -errno;
                }
                throw Errno.exception("getsockopt(" + what + ", SO_PEERPIDFD)", errno);
            }
            return optval.get(JAVA_INT, 0);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** {@code ENOPROTOOPT}: the option is unknown to this kernel. */
    public static final int ENOPROTOOPT = 92;

    /**
     * Sets the kernel's send buffer size ({@code SO_SNDBUF}); the kernel doubles the value and applies
     * its minimum and {@code net.core.wmem_max}.
     *
     * @param fd    the socket
     * @param bytes the requested size
     * @param what  the socket, for the error message
     */
    public static void setSendBufferSize(final int fd, final int bytes, final String what) {
        setIntOption(fd, SO_SNDBUF, bytes, "SO_SNDBUF", what);
    }

    /**
     * Sets the kernel's receive buffer size ({@code SO_RCVBUF}).
     *
     * @param fd    the socket
     * @param bytes the requested size
     * @param what  the socket, for the error message
     */
    public static void setReceiveBufferSize(final int fd, final int bytes, final String what) {
        setIntOption(fd, SO_RCVBUF, bytes, "SO_RCVBUF", what);
    }

    /**
     * {@return the kernel's send buffer size ({@code SO_SNDBUF}) in bytes}
     *
     * @param fd   the socket
     * @param what the socket, for the error message
     */
    public static int sendBufferSize(final int fd, final String what) {
        return getIntOption(fd, SO_SNDBUF, "SO_SNDBUF", what);
    }

    private static void setIntOption(final int fd, final int option, final int value, final String name,
                                     final String what) {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment optval = arena.allocateFrom(JAVA_INT, value);
            final int rc = (int) SETSOCKOPT.invokeExact(state.errnoSegment(), fd, SOL_SOCKET, option, optval,
                (int) JAVA_INT.byteSize());
            if (rc == -1) {
                throw Errno.exception("setsockopt(" + what + ", " + name + ", " + value + ")", state.errno());
            }
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    private static int getIntOption(final int fd, final int option, final String name, final String what) {
        final Native.CallState state = Native.callState();
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment optval = arena.allocate(JAVA_INT);
            final MemorySegment length = arena.allocateFrom(JAVA_INT, (int) JAVA_INT.byteSize());
            final int rc = (int) GETSOCKOPT.invokeExact(state.errnoSegment(), fd, SOL_SOCKET, option, optval, length);
            if (rc == -1) {
                throw Errno.exception("getsockopt(" + what + ", " + name + ")", state.errno());
            }
            return optval.get(JAVA_INT, 0);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Shuts down part or all of a full-duplex connection. A thread waiting in {@link #poll} on the
     * socket wakes up. Failure because the socket is not connected ({@code ENOTCONN}) is ignored: there
     * is nothing left to shut down.
     *
     * @param fd   the socket
     * @param how  {@link #SHUT_RD}, {@link #SHUT_WR} or {@link #SHUT_RDWR}
     * @param what the socket, for the error message
     * @throws dev.isthmus.NativeException on any other failure
     */
    public static void shutdown(final int fd, final int how, final String what) {
        final Native.CallState state = Native.callState();
        final int rc;
        try {
            rc = (int) SHUTDOWN.invokeExact(state.errnoSegment(), fd, how);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == -1 && state.errno() != Errno.ENOTCONN) {
            throw Errno.exception("shutdown(" + what + ")", state.errno());
        }
    }

    /**
     * Closes a socket, as {@link FileIo#close(int)}.
     *
     * @param fd the socket
     */
    public static void close(final int fd) {
        FileIo.close(fd);
    }

    /**
     * Waits until a descriptor is ready, with {@code ppoll(2)} and a nanosecond timeout.
     *
     * @param fd        the descriptor
     * @param events    what to wait for: {@link #POLLIN}, {@link #POLLOUT} or both
     * @param timeoutNs the longest wait in nanoseconds; 0 checks without waiting
     * @return the events that occurred (which may include {@link #POLLERR}, {@link #POLLHUP} and
     *     {@link #POLLNVAL} whatever was asked), or 0 on timeout or when a signal interrupted the wait
     *     (callers loop with their own deadline)
     * @throws dev.isthmus.NativeException on failure
     */
    public static int poll(final int fd, final int events, final long timeoutNs) {
        final Native.CallState state = Native.callState();
        final MemorySegment pollfd = POLL_SCRATCH.get();
        pollfd.set(JAVA_INT, POLLFD_FD, fd);
        pollfd.set(JAVA_SHORT, POLLFD_EVENTS, (short) events);
        pollfd.set(JAVA_SHORT, POLLFD_REVENTS, (short) 0);
        final MemorySegment timeout = state.timespec(Math.max(0, timeoutNs));
        final int rc;
        try {
            rc = (int) PPOLL.invokeExact(state.errnoSegment(), pollfd, 1L, timeout, MemorySegment.NULL);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc > 0) {
            return pollfd.get(JAVA_SHORT, POLLFD_REVENTS) & 0xffff;
        }
        if (rc == 0 || state.errno() == Errno.EINTR) {
            return 0;
        }
        throw Errno.exception("ppoll(fd " + fd + ")", state.errno());
    }

    /**
     * Like {@link #poll(int, int, long)}, but also returns when {@code wakeFd} (an {@link #eventfd}) is
     * readable, with {@link #WOKEN} set in the result; the caller drains it.
     *
     * @param fd        the descriptor
     * @param events    what to wait for on {@code fd}
     * @param wakeFd    the wake-up descriptor
     * @param timeoutNs the longest wait in nanoseconds; 0 checks without waiting
     * @return the events of {@code fd}, with {@link #WOKEN} if {@code wakeFd} is readable; 0 on timeout or a
     *     signal
     * @throws dev.isthmus.NativeException on failure
     */
    public static int pollOrWake(final int fd, final int events, final int wakeFd, final long timeoutNs) {
        final Native.CallState state = Native.callState();
        final MemorySegment pollfds = POLL_PAIR_SCRATCH.get();
        final long second = POLLFD.byteSize();
        pollfds.set(JAVA_INT, POLLFD_FD, fd);
        pollfds.set(JAVA_SHORT, POLLFD_EVENTS, (short) events);
        pollfds.set(JAVA_SHORT, POLLFD_REVENTS, (short) 0);
        pollfds.set(JAVA_INT, second + POLLFD_FD, wakeFd);
        pollfds.set(JAVA_SHORT, second + POLLFD_EVENTS, (short) POLLIN);
        pollfds.set(JAVA_SHORT, second + POLLFD_REVENTS, (short) 0);
        final MemorySegment timeout = state.timespec(Math.max(0, timeoutNs));
        final int rc;
        try {
            rc = (int) PPOLL.invokeExact(state.errnoSegment(), pollfds, 2L, timeout, MemorySegment.NULL);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc > 0) {
            return pollfds.get(JAVA_SHORT, POLLFD_REVENTS) & 0xffff
                | ((pollfds.get(JAVA_SHORT, second + POLLFD_REVENTS) & POLLIN) != 0 ? WOKEN : 0);
        }
        if (rc == 0 || state.errno() == Errno.EINTR) {
            return 0;
        }
        throw Errno.exception("ppoll(fd " + fd + ", wake fd " + wakeFd + ")", state.errno());
    }

    /**
     * Creates a non-blocking, close-on-exec {@code eventfd(2)}: a counter another thread writes to wake a
     * {@link #pollOrWake}.
     *
     * @param what what it is for, for the error message
     * @return the descriptor
     * @throws dev.isthmus.NativeException on failure (e.g. out of descriptors)
     */
    public static int eventfd(final String what) {
        final Native.CallState state = Native.callState();
        final int fd;
        try {
            fd = (int) EVENTFD.invokeExact(state.errnoSegment(), 0, EFD_CLOEXEC | EFD_NONBLOCK);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (fd < 0) {
            throw Errno.exception("eventfd(" + what + ")", state.errno());
        }
        return fd;
    }

    /**
     * Opens the directory of a socket path too long for {@code sun_path}, so that the socket can be named
     * {@code /proc/self/fd/<fd>/<file name>} instead: the kernel resolves that to the same file, and a run
     * directory deep in the file system still works. Validates the path on the way.
     *
     * @return -1 if the path fits as it is, {@code -ENOENT} if its directory does not exist, or the
     *     directory's descriptor, which the caller closes
     */
    private static int openDirectoryOfLongPath(final String path) {
        final byte[] bytes = checkedPathBytes(path);
        if (bytes.length <= MAX_PATH_BYTES) {
            return -1;
        }
        final int slash = path.lastIndexOf('/');
        final String fileName = path.substring(slash + 1);
        // The descriptor's digits are not known yet: leave room for the largest.
        final int shortened = PROC_FD_PREFIX.length() + String.valueOf(Integer.MAX_VALUE).length() + 1
            + fileName.getBytes(StandardCharsets.UTF_8).length;
        if (slash <= 0 || fileName.isEmpty() || shortened > MAX_PATH_BYTES) {
            throw new IllegalArgumentException("path=" + path + " is " + bytes.length
                + " bytes long; a Unix socket path holds at most " + MAX_PATH_BYTES
                + " bytes (sockaddr_un.sun_path), and its file name is too long to reach it through its directory");
        }
        return FileIo.openDirectoryPath(path.substring(0, slash));
    }

    private static byte[] checkedPathBytes(final String path) {
        Objects.requireNonNull(path, "path");
        final byte[] bytes = path.getBytes(StandardCharsets.UTF_8);
        if (bytes.length == 0) {
            throw new IllegalArgumentException("path=\"\" is empty");
        }
        for (final byte b : bytes) {
            if (b == 0) {
                throw new IllegalArgumentException("path=" + path + " contains a NUL character");
            }
        }
        return bytes;
    }

    /**
     * The {@code sockaddr_un} of a path, or, with a directory descriptor from
     * {@link #openDirectoryOfLongPath}, of the path's file name reached through that descriptor.
     */
    private static MemorySegment sockaddr(final Arena arena, final String path, final int directory) {
        final byte[] bytes = directory < 0 ? checkedPathBytes(path)
            : (PROC_FD_PREFIX + directory + path.substring(path.lastIndexOf('/'))).getBytes(StandardCharsets.UTF_8);
        final MemorySegment address = arena.allocate(SOCKADDR_UN);
        address.set(JAVA_SHORT, 0, (short) AF_UNIX);
        MemorySegment.copy(bytes, 0, address, JAVA_BYTE, SUN_PATH_OFFSET, bytes.length);
        // The kernel wants the family, the path and its NUL; the rest of sun_path is already zero.
        return address.asSlice(0, SUN_PATH_OFFSET + bytes.length + 1);
    }

    private static long align8(final long value) {
        return (value + 7) & ~7L;
    }

    /**
     * A preallocated {@code struct msghdr} with one {@code iovec} and a control buffer large enough for
     * {@value #MAX_FDS_PER_MESSAGE} descriptors: the argument of {@link #sendmsg} and {@link #recvmsg}.
     *
     * <p>The {@code iovec} points into memory the caller owns: {@link #data} records its address, so
     * that memory must stay alive (its arena open) until the call that uses this header returns. Setting
     * the range is bounds-checked against the segment.
     *
     * <p>Not thread-safe: one header per direction of a connection.
     */
    public static final class MessageHeader {
        private final MemorySegment msghdr;
        private final MemorySegment iovec;
        private final MemorySegment control;
        private int receivedFdCount;

        /**
         * Allocates a header in {@code arena}.
         *
         * @param arena owns the header's memory
         */
        public MessageHeader(final Arena arena) {
            msghdr = arena.allocate(MSGHDR);
            iovec = arena.allocate(IOVEC);
            control = arena.allocate(CONTROL_CAPACITY, 8);
            msghdr.set(ADDRESS, MSG_IOV, iovec);
            msghdr.set(JAVA_LONG, MSG_IOVLEN, 1L);
        }

        /**
         * Points the {@code iovec} at {@code length} bytes of {@code segment} from {@code offset}, and
         * drops any descriptors set by {@link #rights}.
         *
         * @param segment a native segment that stays alive while this header is used
         * @param offset  where the bytes start
         * @param length  how many bytes
         * @throws IndexOutOfBoundsException if the range is outside the segment
         */
        public void data(final MemorySegment segment, final long offset, final long length) {
            Objects.checkFromIndexSize(offset, length, segment.byteSize());
            iovec.set(JAVA_LONG, IOV_BASE, segment.address() + offset);
            iovec.set(JAVA_LONG, IOV_LEN, length);
            msghdr.set(ADDRESS, MSG_CONTROL, MemorySegment.NULL);
            msghdr.set(JAVA_LONG, MSG_CONTROLLEN, 0L);
        }

        /**
         * Attaches descriptors to the next {@link #sendmsg}, as one {@code SCM_RIGHTS} message. Call after
         * {@link #data}.
         *
         * @param fds 1 to {@value #MAX_FDS_PER_MESSAGE} open descriptors
         * @throws IllegalArgumentException if there are none or too many
         */
        public void rights(final int[] fds) {
            if (fds.length == 0 || fds.length > MAX_FDS_PER_MESSAGE) {
                throw new IllegalArgumentException("fds=" + fds.length + " must be in [1, " + MAX_FDS_PER_MESSAGE + "]");
            }
            final long dataLength = fds.length * 4L;
            control.set(JAVA_LONG, CMSG_LEN, CMSG_DATA + dataLength);
            control.set(JAVA_INT, CMSG_LEVEL, SOL_SOCKET);
            control.set(JAVA_INT, CMSG_TYPE, SCM_RIGHTS);
            MemorySegment.copy(fds, 0, control, JAVA_INT, CMSG_DATA, fds.length);
            msghdr.set(ADDRESS, MSG_CONTROL, control);
            msghdr.set(JAVA_LONG, MSG_CONTROLLEN, CMSG_DATA + align8(dataLength));
        }

        private void prepareReceive() {
            msghdr.set(ADDRESS, MSG_CONTROL, control);
            msghdr.set(JAVA_LONG, MSG_CONTROLLEN, CONTROL_CAPACITY);
            msghdr.set(JAVA_INT, MSG_FLAGS, 0);
            receivedFdCount = -1;
        }

        /**
         * {@return whether the kernel cut the control data of the last {@link #recvmsg} short
         * ({@code MSG_CTRUNC}): descriptors were sent but dropped, because there were too many or this
         * process reached its limit of open files}
         */
        public boolean controlTruncated() {
            return (msghdr.get(JAVA_INT, MSG_FLAGS) & MSG_CTRUNC) != 0;
        }

        /**
         * {@return how many descriptors the last {@link #recvmsg} received; 0 if none}
         *
         * <p>The descriptors are open in this process and owned by the caller, who must close them.
         */
        public int receivedFdCount() {
            if (receivedFdCount < 0) {
                receivedFdCount = parseReceivedFds();
            }
            return receivedFdCount;
        }

        /**
         * {@return one of the descriptors the last {@link #recvmsg} received}
         *
         * @param index 0 to {@link #receivedFdCount()} - 1
         */
        public int receivedFd(final int index) {
            Objects.checkIndex(index, receivedFdCount());
            return control.get(JAVA_INT, CMSG_DATA + index * 4L);
        }

        private int parseReceivedFds() {
            final long controlLength = msghdr.get(JAVA_LONG, MSG_CONTROLLEN);
            if (controlLength < CMSG_DATA) {
                return 0;
            }
            // One SCM_RIGHTS message at most: the kernel merges every descriptor of one read into one.
            final long cmsgLength = control.get(JAVA_LONG, CMSG_LEN);
            if (control.get(JAVA_INT, CMSG_LEVEL) != SOL_SOCKET || control.get(JAVA_INT, CMSG_TYPE) != SCM_RIGHTS
                || cmsgLength < CMSG_DATA || cmsgLength > Math.min(controlLength, CONTROL_CAPACITY)) {
                return 0;
            }
            return (int) ((cmsgLength - CMSG_DATA) / 4);
        }
    }
}
