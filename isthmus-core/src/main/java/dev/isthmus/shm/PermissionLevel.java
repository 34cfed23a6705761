/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

/**
 * Who, besides the owner, may use a resource Isthmus creates: shared-memory segments, sockets,
 * message queues, lock and pid files. One level applies to every resource of an application.
 *
 * <p>The modes are set exactly, whatever the process's umask. The kernel checks them when a resource is
 * opened or connected to by name; a process holding {@code CAP_DAC_OVERRIDE} (root, normally) is not
 * checked at all, so for root every level behaves like {@link #UNRESTRICTED}.
 */
public enum PermissionLevel {
    /**
     * Mode {@code 0000}: nobody may open the resource again, not even its owner, unless it holds
     * {@code CAP_DAC_OVERRIDE}. For tests of the permission machinery only, as in Flow-IPC: a session at
     * this level works only between processes that hold that capability (root); any other client is
     * refused at once by the kernel, and {@code ClientSession.connect} reports that as an
     * {@link dev.isthmus.AuthenticationException} naming this level (the pid file, unreadable too, is where
     * it usually stops).
     */
    NO_ACCESS(0),
    /** Mode {@code 0600}: the owner's user only. The default. */
    USER_ACCESS(0600),
    /** Mode {@code 0660}: the owner's user and group. */
    GROUP_ACCESS(0660),
    /** Mode {@code 0666}: everyone. */
    UNRESTRICTED(0666);

    private final int fileMode;

    PermissionLevel(final int fileMode) {
        this.fileMode = fileMode;
    }

    /**
     * {@return the mode of files, segments, sockets and queues at this level, e.g. {@code 0600}}
     */
    public int fileMode() {
        return fileMode;
    }

    /**
     * {@return the mode of a directory at this level: the file mode plus search permission where reading
     * is allowed, e.g. {@code 0700}}
     */
    public int directoryMode() {
        int mode = fileMode;
        for (int shift = 0; shift <= 6; shift += 3) {
            if ((fileMode >> shift & 04) != 0) {
                mode |= 01 << shift;
            }
        }
        return mode;
    }

    /**
     * {@return the mode as {@code ls -l} prints it, e.g. {@code "rw-------"}}
     */
    public String symbolic() {
        return symbolic(fileMode);
    }

    static String symbolic(final int mode) {
        final StringBuilder text = new StringBuilder(9);
        for (int shift = 6; shift >= 0; shift -= 3) {
            text.append((mode >> shift & 4) != 0 ? 'r' : '-')
                .append((mode >> shift & 2) != 0 ? 'w' : '-')
                .append((mode >> shift & 1) != 0 ? 'x' : '-');
        }
        return text.toString();
    }
}
