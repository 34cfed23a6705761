/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.linux;

import dev.isthmus.IsthmusException;

import java.io.IOException;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The effective user and group ids of this process ({@code geteuid}, {@code getegid}, which cannot fail):
 * the ids the kernel reports to the peer of a socket ({@code SO_PEERCRED}) and checks file access with;
 * and its effective capabilities, which decide whether those checks apply at all.
 */
public final class Credentials {
    /** {@code CAP_DAC_OVERRIDE}: file modes do not apply to this process (root has it). */
    public static final int CAP_DAC_OVERRIDE = 1;
    /** {@code CAP_SYS_RESOURCE}: resource limits (such as POSIX MQ sizes) may be exceeded. */
    public static final int CAP_SYS_RESOURCE = 24;

    private static final MethodHandle GETEUID = Native.optionalDowncallWithoutErrno("geteuid", JAVA_INT).orElseThrow();
    private static final MethodHandle GETEGID = Native.optionalDowncallWithoutErrno("getegid", JAVA_INT).orElseThrow();

    private Credentials() {
    }

    /**
     * {@return the effective user id of this process}
     */
    public static int effectiveUid() {
        try {
            return (int) GETEUID.invokeExact();
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * {@return the effective group id of this process}
     */
    public static int effectiveGid() {
        try {
            return (int) GETEGID.invokeExact();
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Reads whether this process holds a capability in its effective set ({@code CapEff} in
     * {@code /proc/self/status}). Being root is not the test: root without the capability (in a
     * container, say) is refused like anyone, and an unprivileged process may have been given it.
     *
     * @param capability the capability's number, e.g. {@link #CAP_DAC_OVERRIDE}
     * @return {@code true} if the capability is in effect for this process now
     * @throws IsthmusException if {@code /proc/self/status} cannot be read or has no {@code CapEff} line
     */
    public static boolean hasEffectiveCapability(final int capability) {
        if (capability < 0 || capability > 63) {
            throw new IllegalArgumentException("capability=" + capability);
        }
        final Path file = Path.of("/proc/self/status");
        try {
            for (final String line : Files.readAllLines(file, StandardCharsets.US_ASCII)) {
                if (line.startsWith("CapEff:")) {
                    final long effective = Long.parseUnsignedLong(line.substring("CapEff:".length()).trim(), 16);
                    return (effective >>> capability & 1) != 0;
                }
            }
            throw new IsthmusException(file + " has no CapEff line");
        } catch (final IOException | NumberFormatException e) {
            throw new IsthmusException("cannot read the capabilities from " + file + ": " + e.getMessage(), e);
        }
    }
}
