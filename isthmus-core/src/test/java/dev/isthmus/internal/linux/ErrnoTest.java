/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.linux;

import dev.isthmus.NativeException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ErrnoTest {
    @Test
    void shouldNameTheCallTheErrnoAndItsDescription() {
        final NativeException e = assertThrows(NativeException.class,
            () -> FileIo.open("/dev/null/child", FileIo.O_RDONLY, 0));
        assertEquals(Errno.ENOTDIR, e.errno());
        assertEquals("open(/dev/null/child)", e.call());
        assertEquals("open(/dev/null/child) failed: ENOTDIR (20, Not a directory)", e.getMessage());
    }

    @Test
    void shouldReturnExpectedErrnosAsResults() {
        assertEquals(-Errno.ENOENT, FileIo.open("/proc/self/no-such-file", FileIo.O_RDONLY, 0));
    }

    @Test
    void shouldNameUnknownErrnos() {
        assertEquals("errno 4095", Errno.name(4095));
        assertEquals("EAGAIN", Errno.name(Errno.EAGAIN));
    }

    @Test
    void shouldReportTheSupportedArchitecture() {
        final Platform.Arch arch = Platform.arch();
        assertEquals(System.getProperty("os.arch").equals("aarch64") ? Platform.Arch.AARCH64 : Platform.Arch.X86_64, arch);
    }
}
