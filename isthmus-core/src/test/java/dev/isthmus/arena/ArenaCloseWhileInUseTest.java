/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.arena;

import dev.isthmus.shm.ProcessIdentity;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * An arena, or a view of a peer's arena, closed by one thread while another lends, borrows and drops blocks
 * of it: the other thread's calls end with the arena's own {@link IllegalStateException} saying it is closed
 * (closing a block does nothing then, as documented), never the FFM runtime's "Already closed" of the
 * unmapped pool.
 */
class ArenaCloseWhileInUseTest {
    private static final AtomicInteger GROUPS = new AtomicInteger();
    private static final long BOUND_SECONDS = 5;
    private static final int ROUNDS = 20;

    /** Runs {@code call} on its own thread until it throws, runs {@code close} here after {@code delayMs}, checks what was thrown. */
    private static void assertClosedUnderneath(final Runnable call, final long delayMs, final Runnable close)
        throws Exception {
        final CompletableFuture<Void> started = new CompletableFuture<>();
        final CompletableFuture<Void> failed = new CompletableFuture<>();
        final Thread worker = Thread.ofPlatform().name("in-call").start(() -> {
            started.complete(null);
            try {
                while (true) {
                    call.run();
                }
            } catch (final Throwable e) {
                failed.completeExceptionally(e);
            }
        });
        try {
            started.get(BOUND_SECONDS, TimeUnit.SECONDS);
            Thread.sleep(delayMs);
            close.run();
            final Throwable cause = assertThrows(ExecutionException.class,
                () -> failed.get(BOUND_SECONDS, TimeUnit.SECONDS)).getCause();
            if (!(cause instanceof IllegalStateException) || "Already closed".equals(cause.getMessage())) {
                throw new AssertionError("the call in progress threw " + cause + " instead of the arena's own"
                    + " IllegalStateException", cause);
            }
        } finally {
            worker.join(TimeUnit.SECONDS.toMillis(BOUND_SECONDS * 2));
        }
    }

    @Test
    void shouldEndBorrowsWithItsOwnExceptionWhenTheViewIsClosed() throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            final String group = "w" + GROUPS.incrementAndGet();
            try (ShmArena arena = ShmArena.create("arenaclose", group, 5, ArenaOptions.defaults())) {
                final ArenaView view = ArenaView.of("arenaclose", ProcessIdentity.current(), group, 5,
                    ArenaOptions.defaults());
                final ShmBlock block = arena.allocate(1000);
                try {
                    assertClosedUnderneath(() -> {
                        try (ShmBlock borrowed = view.borrow(block.lend())) {
                            borrowed.references();
                        }
                    }, round, view::close);
                } finally {
                    view.close();
                    block.close();
                }
            }
        }
    }

    @Test
    void shouldEndLendingWithItsOwnExceptionWhenTheArenaIsClosed() throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            final String group = "a" + GROUPS.incrementAndGet();
            final ShmArena arena = ShmArena.create("arenaclose", group, 6, ArenaOptions.defaults());
            final ArenaView view = ArenaView.of("arenaclose", ProcessIdentity.current(), group, 6,
                ArenaOptions.defaults());
            try {
                // The view maps the pool now: later, once the arena's close removed its name, it could not.
                try (ShmBlock first = arena.allocate(200)) {
                    view.borrow(first.lend()).close();
                }
                assertClosedUnderneath(() -> {
                    try (ShmBlock block = arena.allocate(200)) {
                        final ShmHandle handle = block.lend();
                        block.references();
                        if (handle.generation() % 2 == 0) {
                            block.unlend();
                        } else {
                            // The borrower's drop returns it through the pool's return stack.
                            view.borrow(handle).close();
                        }
                    }
                }, round, arena::close);
            } finally {
                view.close();
                arena.close();
            }
        }
    }
}
