/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.stat;

import dev.isthmus.internal.MemoryAccess;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * This process's stat file: the counters of its sessions, channels and servers, in one sealed anonymous
 * file ({@code memfd}) named {@code <prefix>.process.<pid>.stat.counters}, which another process of the
 * same user (or root) reads through {@code /proc/<pid>/fd} ({@link StatReader}, {@code isthmus stat})
 * without disturbing the writers. It has no name in any directory: nothing to squat, sweep or leave
 * behind; the kernel frees it with the process. Its mode is owner read-only ({@code 0400}): nobody can open
 * it for writing, and no other user can open it at all.
 *
 * <p>Made on first use, 4,095 records of 512 bytes (2 MiB of address space, pages allocated as records are
 * first used). When every slot is taken, or with {@code -Disthmus.stat=false}, records count in private
 * memory ({@link StatRecord#isShared()} is false); the header counts how many found no slot.
 *
 * <p>Thread-safe.
 */
public final class StatFile {
    private static final AtomicLong IDS = new AtomicLong();
    private static volatile StatFile process;

    private final SharedMemory file;
    /** The data part, with global scope: the file is never unmapped, so no access needs a liveness check. */
    private final MemorySegment memory;
    private final int slots;
    /** Free slots, first freed first reused: a freed slot is handed out again as late as possible. */
    private final ArrayDeque<Integer> free = new ArrayDeque<>();
    private int nextUnused;

    @SuppressWarnings("restricted")
    private StatFile(final SharedMemory file, final int slots) {
        this.file = file;
        this.memory = MemorySegment.ofAddress(file.segment().address()).reinterpret(file.segment().byteSize());
        this.slots = slots;
    }

    /**
     * {@return this process's stat file, made now if this is the first use, or {@code null} if counters are
     * disabled or the file cannot be made (records then count privately)}
     */
    public static StatFile process() {
        StatFile current = process;
        if (current == null) {
            synchronized (StatFile.class) {
                current = process;
                if (current == null && enabled()) {
                    current = process = create(StatLayout.DEFAULT_SLOTS);
                }
            }
        }
        return current;
    }

    private static boolean enabled() {
        return !"false".equalsIgnoreCase(System.getProperty("isthmus.stat", "true"));
    }

    private static StatFile create(final int slots) {
        final ProcessIdentity self = ProcessIdentity.current();
        final SharedMemory file;
        try {
            file = SharedMemory.builder(new ResourceName(ResourceName.configuredPrefix(), StatLayout.APP, self.pid(),
                    StatLayout.KIND_NAME, StatLayout.ID_NAME))
                .lengthBytes((long) (slots + 1) * StatLayout.SLOT_LENGTH)
                .permissions(PermissionLevel.USER_ACCESS)
                .fixedLength()
                .createSealed();
        } catch (final RuntimeException e) {
            // Counters are never worth failing the caller for: this process counts privately.
            System.getLogger(StatFile.class.getName()).log(System.Logger.Level.WARNING,
                "isthmus: no stat file, counters will not be visible to isthmus stat: " + e.getMessage());
            return null;
        }
        final MemorySegment data = file.segment();
        data.set(ValueLayout.JAVA_INT, StatLayout.VERSION_OFFSET, StatLayout.VERSION);
        data.set(ValueLayout.JAVA_INT, StatLayout.SLOT_LENGTH_OFFSET, StatLayout.SLOT_LENGTH);
        data.set(ValueLayout.JAVA_INT, StatLayout.SLOT_COUNT_OFFSET, slots);
        data.set(ValueLayout.JAVA_LONG, StatLayout.PID_OFFSET, self.pid());
        data.set(ValueLayout.JAVA_LONG, StatLayout.START_TIME_OFFSET, self.startTimeTicks());
        // release: publishes the header; pairs with the reader's getLongAcquire(magic).
        MemoryAccess.putLongRelease(data, 0, StatLayout.MAGIC);
        return new StatFile(file, slots);
    }

    /**
     * Makes a record, in this process's file if there is one and it has room, else in private memory.
     *
     * @param kind     what it counts
     * @param parentId the record it belongs to (a channel's session), or 0
     * @param labels   its description, {@code key=value} pairs
     * @return the record, all counters 0
     */
    public static StatRecord newRecord(final StatKind kind, final long parentId, final Map<String, String> labels) {
        final long id = IDS.incrementAndGet();
        final StatFile file = process();
        if (file != null) {
            final StatRecord record = file.allocate(kind, id, parentId, labels);
            if (record != null) {
                return record;
            }
        }
        final StatRecord record = new StatRecord(null, privateSlot(), 0, -1, kind, id);
        record.labels(labels);
        return record;
    }

    /**
     * {@return a record in private memory, which nobody else reads: for a component not (yet) attached to a
     * shared record}
     *
     * @param kind what it counts
     */
    public static StatRecord privateRecord(final StatKind kind) {
        return new StatRecord(null, privateSlot(), 0, -1, kind, 0);
    }

    /** {@return private memory the size of a slot} */
    static MemorySegment privateSlot() {
        return Arena.ofAuto().allocate(StatLayout.SLOT_LENGTH, 64);
    }

    private StatRecord allocate(final StatKind kind, final long id, final long parentId, final Map<String, String> labels) {
        final int slot;
        synchronized (this) {
            if (!free.isEmpty()) {
                slot = free.removeFirst();
            } else if (nextUnused < slots) {
                slot = nextUnused++;
            } else {
                MemoryAccess.getAndAddLong(memory, StatLayout.DROPPED_OFFSET, 1);
                return null;
            }
        }
        final long base = StatLayout.slot(slot);
        final int sequence = MemoryAccess.getIntVolatile(memory, base + StatLayout.SEQUENCE);
        // volatile: odd before anything changes; pairs with the reader's re-read of the sequence.
        MemoryAccess.putIntVolatile(memory, base + StatLayout.SEQUENCE, sequence | 1);
        memory.asSlice(base + StatLayout.COUNTERS, StatLayout.SLOT_LENGTH - StatLayout.COUNTERS).fill((byte) 0);
        memory.set(ValueLayout.JAVA_LONG, base + StatLayout.ID, id);
        memory.set(ValueLayout.JAVA_INT, base + StatLayout.KIND, kind.ordinal() + 1);
        StatRecord.writeDescription(memory, base, parentId, StatRecord.label(labels));
        final StatRecord record = new StatRecord(this, memory, base, slot, kind, id);
        record.labels(labels);
        return record;
    }

    void free(final int slot) {
        final long base = StatLayout.slot(slot);
        final int sequence = MemoryAccess.getIntVolatile(memory, base + StatLayout.SEQUENCE);
        MemoryAccess.putIntVolatile(memory, base + StatLayout.SEQUENCE, sequence | 1);
        memory.set(ValueLayout.JAVA_INT, base + StatLayout.KIND, 0);
        // release: the slot reads free; pairs with the reader's getIntAcquire of the sequence.
        MemoryAccess.putIntRelease(memory, base + StatLayout.SEQUENCE, (sequence | 1) + 1);
        synchronized (this) {
            free.addLast(slot);
        }
    }

    /**
     * {@return the file's memfd name, as {@code /proc/<pid>/fd} shows it}
     */
    public String name() {
        return file.name().toString();
    }

    @Override
    public String toString() {
        return "StatFile{" + name() + ", " + slots + " slots}";
    }
}
