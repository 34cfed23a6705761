/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.IsthmusException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.internal.linux.Errno;
import dev.isthmus.internal.linux.Sockets;
import dev.isthmus.shm.NoSuchResourceException;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.RunDirectory;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * A listening Unix socket whose connections become {@link UnixSocketBlobChannel}s.
 *
 * {@snippet :
 * try (UnixSocketServer server = UnixSocketServer.bind("cacheSrv", "s1", UnixSocketOptions.defaults())) {
 *     Path address = server.address();        // e.g. /run/user/1000/isthmus/isthmus.cacheSrv.4711.sock.s1
 *     try (UnixSocketBlobChannel channel = server.accept(TimeUnit.SECONDS.toNanos(30))) {
 *         // channel.peerCredentials() says who connected
 *     }
 * }
 * }
 *
 * <p>The socket file is named by the {@linkplain ResourceName scheme} with kind {@value #KIND}, lives in
 * the {@linkplain RunDirectory run directory} unless the options name another directory, and gets
 * exactly the {@linkplain PermissionLevel permission level}'s mode, whatever the umask. {@link #close()}
 * removes it; if the process dies first, {@code isthmus clean} removes it (its name carries the pid).
 *
 * @apiNote The socket file exists with the umask's mode for the moment between {@code bind} and
 *     {@code chmod}. In the run directory this does not matter: only its owner may enter it at
 *     {@link PermissionLevel#USER_ACCESS}, and at wider levels the socket is meant to be reachable anyway.
 *
 * <p>Thread safety: {@link #accept} may be called by one thread at a time; {@link #close()},
 * {@link #address()}, {@link #name()} and {@link #isOpen()} by any thread at any time. An {@code accept}
 * waiting in another thread when the server closes throws {@link IllegalStateException}.
 */
public final class UnixSocketServer implements AutoCloseable {
    /** The kind of resource name of a socket file. */
    public static final String KIND = "sock";

    private static final long WAIT_SLICE_NS = TimeUnit.MILLISECONDS.toNanos(100);

    private static final VarHandle USERS;
    private static final VarHandle CLOSED;

    static {
        try {
            final MethodHandles.Lookup lookup = MethodHandles.lookup();
            USERS = lookup.findVarHandle(UnixSocketServer.class, "users", int.class);
            CLOSED = lookup.findVarHandle(UnixSocketServer.class, "closed", int.class);
        } catch (final ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final ResourceName name;
    private final Path path;
    private final String what;
    private final int fd;
    private final UnixSocketOptions options;
    @SuppressWarnings("unused") // accessed through CLOSED
    private volatile int closed;
    /** The owner's reference (dropped by close) plus one per accept in progress; 0 once released. */
    @SuppressWarnings("unused") // accessed through USERS
    private volatile int users = 1;

    private UnixSocketServer(final ResourceName name, final Path path, final int fd, final UnixSocketOptions options) {
        this.name = name;
        this.path = path;
        this.what = "Unix socket server " + path;
        this.fd = fd;
        this.options = options;
    }

    /**
     * Creates a server whose socket file is named {@code <prefix>.<app>.<pid>.sock.<id>}.
     *
     * @param app     the owning application
     * @param id      unique among this process's sockets
     * @param options where and with which permissions the socket file is created, and the options of
     *                every accepted channel
     * @return the listening server
     * @throws IllegalArgumentException if a name part is invalid, or the socket's file name alone is too long
     *                                  for {@code sockaddr_un} (a long path is reached through its directory)
     * @throws IsthmusException         if the socket file exists and a server listens on it, or the directory
     *                                  cannot be used
     */
    public static UnixSocketServer bind(final String app, final String id, final UnixSocketOptions options) {
        return bind(ResourceName.of(app, KIND, id), options);
    }

    /**
     * Creates a server with a socket file of the given name. A leftover socket file of that name nobody
     * listens on (left by a dead process whose pid this one reuses) is replaced.
     *
     * @param name    the socket file's name; its kind must be {@value #KIND}
     * @param options where and with which permissions the socket file is created, and the options of
     *                every accepted channel
     * @return the listening server
     * @throws IllegalArgumentException if the kind is not {@value #KIND}, or the socket's file name alone is
     *                                  too long for {@code sockaddr_un} (a long path is reached through its
     *                                  directory)
     * @throws IsthmusException         if the socket file exists and a server listens on it, or the directory
     *                                  cannot be used
     */
    public static UnixSocketServer bind(final ResourceName name, final UnixSocketOptions options) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(options, "options");
        if (!KIND.equals(name.kind())) {
            throw new IllegalArgumentException("name.kind=" + name.kind() + " must be " + KIND);
        }
        final PermissionLevel level = options.permissions();
        final Path directory = options.directory().isPresent()
            ? RunDirectory.ensure(options.directory().get(), level)
            : RunDirectory.ensure(level);
        final Path path = directory.resolve(name.toString());
        final String where = path.toString();
        final int fd = Sockets.socket();
        boolean bound = false;
        try {
            int rc = Sockets.bind(fd, where);
            if (rc == -Errno.EADDRINUSE && removeIfAbandoned(where)) {
                rc = Sockets.bind(fd, where);
            }
            if (rc == -Errno.EADDRINUSE) {
                throw new IsthmusException("cannot create Unix socket " + where + ": it exists and a server listens on it");
            }
            if (rc == -Errno.ENOENT) {
                throw new NoSuchResourceException("cannot create Unix socket " + where + ": its directory vanished");
            }
            bound = true;
            try {
                // The umask applied to bind: set the level's mode exactly.
                Files.setPosixFilePermissions(path, PosixFilePermissions.fromString(level.symbolic()));
            } catch (final IOException e) {
                throw new IsthmusException("cannot set the mode of Unix socket " + where + ": " + e, e);
            }
            Sockets.listen(fd, options.backlog(), where);
            return new UnixSocketServer(name, path, fd, options);
        } catch (final RuntimeException | Error e) {
            if (bound) {
                deleteQuietly(path);
            }
            Sockets.close(fd);
            throw e;
        }
    }

    /**
     * Tells whether a socket file in the way is abandoned (nobody listens on it), and removes it if so.
     */
    private static boolean removeIfAbandoned(final String where) {
        final int probe = Sockets.socket();
        try {
            final int rc = Sockets.connect(probe, where);
            if (rc == -Errno.ECONNREFUSED) {
                deleteQuietly(Path.of(where));
                return true;
            }
            return rc == -Errno.ENOENT;
        } finally {
            Sockets.close(probe);
        }
    }

    /**
     * Accepts the next connection, waiting up to {@code timeoutNs} for one.
     *
     * @param timeoutNs how long to wait, in nanoseconds; 0 only takes a connection already waiting
     * @return a channel to the process that connected ({@link UnixSocketBlobChannel#peerCredentials()})
     * @throws IsthmusTimeoutException if no connection came within the timeout
     * @throws IllegalStateException   if the server is closed, or closes while waiting
     */
    public UnixSocketBlobChannel accept(final long timeoutNs) {
        enter();
        try {
            final long deadline = System.nanoTime() + Math.min(Math.max(0, timeoutNs), Long.MAX_VALUE / 4);
            while (true) {
                final int connection = Sockets.accept(fd, what);
                if (connection >= 0) {
                    return UnixSocketBlobChannel.accepted(connection, path, options);
                }
                final long remaining = deadline - System.nanoTime();
                if (remaining <= 0) {
                    throw new IsthmusTimeoutException("no connection to " + what + " within "
                        + TimeUnit.NANOSECONDS.toMillis(Math.max(0, timeoutNs)) + " ms");
                }
                Sockets.poll(fd, Sockets.POLLIN, Math.min(remaining, WAIT_SLICE_NS));
                if (isClosing()) {
                    throw closedException();
                }
            }
        } finally {
            exit();
        }
    }

    /**
     * {@return the socket file, to give to {@link UnixSocketBlobChannel#connect}}
     */
    public Path address() {
        return path;
    }

    /**
     * {@return the socket file's resource name}
     */
    public ResourceName name() {
        return name;
    }

    /**
     * {@return whether the server still accepts connections}
     */
    public boolean isOpen() {
        return !isClosing();
    }

    /**
     * Removes the socket file and stops listening; connections not yet accepted are dropped (their
     * clients see the connection end). Channels already accepted are not affected. Idempotent.
     */
    @Override
    public void close() {
        if (!CLOSED.compareAndSet(this, 0, 1)) {
            return;
        }
        try {
            deleteQuietly(path);
            // Wakes an accept waiting in poll in another thread.
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
            // CAS: never revive a released server (0 stays 0).
        } while (!USERS.compareAndSet(this, current, current + 1));
        if (isClosing()) {
            exit();
            throw closedException();
        }
    }

    private void exit() {
        // getAndAdd (volatile): the last one out closes the descriptor, after every other use of it.
        if ((int) USERS.getAndAdd(this, -1) == 1) {
            Sockets.close(fd);
        }
    }

    private IllegalStateException closedException() {
        return new IllegalStateException(what + " is closed");
    }

    private static void deleteQuietly(final Path path) {
        try {
            Files.deleteIfExists(path);
        } catch (final IOException ignored) {
            // Someone else removed it, or the directory is not writable: isthmus clean reports what is left.
        }
    }

    @Override
    public String toString() {
        return "UnixSocketServer{" + path + (isOpen() ? "}" : ", closed}");
    }
}
