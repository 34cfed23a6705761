/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import dev.isthmus.IsthmusException;
import dev.isthmus.internal.linux.Platform;
import dev.isthmus.internal.linux.Credentials;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.Set;

/**
 * The per-user directory for Isthmus's socket files (and later pid and lock files): a place every
 * process of a user finds without configuration, and that needs no root.
 *
 * <p>Where it is, first match wins:
 * <ol>
 *   <li>the system property {@value #PROPERTY}, if set;</li>
 *   <li>{@code $XDG_RUNTIME_DIR/isthmus}, if {@code XDG_RUNTIME_DIR} is set to an absolute path that is
 *       a directory (not a symbolic link) owned by this process's effective user;</li>
 *   <li>{@code /tmp/isthmus-<uid>}, with this process's effective user id.</li>
 * </ol>
 *
 * <p>{@link #ensure(PermissionLevel)} creates the directory if it is missing, with mode {@code 0700} plus
 * the read and search bits the permission level grants to group and others ({@code 0750} for
 * {@link PermissionLevel#GROUP_ACCESS}, {@code 0755} for {@link PermissionLevel#UNRESTRICTED}). Whichever
 * location is used, it refuses a directory that is a symbolic link or that belongs to another user.
 *
 * @apiNote Flow-IPC puts its sockets under {@code /var/run}, which needs root, and its users trip on it;
 *     a per-user directory does not. {@code XDG_RUNTIME_DIR} ({@code /run/user/<uid>}) is the systemd
 *     convention for exactly this: private to the user, on tmpfs, removed at logout. It is not set for
 *     services, cron jobs or {@code su} shells, hence the fallback in {@code /tmp}. Because {@code /tmp} is
 *     shared, another user could create {@code /tmp/isthmus-<uid>} first and read or replace the sockets
 *     in it; a directory owned by someone else, or a symbolic link, is therefore refused, never used.
 *     The fallback ignores {@code java.io.tmpdir} on purpose: every JVM of the user must agree on the
 *     directory, whatever its options. For the same reason, processes of one application must agree on
 *     whether {@code XDG_RUNTIME_DIR} is set (a service and a login shell may not); set {@value #PROPERTY}
 *     for both when in doubt.
 *     Group and others never get write permission on the directory, whatever the level: they connect to
 *     sockets in it (which needs search permission on the directory and write permission on the socket,
 *     given by the socket's own mode) but must not create, rename or remove entries.
 *
 * <p>Thread safety: the methods are stateless and thread-safe; two processes ensuring the directory at
 * once both succeed.
 */
public final class RunDirectory {
    /** The system property that names the run directory explicitly. */
    public static final String PROPERTY = "isthmus.run.dir";

    private static final String XDG_RUNTIME_DIR = "XDG_RUNTIME_DIR";
    private static final int OWNER_ONLY = 0700;
    private static final int GROUP_OTHER_READ_SEARCH = 0055;

    private RunDirectory() {
    }

    /**
     * {@return the run directory of this process, as resolved now; it is neither created nor checked}
     */
    public static Path path() {
        final String configured = System.getProperty(PROPERTY);
        if (configured != null && !configured.isEmpty()) {
            return Path.of(configured).toAbsolutePath().normalize();
        }
        Platform.requireSupported();
        final int uid = Credentials.effectiveUid();
        final String xdg = System.getenv(XDG_RUNTIME_DIR);
        if (xdg != null && !xdg.isEmpty()) {
            final Path runtime = Path.of(xdg);
            if (runtime.isAbsolute() && Files.isDirectory(runtime, LinkOption.NOFOLLOW_LINKS)
                && ownerUid(runtime) == uid) {
                return runtime.resolve("isthmus");
            }
        }
        return Path.of("/tmp", "isthmus-" + Integer.toUnsignedString(uid));
    }

    /**
     * Resolves the run directory ({@link #path()}), creates it if missing and checks it.
     *
     * @param level the permission level of the resources that will live in it
     * @return the directory
     * @throws IsthmusException if it cannot be created, or exists but is a symbolic link, not a directory,
     *                          or owned by another user
     */
    public static Path ensure(final PermissionLevel level) {
        return ensure(path(), level);
    }

    /**
     * Creates {@code directory} if missing, with the mode {@code level} calls for, and checks that it is
     * a real directory owned by this process's effective user. An existing directory keeps its mode,
     * except that search and read bits the level needs are added and write permission for group and
     * others is removed (clients refuse a run directory that another user could write to).
     *
     * @param directory the directory; missing parents are created too
     * @param level     the permission level of the resources that will live in it
     * @return {@code directory}
     * @throws IsthmusException if it cannot be created, or exists but is a symbolic link, not a directory,
     *                          or owned by another user
     */
    public static Path ensure(final Path directory, final PermissionLevel level) {
        Platform.requireSupported();
        final int mode = OWNER_ONLY | (level.directoryMode() & GROUP_OTHER_READ_SEARCH);
        final int uid = Credentials.effectiveUid();
        try {
            final Path parent = directory.toAbsolutePath().getParent();
            if (parent != null && !Files.isDirectory(parent)) {
                Files.createDirectories(parent);
            }
            Files.createDirectory(directory);
            // The umask applied to createDirectory: set the mode exactly. The directory was just created
            // by us inside a directory we could write to, so it is not a planted link.
            Files.setPosixFilePermissions(directory, permissions(mode));
        } catch (final FileAlreadyExistsException e) {
            // Created earlier, or by a concurrent process: checked below like any existing one.
        } catch (final IOException e) {
            throw new IsthmusException("cannot create the run directory " + directory + ": " + e, e);
        }
        final PosixFileAttributes attributes;
        try {
            attributes = Files.readAttributes(directory, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (final IOException e) {
            throw new IsthmusException("cannot inspect the run directory " + directory + ": " + e, e);
        }
        if (attributes.isSymbolicLink()) {
            throw new IsthmusException("run directory " + directory + " is a symbolic link: refusing it, since another "
                + "user may have planted it to intercept sockets; remove it, or set -D" + PROPERTY + " to a directory of yours");
        }
        if (!attributes.isDirectory()) {
            throw new IsthmusException("run directory " + directory + " exists but is not a directory; remove it, or set -D"
                + PROPERTY + " to a directory of yours");
        }
        final int owner = ownerUid(directory);
        if (owner != uid) {
            throw new IsthmusException("run directory " + directory + " is owned by uid " + Integer.toUnsignedString(owner)
                + ", not by this process's user (uid " + Integer.toUnsignedString(uid) + "): refusing it, since another user "
                + "could read or replace the sockets in it; remove it, or set -D" + PROPERTY + " to a directory of yours");
        }
        final Set<PosixFilePermission> present = attributes.permissions();
        final Set<PosixFilePermission> adjusted = EnumSet.noneOf(PosixFilePermission.class);
        adjusted.addAll(present);
        adjusted.addAll(permissions(mode));
        // Write permission for group or others would let another user plant a pid file and socket.
        adjusted.remove(PosixFilePermission.GROUP_WRITE);
        adjusted.remove(PosixFilePermission.OTHERS_WRITE);
        if (!adjusted.equals(present)) {
            try {
                Files.setPosixFilePermissions(directory, adjusted);
            } catch (final IOException e) {
                throw new IsthmusException("cannot set the mode of the run directory " + directory + ": " + e, e);
            }
        }
        return directory;
    }

    /**
     * Checks, before a client trusts anything in it, that {@code directory} is the run directory of a
     * server running as {@code ownerUid}: a real directory (not a symbolic link) owned by that user that
     * no one else can write to, inside ancestors that neither another user can replace (each is owned by
     * root or by that user, and is not writable by group or others unless it is sticky, as {@code /tmp}
     * is). Another user who created the directory first (the {@code /tmp/isthmus-<uid>} fallback is in a
     * world-writable place) or can write to it could plant a pid file and a socket of its own; the
     * client then refuses it and sends nothing.
     *
     * @param directory the run directory the client was configured with, or {@link #path()}
     * @param ownerUid  the user id the server application is defined to run as
     * @return {@code directory}, absolute and normalised
     * @throws dev.isthmus.shm.NoSuchResourceException if it does not exist (the server never ran there)
     * @throws dev.isthmus.AuthenticationException     if it or an ancestor fails a check; the message says
     *                                                 which, and what to do
     */
    public static Path verify(final Path directory, final int ownerUid) {
        Platform.requireSupported();
        final Path absolute = directory.toAbsolutePath().normalize();
        final PosixFileAttributes attributes;
        try {
            attributes = Files.readAttributes(absolute, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (final java.nio.file.NoSuchFileException e) {
            throw new NoSuchResourceException("no run directory " + absolute + ": the server app never ran there");
        } catch (final IOException e) {
            throw new dev.isthmus.AuthenticationException("cannot inspect the run directory " + absolute + ": " + e);
        }
        if (attributes.isSymbolicLink() || !attributes.isDirectory()) {
            throw new dev.isthmus.AuthenticationException("run directory " + absolute + " is "
                + (attributes.isSymbolicLink() ? "a symbolic link" : "not a directory")
                + ": refusing to trust the server it names, since another user may have planted it");
        }
        final int owner = ownerUid(absolute);
        if (owner != ownerUid) {
            throw new dev.isthmus.AuthenticationException("run directory " + absolute + " is owned by uid "
                + Integer.toUnsignedString(owner) + ", but the server app runs as uid " + Integer.toUnsignedString(ownerUid)
                + ": refusing to trust anything in it (another user may have created it first); remove it, or set the"
                + " server app's run directory to one of its user's");
        }
        if (attributes.permissions().contains(PosixFilePermission.GROUP_WRITE)
            || attributes.permissions().contains(PosixFilePermission.OTHERS_WRITE)) {
            throw new dev.isthmus.AuthenticationException("run directory " + absolute + " is writable by "
                + (attributes.permissions().contains(PosixFilePermission.OTHERS_WRITE) ? "others" : "its group")
                + " (mode " + PosixFilePermissions.toString(attributes.permissions())
                + "): refusing to trust anything in it, since another user could have planted the pid file and socket;"
                + " the server narrows it when it starts");
        }
        // The ancestors as they really are (a link such as /var/run -> /run is resolved, and its target checked).
        Path realParent;
        try {
            realParent = absolute.getParent() == null ? null : absolute.getParent().toRealPath();
        } catch (final IOException e) {
            throw new dev.isthmus.AuthenticationException("cannot resolve the parent of the run directory " + absolute
                + ": " + e);
        }
        for (Path ancestor = realParent; ancestor != null; ancestor = ancestor.getParent()) {
            final int ancestorOwner;
            final int mode;
            try {
                ancestorOwner = (Integer) Files.getAttribute(ancestor, "unix:uid", LinkOption.NOFOLLOW_LINKS);
                mode = (Integer) Files.getAttribute(ancestor, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            } catch (final IOException e) {
                throw new dev.isthmus.AuthenticationException("cannot inspect " + ancestor + ", an ancestor of the run"
                    + " directory " + absolute + ": " + e);
            }
            final boolean sticky = (mode & 01000) != 0;
            if (ancestorOwner != 0 && ancestorOwner != ownerUid || (mode & 0022) != 0 && !sticky) {
                throw new dev.isthmus.AuthenticationException("run directory " + absolute + " lies in " + ancestor
                    + ", which uid " + Integer.toUnsignedString(ancestorOwner) + " owns with mode "
                    + Integer.toOctalString(mode & 07777) + ": another user could replace the run directory; refusing"
                    + " to trust it. Use a run directory whose ancestors only root and uid "
                    + Integer.toUnsignedString(ownerUid) + " can change");
            }
        }
        return absolute;
    }

    private static int ownerUid(final Path path) {
        try {
            return (Integer) Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        } catch (final IOException e) {
            throw new IsthmusException("cannot read the owner of " + path + ": " + e, e);
        }
    }

    private static Set<PosixFilePermission> permissions(final int mode) {
        return PosixFilePermissions.fromString(PermissionLevel.symbolic(mode));
    }
}
