/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.IsthmusException;
import dev.isthmus.NativeException;
import dev.isthmus.internal.linux.Errno;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PosixMqLimitsTest {
    private static final PosixMqLimits UNPRIVILEGED = new PosixMqLimits(10, 8192, 256, 819_200, false);
    private static final PosixMqLimits PRIVILEGED = new PosixMqLimits(10, 8192, 256, 819_200, true);

    @Test
    void shouldReadTheSameLimitsAsTheKernelPublishes() throws IOException {
        final PosixMqLimits limits = PosixMqLimits.current();
        assertEquals(Long.parseLong(read("msg_max")), limits.msgMax());
        assertEquals(Long.parseLong(read("msgsize_max")), limits.msgsizeMax());
        assertEquals(Long.parseLong(read("queues_max")), limits.queuesMax());
        assertTrue(limits.rlimitMsgqueueBytes() > 0);
    }

    /** Reads a sysctl with one read, as the kernel wants (see PosixMqLimits). */
    private static String read(final String name) throws IOException {
        try (var in = Files.newInputStream(PosixMqLimits.PROC_DIRECTORY.resolve(name))) {
            return new String(in.readNBytes(64), StandardCharsets.US_ASCII).trim();
        }
    }

    @Test
    void shouldAccountQueueMemoryAsTheKernelDoes() {
        // 10 × 8 KiB: 81,920 bytes of messages and 960 of bookkeeping; nine such queues fit in 800 KiB.
        assertEquals(82_880, PosixMqLimits.accountedBytes(10, 8192));
        assertEquals(9, 819_200 / PosixMqLimits.accountedBytes(10, 8192));
    }

    @Test
    void shouldAllowUpToTheSysctlsWithoutCapSysResourceAndUpToTheHardCeilingsWithIt() {
        UNPRIVILEGED.checkQueue(10, 8192);
        assertThrows(IsthmusException.class, () -> UNPRIVILEGED.checkQueue(11, 8192));
        assertThrows(IsthmusException.class, () -> UNPRIVILEGED.checkQueue(10, 8193));
        PRIVILEGED.checkQueue(1000, 1 << 20);
        final IsthmusException ceiling = assertThrows(IsthmusException.class,
            () -> PRIVILEGED.checkQueue(PosixMqLimits.HARD_MSG_MAX + 1, 8192));
        assertTrue(ceiling.getMessage().contains("even CAP_SYS_RESOURCE cannot lift"), ceiling.getMessage());
        assertThrows(IllegalArgumentException.class, () -> UNPRIVILEGED.checkQueue(0, 8192));
        assertThrows(IllegalArgumentException.class, () -> UNPRIVILEGED.checkQueue(10, 0));
    }

    @Test
    void shouldNameTheValueTheLimitItsFileAndTheRemedyWhenRefusingBeforeCreating() {
        final String many = assertThrows(IsthmusException.class, () -> UNPRIVILEGED.checkQueue(11, 8192)).getMessage();
        for (final String part : new String[] {"maxMessages=11", "msg_max=10", "/proc/sys/fs/mqueue/msg_max",
            "CAP_SYS_RESOURCE", "sysctl"}) {
            assertTrue(many.contains(part), part + " missing from: " + many);
        }
        final String big = assertThrows(IsthmusException.class, () -> UNPRIVILEGED.checkQueue(10, 65_536)).getMessage();
        for (final String part : new String[] {"messageSize=65536", "msgsize_max=8192", "/proc/sys/fs/mqueue/msgsize_max",
            "CAP_SYS_RESOURCE", "sysctl"}) {
            assertTrue(big.contains(part), part + " missing from: " + big);
        }
    }

    @Test
    void shouldWordTheKernelsRefusalsOfMqOpen() {
        final IsthmusException invalid = UNPRIVILEGED.createFailure(Errno.EINVAL, "/q", 10, 8192);
        assertTrue(invalid.getMessage().contains("msg_max=10") && invalid.getMessage().contains("msgsize_max=8192")
            && invalid.getMessage().contains("CAP_SYS_RESOURCE"), invalid.getMessage());
        final IsthmusException memory = UNPRIVILEGED.createFailure(Errno.EMFILE, "/q", 10, 8192);
        assertTrue(memory.getMessage().contains("RLIMIT_MSGQUEUE=819200") && memory.getMessage().contains("82880")
            && memory.getMessage().contains("ulimit -q"), memory.getMessage());
        final IsthmusException count = UNPRIVILEGED.createFailure(Errno.ENOSPC, "/q", 10, 8192);
        assertTrue(count.getMessage().contains("queues_max=256") && count.getMessage().contains("/proc/sys/fs/mqueue/queues_max")
            && count.getMessage().contains("CAP_SYS_RESOURCE"), count.getMessage());
        final NativeException cause = assertInstanceOf(NativeException.class, count.getCause());
        assertEquals(Errno.ENOSPC, cause.errno());
        assertTrue(cause.getMessage().contains("mq_open(/q"), cause.getMessage());
    }
}
