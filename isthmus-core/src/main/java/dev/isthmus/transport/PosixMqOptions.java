/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.shm.PermissionLevel;

import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * How a {@link PosixMqBlobChannel} sizes its queues and how its users wait. Immutable; build with
 * {@link #builder()}.
 *
 * <p>Defaults: queues as large as the kernel allows without privileges, at most 10 messages of 8 KiB
 * (Linux's default {@code msg_max} and {@code msgsize_max}); {@link PermissionLevel#USER_ACCESS}; retry
 * for 200 µs before sleeping; the peer's liveness checked every 100 ms while waiting; an opener waits up to
 * 5 s for the creator's hello; a close waits up to 1 s for room for its CLOSE message when it cannot
 * mark the queues instead.
 *
 * <p>The sizes and the permission level matter to the creator only: an opener takes the queues as the
 * creator made them.
 */
public final class PosixMqOptions {
    /** The capacity used when none is set and the kernel allows it: Linux's default {@code msg_max}. */
    public static final int DEFAULT_MAX_MESSAGES = 10;
    /** The message size used when none is set and the kernel allows it: Linux's default {@code msgsize_max}. */
    public static final int DEFAULT_MAX_MESSAGE_LENGTH_BYTES = 8192;

    private static final PosixMqOptions DEFAULTS = builder().build();

    private final int maxMessages;
    private final int maxMessageLengthBytes;
    private final PermissionLevel permissions;
    private final long spinBudgetNs;
    private final long livenessCheckIntervalNs;
    private final long attachTimeoutNs;
    private final long closeLingerNs;

    private PosixMqOptions(final Builder builder) {
        this.maxMessages = builder.maxMessages;
        this.maxMessageLengthBytes = builder.maxMessageLengthBytes;
        this.permissions = builder.permissions;
        this.spinBudgetNs = builder.spinBudgetNs;
        this.livenessCheckIntervalNs = builder.livenessCheckIntervalNs;
        this.attachTimeoutNs = builder.attachTimeoutNs;
        this.closeLingerNs = builder.closeLingerNs;
    }

    /**
     * {@return the default options}
     */
    public static PosixMqOptions defaults() {
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
            .maxMessages(maxMessages)
            .maxMessageLengthBytes(maxMessageLengthBytes)
            .permissions(permissions)
            .spinBudgetNs(spinBudgetNs)
            .livenessCheckIntervalNs(livenessCheckIntervalNs)
            .attachTimeoutNs(attachTimeoutNs)
            .closeLingerNs(closeLingerNs);
    }

    /**
     * {@return the capacity of each queue in messages, or 0 for the default: the kernel's {@code msg_max},
     * at most {@value #DEFAULT_MAX_MESSAGES}}
     */
    public int maxMessages() {
        return maxMessages;
    }

    /**
     * {@return the message size of each queue in bytes, or 0 for the default: the kernel's
     * {@code msgsize_max}, at most {@value #DEFAULT_MAX_MESSAGE_LENGTH_BYTES}}
     */
    public int maxMessageLengthBytes() {
        return maxMessageLengthBytes;
    }

    /**
     * {@return who may open the queues}
     */
    public PermissionLevel permissions() {
        return permissions;
    }

    /**
     * {@return how long a waiting call retries, spinning, before it sleeps in the kernel}
     */
    public long spinBudgetNs() {
        return spinBudgetNs;
    }

    /**
     * {@return how often a waiting side checks that the other side's process still runs}
     */
    public long livenessCheckIntervalNs() {
        return livenessCheckIntervalNs;
    }

    /**
     * {@return how long {@link PosixMqBlobChannel#open} waits for the creator's hello}
     */
    public long attachTimeoutNs() {
        return attachTimeoutNs;
    }

    /**
     * {@return how long {@link PosixMqBlobChannel#close()} waits for room for its CLOSE message when it
     * cannot mark the queues closed (another user's queues) and the peer's queue is full}
     */
    public long closeLingerNs() {
        return closeLingerNs;
    }

    /** Builds {@link PosixMqOptions}. */
    public static final class Builder {
        private int maxMessages;
        private int maxMessageLengthBytes;
        private PermissionLevel permissions = PermissionLevel.USER_ACCESS;
        private long spinBudgetNs = TimeUnit.MICROSECONDS.toNanos(200);
        private long livenessCheckIntervalNs = TimeUnit.MILLISECONDS.toNanos(100);
        private long attachTimeoutNs = TimeUnit.SECONDS.toNanos(5);
        private long closeLingerNs = TimeUnit.SECONDS.toNanos(1);

        private Builder() {
        }

        /**
         * Sets the capacity of each queue. Beyond the kernel's {@code msg_max} the channel's creation fails
         * with an exception that says how to lift the limit (see {@link PosixMqLimits}).
         *
         * @param maxMessages at least 1, or 0 for the default
         * @return this builder
         */
        public Builder maxMessages(final int maxMessages) {
            this.maxMessages = maxMessages;
            return this;
        }

        /**
         * Sets the largest blob, which is also each queue's {@code mq_msgsize}. Values below
         * {@link PosixMqDescriptor#CONTROL_LENGTH} are raised to it, so that control messages fit; beyond the
         * kernel's {@code msgsize_max} the channel's creation fails with an exception that says how to lift
         * the limit.
         *
         * @param bytes at least 1, or 0 for the default
         * @return this builder
         */
        public Builder maxMessageLengthBytes(final int bytes) {
            this.maxMessageLengthBytes = bytes;
            return this;
        }

        /**
         * Sets who may open the queues; their modes are set exactly, whatever the umask.
         *
         * @param permissions the level
         * @return this builder
         */
        public Builder permissions(final PermissionLevel permissions) {
            this.permissions = Objects.requireNonNull(permissions, "permissions");
            return this;
        }

        /**
         * Sets how long a waiting call retries without sleeping in the kernel, spinning between attempts
         * ({@link Thread#onSpinWait()}; a yield would hand a busy machine's other programs a whole time slice
         * per message). Retrying avoids a wake-up (tens of microseconds on virtual machines) when the peer
         * answers quickly; each retry is a system call. This is the longest spin: a side whose spins keep failing
         * (its peer is slow, or not running because the processors are busy) spins less, down to not at all,
         * and back up to this budget once they succeed again.
         *
         * @param spinBudgetNs 0 (sleep at once) to 10 ms
         * @return this builder
         */
        public Builder spinBudgetNs(final long spinBudgetNs) {
            this.spinBudgetNs = spinBudgetNs;
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
         * Sets how long an opener waits for the creator's hello (which the creator queues before
         * {@link PosixMqBlobChannel#create} returns, so a wait happens only in a race with the creation).
         *
         * @param timeoutNs at least 1 ms
         * @return this builder
         */
        public Builder attachTimeoutNs(final long timeoutNs) {
            this.attachTimeoutNs = timeoutNs;
            return this;
        }

        /**
         * Sets how long a close waits for room for its CLOSE message when it cannot mark the queues.
         *
         * @param lingerNs 0 to 60 s
         * @return this builder
         */
        public Builder closeLingerNs(final long lingerNs) {
            this.closeLingerNs = lingerNs;
            return this;
        }

        /**
         * {@return the options}
         *
         * @throws IllegalArgumentException naming the first value out of range
         */
        public PosixMqOptions build() {
            if (maxMessages < 0) {
                throw new IllegalArgumentException("maxMessages=" + maxMessages + " must be >= 1, or 0 for the default");
            }
            if (maxMessageLengthBytes < 0) {
                throw new IllegalArgumentException("maxMessageLengthBytes=" + maxMessageLengthBytes
                    + " must be >= 1, or 0 for the default");
            }
            if (spinBudgetNs < 0 || spinBudgetNs > TimeUnit.MILLISECONDS.toNanos(10)) {
                throw new IllegalArgumentException("spinBudgetNs=" + spinBudgetNs + " must be in [0, 10 ms]");
            }
            if (livenessCheckIntervalNs < TimeUnit.MILLISECONDS.toNanos(1)
                || livenessCheckIntervalNs > TimeUnit.SECONDS.toNanos(1)) {
                throw new IllegalArgumentException("livenessCheckIntervalNs=" + livenessCheckIntervalNs
                    + " must be in [1 ms, 1 s]");
            }
            if (attachTimeoutNs < TimeUnit.MILLISECONDS.toNanos(1)) {
                throw new IllegalArgumentException("attachTimeoutNs=" + attachTimeoutNs + " must be >= 1 ms");
            }
            if (closeLingerNs < 0 || closeLingerNs > TimeUnit.SECONDS.toNanos(60)) {
                throw new IllegalArgumentException("closeLingerNs=" + closeLingerNs + " must be in [0, 60 s]");
            }
            return new PosixMqOptions(this);
        }
    }
}
