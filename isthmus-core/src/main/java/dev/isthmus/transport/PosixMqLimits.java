/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.IsthmusException;
import dev.isthmus.NativeException;
import dev.isthmus.internal.linux.Credentials;
import dev.isthmus.internal.linux.Errno;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * The kernel's limits on POSIX message queues, as this process sees them (they belong to its IPC
 * namespace and its user).
 *
 * <p>Linux refuses, without a word beyond {@code EINVAL} or {@code EMFILE}, a queue that exceeds them:
 * <ul>
 *   <li>{@code /proc/sys/fs/mqueue/msg_max} (default 10): the most messages a queue may hold;</li>
 *   <li>{@code /proc/sys/fs/mqueue/msgsize_max} (default 8192): the largest message;</li>
 *   <li>{@code /proc/sys/fs/mqueue/queues_max} (default 256): the queues of the whole system;</li>
 *   <li>{@code RLIMIT_MSGQUEUE} ({@code ulimit -q}, default 819200 bytes): the memory all queues of one
 *       user may take, each counted at {@link #accountedBytes} whether it holds messages or not; with the
 *       defaults that is nine queues of 10 × 8 KiB per user, or four {@link PosixMqBlobChannel}s.</li>
 * </ul>
 * A process with {@code CAP_SYS_RESOURCE} may exceed {@code msg_max} and {@code msgsize_max} up to the
 * hard ceilings {@value #HARD_MSG_MAX} messages and {@value #HARD_MSGSIZE_MAX} bytes, and the
 * {@code queues_max} limit; being root is not enough without that capability (containers usually drop it).
 * {@link #checkQueue} and the channel's factories turn each of these refusals into an
 * {@link IsthmusException} that names the value asked for, the limit, where the limit comes from, and
 * how to lift it.
 *
 * @param msgMax              {@code /proc/sys/fs/mqueue/msg_max}
 * @param msgsizeMax          {@code /proc/sys/fs/mqueue/msgsize_max}
 * @param queuesMax           {@code /proc/sys/fs/mqueue/queues_max}
 * @param rlimitMsgqueueBytes the soft {@code RLIMIT_MSGQUEUE} of this process, or {@link #UNLIMITED}
 * @param capSysResource      whether this process has the effective capability {@code CAP_SYS_RESOURCE}
 */
public record PosixMqLimits(long msgMax, long msgsizeMax, long queuesMax, long rlimitMsgqueueBytes,
                            boolean capSysResource) {
    /** Where the kernel publishes the limits. */
    public static final Path PROC_DIRECTORY = Path.of("/proc/sys/fs/mqueue");
    /** The ceiling on messages per queue even with {@code CAP_SYS_RESOURCE} ({@code HARD_MSGMAX}). */
    public static final long HARD_MSG_MAX = 65_536;
    /** The ceiling on the message size even with {@code CAP_SYS_RESOURCE} ({@code HARD_MSGSIZEMAX}). */
    public static final long HARD_MSGSIZE_MAX = 16L * 1024 * 1024;
    /** {@link #rlimitMsgqueueBytes()} when there is no limit. */
    public static final long UNLIMITED = Long.MAX_VALUE;

    /** {@code sizeof(struct msg_msg)}, counted once per message slot. */
    private static final long MSG_MSG_BYTES = 48;
    /** {@code sizeof(struct posix_msg_tree_node)}, counted once per possible priority in use. */
    private static final long TREE_NODE_BYTES = 48;
    private static final long MQ_PRIO_MAX = 32_768;

    /**
     * Reads the limits now (they can change at any time: a sysctl, {@code prlimit}).
     *
     * @return the limits
     * @throws IsthmusException if this kernel has no POSIX message queues ({@code /proc/sys/fs/mqueue}
     *                          is missing) or the files cannot be read
     */
    public static PosixMqLimits current() {
        return new PosixMqLimits(readSysctl("msg_max"), readSysctl("msgsize_max"), readSysctl("queues_max"),
            readRlimitMsgqueue(), Credentials.hasEffectiveCapability(Credentials.CAP_SYS_RESOURCE));
    }

    /**
     * {@return the most messages this process may ask a queue to hold: {@link #msgMax()}, or
     * {@link #HARD_MSG_MAX} with {@code CAP_SYS_RESOURCE}}
     */
    public long allowedMaxMessages() {
        return capSysResource ? HARD_MSG_MAX : msgMax;
    }

    /**
     * {@return the largest message size this process may ask for: {@link #msgsizeMax()}, or
     * {@link #HARD_MSGSIZE_MAX} with {@code CAP_SYS_RESOURCE}}
     */
    public long allowedMessageSize() {
        return capSysResource ? HARD_MSGSIZE_MAX : msgsizeMax;
    }

    /**
     * {@return the bytes a queue counts against {@code RLIMIT_MSGQUEUE} from its creation on, whether it
     * holds messages or not, as Linux (3.5 and later) accounts them on 64-bit machines}
     *
     * @param maxMessages the queue's capacity in messages
     * @param messageSize the queue's largest message
     */
    public static long accountedBytes(final long maxMessages, final long messageSize) {
        return maxMessages * messageSize + maxMessages * MSG_MSG_BYTES
            + Math.min(maxMessages, MQ_PRIO_MAX) * TREE_NODE_BYTES;
    }

    /**
     * Checks that a queue of this shape may be created, before asking the kernel.
     *
     * @param maxMessages the capacity in messages asked for
     * @param messageSize the largest message asked for, in bytes
     * @throws IllegalArgumentException if a value is less than 1
     * @throws IsthmusException         naming the value asked for, the limit and its source, and how to lift
     *                                  it, if the kernel would refuse the queue
     */
    public void checkQueue(final long maxMessages, final long messageSize) {
        if (maxMessages < 1) {
            throw new IllegalArgumentException("maxMessages=" + maxMessages + " must be >= 1");
        }
        if (messageSize < 1) {
            throw new IllegalArgumentException("messageSize=" + messageSize + " must be >= 1");
        }
        if (maxMessages > allowedMaxMessages()) {
            throw new IsthmusException(tooMany(maxMessages));
        }
        if (messageSize > allowedMessageSize()) {
            throw new IsthmusException(tooBig(messageSize));
        }
    }

    private String tooMany(final long maxMessages) {
        if (capSysResource) {
            return "POSIX message queue of maxMessages=" + maxMessages + " exceeds the kernel's hard ceiling of "
                + HARD_MSG_MAX + " messages, which even CAP_SYS_RESOURCE cannot lift";
        }
        return "POSIX message queue of maxMessages=" + maxMessages + " exceeds the kernel's limit msg_max="
            + msgMax + " (" + PROC_DIRECTORY.resolve("msg_max") + "); ask for at most " + msgMax
            + " messages, or lift the limit: raise the sysctl (sysctl -w fs.mqueue.msg_max=" + maxMessages
            + ", as root on the host) or run with CAP_SYS_RESOURCE (up to " + HARD_MSG_MAX
            + "; being root is not enough without that capability)";
    }

    private String tooBig(final long messageSize) {
        if (capSysResource) {
            return "POSIX message queue of messageSize=" + messageSize + " bytes exceeds the kernel's hard ceiling of "
                + HARD_MSGSIZE_MAX + " bytes, which even CAP_SYS_RESOURCE cannot lift";
        }
        return "POSIX message queue of messageSize=" + messageSize + " bytes exceeds the kernel's limit msgsize_max="
            + msgsizeMax + " (" + PROC_DIRECTORY.resolve("msgsize_max") + "); ask for at most " + msgsizeMax
            + " bytes, or lift the limit: raise the sysctl (sysctl -w fs.mqueue.msgsize_max=" + messageSize
            + ", as root on the host) or run with CAP_SYS_RESOURCE (up to " + HARD_MSGSIZE_MAX
            + " bytes; being root is not enough without that capability)";
    }

    /**
     * Words a refusal of {@code mq_open(O_CREAT)} that {@link #checkQueue} could not foresee (the limits
     * changed since, or the per-user memory or system-wide count ran out).
     *
     * @param errno       what {@code mq_open} set
     * @param queue       the queue's name
     * @param maxMessages the capacity asked for
     * @param messageSize the message size asked for
     * @return the exception to throw, with a {@link NativeException} as its cause
     */
    IsthmusException createFailure(final int errno, final String queue, final long maxMessages,
                                   final long messageSize) {
        final NativeException cause = Errno.exception("mq_open(" + queue + ", O_CREAT|O_EXCL)", errno);
        final String asked = "POSIX message queue " + queue + " of " + maxMessages + " messages × " + messageSize
            + " bytes";
        final String message = switch (errno) {
            case Errno.EINVAL -> asked + " was refused (EINVAL): the kernel's limits are msg_max=" + msgMax + " ("
                + PROC_DIRECTORY.resolve("msg_max") + ") and msgsize_max=" + msgsizeMax + " ("
                + PROC_DIRECTORY.resolve("msgsize_max") + ")" + (capSysResource ? ", or " + HARD_MSG_MAX + " and "
                + HARD_MSGSIZE_MAX + " with CAP_SYS_RESOURCE" : "; CAP_SYS_RESOURCE or raising the sysctls lifts them");
            case Errno.EMFILE -> asked + " was refused (EMFILE): it counts " + accountedBytes(maxMessages, messageSize)
                + " bytes against this user's limit on message-queue memory, RLIMIT_MSGQUEUE="
                + (rlimitMsgqueueBytes == UNLIMITED ? "unlimited" : rlimitMsgqueueBytes + " bytes")
                + " (ulimit -q; /proc/self/limits), shared by every queue this user has open; close other channels,"
                + " ask for fewer or smaller messages, or raise the limit (CAP_SYS_RESOURCE lifts it)."
                + " Or this process has run out of file descriptors (ulimit -n)";
            case Errno.ENOSPC -> asked + " was refused (ENOSPC): the system already has queues_max=" + queuesMax
                + " queues (" + PROC_DIRECTORY.resolve("queues_max") + "); remove stale ones (isthmus clean, with"
                + " /dev/mqueue mounted), or lift the limit: raise the sysctl or run with CAP_SYS_RESOURCE";
            case Errno.EEXIST -> asked + " already exists: the name is in use";
            default -> asked + " could not be created: " + cause.getMessage();
        };
        return new IsthmusException(message, cause);
    }

    private static long readSysctl(final String name) {
        final Path file = PROC_DIRECTORY.resolve(name);
        try {
            return Long.parseLong(readSysctlFile(file));
        } catch (final NoSuchFileException e) {
            throw new IsthmusException("POSIX message queues are not available: " + file
                + " is missing (a kernel built without CONFIG_POSIX_MQUEUE?)", e);
        } catch (final IOException | NumberFormatException e) {
            throw new IsthmusException("cannot read the POSIX message-queue limit " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Reads a sysctl file in one {@code read}: the kernel answers a read at a non-zero offset of a numeric
     * sysctl with end-of-file, so a reader that probes with one byte first (as
     * {@link Files#readString} does for files of size 0) gets only that byte.
     */
    private static String readSysctlFile(final Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            final byte[] buffer = new byte[64];
            final int length = in.read(buffer);
            return new String(buffer, 0, Math.max(length, 0), StandardCharsets.US_ASCII).trim();
        }
    }

    private static long readRlimitMsgqueue() {
        final Path file = Path.of("/proc/self/limits");
        try {
            for (final String line : Files.readAllLines(file, StandardCharsets.US_ASCII)) {
                if (line.startsWith("Max msgqueue size")) {
                    final String soft = line.substring("Max msgqueue size".length()).trim().split("\\s+")[0];
                    return "unlimited".equals(soft) ? UNLIMITED : Long.parseLong(soft);
                }
            }
            return UNLIMITED;
        } catch (final IOException | NumberFormatException e) {
            throw new IsthmusException("cannot read RLIMIT_MSGQUEUE from " + file + ": " + e.getMessage(), e);
        }
    }
}
