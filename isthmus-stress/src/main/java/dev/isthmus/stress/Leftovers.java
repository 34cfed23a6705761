/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.stress;

import dev.isthmus.shm.ResourceName;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Removes the queue files of jcstress JVMs that died before closing them (a fork killed on a timeout);
 * every test closes its own. Run before and after jcstress; touches only names of {@link QueueStress#APP}
 * whose creating process is gone, so a run in progress elsewhere keeps its files.
 */
public final class Leftovers {
    private Leftovers() {
    }

    /**
     * Sweeps /dev/shm.
     *
     * @param args unused
     * @throws IOException if /dev/shm cannot be listed
     */
    public static void main(final String[] args) throws IOException {
        int removed = 0;
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(Path.of("/dev/shm"))) {
            for (final Path entry : entries) {
                final ResourceName name = ResourceName.parse(entry.getFileName().toString()).orElse(null);
                if (name != null && QueueStress.APP.equals(name.app()) && ProcessHandle.of(name.pid()).isEmpty()
                    && Files.deleteIfExists(entry)) {
                    System.out.println("removed leftover " + entry);
                    removed++;
                }
            }
        }
        System.out.println("jcstress leftovers in /dev/shm: " + removed + " removed");
    }
}
