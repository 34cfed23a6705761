/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ResourceNameTest {
    @Test
    void shouldFormatAndParseTheScheme() {
        final ResourceName name = new ResourceName("isthmus", "cacheSrv", 4711, "queue", "s3-c0-up");
        assertEquals("isthmus.cacheSrv.4711.queue.s3-c0-up", name.toString());
        assertEquals(name, ResourceName.parse(name.toString()).orElseThrow());
        assertEquals("s3", name.group());
    }

    @Test
    void shouldDeriveNamesOfThisProcess() {
        final ResourceName name = ResourceName.of("app", "seg", "x1");
        assertEquals(ProcessHandle.current().pid(), name.pid());
        assertEquals(ResourceName.DEFAULT_PREFIX, name.prefix());
    }

    @Test
    void shouldRejectPartsThatCouldEscapeTheScheme() {
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> new ResourceName("isthmus", "../etc", 1, "seg", "x"));
        assertTrue(e.getMessage().startsWith("app=\"../etc\""), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new ResourceName("isthmus", "a.b", 1, "seg", "x"));
        assertThrows(IllegalArgumentException.class, () -> new ResourceName("isthmus", "a", 1, "seg", "x/y"));
        assertThrows(IllegalArgumentException.class, () -> new ResourceName("isthmus", "a", 0, "seg", "x"));
        assertThrows(IllegalArgumentException.class, () -> new ResourceName("isthmus", "a", 1, "SEG", "x"));
        assertThrows(IllegalArgumentException.class, () -> new ResourceName("Isthmus", "a", 1, "seg", "x"));
        assertThrows(IllegalArgumentException.class, () -> new ResourceName("isthmus", "", 1, "seg", "x"));
        assertThrows(IllegalArgumentException.class, () -> new ResourceName("isthmus", "a".repeat(49), 1, "seg", "x"));
    }

    @Test
    void shouldNotParseForeignNames() {
        assertTrue(ResourceName.parse("sem.foo").isEmpty());
        assertTrue(ResourceName.parse("isthmus.a.notapid.seg.x").isEmpty());
        assertTrue(ResourceName.parse("isthmus.a.1.seg.x.y").isEmpty());
    }
}
