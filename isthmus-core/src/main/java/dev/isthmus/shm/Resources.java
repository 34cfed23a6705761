/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import dev.isthmus.IsthmusException;
import dev.isthmus.internal.linux.Errno;
import dev.isthmus.internal.linux.PosixMq;
import dev.isthmus.internal.linux.Processes;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * Finds the resources Isthmus processes left in a directory and tells live ones from stale ones.
 *
 * <p>Resources live in the segment directory ({@code /dev/shm}) and, for socket files, in the
 * {@linkplain RunDirectory run directory}; {@link #defaultDirectories()} names both.
 *
 * <p>A resource is <em>stale</em> when the process that created it no longer runs. For a segment with a
 * valid header that process is identified by pid and start time, so pid reuse cannot make a stale
 * segment look live. For anything else (a socket, a file whose creator died before finishing its header)
 * the pid in the {@linkplain ResourceName name} decides, and any running process with that pid counts as
 * the owner: a live resource is never removed by mistake.
 *
 * <p>POSIX message queues have no directory of their own: the kernel shows them only where the
 * {@code mqueue} file system is mounted, {@link #DEFAULT_MQUEUE_DIRECTORY} by convention.
 * {@link #listMessageQueues} and {@link #removeStaleMessageQueues} look there, and
 * {@link #messageQueueListingNote} says when they cannot.
 *
 * <p>Thread safety: the methods are stateless and thread-safe.
 */
public final class Resources {
    /**
     * Where POSIX message queues are listed if the {@code mqueue} file system is mounted there:
     * {@code /dev/mqueue}, unless the system property {@code isthmus.mqueue.dir} says otherwise.
     */
    public static final Path DEFAULT_MQUEUE_DIRECTORY = Path.of(System.getProperty("isthmus.mqueue.dir", "/dev/mqueue"));

    private static final String MQUEUE_FILE_SYSTEM = "mqueue";
    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;

    private Resources() {
    }

    /**
     * Lists the resources in a directory whose names follow the {@linkplain ResourceName scheme} with the
     * given prefix.
     *
     * @param directory e.g. {@link SharedMemory#DEFAULT_DIRECTORY}
     * @param prefix    e.g. {@link ResourceName#DEFAULT_PREFIX}
     * @return the resources, sorted by name; empty if the directory does not exist
     * @throws IsthmusException if the directory cannot be read
     */
    public static List<ResourceInfo> list(final Path directory, final String prefix) {
        final List<ResourceInfo> found = new ArrayList<>();
        if (!Files.isDirectory(directory)) {
            return found;
        }
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(directory, prefix + ".*")) {
            for (final Path entry : entries) {
                final Optional<ResourceName> name = ResourceName.parse(entry.getFileName().toString());
                if (name.isPresent() && name.get().prefix().equals(prefix)) {
                    final ResourceInfo info = inspect(entry, name.get());
                    if (info != null) {
                        found.add(info);
                    }
                } else {
                    final ResourceInfo info = inspectPidFile(entry, prefix);
                    if (info != null) {
                        found.add(info);
                    }
                }
            }
        } catch (final IOException e) {
            throw new IsthmusException("cannot list " + directory + ": " + e.getMessage(), e);
        }
        found.sort(Comparator.comparing(info -> info.name().toString()));
        return found;
    }

    /**
     * {@return where Isthmus resources of this user live by default: the segment directory
     * ({@link SharedMemory#DEFAULT_DIRECTORY}) and the {@linkplain RunDirectory run directory}, without
     * duplicates}
     */
    public static List<Path> defaultDirectories() {
        final List<Path> directories = new ArrayList<>();
        directories.add(SharedMemory.DEFAULT_DIRECTORY.toAbsolutePath().normalize());
        final Path run = RunDirectory.path();
        if (!directories.contains(run)) {
            directories.add(run);
        }
        return directories;
    }

    /**
     * Lists the resources in several directories, as {@link #list(Path, String)} does for each.
     *
     * @param directories e.g. {@link #defaultDirectories()}
     * @param prefix      e.g. {@link ResourceName#DEFAULT_PREFIX}
     * @return the resources, sorted by directory (in the order given), then by name
     * @throws IsthmusException if a directory exists but cannot be read
     */
    public static List<ResourceInfo> list(final List<Path> directories, final String prefix) {
        final List<ResourceInfo> found = new ArrayList<>();
        for (final Path directory : directories) {
            found.addAll(list(directory, prefix));
        }
        return found;
    }

    /**
     * Removes the stale resources in several directories, as {@link #removeStale(Path, String, boolean)}
     * does for each.
     *
     * @param directories where to look, e.g. {@link #defaultDirectories()}
     * @param prefix      whose resources to consider
     * @param dryRun      if {@code true}, only report what would be removed
     * @return the stale resources, removed unless {@code dryRun}
     */
    public static List<ResourceInfo> removeStale(final List<Path> directories, final String prefix,
                                                 final boolean dryRun) {
        final List<ResourceInfo> stale = new ArrayList<>();
        for (final Path directory : directories) {
            stale.addAll(removeStale(directory, prefix, dryRun));
        }
        return stale;
    }

    /**
     * Removes the stale resources among those {@link #list} finds; live ones are never touched.
     *
     * @param directory where to look
     * @param prefix    whose resources to consider
     * @param dryRun    if {@code true}, only report what would be removed
     * @return the stale resources, removed unless {@code dryRun}
     */
    public static List<ResourceInfo> removeStale(final Path directory, final String prefix, final boolean dryRun) {
        final List<ResourceInfo> stale = new ArrayList<>();
        for (final ResourceInfo info : list(directory, prefix)) {
            if (!info.isStale()) {
                continue;
            }
            if (!dryRun) {
                try {
                    Files.deleteIfExists(info.path());
                } catch (final IOException e) {
                    throw new IsthmusException("cannot remove stale " + info.path() + ": " + e.getMessage(), e);
                }
            }
            stale.add(info);
        }
        return stale;
    }

    /**
     * Inspects a server app's pid file, {@code <prefix>.<app>.pid}, whose content names the running (or
     * last) instance: {@code "<pid> <start time>"}.
     *
     * @param path   the file
     * @param prefix the resource prefix
     * @return what was found, or {@code null} if the file is not a pid file (or vanished)
     */
    static ResourceInfo inspectPidFile(final Path path, final String prefix) {
        final String file = path.getFileName().toString();
        if (!file.startsWith(prefix + ".") || !file.endsWith(".pid")) {
            return null;
        }
        final String app = file.substring(prefix.length() + 1, file.length() - ".pid".length());
        final String text;
        try {
            text = Files.readString(path, java.nio.charset.StandardCharsets.US_ASCII).trim();
        } catch (final NoSuchFileException e) {
            return null;
        } catch (final IOException e) {
            return null;
        }
        final String[] parts = text.split(" ");
        try {
            final ProcessIdentity owner = new ProcessIdentity(Long.parseLong(parts[0]), Long.parseLong(parts[1]));
            final ResourceName name = new ResourceName(prefix, app, owner.pid(), "pid", "server");
            final boolean alive = owner.isAlive();
            return new ResourceInfo(name, path, text.length(), owner.pid(),
                alive ? ResourceInfo.Liveness.LIVE : ResourceInfo.Liveness.STALE,
                alive ? "server instance runs" : "server instance exited");
        } catch (final RuntimeException e) {
            // Being written, or not ours: never treat as stale.
            return null;
        }
    }

    /**
     * Inspects one resource.
     *
     * @param path the file
     * @param name its parsed name
     * @return what was found, or {@code null} if the file vanished meanwhile
     */
    static ResourceInfo inspect(final Path path, final ResourceName name) {
        final BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (final NoSuchFileException e) {
            return null;
        } catch (final IOException e) {
            return byNamePid(path, name, 0, "cannot stat: " + e.getMessage());
        }
        final long size = attributes.size();
        if (!attributes.isRegularFile()) {
            // A socket has no header: the pid in its name says whose it is.
            return byNamePid(path, name, size, isSocket(path) ? "socket" : "no header (not a regular file)");
        }
        final ByteBuffer header = ByteBuffer.allocate(SegmentDescriptor.FIELDS_LENGTH).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
            while (header.hasRemaining() && channel.read(header) >= 0) {
                // read the fields, however short the reads
            }
        } catch (final NoSuchFileException e) {
            return null;
        } catch (final AccessDeniedException e) {
            return byNamePid(path, name, size, "header not readable");
        } catch (final IOException e) {
            return byNamePid(path, name, size, "header not readable: " + e.getMessage());
        }
        if (header.position() < SegmentDescriptor.FIELDS_LENGTH) {
            return byNamePid(path, name, size, "truncated header (" + header.position() + " bytes)");
        }
        final long magic = header.getLong(SegmentDescriptor.MAGIC_OFFSET);
        if (magic != SegmentDescriptor.MAGIC) {
            return byNamePid(path, name, size, magic == 0 ? "header not initialized" : "not an Isthmus segment header");
        }
        final ProcessIdentity owner = new ProcessIdentity(header.getInt(SegmentDescriptor.OWNER_PID_OFFSET),
            header.getLong(SegmentDescriptor.OWNER_START_TIME_OFFSET));
        final boolean alive = owner.isAlive();
        return new ResourceInfo(name, path, size, owner.pid(),
            alive ? ResourceInfo.Liveness.LIVE : ResourceInfo.Liveness.STALE,
            alive ? "owner runs" : "owner exited");
    }

    private static ResourceInfo byNamePid(final Path path, final ResourceName name, final long size,
                                          final String why) {
        final boolean alive = isRunning(name.pid());
        return new ResourceInfo(name, path, size, name.pid(),
            alive ? ResourceInfo.Liveness.LIVE : ResourceInfo.Liveness.STALE,
            why + (alive ? "; pid runs" : "; pid exited"));
    }

    private static boolean isSocket(final Path path) {
        try {
            return ((Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS) & S_IFMT) == S_IFSOCK;
        } catch (final IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    private static boolean isRunning(final long pid) {
        if (Processes.signalZero(pid) == Processes.DEAD) {
            return false;
        }
        final Processes.ProcStat stat = Processes.procStat(pid);
        return stat != null && !stat.isZombie();
    }

    /**
     * {@return whether the {@code mqueue} file system, which shows the POSIX message queues of this IPC
     * namespace as files, is mounted at {@code directory}}
     *
     * @param directory e.g. {@link #DEFAULT_MQUEUE_DIRECTORY}
     */
    public static boolean isMqueueMounted(final Path directory) {
        try {
            return Files.isDirectory(directory) && MQUEUE_FILE_SYSTEM.equals(Files.getFileStore(directory).type());
        } catch (final IOException e) {
            return false;
        }
    }

    /**
     * {@return why message queues cannot be listed in {@code directory}, to show once next to a listing, or
     * empty if they can}
     *
     * @param directory e.g. {@link #DEFAULT_MQUEUE_DIRECTORY}
     */
    public static Optional<String> messageQueueListingNote(final Path directory) {
        if (isMqueueMounted(directory)) {
            return Optional.empty();
        }
        return Optional.of("POSIX message queues are not listed: the mqueue file system is not mounted at " + directory
            + " (as root: mkdir -p " + directory + " && mount -t mqueue none " + directory + ")");
    }

    /**
     * Lists the POSIX message queues whose names follow the {@linkplain ResourceName scheme} with the given
     * prefix. A queue's owner is the pid in its name: the queue is live while a process with that pid runs.
     *
     * @param directory where the {@code mqueue} file system is mounted, e.g. {@link #DEFAULT_MQUEUE_DIRECTORY}
     * @param prefix    e.g. {@link ResourceName#DEFAULT_PREFIX}
     * @return the queues, sorted by name, each with the bytes it holds as its size; empty if the file system
     *     is not mounted there (see {@link #messageQueueListingNote})
     * @throws IsthmusException if the directory cannot be read
     */
    public static List<ResourceInfo> listMessageQueues(final Path directory, final String prefix) {
        final List<ResourceInfo> found = new ArrayList<>();
        if (!isMqueueMounted(directory)) {
            return found;
        }
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(directory, prefix + ".*")) {
            for (final Path entry : entries) {
                final Optional<ResourceName> name = ResourceName.parse(entry.getFileName().toString());
                if (name.isPresent() && name.get().prefix().equals(prefix)) {
                    final String status;
                    try {
                        // One line such as "QSIZE:129 NOTIFY:0 SIGNO:0 NOTIFY_PID:0".
                        status = Files.readString(entry, StandardCharsets.US_ASCII).trim();
                    } catch (final NoSuchFileException e) {
                        continue;
                    } catch (final IOException e) {
                        found.add(byNamePid(entry, name.get(), 0, "POSIX message queue, not readable"));
                        continue;
                    }
                    final long queued = queuedBytes(status);
                    found.add(byNamePid(entry, name.get(), Math.max(queued, 0),
                        "POSIX message queue, " + (queued < 0 ? status : queued + " bytes queued")));
                }
            }
        } catch (final IOException e) {
            throw new IsthmusException("cannot list " + directory + ": " + e.getMessage(), e);
        }
        found.sort(Comparator.comparing(info -> info.name().toString()));
        return found;
    }

    /**
     * Removes ({@code mq_unlink}) the stale queues among those {@link #listMessageQueues} finds; live ones
     * are never touched. Processes that still have a removed queue open keep using it.
     *
     * @param directory where the {@code mqueue} file system is mounted
     * @param prefix    whose queues to consider
     * @param dryRun    if {@code true}, only report what would be removed
     * @return the stale queues, removed unless {@code dryRun}; empty if the file system is not mounted there
     * @throws IsthmusException if a stale queue cannot be removed
     */
    public static List<ResourceInfo> removeStaleMessageQueues(final Path directory, final String prefix,
                                                              final boolean dryRun) {
        final List<ResourceInfo> stale = new ArrayList<>();
        for (final ResourceInfo info : listMessageQueues(directory, prefix)) {
            if (!info.isStale()) {
                continue;
            }
            if (!dryRun) {
                final String queue = "/" + info.name();
                final int rc = PosixMq.unlink(queue);
                if (rc != 0 && rc != -Errno.ENOENT) {
                    throw new IsthmusException("cannot remove stale POSIX message queue " + queue + ": "
                        + Errno.name(-rc) + " (" + Errno.describe(-rc) + ")");
                }
            }
            stale.add(info);
        }
        return stale;
    }

    private static long queuedBytes(final String status) {
        if (status.startsWith("QSIZE:")) {
            final String[] fields = status.substring("QSIZE:".length()).split("\\s+", 2);
            try {
                return Long.parseLong(fields[0]);
            } catch (final NumberFormatException e) {
                return -1;
            }
        }
        return -1;
    }
}
