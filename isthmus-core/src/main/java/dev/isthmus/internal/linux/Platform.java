/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.linux;

import java.util.Locale;

/**
 * The operating system and architecture this JVM runs on, and the system-call numbers for it.
 *
 * <p>Isthmus supports Linux on x86-64 and aarch64. On anything else {@link #requireSupported()} throws
 * an {@link UnsupportedOperationException} that says so, before any native call is attempted.
 */
public final class Platform {
    /** The supported architectures, with the numbers of the system calls Isthmus makes directly. */
    public enum Arch {
        /** x86-64 (amd64): {@code arch/x86/entry/syscalls/syscall_64.tbl}. */
        X86_64(202, 319, 434, 449, 324, 0400000, 0200000),
        /** aarch64 (arm64): the generic table, {@code include/uapi/asm-generic/unistd.h}. */
        AARCH64(98, 279, 434, 449, 283, 0100000, 040000);

        /** {@code futex(2)}. */
        public final long sysFutex;
        /** {@code memfd_create(2)}. */
        public final long sysMemfdCreate;
        /** {@code pidfd_open(2)}. */
        public final long sysPidfdOpen;
        /** {@code futex_waitv(2)}. */
        public final long sysFutexWaitv;
        /** {@code membarrier(2)}. */
        public final long sysMembarrier;
        /** The {@code O_NOFOLLOW} flag of {@code open(2)}, which differs between architectures. */
        public final int oNoFollow;
        /** The {@code O_DIRECTORY} flag of {@code open(2)}, which differs between architectures. */
        public final int oDirectory;

        Arch(final long sysFutex, final long sysMemfdCreate, final long sysPidfdOpen, final long sysFutexWaitv,
             final long sysMembarrier, final int oNoFollow, final int oDirectory) {
            this.sysFutex = sysFutex;
            this.sysMemfdCreate = sysMemfdCreate;
            this.sysPidfdOpen = sysPidfdOpen;
            this.sysFutexWaitv = sysFutexWaitv;
            this.sysMembarrier = sysMembarrier;
            this.oNoFollow = oNoFollow;
            this.oDirectory = oDirectory;
        }
    }

    private static final String OS_NAME = System.getProperty("os.name", "unknown");
    private static final String OS_ARCH = System.getProperty("os.arch", "unknown");
    private static final Arch ARCH = detectArch(OS_NAME, OS_ARCH);

    private Platform() {
    }

    /**
     * {@return whether this JVM runs on a platform Isthmus supports}
     */
    public static boolean isSupported() {
        return ARCH != null;
    }

    /**
     * {@return the architecture, after checking that the platform is supported}
     *
     * @throws UnsupportedOperationException if this is not Linux on x86-64 or aarch64
     */
    public static Arch arch() {
        final Arch arch = ARCH;
        if (arch == null) {
            throw unsupported();
        }
        return arch;
    }

    /**
     * Checks that the platform is supported.
     *
     * @throws UnsupportedOperationException if this is not Linux on x86-64 or aarch64
     */
    public static void requireSupported() {
        if (ARCH == null) {
            throw unsupported();
        }
    }

    private static UnsupportedOperationException unsupported() {
        return new UnsupportedOperationException(
            "Isthmus needs Linux on x86-64 or aarch64; this JVM runs on os.name=" + OS_NAME + ", os.arch=" + OS_ARCH);
    }

    private static Arch detectArch(final String osName, final String osArch) {
        if (!osName.toLowerCase(Locale.ROOT).startsWith("linux")) {
            return null;
        }
        return switch (osArch.toLowerCase(Locale.ROOT)) {
            case "amd64", "x86_64" -> Arch.X86_64;
            case "aarch64", "arm64" -> Arch.AARCH64;
            default -> null;
        };
    }
}
