/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.stat;

import dev.isthmus.internal.MemoryAccess;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Objects;

/**
 * One record of counters in this process's {@linkplain StatFile stat file}: a session's, a channel's, a
 * server's. Other processes of the same user read it live ({@code isthmus stat}, {@link StatReader}).
 *
 * <p><b>Writers.</b> Counters 0 to 15 have one writing thread at a time, counters 16 to 31 another (for a
 * channel: the sending and the receiving thread); {@link #increment} and {@link #add} are a plain read and
 * an opaque store, with no atomic instruction, fence or system call, so a counter with two concurrent
 * writers loses updates. Counters written by several threads use {@link #addAtomic}. {@link #set} is for
 * gauges. Reads ({@link #get}) are safe from any thread.
 *
 * <p>A record that found no room in the file, or made when counters are disabled (system property
 * {@code isthmus.stat=false}), counts in private memory: it works the same and nobody else sees it.
 * So does a record after {@link #close()}.
 */
public final class StatRecord implements AutoCloseable {
    private static final VarHandle LONG = ValueLayout.JAVA_LONG.varHandle();

    private final StatFile file;
    /** The slot's memory; after {@link #close()}, private memory, so that late updates touch no other record. */
    private MemorySegment memory;
    private long base;
    private final int slot;
    private final StatKind kind;
    private final long id;
    private boolean closed;
    private volatile Map<String, String> labels = Map.of();
    /** The tallies made of this record, moved to private memory with it on {@link #close()}; guarded by this. */
    private final java.util.List<Tally> tallies = new java.util.ArrayList<>(2);

    StatRecord(final StatFile file, final MemorySegment memory, final long base, final int slot, final StatKind kind,
               final long id) {
        this.file = file;
        this.memory = memory;
        this.base = base;
        this.slot = slot;
        this.kind = kind;
        this.id = id;
    }

    /**
     * {@return what this record counts for}
     */
    public StatKind kind() {
        return kind;
    }

    /**
     * {@return this record's id, unique in the process}
     */
    public long id() {
        return id;
    }

    /**
     * {@return whether other processes can read this record (it has a slot in the shared file)}
     */
    public boolean isShared() {
        return slot >= 0;
    }

    /**
     * Adds 1 to counter {@code index}; for its single writer.
     *
     * @param index the counter, e.g. {@link StatKind.Channel#MESSAGES_SENT}
     */
    public void increment(final int index) {
        add(index, 1);
    }

    /**
     * Adds {@code delta} to counter {@code index}: a plain read and an opaque store (atomic for readers, no
     * ordering, no fence); for its single writer.
     *
     * @param index the counter, 0 to 31
     * @param delta what to add
     */
    public void add(final int index, final long delta) {
        final long offset = base + StatLayout.COUNTERS + ((long) index << 3);
        LONG.setOpaque(memory, offset, (long) LONG.get(memory, offset) + delta);
    }

    /**
     * {@return a tally of counters {@code index} (a count) and {@code index + 1} (an amount), for their single
     * writer on a hot path}, starting from their values now. Once a tally is made, its writer updates the two
     * counters only through it.
     *
     * @param index the count's counter, e.g. {@link StatKind.Channel#MESSAGES_SENT} (the amount's is the next,
     *              {@link StatKind.Channel#BYTES_SENT})
     */
    public Tally tally(final int index) {
        if (index < 0 || index + 1 >= StatKind.COUNTERS) {
            throw new IllegalArgumentException("a tally takes counters " + index + " and " + (index + 1) + ", not 0 to "
                + (StatKind.COUNTERS - 1));
        }
        synchronized (this) {
            final Tally tally = new Tally(index, slice(index), get(index), get(index + 1));
            tallies.add(tally);
            return tally;
        }
    }

    /** {@return the memory of counters {@code index} and {@code index + 1}} */
    private MemorySegment slice(final int index) {
        return memory.asSlice(base + StatLayout.COUNTERS + ((long) index << 3), 2 * Long.BYTES);
    }

    /**
     * A count and an amount (messages and bytes) counted by their single writer on a hot path. The totals
     * live in this object; each update stores both into the record with two aligned plain stores, one
     * instruction each on the 64-bit platforms Isthmus runs on, so a reader never sees half a value. It
     * reads nothing back from shared memory and adds no fence: the stores cost what two stores to a line
     * in the writer's own cache cost, which the record's slot is (no other thread writes it).
     *
     * <p>Not thread-safe: one writer.
     */
    public static final class Tally {
        private final int index;
        /**
         * The two counters; moved to private memory when the record closes. Plainly: a writer on another
         * thread may store into the freed slot a while longer, which the file hands out again last.
         */
        private MemorySegment counters;
        private long count;
        private long amount;

        private Tally(final int index, final MemorySegment counters, final long count, final long amount) {
            this.index = index;
            this.counters = counters;
            this.count = count;
            this.amount = amount;
        }

        /**
         * Counts one more, and {@code amount} more of the amount.
         *
         * @param amount e.g. the message's bytes
         */
        public void add(final long amount) {
            add(1, amount);
        }

        /**
         * Counts {@code count} more, and {@code amount} more of the amount.
         *
         * @param count  e.g. messages
         * @param amount e.g. their bytes
         */
        public void add(final long count, final long amount) {
            final MemorySegment memory = counters;
            memory.set(ValueLayout.JAVA_LONG, 0, this.count += count);
            memory.set(ValueLayout.JAVA_LONG, Long.BYTES, this.amount += amount);
        }
    }

    /**
     * Adds {@code delta} to counter {@code index} atomically: for counters several threads update (off the
     * hot path: handshakes, channel openings).
     *
     * @param index the counter, 0 to 31
     * @param delta what to add
     */
    public void addAtomic(final int index, final long delta) {
        MemoryAccess.getAndAddLong(memory, base + StatLayout.COUNTERS + ((long) index << 3), delta);
    }

    /**
     * Sets gauge {@code index} to {@code value} (an opaque store); for its single writer, or under the lock
     * that orders its writers.
     *
     * @param index the counter, 0 to 31
     * @param value its value
     */
    public void set(final int index, final long value) {
        LONG.setOpaque(memory, base + StatLayout.COUNTERS + ((long) index << 3), value);
    }

    /**
     * {@return the value of counter {@code index}}
     *
     * @param index the counter, 0 to 31
     */
    public long get(final int index) {
        Objects.checkIndex(index, StatKind.COUNTERS);
        return (long) LONG.getOpaque(memory, base + StatLayout.COUNTERS + ((long) index << 3));
    }

    /**
     * Describes this record again: who it belongs to (e.g. the session a channel was opened in) and its
     * label, {@code key=value} pairs, cut at 224 bytes of UTF-8.
     *
     * @param parentId the id of the record this one belongs to, or 0
     * @param labels   the labels, in order
     */
    public synchronized void describe(final long parentId, final Map<String, String> labels) {
        if (closed) {
            return;
        }
        this.labels = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(labels));
        writeDescription(memory, base, parentId, label(labels));
    }

    /**
     * {@return the labels last given, in order}
     */
    public Map<String, String> labels() {
        return labels;
    }

    void labels(final Map<String, String> labels) {
        this.labels = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(labels));
    }

    /** Writes a slot's description under its sequence; the kind and id are written by the file. */
    static void writeDescription(final MemorySegment memory, final long base, final long parentId, final byte[] label) {
        final int sequence = MemoryAccess.getIntVolatile(memory, base + StatLayout.SEQUENCE);
        // volatile: the odd sequence is visible before the description changes; pairs with the reader's
        // second read of the sequence (after its acquire fence) in StatReader.
        MemoryAccess.putIntVolatile(memory, base + StatLayout.SEQUENCE, sequence | 1);
        memory.set(ValueLayout.JAVA_LONG, base + StatLayout.PARENT, parentId);
        memory.set(ValueLayout.JAVA_INT, base + StatLayout.LABEL_LENGTH, label.length);
        MemorySegment.copy(label, 0, memory, ValueLayout.JAVA_BYTE, base + StatLayout.LABEL, label.length);
        // release: publishes the description; pairs with the reader's getIntAcquire of the sequence.
        MemoryAccess.putIntRelease(memory, base + StatLayout.SEQUENCE, (sequence | 1) + 1);
    }

    /** {@return the labels as {@code key=value} lines, cut at a character boundary within the slot} */
    static byte[] label(final Map<String, String> labels) {
        final StringBuilder text = new StringBuilder();
        labels.forEach((key, value) -> {
            if (!text.isEmpty()) {
                text.append('\n');
            }
            text.append(key.replace('\n', ' ').replace('=', '_')).append('=').append(String.valueOf(value).replace('\n', ' '));
        });
        byte[] bytes = text.toString().getBytes(StandardCharsets.UTF_8);
        if (bytes.length > StatLayout.MAX_LABEL_LENGTH) {
            int end = StatLayout.MAX_LABEL_LENGTH;
            while (end > 0 && (bytes[end] & 0xc0) == 0x80) {
                end--;
            }
            bytes = java.util.Arrays.copyOf(bytes, end);
        }
        return bytes;
    }

    /**
     * Frees this record's slot: readers no longer see it. Counting after this goes on in memory nobody
     * reads (a channel closed on one thread may still be counted on another). Idempotent.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        if (file != null && slot >= 0) {
            // A writer on another thread may still update the slot once with the old memory and base: the file
            // hands freed slots out again last (first freed, first reused), long after that.
            memory = StatFile.privateSlot();
            base = 0;
            synchronized (this) {
                for (final Tally tally : tallies) {
                    tally.counters = slice(tally.index);
                }
            }
            file.free(slot);
        }
    }

    @Override
    public String toString() {
        return "StatRecord{" + kind + " " + id + (slot >= 0 ? ", slot " + slot : ", private") + "}";
    }
}
