/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import dev.isthmus.test.ChildJvm;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProcessIdentityTest {
    @Test
    void shouldIdentifyTheCurrentProcessAsAlive() {
        final ProcessIdentity me = ProcessIdentity.current();
        assertEquals(ProcessHandle.current().pid(), me.pid());
        assertTrue(me.startTimeTicks() > 0);
        assertTrue(me.isAlive());
        assertEquals(me, ProcessIdentity.of(me.pid()));
    }

    @Test
    void shouldTellAReusedPidFromTheOriginalProcess() {
        final ProcessIdentity me = ProcessIdentity.current();
        assertFalse(new ProcessIdentity(me.pid(), me.startTimeTicks() - 1).isAlive());
    }

    @Test
    void shouldSeeAKilledChildAsDeadEvenBeforeItIsReaped() throws Exception {
        final ProcessBuilder builder = new ProcessBuilder("sleep", "600");
        final Process sleeper = builder.start();
        try {
            final ProcessIdentity identity = ProcessIdentity.of(sleeper.pid());
            assertNotNull(identity);
            assertTrue(identity.isAlive());
            // SIGKILL without waiting: until the JDK reaps it, the child is a zombie, which must count as dead.
            sleeper.destroyForcibly();
            final long deadline = System.nanoTime() + 10_000_000_000L;
            while (identity.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertFalse(identity.isAlive());
        } finally {
            sleeper.destroyForcibly().waitFor();
        }
    }

    @Test
    void shouldReportNoIdentityForAPidThatDoesNotExist() {
        // pid_max is at most 2^22 on Linux.
        assertNull(ProcessIdentity.of((1L << 22) + 1));
        assertFalse(new ProcessIdentity((1L << 22) + 1, 1).isAlive());
    }

    @Test
    void shouldSeeAChildJvmAliveUntilKilled() {
        final ProcessIdentity identity;
        try (ChildJvm child = ChildJvm.start(SleepMain.class)) {
            child.awaitReady();
            identity = ProcessIdentity.of(child.pid());
            assertNotNull(identity);
            assertTrue(identity.isAlive());
            child.kill9();
        }
        assertFalse(identity.isAlive());
    }

    /** Prints READY and sleeps until killed. */
    public static final class SleepMain {
        public static void main(final String[] args) throws InterruptedException {
            System.out.println("READY");
            Thread.sleep(600_000);
        }
    }
}
