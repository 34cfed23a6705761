/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.sync.IdleStrategies;
import dev.isthmus.sync.IdleStrategy;

import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * How a shared-memory queue is laid out and how its users wait. Immutable; build with {@link #builder()}.
 *
 * <p>Defaults: 256 KiB initial capacity growing up to 16 MiB, messages up to 1 MiB, pre-faulted pages,
 * {@link PermissionLevel#USER_ACCESS}, the spin-then-futex idle strategy, the peer's liveness checked
 * every 100 ms while waiting, every message published as it is committed.
 */
public final class ShmQueueOptions {
    private static final ShmQueueOptions DEFAULTS = builder().build();

    private final long initialCapacityBytes;
    private final long maxCapacityBytes;
    private final int maxMessageLengthBytes;
    private final boolean prefault;
    private final PermissionLevel permissions;
    private final Path directory;
    private final Supplier<IdleStrategy> idleStrategy;
    private final long livenessCheckIntervalNs;
    private final long unblockTimeoutNs;
    private final int publishBatchBytes;

    private ShmQueueOptions(final Builder builder) {
        this.initialCapacityBytes = builder.initialCapacityBytes;
        this.maxCapacityBytes = builder.maxCapacityBytes;
        this.maxMessageLengthBytes = builder.maxMessageLengthBytes;
        this.prefault = builder.prefault;
        this.permissions = builder.permissions;
        this.directory = builder.directory;
        this.idleStrategy = builder.idleStrategy;
        this.livenessCheckIntervalNs = builder.livenessCheckIntervalNs;
        this.unblockTimeoutNs = builder.unblockTimeoutNs;
        this.publishBatchBytes = builder.publishBatchBytes;
    }

    /**
     * {@return the default options}
     */
    public static ShmQueueOptions defaults() {
        return DEFAULTS;
    }

    /**
     * {@return a builder starting from the defaults}
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * {@return a builder starting from these options}
     */
    public Builder toBuilder() {
        return new Builder()
            .initialCapacityBytes(initialCapacityBytes)
            .maxCapacityBytes(maxCapacityBytes)
            .maxMessageLengthBytes(maxMessageLengthBytes)
            .prefault(prefault)
            .permissions(permissions)
            .directory(directory)
            .idleStrategy(idleStrategy)
            .livenessCheckIntervalNs(livenessCheckIntervalNs)
            .unblockTimeoutNs(unblockTimeoutNs)
            .publishBatchBytes(publishBatchBytes);
    }

    /**
     * {@return the capacity of the first ring region, a power of two}
     */
    public long initialCapacityBytes() {
        return initialCapacityBytes;
    }

    /**
     * {@return the capacity beyond which the queue does not grow, a power of two}
     */
    public long maxCapacityBytes() {
        return maxCapacityBytes;
    }

    /**
     * {@return the largest message}
     */
    public int maxMessageLengthBytes() {
        return maxMessageLengthBytes;
    }

    /**
     * {@return whether ring pages are faulted in when a region is created or mapped}
     */
    public boolean prefault() {
        return prefault;
    }

    /**
     * {@return who may open the queue's segment}
     */
    public PermissionLevel permissions() {
        return permissions;
    }

    /**
     * {@return where the queue's segment lives}
     */
    public Path directory() {
        return directory;
    }

    /**
     * {@return a new idle strategy for a waiting thread}
     */
    public IdleStrategy newIdleStrategy() {
        return idleStrategy.get();
    }

    /**
     * {@return how often a waiting side checks that the other side's process still runs}
     */
    public long livenessCheckIntervalNs() {
        return livenessCheckIntervalNs;
    }

    /**
     * {@return how long the consumer of a many-to-one queue waits for a live producer's claim to be
     * committed before it skips it}
     *
     * @see Builder#unblockTimeoutNs(long)
     */
    public long unblockTimeoutNs() {
        return unblockTimeoutNs;
    }

    /**
     * {@return how many bytes of offered messages a one-to-one queue's producer accumulates before it
     * publishes them together; 0 when every message is published as it is committed}
     *
     * @see Builder#publishBatchBytes(int)
     */
    public int publishBatchBytes() {
        return publishBatchBytes;
    }

    /** Builds {@link ShmQueueOptions}. */
    public static final class Builder {
        private long initialCapacityBytes = 256 * 1024;
        private long maxCapacityBytes = 16 * 1024 * 1024;
        private int maxMessageLengthBytes = 1024 * 1024;
        private boolean prefault = true;
        private PermissionLevel permissions = PermissionLevel.USER_ACCESS;
        private Path directory = SharedMemory.DEFAULT_DIRECTORY;
        private Supplier<IdleStrategy> idleStrategy = IdleStrategies::defaultStrategy;
        private long livenessCheckIntervalNs = TimeUnit.MILLISECONDS.toNanos(100);
        private long unblockTimeoutNs = TimeUnit.SECONDS.toNanos(10);
        private int publishBatchBytes;

        private Builder() {
        }

        /**
         * Sets the capacity of the first ring region.
         *
         * @param bytes a power of two, at least 4096
         * @return this builder
         */
        public Builder initialCapacityBytes(final long bytes) {
            this.initialCapacityBytes = bytes;
            return this;
        }

        /**
         * Sets the capacity beyond which the queue does not grow; then a full queue back-pressures.
         *
         * @param bytes a power of two, at least the initial capacity
         * @return this builder
         */
        public Builder maxCapacityBytes(final long bytes) {
            this.maxCapacityBytes = bytes;
            return this;
        }

        /**
         * Sets the largest message.
         *
         * @param bytes at least 0, at most a quarter of the max capacity
         * @return this builder
         */
        public Builder maxMessageLengthBytes(final int bytes) {
            this.maxMessageLengthBytes = bytes;
            return this;
        }

        /**
         * Sets whether ring pages are faulted in up front (recommended: first touches cost microseconds each).
         *
         * @param prefault whether to pre-fault
         * @return this builder
         */
        public Builder prefault(final boolean prefault) {
            this.prefault = prefault;
            return this;
        }

        /**
         * Sets who may open the queue's segment.
         *
         * @param permissions the level
         * @return this builder
         */
        public Builder permissions(final PermissionLevel permissions) {
            this.permissions = Objects.requireNonNull(permissions, "permissions");
            return this;
        }

        /**
         * Sets where the queue's segment lives.
         *
         * @param directory a directory on a memory file system
         * @return this builder
         */
        public Builder directory(final Path directory) {
            this.directory = Objects.requireNonNull(directory, "directory");
            return this;
        }

        /**
         * Sets how waiting threads wait; one strategy instance is made per waiting side.
         *
         * @param idleStrategy a supplier of new instances, e.g. {@code IdleStrategies.byName("busy-spin")}
         * @return this builder
         */
        public Builder idleStrategy(final Supplier<IdleStrategy> idleStrategy) {
            this.idleStrategy = Objects.requireNonNull(idleStrategy, "idleStrategy");
            return this;
        }

        /**
         * Sets how often a waiting side checks that the other side's process still runs.
         *
         * @param intervalNs at least 1 ms, at most 1 s
         * @return this builder
         */
        public Builder livenessCheckIntervalNs(final long intervalNs) {
            this.livenessCheckIntervalNs = intervalNs;
            return this;
        }

        /**
         * Sets how long the consumer of a many-to-one queue waits for a claim of a producer that still runs
         * before it skips the claim, so that one stalled producer cannot stop every other. A claim of a
         * producer whose process died is skipped at the next liveness check, without waiting. The skipped
         * producer's commit fails; if it was stalled inside the copy for longer than this and the ring
         * wrapped meanwhile, it may have written into a later record, so choose a timeout longer than any
         * pause a producer may take (a garbage collection, a descheduled container).
         *
         * @param timeoutNs at least 1 ms, at most 10 minutes; 10 s by default
         * @return this builder
         */
        public Builder unblockTimeoutNs(final long timeoutNs) {
            this.unblockTimeoutNs = timeoutNs;
            return this;
        }

        /**
         * Lets the producer of a one-to-one queue publish the messages it offers in batches, like a
         * buffered stream: {@link ShmQueue.Producer#offer(java.lang.foreign.MemorySegment, long, int) offer} makes a message visible to the
         * consumer only once {@code bytes} have accumulated, or at the next {@link ShmQueue.Producer#flush()},
         * {@link ShmQueue.Producer#tryClaim claim}, offer with a timeout (which publishes its message at once,
         * with those before it), back-pressure or close. The consumer then reads lines the
         * producer has finished writing instead of fighting it for each one: higher throughput for streams of
         * small messages, at the price of latency until the flush. Messages not yet published when the
         * producer's process dies are lost with it, like a buffered stream's. Producers of many-to-one queues
         * always publish at commit.
         *
         * @param bytes 0 (the default: publish every message at once), or 64 to 1 MiB
         * @return this builder
         */
        public Builder publishBatchBytes(final int bytes) {
            this.publishBatchBytes = bytes;
            return this;
        }

        /**
         * {@return the options}
         *
         * @throws IllegalArgumentException naming the first inconsistent value
         */
        public ShmQueueOptions build() {
            checkCapacity("initialCapacityBytes", initialCapacityBytes);
            checkCapacity("maxCapacityBytes", maxCapacityBytes);
            if (maxCapacityBytes < initialCapacityBytes) {
                throw new IllegalArgumentException("maxCapacityBytes=" + maxCapacityBytes
                    + " must be >= initialCapacityBytes=" + initialCapacityBytes);
            }
            if (maxMessageLengthBytes < 0 || maxMessageLengthBytes > maxCapacityBytes / 4) {
                throw new IllegalArgumentException("maxMessageLengthBytes=" + maxMessageLengthBytes
                    + " must be in [0, maxCapacityBytes/4 = " + maxCapacityBytes / 4 + "]");
            }
            if (livenessCheckIntervalNs < TimeUnit.MILLISECONDS.toNanos(1)
                || livenessCheckIntervalNs > TimeUnit.SECONDS.toNanos(1)) {
                throw new IllegalArgumentException("livenessCheckIntervalNs=" + livenessCheckIntervalNs
                    + " must be in [1 ms, 1 s]");
            }
            if (unblockTimeoutNs < TimeUnit.MILLISECONDS.toNanos(1) || unblockTimeoutNs > TimeUnit.MINUTES.toNanos(10)) {
                throw new IllegalArgumentException("unblockTimeoutNs=" + unblockTimeoutNs + " must be in [1 ms, 10 min]");
            }
            if (publishBatchBytes != 0 && (publishBatchBytes < 64 || publishBatchBytes > 1024 * 1024)) {
                throw new IllegalArgumentException("publishBatchBytes=" + publishBatchBytes
                    + " must be 0 or in [64, 1 MiB]");
            }
            return new ShmQueueOptions(this);
        }

        private static void checkCapacity(final String name, final long bytes) {
            if (bytes < ShmQueueDescriptor.MIN_CAPACITY || bytes > ShmQueueDescriptor.MAX_CAPACITY
                || Long.bitCount(bytes) != 1) {
                throw new IllegalArgumentException(name + "=" + bytes + " must be a power of two in ["
                    + ShmQueueDescriptor.MIN_CAPACITY + ", " + ShmQueueDescriptor.MAX_CAPACITY + "]");
            }
        }
    }
}
