/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.linux;

import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The effective user and group ids of this process ({@code geteuid}, {@code getegid}, which cannot fail):
 * the ids the kernel reports to the peer of a socket ({@code SO_PEERCRED}) and checks file access with.
 */
public final class Credentials {
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
}
