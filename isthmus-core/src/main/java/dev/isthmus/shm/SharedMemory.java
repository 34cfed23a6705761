/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import dev.isthmus.internal.linux.Errno;
import dev.isthmus.internal.linux.FileIo;
import dev.isthmus.internal.linux.Mmap;
import dev.isthmus.internal.linux.Platform;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

import static dev.isthmus.internal.MemoryAccess.compareAndSetLong;
import static dev.isthmus.internal.MemoryAccess.getLongAcquire;
import static dev.isthmus.internal.MemoryAccess.putLongRelease;
import static dev.isthmus.shm.SegmentDescriptor.CREATED_OFFSET;
import static dev.isthmus.shm.SegmentDescriptor.DATA_LENGTH_OFFSET;
import static dev.isthmus.shm.SegmentDescriptor.HEADER_LENGTH_OFFSET;
import static dev.isthmus.shm.SegmentDescriptor.MAGIC;
import static dev.isthmus.shm.SegmentDescriptor.MAGIC_OFFSET;
import static dev.isthmus.shm.SegmentDescriptor.MODE_OFFSET;
import static dev.isthmus.shm.SegmentDescriptor.OWNER_PID_OFFSET;
import static dev.isthmus.shm.SegmentDescriptor.OWNER_START_TIME_OFFSET;
import static dev.isthmus.shm.SegmentDescriptor.TAG_OFFSET;
import static dev.isthmus.shm.SegmentDescriptor.VERSION;
import static dev.isthmus.shm.SegmentDescriptor.VERSION_OFFSET;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A named shared-memory segment: a file under {@code /dev/shm} (by default) mapped into this process,
 * with a {@linkplain SegmentDescriptor header} that identifies its layout and its owner.
 *
 * {@snippet :
 * ResourceName name = ResourceName.of("cacheSrv", "seg", "s1-0");
 * try (SharedMemory created = SharedMemory.builder(name).lengthBytes(1 << 20).create();
 *      SharedMemory opened = SharedMemory.open(name)) {       // typically in another process
 *     created.segment().set(ValueLayout.JAVA_LONG, 0, 42);
 *     assert opened.segment().get(ValueLayout.JAVA_LONG, 0) == 42;
 *     created.unlink();                                        // the name goes, the mappings stay
 * }
 * }
 *
 * <p>{@link #segment()} is the data part of the mapping: offset 0 is the first byte after the header.
 * Creation is exclusive and sets the permission bits exactly. Growing ({@link #grow}) extends the file
 * and maps it again; the previous mappings stay valid until {@link #close()}, so a thread still reading
 * through an old segment never faults; a segment never shrinks. Another process sees the new length
 * after {@link #refresh()}.
 *
 * <p>Thread safety: all methods are thread-safe. The segments returned by {@link #segment()} may be used
 * by any thread until {@link #close()}; closing while another thread still uses one makes that thread's
 * next access fail with {@link IllegalStateException}.
 */
public final class SharedMemory implements AutoCloseable {
    /** Where segments live unless the system property {@code isthmus.shm.dir} says otherwise. */
    public static final Path DEFAULT_DIRECTORY = Path.of(System.getProperty("isthmus.shm.dir", "/dev/shm"));

    /** The largest data length accepted: far beyond any machine's memory, small enough never to overflow. */
    public static final long MAX_LENGTH_BYTES = 1L << 46;

    private final ResourceName name;
    private final Path path;
    private final String what;
    private final int fd;
    private final boolean writable;
    private final int headerLength;
    private final MemorySegment header;
    private final List<Arena> arenas = new ArrayList<>();
    /** Whether the segment is a sealed memfd, with no name in any directory. */
    private final boolean sealed;
    /** The most data bytes this process maps, whatever the file's header declares later. */
    private final long maxDataLength;
    private volatile MemorySegment data;
    private boolean closed;

    /** The most mappings one segment may accumulate by growing: honest growth doubles, so needs far fewer. */
    static final int MAX_MAPPINGS = 48;

    private SharedMemory(final ResourceName name, final Path path, final int fd, final boolean writable,
                         final int headerLength, final Arena arena, final MemorySegment mapping, final long dataLength,
                         final boolean sealed, final long maxDataLength) {
        this.name = name;
        this.path = path;
        this.what = path.toString();
        this.fd = fd;
        this.writable = writable;
        this.sealed = sealed;
        this.maxDataLength = maxDataLength;
        this.headerLength = headerLength;
        this.header = mapping.asSlice(0, headerLength);
        this.data = mapping.asSlice(headerLength, dataLength);
        arenas.add(arena);
    }

    /**
     * {@return a builder for a new segment}
     *
     * @param name the segment's name
     */
    public static Builder builder(final ResourceName name) {
        return new Builder(name);
    }

    /**
     * Opens an existing segment in {@link #DEFAULT_DIRECTORY} for reading and writing.
     *
     * @param name the segment's name
     * @return the segment, mapped at its current length
     * @throws NoSuchResourceException if there is no such segment
     * @throws CorruptDataException    if its header is not a valid Isthmus header, names the problem
     */
    public static SharedMemory open(final ResourceName name) {
        return open(DEFAULT_DIRECTORY, name, true);
    }

    /**
     * Opens an existing segment.
     *
     * @param directory where the segment lives
     * @param name      the segment's name
     * @param writable  whether to map it for writing; if not, {@link #segment()} is read-only
     * @return the segment, mapped at its current length
     * @throws NoSuchResourceException if there is no such segment
     * @throws CorruptDataException    if its header is not a valid Isthmus header (wrong magic, wrong
     *                                 version, file shorter than the header declares), names the problem
     */
    public static SharedMemory open(final Path directory, final ResourceName name, final boolean writable) {
        return open(directory, name, writable, Long.MAX_VALUE);
    }

    /**
     * Opens an existing segment that another process may have made larger than it should be, mapping it
     * only if its data part is at most {@code maxDataLength} bytes (checked before anything is mapped, and
     * again by {@link #refresh()}).
     *
     * @param directory     where the segment lives
     * @param name          the segment's name
     * @param writable      whether to map it for writing
     * @param maxDataLength the most data bytes this process accepts to map
     * @return the segment, mapped at its current length
     * @throws NoSuchResourceException if there is no such segment
     * @throws CorruptDataException    if its header is not valid, or it is larger than allowed
     */
    public static SharedMemory open(final Path directory, final ResourceName name, final boolean writable,
                                    final long maxDataLength) {
        Platform.requireSupported();
        final Path path = directory.resolve(name.toString());
        final String what = path.toString();
        final int fd = FileIo.open(what, writable ? FileIo.O_RDWR : FileIo.O_RDONLY, 0);
        if (fd == -Errno.ENOENT) {
            throw new NoSuchResourceException("no shared-memory segment " + what);
        }
        try {
            return mapExisting(name, path, fd, writable, maxDataLength, false);
        } catch (final RuntimeException | Error e) {
            FileIo.close(fd);
            throw e;
        }
    }

    /**
     * Maps a sealed segment another process created and handed over as a descriptor
     * ({@link Builder#createSealed()}), taking ownership of the descriptor. Before anything is mapped, the
     * file must carry the seals that keep it from shrinking ({@code F_SEAL_SHRINK} and
     * {@code F_SEAL_SEAL}) and be no longer than {@code maxDataLength} beyond its header: a peer can then
     * neither truncate what this process reads (no {@code SIGBUS}) nor make it map more than it expects.
     * The header is checked as {@link #open(Path, ResourceName, boolean)} checks it.
     *
     * @param fd            the descriptor, owned by the segment from now on (closed if this fails)
     * @param name          the name the creator gave the segment, for diagnostics
     * @param writable      whether to map it for writing (a descriptor opened read-only cannot be)
     * @param maxDataLength the most data bytes this process accepts to map, now and when the creator grows it
     * @return the segment, mapped at its current length
     * @throws CorruptDataException if the file is not sealed against shrinking, is longer than allowed, or
     *                              its header is not a valid Isthmus header
     */
    public static SharedMemory adopt(final int fd, final ResourceName name, final boolean writable,
                                     final long maxDataLength) {
        Platform.requireSupported();
        final Path path = Path.of("/memfd:" + name);
        try {
            final int seals = FileIo.seals(fd, path.toString());
            final int required = FileIo.F_SEAL_SHRINK | FileIo.F_SEAL_SEAL;
            if (seals == -1 || (seals & required) != required) {
                throw new CorruptDataException("shared-memory segment " + path + " handed over by the peer is not sealed"
                    + " against shrinking (seals " + seals + "): refused, it could be truncated under this process");
            }
            return mapExisting(name, path, fd, writable, maxDataLength, true);
        } catch (final dev.isthmus.NativeException e) {
            FileIo.close(fd);
            if (writable && (e.errno() == dev.isthmus.internal.linux.Errno.EACCES
                || e.errno() == dev.isthmus.internal.linux.Errno.EPERM)) {
                throw new CorruptDataException("shared-memory segment " + path + " was handed over read-only (or sealed"
                    + " against writing) where a segment this process writes was expected: refused (" + e.getMessage()
                    + ")");
            }
            if (e.errno() == dev.isthmus.internal.linux.Errno.EINVAL || e.errno() == dev.isthmus.internal.linux.Errno.ENODEV) {
                throw new CorruptDataException("shared-memory segment " + path + " handed over by the peer cannot be"
                    + " mapped as a plain segment: refused (" + e.getMessage() + ")");
            }
            throw e;
        } catch (final RuntimeException | Error e) {
            FileIo.close(fd);
            throw e;
        }
    }

    /** Maps and checks an existing segment's file; the caller closes {@code fd} if this throws. */
    private static SharedMemory mapExisting(final ResourceName name, final Path path, final int fd, final boolean writable,
                                            final long maxDataLength, final boolean sealed) {
        final String what = path.toString();
        Arena arena = null;
        try {
            final long fileLength = FileIo.length(fd, what);
            if (fileLength - SegmentDescriptor.MAX_HEADER_LENGTH > maxDataLength) {
                throw new CorruptDataException("shared-memory segment " + what + " is " + fileLength
                    + " bytes long, more than the " + maxDataLength + " data bytes this process accepts to map");
            }
            if (fileLength < SegmentDescriptor.MIN_HEADER_LENGTH) {
                throw new CorruptDataException("shared-memory segment " + what + " is truncated: " + fileLength
                    + " bytes, less than the " + SegmentDescriptor.MIN_HEADER_LENGTH + "-byte header");
            }
            arena = Arena.ofShared();
            final MemorySegment mapping = Mmap.map(fd, fileLength, writable, arena, what);
            // acquire: pairs with the creator's putLongRelease(MAGIC) that completes the header.
            final long magic = getLongAcquire(mapping, MAGIC_OFFSET);
            if (magic == 0) {
                throw new CorruptDataException("shared-memory segment " + what
                    + " is not initialized (magic is 0): its creator has not finished, or died while creating it");
            }
            if (magic != MAGIC) {
                throw new CorruptDataException("shared-memory segment " + what + " has a wrong magic 0x"
                    + Long.toHexString(magic) + ", expected 0x" + Long.toHexString(MAGIC) + ": not an Isthmus segment");
            }
            final int version = mapping.get(JAVA_INT, VERSION_OFFSET);
            if (version != VERSION) {
                throw new CorruptDataException("shared-memory segment " + what + " has layout version " + version
                    + ", this library reads version " + VERSION);
            }
            final int headerLength = mapping.get(JAVA_INT, HEADER_LENGTH_OFFSET);
            if (headerLength < SegmentDescriptor.MIN_HEADER_LENGTH || headerLength > SegmentDescriptor.MAX_HEADER_LENGTH
                || Integer.bitCount(headerLength) != 1) {
                throw new CorruptDataException("shared-memory segment " + what + " declares an impossible header length "
                    + headerLength);
            }
            // acquire: pairs with grow()'s release of the data length, published after the file was extended.
            final long dataLength = getLongAcquire(mapping, DATA_LENGTH_OFFSET);
            MemorySegment current = mapping;
            if (dataLength >= 0 && dataLength <= MAX_LENGTH_BYTES && headerLength + dataLength > mapping.byteSize()) {
                // Another process grew the segment after we measured the file: it extended the file before
                // publishing the length we just read, so measuring again sees the new length.
                final long grownLength = FileIo.length(fd, what);
                if (headerLength + dataLength <= grownLength) {
                    final Arena grownArena = Arena.ofShared();
                    try {
                        current = Mmap.map(fd, grownLength, writable, grownArena, what);
                    } catch (final RuntimeException | Error e) {
                        grownArena.close();
                        throw e;
                    }
                    arena.close();
                    arena = grownArena;
                }
            }
            if (dataLength < 0 || dataLength > MAX_LENGTH_BYTES || dataLength > maxDataLength
                || headerLength + dataLength > current.byteSize()) {
                throw new CorruptDataException("shared-memory segment " + what + " is truncated: its header declares "
                    + dataLength + " data bytes after a " + headerLength + "-byte header, the file has "
                    + FileIo.length(fd, what) + " bytes");
            }
            return new SharedMemory(name, path, fd, writable, headerLength, arena, current, dataLength, sealed,
                maxDataLength);
        } catch (final RuntimeException | Error e) {
            if (arena != null) {
                arena.close();
            }
            throw e;
        }
    }

    private static SharedMemory create(final Builder builder, final boolean sealed) {
        Platform.requireSupported();
        final long dataLength = builder.lengthBytes;
        final Path path = sealed ? Path.of("/memfd:" + builder.name) : builder.directory.resolve(builder.name.toString());
        final String what = path.toString();
        final int mode = builder.permissions.fileMode();
        final int fd = sealed ? FileIo.memfdCreate(builder.name.toString(), FileIo.MFD_CLOEXEC | FileIo.MFD_ALLOW_SEALING)
            : FileIo.open(what, FileIo.O_RDWR | FileIo.O_CREAT | FileIo.O_EXCL, mode);
        if (fd == -Errno.EEXIST) {
            throw new IsthmusException("shared-memory segment " + what + " already exists");
        }
        if (fd == -Errno.ENOENT) {
            throw new NoSuchResourceException("cannot create shared-memory segment " + what + ": the directory "
                + builder.directory + " does not exist");
        }
        Arena arena = null;
        try {
            // The umask may have cleared bits of the mode given to open: set it exactly.
            FileIo.fchmod(fd, mode, what);
            final int headerLength = SegmentDescriptor.headerLength(Mmap.pageSize());
            if (sealed) {
                // Sparse: pages are allocated as they are first touched, and freed with the last mapping.
                FileIo.truncate(fd, headerLength + dataLength, what);
            } else {
                FileIo.allocate(fd, headerLength + dataLength, what);
            }
            arena = Arena.ofShared();
            final MemorySegment mapping = Mmap.map(fd, headerLength + dataLength, true, arena, what);
            final ProcessIdentity owner = ProcessIdentity.current();
            mapping.set(JAVA_INT, VERSION_OFFSET, VERSION);
            mapping.set(JAVA_INT, HEADER_LENGTH_OFFSET, headerLength);
            mapping.set(JAVA_LONG, DATA_LENGTH_OFFSET, dataLength);
            mapping.set(JAVA_INT, OWNER_PID_OFFSET, (int) owner.pid());
            mapping.set(JAVA_INT, MODE_OFFSET, mode);
            mapping.set(JAVA_LONG, OWNER_START_TIME_OFFSET, owner.startTimeTicks());
            mapping.set(JAVA_LONG, CREATED_OFFSET, System.currentTimeMillis());
            mapping.set(JAVA_LONG, TAG_OFFSET, builder.tag);
            if (builder.prefault) {
                Mmap.populateWrite(mapping.asSlice(headerLength), what);
            }
            // release: publishes the complete header; pairs with open()'s getLongAcquire(MAGIC).
            putLongRelease(mapping, MAGIC_OFFSET, MAGIC);
            if (sealed) {
                // Nobody may shrink it from now on (a reader would fault), nor change the seals; a fixed-length
                // segment may not grow either.
                FileIo.addSeals(fd, FileIo.F_SEAL_SHRINK | FileIo.F_SEAL_SEAL | (builder.fixedLength ? FileIo.F_SEAL_GROW : 0)
                    | (builder.writableOnlyHere ? FileIo.F_SEAL_FUTURE_WRITE : 0), what);
                // No write bit on the file itself: a peer handed a read-only descriptor cannot reopen it for writing
                // through /proc/self/fd (which checks the file's mode, not the descriptor's). This process's own
                // descriptor and its duplicates keep the access they were opened with; root still bypasses it.
                FileIo.fchmod(fd, mode & ~0222, what);
            }
            return new SharedMemory(builder.name, path, fd, true, headerLength, arena, mapping, dataLength, sealed,
                MAX_LENGTH_BYTES);
        } catch (final RuntimeException | Error e) {
            if (arena != null) {
                arena.close();
            }
            FileIo.close(fd);
            if (!sealed) {
                deleteQuietly(path);
            }
            throw e;
        }
    }

    /**
     * {@return a new descriptor of this segment's file, the caller's to close (typically after handing it to a
     * peer with {@code SCM_RIGHTS})}
     *
     * @param readOnly whether the descriptor is opened read-only: the kernel then refuses whoever holds it a
     *                 writable mapping, so a peer given it cannot write a byte of this segment
     * @throws IllegalStateException if the segment is closed
     */
    public int duplicateDescriptor(final boolean readOnly) {
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("shared-memory segment " + what + " is closed");
            }
            if (!readOnly) {
                return FileIo.duplicate(fd, what);
            }
            return FileIo.reopen(fd, FileIo.O_RDONLY, what);
        }
    }

    /**
     * {@return whether this segment is a sealed anonymous file ({@link Builder#createSealed()} or
     * {@link #adopt}), which has no name and is freed with its last descriptor and mapping}
     */
    public boolean isSealed() {
        return sealed;
    }

    /**
     * {@return the segment's name}
     */
    public ResourceName name() {
        return name;
    }

    /**
     * {@return the segment's file}
     */
    public Path path() {
        return path;
    }

    /**
     * {@return the data part of the current mapping; offset 0 is the first byte after the header}
     *
     * @throws IllegalStateException if this segment is closed
     */
    public MemorySegment segment() {
        final MemorySegment segment = data;
        if (segment == null) {
            throw new IllegalStateException("shared-memory segment " + what + " is closed");
        }
        return segment;
    }

    /**
     * {@return the length of the data part as mapped here}
     */
    public long lengthBytes() {
        return segment().byteSize();
    }

    /**
     * {@return whether this process maps the segment for writing}
     */
    public boolean isWritable() {
        return writable;
    }

    /**
     * {@return the process that created the segment, as its header records it}
     */
    public ProcessIdentity owner() {
        return new ProcessIdentity(header.get(JAVA_INT, OWNER_PID_OFFSET),
            header.get(JAVA_LONG, OWNER_START_TIME_OFFSET));
    }

    /**
     * {@return whether this process created the segment}
     */
    public boolean isOwner() {
        return owner().equals(ProcessIdentity.current());
    }

    /**
     * {@return the tag the creator stored in the header}
     */
    public long tag() {
        return header.get(JAVA_LONG, TAG_OFFSET);
    }

    /**
     * {@return the permission mode the creator chose, e.g. {@code 0600}}
     */
    public int mode() {
        return header.get(JAVA_INT, MODE_OFFSET);
    }

    /**
     * Grows the data part to at least {@code lengthBytes}: extends the file (never shrinking it, even if
     * another process grows it at the same time), maps it again and publishes the new length in the header.
     * The previous mapping stays valid until {@link #close()}.
     *
     * @param lengthBytes the new data length
     * @param prefault    whether to fault in the new pages now
     * @return {@code true} if the mapping grew, {@code false} if it was already at least that long
     * @throws IllegalStateException    if the segment is closed or mapped read-only
     * @throws IllegalArgumentException if {@code lengthBytes} exceeds {@link #MAX_LENGTH_BYTES}
     * @throws dev.isthmus.NativeException if the file cannot be extended, e.g. {@code ENOSPC}
     */
    public synchronized boolean grow(final long lengthBytes, final boolean prefault) {
        checkLength(lengthBytes);
        final MemorySegment current = segment();
        if (!writable) {
            throw new IllegalStateException("shared-memory segment " + what + " is mapped read-only and cannot grow");
        }
        if (lengthBytes <= current.byteSize()) {
            return false;
        }
        FileIo.allocate(fd, headerLength + lengthBytes, what);
        remap(lengthBytes);
        if (prefault) {
            Mmap.populateWrite(data.asSlice(pageFloor(current.byteSize())), what);
        }
        long published;
        do {
            published = getLongAcquire(header, DATA_LENGTH_OFFSET);
            // release: publishes the new length after the file was extended; pairs with refresh()/open()'s
            // getLongAcquire(DATA_LENGTH). The CAS keeps the largest length when two processes grow at once.
        } while (published < lengthBytes && !compareAndSetLong(header, DATA_LENGTH_OFFSET, published, lengthBytes));
        return true;
    }

    /**
     * Maps the segment again if another process has grown it.
     *
     * @return {@code true} if the mapping grew
     * @throws IllegalStateException if the segment is closed
     * @throws CorruptDataException  if the header declares more than the file holds
     */
    public synchronized boolean refresh() {
        final MemorySegment current = segment();
        // acquire: pairs with grow()'s CAS that publishes the new length after extending the file.
        final long declared = getLongAcquire(header, DATA_LENGTH_OFFSET);
        if (declared <= current.byteSize()) {
            return false;
        }
        if (declared > maxDataLength) {
            throw new CorruptDataException("shared-memory segment " + what + " declares " + declared + " data bytes,"
                + " more than the " + maxDataLength + " this process accepts to map");
        }
        final long fileLength = FileIo.length(fd, what);
        if (declared > MAX_LENGTH_BYTES || headerLength + declared > fileLength) {
            throw new CorruptDataException("shared-memory segment " + what + " is truncated: its header declares "
                + declared + " data bytes, the file has " + fileLength + " bytes");
        }
        remap(declared);
        return true;
    }

    /**
     * Faults in every page of the data part now, so that first touches later cost nothing in this process.
     */
    public void prefault() {
        final MemorySegment segment = segment();
        if (writable) {
            Mmap.populateWrite(segment, what);
        } else {
            Mmap.populateRead(segment, what);
        }
    }

    /**
     * Faults in the pages of part of the data now.
     *
     * @param offset where the part starts in {@link #segment()}
     * @param length its length
     * @throws IndexOutOfBoundsException if the part is outside the data
     */
    public void prefault(final long offset, final long length) {
        final MemorySegment part = segment().asSlice(offset, length);
        if (writable) {
            Mmap.populateWrite(part.asSlice(0, part.byteSize()), what);
        } else {
            Mmap.populateRead(part, what);
        }
    }

    private void remap(final long dataLength) {
        if (arenas.size() >= MAX_MAPPINGS) {
            throw new CorruptDataException("shared-memory segment " + what + " has grown " + arenas.size()
                + " times: refused to map it again (honest growth doubles, and needs far fewer mappings)");
        }
        final Arena arena = Arena.ofShared();
        try {
            final MemorySegment mapping = Mmap.map(fd, headerLength + dataLength, writable, arena, what);
            arenas.add(arena);
            data = mapping.asSlice(headerLength, dataLength);
        } catch (final RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Removes the segment's name. Existing mappings, here and in other processes, stay valid; the memory
     * is freed when the last of them is closed. Idempotent.
     */
    public void unlink() {
        if (sealed) {
            return;
        }
        deleteQuietly(path);
    }

    /**
     * Unmaps every mapping of this segment made by this object and closes its file descriptor. Idempotent.
     *
     * @throws IllegalStateException if another thread is still inside a native call on this memory (such
     *                               as a futex wait) after a short grace period
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        data = null;
        for (int i = arenas.size() - 1; i >= 0; i--) {
            closeArena(arenas.get(i));
            arenas.remove(i);
        }
        closed = true;
        FileIo.close(fd);
    }

    private void closeArena(final Arena arena) {
        // A thread waiting on a futex in this mapping keeps the arena acquired until its (bounded) wait
        // ends; give it time rather than unmapping under it.
        final long deadline = System.nanoTime() + 2_000_000_000L;
        while (true) {
            try {
                arena.close();
                return;
            } catch (final IllegalStateException e) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("shared-memory segment " + what + " is still in use by a native call",
                        e);
                }
                Thread.onSpinWait();
                Thread.yield();
            }
        }
    }

    @Override
    public String toString() {
        final MemorySegment segment = data;
        return "SharedMemory{" + what + (segment == null ? ", closed}" : ", " + segment.byteSize() + " bytes}");
    }

    private static long pageFloor(final long offset) {
        return offset & -Mmap.pageSize();
    }

    private static void checkLength(final long lengthBytes) {
        if (lengthBytes < 0 || lengthBytes > MAX_LENGTH_BYTES) {
            throw new IllegalArgumentException("lengthBytes=" + lengthBytes + " must be in [0, " + MAX_LENGTH_BYTES + "]");
        }
    }

    private static void deleteQuietly(final Path path) {
        try {
            Files.deleteIfExists(path);
        } catch (final IOException ignored) {
            // Someone else removed it, or the directory is not writable: the sweeper reports what is left.
        }
    }

    /**
     * Builds a new segment. Defaults: {@link PermissionLevel#USER_ACCESS}, the {@link #DEFAULT_DIRECTORY},
     * no pre-faulting, tag 0.
     */
    public static final class Builder {
        private final ResourceName name;
        private long lengthBytes = -1;
        private PermissionLevel permissions = PermissionLevel.USER_ACCESS;
        private Path directory = DEFAULT_DIRECTORY;
        private boolean prefault;
        private long tag;
        private boolean fixedLength;
        private boolean writableOnlyHere;

        private Builder(final ResourceName name) {
            this.name = Objects.requireNonNull(name, "name");
        }

        /**
         * Sets the length of the data part; required.
         *
         * @param lengthBytes at least 0, at most {@link #MAX_LENGTH_BYTES}
         * @return this builder
         */
        public Builder lengthBytes(final long lengthBytes) {
            checkLength(lengthBytes);
            this.lengthBytes = lengthBytes;
            return this;
        }

        /**
         * Sets who may open the segment.
         *
         * @param permissions the permission level
         * @return this builder
         */
        public Builder permissions(final PermissionLevel permissions) {
            this.permissions = Objects.requireNonNull(permissions, "permissions");
            return this;
        }

        /**
         * Sets where the segment is created.
         *
         * @param directory an existing directory on a memory file system
         * @return this builder
         */
        public Builder directory(final Path directory) {
            this.directory = Objects.requireNonNull(directory, "directory");
            return this;
        }

        /**
         * Sets whether to fault in every page at creation, which costs time now (seconds per GiB on
         * small virtual machines) and saves it on first touch.
         *
         * @param prefault whether to pre-fault
         * @return this builder
         */
        public Builder prefault(final boolean prefault) {
            this.prefault = prefault;
            return this;
        }

        /**
         * Sets a value stored in the header for the layer above, e.g. the id of the session that owns the
         * segment.
         *
         * @param tag any value
         * @return this builder
         */
        public Builder tag(final long tag) {
            this.tag = tag;
            return this;
        }

        /**
         * Creates the segment, exclusively: it fails if the name exists.
         *
         * @return the new segment, mapped for reading and writing, zero-filled
         * @throws IllegalStateException   if no length was set
         * @throws IsthmusException        if a segment of that name exists
         * @throws NoSuchResourceException if the directory does not exist
         * @throws dev.isthmus.NativeException if the system refuses, e.g. {@code ENOSPC}
         */
        public SharedMemory create() {
            if (lengthBytes < 0) {
                throw new IllegalStateException("lengthBytes is not set for " + name);
            }
            return SharedMemory.create(this, false);
        }

        /**
         * Makes {@link #createSealed()} seal the segment's length: it may then neither shrink nor grow.
         *
         * @return this builder
         */
        public Builder fixedLength() {
            this.fixedLength = true;
            return this;
        }

        /**
         * Makes {@link #createSealed()} seal the segment against every writable mapping but the creator's own
         * ({@code F_SEAL_FUTURE_WRITE}): for a segment only this process writes and peers get read-only. A
         * read-only descriptor alone does not stop a peer running as the same user: it may {@code fchmod} the
         * file (it owns it) and reopen it for writing through {@code /proc/self/fd}; the seal makes that
         * mapping fail whatever the descriptor. This process's mapping stays writable; nobody, this process
         * included, can map the segment for writing again.
         *
         * @return this builder
         */
        public Builder writableOnlyHere() {
            this.writableOnlyHere = true;
            return this;
        }

        /**
         * Creates the segment as an anonymous file ({@code memfd_create}), sealed against shrinking
         * ({@code F_SEAL_SHRINK}, then {@code F_SEAL_SEAL}): it has no name in any directory, so nobody can
         * squat or open it; it reaches a peer only as a descriptor ({@link #duplicateDescriptor(boolean)},
         * passed with {@code SCM_RIGHTS}, mapped there with {@link #adopt}); and the kernel frees it with the
         * last descriptor and mapping, whoever dies. It may still grow, unless {@link #fixedLength()}. Its
         * pages are allocated as they are first touched (or now, with {@link #prefault(boolean)}); its mode
         * is the permission level's, which matters only to reopening it through {@code /proc}.
         *
         * @return the segment, mapped for reading and writing
         * @throws IllegalStateException       if no length was set
         * @throws dev.isthmus.NativeException if the file cannot be created or sealed
         */
        public SharedMemory createSealed() {
            if (lengthBytes < 0) {
                throw new IllegalStateException("lengthBytes is not set for " + name);
            }
            return SharedMemory.create(this, true);
        }
    }
}
