/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

import java.time.Duration;
import java.util.Objects;
import java.util.UUID;
import java.util.function.Consumer;

/**
 * How a {@link StructuredChannel} runs. Immutable; build with {@link #builder()}.
 *
 * <p>Defaults: a driver thread of the channel's own, no session token (all zeros), payloads up to 4 GiB
 * of which at most 16 MiB is allocated before it has arrived, at most 1,024 messages and 64 MiB of payload
 * waiting for a handler of their type, sends that wait up to 30 s for room, failures reported to no one but
 * the calls they fail.
 */
public final class StructuredChannelOptions {
    private static final StructuredChannelOptions DEFAULTS = builder().build();

    private final boolean driverThread;
    private final UUID token;
    private final long maxPayloadBytes;
    private final long upFrontBytes;
    private final boolean reuseReceiveBuffer;
    private final int maxUnhandledMessages;
    private final long maxUnhandledBytes;
    private final Duration sendTimeout;
    private final Consumer<Throwable> errorHandler;
    private final String name;
    private final int driverCpu;

    private StructuredChannelOptions(final Builder builder) {
        this.driverThread = builder.driverThread;
        this.token = builder.token;
        this.maxPayloadBytes = builder.maxPayloadBytes;
        this.upFrontBytes = builder.upFrontBytes;
        this.reuseReceiveBuffer = builder.reuseReceiveBuffer;
        this.maxUnhandledMessages = builder.maxUnhandledMessages;
        this.maxUnhandledBytes = builder.maxUnhandledBytes;
        this.sendTimeout = builder.sendTimeout;
        this.errorHandler = builder.errorHandler;
        this.name = builder.name;
        this.driverCpu = builder.driverCpu;
    }

    /**
     * {@return the defaults}
     */
    public static StructuredChannelOptions defaults() {
        return DEFAULTS;
    }

    /**
     * {@return a builder starting from the defaults}
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * {@return whether the channel runs a platform thread that receives and runs handlers; if not, the
     * caller drives it with {@link StructuredChannel#poll(int)}, and blocking requests drive it themselves}
     */
    public boolean driverThread() {
        return driverThread;
    }

    /**
     * {@return the session token carried by, and required of, every message}
     */
    public UUID token() {
        return token;
    }

    /**
     * {@return the largest payload accepted from the peer}
     */
    public long maxPayloadBytes() {
        return maxPayloadBytes;
    }

    /**
     * {@return the most bytes allocated for a payload that arrives in parts before those parts have
     * arrived: a larger payload's buffer grows (doubling) as its bytes come, so a peer that declares a
     * large payload and sends little costs little}
     */
    public long upFrontBytes() {
        return upFrontBytes;
    }

    /**
     * {@return whether the buffer a payload that arrived in parts was reassembled in is used again for the
     * next such payload, once the message read from it is closed (codecs that read in place, like Cap'n
     * Proto's heap backing, support it): a stream of large messages then allocates nothing per message, at
     * the price of keeping the largest recent buffer. Off by default}
     */
    public boolean reuseReceiveBuffer() {
        return reuseReceiveBuffer;
    }

    /**
     * {@return the most received requests and notifications kept waiting for a handler of their type (one
     * that arrives before {@link StructuredChannel#onMessage} registers it): one more fails the channel with a
     * {@link dev.isthmus.CorruptDataException}, so that a peer cannot fill this process's memory, or keep its
     * shared memory lent, with messages no one handles. 0 keeps none: every message must find its handler}
     */
    public int maxUnhandledMessages() {
        return maxUnhandledMessages;
    }

    /**
     * {@return the most payload bytes, summed over the messages kept waiting for a handler of their type,
     * beyond which one more fails the channel like {@link #maxUnhandledMessages()}. A message counts its
     * payload's length: the serialized message for a heap codec, only the handles for a zero-copy one
     * (whose blocks {@link #maxUnhandledMessages()} bounds)}
     */
    public long maxUnhandledBytes() {
        return maxUnhandledBytes;
    }

    /**
     * {@return how long a send waits for room in the channel before failing}
     */
    public Duration sendTimeout() {
        return sendTimeout;
    }

    /**
     * {@return what is told, once, that the channel failed, and of handler exceptions}
     */
    public Consumer<Throwable> errorHandler() {
        return errorHandler;
    }

    /**
     * {@return the channel's name, for its thread and its messages}
     */
    public String name() {
        return name;
    }

    /**
     * {@return which allowed CPU the driver thread pins itself to (see
     * {@link dev.isthmus.sync.ThreadAffinity#pinToAllowed}), or -1 for none}
     */
    public int driverCpu() {
        return driverCpu;
    }

    /** Builds {@link StructuredChannelOptions}. */
    public static final class Builder {
        private boolean driverThread = true;
        private UUID token = new UUID(0, 0);
        private long maxPayloadBytes = 4L << 30;
        private long upFrontBytes = 16L << 20;
        private boolean reuseReceiveBuffer;
        private int maxUnhandledMessages = 1024;
        private long maxUnhandledBytes = 64L << 20;
        private Duration sendTimeout = Duration.ofSeconds(30);
        private Consumer<Throwable> errorHandler = error -> { };
        private String name = "structured-channel";
        private int driverCpu = -1;

        private Builder() {
        }

        /**
         * Sets whether the channel runs its own driver thread.
         *
         * @param driverThread whether to
         * @return this builder
         */
        public Builder driverThread(final boolean driverThread) {
            this.driverThread = driverThread;
            return this;
        }

        /**
         * Sets the session token.
         *
         * @param token the token
         * @return this builder
         */
        public Builder token(final UUID token) {
            this.token = Objects.requireNonNull(token, "token");
            return this;
        }

        /**
         * Sets the largest payload accepted from the peer.
         *
         * @param bytes at least 1
         * @return this builder
         */
        public Builder maxPayloadBytes(final long bytes) {
            if (bytes < 1) {
                throw new IllegalArgumentException("maxPayloadBytes=" + bytes + " must be >= 1");
            }
            this.maxPayloadBytes = bytes;
            return this;
        }

        /**
         * Sets the most bytes allocated for a payload before its parts have arrived; see
         * {@link StructuredChannelOptions#upFrontBytes()}.
         *
         * @param bytes at least 1
         * @return this builder
         */
        public Builder upFrontBytes(final long bytes) {
            if (bytes < 1) {
                throw new IllegalArgumentException("upFrontBytes=" + bytes + " must be >= 1");
            }
            this.upFrontBytes = bytes;
            return this;
        }

        /**
         * Sets whether a reassembly buffer is used again once the message read from it is closed; see
         * {@link StructuredChannelOptions#reuseReceiveBuffer()}.
         *
         * @param reuse whether to reuse it
         * @return this builder
         */
        public Builder reuseReceiveBuffer(final boolean reuse) {
            this.reuseReceiveBuffer = reuse;
            return this;
        }

        /**
         * Sets the most messages kept waiting for a handler of their type; see
         * {@link StructuredChannelOptions#maxUnhandledMessages()}.
         *
         * @param messages at least 0
         * @return this builder
         * @throws IllegalArgumentException if {@code messages} is negative
         */
        public Builder maxUnhandledMessages(final int messages) {
            if (messages < 0) {
                throw new IllegalArgumentException("maxUnhandledMessages=" + messages + " must be >= 0");
            }
            this.maxUnhandledMessages = messages;
            return this;
        }

        /**
         * Sets the most payload bytes kept waiting for a handler of their type; see
         * {@link StructuredChannelOptions#maxUnhandledBytes()}.
         *
         * @param bytes at least 0
         * @return this builder
         * @throws IllegalArgumentException if {@code bytes} is negative
         */
        public Builder maxUnhandledBytes(final long bytes) {
            if (bytes < 0) {
                throw new IllegalArgumentException("maxUnhandledBytes=" + bytes + " must be >= 0");
            }
            this.maxUnhandledBytes = bytes;
            return this;
        }

        /**
         * Sets how long a send waits for room.
         *
         * @param timeout a positive duration
         * @return this builder
         */
        public Builder sendTimeout(final Duration timeout) {
            this.sendTimeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /**
         * Sets what is told that the channel failed (once), and of handler exceptions.
         *
         * @param handler the handler
         * @return this builder
         */
        public Builder errorHandler(final Consumer<Throwable> handler) {
            this.errorHandler = Objects.requireNonNull(handler, "handler");
            return this;
        }

        /**
         * Sets the channel's name.
         *
         * @param name a short name
         * @return this builder
         */
        public Builder name(final String name) {
            this.name = Objects.requireNonNull(name, "name");
            return this;
        }

        /**
         * Pins the driver thread to the {@code index}-th CPU this process may use (when there are at least
         * two), so that it never shares a CPU with the peer's spinning thread pinned to another.
         *
         * @param index an index into the allowed CPUs, or -1 for no pinning
         * @return this builder
         */
        public Builder driverCpu(final int index) {
            this.driverCpu = index;
            return this;
        }

        /**
         * {@return the options}
         */
        public StructuredChannelOptions build() {
            return new StructuredChannelOptions(this);
        }
    }
}
