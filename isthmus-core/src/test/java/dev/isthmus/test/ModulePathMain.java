/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.test;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;

/**
 * Uses the library from the class path while the core is a named module (a class in a package of the
 * core module could not be loaded from the class path, hence this package).
 */
public final class ModulePathMain {
    private ModulePathMain() {
    }

    /**
     * Creates and removes a segment, then checks that internal packages are not accessible.
     *
     * @param args none
     */
    public static void main(final String[] args) {
        if (!SharedMemory.class.getModule().isNamed()) {
            throw new IllegalStateException("the core is not a named module here");
        }
        try (SharedMemory memory = SharedMemory.builder(ResourceName.of("modtest", "seg", "m"))
            .lengthBytes(4096).create()) {
            memory.unlink();
        }
        try {
            Class.forName("dev.isthmus.internal.linux.Futex").getMethod("wake", java.lang.foreign.MemorySegment.class,
                int.class).invoke(null, null, 1);
            throw new IllegalStateException("an internal package is accessible");
        } catch (final IllegalAccessException expected) {
            System.out.println("OK");
        } catch (final ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }
}
