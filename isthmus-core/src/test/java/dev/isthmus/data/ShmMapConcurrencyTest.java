/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Threads of one process: writers replace, remove and put back checksummed values of a few keys in few
 * stripes (so they contend for the locks and readers overlap updates all the time) while readers get them
 * millions of times. Every value a reader sees must be whole; every key written last by a put must hold its
 * last value.
 */
class ShmMapConcurrencyTest {
    private static final int KEYS = 64;
    private static final long GETS_PER_READER = 2_000_000;

    @Test
    void shouldNeverShowATornValueToLockFreeReaders() throws Exception {
        try (ShmMap map = ShmMap.create("shmmapconc", "torn", ShmMapOptions.builder().capacity(256).stripes(2)
            .maxValueBytes(ShmMapPeerMain.VALUE_BYTES).build())) {
            try (Arena arena = Arena.ofConfined()) {
                final MemorySegment value = arena.allocate(ShmMapPeerMain.VALUE_BYTES);
                for (long key = 0; key < KEYS; key++) {
                    ShmMapPeerMain.fill(value, key, 0);
                    assertTrue(map.put(key, value));
                }
            }
            final AtomicBoolean readersDone = new AtomicBoolean();
            final AtomicReference<Throwable> failure = new AtomicReference<>();
            final AtomicLong wholeValues = new AtomicLong();
            final AtomicLong absent = new AtomicLong();
            final List<Thread> threads = new ArrayList<>();
            for (int w = 0; w < 2; w++) {
                final int writer = w;
                threads.add(Thread.ofPlatform().name("writer-" + w).start(() -> {
                    try (Arena arena = Arena.ofConfined()) {
                        final MemorySegment value = arena.allocate(ShmMapPeerMain.VALUE_BYTES);
                        long counter = writer;
                        while (!readersDone.get() && failure.get() == null) {
                            counter += 2;
                            final long key = counter % KEYS;
                            if (writer == 1 && key % 8 == 1 && counter % 3 == 0) {
                                // Keys 8n+1 come and go, so readers also race removals and reinserts.
                                map.remove(key);
                            } else {
                                ShmMapPeerMain.fill(value, key, counter);
                                if (!map.put(key, value)) {
                                    throw new AssertionError("stripe full at key " + key);
                                }
                            }
                        }
                    } catch (final Throwable t) {
                        failure.compareAndSet(null, t);
                    }
                }));
            }
            final List<Thread> readers = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                readers.add(Thread.ofPlatform().name("reader-" + r).start(() -> {
                    try (Arena arena = Arena.ofConfined()) {
                        final MemorySegment out = arena.allocate(ShmMapPeerMain.VALUE_BYTES);
                        long whole = 0;
                        long missing = 0;
                        for (long i = 0; i < GETS_PER_READER && failure.get() == null; i++) {
                            final long key = (i * 7) % KEYS;
                            final long length = map.get(key, out);
                            if (length < 0) {
                                if (key % 8 != 1) {
                                    throw new AssertionError("key " + key + " is never removed, yet absent");
                                }
                                missing++;
                            } else {
                                ShmMapPeerMain.check(out, length, key);
                                whole++;
                            }
                        }
                        wholeValues.addAndGet(whole);
                        absent.addAndGet(missing);
                    } catch (final Throwable t) {
                        failure.compareAndSet(null, t);
                    }
                }));
            }
            for (final Thread reader : readers) {
                reader.join();
            }
            readersDone.set(true);
            for (final Thread thread : threads) {
                thread.join();
            }
            if (failure.get() != null) {
                throw new AssertionError("a thread failed: " + failure.get(), failure.get());
            }
            assertEquals(2 * GETS_PER_READER, wholeValues.get() + absent.get());
            // At rest, every slot is whole and the counts are exact.
            final long[] entries = {0};
            map.forEach((key, value) -> {
                ShmMapPeerMain.check(value, value.byteSize(), key.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0));
                entries[0]++;
            });
            assertEquals(entries[0], map.size());
            assertEquals(0, map.stats().recoveries());
        }
    }
}
