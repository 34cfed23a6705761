/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.stat;

import dev.isthmus.IsthmusException;
import dev.isthmus.internal.MemoryAccess;
import dev.isthmus.internal.linux.FileIo;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Reads the {@linkplain StatFile stat files} of the processes on this host that this user may see: its own
 * processes (all of them for root). Each file is found through {@code /proc/<pid>/fd}, opened read-only,
 * checked (seals, header) and mapped once; {@link #snapshot()} then reads every record without a system
 * call and without disturbing the writers.
 *
 * <p>A stat file is written by a process of the same user, so it is trusted no more than that: whatever it
 * holds, reading it costs a bounded time and memory, and an impossible record is skipped.
 *
 * <p>Not thread-safe. Close it to unmap the files.
 */
public final class StatReader implements AutoCloseable {
    /** The most a stat file may be; a larger one is not read. */
    private static final long MAX_FILE_BYTES = 64L << 20;
    private static final int MAX_RETRIES = 64;

    private final Path proc;
    private final Map<Long, Mapped> mapped = new HashMap<>();

    /** A file mapped from a process, with the identity it had. */
    private record Mapped(long pid, long startTime, SharedMemory memory) {
    }

    /**
     * A process's records at one moment.
     *
     * @param pid            the process
     * @param startTimeTicks its start time, in clock ticks after boot
     * @param dropped        records it made that found no slot (not shown)
     * @param entries        its records, in slot order
     */
    public record ProcessStats(long pid, long startTimeTicks, long dropped, List<Entry> entries) {
    }

    /**
     * One record at one moment.
     *
     * @param kind     what it counts for
     * @param id       its id in its process
     * @param parentId the record it belongs to, or 0
     * @param labels   its description
     * @param counters its counters, by index ({@link StatKind#counterNames()})
     */
    public record Entry(StatKind kind, long id, long parentId, Map<String, String> labels, long[] counters) {
        /**
         * {@return the counter called {@code name}, 0 if this kind has none of that name}
         *
         * @param name a name from {@link StatKind#counterNames()}
         */
        public long counter(final String name) {
            final int index = kind.indexOf(name);
            return index < 0 ? 0 : counters[index];
        }

        /**
         * {@return the counters by name, unused indices left out}
         */
        public Map<String, Long> namedCounters() {
            final Map<String, Long> named = new LinkedHashMap<>();
            final List<String> names = kind.counterNames();
            for (int i = 0; i < names.size(); i++) {
                if (names.get(i) != null) {
                    named.put(names.get(i), counters[i]);
                }
            }
            return named;
        }
    }

    /** A reader of this host's {@code /proc}. */
    public StatReader() {
        this(Path.of("/proc"));
    }

    StatReader(final Path proc) {
        this.proc = proc;
    }

    /**
     * Finds the stat files of every process this user may see (mapping the new ones, forgetting those of
     * processes gone) and reads them.
     *
     * @return one entry per process with a stat file, by pid
     */
    public List<ProcessStats> snapshot() {
        final List<Long> pids = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(proc)) {
            for (final Path entry : entries) {
                final String name = entry.getFileName().toString();
                if (!name.isEmpty() && name.chars().allMatch(Character::isDigit) && name.length() < 10) {
                    pids.add(Long.parseLong(name));
                }
            }
        } catch (final IOException e) {
            throw new IsthmusException("cannot list " + proc + ": " + e.getMessage(), e);
        }
        Collections.sort(pids);
        final java.util.Set<Long> live = new java.util.HashSet<>(pids);
        mapped.values().removeIf(file -> {
            if (live.contains(file.pid())) {
                return false;
            }
            file.memory().close();
            return true;
        });
        final List<ProcessStats> result = new ArrayList<>();
        for (final long pid : pids) {
            read(pid).ifPresent(result::add);
        }
        return result;
    }

    /**
     * Reads one process's stat file.
     *
     * @param pid the process
     * @return its records, or empty if it has no stat file this user may read
     */
    public Optional<ProcessStats> read(final long pid) {
        Mapped file = mapped.get(pid);
        if (file != null && !stillSame(file)) {
            file.memory().close();
            mapped.remove(pid);
            file = null;
        }
        if (file == null) {
            file = map(pid);
            if (file == null) {
                return Optional.empty();
            }
            mapped.put(pid, file);
        }
        return Optional.of(read(file));
    }

    /** Whether the process the file was mapped from still runs (not a new one with the same pid). */
    private boolean stillSame(final Mapped file) {
        return Files.exists(proc.resolve(Long.toString(file.pid()))) && startTime(file.pid()) == file.startTime();
    }

    private long startTime(final long pid) {
        final dev.isthmus.shm.ProcessIdentity identity = dev.isthmus.shm.ProcessIdentity.of(pid);
        return identity == null ? -1 : identity.startTimeTicks();
    }

    /** Finds and maps a process's stat file, or returns null. */
    private Mapped map(final long pid) {
        final Path fds = proc.resolve(Long.toString(pid)).resolve("fd");
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(fds)) {
            for (final Path entry : entries) {
                final String target;
                try {
                    target = Files.readSymbolicLink(entry).toString();
                } catch (final IOException | UnsupportedOperationException e) {
                    continue;
                }
                final Optional<ResourceName> name = memfdName(target);
                if (name.isEmpty() || name.get().pid() != pid || !name.get().app().equals(StatLayout.APP)
                    || !name.get().kind().equals(StatLayout.KIND_NAME) || !name.get().id().equals(StatLayout.ID_NAME)) {
                    continue;
                }
                final Mapped found = open(pid, entry, name.get());
                if (found != null) {
                    return found;
                }
            }
        } catch (final IOException | RuntimeException e) {
            // Not ours to see (another user's process), gone, or not a directory: no stat file for us.
            return null;
        }
        return null;
    }

    /** {@return the name of the memfd a {@code /proc/<pid>/fd} link points to, if it is an Isthmus name} */
    static Optional<ResourceName> memfdName(final String target) {
        if (!target.startsWith("/memfd:")) {
            return Optional.empty();
        }
        String name = target.substring("/memfd:".length());
        if (name.endsWith(" (deleted)")) {
            name = name.substring(0, name.length() - " (deleted)".length());
        }
        return ResourceName.parse(name);
    }

    private Mapped open(final long pid, final Path link, final ResourceName name) {
        final long startTime = startTime(pid);
        final int fd = FileIo.openLink(link.toString(), FileIo.O_RDONLY | FileIo.O_NONBLOCK);
        if (fd < 0) {
            return null;
        }
        final SharedMemory memory;
        try {
            memory = SharedMemory.adopt(fd, name, false, MAX_FILE_BYTES);
        } catch (final RuntimeException e) {
            return null;
        }
        final MemorySegment data = memory.segment();
        // acquire: pairs with the writer's putLongRelease(magic) after the header.
        if (data.byteSize() < StatLayout.SLOT_LENGTH || MemoryAccess.getLongAcquire(data, 0) != StatLayout.MAGIC
            || data.get(ValueLayout.JAVA_INT, StatLayout.VERSION_OFFSET) != StatLayout.VERSION
            || data.get(ValueLayout.JAVA_INT, StatLayout.SLOT_LENGTH_OFFSET) != StatLayout.SLOT_LENGTH
            || data.get(ValueLayout.JAVA_LONG, StatLayout.PID_OFFSET) != pid || startTime < 0) {
            memory.close();
            return null;
        }
        return new Mapped(pid, startTime, memory);
    }

    private static ProcessStats read(final Mapped file) {
        final MemorySegment data = file.memory().segment();
        final long capacity = data.byteSize() / StatLayout.SLOT_LENGTH - 1;
        final long slots = Math.min(Math.max(0, data.get(ValueLayout.JAVA_INT, StatLayout.SLOT_COUNT_OFFSET)), capacity);
        final List<Entry> entries = new ArrayList<>();
        final StatKind[] kinds = StatKind.values();
        for (int slot = 0; slot < slots; slot++) {
            final long base = StatLayout.slot(slot);
            for (int attempt = 0; attempt < MAX_RETRIES; attempt++) {
                // acquire: pairs with the writer's putIntRelease of the even sequence after a description.
                final int before = MemoryAccess.getIntAcquire(data, base + StatLayout.SEQUENCE);
                if ((before & 1) != 0) {
                    Thread.onSpinWait();
                    continue;
                }
                final int kind = data.get(ValueLayout.JAVA_INT, base + StatLayout.KIND);
                if (kind <= 0 || kind > kinds.length) {
                    break;
                }
                final long id = data.get(ValueLayout.JAVA_LONG, base + StatLayout.ID);
                final long parent = data.get(ValueLayout.JAVA_LONG, base + StatLayout.PARENT);
                final int labelLength = Math.clamp(data.get(ValueLayout.JAVA_INT, base + StatLayout.LABEL_LENGTH),
                    0, StatLayout.MAX_LABEL_LENGTH);
                final byte[] label = new byte[labelLength];
                MemorySegment.copy(data, ValueLayout.JAVA_BYTE, base + StatLayout.LABEL, label, 0, labelLength);
                final long[] counters = new long[StatKind.COUNTERS];
                MemorySegment.copy(data, ValueLayout.JAVA_LONG, base + StatLayout.COUNTERS, counters, 0, counters.length);
                // The reads above happen before the sequence is read again (a seqlock reader's fence); pairs
                // with the writer's volatile store of the odd sequence before it changes the description.
                VarHandle.acquireFence();
                if (MemoryAccess.getIntVolatile(data, base + StatLayout.SEQUENCE) != before) {
                    continue;
                }
                entries.add(new Entry(kinds[kind - 1], id, parent, parseLabel(label), counters));
                break;
            }
        }
        return new ProcessStats(file.pid(), file.startTime(),
            MemoryAccess.getLongOpaque(data, StatLayout.DROPPED_OFFSET), List.copyOf(entries));
    }

    private static Map<String, String> parseLabel(final byte[] label) {
        final Map<String, String> labels = new LinkedHashMap<>();
        for (final String line : new String(label, StandardCharsets.UTF_8).split("\n")) {
            final int equals = line.indexOf('=');
            if (equals > 0) {
                labels.put(line.substring(0, equals), line.substring(equals + 1));
            }
        }
        return Collections.unmodifiableMap(labels);
    }

    @Override
    public void close() {
        mapped.values().forEach(file -> file.memory().close());
        mapped.clear();
    }
}
