/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.internal.linux.Errno;
import dev.isthmus.internal.linux.FileIo;
import dev.isthmus.internal.linux.Sockets;
import dev.isthmus.internal.linux.Mmap;
import dev.isthmus.shm.NoSuchResourceException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.channels.FileChannel;
import java.nio.file.OpenOption;
import java.nio.file.Path;

/**
 * An owned file descriptor: a file, a memfd, a socket, anything the kernel can pass between processes
 * ({@code SCM_RIGHTS}) over a {@link UnixSocketBlobChannel}.
 *
 * {@snippet :
 * try (NativeHandle memfd = NativeHandle.memfd("frame", 1 << 20)) {
 *     MemorySegment pixels = memfd.mapShared(1 << 20, true, arena);
 *     // ... fill pixels ...
 *     channel.offerWithHandles(header, 0, (int) header.byteSize(), memfd);   // the peer maps the same pages
 * }
 * }
 *
 * <p>Whoever holds a {@code NativeHandle} owns its descriptor and must {@link #close()} it. Sending a
 * handle does not give it away: the receiver gets its own descriptor for the same open file, owned by
 * the receiver, and the sender still closes its own.
 *
 * <p>Thread safety: all methods are thread-safe; {@link #close()} is idempotent. Closing a handle while
 * another thread uses its descriptor is a race the caller must avoid, as with any file descriptor.
 */
public final class NativeHandle implements AutoCloseable {
    private static final VarHandle CLOSED;

    static {
        try {
            CLOSED = MethodHandles.lookup().findVarHandle(NativeHandle.class, "closed", int.class);
        } catch (final ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final int fd;
    @SuppressWarnings("unused") // accessed through CLOSED
    private volatile int closed;

    private NativeHandle(final int fd) {
        this.fd = fd;
    }

    /**
     * Takes ownership of an open descriptor: the handle closes it.
     *
     * @param fd an open file descriptor that nothing else will close
     * @return the handle
     * @throws IllegalArgumentException if {@code fd} is negative
     */
    public static NativeHandle adopt(final int fd) {
        if (fd < 0) {
            throw new IllegalArgumentException("fd=" + fd + " is not a file descriptor");
        }
        return new NativeHandle(fd);
    }

    /**
     * Opens a file (close-on-exec, not following a symbolic link in the last component).
     *
     * @param file     the file
     * @param writable whether to open it for reading and writing, or for reading only
     * @return the handle
     * @throws NoSuchResourceException     if the file does not exist
     * @throws dev.isthmus.NativeException if it cannot be opened
     */
    public static NativeHandle open(final Path file, final boolean writable) {
        final int fd = FileIo.open(file.toString(), writable ? FileIo.O_RDWR : FileIo.O_RDONLY, 0);
        if (fd == -Errno.ENOENT) {
            throw new NoSuchResourceException("no file " + file);
        }
        if (fd < 0) {
            throw Errno.exception("open(" + file + ")", -fd);
        }
        return new NativeHandle(fd);
    }

    /**
     * Creates an anonymous shared-memory file ({@code memfd_create}) of {@code sizeBytes} bytes, its
     * memory reserved now. It has no name in any directory: it lives as long as some process holds a
     * descriptor or a mapping of it, so it cannot leak past the last of them.
     *
     * @param name      a name for diagnostics ({@code /proc/<pid>/fd} shows {@code /memfd:name})
     * @param sizeBytes the file's length, at least 0
     * @return the handle, open for reading and writing
     * @throws IllegalArgumentException    if {@code sizeBytes} is negative
     * @throws dev.isthmus.NativeException if it cannot be created, e.g. {@code ENOMEM}
     */
    public static NativeHandle memfd(final String name, final long sizeBytes) {
        if (sizeBytes < 0) {
            throw new IllegalArgumentException("sizeBytes=" + sizeBytes + " must be >= 0");
        }
        final int fd = FileIo.memfdCreate(name);
        try {
            if (sizeBytes > 0) {
                FileIo.allocate(fd, sizeBytes, "memfd:" + name);
            }
        } catch (final RuntimeException | Error e) {
            FileIo.close(fd);
            throw e;
        }
        return new NativeHandle(fd);
    }

    /**
     * {@return the descriptor; it stays owned by this handle}
     *
     * @throws IllegalStateException if the handle is closed
     */
    public int fd() {
        if (!isOpen()) {
            throw new IllegalStateException("handle fd=" + fd + " is closed");
        }
        return fd;
    }

    /**
     * {@return whether the descriptor is still open}
     */
    public boolean isOpen() {
        return (int) CLOSED.getVolatile(this) == 0;
    }

    /**
     * Maps the first {@code lengthBytes} bytes of the file, shared with every other mapping of it (in
     * this or another process). The mapping lives until {@code arena} closes, independently of this
     * handle.
     *
     * @param lengthBytes the length to map, greater than 0; at most the file's length
     * @param writable    whether to map for writing (the descriptor must be open for writing)
     * @param arena       owns the mapping
     * @return the mapping, read-only unless {@code writable}
     * @throws IllegalStateException       if the handle is closed
     * @throws dev.isthmus.NativeException if the kernel refuses the mapping
     */
    public MemorySegment mapShared(final long lengthBytes, final boolean writable, final Arena arena) {
        return Mmap.map(fd(), lengthBytes, writable, arena, toString());
    }

    /**
     * Opens the same file again through {@code /proc/self/fd}, as a {@link FileChannel} with its own file
     * position. Works for files and memfds, not for sockets or pipes.
     *
     * @param options how to open it, e.g. {@code StandardOpenOption.READ}
     * @return a new channel, closed independently of this handle
     * @throws IOException           if the file cannot be reopened
     * @throws IllegalStateException if the handle is closed
     */
    public FileChannel openFileChannel(final OpenOption... options) throws IOException {
        return FileChannel.open(Path.of("/proc/self/fd/" + fd()), options);
    }

    /**
     * Reads what is available into native memory, waiting up to {@code timeoutNs} for something to read.
     * Works for files, pipes and sockets of any family (a TCP connection passed by another process, say).
     *
     * @param target    where to read into (native memory)
     * @param timeoutNs how long to wait for data
     * @return the bytes read, 0 at end of stream, or -1 if nothing came within the timeout
     * @throws dev.isthmus.NativeException on failure
     */
    public long read(final MemorySegment target, final long timeoutNs) {
        final long deadline = System.nanoTime() + timeoutNs;
        while (true) {
            final long rc = FileIo.read(fd(), target, toString());
            if (rc >= 0) {
                return rc;
            }
            final long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                return -1;
            }
            Sockets.poll(fd, Sockets.POLLIN, remaining);
        }
    }

    /**
     * Writes all of {@code source}, waiting as needed, up to {@code timeoutNs} in all.
     *
     * @param source    what to write (native memory)
     * @param timeoutNs how long to wait for room in all
     * @return whether everything was written within the timeout
     * @throws dev.isthmus.NativeException on failure, e.g. {@code EPIPE} when the reader is gone
     */
    public boolean write(final MemorySegment source, final long timeoutNs) {
        final long deadline = System.nanoTime() + timeoutNs;
        long written = 0;
        while (written < source.byteSize()) {
            final long rc = FileIo.write(fd(), source.asSlice(written), toString());
            if (rc >= 0) {
                written += rc;
                continue;
            }
            final long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                return false;
            }
            Sockets.poll(fd, Sockets.POLLOUT, remaining);
        }
        return true;
    }

    /**
     * Gives up ownership of the descriptor without closing it, for code that takes it over.
     *
     * @return the descriptor, now the caller's to close
     * @throws IllegalStateException if the handle is closed or released already
     */
    public int release() {
        if (!CLOSED.compareAndSet(this, 0, 1)) {
            throw new IllegalStateException("handle fd=" + fd + " is closed");
        }
        return fd;
    }

    /**
     * Closes the descriptor. Idempotent.
     */
    @Override
    public void close() {
        // CAS: exactly one caller closes the descriptor, however many threads close the handle.
        if (CLOSED.compareAndSet(this, 0, 1)) {
            FileIo.close(fd);
        }
    }

    @Override
    public String toString() {
        return "NativeHandle{fd=" + fd + (isOpen() ? "}" : ", closed}");
    }
}
