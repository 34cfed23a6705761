/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import dev.isthmus.shm.PermissionLevel;

import java.util.Objects;

/**
 * The geometry and timeouts of a {@link ShmMap}. Immutable and thread-safe; built with {@link #builder()}.
 *
 * {@snippet :
 * ShmMapOptions options = ShmMapOptions.builder()
 *     .capacity(1 << 16).maxKeyBytes(8).maxValueBytes(64).stripes(64)
 *     .build();
 * }
 *
 * <p>Each stripe is a table of its own with {@code ceil(capacity / stripes)} slots; a key's hash picks its
 * stripe, so a stripe can fill up before the map as a whole does. Size the capacity with room to spare
 * (linear probing slows down as a stripe fills).
 */
public final class ShmMapOptions {
    /** The default lock timeout: 1 s. */
    public static final long DEFAULT_LOCK_TIMEOUT_NS = 1_000_000_000L;
    /** The default read timeout: 1 s. */
    public static final long DEFAULT_READ_TIMEOUT_NS = 1_000_000_000L;

    private final int capacity;
    private final int maxKeyBytes;
    private final int maxValueBytes;
    private final int stripes;
    private final PermissionLevel permissions;
    private final long lockTimeoutNs;
    private final long readTimeoutNs;
    private final boolean peersReadOnly;
    private final int slotsPerStripe;
    private final long totalLengthBytes;

    private ShmMapOptions(final Builder builder) {
        this.capacity = builder.capacity;
        this.maxKeyBytes = builder.maxKeyBytes;
        this.maxValueBytes = builder.maxValueBytes;
        this.stripes = builder.stripes;
        this.permissions = builder.permissions;
        this.lockTimeoutNs = builder.lockTimeoutNs;
        this.readTimeoutNs = builder.readTimeoutNs;
        this.peersReadOnly = builder.peersReadOnly;
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity=" + capacity + " must be at least 1");
        }
        if (maxKeyBytes < 1 || maxKeyBytes > ShmMapDescriptor.MAX_KEY_BYTES) {
            throw new IllegalArgumentException("maxKeyBytes=" + maxKeyBytes + " must be in [1, "
                + ShmMapDescriptor.MAX_KEY_BYTES + "]");
        }
        if (maxValueBytes < 0 || maxValueBytes > ShmMapDescriptor.MAX_VALUE_BYTES) {
            throw new IllegalArgumentException("maxValueBytes=" + maxValueBytes + " must be in [0, "
                + ShmMapDescriptor.MAX_VALUE_BYTES + "]");
        }
        if (stripes < 1 || stripes > ShmMapDescriptor.MAX_STRIPES || Integer.bitCount(stripes) != 1) {
            throw new IllegalArgumentException("stripes=" + stripes + " must be a power of two in [1, "
                + ShmMapDescriptor.MAX_STRIPES + "]");
        }
        if (stripes > capacity) {
            throw new IllegalArgumentException("stripes=" + stripes + " must not exceed capacity=" + capacity);
        }
        checkTimeout("lockTimeoutNs", lockTimeoutNs);
        checkTimeout("readTimeoutNs", readTimeoutNs);
        this.slotsPerStripe = (int) ((capacity + (long) stripes - 1) / stripes);
        if (slotsPerStripe > ShmMapDescriptor.MAX_SLOTS_PER_STRIPE) {
            throw new IllegalArgumentException("capacity=" + capacity + " over stripes=" + stripes + " gives "
                + slotsPerStripe + " slots per stripe, more than " + ShmMapDescriptor.MAX_SLOTS_PER_STRIPE);
        }
        final int slotLength = ShmMapDescriptor.slotLength(maxKeyBytes, maxValueBytes);
        this.totalLengthBytes = ShmMapDescriptor.totalLength(stripes,
            ShmMapDescriptor.stripeLength(slotLength, slotsPerStripe));
        if (totalLengthBytes < 0) {
            throw new IllegalArgumentException("capacity=" + capacity + ", maxKeyBytes=" + maxKeyBytes
                + ", maxValueBytes=" + maxValueBytes + " need more than " + ShmMapDescriptor.MAX_TOTAL_LENGTH + " bytes");
        }
    }

    private static void checkTimeout(final String name, final long valueNs) {
        if (valueNs < 1 || valueNs > ShmMapDescriptor.MAX_TIMEOUT_NS) {
            throw new IllegalArgumentException(name + "=" + valueNs + " must be in [1, "
                + ShmMapDescriptor.MAX_TIMEOUT_NS + "]");
        }
    }

    /**
     * {@return a builder, with defaults: capacity 1024, keys of up to 8 bytes, values of up to 64 bytes,
     * 16 stripes, user access, 1 s lock and read timeouts}
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * {@return the defaults of {@link #builder()}}
     */
    public static ShmMapOptions defaults() {
        return builder().build();
    }

    /** {@return the number of entries asked for; the map has {@link #slotsPerStripe()} times {@link #stripes()}} */
    public int capacity() {
        return capacity;
    }

    /** {@return the longest key in bytes} */
    public int maxKeyBytes() {
        return maxKeyBytes;
    }

    /** {@return the longest value in bytes} */
    public int maxValueBytes() {
        return maxValueBytes;
    }

    /** {@return the number of stripes, each with its own lock and its own table} */
    public int stripes() {
        return stripes;
    }

    /** {@return the number of slots in each stripe, {@code ceil(capacity / stripes)}} */
    public int slotsPerStripe() {
        return slotsPerStripe;
    }

    /** {@return who may open the map's memory} */
    public PermissionLevel permissions() {
        return permissions;
    }

    /** {@return how long a writer waits for a live holder of a stripe lock before giving up} */
    public long lockTimeoutNs() {
        return lockTimeoutNs;
    }

    /** {@return how long a reader retries an entry that stays in the middle of an update before giving up} */
    public long readTimeoutNs() {
        return readTimeoutNs;
    }

    /** {@return whether only the creator may ever write the map ({@link Builder#peersReadOnly()})} */
    public boolean peersReadOnly() {
        return peersReadOnly;
    }

    /** {@return the length of the map's shared memory in bytes} */
    public long totalLengthBytes() {
        return totalLengthBytes;
    }

    @Override
    public String toString() {
        return "ShmMapOptions{capacity=" + capacity + ", maxKeyBytes=" + maxKeyBytes + ", maxValueBytes="
            + maxValueBytes + ", stripes=" + stripes + ", permissions=" + permissions + ", lockTimeoutNs="
            + lockTimeoutNs + ", readTimeoutNs=" + readTimeoutNs + ", peersReadOnly=" + peersReadOnly + "}";
    }

    /**
     * Builds {@link ShmMapOptions}; every setter checks only for {@code null}, {@link #build()} checks the
     * whole. Not thread-safe.
     */
    public static final class Builder {
        private int capacity = 1024;
        private int maxKeyBytes = 8;
        private int maxValueBytes = 64;
        private int stripes = 16;
        private PermissionLevel permissions = PermissionLevel.USER_ACCESS;
        private long lockTimeoutNs = DEFAULT_LOCK_TIMEOUT_NS;
        private long readTimeoutNs = DEFAULT_READ_TIMEOUT_NS;
        private boolean peersReadOnly;

        private Builder() {
        }

        /**
         * Sets the number of entries the map should hold.
         *
         * @param capacity at least 1 and at least {@link #stripes(int)}
         * @return this builder
         */
        public Builder capacity(final int capacity) {
            this.capacity = capacity;
            return this;
        }

        /**
         * Sets the longest key.
         *
         * @param maxKeyBytes in [1, {@link ShmMapDescriptor#MAX_KEY_BYTES}]
         * @return this builder
         */
        public Builder maxKeyBytes(final int maxKeyBytes) {
            this.maxKeyBytes = maxKeyBytes;
            return this;
        }

        /**
         * Sets the longest value.
         *
         * @param maxValueBytes in [0, {@link ShmMapDescriptor#MAX_VALUE_BYTES}]
         * @return this builder
         */
        public Builder maxValueBytes(final int maxValueBytes) {
            this.maxValueBytes = maxValueBytes;
            return this;
        }

        /**
         * Sets the number of stripes: more stripes, less contention between writers.
         *
         * @param stripes a power of two in [1, {@link ShmMapDescriptor#MAX_STRIPES}], at most the capacity
         * @return this builder
         */
        public Builder stripes(final int stripes) {
            this.stripes = stripes;
            return this;
        }

        /**
         * Sets who may open the map's memory.
         *
         * @param permissions the permission level
         * @return this builder
         */
        public Builder permissions(final PermissionLevel permissions) {
            this.permissions = Objects.requireNonNull(permissions, "permissions");
            return this;
        }

        /**
         * Sets how long a writer waits for a stripe lock whose holder is alive.
         *
         * @param lockTimeoutNs in [1, {@link ShmMapDescriptor#MAX_TIMEOUT_NS}]
         * @return this builder
         */
        public Builder lockTimeoutNs(final long lockTimeoutNs) {
            this.lockTimeoutNs = lockTimeoutNs;
            return this;
        }

        /**
         * Sets how long a reader retries an entry that stays in the middle of an update.
         *
         * @param readTimeoutNs in [1, {@link ShmMapDescriptor#MAX_TIMEOUT_NS}]
         * @return this builder
         */
        public Builder readTimeoutNs(final long readTimeoutNs) {
            this.readTimeoutNs = readTimeoutNs;
            return this;
        }

        /**
         * {@return the options}
         *
         * @throws IllegalArgumentException naming the first value out of range, or if the map would need
         *                                  more than {@link ShmMapDescriptor#MAX_TOTAL_LENGTH} bytes
         */
        public ShmMapOptions build() {
            return new ShmMapOptions(this);
        }

        /**
         * Makes the map one only its creator writes: its memory is sealed against every writable mapping but the
         * creator's own ({@code F_SEAL_FUTURE_WRITE}), so that a peer it is lent to can never write it, even one
         * running as the same user (which could otherwise restore the file's write bits and reopen a read-only
         * descriptor for writing through {@code /proc/self/fd}). Lending such a map writable is refused.
         *
         * @return this builder
         */
        public Builder peersReadOnly() {
            this.peersReadOnly = true;
            return this;
        }
    }
}
