/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * What travels on the two queues of a {@link PosixMqBlobChannel}, and how data is told from control.
 *
 * <h2>Queues</h2>
 * A channel whose base name is {@code prefix.app.pid.kind.id} uses two queues, created by the process
 * {@code pid}:
 * <pre>
 *   /prefix.app.pid.mq.id-down    creator → opener
 *   /prefix.app.pid.mq.id-up      opener  → creator
 * </pre>
 * Both have the same capacity ({@code mq_maxmsg}) and message size ({@code mq_msgsize}), chosen by the
 * creator; the opener reads them with {@code mq_getattr}.
 *
 * <h2>Messages, told apart by priority</h2>
 * The kernel keeps each message's boundary and hands out the highest priority first, in order within a
 * priority. Every blob is one message at {@link #PRIORITY_DATA}, carried byte for byte (0 to
 * {@code mq_msgsize} bytes, no header). Control messages use the other priorities and only those, so
 * no blob can ever be taken for control, whatever its bytes:
 * <pre>
 *   priority 2  HELLO  the first message on each queue: the sender's identity; overtakes any data
 *   priority 1  DATA   a blob
 *   priority 0  CLOSE  the sender closed; delivered after every blob it queued before
 * </pre>
 * A message at any other priority, or a control message that does not match the layout below, is
 * corrupt.
 *
 * <h2>Control message (24 bytes, native byte order: both ends share one host)</h2>
 * <pre>
 *   0   +-------------------------------+---------------+---------------+
 *       | magic "IMQC" (4)              | version (2)   | type (2)      |
 *   8   +-------------------------------+---------------+---------------+
 *       | sender pid (8)                                                |
 *  16   +---------------------------------------------------------------+
 *       | sender start time, clock ticks after boot (8)                 |
 *  24   +---------------------------------------------------------------+
 * </pre>
 * With the pid, the start time identifies the sender's process for liveness checks even after the pid
 * is reused (see {@link dev.isthmus.shm.ProcessIdentity}).
 *
 * <h2>Closing without room</h2>
 * A CLOSE needs a free slot. Whether or not it finds one, the closing end also sets the sticky bit
 * ({@link #CLOSED_MODE_BIT}, {@code S_ISVTX}) on the mode of both queues, where its owner may change it: a
 * waiting receiver that finds its queue empty and the bit set knows the writer closed after everything it
 * sent, and a waiting sender that finds it set on its full queue knows nobody will read it any more.
 */
public final class PosixMqDescriptor {
    /** Priority of HELLO, the first message on each queue. */
    public static final int PRIORITY_HELLO = 2;
    /** Priority of every data message (blob). */
    public static final int PRIORITY_DATA = 1;
    /** Priority of CLOSE, the last message on a queue. */
    public static final int PRIORITY_CLOSE = 0;

    /** "IMQC" read as a little-endian int. */
    public static final int MAGIC = 0x43514d49;
    /** The control format this library writes and reads. */
    public static final short VERSION = 1;
    /** Type of a HELLO message. */
    public static final short TYPE_HELLO = 1;
    /** Type of a CLOSE message. */
    public static final short TYPE_CLOSE = 2;

    /** The layout of a control message. */
    public static final StructLayout CONTROL = MemoryLayout.structLayout(
        JAVA_INT.withName("magic"),
        JAVA_SHORT.withName("version"),
        JAVA_SHORT.withName("type"),
        JAVA_LONG.withName("pid"),
        JAVA_LONG.withName("startTime")).withName("control");

    /** Offset of the magic, an int. */
    public static final long MAGIC_OFFSET = offset("magic");
    /** Offset of the version, a short. */
    public static final long VERSION_OFFSET = offset("version");
    /** Offset of the type, a short. */
    public static final long TYPE_OFFSET = offset("type");
    /** Offset of the sender's pid, a long. */
    public static final long PID_OFFSET = offset("pid");
    /** Offset of the sender's start time, a long. */
    public static final long START_TIME_OFFSET = offset("startTime");
    /** The length of every control message, and the smallest {@code mq_msgsize} a channel uses. */
    public static final int CONTROL_LENGTH = (int) CONTROL.byteSize();

    /** The mode bit ({@code S_ISVTX}) an end sets on both queues when it closes. */
    public static final int CLOSED_MODE_BIT = 01000;

    /** The kind of every queue's {@link dev.isthmus.shm.ResourceName}. */
    public static final String KIND = "mq";
    /** Suffix of the id of the opener → creator queue. */
    public static final String UP_SUFFIX = "-up";
    /** Suffix of the id of the creator → opener queue. */
    public static final String DOWN_SUFFIX = "-down";

    private PosixMqDescriptor() {
    }

    private static long offset(final String field) {
        return CONTROL.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }
}
