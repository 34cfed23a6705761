/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * Isthmus: inter-process communication between processes on one Linux host, through the Foreign
 * Function and Memory API. Needs {@code --enable-native-access=dev.isthmus.core} (or
 * {@code ALL-UNNAMED} on the class path).
 *
 * <p>Packages, bottom up: {@link dev.isthmus.shm} (named shared-memory segments, sweeping),
 * {@link dev.isthmus.sync} (futex words, idle strategies), {@link dev.isthmus.transport} (blob
 * channels over shared-memory queues, Unix sockets and POSIX message queues). Packages under {@code dev.isthmus.internal}
 * are not exported.
 */
module dev.isthmus.core {
    requires jdk.jfr;

    exports dev.isthmus;
    exports dev.isthmus.arena;
    exports dev.isthmus.data;
    exports dev.isthmus.session;
    exports dev.isthmus.shm;
    exports dev.isthmus.stat;
    exports dev.isthmus.struc;
    exports dev.isthmus.sync;
    exports dev.isthmus.transport;
    // JFR instruments and commits the event classes; nobody else may use them.
    exports dev.isthmus.internal.event to jdk.jfr;
}
