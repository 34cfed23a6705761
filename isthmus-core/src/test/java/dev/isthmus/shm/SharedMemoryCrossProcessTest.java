/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import dev.isthmus.test.ChildJvm;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

import static dev.isthmus.internal.MemoryAccess.getLongAcquire;
import static dev.isthmus.internal.MemoryAccess.putLongRelease;
import static org.junit.jupiter.api.Assertions.assertEquals;

class SharedMemoryCrossProcessTest {
    private static final long BEYOND_2_GIB = (2L << 30) + 4096;

    @Test
    void shouldExchangeValuesBeyondTwoGibibytesBetweenTwoJvms() throws Exception {
        final ResourceName name = ResourceName.of("shmtest", "seg", "big");
        try (SharedMemory memory = SharedMemory.builder(name).lengthBytes(BEYOND_2_GIB + 4096).create();
             ChildJvm child = ChildJvm.start(Child.class, name.toString())) {
            try {
                final MemorySegment segment = memory.segment();
                // release: pairs with the child's getLongAcquire of the same offset.
                putLongRelease(segment, BEYOND_2_GIB, 0x5eed_0000_0000_0001L);
                child.send("go");
                child.awaitLine("DONE", Duration.ofSeconds(60));
                // acquire: pairs with the child's putLongRelease of the answer.
                assertEquals(0x5eed_0000_0000_0002L, getLongAcquire(segment, BEYOND_2_GIB + 8), child.output());
                child.assertExit(0, Duration.ofSeconds(30));
            } finally {
                memory.unlink();
            }
        }
    }

    /** Opens the segment, reads the parent's value beyond 2 GiB and writes the answer next to it. */
    public static final class Child {
        public static void main(final String[] args) throws Exception {
            final ResourceName name = ResourceName.parse(args[0]).orElseThrow();
            try (SharedMemory memory = SharedMemory.open(name)) {
                final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                if (!"go".equals(in.readLine())) {
                    throw new IllegalStateException("expected go");
                }
                final long value = getLongAcquire(memory.segment(), BEYOND_2_GIB);
                putLongRelease(memory.segment(), BEYOND_2_GIB + 8, value + 1);
                System.out.println("DONE " + Long.toHexString(value) + " of " + memory.lengthBytes());
            }
        }
    }
}
