/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BiConsumer;
import java.util.function.IntConsumer;

import static dev.isthmus.data.ShmMapDescriptor.COUNT_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.HASH_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.HEADER_LENGTH;
import static dev.isthmus.data.ShmMapDescriptor.KEY_LENGTH_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.KEY_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.LOCK_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.SEQ_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.STATE_EMPTY;
import static dev.isthmus.data.ShmMapDescriptor.STATE_FULL;
import static dev.isthmus.data.ShmMapDescriptor.STATE_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.STATE_TOMBSTONE;
import static dev.isthmus.data.ShmMapDescriptor.TOMBSTONES_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.UNDO_SLOT_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.UNDO_STATE_OFFSET;
import static dev.isthmus.data.ShmMapDescriptor.VALUE_LENGTH_OFFSET;
import static dev.isthmus.internal.MemoryAccess.compareAndSetLong;
import static dev.isthmus.internal.MemoryAccess.getLongAcquire;
import static dev.isthmus.internal.MemoryAccess.getLongOpaque;
import static dev.isthmus.internal.MemoryAccess.getLongVolatile;
import static dev.isthmus.internal.MemoryAccess.putLongOpaque;
import static dev.isthmus.internal.MemoryAccess.putLongRelease;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A hash map whose entries live in shared memory, used at once by several processes and threads: keys and
 * values are byte strings of bounded length, copied in and out.
 *
 * {@snippet :
 * try (ShmMap map = ShmMap.create("pricer", "quotes", ShmMapOptions.builder().capacity(1 << 16).build())) {
 *     int fd = map.duplicateDescriptor(true);       // hand it to a peer (SCM_RIGHTS); it calls ShmMap.adopt(fd, false)
 *     map.put(42L, quote);                          // quote: a MemorySegment of at most maxValueBytes
 *     long length = map.get(42L, buffer);           // -1 if absent
 * }
 * }
 *
 * <p>The map is {@code stripes} independent open-addressed tables, each with its own lock. A key's hash
 * picks the stripe and a home slot in it; linear probing wraps inside the stripe; a removed entry leaves a
 * tombstone that later puts reuse. A stripe that is full makes {@link #put} return {@code false}: sizes are
 * fixed at creation.
 *
 * <p><b>Readers</b> ({@link #get}, {@link #containsKey}, {@link #forEach}) take no lock: every slot is a
 * seqlock, and a read that overlaps an update is retried, so a reader never sees a torn value. A read that
 * waits on slots in the middle of an update for longer than the read timeout makes the read throw
 * {@link IsthmusTimeoutException}, naming the slot and the lock holder. The timeout bounds each call as a
 * whole (a get, or a whole forEach), however many slots it finds mid-update.
 *
 * <p><b>Writers</b> ({@link #put}, {@link #remove}) take the stripe's lock, a word holding the holder's pid
 * and start time. Before changing a slot, a writer saves it in the stripe's undo record. A writer that
 * finds the lock held by a process that no longer runs (killed with {@code kill -9} mid-update, say) takes
 * the lock over and recovers the stripe: it puts back the saved bytes of a half-written slot, with a
 * sequence number higher than any a reader saw, and recounts the stripe. A reader of a writable mapping
 * that waits on a slot whose writer died does the same. A lock held by a live process for longer than the
 * lock timeout makes the writer throw {@link IsthmusTimeoutException}; the map stays usable.
 *
 * <p><b>Thread safety</b>: all methods are thread-safe, and threads of one process follow the same lock
 * protocol as processes. {@link #close()} must not race with other calls: once it has run, they throw
 * {@link IllegalStateException}.
 *
 * <p><b>Hostile peers</b>: a peer with a writable mapping can corrupt or delete any entry, hold a stripe's
 * lock (its writers then time out), or keep a slot mid-update (readers of it time out). It cannot make
 * this process read or write outside the map's memory, throw anything but the exceptions documented here,
 * or wait longer than its timeouts: every length, state and slot index read from shared memory is checked
 * against the geometry before it is used, and a value the seqlock confirms to be impossible is reported as
 * a {@link CorruptDataException}. A peer given a read-only descriptor cannot map it for writing; one that
 * runs as the same user owns the file, though, and could give it its write bits back and reopen it for
 * writing through {@code /proc/self/fd}, unless the map was created
 * {@link ShmMapOptions.Builder#peersReadOnly()}: then no writable mapping but the creator's can ever exist.
 *
 * @apiNote Lock-holder liveness is judged by pid and start time, which name a process only within one pid
 * namespace: processes sharing a map must share their pid namespace, or a live holder in another one
 * looks dead and its lock is taken over. A session that learns of a peer's death can recover the locks
 * it held at once with {@link #recoverLocksHeldBy(ProcessIdentity)}.
 */
public final class ShmMap implements AutoCloseable {
    /**
     * Test-only: when the system property {@code isthmus.test.shmmap.haltMidUpdate} is {@code true}, a put
     * that replaces a value halts the JVM ({@code Runtime.halt}) after writing half of it, holding the lock,
     * as a {@code kill -9} at the worst moment would. Read once; never set it in production.
     */
    static final boolean HALT_MID_UPDATE = Boolean.getBoolean("isthmus.test.shmmap.haltMidUpdate");
    /** The exit status of a JVM halted by {@link #HALT_MID_UPDATE}. */
    static final int HALT_STATUS = 86;

    /** Keys of the long conveniences: 8 bytes little-endian, at an 8-aligned offset in a slot. */
    private static final ValueLayout.OfLong KEY_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /**
     * Plain reads of a slot's fields: every one is at its natural alignment by the map's geometry (checked when
     * the map is adopted), so an access that skips the alignment check reads the same bytes with the same single
     * instruction, and spares the lookup a check per field. Whether such a read raced a writer is the seqlock's
     * to tell, as for any plain read; atomic and ordered accesses keep the aligned handles.
     */
    private static final ValueLayout.OfInt INT_PLAIN = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong LONG_PLAIN = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfLong KEY_CHUNK = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** How long a waiter spins before it yields and parks. */
    private static final int SPINS = 128;
    /** How often a waiter checks whether the lock holder still runs (it reads /proc). */
    private static final long LIVENESS_INTERVAL_NS = 1_000_000L;
    /** Result codes of {@link #readSlot}; lengths are {@code >= 0}. */
    private static final long ABSENT = -1;
    private static final long NEXT = -2;
    private static final long BAD_STATE = -3;
    private static final long BAD_KEY_LENGTH = -4;
    private static final long BAD_VALUE_LENGTH = -5;
    /** A stable slot that does not hold the key: probe the next one. */
    private static final long MOVE_ON = -6;
    /** {@code TOO_SMALL - length}: the value is longer than the buffer. */
    private static final long TOO_SMALL = -16;

    private static final long HASH_SEED = 0x9E3779B97F4A7C15L;
    private static final long HASH_M1 = 0xBF58476D1CE4E5B9L;
    private static final long HASH_M2 = 0x94D049BB133111EBL;

    private final SharedMemory shm;
    private final MemorySegment memory;
    private final boolean writable;
    /** Created {@link ShmMapOptions.Builder#peersReadOnly()}: no writable descriptor is ever handed out. */
    private final boolean peersReadOnly;
    private final int stripeMask;
    private final int slotsPerStripe;
    private final int maxKeyBytes;
    private final int maxValueBytes;
    private final int slotLength;
    private final int valueOffset;
    private final long stripeLength;
    private final long stripeHeaderLength;
    private final long lockTimeoutNs;
    private final long readTimeoutNs;
    /** This process's lock word: pid and low 32 bits of its start time. */
    private final long ownerWord;
    private final LongAdder recoveries = new LongAdder();
    private final LongAdder lockTimeouts = new LongAdder();
    private final LongAdder readRetries = new LongAdder();
    /** Unlocks that found the lock no longer this process's: another process took it over. */
    private final LongAdder lockThefts = new LongAdder();
    /** Test-only: called with the stripe by every put and remove holding its lock, before any slot is read. */
    private IntConsumer onLockedForTest;

    private ShmMap(final SharedMemory shm, final MemorySegment memory, final boolean writable,
                   final long lockTimeoutNs, final long readTimeoutNs) {
        this(shm, memory, writable, lockTimeoutNs, readTimeoutNs, false);
    }

    private ShmMap(final SharedMemory shm, final MemorySegment memory, final boolean writable,
                   final long lockTimeoutNs, final long readTimeoutNs, final boolean peersReadOnly) {
        this.shm = shm;
        this.writable = writable;
        this.peersReadOnly = peersReadOnly;
        // The geometry as checked, read once: a peer that rewrites the header afterwards changes nothing here.
        final Geometry geometry = checkHeader(memory);
        this.memory = memory.asSlice(0, geometry.totalLength());
        this.stripeMask = geometry.stripes() - 1;
        this.slotsPerStripe = geometry.slotsPerStripe();
        this.maxKeyBytes = geometry.maxKeyBytes();
        this.maxValueBytes = geometry.maxValueBytes();
        this.slotLength = ShmMapDescriptor.slotLength(maxKeyBytes, maxValueBytes);
        this.valueOffset = ShmMapDescriptor.valueOffset(maxKeyBytes);
        this.stripeHeaderLength = ShmMapDescriptor.stripeHeaderLength(slotLength);
        this.stripeLength = ShmMapDescriptor.stripeLength(slotLength, slotsPerStripe);
        this.lockTimeoutNs = lockTimeoutNs > 0 ? lockTimeoutNs : geometry.lockTimeoutNs();
        this.readTimeoutNs = readTimeoutNs > 0 ? readTimeoutNs : geometry.readTimeoutNs();
        this.ownerWord = lockWord(ProcessIdentity.current());
    }

    /**
     * Creates a map in a new sealed anonymous shared-memory file, which no one can open by name: peers get
     * it as a descriptor ({@link #duplicateDescriptor(boolean)}) and map it with {@link #adopt(int, boolean)}.
     * The memory is freed when the last mapping of it, in any process, is closed.
     *
     * @param app     the owning application, as in {@link ResourceName}
     * @param name    the map's name, for diagnostics: 1-64 of {@code [A-Za-z0-9_-]}
     * @param options the geometry and timeouts
     * @return the map, writable, empty
     * @throws IllegalArgumentException if {@code app} or {@code name} is not a valid resource name part
     * @throws dev.isthmus.NativeException if the memory cannot be created
     */
    public static ShmMap create(final String app, final String name, final ShmMapOptions options) {
        Objects.requireNonNull(options, "options");
        final SharedMemory.Builder builder = SharedMemory.builder(ResourceName.of(app, "map", name))
            .lengthBytes(options.totalLengthBytes())
            .permissions(options.permissions())
            .fixedLength();
        if (options.peersReadOnly()) {
            builder.writableOnlyHere();
        }
        final SharedMemory shm = builder.createSealed();
        try {
            format(shm.segment(), options);
            return new ShmMap(shm, shm.segment(), true, options.lockTimeoutNs(), options.readTimeoutNs(),
                options.peersReadOnly());
        } catch (final RuntimeException | Error e) {
            shm.close();
            throw e;
        }
    }

    /**
     * Maps a map another process created and handed over as a descriptor, taking ownership of the
     * descriptor, with the creator's timeouts.
     *
     * @param fd       the descriptor, owned by the map from now on (closed if this fails)
     * @param writable whether to map it for writing; a read-only map's memory is mapped {@code PROT_READ}
     * @return the map
     * @throws CorruptDataException if the file is not sealed, or its header is not a valid map header (wrong
     *                              magic or version, impossible or inconsistent geometry, longer than the file)
     */
    public static ShmMap adopt(final int fd, final boolean writable) {
        return adopt(fd, writable, 0, 0);
    }

    /**
     * Maps a map another process created and handed over as a descriptor, taking ownership of the
     * descriptor, with timeouts of this process's choosing.
     *
     * @param fd            the descriptor, owned by the map from now on (closed if this fails)
     * @param writable      whether to map it for writing; a read-only map's memory is mapped {@code PROT_READ}
     * @param lockTimeoutNs how long a writer waits for a live lock holder, or 0 for the creator's choice
     * @param readTimeoutNs how long a reader retries an entry mid-update, or 0 for the creator's choice
     * @return the map
     * @throws IllegalArgumentException if a timeout is negative or above {@link ShmMapDescriptor#MAX_TIMEOUT_NS}
     * @throws CorruptDataException     as {@link #adopt(int, boolean)}
     */
    public static ShmMap adopt(final int fd, final boolean writable, final long lockTimeoutNs, final long readTimeoutNs) {
        checkTimeoutOverride("lockTimeoutNs", lockTimeoutNs);
        checkTimeoutOverride("readTimeoutNs", readTimeoutNs);
        final SharedMemory shm = SharedMemory.adopt(fd, ResourceName.of("peer", "map", "adopted"), writable,
            ShmMapDescriptor.MAX_TOTAL_LENGTH);
        try {
            return new ShmMap(shm, shm.segment(), writable, lockTimeoutNs, readTimeoutNs);
        } catch (final RuntimeException | Error e) {
            shm.close();
            throw e;
        }
    }

    /**
     * Wraps memory laid out as a map, for tests: it is checked as {@link #adopt} checks it.
     *
     * @param memory        8-byte aligned memory
     * @param lockTimeoutNs 0 for the header's
     * @param readTimeoutNs 0 for the header's
     */
    static ShmMap wrap(final MemorySegment memory, final long lockTimeoutNs, final long readTimeoutNs) {
        checkTimeoutOverride("lockTimeoutNs", lockTimeoutNs);
        checkTimeoutOverride("readTimeoutNs", readTimeoutNs);
        return new ShmMap(null, memory, !memory.isReadOnly(), lockTimeoutNs, readTimeoutNs);
    }

    /** Lays out an empty map in zero-filled memory; the magic goes last. */
    static void format(final MemorySegment memory, final ShmMapOptions options) {
        final int slotLength = ShmMapDescriptor.slotLength(options.maxKeyBytes(), options.maxValueBytes());
        memory.set(JAVA_INT, ShmMapDescriptor.VERSION_OFFSET, ShmMapDescriptor.VERSION);
        memory.set(JAVA_INT, ShmMapDescriptor.STRIPES_OFFSET, options.stripes());
        memory.set(JAVA_INT, ShmMapDescriptor.SLOTS_PER_STRIPE_OFFSET, options.slotsPerStripe());
        memory.set(JAVA_INT, ShmMapDescriptor.MAX_KEY_BYTES_OFFSET, options.maxKeyBytes());
        memory.set(JAVA_INT, ShmMapDescriptor.MAX_VALUE_BYTES_OFFSET, options.maxValueBytes());
        memory.set(JAVA_INT, ShmMapDescriptor.SLOT_LENGTH_OFFSET, slotLength);
        memory.set(JAVA_LONG, ShmMapDescriptor.STRIPE_LENGTH_OFFSET,
            ShmMapDescriptor.stripeLength(slotLength, options.slotsPerStripe()));
        memory.set(JAVA_LONG, ShmMapDescriptor.LOCK_TIMEOUT_NS_OFFSET, options.lockTimeoutNs());
        memory.set(JAVA_LONG, ShmMapDescriptor.READ_TIMEOUT_NS_OFFSET, options.readTimeoutNs());
        memory.set(JAVA_LONG, ShmMapDescriptor.TOTAL_LENGTH_OFFSET, options.totalLengthBytes());
        // release: the header is complete before the magic; pairs with checkHeader's getLongAcquire(MAGIC).
        putLongRelease(memory, ShmMapDescriptor.MAGIC_OFFSET, ShmMapDescriptor.MAGIC);
    }

    private static void checkTimeoutOverride(final String name, final long valueNs) {
        if (valueNs < 0 || valueNs > ShmMapDescriptor.MAX_TIMEOUT_NS) {
            throw new IllegalArgumentException(name + "=" + valueNs + " must be 0 or in [1, "
                + ShmMapDescriptor.MAX_TIMEOUT_NS + "]");
        }
    }

    /** The header's values as {@link #checkHeader} checked them. */
    private record Geometry(int stripes, int slotsPerStripe, int maxKeyBytes, int maxValueBytes, long totalLength,
                            long lockTimeoutNs, long readTimeoutNs) {
    }

    /** Checks the header against itself and the memory, reading each field once; returns what it checked. */
    private static Geometry checkHeader(final MemorySegment memory) {
        if (memory.byteSize() < HEADER_LENGTH) {
            throw new CorruptDataException("shared map memory is " + memory.byteSize() + " bytes, shorter than its "
                + HEADER_LENGTH + "-byte header");
        }
        if ((memory.address() & 7) != 0) {
            throw new IllegalArgumentException("shared map memory at 0x" + Long.toHexString(memory.address())
                + " is not 8-byte aligned");
        }
        // acquire: pairs with format()'s putLongRelease(MAGIC), published after the rest of the header.
        final long magic = getLongAcquire(memory, ShmMapDescriptor.MAGIC_OFFSET);
        if (magic != ShmMapDescriptor.MAGIC) {
            throw new CorruptDataException("shared map has a wrong magic 0x" + Long.toHexString(magic) + ", expected 0x"
                + Long.toHexString(ShmMapDescriptor.MAGIC) + ": not a map, or its creator has not finished");
        }
        final int version = memory.get(INT_PLAIN, ShmMapDescriptor.VERSION_OFFSET);
        if (version != ShmMapDescriptor.VERSION) {
            throw new CorruptDataException("shared map has layout version " + version + ", this library reads version "
                + ShmMapDescriptor.VERSION);
        }
        final int stripes = memory.get(INT_PLAIN, ShmMapDescriptor.STRIPES_OFFSET);
        if (stripes < 1 || stripes > ShmMapDescriptor.MAX_STRIPES || Integer.bitCount(stripes) != 1) {
            throw new CorruptDataException("shared map declares stripes=" + stripes + ", not a power of two in [1, "
                + ShmMapDescriptor.MAX_STRIPES + "]");
        }
        final int slotsPerStripe = memory.get(INT_PLAIN, ShmMapDescriptor.SLOTS_PER_STRIPE_OFFSET);
        if (slotsPerStripe < 1 || slotsPerStripe > ShmMapDescriptor.MAX_SLOTS_PER_STRIPE) {
            throw new CorruptDataException("shared map declares slotsPerStripe=" + slotsPerStripe + ", not in [1, "
                + ShmMapDescriptor.MAX_SLOTS_PER_STRIPE + "]");
        }
        final int maxKeyBytes = memory.get(INT_PLAIN, ShmMapDescriptor.MAX_KEY_BYTES_OFFSET);
        if (maxKeyBytes < 1 || maxKeyBytes > ShmMapDescriptor.MAX_KEY_BYTES) {
            throw new CorruptDataException("shared map declares maxKeyBytes=" + maxKeyBytes + ", not in [1, "
                + ShmMapDescriptor.MAX_KEY_BYTES + "]");
        }
        final int maxValueBytes = memory.get(INT_PLAIN, ShmMapDescriptor.MAX_VALUE_BYTES_OFFSET);
        if (maxValueBytes < 0 || maxValueBytes > ShmMapDescriptor.MAX_VALUE_BYTES) {
            throw new CorruptDataException("shared map declares maxValueBytes=" + maxValueBytes + ", not in [0, "
                + ShmMapDescriptor.MAX_VALUE_BYTES + "]");
        }
        final int slotLength = memory.get(INT_PLAIN, ShmMapDescriptor.SLOT_LENGTH_OFFSET);
        final int expectedSlotLength = ShmMapDescriptor.slotLength(maxKeyBytes, maxValueBytes);
        if (slotLength != expectedSlotLength) {
            throw new CorruptDataException("shared map declares slotLength=" + slotLength + ", but maxKeyBytes="
                + maxKeyBytes + " and maxValueBytes=" + maxValueBytes + " give " + expectedSlotLength);
        }
        final long stripeLength = memory.get(LONG_PLAIN, ShmMapDescriptor.STRIPE_LENGTH_OFFSET);
        final long expectedStripeLength = ShmMapDescriptor.stripeLength(slotLength, slotsPerStripe);
        if (expectedStripeLength < 0 || stripeLength != expectedStripeLength) {
            throw new CorruptDataException("shared map declares stripeLength=" + stripeLength + ", but slotLength="
                + slotLength + " and slotsPerStripe=" + slotsPerStripe + " give " + expectedStripeLength);
        }
        final long totalLength = memory.get(LONG_PLAIN, ShmMapDescriptor.TOTAL_LENGTH_OFFSET);
        final long expectedTotalLength = ShmMapDescriptor.totalLength(stripes, stripeLength);
        if (expectedTotalLength < 0 || totalLength != expectedTotalLength) {
            throw new CorruptDataException("shared map declares totalLength=" + totalLength + ", but stripes="
                + stripes + " of stripeLength=" + stripeLength + " give " + expectedTotalLength
                + " (at most " + ShmMapDescriptor.MAX_TOTAL_LENGTH + ")");
        }
        if (totalLength > memory.byteSize()) {
            throw new CorruptDataException("shared map declares totalLength=" + totalLength + ", more than the "
                + memory.byteSize() + " bytes of its memory");
        }
        final long[] timeoutsNs = new long[2];
        final int[] offsets = {ShmMapDescriptor.LOCK_TIMEOUT_NS_OFFSET, ShmMapDescriptor.READ_TIMEOUT_NS_OFFSET};
        for (int i = 0; i < 2; i++) {
            final long timeoutNs = memory.get(LONG_PLAIN, offsets[i]);
            if (timeoutNs < 1 || timeoutNs > ShmMapDescriptor.MAX_TIMEOUT_NS) {
                throw new CorruptDataException("shared map declares a " + (i == 0 ? "lock" : "read") + " timeout of "
                    + timeoutNs + " ns, not in [1, " + ShmMapDescriptor.MAX_TIMEOUT_NS + "]");
            }
            timeoutsNs[i] = timeoutNs;
        }
        return new Geometry(stripes, slotsPerStripe, maxKeyBytes, maxValueBytes, totalLength, timeoutsNs[0], timeoutsNs[1]);
    }

    // ---------------------------------------------------------------------------------------------------
    // Reading

    /**
     * Copies the value of a key into {@code valueOut}. Takes no lock and allocates nothing. The bytes of
     * {@code valueOut} beyond the returned length, and all of them when the key turns out absent, are
     * unspecified: a read that raced a writer may have copied a value it then discarded.
     *
     * @param key      the key, 1 to {@link #maxKeyBytes()} bytes
     * @param valueOut where the value goes, from offset 0
     * @return the value's length, or -1 if the key is absent
     * @throws IllegalArgumentException if the key's length is out of range, or the value is longer than
     *                                  {@code valueOut} (nothing is copied then)
     * @throws IsthmusTimeoutException  if a slot stays mid-update for longer than the read timeout
     * @throws CorruptDataException     if the key's stripe holds an impossible state or length
     */
    public long get(final MemorySegment key, final MemorySegment valueOut) {
        final long keyLength = checkKeyLength(key.byteSize());
        Objects.requireNonNull(valueOut, "valueOut");
        return lookup(hash(key, keyLength), key, keyLength, 0, valueOut);
    }

    /**
     * Copies the value of a key given as 8 little-endian bytes into {@code valueOut}. Takes no lock and
     * allocates nothing.
     *
     * @param key      the key
     * @param valueOut where the value goes, from offset 0
     * @return the value's length, or -1 if the key is absent
     * @throws IllegalArgumentException as {@link #get(MemorySegment, MemorySegment)}, and if keys are
     *                                  shorter than 8 bytes
     * @throws IsthmusTimeoutException  as {@link #get(MemorySegment, MemorySegment)}
     * @throws CorruptDataException     as {@link #get(MemorySegment, MemorySegment)}
     */
    public long get(final long key, final MemorySegment valueOut) {
        checkLongKeys();
        Objects.requireNonNull(valueOut, "valueOut");
        final long hash = hashLong(key);
        final long length = lookupLongKey(hash, key, valueOut);
        return length != NEXT ? length : lookup(hash, null, Long.BYTES, key, valueOut);
    }

    /**
     * {@return the value of a key, in a new array, or {@code null} if the key is absent}. Allocates.
     *
     * @param key the key, 1 to {@link #maxKeyBytes()} bytes
     * @throws IllegalArgumentException if the key's length is out of range
     * @throws IsthmusTimeoutException  as {@link #get(MemorySegment, MemorySegment)}
     * @throws CorruptDataException     as {@link #get(MemorySegment, MemorySegment)}
     */
    public byte[] get(final byte[] key) {
        final byte[] value = new byte[maxValueBytes];
        final long length = get(MemorySegment.ofArray(key), MemorySegment.ofArray(value));
        return length < 0 ? null : Arrays.copyOf(value, (int) length);
    }

    /**
     * {@return whether the map holds the key}. Takes no lock and allocates nothing.
     *
     * @param key the key, 1 to {@link #maxKeyBytes()} bytes
     * @throws IllegalArgumentException if the key's length is out of range
     * @throws IsthmusTimeoutException  as {@link #get(MemorySegment, MemorySegment)}
     * @throws CorruptDataException     as {@link #get(MemorySegment, MemorySegment)}
     */
    public boolean containsKey(final MemorySegment key) {
        final long keyLength = checkKeyLength(key.byteSize());
        return lookup(hash(key, keyLength), key, keyLength, 0, null) >= 0;
    }

    /**
     * {@return whether the map holds the key given as 8 little-endian bytes}. Takes no lock and allocates nothing.
     *
     * @param key the key
     * @throws IllegalArgumentException if keys are shorter than 8 bytes
     * @throws IsthmusTimeoutException  as {@link #get(MemorySegment, MemorySegment)}
     * @throws CorruptDataException     as {@link #get(MemorySegment, MemorySegment)}
     */
    public boolean containsKey(final long key) {
        checkLongKeys();
        return lookup(hashLong(key), null, Long.BYTES, key, null) >= 0;
    }

    /**
     * {@return whether the map holds the key}. Wraps the array (which may allocate).
     *
     * @param key the key, 1 to {@link #maxKeyBytes()} bytes
     * @throws IllegalArgumentException if the key's length is out of range
     * @throws IsthmusTimeoutException  as {@link #get(MemorySegment, MemorySegment)}
     * @throws CorruptDataException     as {@link #get(MemorySegment, MemorySegment)}
     */
    public boolean containsKey(final byte[] key) {
        return containsKey(MemorySegment.ofArray(key));
    }

    /**
     * Calls {@code action} with every entry, each a consistent copy of one entry (not a snapshot of the
     * whole map: entries updated meanwhile may be seen before or after the update). The key and value are
     * slices of two buffers allocated once per call and reused for every entry: they are valid only during
     * the call of {@code action}, which may call any method of this map. Takes no lock; allocates the
     * buffers, a slice per entry and a counter.
     *
     * <p>The whole iteration waits at most the read timeout for entries mid-update: the time spent waiting
     * on every slot found mid-update is added up, and once the sum passes the read timeout the iteration
     * throws, whichever slot it is on. A peer that keeps slot after slot mid-update, letting each go just
     * before the timeout, cannot stretch one call to slots times the timeout. The time {@code action}
     * takes, and the time spent copying stable entries, do not count.
     *
     * @param action called with the key and the value of each entry
     * @throws IsthmusTimeoutException if the waits on entries mid-update add up to more than the read
     *                                 timeout, naming the slot and the lock holder of its stripe
     * @throws CorruptDataException    if a slot holds an impossible state or length
     */
    public void forEach(final BiConsumer<MemorySegment, MemorySegment> action) {
        Objects.requireNonNull(action, "action");
        final MemorySegment keyBuffer = MemorySegment.ofArray(new byte[maxKeyBytes]);
        final MemorySegment valueBuffer = MemorySegment.ofArray(new byte[maxValueBytes]);
        // One read timeout for the whole iteration, not one per slot: the waits so far, in nanoseconds.
        final long[] waitedNs = {0};
        final int stripes = stripeMask + 1;
        for (int stripe = 0; stripe < stripes; stripe++) {
            final long base = stripeBase(stripe);
            for (int index = 0; index < slotsPerStripe; index++) {
                final long entry = copySlot(base, stripe, index, keyBuffer, valueBuffer, waitedNs);
                if (entry >= 0) {
                    action.accept(keyBuffer.asSlice(0, entry >>> 32), valueBuffer.asSlice(0, entry & 0xffffffffL));
                }
            }
        }
    }

    /**
     * Copies one slot's entry into the buffers: {@code keyLength << 32 | valueLength}, or -1 if it holds none.
     * {@code waitedNs[0]} is the time the caller has already waited on other slots mid-update: a wait on this
     * one adds to it, and the read timeout applies to the sum.
     */
    private long copySlot(final long base, final int stripe, final int index, final MemorySegment keyBuffer,
                          final MemorySegment valueBuffer, final long[] waitedNs) {
        final MemorySegment memory = this.memory;
        final long slot = slotOffset(base, index);
        long retries = 0;
        long startNs = 0;
        while (true) {
            // acquire: pairs with the writer's putLongRelease(seq) in endUpdate.
            final long seq = getLongAcquire(memory, slot + SEQ_OFFSET);
            if ((seq & 1) == 0) {
                final int state = memory.get(INT_PLAIN, slot + STATE_OFFSET);
                final int keyLength = memory.get(INT_PLAIN, slot + KEY_LENGTH_OFFSET);
                final int valueLength = memory.get(INT_PLAIN, slot + VALUE_LENGTH_OFFSET);
                long result = ABSENT;
                if (state == STATE_FULL) {
                    if (keyLength < 1 || keyLength > maxKeyBytes) {
                        result = BAD_KEY_LENGTH;
                    } else if (valueLength < 0 || valueLength > maxValueBytes) {
                        result = BAD_VALUE_LENGTH;
                    } else {
                        MemorySegment.copy(memory, slot + KEY_OFFSET, keyBuffer, 0, keyLength);
                        MemorySegment.copy(memory, slot + valueOffset, valueBuffer, 0, valueLength);
                        result = (long) keyLength << 32 | valueLength;
                    }
                } else if (state != STATE_EMPTY && state != STATE_TOMBSTONE) {
                    result = BAD_STATE;
                }
                // loadLoad: the reads above complete before seq is read again; pairs with the writer's
                // storeStoreFence after it made seq odd.
                VarHandle.acquireFence();
                if (getLongOpaque(memory, slot + SEQ_OFFSET) == seq) {
                    if (retries != 0) {
                        waitedNs[0] = System.nanoTime() - startNs;
                    }
                    if (result >= ABSENT) {
                        return result;
                    }
                    throw corrupt(result, stripe, index, slot);
                }
            }
            if (retries == 0) {
                readRetries.increment();
                // The clock starts where the earlier waits left it, so awaitSlot times out on their sum.
                startNs = System.nanoTime() - waitedNs[0];
            }
            retries = awaitSlot(base, stripe, index, slot, ++retries, startNs);
        }
    }

    /**
     * The common case of {@link #get(long, MemorySegment)}, small enough to be inlined: stable slots holding
     * plausible values. Returns the value's length, -1 if absent, or {@link #NEXT} for anything else (a slot
     * mid-update or changed under the read, an impossible field, a value too long for {@code valueOut}), for
     * {@link #lookup} to look again with every check.
     */
    private long lookupLongKey(final long hash, final long key, final MemorySegment valueOut) {
        final MemorySegment memory = this.memory;
        final int slots = slotsPerStripe;
        final long base = stripeBase((int) (hash >>> 40) & stripeMask);
        int index = (int) (((hash & 0xffffffffL) * slots) >>> 32);
        for (int probed = 0; probed < slots; probed++) {
            final long slot = slotOffset(base, index);
            // acquire: pairs with the writer's putLongRelease(seq) in endUpdate (and with recovery's).
            final long seq = getLongAcquire(memory, slot + SEQ_OFFSET);
            final int state = memory.get(INT_PLAIN, slot + STATE_OFFSET);
            final long result;
            if (state == STATE_FULL) {
                result = memory.get(LONG_PLAIN, slot + HASH_OFFSET) != hash ? MOVE_ON : copyIfLongKey(slot, key, valueOut);
            } else {
                result = state == STATE_EMPTY ? ABSENT : state == STATE_TOMBSTONE ? MOVE_ON : NEXT;
            }
            // loadLoad: the reads above complete before seq is read again; pairs with the writer's
            // storeStoreFence after it made seq odd.
            VarHandle.acquireFence();
            if ((seq & 1) != 0 || getLongOpaque(memory, slot + SEQ_OFFSET) != seq || result == NEXT) {
                return NEXT;
            }
            if (result != MOVE_ON) {
                return result;
            }
            index = index + 1 == slots ? 0 : index + 1;
        }
        return ABSENT;
    }

    /** Copies the value out if the slot holds the long key and a value that fits; {@link #NEXT} otherwise. */
    private long copyIfLongKey(final long slot, final long key, final MemorySegment valueOut) {
        final MemorySegment memory = this.memory;
        if (memory.get(INT_PLAIN, slot + KEY_LENGTH_OFFSET) != Long.BYTES || memory.get(KEY_LONG, slot + KEY_OFFSET) != key) {
            return NEXT;
        }
        final int valueLength = memory.get(INT_PLAIN, slot + VALUE_LENGTH_OFFSET);
        if (valueLength < 0 || valueLength > maxValueBytes || valueLength > valueOut.byteSize()) {
            return NEXT;
        }
        MemorySegment.copy(memory, slot + valueOffset, valueOut, 0, valueLength);
        return valueLength;
    }

    /** Looks a key up in its stripe: the value's length, or -1 if absent. */
    private long lookup(final long hash, final MemorySegment key, final long keyLength, final long longKey,
                        final MemorySegment valueOut) {
        final int stripe = (int) (hash >>> 40) & stripeMask;
        final long base = stripeBase(stripe);
        final int slots = slotsPerStripe;
        final MemorySegment memory = this.memory;
        int index = (int) (((hash & 0xffffffffL) * slots) >>> 32);
        long slowSinceNs = 0;
        for (int probed = 0; probed < slots; probed++) {
            // The common cases, small enough to be inlined: a stable slot that is empty, holds another key, or
            // holds the key with a plausible value. Anything else goes to readSlot, which retries and checks.
            final long slot = slotOffset(base, index);
            // acquire: pairs with the writer's putLongRelease(seq) in endUpdate (and with recovery's).
            final long seq = getLongAcquire(memory, slot + SEQ_OFFSET);
            final int state = memory.get(INT_PLAIN, slot + STATE_OFFSET);
            long result = BAD_STATE;
            if (state == STATE_EMPTY) {
                result = ABSENT;
            } else if (state == STATE_TOMBSTONE || state == STATE_FULL && memory.get(LONG_PLAIN, slot + HASH_OFFSET) != hash) {
                result = NEXT;
            } else if (state == STATE_FULL) {
                final int valueLength = memory.get(INT_PLAIN, slot + VALUE_LENGTH_OFFSET);
                if (valueLength >= 0 && valueLength <= maxValueBytes && (valueOut == null || valueLength <= valueOut.byteSize())
                    && keyMatches(slot, memory.get(INT_PLAIN, slot + KEY_LENGTH_OFFSET), key, keyLength, longKey)) {
                    if (valueOut != null) {
                        MemorySegment.copy(memory, slot + valueOffset, valueOut, 0, valueLength);
                    }
                    result = valueLength;
                }
            }
            // loadLoad: the reads above complete before seq is read again; pairs with the writer's
            // storeStoreFence after it made seq odd.
            VarHandle.acquireFence();
            if ((seq & 1) != 0 || result == BAD_STATE || getLongOpaque(memory, slot + SEQ_OFFSET) != seq) {
                // One read timeout per lookup, not per slot: a peer that keeps slot after slot mid-update
                // cannot stretch a get to slots times the timeout.
                if (slowSinceNs == 0) {
                    slowSinceNs = System.nanoTime();
                }
                result = readSlot(base, stripe, index, hash, key, keyLength, longKey, valueOut, slowSinceNs);
            }
            if (result != NEXT) {
                return result;
            }
            index = index + 1 == slots ? 0 : index + 1;
        }
        return ABSENT;
    }

    /**
     * Reads one slot under its seqlock: the value's length if it holds the key (copied into {@code valueOut}
     * unless null), {@link #ABSENT} if it is empty, {@link #NEXT} otherwise.
     */
    private long readSlot(final long base, final int stripe, final int index, final long hash,
                          final MemorySegment key, final long keyLength, final long longKey,
                          final MemorySegment valueOut, final long slowSinceNs) {
        final MemorySegment memory = this.memory;
        final long slot = slotOffset(base, index);
        long retries = 0;
        long startNs = slowSinceNs;
        while (true) {
            // acquire: pairs with the writer's putLongRelease(seq) in endUpdate (and with recovery's).
            final long seq = getLongAcquire(memory, slot + SEQ_OFFSET);
            if ((seq & 1) == 0) {
                final int state = memory.get(INT_PLAIN, slot + STATE_OFFSET);
                long result;
                if (state == STATE_FULL) {
                    if (memory.get(LONG_PLAIN, slot + HASH_OFFSET) != hash) {
                        result = NEXT;
                    } else {
                        final int storedKeyLength = memory.get(INT_PLAIN, slot + KEY_LENGTH_OFFSET);
                        if (storedKeyLength < 1 || storedKeyLength > maxKeyBytes) {
                            result = BAD_KEY_LENGTH;
                        } else if (!keyMatches(slot, storedKeyLength, key, keyLength, longKey)) {
                            result = NEXT;
                        } else {
                            final int valueLength = memory.get(INT_PLAIN, slot + VALUE_LENGTH_OFFSET);
                            if (valueLength < 0 || valueLength > maxValueBytes) {
                                result = BAD_VALUE_LENGTH;
                            } else if (valueOut == null) {
                                result = valueLength;
                            } else if (valueLength > valueOut.byteSize()) {
                                result = TOO_SMALL - valueLength;
                            } else {
                                MemorySegment.copy(memory, slot + valueOffset, valueOut, 0, valueLength);
                                result = valueLength;
                            }
                        }
                    }
                } else if (state == STATE_EMPTY) {
                    result = ABSENT;
                } else if (state == STATE_TOMBSTONE) {
                    result = NEXT;
                } else {
                    result = BAD_STATE;
                }
                // loadLoad: the reads above complete before seq is read again; pairs with the writer's
                // storeStoreFence after it made seq odd.
                VarHandle.acquireFence();
                if (getLongOpaque(memory, slot + SEQ_OFFSET) == seq) {
                    if (result >= NEXT) {
                        return result;
                    }
                    if (result <= TOO_SMALL) {
                        throw new IllegalArgumentException("value of " + (TOO_SMALL - result) + " bytes does not fit"
                            + " valueOut of " + valueOut.byteSize() + " bytes");
                    }
                    throw corrupt(result, stripe, index, slot);
                }
            }
            if (retries == 0) {
                readRetries.increment();
            }
            retries = awaitSlot(base, stripe, index, slot, ++retries, startNs);
        }
    }

    private boolean keyMatches(final long slot, final int storedKeyLength, final MemorySegment key,
                               final long keyLength, final long longKey) {
        if (storedKeyLength != keyLength) {
            return false;
        }
        if (key == null) {
            return memory.get(KEY_LONG, slot + KEY_OFFSET) == longKey;
        }
        return MemorySegment.mismatch(memory, slot + KEY_OFFSET, slot + KEY_OFFSET + keyLength, key, 0, keyLength) < 0;
    }

    /**
     * Waits a little for a slot that is mid-update or changed under a read, recovering the stripe if its
     * writer died and this mapping may write; returns the retry count. {@code startNs} is when the read began
     * waiting, on this slot or on earlier ones (one timeout per get or forEach, not per slot).
     *
     * @throws IsthmusTimeoutException past the read timeout
     */
    private long awaitSlot(final long base, final int stripe, final int index, final long slot, final long retries,
                           final long startNs) {
        if (retries < SPINS) {
            Thread.onSpinWait();
            return retries;
        }
        final long elapsedNs = System.nanoTime() - startNs;
        if (elapsedNs > readTimeoutNs) {
            final long holder = getLongVolatile(memory, base + LOCK_OFFSET);
            throw new IsthmusTimeoutException("entry in slot " + index + " of stripe " + stripe + " stayed mid-update"
                + " (seq " + getLongOpaque(memory, slot + SEQ_OFFSET) + "): the read waited on entries mid-update for"
                + " more than readTimeoutNs=" + readTimeoutNs + " in all (one timeout per get or forEach, not per slot)"
                + "; stripe lock " + describeHolder(holder)
                + (writable ? "" : "; a writable mapping recovers a stripe whose writer died"));
        }
        if (writable && (retries & 63) == 0 && elapsedNs > LIVENESS_INTERVAL_NS) {
            final long holder = getLongVolatile(memory, base + LOCK_OFFSET);
            if (holder != 0 && holder != ownerWord && !isAlive(holder) && compareAndSetLong(memory, base + LOCK_OFFSET,
                holder, ownerWord)) {
                // The CAS is a full fence: it acquires what the dead holder wrote.
                final CorruptDataException problem = recover(base, stripe);
                unlock(base);
                if (problem != null) {
                    throw problem;
                }
                return retries;
            }
        }
        if (elapsedNs < 50_000) {
            Thread.onSpinWait();
        } else if (elapsedNs < 1_000_000) {
            Thread.yield();
        } else {
            LockSupport.parkNanos(20_000);
        }
        return retries;
    }

    private CorruptDataException corrupt(final long result, final int stripe, final int index, final long slot) {
        final String where = "slot " + index + " of stripe " + stripe + " of the shared map";
        if (result == BAD_KEY_LENGTH) {
            return new CorruptDataException(where + " holds a key of " + memory.get(INT_PLAIN, slot + KEY_LENGTH_OFFSET)
                + " bytes, outside [1, " + maxKeyBytes + "]");
        }
        if (result == BAD_VALUE_LENGTH) {
            return new CorruptDataException(where + " holds a value of " + memory.get(INT_PLAIN, slot + VALUE_LENGTH_OFFSET)
                + " bytes, outside [0, " + maxValueBytes + "]");
        }
        return new CorruptDataException(where + " is in state " + memory.get(INT_PLAIN, slot + STATE_OFFSET)
            + ", not EMPTY (0), FULL (1) or TOMBSTONE (2)");
    }

    // ---------------------------------------------------------------------------------------------------
    // Writing

    /**
     * Puts a key and its value, replacing the value if the key is present. Locks the key's stripe and
     * allocates nothing.
     *
     * @param key   the key, 1 to {@link #maxKeyBytes()} bytes
     * @param value the value, at most {@link #maxValueBytes()} bytes
     * @return {@code true} if the entry is in the map, {@code false} if the key's stripe is full
     * @throws IllegalStateException    if this map is read-only
     * @throws IllegalArgumentException if the key's or the value's length is out of range
     * @throws IsthmusTimeoutException  if a live process holds the stripe's lock for longer than the lock timeout
     * @throws CorruptDataException     if recovering the stripe from a dead writer found an impossible undo record
     */
    public boolean put(final MemorySegment key, final MemorySegment value) {
        checkWritable();
        final long keyLength = checkKeyLength(key.byteSize());
        checkValueLength(value.byteSize());
        return update(hash(key, keyLength), key, keyLength, 0, value);
    }

    /**
     * Puts a key given as 8 little-endian bytes and its value; {@link #put(MemorySegment, MemorySegment)}
     * otherwise.
     *
     * @param key   the key
     * @param value the value, at most {@link #maxValueBytes()} bytes
     * @return {@code true} if the entry is in the map, {@code false} if the key's stripe is full
     * @throws IllegalStateException    if this map is read-only
     * @throws IllegalArgumentException if keys are shorter than 8 bytes, or the value is too long
     * @throws IsthmusTimeoutException  as {@link #put(MemorySegment, MemorySegment)}
     * @throws CorruptDataException     as {@link #put(MemorySegment, MemorySegment)}
     */
    public boolean put(final long key, final MemorySegment value) {
        checkWritable();
        checkLongKeys();
        checkValueLength(value.byteSize());
        return update(hashLong(key), null, Long.BYTES, key, value);
    }

    /**
     * Puts a key and its value; {@link #put(MemorySegment, MemorySegment)} with arrays (wrapping them may
     * allocate).
     *
     * @param key   the key, 1 to {@link #maxKeyBytes()} bytes
     * @param value the value, at most {@link #maxValueBytes()} bytes
     * @return {@code true} if the entry is in the map, {@code false} if the key's stripe is full
     * @throws IllegalStateException    if this map is read-only
     * @throws IllegalArgumentException if the key's or the value's length is out of range
     * @throws IsthmusTimeoutException  as {@link #put(MemorySegment, MemorySegment)}
     * @throws CorruptDataException     as {@link #put(MemorySegment, MemorySegment)}
     */
    public boolean put(final byte[] key, final byte[] value) {
        return put(MemorySegment.ofArray(key), MemorySegment.ofArray(value));
    }

    /**
     * Removes a key. Locks the key's stripe and allocates nothing.
     *
     * @param key the key, 1 to {@link #maxKeyBytes()} bytes
     * @return whether the key was present
     * @throws IllegalStateException    if this map is read-only
     * @throws IllegalArgumentException if the key's length is out of range
     * @throws IsthmusTimeoutException  as {@link #put(MemorySegment, MemorySegment)}
     * @throws CorruptDataException     as {@link #put(MemorySegment, MemorySegment)}
     */
    public boolean remove(final MemorySegment key) {
        checkWritable();
        final long keyLength = checkKeyLength(key.byteSize());
        return update(hash(key, keyLength), key, keyLength, 0, null);
    }

    /**
     * Removes a key given as 8 little-endian bytes.
     *
     * @param key the key
     * @return whether the key was present
     * @throws IllegalStateException    if this map is read-only
     * @throws IllegalArgumentException if keys are shorter than 8 bytes
     * @throws IsthmusTimeoutException  as {@link #put(MemorySegment, MemorySegment)}
     * @throws CorruptDataException     as {@link #put(MemorySegment, MemorySegment)}
     */
    public boolean remove(final long key) {
        checkWritable();
        checkLongKeys();
        return update(hashLong(key), null, Long.BYTES, key, null);
    }

    /**
     * Removes a key; {@link #remove(MemorySegment)} with an array (wrapping it may allocate).
     *
     * @param key the key, 1 to {@link #maxKeyBytes()} bytes
     * @return whether the key was present
     * @throws IllegalStateException    if this map is read-only
     * @throws IllegalArgumentException if the key's length is out of range
     * @throws IsthmusTimeoutException  as {@link #put(MemorySegment, MemorySegment)}
     * @throws CorruptDataException     as {@link #put(MemorySegment, MemorySegment)}
     */
    public boolean remove(final byte[] key) {
        return remove(MemorySegment.ofArray(key));
    }

    /** Puts ({@code value != null}) or removes a key, holding its stripe's lock. */
    private boolean update(final long hash, final MemorySegment key, final long keyLength, final long longKey,
                           final MemorySegment value) {
        final MemorySegment memory = this.memory;
        final int stripe = (int) (hash >>> 40) & stripeMask;
        final long base = stripeBase(stripe);
        final int slots = slotsPerStripe;
        lock(base, stripe);
        try {
            final IntConsumer onLocked = onLockedForTest;
            if (onLocked != null) {
                onLocked.accept(stripe);
            }
            int index = (int) (((hash & 0xffffffffL) * slots) >>> 32);
            int free = -1;
            for (int probed = 0; probed < slots; probed++) {
                // Plain reads: only the lock holder writes slots, and this thread holds the lock.
                final long slot = slotOffset(base, index);
                final int state = memory.get(INT_PLAIN, slot + STATE_OFFSET);
                if (state == STATE_FULL) {
                    final int storedKeyLength = memory.get(INT_PLAIN, slot + KEY_LENGTH_OFFSET);
                    if (memory.get(LONG_PLAIN, slot + HASH_OFFSET) == hash && storedKeyLength >= 1
                        && storedKeyLength <= maxKeyBytes && keyMatches(slot, storedKeyLength, key, keyLength, longKey)) {
                        if (value != null) {
                            replaceValue(base, index, slot, value);
                        } else {
                            removeAt(base, index, slot);
                        }
                        return true;
                    }
                } else if (state == STATE_EMPTY) {
                    if (free < 0) {
                        free = index;
                    }
                    break;
                } else if (state == STATE_TOMBSTONE && free < 0) {
                    free = index;
                }
                index = index + 1 == slots ? 0 : index + 1;
            }
            if (value == null) {
                return false;
            }
            if (free < 0) {
                return false;
            }
            insertAt(base, free, slotOffset(base, free), hash, key, keyLength, longKey, value);
            return true;
        } catch (final RuntimeException | Error e) {
            abandonUpdate(base);
            throw e;
        } finally {
            unlock(base);
        }
    }

    private void replaceValue(final long base, final int index, final long slot, final MemorySegment value) {
        final MemorySegment memory = this.memory;
        final long seq = beginUpdate(base, index, slot);
        final int length = (int) value.byteSize();
        memory.set(JAVA_INT, slot + VALUE_LENGTH_OFFSET, length);
        if (HALT_MID_UPDATE) {
            MemorySegment.copy(value, 0, memory, slot + valueOffset, length / 2);
            Runtime.getRuntime().halt(HALT_STATUS);
        }
        MemorySegment.copy(value, 0, memory, slot + valueOffset, length);
        endUpdate(base, slot, seq);
    }

    private void insertAt(final long base, final int index, final long slot, final long hash, final MemorySegment key,
                          final long keyLength, final long longKey, final MemorySegment value) {
        final MemorySegment memory = this.memory;
        final boolean tombstone = memory.get(INT_PLAIN, slot + STATE_OFFSET) == STATE_TOMBSTONE;
        final long seq = beginUpdate(base, index, slot);
        memory.set(JAVA_INT, slot + STATE_OFFSET, STATE_FULL);
        memory.set(JAVA_INT, slot + KEY_LENGTH_OFFSET, (int) keyLength);
        memory.set(JAVA_LONG, slot + HASH_OFFSET, hash);
        if (key == null) {
            memory.set(KEY_LONG, slot + KEY_OFFSET, longKey);
        } else {
            MemorySegment.copy(key, 0, memory, slot + KEY_OFFSET, keyLength);
        }
        final int length = (int) value.byteSize();
        memory.set(JAVA_INT, slot + VALUE_LENGTH_OFFSET, length);
        MemorySegment.copy(value, 0, memory, slot + valueOffset, length);
        endUpdate(base, slot, seq);
        addCount(base, COUNT_OFFSET, 1);
        if (tombstone) {
            addCount(base, TOMBSTONES_OFFSET, -1);
        }
    }

    private void removeAt(final long base, final int index, final long slot) {
        final MemorySegment memory = this.memory;
        // A slot followed by an empty one ends every probe sequence through it: it may become empty again.
        final int next = index + 1 == slotsPerStripe ? 0 : index + 1;
        final boolean empty = next != index
            && memory.get(INT_PLAIN, slotOffset(base, next) + STATE_OFFSET) == STATE_EMPTY;
        final long seq = beginUpdate(base, index, slot);
        memory.set(JAVA_INT, slot + STATE_OFFSET, empty ? STATE_EMPTY : STATE_TOMBSTONE);
        endUpdate(base, slot, seq);
        addCount(base, COUNT_OFFSET, -1);
        if (!empty) {
            addCount(base, TOMBSTONES_OFFSET, 1);
        }
    }

    private void addCount(final long base, final int offset, final long delta) {
        // opaque: size() reads it without the lock; recovery recounts if the writer dies around here.
        putLongOpaque(memory, base + offset, memory.get(LONG_PLAIN, base + offset) + delta);
    }

    /** Saves the slot in the undo record and makes its seq odd; returns the even seq it had. */
    private long beginUpdate(final long base, final int index, final long slot) {
        final MemorySegment memory = this.memory;
        MemorySegment.copy(memory, slot, memory, base + UNDO_SLOT_OFFSET, undoLength(slot));
        // release: the undo copy is complete before it is marked valid; pairs with recover()'s
        // getLongAcquire(UNDO_STATE).
        putLongRelease(memory, base + UNDO_STATE_OFFSET, index + 1L);
        final long seq = memory.get(LONG_PLAIN, slot + SEQ_OFFSET);
        // release: the undo record is marked valid before seq turns odd, so a writer that dies with an odd
        // seq has always left its undo record; pairs with recover()'s getLongAcquire(UNDO_STATE).
        putLongRelease(memory, slot + SEQ_OFFSET, seq + 1);
        // storeStore: the odd seq is stored before any byte of the update; pairs with the readers'
        // acquireFence before they read seq again.
        VarHandle.storeStoreFence();
        return seq;
    }

    /** Publishes the update with an even seq and drops the undo record. */
    private void endUpdate(final long base, final long slot, final long seq) {
        // release: publishes the slot's new bytes; pairs with the readers' getLongAcquire(seq).
        putLongRelease(memory, slot + SEQ_OFFSET, seq + 2);
        // release: the update is committed before its undo record is dropped; pairs with recover()'s
        // getLongAcquire(UNDO_STATE).
        putLongRelease(memory, base + UNDO_STATE_OFFSET, 0);
    }

    /** The bytes of a slot its undo record keeps: the header, the key and the value's current length. */
    private int undoLength(final long slot) {
        final int valueLength = memory.get(INT_PLAIN, slot + VALUE_LENGTH_OFFSET);
        return valueOffset + Math.clamp(valueLength, 0, maxValueBytes);
    }

    /** Rolls back an update this thread abandoned (an exception between beginUpdate and endUpdate). */
    private void abandonUpdate(final long base) {
        try {
            recover(base, -1);
        } catch (final RuntimeException ignored) {
            // The memory is gone (closed) or hostile: the caller's exception says more.
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Locking and recovery

    private void lock(final long base, final int stripe) {
        // CAS (volatile): acquires the previous holder's writes; pairs with unlock()'s putLongRelease(0).
        if (!compareAndSetLong(memory, base + LOCK_OFFSET, 0, ownerWord)) {
            lockContended(base, stripe);
        }
    }

    private void lockContended(final long base, final int stripe) {
        final MemorySegment memory = this.memory;
        final long lock = base + LOCK_OFFSET;
        final long startNs = System.nanoTime();
        long checkedNs = startNs - LIVENESS_INTERVAL_NS;
        for (long attempt = 1; ; attempt++) {
            final long holder = getLongVolatile(memory, lock);
            // CAS (volatile): pairs with unlock()'s putLongRelease(0).
            if (holder == 0 && compareAndSetLong(memory, lock, 0, ownerWord)) {
                return;
            }
            if (attempt < SPINS) {
                Thread.onSpinWait();
                continue;
            }
            // Past the spins the deadline is checked on every pass, even when the lock read as free: a peer that
            // flips the word between free and held cannot keep this loop going.
            final long nowNs = System.nanoTime();
            if (holder != 0 && holder != ownerWord && nowNs - checkedNs >= LIVENESS_INTERVAL_NS) {
                checkedNs = nowNs;
                // CAS (volatile): takes over a dead holder's lock, acquiring everything it wrote.
                if (!isAlive(holder) && compareAndSetLong(memory, lock, holder, ownerWord)) {
                    final CorruptDataException problem = recover(base, stripe);
                    if (problem != null) {
                        unlock(base);
                        throw problem;
                    }
                    return;
                }
            }
            if (nowNs - startNs > lockTimeoutNs) {
                lockTimeouts.increment();
                throw new IsthmusTimeoutException("lock of stripe " + stripe + " of the shared map not free within"
                    + " lockTimeoutNs=" + lockTimeoutNs + ": " + describeHolder(holder));
            }
            if (attempt < 4 * SPINS) {
                Thread.yield();
            } else {
                LockSupport.parkNanos(Math.min(50_000, 1L + (attempt - 4 * SPINS) * 1_000));
            }
        }
    }

    private void unlock(final long base) {
        // CAS (volatile, so a release): the stripe's updates happen before the lock is free; pairs with the next
        // locker's CAS. Only this process's word is cleared: if another process took the lock over, believing
        // this one dead, its lock is left alone and the theft counted.
        if (!compareAndSetLong(memory, base + LOCK_OFFSET, ownerWord, 0)) {
            lockThefts.increment();
        }
    }

    /**
     * Recovers a stripe whose lock this thread has just taken from a dead holder (or, with stripe -1, from
     * its own abandoned update): rolls back a half-written slot from the undo record, repairs slots left
     * odd without one, and recounts. Returns the problem found in the undo record, if any; the lock stays held.
     */
    private CorruptDataException recover(final long base, final int stripe) {
        final MemorySegment memory = this.memory;
        CorruptDataException problem = null;
        // acquire: pairs with beginUpdate's and endUpdate's putLongRelease(UNDO_STATE).
        final long undo = getLongAcquire(memory, base + UNDO_STATE_OFFSET);
        if (undo != 0) {
            if (undo < 1 || undo > slotsPerStripe) {
                problem = new CorruptDataException("undo record of stripe " + stripe + " of the shared map names slot "
                    + (undo - 1) + ", outside its " + slotsPerStripe + " slots: discarded, not applied");
            } else {
                final long slot = slotOffset(base, (int) (undo - 1));
                // acquire: pairs with beginUpdate's putLongRelease(seq odd).
                final long seq = getLongAcquire(memory, slot + SEQ_OFFSET);
                if ((seq & 1) != 0) {
                    rollBack(base, slot, seq);
                }
                // An even seq: the update was never begun, or was committed; either way the slot is whole.
            }
            // release: the slot is whole before the undo record is dropped.
            putLongRelease(memory, base + UNDO_STATE_OFFSET, 0);
        }
        long full = 0;
        long tombstones = 0;
        for (int index = 0; index < slotsPerStripe; index++) {
            final long slot = slotOffset(base, index);
            final long seq = memory.get(LONG_PLAIN, slot + SEQ_OFFSET);
            if ((seq & 1) != 0) {
                // Mid-update with no undo record: only a hostile writer leaves this. Its key is lost.
                memory.set(JAVA_INT, slot + STATE_OFFSET, STATE_TOMBSTONE);
                // release: publishes the repaired slot; pairs with the readers' getLongAcquire(seq).
                putLongRelease(memory, slot + SEQ_OFFSET, seq + 1);
            }
            final int state = memory.get(INT_PLAIN, slot + STATE_OFFSET);
            if (state == STATE_FULL) {
                full++;
            } else if (state == STATE_TOMBSTONE) {
                tombstones++;
            }
        }
        // opaque: size() reads them without the lock.
        putLongOpaque(memory, base + COUNT_OFFSET, full);
        putLongOpaque(memory, base + TOMBSTONES_OFFSET, tombstones);
        if (stripe >= 0) {
            recoveries.increment();
        }
        return problem;
    }

    /** Puts back the undo record's bytes into a slot left mid-update, with a seq above any seen. */
    private void rollBack(final long base, final long slot, final long seq) {
        final MemorySegment memory = this.memory;
        final long undoSlot = base + UNDO_SLOT_OFFSET;
        final long savedSeq = memory.get(LONG_PLAIN, undoSlot + SEQ_OFFSET);
        final int savedValueLength = Math.clamp(memory.get(INT_PLAIN, undoSlot + VALUE_LENGTH_OFFSET), 0, maxValueBytes);
        // The seq stays odd while the bytes go back: readers keep retrying.
        MemorySegment.copy(memory, undoSlot + Long.BYTES, memory, slot + Long.BYTES,
            valueOffset - Long.BYTES + savedValueLength);
        // release: publishes the restored slot; pairs with the readers' getLongAcquire(seq). Even, and above
        // both the seq a reader may have started with and the one it may have seen odd, so every read that
        // overlapped the dead writer's update is retried.
        putLongRelease(memory, slot + SEQ_OFFSET, (Math.max(seq, savedSeq) | 1) + 1);
    }

    /**
     * Recovers at once every stripe lock held by a process known to be dead (a session's peer, say), as a
     * writer finding it would. Locks held by others are left alone.
     *
     * @param dead the process, which must no longer run
     * @return the number of stripes recovered
     * @throws IllegalStateException    if this map is read-only
     * @throws IllegalArgumentException if the process is alive
     * @throws CorruptDataException     if a recovered stripe held an impossible undo record (every stripe is
     *                                  recovered first)
     */
    public int recoverLocksHeldBy(final ProcessIdentity dead) {
        checkWritable();
        Objects.requireNonNull(dead, "dead");
        if (dead.isAlive()) {
            throw new IllegalArgumentException("process pid=" + dead.pid() + " is alive: its locks are not recovered");
        }
        final long word = lockWord(dead);
        final int stripes = stripeMask + 1;
        int recovered = 0;
        CorruptDataException first = null;
        for (int stripe = 0; stripe < stripes; stripe++) {
            final long base = stripeBase(stripe);
            // CAS (volatile): takes over the dead holder's lock, acquiring everything it wrote.
            if (getLongVolatile(memory, base + LOCK_OFFSET) == word && compareAndSetLong(memory, base + LOCK_OFFSET, word,
                ownerWord)) {
                final CorruptDataException problem = recover(base, stripe);
                unlock(base);
                recovered++;
                if (first == null) {
                    first = problem;
                }
            }
        }
        if (first != null) {
            throw first;
        }
        return recovered;
    }

    /** {@return the lock word of a process: its pid above the low 32 bits of its start time} */
    static long lockWord(final ProcessIdentity process) {
        return process.pid() << 32 | (process.startTimeTicks() & 0xffffffffL);
    }

    private static boolean isAlive(final long holder) {
        final long pid = holder >>> 32;
        if (pid == 0 || pid > Integer.MAX_VALUE) {
            return false;
        }
        final ProcessIdentity process;
        try {
            process = ProcessIdentity.of(pid);
        } catch (final dev.isthmus.IsthmusException e) {
            // /proc could not be read: unknown is alive, since taking a live holder's lock would put two writers
            // in one stripe. The wait ends at the lock timeout instead.
            return true;
        }
        return process != null && (int) process.startTimeTicks() == (int) holder && process.isAlive();
    }

    private String describeHolder(final long holder) {
        if (holder == 0) {
            return "is free";
        }
        return "held by pid " + (holder >>> 32) + (holder == ownerWord ? " (this process)"
            : isAlive(holder) ? " (alive)" : " (dead)");
    }

    // ---------------------------------------------------------------------------------------------------
    // Hashing and geometry

    /** {@return the hash of a key's bytes; for 8 bytes, {@link #hashLong} of them read little-endian} */
    static long hash(final MemorySegment key, final long length) {
        long h = HASH_SEED ^ length * HASH_M1;
        long at = 0;
        for (; at + Long.BYTES <= length; at += Long.BYTES) {
            h = mix(h, key.get(KEY_CHUNK, at));
        }
        if (at < length) {
            long tail = 0;
            for (int shift = 0; at < length; at++, shift += 8) {
                tail |= (key.get(ValueLayout.JAVA_BYTE, at) & 0xffL) << shift;
            }
            h = mix(h, tail);
        }
        return finish(h);
    }

    /** {@return the hash of a key of 8 bytes, {@code key} little-endian} */
    static long hashLong(final long key) {
        return finish(mix(HASH_SEED ^ Long.BYTES * HASH_M1, key));
    }

    private static long mix(final long h, final long chunk) {
        return Long.rotateLeft(h ^ chunk * HASH_M1, 31) * HASH_M2;
    }

    private static long finish(final long h) {
        long x = h ^ h >>> 33;
        x *= 0xFF51AFD7ED558CCDL;
        x ^= x >>> 33;
        x *= 0xC4CEB9FE1A85EC53L;
        return x ^ x >>> 33;
    }

    private long stripeBase(final int stripe) {
        return HEADER_LENGTH + stripe * stripeLength;
    }

    private long slotOffset(final long base, final int index) {
        return base + stripeHeaderLength + (long) index * slotLength;
    }

    private long checkKeyLength(final long length) {
        if (length < 1 || length > maxKeyBytes) {
            throw new IllegalArgumentException("key length=" + length + " must be in [1, " + maxKeyBytes + "]");
        }
        return length;
    }

    private void checkValueLength(final long length) {
        if (length > maxValueBytes) {
            throw new IllegalArgumentException("value length=" + length + " must be at most maxValueBytes="
                + maxValueBytes);
        }
    }

    private void checkLongKeys() {
        if (maxKeyBytes < Long.BYTES) {
            throw new IllegalArgumentException("long keys need maxKeyBytes >= 8, this map has maxKeyBytes=" + maxKeyBytes);
        }
    }

    private void checkWritable() {
        if (!writable) {
            throw new IllegalStateException("the shared map is mapped read-only here");
        }
    }

    // ---------------------------------------------------------------------------------------------------
    // Accessors and lifetime

    /**
     * {@return the number of entries}: the sum of every stripe's count, each read separately without a
     * lock, so an approximation while writers run.
     */
    public long size() {
        long size = 0;
        final int stripes = stripeMask + 1;
        for (int stripe = 0; stripe < stripes; stripe++) {
            // opaque: pairs with the writers' putLongOpaque(COUNT); a count is exact only at rest.
            size += Math.clamp(getLongOpaque(memory, stripeBase(stripe) + COUNT_OFFSET), 0, slotsPerStripe);
        }
        return size;
    }

    /** {@return the number of slots: the most entries the map holds, if no stripe fills before the others} */
    public long capacity() {
        return (long) (stripeMask + 1) * slotsPerStripe;
    }

    /** {@return the longest key in bytes} */
    public int maxKeyBytes() {
        return maxKeyBytes;
    }

    /** {@return the longest value in bytes} */
    public int maxValueBytes() {
        return maxValueBytes;
    }

    /** {@return the number of stripes} */
    public int stripes() {
        return stripeMask + 1;
    }

    /** {@return whether this mapping may write} */
    public boolean isWritable() {
        return writable;
    }

    /**
     * {@return the map's counters: entries and tombstones (shared), and what this mapping did}
     */
    public ShmMapStats stats() {
        long tombstones = 0;
        final int stripes = stripeMask + 1;
        for (int stripe = 0; stripe < stripes; stripe++) {
            // opaque: pairs with the writers' putLongOpaque(TOMBSTONES).
            tombstones += Math.clamp(getLongOpaque(memory, stripeBase(stripe) + TOMBSTONES_OFFSET), 0, slotsPerStripe);
        }
        return new ShmMapStats(size(), tombstones, recoveries.sum(), lockTimeouts.sum(), readRetries.sum(),
            lockThefts.sum());
    }

    /**
     * {@return a new descriptor of the map's memory, the caller's to close once it has handed it to a peer
     * (with {@code SCM_RIGHTS}), who maps it with {@link #adopt}}
     *
     * @param readOnly whether the descriptor is read-only: the kernel then refuses its holder a writable mapping
     *                 (and, if the map was created {@link ShmMapOptions.Builder#peersReadOnly()}, any writable
     *                 mapping whatever it does with the descriptor)
     * @throws IllegalStateException if the map is closed, does not own its memory, or is asked for a writable
     *                               descriptor of a map created {@code peersReadOnly()}
     */
    public int duplicateDescriptor(final boolean readOnly) {
        if (shm == null) {
            throw new IllegalStateException("this map does not own its memory");
        }
        if (!readOnly && peersReadOnly) {
            throw new IllegalStateException("this map was created peersReadOnly(): no peer may ever write it");
        }
        return shm.duplicateDescriptor(readOnly);
    }

    /** "ISMP", little-endian: the blob that hands a map over a channel with its descriptor. */
    static final int LEND_MAGIC = 0x504d5349;
    /** The hand-over blob: the magic, then 1 if the borrower may write, 0 if not. */
    static final int LEND_LENGTH = 8;

    /**
     * Lends this map to the peer at the other end of a channel's handle pipe: sends a descriptor of its
     * memory, read-only unless {@code writable}, with a small blob saying which; the peer maps it with
     * {@link #borrow}. A read-only borrower gets a descriptor the kernel will not map for writing, so it can
     * read the map concurrently but never change it, whatever it tries.
     *
     * @param channel   the channel's handle pipe ({@link dev.isthmus.session.Channel#handles()})
     * @param writable  whether the peer may write the map (and take its stripe locks)
     * @param timeoutNs how long to wait for room in the pipe
     * @return whether it was sent
     * @throws IllegalStateException if this map does not own its memory or is closed, or {@code writable} is
     *                               asked of a map created {@link ShmMapOptions.Builder#peersReadOnly()}
     * @throws dev.isthmus.ChannelClosedException if the channel is closed
     */
    public boolean lend(final dev.isthmus.transport.UnixSocketBlobChannel channel, final boolean writable,
                        final long timeoutNs) {
        final byte[] blob = new byte[LEND_LENGTH];
        final MemorySegment wire = MemorySegment.ofArray(blob);
        wire.set(ValueLayout.JAVA_INT_UNALIGNED, 0, LEND_MAGIC);
        wire.set(ValueLayout.JAVA_INT_UNALIGNED, 4, writable ? 1 : 0);
        final long deadline = System.nanoTime() + timeoutNs;
        try (dev.isthmus.transport.NativeHandle handle = dev.isthmus.transport.NativeHandle.adopt(
            duplicateDescriptor(!writable))) {
            while (true) {
                if (channel.offerWithHandles(wire, 0, LEND_LENGTH, handle)) {
                    return true;
                }
                if (System.nanoTime() - deadline >= 0) {
                    return false;
                }
                LockSupport.parkNanos(50_000);
            }
        }
    }

    /**
     * Waits for a map the peer {@linkplain #lend lent} over a channel's handle pipe and maps it, writable only if
     * the peer allowed it, with the creator's timeouts. The blob and descriptor are checked: anything else that
     * arrives on the pipe meanwhile is refused.
     *
     * @param channel   the channel's handle pipe
     * @param timeoutNs how long to wait
     * @return the map
     * @throws IsthmusTimeoutException if nothing arrived in time
     * @throws CorruptDataException     if what arrived is not a lent map (wrong blob, not exactly one descriptor,
     *                                  a writable map offered through a read-only descriptor, an invalid map)
     */
    public static ShmMap borrow(final dev.isthmus.transport.UnixSocketBlobChannel channel, final long timeoutNs) {
        return borrow(channel, timeoutNs, true);
    }

    /**
     * Waits for a map the peer lent, as {@link #borrow(dev.isthmus.transport.UnixSocketBlobChannel, long)} does,
     * mapping it writable only if the peer allowed it and {@code acceptWritable}: a process that only reads
     * passes {@code false}, and then never writes the map, not even to recover a dead writer's stripe.
     *
     * @param channel        the channel's handle pipe
     * @param timeoutNs      how long to wait
     * @param acceptWritable whether to map the map writable when the peer allows it
     * @return the map
     * @throws IsthmusTimeoutException if nothing arrived in time
     * @throws CorruptDataException     as {@link #borrow(dev.isthmus.transport.UnixSocketBlobChannel, long)}
     */
    public static ShmMap borrow(final dev.isthmus.transport.UnixSocketBlobChannel channel, final long timeoutNs,
                                final boolean acceptWritable) {
        final ShmMap[] received = new ShmMap[1];
        final RuntimeException[] refused = new RuntimeException[1];
        final long deadline = System.nanoTime() + timeoutNs;
        while (received[0] == null && refused[0] == null) {
            final long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new IsthmusTimeoutException("no map was lent over " + channel + " within " + timeoutNs + " ns");
            }
            channel.pollWithHandles((buffer, offset, length, handles) -> {
                try {
                    if (length != LEND_LENGTH || buffer.get(ValueLayout.JAVA_INT_UNALIGNED, offset) != LEND_MAGIC
                        || handles.size() != 1) {
                        throw new CorruptDataException("expected a lent map (an " + LEND_LENGTH + "-byte blob and one"
                            + " descriptor), received " + length + " bytes and " + handles.size() + " descriptors");
                    }
                    final boolean writable = acceptWritable && buffer.get(ValueLayout.JAVA_INT_UNALIGNED, offset + 4) == 1;
                    final int fd = handles.getFirst().release();
                    try {
                        received[0] = adopt(fd, writable);
                    } catch (final dev.isthmus.NativeException e) {
                        throw new CorruptDataException("the peer lent a map as " + (writable ? "writable" : "read-only")
                            + " through a descriptor that cannot be mapped so: " + e.getMessage());
                    }
                } catch (final RuntimeException e) {
                    refused[0] = e;
                } finally {
                    for (final dev.isthmus.transport.NativeHandle handle : handles) {
                        handle.close();
                    }
                }
            }, 1, left);
        }
        if (refused[0] != null) {
            throw refused[0];
        }
        return received[0];
    }

    /**
     * Unmaps the map's memory here and closes its descriptor; the memory is freed when no process maps it any
     * more. Idempotent. Must not race with other calls on this map.
     */
    @Override
    public void close() {
        if (shm != null) {
            shm.close();
        }
    }

    /**
     * Test-only: sets what every put and remove of this mapping calls, with the stripe, while it holds the
     * stripe's lock and before it reads a slot (a test playing a peer that steals the lock then), or null.
     * Set it before the map is used by other threads; never in production.
     */
    void onLockedForTest(final IntConsumer hook) {
        this.onLockedForTest = hook;
    }

    /** {@return the map's memory, for tests that play a hostile peer or check the mapping's protection} */
    MemorySegment memory() {
        return memory;
    }

    @Override
    public String toString() {
        return "ShmMap{stripes=" + (stripeMask + 1) + ", slotsPerStripe=" + slotsPerStripe + ", maxKeyBytes="
            + maxKeyBytes + ", maxValueBytes=" + maxValueBytes + (writable ? ", writable}" : ", read-only}");
    }
}
