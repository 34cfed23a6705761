/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.shm.RunDirectory;

import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * How a Unix-socket channel frames, buffers and closes, and where and how its server's socket file is
 * created. Immutable; build with {@link #builder()}.
 *
 * <p>Defaults: messages up to 1 MiB, the kernel's socket buffer sizes, {@link PermissionLevel#USER_ACCESS},
 * the {@linkplain RunDirectory run directory}, a backlog of 64 pending connections, and up to 1 s in
 * {@link UnixSocketBlobChannel#close()} to hand over what is still pending.
 */
public final class UnixSocketOptions {
    private static final UnixSocketOptions DEFAULTS = builder().build();

    private final int maxMessageLengthBytes;
    private final int socketSendBufferBytes;
    private final int socketReceiveBufferBytes;
    private final PermissionLevel permissions;
    private final Path directory;
    private final int backlog;
    private final long closeTimeoutNs;

    private UnixSocketOptions(final Builder builder) {
        this.maxMessageLengthBytes = builder.maxMessageLengthBytes;
        this.socketSendBufferBytes = builder.socketSendBufferBytes;
        this.socketReceiveBufferBytes = builder.socketReceiveBufferBytes;
        this.permissions = builder.permissions;
        this.directory = builder.directory;
        this.backlog = builder.backlog;
        this.closeTimeoutNs = builder.closeTimeoutNs;
    }

    /**
     * {@return the default options}
     */
    public static UnixSocketOptions defaults() {
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
        final Builder builder = new Builder()
            .maxMessageLengthBytes(maxMessageLengthBytes)
            .socketSendBufferBytes(socketSendBufferBytes)
            .socketReceiveBufferBytes(socketReceiveBufferBytes)
            .permissions(permissions)
            .backlog(backlog)
            .closeTimeoutNs(closeTimeoutNs);
        builder.directory = directory;
        return builder;
    }

    /**
     * {@return the largest blob, in bytes; both ends must agree, since the receiver rejects longer frames}
     */
    public int maxMessageLengthBytes() {
        return maxMessageLengthBytes;
    }

    /**
     * {@return the requested kernel send buffer ({@code SO_SNDBUF}) in bytes, or 0 for the kernel's default}
     */
    public int socketSendBufferBytes() {
        return socketSendBufferBytes;
    }

    /**
     * {@return the requested kernel receive buffer ({@code SO_RCVBUF}) in bytes, or 0 for the kernel's default}
     */
    public int socketReceiveBufferBytes() {
        return socketReceiveBufferBytes;
    }

    /**
     * {@return who may connect to a server's socket file: its mode is set exactly to this level's}
     */
    public PermissionLevel permissions() {
        return permissions;
    }

    /**
     * {@return where a server creates its socket file; empty for the {@linkplain RunDirectory run directory}}
     */
    public Optional<Path> directory() {
        return Optional.ofNullable(directory);
    }

    /**
     * {@return how many connections may wait for {@link UnixSocketServer#accept}}
     */
    public int backlog() {
        return backlog;
    }

    /**
     * {@return how long {@link UnixSocketBlobChannel#close()} waits for the peer to take pending output and
     * the close frame}
     */
    public long closeTimeoutNs() {
        return closeTimeoutNs;
    }

    /** Builds {@link UnixSocketOptions}. */
    public static final class Builder {
        private int maxMessageLengthBytes = 1024 * 1024;
        private int socketSendBufferBytes;
        private int socketReceiveBufferBytes;
        private PermissionLevel permissions = PermissionLevel.USER_ACCESS;
        private Path directory;
        private int backlog = 64;
        private long closeTimeoutNs = TimeUnit.SECONDS.toNanos(1);

        private Builder() {
        }

        /**
         * Sets the largest blob. Each channel holds two native buffers of about this size (staging and
         * receiving).
         *
         * @param bytes 0 to 1 GiB
         * @return this builder
         */
        public Builder maxMessageLengthBytes(final int bytes) {
            this.maxMessageLengthBytes = bytes;
            return this;
        }

        /**
         * Sets the kernel send buffer ({@code SO_SNDBUF}); the kernel doubles it and caps it at
         * {@code net.core.wmem_max}.
         *
         * @param bytes at least 0; 0 keeps the kernel's default
         * @return this builder
         */
        public Builder socketSendBufferBytes(final int bytes) {
            this.socketSendBufferBytes = bytes;
            return this;
        }

        /**
         * Sets the kernel receive buffer ({@code SO_RCVBUF}).
         *
         * @param bytes at least 0; 0 keeps the kernel's default
         * @return this builder
         */
        public Builder socketReceiveBufferBytes(final int bytes) {
            this.socketReceiveBufferBytes = bytes;
            return this;
        }

        /**
         * Sets who may connect to a server's socket file.
         *
         * @param permissions the level
         * @return this builder
         */
        public Builder permissions(final PermissionLevel permissions) {
            this.permissions = Objects.requireNonNull(permissions, "permissions");
            return this;
        }

        /**
         * Sets where a server creates its socket file, instead of the run directory. The directory is
         * created if missing and must belong to this process's user, as the run directory must.
         *
         * @param directory the directory
         * @return this builder
         */
        public Builder directory(final Path directory) {
            this.directory = Objects.requireNonNull(directory, "directory");
            return this;
        }

        /**
         * Sets how many connections may wait for {@link UnixSocketServer#accept}.
         *
         * @param backlog at least 1
         * @return this builder
         */
        public Builder backlog(final int backlog) {
            this.backlog = backlog;
            return this;
        }

        /**
         * Sets how long {@link UnixSocketBlobChannel#close()} waits for the peer to take pending output and
         * the close frame; if the peer does not read within it, the close goes ahead and the peer sees the
         * connection end without a close frame.
         *
         * @param timeoutNs 0 to 60 s
         * @return this builder
         */
        public Builder closeTimeoutNs(final long timeoutNs) {
            this.closeTimeoutNs = timeoutNs;
            return this;
        }

        /**
         * {@return the options}
         *
         * @throws IllegalArgumentException naming the first value out of range
         */
        public UnixSocketOptions build() {
            if (maxMessageLengthBytes < 0 || maxMessageLengthBytes > SocketFrameDescriptor.MAX_MESSAGE_LENGTH) {
                throw new IllegalArgumentException("maxMessageLengthBytes=" + maxMessageLengthBytes + " must be in [0, "
                    + SocketFrameDescriptor.MAX_MESSAGE_LENGTH + "]");
            }
            if (socketSendBufferBytes < 0) {
                throw new IllegalArgumentException("socketSendBufferBytes=" + socketSendBufferBytes + " must be >= 0");
            }
            if (socketReceiveBufferBytes < 0) {
                throw new IllegalArgumentException("socketReceiveBufferBytes=" + socketReceiveBufferBytes + " must be >= 0");
            }
            if (backlog < 1) {
                throw new IllegalArgumentException("backlog=" + backlog + " must be >= 1");
            }
            if (closeTimeoutNs < 0 || closeTimeoutNs > TimeUnit.SECONDS.toNanos(60)) {
                throw new IllegalArgumentException("closeTimeoutNs=" + closeTimeoutNs + " must be in [0, 60 s]");
            }
            return new UnixSocketOptions(this);
        }
    }
}
