/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.test;

import dev.isthmus.internal.linux.Credentials;

/**
 * What this test JVM may do that an ordinary user's may not: tests use it to choose what to show (a
 * refusal without the privilege, the full behaviour with it) and {@link RootOnly} to skip, saying why.
 */
public final class Privileges {
    private Privileges() {
    }

    /** {@return whether this process runs as root (effective uid 0)} */
    public static boolean isRoot() {
        return Credentials.effectiveUid() == 0;
    }

    /**
     * {@return whether file modes do not apply to this process ({@code CAP_DAC_OVERRIDE}): then even a
     * mode-{@code 0000} socket or segment opens for it}
     */
    public static boolean overridesFileModes() {
        return Credentials.hasEffectiveCapability(Credentials.CAP_DAC_OVERRIDE);
    }
}
