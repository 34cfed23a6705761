/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.IsthmusException;
import dev.isthmus.internal.linux.Credentials;
import dev.isthmus.internal.linux.Errno;
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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The one-instance lock and address book of a server app: {@code <prefix>.<app>.pid} in the run directory,
 * holding {@code "<pid> <start time>"} of the running instance, locked while it runs.
 *
 * <p>The lock is an {@code flock(2)} lock on a descriptor kept open while the server runs. The kernel
 * releases it when the process dies, however it dies, so a second instance is refused only while the first
 * runs; clients read the file to find the instance's socket. Whether an instance runs is the lock's to say,
 * never the text's: {@code Resources} (listing, {@code isthmus clean}, the start-up sweep) calls a locked pid
 * file live whatever it holds and an unlocked one stale.
 *
 * <p>The protocol that keeps two instances from both believing they own the name; every party follows it:
 * <ul>
 *   <li><b>Acquire</b>: open (creating) the name, lock the descriptor, then check that the name still names
 *       the locked file (same device and inode). If it does not, the file was unlinked between the open and
 *       the lock: close and start again. Holding the lock on a file the name names is owning the app.</li>
 *   <li><b>Release</b> ({@link #close()}): unlink the name <em>while still holding the lock</em>, then close
 *       the descriptor, which releases the lock.</li>
 *   <li><b>Removal of a stale file</b> by someone else ({@code Resources.removeStale}): lock it, check the
 *       name still names it, unlink while holding the lock, close.</li>
 * </ul>
 * Why unlink before unlocking: a newcomer that opened the old file blocks on (or retries) the lock until it is
 * released; by then the name is gone, so its check after locking fails and it creates a fresh file. Unlocking
 * first would be wrong: the newcomer could take the lock in between, pass its check (the name still names the
 * file), and then lose the name to our unlink; a third instance would then create a fresh file under the name
 * and lock that one too, and two instances would run. Checking after locking is what makes unlinking under the
 * lock sufficient: whoever holds the lock on the file the name names is the only owner, since no party unlinks
 * that name without holding that lock.
 *
 * <p>A listing tests the lock with a shared {@code LOCK_NB} lock for a moment; {@link #acquire} therefore
 * retries for {@link #ACQUIRE_PATIENCE_NS} before concluding that another instance runs.
 */
final class PidFile implements AutoCloseable {
    /** How long {@link #acquire} retries a lock held by someone, in case it is only a listing testing it. */
    static final long ACQUIRE_PATIENCE_NS = TimeUnit.MILLISECONDS.toNanos(500);
    /** How often {@link #acquire} starts again because the name was unlinked under it, before giving up. */
    private static final int MAX_REPLACED = 100;
    /** The most {@link #acquire} reads of a held pid file to name its holder. */
    private static final int HOLDER_READ_LIMIT_BYTES = 64;

    private final Path path;
    private final int fd;
    private final FileIo.Stat file;
    private boolean closed;

    private PidFile(final Path path, final int fd, final FileIo.Stat file) {
        this.path = path;
        this.fd = fd;
        this.file = file;
    }

    static Path path(final Path runDirectory, final String app) {
        return runDirectory.resolve(ResourceName.configuredPrefix() + "." + app + ".pid");
    }

    /**
     * Takes the lock for this process and writes this process's identity into the file.
     *
     * @throws IsthmusException naming the running instance if another holds the lock, or naming the path and
     *                          what to do if the name is taken by something that is not this user's regular file
     */
    static PidFile acquire(final Path runDirectory, final String app, final PermissionLevel level) {
        final Path path = path(runDirectory, app);
        final String what = path.toString();
        final int uid = Credentials.effectiveUid();
        final long deadline = System.nanoTime() + ACQUIRE_PATIENCE_NS;
        for (int replaced = 0; ; replaced++) {
            if (replaced > MAX_REPLACED) {
                throw new IsthmusException("server app \"" + app + "\" cannot lock " + path + ": it was removed and "
                    + "created again " + MAX_REPLACED + " times while this process locked it; is another program "
                    + "removing files in " + runDirectory + "?");
            }
            // O_NONBLOCK: a FIFO planted under the name must not block the open (it is refused below).
            final int fd = FileIo.tryOpen(what, FileIo.O_RDWR | FileIo.O_CREAT | FileIo.O_NONBLOCK, 0600);
            if (fd < 0) {
                throw new IsthmusException("server app \"" + app + "\" cannot open its pid file " + path + ": "
                    + Errno.name(-fd) + " (" + Errno.describe(-fd) + ")"
                    + (fd == -Errno.ELOOP ? "; it is a symbolic link: remove it" : "")
                    + (fd == -Errno.EACCES ? "; either it exists with a mode that excludes this user (remove it) or "
                        + runDirectory + " is not writable by this user" : ""));
            }
            try {
                final FileIo.Stat opened = FileIo.stat(fd, what);
                if (!opened.isRegularFile() || opened.uid() != uid) {
                    throw new IsthmusException("server app \"" + app + "\" cannot use " + path + " as its pid file: it is a "
                        + opened.typeName() + " owned by uid " + Integer.toUnsignedString(opened.uid()) + ", not a regular "
                        + "file of this user (uid " + Integer.toUnsignedString(uid) + "); remove it");
                }
                // flock, not fcntl: reading the file elsewhere in this process (a sweep, a listing) must not
                // release the lock, as closing any descriptor of the file would release an fcntl lock.
                while (!FileIo.tryLockExclusive(fd, what)) {
                    if (System.nanoTime() - deadline >= 0) {
                        throw new IsthmusException("server app \"" + app + "\" already runs as " + holder(fd, what)
                            + " (" + path + " is locked); one instance per server app");
                    }
                    // Perhaps only a listing testing the lock: it lets go within microseconds.
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(2));
                }
                // SYNC POINT with close() and Resources.removePidFile: they unlink only while holding this lock,
                // so a name that still names the locked file now stays ours until we unlink it.
                final FileIo.Stat named = FileIo.statNoFollow(what);
                if (named == null || !named.isSameFile(opened)) {
                    FileIo.close(fd);
                    continue;
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
                return new PidFile(path, fd, opened);
            } catch (final RuntimeException e) {
                FileIo.close(fd);
                throw e;
            }
        }
    }

    /** {@return who holds a pid file's lock, from what it says (at most a few bytes of it)} */
    private static String holder(final int fd, final String what) {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment buffer = arena.allocate(HOLDER_READ_LIMIT_BYTES);
            final long n = FileIo.read(fd, buffer, what);
            if (n > 0) {
                final String text = new String(buffer.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII);
                final String[] parts = text.trim().split(" ");
                if (parts.length == 2) {
                    return "pid " + Long.parseLong(parts[0]);
                }
            }
        } catch (final RuntimeException e) {
            // says nothing usable: name no pid
        }
        return "another process";
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
     * <p>Whether the app runs is told by the file's lock, not by its text: a server instance holds its
     * {@code flock} while it runs, in whichever pid namespace, and the kernel drops it when it exits. A
     * locked file that does not say yet who locked it is an instance starting: read again for a while.
     *
     * @param runDirectory the run directory, already {@linkplain dev.isthmus.shm.RunDirectory#verify verified}
     * @param app          the server app's name
     * @param ownerUid     the user id the server app runs as
     * @throws NoSuchResourceException if the app does not run (no pid file, or no instance holds its lock)
     * @throws dev.isthmus.AuthenticationException if the file is not the app user's regular file (a symbolic
     *                                             link included)
     * @throws dev.isthmus.NativeException         with {@code EACCES} if this user may not read it
     * @throws dev.isthmus.CorruptDataException    if a running instance holds the lock of a file that still
     *                                             names no process after 200 ms
     */
    static ProcessIdentity read(final Path runDirectory, final String app, final int ownerUid) {
        final Path path = path(runDirectory, app);
        // A starting instance creates, locks, truncates and then writes the file: between the lock and the
        // write, a locked file says nothing yet. That lasts microseconds; wait that out, not forever.
        final long deadline = System.nanoTime() + STARTING_PATIENCE_NS;
        while (true) {
            final Contents contents = readOnce(path, app, ownerUid);
            if (contents.unlocked()) {
                final ProcessIdentity last = parseOrNull(contents.text());
                throw new NoSuchResourceException("server app \"" + app + "\" is not running: " + (last == null
                    ? "no instance holds " + path + "'s lock" : "its last instance, pid " + last.pid()
                    + ", has exited (" + path + " is not locked)"));
            }
            final ProcessIdentity identity = parseOrNull(contents.text());
            if (identity != null) {
                return identity;
            }
            if (System.nanoTime() - deadline >= 0) {
                throw new dev.isthmus.CorruptDataException(path + " is locked by a running instance of server app \""
                    + app + "\" but does not hold \"<pid> <start time>\": \"" + contents.text().trim() + "\"");
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
    }

    /** How long a reader waits for a locked pid file to say who locked it. */
    private static final long STARTING_PATIENCE_NS = TimeUnit.MILLISECONDS.toNanos(200);

    /** What one read of a pid file found: its text, and whether no instance held its lock. */
    private record Contents(String text, boolean unlocked) {
    }

    private static Contents readOnce(final Path path, final String app, final int ownerUid) {
        final String what = path.toString();
        final int fd = FileIo.tryOpen(what, FileIo.O_RDONLY | FileIo.O_NONBLOCK, 0);
        if (fd == -dev.isthmus.internal.linux.Errno.ENOENT) {
            throw new NoSuchResourceException("server app \"" + app + "\" is not running: no " + path);
        }
        if (fd == -dev.isthmus.internal.linux.Errno.EACCES) {
            // the caller explains the permission level
            throw dev.isthmus.internal.linux.Errno.exception("open(" + path + ")", -fd);
        }
        if (fd < 0) {
            throw new dev.isthmus.AuthenticationException("cannot open " + path + " as the pid file of server app \""
                + app + "\" (" + dev.isthmus.internal.linux.Errno.name(-fd) + "): refusing to trust it");
        }
        final String text;
        final boolean unlocked;
        try {
            final FileIo.Stat status = FileIo.stat(fd, what);
            if (!status.isRegularFile() || status.uid() != ownerUid || status.sizeBytes() > MAX_LENGTH) {
                throw new dev.isthmus.AuthenticationException(path + " is " + (status.isRegularFile()
                    ? "a file of " + status.sizeBytes() + " bytes" : "not a regular file (mode "
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
            // A shared lock is granted unless a running instance holds its exclusive one; closing releases it.
            unlocked = FileIo.tryLockShared(fd, what);
        } finally {
            FileIo.close(fd);
        }
        return new Contents(text, unlocked);
    }

    /** {@return the identity a pid file's text names, or {@code null} if it names none} */
    private static ProcessIdentity parseOrNull(final String text) {
        final String[] parts = text.trim().split(" ");
        if (parts.length != 2) {
            return null;
        }
        try {
            return new ProcessIdentity(Long.parseLong(parts[0]), Long.parseLong(parts[1]));
        } catch (final RuntimeException e) {
            return null;
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

    /**
     * Removes the file while still holding its lock, then releases the lock by closing the descriptor (see
     * the class comment for why in this order). The name is unlinked only if it still names the locked file,
     * so a file someone put there by hand is never removed. Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        final String what = path.toString();
        try {
            final FileIo.Stat named = FileIo.statNoFollow(what);
            if (named != null && named.isSameFile(file)) {
                // Fails only if the directory is not writable any more: the next start sweeps the file, unlocked.
                FileIo.unlink(what);
            }
        } catch (final RuntimeException ignored) {
            // the directory cannot be searched any more: the same
        } finally {
            // Releases the lock, after the unlink: a newcomer waiting for it then finds the name gone.
            FileIo.close(fd);
        }
    }
}
