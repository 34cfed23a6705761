/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.IsthmusException;
import dev.isthmus.internal.linux.FileIo;
import dev.isthmus.shm.NoSuchResourceException;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceName;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Set;

/**
 * The one-instance lock and address book of a server app: {@code <prefix>.<app>.pid} in the run directory,
 * holding {@code "<pid> <start time>"} of the running instance, locked ({@code fcntl}) while it runs.
 *
 * <p>The lock is an {@code flock(2)} lock on a descriptor kept open while the server runs. The kernel
 * releases it when the process dies, however it dies, so a second instance is refused only while the first
 * runs; clients read the file to find the instance's socket.
 */
final class PidFile implements AutoCloseable {
    private final Path path;
    private final int fd;
    private boolean closed;

    private PidFile(final Path path, final int fd) {
        this.path = path;
        this.fd = fd;
    }

    static Path path(final Path runDirectory, final String app) {
        return runDirectory.resolve(ResourceName.configuredPrefix() + "." + app + ".pid");
    }

    /**
     * Takes the lock for this process.
     *
     * @throws IsthmusException naming the running instance if another holds the lock
     */
    static PidFile acquire(final Path runDirectory, final String app, final PermissionLevel level) {
        final Path path = path(runDirectory, app);
        final String what = path.toString();
        final int fd = FileIo.open(what, FileIo.O_RDWR | FileIo.O_CREAT, 0600);
        if (fd < 0) {
            throw new IsthmusException("cannot create " + path + ": " + dev.isthmus.internal.linux.Errno.name(-fd));
        }
        try {
            // flock, not fcntl: reading the file elsewhere in this process (a sweep, a listing) must not
            // release the lock, as closing any descriptor of the file would release an fcntl lock.
            if (!FileIo.tryLockExclusive(fd, what)) {
                String holder;
                try {
                    holder = "pid " + parse(Files.readString(path), path).pid();
                } catch (final IOException | RuntimeException e) {
                    holder = "another process";
                }
                throw new IsthmusException("server app \"" + app + "\" already runs as " + holder + " (" + path
                    + " is locked); one instance per server app");
            }
            FileIo.fchmod(fd, mode(level), what);
            final ProcessIdentity me = ProcessIdentity.current();
            final byte[] content = (me.pid() + " " + me.startTimeTicks() + "\n").getBytes(StandardCharsets.US_ASCII);
            FileIo.truncate(fd, 0, what);
            try (Arena arena = Arena.ofConfined()) {
                final MemorySegment bytes = arena.allocate(content.length);
                MemorySegment.copy(content, 0, bytes, ValueLayout.JAVA_BYTE, 0, content.length);
                if (FileIo.write(fd, bytes, what) != content.length) {
                    throw new IsthmusException("cannot write " + path + " in one write");
                }
            }
            return new PidFile(path, fd);
        } catch (final RuntimeException e) {
            FileIo.close(fd);
            throw e;
        }
    }

    /** The most a pid file holds: two decimal longs, a space and a newline. */
    static final int MAX_LENGTH = 64;

    /**
     * Reads which process runs a server app, trusting the file only if the app's user owns it.
     *
     * <p>The file is opened without following a symbolic link and without blocking (a FIFO planted under
     * its name opens at once and is refused), checked to be a regular file of at most
     * {@value #MAX_LENGTH} bytes owned by {@code ownerUid}, and only then read.
     *
     * @param runDirectory the run directory, already {@linkplain dev.isthmus.shm.RunDirectory#verify verified}
     * @param app          the server app's name
     * @param ownerUid     the user id the server app runs as
     * @param ownNamespace whether the server runs in this process's pid namespace, so that the pid in the
     *                     file can be checked here; if not, a stale file shows when its socket refuses
     * @throws NoSuchResourceException if the app does not run (no pid file, or its process is gone)
     * @throws dev.isthmus.AuthenticationException if the file is not the app user's regular file (a symbolic
     *                                             link included)
     * @throws dev.isthmus.NativeException         with {@code EACCES} if this user may not read it
     */
    static ProcessIdentity read(final Path runDirectory, final String app, final int ownerUid,
                                final boolean ownNamespace) {
        final Path path = path(runDirectory, app);
        final String what = path.toString();
        final int fd;
        try {
            fd = FileIo.open(what, FileIo.O_RDONLY | FileIo.O_NONBLOCK, 0);
        } catch (final dev.isthmus.NativeException e) {
            if (e.errno() == dev.isthmus.internal.linux.Errno.EACCES) {
                throw e; // the caller explains the permission level
            }
            throw new dev.isthmus.AuthenticationException("cannot open " + path + " as the pid file of server app \""
                + app + "\" (" + e.getMessage() + "): refusing to trust it");
        }
        if (fd == -dev.isthmus.internal.linux.Errno.ENOENT) {
            throw new NoSuchResourceException("server app \"" + app + "\" is not running: no " + path);
        }
        final String text;
        try {
            final FileIo.Status status = FileIo.status(fd, what);
            if (!status.isRegularFile() || status.uid() != ownerUid || status.size() > MAX_LENGTH) {
                throw new dev.isthmus.AuthenticationException(path + " is " + (status.isRegularFile()
                    ? "a file of " + status.size() + " bytes" : "not a regular file (mode "
                    + Integer.toOctalString(status.mode()) + ")") + " owned by uid " + Integer.toUnsignedString(status.uid())
                    + "; the pid file of server app \"" + app + "\" is a regular file of at most " + MAX_LENGTH
                    + " bytes owned by uid " + Integer.toUnsignedString(ownerUid) + ": refusing to trust it");
            }
            try (Arena arena = Arena.ofConfined()) {
                final MemorySegment buffer = arena.allocate(MAX_LENGTH);
                final long read = FileIo.read(fd, buffer, what);
                text = new String(buffer.asSlice(0, Math.max(0, read)).toArray(ValueLayout.JAVA_BYTE),
                    StandardCharsets.US_ASCII);
            }
        } finally {
            FileIo.close(fd);
        }
        final ProcessIdentity identity = parse(text, path);
        if (ownNamespace && !identity.isAlive()) {
            throw new NoSuchResourceException("server app \"" + app + "\" is not running: its last instance, pid "
                + identity.pid() + ", has exited (" + path + ")");
        }
        return identity;
    }

    private static ProcessIdentity parse(final String text, final Path path) {
        final String[] parts = text.trim().split(" ");
        try {
            return new ProcessIdentity(Long.parseLong(parts[0]), Long.parseLong(parts[1]));
        } catch (final RuntimeException e) {
            throw new dev.isthmus.CorruptDataException(path + " does not hold \"<pid> <start time>\": \"" + text.trim() + "\"");
        }
    }

    /** Others may read the pid file (to find the server), never write it. */
    static int mode(final PermissionLevel level) {
        return level.fileMode() & 0644;
    }

    static Set<PosixFilePermission> permissions(final PermissionLevel level) {
        final int mode = mode(level);
        final Set<PosixFilePermission> permissions = EnumSet.noneOf(PosixFilePermission.class);
        final PosixFilePermission[] bits = {PosixFilePermission.OTHERS_EXECUTE, PosixFilePermission.OTHERS_WRITE,
            PosixFilePermission.OTHERS_READ, PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.GROUP_WRITE,
            PosixFilePermission.GROUP_READ, PosixFilePermission.OWNER_EXECUTE, PosixFilePermission.OWNER_WRITE,
            PosixFilePermission.OWNER_READ};
        for (int i = 0; i < bits.length; i++) {
            if ((mode >> i & 1) != 0) {
                permissions.add(bits[i]);
            }
        }
        return permissions;
    }

    Path path() {
        return path;
    }

    /** Removes the file, then releases the lock (closing the descriptor). Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            Files.deleteIfExists(path);
        } catch (final IOException ignored) {
            // gone already, or the directory is not writable: the next start sweeps it
        } finally {
            FileIo.close(fd);
        }
    }
}
