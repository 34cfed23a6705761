/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.AuthenticationException;
import dev.isthmus.ChannelClosedException;
import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.PeerDeadException;
import dev.isthmus.internal.event.ChannelEvents;
import dev.isthmus.internal.linux.Credentials;
import dev.isthmus.internal.linux.Errno;
import dev.isthmus.internal.linux.FileIo;
import dev.isthmus.internal.linux.Processes;
import dev.isthmus.internal.linux.Mmap;
import dev.isthmus.internal.linux.Sockets;
import dev.isthmus.shm.NoSuchResourceException;

import dev.isthmus.stat.StatFile;
import dev.isthmus.stat.StatKind;
import dev.isthmus.stat.StatRecord;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

import static dev.isthmus.transport.SocketFrameDescriptor.CLOSE_FRAME;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static dev.isthmus.transport.SocketFrameDescriptor.HANDLES_FLAG;
import static dev.isthmus.transport.SocketFrameDescriptor.HANDLES_HEADER_LENGTH;
import static dev.isthmus.transport.SocketFrameDescriptor.HANDLE_COUNT_OFFSET;
import static dev.isthmus.transport.SocketFrameDescriptor.HEADER_LENGTH;
import static dev.isthmus.transport.SocketFrameDescriptor.HEADER_WORD;
import static dev.isthmus.transport.SocketFrameDescriptor.LENGTH_MASK;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * A {@link BlobChannel} over a connected {@code AF_UNIX} stream socket: length-prefixed frames
 * ({@link SocketFrameDescriptor}), one system call per message sent, as many messages per system call
 * received as have arrived. It also carries native handles ({@link #offerWithHandles}).
 *
 * {@snippet :
 * // server process
 * try (UnixSocketServer server = UnixSocketServer.bind("cacheSrv", "s1", UnixSocketOptions.defaults());
 *      UnixSocketBlobChannel channel = server.accept(TimeUnit.SECONDS.toNanos(10))) {
 *     channel.poll((buffer, offset, length) -> handle(buffer, offset, length), 64, TimeUnit.SECONDS.toNanos(1));
 * }
 * // client process
 * try (UnixSocketBlobChannel channel = UnixSocketBlobChannel.connect(socketPath, TimeUnit.SECONDS.toNanos(10),
 *         UnixSocketOptions.defaults())) {
 *     channel.offer(request, 0, requestLength, TimeUnit.SECONDS.toNanos(1));
 * }
 * }
 *
 * <h2>Sending</h2>
 * Each message is staged (header and payload) in a native buffer of the channel and written with one
 * {@code sendmsg}. If the kernel takes only part of the frame, the rest stays staged, the offer returns
 * {@code true}, and the rest goes out first on the next {@code offer}, {@code tryClaim}, {@code poll} or
 * {@link #close()}; frames are never interleaved or cut. While a frame is still partly pending, offers
 * return {@code false} (back-pressure). {@link #tryClaim} hands out the staging buffer itself, so the
 * message is written in place and sent with one call on {@link #commit}. A message that does not fit in
 * the kernel at all on commit stays staged and is sent later in the same way.
 *
 * <h2>Receiving</h2>
 * {@code poll} reads whatever has arrived (up to the receive buffer, at least {@code maxMessageLength + 8}
 * bytes and at least 256 KiB) with one {@code recvmsg}, hands every complete frame to the handler in place
 * (through a read-only view of the buffer), and keeps an incomplete one for the next read. Timed polls
 * sleep in {@code ppoll(2)} until data, the peer's end or {@link #close()} wakes them: no periodic wake-ups.
 *
 * <h2>Closing and failure</h2>
 * {@link #close()} sends what is still pending and then a close frame (waiting up to
 * {@link UnixSocketOptions#closeTimeoutNs()} for the peer to take them), shuts the socket down and
 * closes it. The peer receives every frame sent before, then {@link ChannelClosedException}. If the
 * connection ends without a close frame (end of file or {@code ECONNRESET}: the peer process died, or
 * dropped the socket without closing the channel), the peer gets {@link PeerDeadException} after every
 * complete frame, also when the connection ends in the middle of a frame. A frame longer than the
 * maximum message length is {@link CorruptDataException}; the channel is unusable afterwards. Every
 * message names the socket and the peer's pid.
 *
 * <h2>Thread safety</h2>
 * One thread may send ({@code offer*}, {@code tryClaim}, {@code claimBuffer}, {@code commit},
 * {@code abort}) while another receives ({@code poll*}); each side must be used by one thread at a time.
 * Send-side and receive-side state are separate; a {@code poll} only flushes a partly sent frame when no
 * send is in progress. {@link #close()}, {@link #isOpen()}, {@link #peerCredentials()} and
 * {@link #maxMessageLength()} may be called by any thread at any time: a {@code poll} blocked in another
 * thread wakes up and throws {@link ChannelClosedException}, and the descriptor and native memory are
 * released when the last call in progress returns. In steady state no method allocates on the Java
 * heap, except {@link #offerWithHandles} and the delivery of handles.
 */
public final class UnixSocketBlobChannel implements BlobChannel {
    /**
     * The longest one {@code ppoll} waits. Nothing needs a shorter slice: {@link #close()} and
     * {@link #declarePeerDead()} shut the socket down, which wakes every waiter at once, as the peer's end
     * does; this only bounds a wait on a kernel that failed to wake it.
     */
    private static final long WAIT_SLICE_NS = TimeUnit.SECONDS.toNanos(5);

    /** An {@code eventfd} a timed poll also waits on, written by {@link #wakeUp()}. */
    private final int wakeFd;
    /** The 1 that {@link #wakeUp()} adds to the eventfd's counter. */
    private final MemorySegment wakeWord;
    /** Where the receiving thread drains the eventfd's counter. */
    private final MemorySegment wakeDrain;
    private static final long EXIT_GRACE_NS = TimeUnit.MILLISECONDS.toNanos(20);
    private static final int MIN_RECEIVE_BUFFER_BYTES = 256 * 1024;
    private static final int MAX_UNCLAIMED_HANDLE_BATCHES = 16;
    /** The offset {@link #tryClaim} returns: the claim buffer is the staging area after the header. */
    private static final long CLAIM_OFFSET = 0;

    private static final int SOURCE_SEGMENT = 0;
    private static final int SOURCE_ARRAY = 1;
    private static final int SOURCE_BUFFER = 2;

    private static final VarHandle USERS;
    private static final VarHandle CLOSED;
    private static final VarHandle SEND_LOCK;

    static {
        try {
            final MethodHandles.Lookup lookup = MethodHandles.lookup();
            USERS = lookup.findVarHandle(UnixSocketBlobChannel.class, "users", int.class);
            CLOSED = lookup.findVarHandle(UnixSocketBlobChannel.class, "closed", int.class);
            SEND_LOCK = lookup.findVarHandle(UnixSocketBlobChannel.class, "sendLock", int.class);
        } catch (final ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int fd;
    private final String what;
    private final PeerCredentials peer;
    private final int maxMessageLength;
    private final long closeTimeoutNs;
    private final Arena arena;

    // ---- lifetime: any thread
    /** 1 once {@link #close()} has begun. */
    @SuppressWarnings("unused") // accessed through CLOSED
    private volatile int closed;
    /** The owner's reference (dropped by close) plus one per call in progress; 0 once released. */
    @SuppressWarnings("unused") // accessed through USERS
    private volatile int users = 1;
    /** How the receiving side found the stream ended; written by the receiving thread only. */
    private volatile End receiveEnd;
    /** How sending failed; written under the send lock. */
    private volatile End sendEnd;

    // ---- send side: guarded by sendLock
    @SuppressWarnings("unused") // accessed through SEND_LOCK
    private volatile int sendLock;
    private final MemorySegment staging;
    private final MemorySegment claimBuffer;
    private final ByteBuffer stagingBuffer;
    private final Sockets.MessageHeader sendHeader;
    /** Bytes {@code [pendingStart, pendingEnd)} of the staging area are a frame's unsent rest. */
    private int pendingStart;
    private int pendingEnd;
    /** Whether a frame is partly pending: a hint readable without the lock, for {@code poll}. */
    private volatile boolean sendPending;
    private boolean claimed;
    private int claimLength;

    // ---- receive side: the receiving thread only (and the releasing thread, after every call returned)
    private final MemorySegment receiveBuffer;
    /** What handlers see: the receive buffer, read-only, so that a handler cannot disturb other frames. */
    private final MemorySegment receiveView;
    private final int receiveCapacity;
    private final int compactThreshold;
    private final Sockets.MessageHeader receiveHeader;
    /** Bytes {@code [readPosition, readEnd)} of the receive buffer are received and not yet delivered. */
    private int readPosition;
    private int readEnd;
    /** The stream offset of the receive buffer's first byte: bytes received before it, in total. */
    private long streamBase;
    private final ArrayDeque<HandleBatch> handleBatches = new ArrayDeque<>();

    /** How one direction of the stream ended. */
    private record End(Kind kind, String message) {
        IsthmusException receiveException() {
            return switch (kind) {
                case PEER_CLOSED -> new ChannelClosedException(message);
                case PEER_DEAD -> new PeerDeadException(message);
                case CORRUPT -> new CorruptDataException(message);
                case FAILED -> new IsthmusException(message);
            };
        }

        IsthmusException sendException() {
            return switch (kind) {
                case PEER_CLOSED -> new ChannelClosedException(message);
                case PEER_DEAD -> new PeerDeadException(message);
                case CORRUPT, FAILED -> new ChannelClosedException("channel is unusable: " + message);
            };
        }
    }

    private enum Kind { PEER_CLOSED, PEER_DEAD, CORRUPT, FAILED }

    /** This channel's counters: the send group written under the send lock, the receive group by the polling thread. */
    private final StatRecord stats;

    /**
     * Descriptors that arrived with the bytes {@code [arrivalStart, arrivalEnd)} of the stream: they
     * belong to the frame with handles that starts in that range.
     */
    private record HandleBatch(int[] fds, boolean truncated, long arrivalStart, long arrivalEnd) {
    }

    private UnixSocketBlobChannel(final int fd, final String description, final PeerCredentials peer,
                                  final UnixSocketOptions options) {
        this.fd = fd;
        this.peer = peer;
        this.what = description + " (peer pid " + peer.pid() + ")";
        this.maxMessageLength = options.maxMessageLengthBytes();
        this.closeTimeoutNs = options.closeTimeoutNs();
        this.arena = Arena.ofShared();
        int wake = -1;
        try {
            wake = Sockets.eventfd(description + " wake-up");
            wakeWord = arena.allocate(8, 8);
            wakeWord.set(JAVA_LONG, 0, 1L);
            wakeDrain = arena.allocate(8, 8);
            // Anonymous mappings, not arena allocations: an idle channel's buffers cost no memory until used.
            staging = Mmap.anonymous(HANDLES_HEADER_LENGTH + (long) maxMessageLength, arena, what + " staging");
            claimBuffer = staging.asSlice(HEADER_LENGTH, maxMessageLength);
            stagingBuffer = staging.asByteBuffer();
            sendHeader = new Sockets.MessageHeader(arena);
            final int maxFrameLength = HANDLES_HEADER_LENGTH + maxMessageLength;
            receiveCapacity = Math.max(MIN_RECEIVE_BUFFER_BYTES, maxFrameLength);
            compactThreshold = Math.max(maxFrameLength, MIN_RECEIVE_BUFFER_BYTES / 4);
            receiveBuffer = Mmap.anonymous(receiveCapacity, arena, what + " receive buffer");
            receiveView = receiveBuffer.asReadOnly();
            receiveHeader = new Sockets.MessageHeader(arena);
        } catch (final RuntimeException | Error e) {
            if (wake >= 0) {
                closeQuietly(wake);
            }
            arena.close();
            throw e;
        }
        this.wakeFd = wake;
        this.stats = StatFile.newRecord(StatKind.CHANNEL, 0,
            Map.of("transport", "unix-socket", "channel", description, "peer", Long.toString(peer.pid())));
    }

    /**
     * {@inheritDoc}
     */
    @Override
    public StatRecord stats() {
        return stats;
    }

    /**
     * Connects to a {@link UnixSocketServer}'s socket file, waiting up to {@code timeoutNs} for it to
     * appear and accept connections (a server that is still starting, or restarting, is waited for).
     *
     * @param socketPath the server's {@link UnixSocketServer#address()}
     * @param timeoutNs  how long to keep trying, in nanoseconds; 0 tries once
     * @param options    the channel's options; {@link UnixSocketOptions#maxMessageLengthBytes()} must match
     *                   the server's
     * @return the connected channel; {@link #peerCredentials()} names the server's process
     * @throws NoSuchResourceException   if there is still no socket file at the end
     * @throws IsthmusException          if a socket file exists but nobody listens on it
     *                                   ({@code ECONNREFUSED}: its server is gone)
     * @throws IsthmusTimeoutException   if the server's backlog stayed full
     * @throws IllegalArgumentException  if the socket's file name alone is too long for {@code sockaddr_un}
     *                                   (a long path is reached through its directory)
     * @throws AuthenticationException   at once, without waiting, if the socket's mode (or a directory's on
     *                                   its path) excludes this process ({@code EACCES})
     * @throws dev.isthmus.NativeException for any other failure
     */
    public static UnixSocketBlobChannel connect(final Path socketPath, final long timeoutNs,
                                                final UnixSocketOptions options) {
        Objects.requireNonNull(socketPath, "socketPath");
        Objects.requireNonNull(options, "options");
        final String path = socketPath.toString();
        final long start = System.nanoTime();
        final long deadline = deadline(timeoutNs);
        long backoffNs = TimeUnit.MILLISECONDS.toNanos(1);
        while (true) {
            final int fd = Sockets.socket();
            final int rc;
            try {
                rc = Sockets.connect(fd, path);
            } catch (final RuntimeException | Error e) {
                Sockets.close(fd);
                throw e;
            }
            if (rc == 0) {
                return configure(fd, "Unix socket " + path, options);
            }
            Sockets.close(fd);
            if (rc == -Errno.EACCES) {
                // Modes do not change while we wait: refuse at once rather than at the deadline.
                throw new AuthenticationException("this process (uid " + Credentials.effectiveUid() + ") may not connect to Unix"
                    + " socket " + path + " (EACCES): the socket's mode, or a directory's on its path, excludes it"
                    + modeHint(path));
            }
            final long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                final long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
                throw switch (-rc) {
                    case Errno.ENOENT -> new NoSuchResourceException("no Unix socket " + path + " (waited " + waitedMs
                        + " ms): its server has not started, or has exited");
                    case Errno.ECONNREFUSED -> new IsthmusException("nobody listens on Unix socket " + path
                        + " (ECONNREFUSED, waited " + waitedMs + " ms): its server is gone and left the socket file");
                    default -> new IsthmusTimeoutException("the server of Unix socket " + path
                        + " did not take the connection within " + waitedMs + " ms: its backlog is full (EAGAIN)");
                };
            }
            try {
                TimeUnit.NANOSECONDS.sleep(Math.min(remaining, backoffNs));
            } catch (final InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IsthmusException("interrupted while connecting to Unix socket " + path, e);
            }
            backoffNs = Math.min(backoffNs * 2, TimeUnit.MILLISECONDS.toNanos(50));
        }
    }

    /** {@return the socket file's mode and owner, if it can be seen, for a message} */
    private static String modeHint(final String path) {
        try {
            final PosixFileAttributes attributes = Files.readAttributes(Path.of(path), PosixFileAttributes.class,
                LinkOption.NOFOLLOW_LINKS);
            return " (mode " + PosixFilePermissions.toString(attributes.permissions()) + ", owner "
                + attributes.owner().getName() + ")";
        } catch (final IOException | UnsupportedOperationException e) {
            return "";
        }
    }

    /**
     * Creates two channels connected to each other ({@code socketpair(2)}), in this process: for tests,
     * and for handing one end to a child process.
     *
     * @param options the options of both ends
     * @return the two ends; each one's peer is this process
     */
    public static Pair pair(final UnixSocketOptions options) {
        Objects.requireNonNull(options, "options");
        final int[] fds = Sockets.socketPair();
        final UnixSocketBlobChannel first;
        try {
            first = configure(fds[0], "socket pair end 0", options);
        } catch (final RuntimeException | Error e) {
            Sockets.close(fds[1]);
            throw e;
        }
        try {
            return new Pair(first, configure(fds[1], "socket pair end 1", options));
        } catch (final RuntimeException | Error e) {
            first.close();
            throw e;
        }
    }

    /**
     * Makes a channel of a connected Unix stream socket received from elsewhere, typically one end of a
     * socket pair another process created and passed with {@link #offerWithHandles}. The kernel's
     * {@code SO_PEERCRED} of such a socket names the process that created the pair, not necessarily the
     * one at the other end, so the caller says who the peer is: error messages name it and a broken
     * connection is reported as its death if that process has exited.
     *
     * @param socket      the socket, owned by the channel from now on
     * @param peer        the process at the other end
     * @param description what the socket is, for messages, e.g. {@code "session s3 channel 2"}
     * @param options     the channel's options; {@link UnixSocketOptions#maxMessageLengthBytes()} must match
     *                    the other end's
     * @return the channel
     */
    public static UnixSocketBlobChannel adopt(final NativeHandle socket, final PeerCredentials peer,
                                              final String description, final UnixSocketOptions options) {
        Objects.requireNonNull(peer, "peer");
        Objects.requireNonNull(options, "options");
        final int fd = socket.release();
        try {
            if (options.socketSendBufferBytes() > 0) {
                Sockets.setSendBufferSize(fd, options.socketSendBufferBytes(), description);
            }
            if (options.socketReceiveBufferBytes() > 0) {
                Sockets.setReceiveBufferSize(fd, options.socketReceiveBufferBytes(), description);
            }
            return new UnixSocketBlobChannel(fd, description, peer, options);
        } catch (final RuntimeException | Error e) {
            Sockets.close(fd);
            throw e;
        }
    }

    /**
     * Creates a connected socket pair: one end as a channel here, the other as a handle to pass to a peer
     * process (and close here once passed), which makes it a channel with {@link #adopt}.
     *
     * @param peer        the process the other end is for
     * @param description what the socket is, for messages
     * @param options     the options of this end
     * @return this end and the handle of the other
     */
    public static HandOver pairForHandOver(final PeerCredentials peer, final String description,
                                           final UnixSocketOptions options) {
        final int[] fds = Sockets.socketPair();
        final NativeHandle far = NativeHandle.adopt(fds[1]);
        try {
            return new HandOver(adopt(NativeHandle.adopt(fds[0]), peer, description, options), far);
        } catch (final RuntimeException | Error e) {
            far.close();
            throw e;
        }
    }

    /**
     * A channel and the handle of its other end, from {@link #pairForHandOver}.
     *
     * @param channel this process's end
     * @param far     the other end, to pass to the peer and then close
     */
    public record HandOver(UnixSocketBlobChannel channel, NativeHandle far) {
    }

    /**
     * Two connected channels, from {@link #pair}.
     *
     * @param first  one end
     * @param second the other end
     */
    public record Pair(UnixSocketBlobChannel first, UnixSocketBlobChannel second) implements AutoCloseable {
        /**
         * Closes both ends. Idempotent.
         */
        @Override
        public void close() {
            try {
                first.close();
            } finally {
                second.close();
            }
        }
    }

    /**
     * Wraps a connected socket just accepted by a {@link UnixSocketServer}.
     *
     * @param fd         the connection, owned by the channel from now on (closed if this fails)
     * @param serverPath the server's socket file
     * @param options    the channel's options
     * @return the channel
     */
    static UnixSocketBlobChannel accepted(final int fd, final Path serverPath, final UnixSocketOptions options) {
        return configure(fd, "Unix socket " + serverPath + " (accepted)", options);
    }

    private static UnixSocketBlobChannel configure(final int fd, final String description,
                                                   final UnixSocketOptions options) {
        try {
            if (options.socketSendBufferBytes() > 0) {
                Sockets.setSendBufferSize(fd, options.socketSendBufferBytes(), description);
            }
            if (options.socketReceiveBufferBytes() > 0) {
                Sockets.setReceiveBufferSize(fd, options.socketReceiveBufferBytes(), description);
            }
            final Sockets.PeerCred cred = Sockets.peerCredentials(fd, description);
            return new UnixSocketBlobChannel(fd, description,
                new PeerCredentials(cred.pid(), cred.uid(), cred.gid()), options);
        } catch (final RuntimeException | Error e) {
            Sockets.close(fd);
            throw e;
        }
    }

    /**
     * {@return the kernel's view of the process at the other end, recorded when the connection was made}
     */
    public PeerCredentials peerCredentials() {
        return peer;
    }

    /**
     * Opens a process descriptor of the process at the other end ({@code SO_PEERPIDFD}, Linux 6.5): the
     * process that made the connection, in whichever pid namespace it lives.
     *
     * @return the pidfd, the caller's to close, or {@code -errno}: {@code -ENOPROTOOPT} if the kernel has no
     *     {@code SO_PEERPIDFD}, {@code -ESRCH} if the peer has exited
     * @throws IllegalStateException if the channel is closed
     */
    public int openPeerPidfd() {
        try {
            enter();
        } catch (final ChannelClosedException e) {
            throw new IllegalStateException(what + " is closed", e);
        }
        try {
            return Sockets.peerPidfd(fd, what);
        } finally {
            exit();
        }
    }

    /**
     * {@return whether bytes (or the peer's end) are waiting in the socket now, without receiving them:
     * for a channel nobody has polled yet; {@code false} on a closed channel}
     */
    public boolean hasInput() {
        try {
            enter();
        } catch (final ChannelClosedException e) {
            return false;
        }
        try {
            return Sockets.poll(fd, Sockets.POLLIN, 0) != 0;
        } finally {
            exit();
        }
    }

    @Override
    public int maxMessageLength() {
        return maxMessageLength;
    }

    // ------------------------------------------------------------------------------------------------
    // Sending

    @Override
    public boolean offer(final MemorySegment source, final long offset, final int length) {
        checkRange(source.byteSize(), offset, length);
        return send(source, SOURCE_SEGMENT, offset, length, 0);
    }

    @Override
    public boolean offer(final MemorySegment source, final long offset, final int length, final long timeoutNs) {
        checkRange(source.byteSize(), offset, length);
        return send(source, SOURCE_SEGMENT, offset, length, timeoutNs);
    }

    /**
     * Copies part of an array into the channel, if there is room; the array is copied directly into the
     * native staging buffer, without a wrapping segment.
     *
     * @param source the array
     * @param offset where the blob starts
     * @param length the blob's length, 0 to {@link #maxMessageLength()}
     * @return {@code true} if sent, {@code false} if the channel is full
     * @throws IllegalArgumentException if {@code length} exceeds {@link #maxMessageLength()} or the range is
     *                                  outside {@code source}
     * @throws ChannelClosedException   if either end is closed
     * @throws PeerDeadException        if the peer died
     */
    @Override
    public boolean offer(final byte[] source, final int offset, final int length) {
        checkRange(source.length, offset, length);
        return send(source, SOURCE_ARRAY, offset, length, 0);
    }

    /**
     * Copies part of an array into the channel, waiting up to {@code timeoutNs} for room; the array is
     * copied directly into the native staging buffer, without a wrapping segment.
     *
     * @param source    the array
     * @param offset    where the blob starts
     * @param length    the blob's length, 0 to {@link #maxMessageLength()}
     * @param timeoutNs how long to wait for room, in nanoseconds
     * @return {@code true} if sent, {@code false} if there was no room within the timeout
     * @throws IllegalArgumentException if {@code length} exceeds {@link #maxMessageLength()} or the range is
     *                                  outside {@code source}
     * @throws ChannelClosedException   if either end is closed
     * @throws PeerDeadException        if the peer died
     */
    @Override
    public boolean offer(final byte[] source, final int offset, final int length, final long timeoutNs) {
        checkRange(source.length, offset, length);
        return send(source, SOURCE_ARRAY, offset, length, timeoutNs);
    }

    /**
     * Copies the remaining bytes of a buffer (position to limit) into the channel, if there is room; the
     * buffer's position is not changed.
     *
     * @param source the buffer
     * @return {@code true} if sent, {@code false} if the channel is full
     * @throws IllegalArgumentException if more than {@link #maxMessageLength()} bytes remain
     * @throws ChannelClosedException   if either end is closed
     * @throws PeerDeadException        if the peer died
     */
    @Override
    public boolean offer(final ByteBuffer source) {
        final int length = source.remaining();
        checkLength(length);
        return send(source, SOURCE_BUFFER, source.position(), length, 0);
    }

    /**
     * Sends a blob with native handles: the peer receives new descriptors for the same open files (see
     * {@link HandleBlobHandler}). The handles stay owned by the caller, who may close them as soon as
     * this returns.
     *
     * @param source  the memory to copy the blob from
     * @param offset  where the blob starts in {@code source}
     * @param length  the blob's length, 0 to {@link #maxMessageLength()}
     * @param handles 1 to 253 open handles (the kernel's {@code SCM_MAX_FD})
     * @return {@code true} if sent (the handles went with its first byte), {@code false} if the channel is
     *     full (nothing was sent)
     * @throws IllegalArgumentException if {@code length} exceeds {@link #maxMessageLength()}, the range is
     *                                  outside {@code source}, or there are no or too many handles
     * @throws IllegalStateException    if a handle is closed
     * @throws ChannelClosedException   if either end is closed
     * @throws PeerDeadException        if the peer died
     */
    public boolean offerWithHandles(final MemorySegment source, final long offset, final int length,
                                    final NativeHandle... handles) {
        checkRange(source.byteSize(), offset, length);
        if (handles.length == 0 || handles.length > Sockets.MAX_FDS_PER_MESSAGE) {
            throw new IllegalArgumentException("handles=" + handles.length + " must be in [1, "
                + Sockets.MAX_FDS_PER_MESSAGE + "]");
        }
        final int[] fds = new int[handles.length];
        for (int i = 0; i < handles.length; i++) {
            fds[i] = handles[i].fd();
        }
        enter();
        try {
            lockSend();
            try {
                checkSendable();
                checkNoClaim();
                if (!flushPending()) {
                    stats.increment(StatKind.Channel.OFFERS_REFUSED);
                    return false;
                }
                staging.set(HEADER_WORD, 0, HANDLES_FLAG | length);
                staging.set(HEADER_WORD, HANDLE_COUNT_OFFSET, fds.length);
                MemorySegment.copy(source, offset, staging, HANDLES_HEADER_LENGTH, length);
                if (!sendStaged(HANDLES_HEADER_LENGTH + length, fds)) {
                    stats.increment(StatKind.Channel.OFFERS_REFUSED);
                    return false;
                }
                stats.increment(StatKind.Channel.MESSAGES_SENT);
                stats.add(StatKind.Channel.BYTES_SENT, length);
                stats.add(StatKind.Channel.DESCRIPTORS_SENT, fds.length);
                return true;
            } finally {
                unlockSend();
            }
        } finally {
            exit();
        }
    }

    private boolean send(final Object source, final int sourceKind, final long offset, final int length,
                         final long timeoutNs) {
        enter();
        try {
            lockSend();
            try {
                checkSendable();
                checkNoClaim();
                final long deadline = timeoutNs > 0 ? deadline(timeoutNs) : 0;
                long waitStart = 0;
                ChannelEvents.Stall stall = null;
                while (!flushPending()) {
                    if (waitStart == 0 && timeoutNs > 0) {
                        waitStart = System.nanoTime();
                        stall = ChannelEvents.beginStall();
                    }
                    if (timeoutNs <= 0 || !awaitWritable(deadline, false)) {
                        return refused(waitStart, stall);
                    }
                }
                staging.set(HEADER_WORD, 0, length);
                switch (sourceKind) {
                    case SOURCE_SEGMENT -> MemorySegment.copy((MemorySegment) source, offset, staging, HEADER_LENGTH, length);
                    case SOURCE_ARRAY -> MemorySegment.copy((byte[]) source, (int) offset, staging, JAVA_BYTE, HEADER_LENGTH,
                        length);
                    default -> stagingBuffer.put(HEADER_LENGTH, (ByteBuffer) source, (int) offset, length);
                }
                final int total = HEADER_LENGTH + length;
                while (!sendStaged(total, null)) {
                    if (waitStart == 0 && timeoutNs > 0) {
                        waitStart = System.nanoTime();
                        stall = ChannelEvents.beginStall();
                    }
                    if (timeoutNs <= 0 || !awaitWritable(deadline, false)) {
                        return refused(waitStart, stall);
                    }
                }
                if (waitStart != 0) {
                    waited(waitStart, stall, true);
                }
                stats.increment(StatKind.Channel.MESSAGES_SENT);
                stats.add(StatKind.Channel.BYTES_SENT, length);
                return true;
            } finally {
                unlockSend();
            }
        } finally {
            exit();
        }
    }

    /** Counts an offer refused, after waiting since {@code waitStart} (0 if it did not wait); under the send lock. */
    private boolean refused(final long waitStart, final ChannelEvents.Stall stall) {
        stats.increment(StatKind.Channel.OFFERS_REFUSED);
        if (waitStart != 0) {
            waited(waitStart, stall, false);
        }
        return false;
    }

    /** Counts a wait for room that began at {@code waitStart}; under the send lock. */
    private void waited(final long waitStart, final ChannelEvents.Stall stall, final boolean sent) {
        stats.increment(StatKind.Channel.BACK_PRESSURE_WAITS);
        stats.add(StatKind.Channel.BACK_PRESSURE_NANOS, System.nanoTime() - waitStart);
        ChannelEvents.endStall(stall, what, "unix-socket", sent);
    }

    @Override
    public long tryClaim(final int length) {
        checkLength(length);
        enter();
        try {
            lockSend();
            try {
                checkSendable();
                checkNoClaim();
                if (!flushPending()) {
                    stats.increment(StatKind.Channel.OFFERS_REFUSED);
                    return BACK_PRESSURED;
                }
                claimed = true;
                claimLength = length;
                return CLAIM_OFFSET;
            } finally {
                unlockSend();
            }
        } finally {
            exit();
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Here it is the channel's native staging buffer, right after the frame header, so a committed
     * claim is sent without another copy.
     */
    @Override
    public MemorySegment claimBuffer() {
        if (!claimed) {
            throw new IllegalStateException("no claim is pending");
        }
        return claimBuffer;
    }

    @Override
    public void commit(final long claim) {
        enter();
        try {
            lockSend();
            try {
                checkClaim(claim);
                claimed = false;
                checkSendable();
                staging.set(HEADER_WORD, 0, claimLength);
                final int total = HEADER_LENGTH + claimLength;
                stats.increment(StatKind.Channel.MESSAGES_SENT);
                stats.add(StatKind.Channel.BYTES_SENT, claimLength);
                if (!sendStaged(total, null)) {
                    // The kernel took nothing now: the frame stays staged and goes out first next time.
                    pendingStart = 0;
                    pendingEnd = total;
                    sendPending = true;
                }
            } finally {
                unlockSend();
            }
        } finally {
            exit();
        }
    }

    @Override
    public void abort(final long claim) {
        lockSend();
        try {
            checkClaim(claim);
            claimed = false;
        } finally {
            unlockSend();
        }
    }

    /**
     * Sends the rest of a partly sent frame.
     *
     * @return whether nothing is pending any more
     */
    private boolean flushPending() {
        final int start = pendingStart;
        final int end = pendingEnd;
        if (start == end) {
            return true;
        }
        sendHeader.data(staging, start, end - start);
        final long sent = Sockets.sendmsg(fd, sendHeader, what);
        if (sent == -Errno.EAGAIN) {
            return false;
        }
        if (sent < 0) {
            throw failSend((int) -sent);
        }
        if (start + sent == end) {
            pendingStart = 0;
            pendingEnd = 0;
            sendPending = false;
            return true;
        }
        pendingStart = start + (int) sent;
        return false;
    }

    /**
     * Sends the frame staged at the start of the staging area.
     *
     * @param total the frame's length with its header
     * @param fds   descriptors to send with its first byte, or {@code null}
     * @return {@code false} if the kernel took nothing (and no descriptors); {@code true} if it took all,
     *     or part (the rest is then pending)
     */
    private boolean sendStaged(final int total, final int[] fds) {
        sendHeader.data(staging, 0, total);
        if (fds != null) {
            sendHeader.rights(fds);
        }
        final long sent = Sockets.sendmsg(fd, sendHeader, what);
        if (sent == -Errno.EAGAIN) {
            return false;
        }
        if (sent < 0) {
            throw failSend((int) -sent);
        }
        if (sent < total) {
            pendingStart = (int) sent;
            pendingEnd = total;
            sendPending = true;
        }
        return true;
    }

    /**
     * Waits for room in the socket.
     *
     * @return {@code false} if the deadline has passed
     */
    private boolean awaitWritable(final long deadline, final boolean closing) {
        final long remaining = deadline - System.nanoTime();
        if (remaining <= 0) {
            return false;
        }
        Sockets.poll(fd, Sockets.POLLOUT, Math.min(remaining, WAIT_SLICE_NS));
        if (!closing && isClosing()) {
            throw closedException();
        }
        return true;
    }

    private IsthmusException failSend(final int errno) {
        pendingStart = 0;
        pendingEnd = 0;
        sendPending = false;
        End end = receiveEnd;
        if (end == null) {
            final String how = Errno.name(errno);
            end = peerExited()
                ? new End(Kind.PEER_DEAD, what + ": the peer process died (sending failed with " + how + "; "
                    + peerStatus() + ")")
                : new End(Kind.PEER_CLOSED, what + ": the peer closed its end (sending failed with " + how + ")");
        }
        sendEnd = end;
        return end.sendException();
    }

    private void checkSendable() {
        final End received = receiveEnd;
        if (received != null) {
            throw received.sendException();
        }
        final End sent = sendEnd;
        if (sent != null) {
            throw sent.sendException();
        }
    }

    private void checkNoClaim() {
        if (claimed) {
            throw new IllegalStateException("a claim of length=" + claimLength + " is pending: commit or abort it first");
        }
    }

    private void checkClaim(final long claim) {
        if (!claimed || claim != CLAIM_OFFSET) {
            throw new IllegalStateException("claim=" + claim + " is not the pending claim"
                + (claimed ? "" : " (none is pending)"));
        }
    }

    private void lockSend() {
        // acquire: pairs with unlockSend()'s release; makes the last holder's staging state visible.
        while (!SEND_LOCK.compareAndSet(this, 0, 1)) {
            Thread.onSpinWait();
        }
    }

    private boolean tryLockSend() {
        // acquire: pairs with unlockSend()'s release.
        return SEND_LOCK.compareAndSet(this, 0, 1);
    }

    private boolean lockSendUntil(final long deadline) {
        while (!tryLockSend()) {
            if (deadline - System.nanoTime() <= 0) {
                return false;
            }
            Thread.yield();
        }
        return true;
    }

    private void unlockSend() {
        // release: publishes the staging state to the next holder; pairs with the CAS in lockSend().
        SEND_LOCK.setRelease(this, 0);
    }

    // ------------------------------------------------------------------------------------------------
    // Receiving

    /**
     * {@inheritDoc}
     *
     * <p>If {@code handler} is a {@link HandleBlobHandler}, blobs sent with handles reach it with their
     * handles; otherwise the channel closes those handles after the handler returns. A handler must not
     * call {@code poll} on this channel; it may send on it. If it throws, the blob counts as delivered and
     * the exception propagates.
     */
    @Override
    public int poll(final BlobHandler handler, final int limit) {
        checkPollArguments(handler, limit);
        enter();
        try {
            flushForReceiver();
            return receive(handler, limit);
        } finally {
            exit();
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Handlers and handles as for {@link #poll(BlobHandler, int)}. While it waits, this also sends the
     * rest of a partly sent frame, unless a send is in progress in another thread.
     */
    @Override
    public int poll(final BlobHandler handler, final int limit, final long timeoutNs) {
        checkPollArguments(handler, limit);
        enter();
        try {
            final long deadline = deadline(timeoutNs);
            boolean woken = false;
            while (true) {
                final boolean wantWritable = flushForReceiver();
                final int received = receive(handler, limit);
                if (received > 0) {
                    return received;
                }
                final long remaining = deadline - System.nanoTime();
                if (remaining <= 0) {
                    return 0;
                }
                if (woken) {
                    return 0;
                }
                stats.increment(StatKind.Channel.RECEIVER_SLEEPS);
                final ChannelEvents.Wait wait = ChannelEvents.beginWait();
                final int ready = Sockets.pollOrWake(fd, wantWritable ? Sockets.POLLIN | Sockets.POLLOUT : Sockets.POLLIN,
                    wakeFd, Math.min(remaining, WAIT_SLICE_NS));
                ChannelEvents.endWait(wait, what, "unix-socket", ready != 0);
                if (isClosing()) {
                    throw closedException();
                }
                if ((ready & Sockets.WOKEN) != 0) {
                    // Drained, then one more look at the socket before returning early.
                    FileIo.read(wakeFd, wakeDrain, what + " wake-up");
                    woken = true;
                }
            }
        } finally {
            exit();
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>A timed {@code poll} waits on the socket and on an {@code eventfd} of this channel, which this
     * writes: the poll returns (0 if nothing came) within microseconds. A thread waiting for room to send is
     * not woken this way; closing the channel wakes it.
     */
    @Override
    public boolean wakeUp() {
        try {
            enter();
        } catch (final ChannelClosedException e) {
            return true;
        }
        try {
            FileIo.write(wakeFd, wakeWord, what + " wake-up");
        } finally {
            exit();
        }
        return true;
    }

    /**
     * Hands pending blobs and their native handles to {@code handler}, as {@link #poll(BlobHandler, int)}.
     *
     * @param handler receives each blob with its handles, which it then owns
     * @param limit   the most blobs to hand over, at least 1
     * @return how many blobs were handed over, possibly 0
     */
    public int pollWithHandles(final HandleBlobHandler handler, final int limit) {
        return poll(handler, limit);
    }

    /**
     * Hands pending blobs and their native handles to {@code handler}, waiting up to {@code timeoutNs} for
     * the first, as {@link #poll(BlobHandler, int, long)}.
     *
     * @param handler   receives each blob with its handles, which it then owns
     * @param limit     the most blobs to hand over, at least 1
     * @param timeoutNs how long to wait for the first blob, in nanoseconds
     * @return how many blobs were handed over; 0 if none came within the timeout
     */
    public int pollWithHandles(final HandleBlobHandler handler, final int limit, final long timeoutNs) {
        return poll(handler, limit, timeoutNs);
    }

    private int receive(final BlobHandler handler, final int limit) {
        int delivered = deliver(handler, limit);
        if (delivered < limit && receiveEnd == null && !isClosing() && readOnce() > 0) {
            delivered += deliver(handler, limit - delivered);
        }
        if (delivered == 0) {
            if (isClosing()) {
                throw closedException();
            }
            final End end = receiveEnd;
            if (end != null) {
                throw end.receiveException();
            }
        }
        return delivered;
    }

    /**
     * Hands complete frames in the receive buffer to the handler.
     *
     * @return how many
     */
    private int deliver(final BlobHandler handler, final int limit) {
        if (receiveEnd != null) {
            return 0;
        }
        final MemorySegment buffer = receiveBuffer;
        final int max = maxMessageLength;
        int delivered = 0;
        try {
            delivered = deliverFrames(handler, limit, buffer, max);
        } finally {
            if (delivered > 0) {
                stats.add(StatKind.Channel.MESSAGES_RECEIVED, delivered);
            }
        }
        return delivered;
    }

    private int deliverFrames(final BlobHandler handler, final int limit, final MemorySegment buffer, final int max) {
        int delivered = 0;
        while (delivered < limit) {
            final int position = readPosition;
            final int available = readEnd - position;
            if (available < HEADER_LENGTH) {
                break;
            }
            final int word = buffer.get(HEADER_WORD, position);
            if (word == CLOSE_FRAME) {
                readPosition = position + HEADER_LENGTH;
                endReceive(Kind.PEER_CLOSED, what + ": the peer closed the channel");
                break;
            }
            final int length = word & LENGTH_MASK;
            if (length > max) {
                endReceive(Kind.CORRUPT, what + ": received a frame of length " + length + ", which exceeds maxMessageLength="
                    + max + " (header word 0x" + Integer.toHexString(word) + " at stream offset " + (streamBase + position)
                    + "); the channel is unusable");
                break;
            }
            final boolean withHandles = (word & HANDLES_FLAG) != 0;
            final int payload = position + (withHandles ? HANDLES_HEADER_LENGTH : HEADER_LENGTH);
            if (readEnd - payload < length) {
                break;
            }
            final long frameStart = streamBase + position;
            if (withHandles) {
                final List<NativeHandle> handles =
                    takeHandles(buffer.get(HEADER_WORD, position + HANDLE_COUNT_OFFSET), frameStart);
                if (handles == null) {
                    break;
                }
                readPosition = payload + length;
                delivered++;
                stats.add(StatKind.Channel.BYTES_RECEIVED, length);
                stats.add(StatKind.Channel.DESCRIPTORS_RECEIVED, handles.size());
                deliverWithHandles(handler, receiveView, payload, length, handles);
            } else {
                if (!handleBatches.isEmpty() && !noUnclaimedHandlesBefore(frameStart)) {
                    break;
                }
                readPosition = payload + length;
                delivered++;
                stats.add(StatKind.Channel.BYTES_RECEIVED, length);
                handler.onBlob(receiveView, payload, length);
            }
            if (isClosing()) {
                break;
            }
        }
        return delivered;
    }

    private static void deliverWithHandles(final BlobHandler handler, final MemorySegment buffer, final int offset,
                                           final int length, final List<NativeHandle> handles) {
        if (handler instanceof HandleBlobHandler withHandles) {
            withHandles.onBlob(buffer, offset, length, handles);
            return;
        }
        try {
            handler.onBlob(buffer, offset, length);
        } finally {
            for (final NativeHandle handle : handles) {
                handle.close();
            }
        }
    }

    /**
     * Takes the descriptors that came with the frame with handles starting at {@code frameStart}.
     *
     * @return the handles, or {@code null} if they do not match the frame (the receive side has ended)
     */
    private List<NativeHandle> takeHandles(final int count, final long frameStart) {
        if (count < 1 || count > Sockets.MAX_FDS_PER_MESSAGE) {
            endReceive(Kind.CORRUPT, what + ": " + frameAt(frameStart) + " announces an impossible handle count " + count);
            return null;
        }
        final HandleBatch batch = handleBatches.peekFirst();
        if (batch == null || batch.arrivalStart() > frameStart) {
            endReceive(Kind.CORRUPT, what + ": " + frameAt(frameStart) + " announces " + count + " handles, but no descriptors came with it");
            return null;
        }
        if (batch.arrivalEnd() <= frameStart) {
            endReceive(Kind.CORRUPT, what + ": descriptors arrived with stream bytes " + batch.arrivalStart() + ".."
                + batch.arrivalEnd() + " that no frame announced");
            return null;
        }
        if (batch.truncated()) {
            endReceive(Kind.FAILED, what + ": the kernel dropped descriptors sent with " + frameAt(frameStart)
                + " (MSG_CTRUNC): this process may have reached its limit of open files (RLIMIT_NOFILE)");
            return null;
        }
        if (batch.fds().length != count) {
            endReceive(Kind.CORRUPT, what + ": " + frameAt(frameStart) + " announces " + count + " handles, but "
                + batch.fds().length + " descriptors came with it");
            return null;
        }
        handleBatches.removeFirst();
        final NativeHandle[] handles = new NativeHandle[count];
        for (int i = 0; i < count; i++) {
            handles[i] = NativeHandle.adopt(batch.fds()[i]);
        }
        return List.of(handles);
    }

    private static String frameAt(final long streamOffset) {
        return "the frame at stream offset " + streamOffset;
    }

    private boolean noUnclaimedHandlesBefore(final long frameStart) {
        final HandleBatch batch = handleBatches.peekFirst();
        if (batch.arrivalEnd() <= frameStart) {
            endReceive(Kind.CORRUPT, what + ": descriptors arrived with stream bytes " + batch.arrivalStart() + ".."
                + batch.arrivalEnd() + " that no frame announced");
            return false;
        }
        return true;
    }

    /**
     * Reads once from the socket into the receive buffer.
     *
     * @return how many bytes arrived; 0 if none (the receive side may have ended)
     */
    private int readOnce() {
        compact();
        final int offset = readEnd;
        receiveHeader.data(receiveBuffer, offset, receiveCapacity - offset);
        final long received = Sockets.recvmsg(fd, receiveHeader, what);
        if (received > 0) {
            final int fdCount = receiveHeader.receivedFdCount();
            final boolean truncated = receiveHeader.controlTruncated();
            if (fdCount > 0 || truncated) {
                collectHandles(fdCount, truncated, streamBase + offset, streamBase + offset + received);
            }
            readEnd = offset + (int) received;
            return (int) received;
        }
        if (received == -Errno.EAGAIN) {
            return 0;
        }
        if (isClosing()) {
            // Our own shutdown ended the stream.
            throw closedException();
        }
        endReceive(Kind.PEER_DEAD, deathMessage(received == 0 ? "end of file" : "connection reset, ECONNRESET"));
        return 0;
    }

    private void collectHandles(final int count, final boolean truncated, final long arrivalStart,
                                final long arrivalEnd) {
        final int[] fds = new int[count];
        for (int i = 0; i < count; i++) {
            fds[i] = receiveHeader.receivedFd(i);
        }
        if (truncated) {
            // The frame cannot be delivered with all its handles: close those that made it.
            for (final int received : fds) {
                closeQuietly(received);
            }
            handleBatches.addLast(new HandleBatch(new int[0], true, arrivalStart, arrivalEnd));
        } else {
            handleBatches.addLast(new HandleBatch(fds, false, arrivalStart, arrivalEnd));
        }
        if (handleBatches.size() > MAX_UNCLAIMED_HANDLE_BATCHES) {
            endReceive(Kind.CORRUPT, what + ": " + handleBatches.size() + " sets of descriptors arrived that no frame claimed");
        }
    }

    private void compact() {
        final int position = readPosition;
        if (position == 0) {
            return;
        }
        final int remaining = readEnd - position;
        if (remaining == 0) {
            streamBase += position;
            readPosition = 0;
            readEnd = 0;
        } else if (receiveCapacity - readEnd < compactThreshold) {
            // Move the incomplete frame to the front, so that it and a full read after it fit.
            MemorySegment.copy(receiveBuffer, position, receiveBuffer, 0, remaining);
            streamBase += position;
            readPosition = 0;
            readEnd = remaining;
        }
    }

    private String deathMessage(final String how) {
        final int partial = readEnd - readPosition;
        final String where;
        if (partial == 0) {
            where = "";
        } else if (partial < HEADER_LENGTH) {
            where = " in the middle of a frame (" + partial + " bytes of its header received)";
        } else {
            final int word = receiveBuffer.get(HEADER_WORD, readPosition);
            final int frameLength = (word & LENGTH_MASK) + ((word & HANDLES_FLAG) != 0 ? HANDLES_HEADER_LENGTH : HEADER_LENGTH);
            where = " in the middle of a frame (" + partial + " of its " + frameLength + " bytes received)";
        }
        return what + ": the connection ended" + where + " without a close frame (" + how + "): the peer died or dropped "
            + "the connection; " + peerStatus();
    }

    private void endReceive(final Kind kind, final String message) {
        if (receiveEnd == null) {
            if (kind == Kind.CORRUPT) {
                stats.increment(StatKind.Channel.CORRUPT_REFUSED);
                ChannelEvents.corruptInput(what, "unix-socket", message);
            }
            receiveEnd = new End(kind, message);
        }
    }

    /**
     * Sends the rest of a partly sent frame on behalf of a single-threaded user, unless a send is in
     * progress. A failure is recorded for the sending side; the receiving side finds out by itself.
     *
     * @return whether a frame is still pending because the socket is full
     */
    private boolean flushForReceiver() {
        // volatile read: a cheap hint; the lock below makes the staging state itself visible.
        if (!sendPending || !tryLockSend()) {
            return false;
        }
        try {
            return !flushPending();
        } catch (final ChannelClosedException e) {
            // Recorded in sendEnd by failSend; poll reports what the stream itself shows.
            return false;
        } finally {
            unlockSend();
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Lifetime

    @Override
    public boolean isOpen() {
        return !isClosing() && receiveEnd == null && sendEnd == null;
    }

    /**
     * {@inheritDoc}
     *
     * <p>Waits up to {@link UnixSocketOptions#closeTimeoutNs()} for the peer to take a partly sent frame
     * and the close frame; a pending claim is dropped. If the peer has already closed or died, nothing is
     * sent. Then shuts the socket down, which wakes a {@code poll} waiting in another thread, and closes
     * it once no call is in progress any more.
     */
    @Override
    public void close() {
        if (!CLOSED.compareAndSet(this, 0, 1)) {
            return;
        }
        try {
            sendCloseFrame();
        } finally {
            try {
                Sockets.shutdown(fd, Sockets.SHUT_RDWR, what);
            } finally {
                exit();
            }
        }
    }

    private void sendCloseFrame() {
        final long deadline = deadline(closeTimeoutNs);
        if (!lockSendUntil(deadline)) {
            return;
        }
        try {
            claimed = false;
            if (receiveEnd != null || sendEnd != null) {
                return;
            }
            while (!flushPending()) {
                if (!awaitWritable(deadline, true)) {
                    return;
                }
            }
            staging.set(HEADER_WORD, 0, CLOSE_FRAME);
            while (!sendStaged(HEADER_LENGTH, null)) {
                if (!awaitWritable(deadline, true)) {
                    return;
                }
            }
            while (!flushPending()) {
                if (!awaitWritable(deadline, true)) {
                    return;
                }
            }
        } catch (final ChannelClosedException e) {
            // The peer went away meanwhile: there is nobody to tell.
        } finally {
            unlockSend();
        }
    }

    /**
     * Ends the connection as if the peer had died: both directions are shut down, so a thread waiting in
     * {@code poll} or {@code offer} wakes at once and, like every later call, gets {@link PeerDeadException}
     * once what had arrived is read. For an owner that gave up on a peer that stopped answering. The
     * channel still needs {@link #close()}. Idempotent; a no-op on a closed channel.
     */
    public void declarePeerDead() {
        try {
            enter();
        } catch (final ChannelClosedException closed) {
            return;
        }
        try {
            Sockets.shutdown(fd, Sockets.SHUT_RDWR, what);
        } finally {
            exit();
        }
    }

    private boolean isClosing() {
        return (int) CLOSED.getVolatile(this) != 0;
    }

    private void enter() {
        int current;
        do {
            current = (int) USERS.getVolatile(this);
            if (current == 0) {
                throw closedException();
            }
            // CAS: never revive a released channel (0 stays 0).
        } while (!USERS.compareAndSet(this, current, current + 1));
        if (isClosing()) {
            exit();
            throw closedException();
        }
    }

    private void exit() {
        // getAndAdd (volatile): everything this call did happens-before the release by the last one out.
        if ((int) USERS.getAndAdd(this, -1) == 1) {
            release();
        }
    }

    private void release() {
        try {
            Sockets.close(fd);
        } finally {
            closeQuietly(wakeFd);
            for (final HandleBatch batch : handleBatches) {
                for (final int received : batch.fds()) {
                    closeQuietly(received);
                }
            }
            handleBatches.clear();
            arena.close();
            stats.close();
        }
    }

    private static void closeQuietly(final int descriptor) {
        try {
            Sockets.close(descriptor);
        } catch (final IsthmusException ignored) {
            // Nothing to do about a descriptor that would not close; it is not ours any more either way.
        }
    }

    private ChannelClosedException closedException() {
        return new ChannelClosedException(what + ": this end is closed");
    }

    private boolean peerExited() {
        final long pid = peer.pid();
        if (pid <= 0 || pid == ProcessHandle.current().pid()) {
            return false;
        }
        // The socket closes while the process exits; give the exit a moment to become visible.
        final long deadline = System.nanoTime() + EXIT_GRACE_NS;
        while (true) {
            if (!isRunning(pid)) {
                return true;
            }
            if (deadline - System.nanoTime() <= 0) {
                return false;
            }
            try {
                TimeUnit.MILLISECONDS.sleep(1);
            } catch (final InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
    }

    private String peerStatus() {
        final long pid = peer.pid();
        if (pid <= 0) {
            return "the peer's pid is unknown";
        }
        return isRunning(pid) ? "pid " + pid + " still runs" : "pid " + pid + " no longer runs";
    }

    private static boolean isRunning(final long pid) {
        if (Processes.signalZero(pid) == Processes.DEAD) {
            return false;
        }
        final Processes.ProcStat stat = Processes.procStat(pid);
        return stat != null && !stat.isZombie();
    }

    // ------------------------------------------------------------------------------------------------
    // Arguments

    private void checkLength(final int length) {
        if (length < 0 || length > maxMessageLength) {
            throw new IllegalArgumentException("length=" + length + " must be in [0, maxMessageLength="
                + maxMessageLength + "]");
        }
    }

    private void checkRange(final long sourceLength, final long offset, final int length) {
        checkLength(length);
        if (offset < 0 || offset > sourceLength - length) {
            throw new IllegalArgumentException("offset=" + offset + ", length=" + length
                + " is outside the source of " + sourceLength + " bytes");
        }
    }

    private static void checkPollArguments(final BlobHandler handler, final int limit) {
        Objects.requireNonNull(handler, "handler");
        if (limit < 1) {
            throw new IllegalArgumentException("limit=" + limit + " must be >= 1");
        }
    }

    private static long deadline(final long timeoutNs) {
        // Capped so that deadline - System.nanoTime() never overflows.
        return System.nanoTime() + Math.min(Math.max(0, timeoutNs), Long.MAX_VALUE / 4);
    }

    @Override
    public String toString() {
        return "UnixSocketBlobChannel{" + what + (isOpen() ? "}" : ", closed}");
    }
}
