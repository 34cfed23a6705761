/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import java.util.regex.Pattern;

/** Validation shared by the app builders. */
final class AppBuilderSupport {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{1,48}");

    private AppBuilderSupport() {
    }

    static String checkName(final String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("name=" + (name == null ? "null" : '"' + name + '"') + " must match "
                + NAME.pattern());
        }
        return name;
    }

    static int currentUid() {
        return dev.isthmus.internal.linux.Credentials.effectiveUid();
    }

    static int currentGid() {
        return dev.isthmus.internal.linux.Credentials.effectiveGid();
    }
}
