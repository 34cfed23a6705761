/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import dev.isthmus.IsthmusException;
import dev.isthmus.internal.linux.Credentials;
import dev.isthmus.internal.linux.Errno;
import dev.isthmus.internal.linux.FileIo;
import dev.isthmus.internal.linux.PosixMq;
import dev.isthmus.internal.linux.Processes;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Predicate;
import java.util.regex.Pattern;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * Finds the resources Isthmus processes left in a directory and tells live ones from stale ones.
 *
 * <p>Resources live in the segment directory ({@code /dev/shm}) and, for socket and pid files, in the
 * {@linkplain RunDirectory run directory}; {@link #defaultDirectories()} names both.
 *
 * <p>A resource is <em>stale</em> when the process that created it no longer runs. How that is decided:
 * <ul>
 *   <li>A server's pid file ({@code <prefix>.<app>.pid}) by its {@code flock(2)} lock alone, never by its
 *       text: the running instance holds the lock for as long as it runs, and the kernel releases it
 *       however the process dies, so a locked pid file is live whatever it says and an unlocked one is
 *       stale. The lock also works across pid namespaces (containers sharing the run directory), where pids
 *       mean nothing.</li>
 *   <li>A segment with a valid header by the pid and start time in it, so pid reuse cannot make a stale
 *       segment look live.</li>
 *   <li>Anything else (a socket, a file whose creator died before finishing its header, a POSIX message
 *       queue) by the pid in its {@linkplain ResourceName name}: any running process with that pid counts
 *       as the owner, so a live resource is never removed by mistake.</li>
 * </ul>
 *
 * <p>Nothing here trusts an entry because of its name. Before an entry is read it must be a regular file (or,
 * in the run directory, a socket) owned by this process's effective uid; it is opened with
 * {@code O_NOFOLLOW | O_NONBLOCK}, checked again on the descriptor ({@code fstat}), and read for at most a
 * header's length. An entry of another user, a FIFO, a symbolic link, a directory or a device under an
 * Isthmus name is listed as {@linkplain ResourceInfo.Liveness#FOREIGN foreign} or
 * {@linkplain ResourceInfo.Liveness#UNREADABLE unreadable}, with the reason, and never removed, not even by
 * root; a huge (sparse) file costs a 64-byte read. Listing and removal never hang, never allocate by the
 * size of an entry, and never throw on account of an entry: {@link #removeStale} goes on past what it
 * cannot remove and reports it in its {@link SweepReport}.
 *
 * <p>POSIX message queues have no directory of their own: the kernel shows them only where the
 * {@code mqueue} file system is mounted, {@link #DEFAULT_MQUEUE_DIRECTORY} by convention.
 * {@link #listMessageQueues} and {@link #removeStaleMessageQueues} look there, with the same owner checks,
 * and {@link #messageQueueListingNote} says when they cannot.
 *
 * @apiNote Liveness of segments, sockets and queues is still judged by pid in this pid namespace: a live
 *     owner in another pid namespace that shares {@code /dev/shm} looks dead. Sessions no longer name their
 *     memory (it is sealed memfds), which leaves few such resources; a server's pid file, which is judged
 *     by its lock, is not affected.
 *
 * <p>Thread safety: the methods are stateless and thread-safe.
 */
public final class Resources {
    /**
     * Where POSIX message queues are listed if the {@code mqueue} file system is mounted there:
     * {@code /dev/mqueue}, unless the system property {@code isthmus.mqueue.dir} says otherwise.
     */
    public static final Path DEFAULT_MQUEUE_DIRECTORY = Path.of(System.getProperty("isthmus.mqueue.dir", "/dev/mqueue"));

    /**
     * The pid in the {@linkplain ResourceInfo#name() name} of a pid file that was not read or holds no valid
     * pid: {@link Integer#MAX_VALUE}, which is never a process id on Linux (pids stop at 2<sup>22</sup>).
     */
    public static final long UNKNOWN_PID = Integer.MAX_VALUE;

    /** The most read of a pid file, which holds {@code "<pid> <start time>\n"} (at most 42 bytes). */
    static final int PID_FILE_READ_LIMIT_BYTES = 64;
    /** The most read of a message queue's status line, e.g. {@code "QSIZE:129 NOTIFY:0 SIGNO:0 NOTIFY_PID:0"}. */
    static final int MQ_STATUS_READ_LIMIT_BYTES = 128;

    private static final String MQUEUE_FILE_SYSTEM = "mqueue";
    private static final String PID_FILE_SUFFIX = ".pid";
    private static final Pattern APP = Pattern.compile("[A-Za-z0-9_-]{1,48}");
    /** How often an entry replaced while being inspected is inspected again before it is reported unreadable. */
    private static final int OPEN_ATTEMPTS = 3;

    private Resources() {
    }

    /**
     * An entry as inspected: what is reported, and the file it was (to check, just before removing it,
     * that the name still names that file).
     */
    private record Inspected(ResourceInfo info, FileIo.Stat stat) {
    }

    /**
     * Lists the resources in a directory whose names follow the {@linkplain ResourceName scheme} with the
     * given prefix, and the pid files ({@code <prefix>.<app>.pid}) there.
     *
     * <p>Entries of another user, and entries that are not what Isthmus creates, are listed too, as
     * {@linkplain ResourceInfo#isSkipped() skipped}; nothing about an entry makes this throw.
     *
     * @param directory e.g. {@link SharedMemory#DEFAULT_DIRECTORY}
     * @param prefix    e.g. {@link ResourceName#DEFAULT_PREFIX}
     * @return the resources, sorted by name; empty if the directory does not exist
     * @throws IsthmusException if the directory itself cannot be read
     */
    public static List<ResourceInfo> list(final Path directory, final String prefix) {
        return inspectAll(directory, prefix).stream().map(Inspected::info).toList();
    }

    private static List<Inspected> inspectAll(final Path directory, final String prefix) {
        Objects.requireNonNull(prefix, "prefix");
        final List<Inspected> found = new ArrayList<>();
        if (!Files.isDirectory(directory)) {
            return found;
        }
        final int uid = Credentials.effectiveUid();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(directory, prefix + ".*")) {
            for (final Path entry : entries) {
                final Optional<ResourceName> name = ResourceName.parse(entry.getFileName().toString());
                final Inspected inspected = name.isPresent() && name.get().prefix().equals(prefix)
                    ? inspect(entry, name.get(), uid)
                    : inspectPidFile(entry, prefix, uid);
                if (inspected != null) {
                    found.add(inspected);
                }
            }
        } catch (final IOException | java.nio.file.DirectoryIteratorException e) {
            throw new IsthmusException("cannot list " + directory + ": " + e.getMessage(), e);
        }
        found.sort(Comparator.comparing(inspected -> inspected.info().path().getFileName().toString()));
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
     * @return what was removed, what could not be, and what was left alone
     * @throws IsthmusException if a directory exists but cannot be read
     */
    public static SweepReport removeStale(final List<Path> directories, final String prefix, final boolean dryRun) {
        return removeStale(directories, prefix, name -> true, dryRun);
    }

    /**
     * Removes the stale resources in several directories whose names {@code which} accepts, e.g. those of
     * one application; live ones, and skipped ones, are never touched.
     *
     * @param directories where to look, e.g. {@link #defaultDirectories()}
     * @param prefix      whose resources to consider
     * @param which       which names to consider, e.g. {@code name -> name.app().equals("cacheSrv")}; a pid
     *                    file's name is the one {@link ResourceInfo#name()} describes
     * @param dryRun      if {@code true}, only report what would be removed
     * @return what was removed, what could not be, and what was left alone, among the names {@code which}
     *     accepts
     * @throws IsthmusException if a directory exists but cannot be read
     */
    public static SweepReport removeStale(final List<Path> directories, final String prefix,
                                          final Predicate<ResourceName> which, final boolean dryRun) {
        Objects.requireNonNull(which, "which");
        SweepReport report = SweepReport.empty();
        for (final Path directory : directories) {
            report = report.plus(remove(inspectAll(directory, prefix), which, dryRun, Resources::removeFile));
        }
        return report;
    }

    /**
     * Removes the stale resources among those {@link #list} finds; live ones, and
     * {@linkplain ResourceInfo#isSkipped() skipped} ones, are never touched. An entry that cannot be removed
     * does not stop the rest: it is reported in {@link SweepReport#failures()}.
     *
     * <p>A stale pid file is removed only while this process holds its lock, after checking that its name
     * still names the locked file, so that a server instance starting at the same moment can never lose its
     * pid file (see {@code PidFile} in {@code dev.isthmus.session}).
     *
     * @param directory where to look
     * @param prefix    whose resources to consider
     * @param dryRun    if {@code true}, only report what would be removed
     * @return what was removed, what could not be, and what was left alone
     * @throws IsthmusException if the directory exists but cannot be read
     */
    public static SweepReport removeStale(final Path directory, final String prefix, final boolean dryRun) {
        return removeStale(List.of(directory), prefix, name -> true, dryRun);
    }

    /** Removes one stale entry and says what became of it; may throw for a failure it did not foresee. */
    @FunctionalInterface
    private interface Remover {
        Outcome remove(Inspected inspected);
    }

    /** What became of a stale entry. */
    private record Outcome(Kind kind, String reason) {
        enum Kind { REMOVED, LEFT, FAILED }

        static final Outcome REMOVED = new Outcome(Kind.REMOVED, "");

        static Outcome left(final String reason) {
            return new Outcome(Kind.LEFT, reason);
        }

        static Outcome failed(final String reason) {
            return new Outcome(Kind.FAILED, reason);
        }
    }

    private static SweepReport remove(final List<Inspected> entries, final Predicate<ResourceName> which,
                                      final boolean dryRun, final Remover remover) {
        final List<ResourceInfo> removed = new ArrayList<>();
        final List<SweepReport.Failure> failures = new ArrayList<>();
        final List<ResourceInfo> skipped = new ArrayList<>();
        for (final Inspected inspected : entries) {
            final ResourceInfo info = inspected.info();
            if (!which.test(info.name())) {
                continue;
            }
            if (info.isSkipped()) {
                skipped.add(info);
                continue;
            }
            if (!info.isStale()) {
                continue;
            }
            if (dryRun) {
                removed.add(info);
                continue;
            }
            Outcome outcome;
            try {
                outcome = remover.remove(inspected);
            } catch (final RuntimeException e) {
                // A native failure the remover did not expect: this entry is not removed, the rest still are.
                outcome = Outcome.failed(String.valueOf(e.getMessage()));
            }
            switch (outcome.kind()) {
                case REMOVED -> removed.add(info);
                case FAILED -> failures.add(new SweepReport.Failure(info, outcome.reason()));
                case LEFT -> {
                    // Became live or was replaced since it was listed: the next sweep judges it afresh.
                }
            }
        }
        return new SweepReport(removed, failures, skipped);
    }

    private static Outcome removeFile(final Inspected inspected) {
        final ResourceInfo info = inspected.info();
        final String what = info.path().toString();
        if (isPidFile(info)) {
            return removePidFile(inspected);
        }
        // The name must still name the file that was judged stale. Only this user (or root) can swap a file of
        // this user in the sticky /dev/shm or in the run directory, so nothing else can slip in between.
        final FileIo.Stat now = FileIo.statNoFollow(what);
        if (now == null) {
            return Outcome.REMOVED;
        }
        if (!now.isSameFile(inspected.stat())) {
            return Outcome.left("replaced since it was inspected");
        }
        return unlinked(FileIo.unlink(what));
    }

    /**
     * Removes a stale pid file under its lock: lock it exclusively (a server that holds it, or takes it
     * meanwhile, makes this leave the file alone), check that the name still names the locked file, unlink
     * it while the lock is held, then release the lock by closing. A server instance that opened the file
     * before the unlink gets the lock only after the name is gone, and its own check after locking sends it
     * back to create a fresh file: it never keeps a pid file no one else can see.
     */
    private static Outcome removePidFile(final Inspected inspected) {
        final String what = inspected.info().path().toString();
        final int fd = FileIo.tryOpen(what, FileIo.O_RDONLY | FileIo.O_NONBLOCK, 0);
        if (fd == -Errno.ENOENT) {
            return Outcome.REMOVED;
        }
        if (fd < 0) {
            return Outcome.failed("open: " + errno(-fd));
        }
        try {
            final FileIo.Stat opened = FileIo.stat(fd, what);
            if (!opened.isSameFile(inspected.stat())) {
                return Outcome.left("replaced since it was inspected");
            }
            if (!FileIo.tryLockExclusive(fd, what)) {
                return Outcome.left("a server instance locked it meanwhile");
            }
            final FileIo.Stat named = FileIo.statNoFollow(what);
            if (named == null) {
                return Outcome.REMOVED;
            }
            if (!named.isSameFile(opened)) {
                return Outcome.left("replaced since it was inspected");
            }
            return unlinked(FileIo.unlink(what));
        } finally {
            FileIo.close(fd);
        }
    }

    private static Outcome unlinked(final int rc) {
        return rc == 0 || rc == -Errno.ENOENT ? Outcome.REMOVED : Outcome.failed("unlink: " + errno(-rc));
    }

    private static boolean isPidFile(final ResourceInfo info) {
        return "pid".equals(info.name().kind()) && info.path().getFileName().toString().endsWith(PID_FILE_SUFFIX)
            && ResourceName.parse(info.path().getFileName().toString()).isEmpty();
    }

    /**
     * Inspects a server app's pid file, {@code <prefix>.<app>.pid}, which is live exactly while its lock is
     * held; its content, {@code "<pid> <start time>"} of the running (or last) instance, only names the
     * owner.
     *
     * @param path   the file
     * @param prefix the resource prefix
     * @param uid    this process's effective uid
     * @return what was found, or {@code null} if the name is not a pid file's (or the file vanished)
     */
    private static Inspected inspectPidFile(final Path path, final String prefix, final int uid) {
        final String file = path.getFileName().toString();
        if (!file.startsWith(prefix + ".") || !file.endsWith(PID_FILE_SUFFIX)) {
            return null;
        }
        final String app = file.substring(prefix.length() + 1, file.length() - PID_FILE_SUFFIX.length());
        if (!APP.matcher(app).matches()) {
            return null;
        }
        final Opening opening = openOwnRegularFile(path, uid, false);
        if (opening.vanished()) {
            return null;
        }
        if (!opening.isOpen()) {
            // Not even this user's unreadable pid file (mode 0200, say) is judged: its lock cannot be tried.
            return new Inspected(new ResourceInfo(pidFileName(prefix, app, 0), path, opening.sizeBytes(), 0,
                opening.refusal() != null ? opening.refusal() : ResourceInfo.Liveness.UNREADABLE, opening.why()),
                opening.stat());
        }
        final String what = path.toString();
        try {
            final String text = new String(readAtMost(opening.fd(), PID_FILE_READ_LIMIT_BYTES, what),
                StandardCharsets.US_ASCII).trim();
            final long pid = parsePid(text);
            // A shared lock: granted unless a server instance holds its exclusive one. Other listings take it too
            // without disturbing each other; the close below releases it.
            final boolean unlocked = FileIo.tryLockShared(opening.fd(), what);
            final String holds = pid > 0 ? "" : "; holds no \"<pid> <start time>\"";
            return new Inspected(new ResourceInfo(pidFileName(prefix, app, pid), path, opening.stat().sizeBytes(), pid,
                unlocked ? ResourceInfo.Liveness.STALE : ResourceInfo.Liveness.LIVE,
                (unlocked ? "pid file not locked: the server instance exited" : "pid file locked: a server instance runs")
                    + holds), opening.stat());
        } catch (final RuntimeException e) {
            return new Inspected(new ResourceInfo(pidFileName(prefix, app, 0), path, opening.stat().sizeBytes(), 0,
                ResourceInfo.Liveness.UNREADABLE, "pid file not readable: " + e.getMessage()), opening.stat());
        } finally {
            FileIo.close(opening.fd());
        }
    }

    private static ResourceName pidFileName(final String prefix, final String app, final long pid) {
        return new ResourceName(prefix, app, pid > 0 ? pid : UNKNOWN_PID, "pid", "server");
    }

    /** {@return the pid of a pid file's text, or 0 if it holds none} */
    private static long parsePid(final String text) {
        final String[] parts = text.split(" ");
        if (parts.length != 2) {
            return 0;
        }
        try {
            final long pid = Long.parseLong(parts[0]);
            Long.parseLong(parts[1]);
            return pid > 0 && pid < UNKNOWN_PID ? pid : 0;
        } catch (final NumberFormatException e) {
            return 0;
        }
    }

    /**
     * Inspects one resource.
     *
     * @param path the file
     * @param name its parsed name
     * @param uid  this process's effective uid
     * @return what was found, or {@code null} if the file vanished meanwhile
     */
    private static Inspected inspect(final Path path, final ResourceName name, final int uid) {
        final Opening opening = openOwnRegularFile(path, uid, true);
        if (opening.vanished()) {
            return null;
        }
        if (opening.isSocket()) {
            // A server's socket is live while its instance holds the pid file's lock, in whichever pid namespace
            // it runs; any other socket has no header, and the pid in its name says whose it is.
            final Path pidFile = path.resolveSibling(name.prefix() + "." + name.app() + ".pid");
            if (name.kind().equals("sock") && Files.exists(pidFile, LinkOption.NOFOLLOW_LINKS)) {
                final Inspected server = inspectPidFile(pidFile, name.prefix(), uid);
                if (server != null && server.info().liveness() == ResourceInfo.Liveness.LIVE
                    && server.info().ownerPid() == name.pid()) {
                    return new Inspected(new ResourceInfo(name, path, 0, name.pid(), ResourceInfo.Liveness.LIVE,
                        "socket; its server's pid file is locked"), opening.stat());
                }
            }
            return new Inspected(byNamePid(path, name, 0, "socket"), opening.stat());
        }
        if (!opening.isOpen()) {
            if (opening.refusal() == null) {
                return new Inspected(byNamePid(path, name, opening.sizeBytes(), opening.why()), opening.stat());
            }
            return new Inspected(new ResourceInfo(name, path, opening.sizeBytes(), name.pid(), opening.refusal(),
                opening.why()), opening.stat());
        }
        final long size = opening.stat().sizeBytes();
        final byte[] bytes;
        try {
            bytes = readAtMost(opening.fd(), SegmentDescriptor.FIELDS_LENGTH, path.toString());
        } catch (final RuntimeException e) {
            return new Inspected(byNamePid(path, name, size, "header not readable: " + e.getMessage()), opening.stat());
        } finally {
            FileIo.close(opening.fd());
        }
        if (bytes.length < SegmentDescriptor.FIELDS_LENGTH) {
            return new Inspected(byNamePid(path, name, size, "truncated header (" + bytes.length + " bytes)"),
                opening.stat());
        }
        final ByteBuffer header = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        final long magic = header.getLong(SegmentDescriptor.MAGIC_OFFSET);
        if (magic != SegmentDescriptor.MAGIC) {
            return new Inspected(byNamePid(path, name, size,
                magic == 0 ? "header not initialized" : "not an Isthmus segment header"), opening.stat());
        }
        final ProcessIdentity owner = new ProcessIdentity(header.getInt(SegmentDescriptor.OWNER_PID_OFFSET),
            header.getLong(SegmentDescriptor.OWNER_START_TIME_OFFSET));
        final boolean alive = owner.isAlive();
        return new Inspected(new ResourceInfo(name, path, size, owner.pid(),
            alive ? ResourceInfo.Liveness.LIVE : ResourceInfo.Liveness.STALE,
            alive ? "owner runs" : "owner exited"), opening.stat());
    }

    /**
     * An entry opened for reading after every check, or why it was not.
     *
     * @param fd      the descriptor, or -1 if not opened
     * @param stat    the entry's status, or {@code null} if it vanished
     * @param refusal why it may not be judged at all ({@code null} if it may, by its name's pid, when
     *                {@code why} is set)
     * @param why     the reason in words, or {@code null} if opened
     */
    private record Opening(int fd, FileIo.Stat stat, ResourceInfo.Liveness refusal, String why) {
        static final Opening VANISHED = new Opening(-1, null, null, null);

        boolean isOpen() {
            return fd >= 0;
        }

        boolean vanished() {
            return stat == null;
        }

        boolean isSocket() {
            return fd < 0 && why == null && stat != null && stat.isSocket();
        }

        long sizeBytes() {
            return stat == null ? 0 : stat.sizeBytes();
        }
    }

    /**
     * Opens an entry for reading if, and only if, it is a regular file of this user: checked on the name
     * ({@code lstat}), opened with {@code O_NOFOLLOW | O_NONBLOCK} (a FIFO swapped in meanwhile opens at once,
     * a symbolic link not at all), and checked again on the descriptor.
     *
     * @param socketsAllowed whether a socket of this user is a legitimate entry (returned unopened, for the
     *                       caller to judge by name)
     */
    private static Opening openOwnRegularFile(final Path path, final int uid, final boolean socketsAllowed) {
        for (int attempt = 1; ; attempt++) {
            final Opening opening = tryOpenOwnRegularFile(path, uid, socketsAllowed);
            if (opening != null) {
                return opening;
            }
            if (attempt == OPEN_ATTEMPTS) {
                return new Opening(-1, new FileIo.Stat(0, uid, 0, 0, 0, 0), ResourceInfo.Liveness.UNREADABLE,
                    "replaced " + OPEN_ATTEMPTS + " times while being inspected: not read, never removed");
            }
        }
    }

    /** One try of {@link #openOwnRegularFile}: {@code null} if the name was replaced between the checks. */
    private static Opening tryOpenOwnRegularFile(final Path path, final int uid, final boolean socketsAllowed) {
        final String what = path.toString();
        final FileIo.Stat named;
        try {
            named = FileIo.statNoFollow(what);
        } catch (final RuntimeException e) {
            return new Opening(-1, new FileIo.Stat(0, uid, 0, 0, 0, 0), ResourceInfo.Liveness.UNREADABLE,
                "cannot stat: " + e.getMessage());
        }
        if (named == null) {
            return Opening.VANISHED;
        }
        final Opening refused = refusal(named, uid, socketsAllowed);
        if (refused != null) {
            return refused;
        }
        if (named.isSocket()) {
            return new Opening(-1, named, null, null);
        }
        final int fd = FileIo.tryOpen(what, FileIo.O_RDONLY | FileIo.O_NONBLOCK, 0);
        if (fd == -Errno.ENOENT) {
            return Opening.VANISHED;
        }
        if (fd == -Errno.ELOOP) {
            // A symbolic link swapped in after the check.
            return null;
        }
        if (fd == -Errno.EACCES) {
            // This user's file with a mode that excludes reading: judged by the pid in its name.
            return new Opening(-1, named, null, "header not readable (" + errno(Errno.EACCES) + ")");
        }
        if (fd < 0) {
            return new Opening(-1, named, ResourceInfo.Liveness.UNREADABLE,
                "cannot open (" + errno(-fd) + "): not read, never removed");
        }
        final FileIo.Stat opened;
        try {
            opened = FileIo.stat(fd, what);
        } catch (final RuntimeException e) {
            FileIo.close(fd);
            return new Opening(-1, named, ResourceInfo.Liveness.UNREADABLE, "cannot stat: " + e.getMessage());
        }
        if (!opened.isSameFile(named)) {
            // Replaced between the check and the open (a server releasing its pid file and the next one
            // creating it, say): check the new file from the start.
            FileIo.close(fd);
            return null;
        }
        final Opening changed = refusal(opened, uid, false);
        if (changed != null) {
            // Given away (chown) between the checks.
            FileIo.close(fd);
            return changed;
        }
        return new Opening(fd, opened, null, null);
    }

    /** {@return why an entry must not be read or judged, or {@code null} if it may} */
    private static Opening refusal(final FileIo.Stat stat, final int uid, final boolean socketsAllowed) {
        if (stat.uid() != uid) {
            return new Opening(-1, stat, ResourceInfo.Liveness.FOREIGN, "owned by uid " + Integer.toUnsignedString(stat.uid())
                + ", not by this user (uid " + Integer.toUnsignedString(uid) + "): not read, never removed");
        }
        if (stat.isRegularFile() || socketsAllowed && stat.isSocket()) {
            return null;
        }
        return new Opening(-1, stat, ResourceInfo.Liveness.UNREADABLE, "a " + stat.typeName()
            + ", not a file Isthmus creates: not read, never removed");
    }

    /**
     * Reads at most {@code limit} bytes from the start of an open file, however short the reads: the cost
     * is bounded by {@code limit}, whatever the file's size.
     */
    private static byte[] readAtMost(final int fd, final int limit, final String what) {
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment buffer = arena.allocate(limit);
            long total = 0;
            while (total < limit) {
                final long n = FileIo.read(fd, buffer.asSlice(total), what);
                if (n <= 0) {
                    // 0: end of file; -EAGAIN: nothing to read without waiting (never waited for)
                    break;
                }
                total += n;
            }
            return buffer.asSlice(0, total).toArray(JAVA_BYTE);
        }
    }

    private static String errno(final int errno) {
        return Errno.name(errno) + " (" + Errno.describe(errno) + ")";
    }

    private static ResourceInfo byNamePid(final Path path, final ResourceName name, final long size,
                                          final String why) {
        final boolean alive = isRunning(name.pid());
        return new ResourceInfo(name, path, size, name.pid(),
            alive ? ResourceInfo.Liveness.LIVE : ResourceInfo.Liveness.STALE,
            why + (alive ? "; pid runs" : "; pid exited"));
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
     * A queue of another user is listed as {@linkplain ResourceInfo.Liveness#FOREIGN foreign}, and never
     * removed.
     *
     * @param directory where the {@code mqueue} file system is mounted, e.g. {@link #DEFAULT_MQUEUE_DIRECTORY}
     * @param prefix    e.g. {@link ResourceName#DEFAULT_PREFIX}
     * @return the queues, sorted by name, each with the bytes it holds as its size; empty if the file system
     *     is not mounted there (see {@link #messageQueueListingNote})
     * @throws IsthmusException if the directory cannot be read
     */
    public static List<ResourceInfo> listMessageQueues(final Path directory, final String prefix) {
        return inspectMessageQueues(directory, prefix).stream().map(Inspected::info).toList();
    }

    private static List<Inspected> inspectMessageQueues(final Path directory, final String prefix) {
        Objects.requireNonNull(prefix, "prefix");
        final List<Inspected> found = new ArrayList<>();
        if (!isMqueueMounted(directory)) {
            return found;
        }
        final int uid = Credentials.effectiveUid();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(directory, prefix + ".*")) {
            for (final Path entry : entries) {
                final Optional<ResourceName> name = ResourceName.parse(entry.getFileName().toString());
                if (name.isPresent() && name.get().prefix().equals(prefix)) {
                    final Inspected inspected = inspectMessageQueue(entry, name.get(), uid);
                    if (inspected != null) {
                        found.add(inspected);
                    }
                }
            }
        } catch (final IOException | java.nio.file.DirectoryIteratorException e) {
            throw new IsthmusException("cannot list " + directory + ": " + e.getMessage(), e);
        }
        found.sort(Comparator.comparing(inspected -> inspected.info().name().toString()));
        return found;
    }

    private static Inspected inspectMessageQueue(final Path entry, final ResourceName name, final int uid) {
        final Opening opening = openOwnRegularFile(entry, uid, false);
        if (opening.vanished()) {
            return null;
        }
        if (!opening.isOpen()) {
            if (opening.refusal() == null) {
                return new Inspected(byNamePid(entry, name, 0, "POSIX message queue, not readable"), opening.stat());
            }
            return new Inspected(new ResourceInfo(name, entry, 0, name.pid(), opening.refusal(), opening.why()),
                opening.stat());
        }
        final String status;
        try {
            // One line such as "QSIZE:129 NOTIFY:0 SIGNO:0 NOTIFY_PID:0".
            status = new String(readAtMost(opening.fd(), MQ_STATUS_READ_LIMIT_BYTES, entry.toString()),
                StandardCharsets.US_ASCII).trim();
        } catch (final RuntimeException e) {
            return new Inspected(byNamePid(entry, name, 0, "POSIX message queue, not readable: " + e.getMessage()),
                opening.stat());
        } finally {
            FileIo.close(opening.fd());
        }
        final long queued = queuedBytes(status);
        return new Inspected(byNamePid(entry, name, Math.max(queued, 0),
            "POSIX message queue, " + (queued < 0 ? status : queued + " bytes queued")), opening.stat());
    }

    /**
     * Removes ({@code mq_unlink}) the stale queues among those {@link #listMessageQueues} finds; live ones,
     * and other users' ones, are never touched. Processes that still have a removed queue open keep using it.
     *
     * @param directory where the {@code mqueue} file system is mounted
     * @param prefix    whose queues to consider
     * @param dryRun    if {@code true}, only report what would be removed
     * @return what was removed, what could not be, and what was left alone; empty if the file system is not
     *     mounted there
     * @throws IsthmusException if the directory cannot be read
     */
    public static SweepReport removeStaleMessageQueues(final Path directory, final String prefix, final boolean dryRun) {
        return removeStaleMessageQueues(directory, prefix, name -> true, dryRun);
    }

    /**
     * Removes ({@code mq_unlink}) the stale queues whose names {@code which} accepts, as
     * {@link #removeStaleMessageQueues(Path, String, boolean)} does.
     *
     * @param directory where the {@code mqueue} file system is mounted
     * @param prefix    whose queues to consider
     * @param which     which names to consider, e.g. {@code name -> name.app().equals("cacheSrv")}
     * @param dryRun    if {@code true}, only report what would be removed
     * @return what was removed, what could not be, and what was left alone, among the names {@code which}
     *     accepts; empty if the file system is not mounted there
     * @throws IsthmusException if the directory cannot be read
     */
    public static SweepReport removeStaleMessageQueues(final Path directory, final String prefix,
                                                       final Predicate<ResourceName> which, final boolean dryRun) {
        Objects.requireNonNull(which, "which");
        return remove(inspectMessageQueues(directory, prefix), which, dryRun, Resources::removeMessageQueue);
    }

    private static Outcome removeMessageQueue(final Inspected inspected) {
        // As for files: the name must still name the queue judged stale (only its owner or root can replace it
        // in the sticky mqueue root).
        final FileIo.Stat now = FileIo.statNoFollow(inspected.info().path().toString());
        if (now == null) {
            return Outcome.REMOVED;
        }
        if (!now.isSameFile(inspected.stat())) {
            return Outcome.left("replaced since it was inspected");
        }
        final int rc = PosixMq.unlink("/" + inspected.info().name());
        return rc == 0 || rc == -Errno.ENOENT ? Outcome.REMOVED : Outcome.failed("mq_unlink: " + errno(-rc));
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
