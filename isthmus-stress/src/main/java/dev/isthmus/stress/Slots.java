/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.stress;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Native memory for the many small states a jcstress test makes: one mapping per test JVM, handed out in
 * zeroed 64-byte slots, round-robin. jcstress makes far fewer live states at a time than there are slots,
 * so a slot is handed out again only long after its state died.
 */
final class Slots {
    static final int SLOT_BYTES = 64;
    private static final int SLOTS = 1 << 16;
    private static final MemorySegment MEMORY = Arena.global().allocate((long) SLOT_BYTES * SLOTS, SLOT_BYTES);
    private static final AtomicLong NEXT = new AtomicLong();

    private Slots() {
    }

    /** {@return a zeroed slot of {@value #SLOT_BYTES} bytes, 64-byte aligned} */
    static MemorySegment next() {
        final long slot = NEXT.getAndIncrement() & SLOTS - 1;
        final MemorySegment segment = MEMORY.asSlice(slot * SLOT_BYTES, SLOT_BYTES);
        segment.fill((byte) 0);
        return segment;
    }
}
