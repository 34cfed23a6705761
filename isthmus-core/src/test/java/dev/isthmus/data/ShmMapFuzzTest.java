/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Fuzzes a map's memory as a hostile peer could leave it: the bytes of a real map with patches applied, or
 * arbitrary bytes outright, wrapped as {@link ShmMap#adopt} checks them (with 1 ms timeouts) and then read
 * (every get, {@code containsKey}, {@code forEach}, {@code size}, {@code stats}) and, in writable mode,
 * written (puts and removes, which recover "dead" lock holders and follow or refuse undo records). Each call
 * must succeed or throw {@link CorruptDataException} or {@link IsthmusTimeoutException}: never an
 * out-of-bounds access, another exception, an {@link Error} or a hang.
 *
 * <p>Inputs are recipes: byte 0 selects the mode (bit 0: the input is the memory itself, else patches of a
 * real map's bytes; bit 1: writable; bit 2: cut the memory to the length in bytes 1-2). Patches follow: a
 * little-endian 16-bit offset (modulo the memory's length), a count, and that many bytes. Jazzer 0.24.0
 * cannot instrument Java 25 class files, so it fuzzes without coverage feedback from our classes: the
 * patches keep it near valid maps.
 *
 * <p>{@code mvn verify} runs the committed inputs ({@code ShmMapFuzzTestInputs/}); with {@code JAZZER_FUZZ=1}
 * (set by profile {@code slow}) Jazzer fuzzes for {@code maxDuration}.
 */
class ShmMapFuzzTest {
    private static final long TIMEOUT_NS = 1_000_000L;
    private static byte[] image;

    @BeforeAll
    static void makeImage() {
        try (ShmMap map = ShmMap.create("shmmapfuzz", "image", ShmMapOptions.builder().capacity(16).stripes(2)
            .maxKeyBytes(16).maxValueBytes(16).build())) {
            for (long key = 0; key < 8; key++) {
                final byte[] value = new byte[(int) key * 2];
                java.util.Arrays.fill(value, (byte) key);
                map.put(key, MemorySegment.ofArray(value));
            }
            map.put("seven".getBytes(java.nio.charset.StandardCharsets.UTF_8), new byte[] {7});
            map.remove(3L);
            image = map.memory().toArray(ValueLayout.JAVA_BYTE);
        }
    }

    @AfterAll
    static void dropImage() {
        image = null;
    }

    @FuzzTest(maxDuration = "3m")
    void shouldReadAndWriteHostileMemoryOrRefuseIt(final byte[] recipe) {
        final int mode = recipe.length > 0 ? recipe[0] & 0xff : 0;
        final boolean raw = (mode & 1) != 0;
        final boolean writable = (mode & 2) != 0;
        byte[] bytes = raw ? java.util.Arrays.copyOfRange(recipe, Math.min(1, recipe.length), recipe.length) : image.clone();
        int at = 1;
        if ((mode & 4) != 0 && recipe.length >= 3) {
            final int length = (recipe[1] & 0xff) | (recipe[2] & 0xff) << 8;
            bytes = java.util.Arrays.copyOf(bytes, Math.min(bytes.length, length));
            at = 3;
        }
        while (!raw && bytes.length > 0 && at + 3 <= recipe.length) {
            final int offset = ((recipe[at] & 0xff) | (recipe[at + 1] & 0xff) << 8) % bytes.length;
            final int count = recipe[at + 2] & 0xff;
            at += 3;
            for (int i = 0; i < count && at < recipe.length; i++, at++) {
                bytes[(offset + i) % bytes.length] = recipe[at];
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            final MemorySegment memory = arena.allocate(Math.max(1, bytes.length), 64).asSlice(0, bytes.length);
            MemorySegment.copy(MemorySegment.ofArray(bytes), 0, memory, 0, bytes.length);
            final ShmMap map;
            try {
                map = ShmMap.wrap(writable ? memory : memory.asReadOnly(), TIMEOUT_NS, TIMEOUT_NS);
            } catch (final CorruptDataException refused) {
                return;
            }
            exercise(map, arena, writable);
        }
    }

    private static void exercise(final ShmMap map, final Arena arena, final boolean writable) {
        final MemorySegment out = arena.allocate(Math.max(1, map.maxValueBytes()));
        final MemorySegment value = arena.allocate(Math.min(4, map.maxValueBytes())).fill((byte) 9);
        final byte[] shortKey = {1, 2, 3};
        final int calls = writable ? 12 : 6;
        for (int call = 0; call < calls; call++) {
            final long key = call % 6;
            try {
                switch (call % 6 + (call >= 6 ? 6 : 0)) {
                    case 0 -> map.get(key, out);
                    case 1 -> map.containsKey(MemorySegment.ofArray(shortKey));
                    case 2 -> map.forEach((k, v) -> assertTrue(k.byteSize() >= 1 && k.byteSize() <= map.maxKeyBytes()
                        && v.byteSize() <= map.maxValueBytes(), "entry lengths within the geometry"));
                    case 3 -> assertTrue(map.size() >= 0 && map.size() <= map.capacity());
                    case 4 -> map.stats();
                    case 5 -> map.get(MemorySegment.ofArray(shortKey), out);
                    case 6, 8, 10 -> map.put(key, value);
                    default -> map.remove(key);
                }
            } catch (final CorruptDataException | IsthmusTimeoutException refused) {
                // The documented outcomes for memory a peer corrupted.
            } catch (final IllegalArgumentException misuse) {
                // Only this test's own arguments may be refused: long keys in a map of shorter keys.
                if (map.maxKeyBytes() >= Long.BYTES && map.maxKeyBytes() >= shortKey.length) {
                    fail("call " + call + " threw " + misuse, misuse);
                }
            } catch (final RuntimeException e) {
                fail("call " + call + " on " + map + " threw " + e, e);
            }
        }
    }
}
