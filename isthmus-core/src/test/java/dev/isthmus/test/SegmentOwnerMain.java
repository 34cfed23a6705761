/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.test;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;

/**
 * A child process that creates a segment {@code <prefix>.<app>.<pid>.seg.<id>} of 8 KiB, prints
 * {@code READY <path>} and sleeps until killed: the owner in crash and sweeping tests.
 */
public final class SegmentOwnerMain {
    private SegmentOwnerMain() {
    }

    /**
     * Runs the child.
     *
     * @param args the application name and the id
     * @throws InterruptedException never, in practice: the test kills this process
     */
    public static void main(final String[] args) throws InterruptedException {
        final SharedMemory memory = SharedMemory.builder(ResourceName.of(args[0], "seg", args[1]))
            .lengthBytes(8192).create();
        System.out.println("READY " + memory.path());
        Thread.sleep(600_000);
    }
}
