/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Starts the server of a {@link TestUniverse} once, so that it sweeps, and stops it: for sweeps that must run
 * in another process (one that sees a private {@code mqueue} mount, say).
 *
 * <p>Arguments: the universe (7 args). Prints each record the sweep logs as {@code LOG <level> <message>},
 * then {@code STARTED <pid>}, and exits 0; a failed start exits 1 with the exception.
 */
public final class SweepServerMain {
    private SweepServerMain() {
    }

    public static void main(final String[] args) {
        final TestUniverse universe = TestUniverse.parse(args, 0);
        final Logger log = SweepLog.logger();
        log.addHandler(new Handler() {
            @Override
            public void publish(final LogRecord record) {
                System.out.println("LOG " + record.getLevel() + " " + record.getMessage());
            }

            @Override
            public void flush() {
                System.out.flush();
            }

            @Override
            public void close() {
            }
        });
        try (SessionServer server = SessionServer.start(universe.server(), SessionOptions.defaults())) {
            System.out.println("STARTED " + ProcessHandle.current().pid());
        } catch (final RuntimeException e) {
            e.printStackTrace(System.out);
            System.out.flush();
            System.exit(1);
        }
        System.out.flush();
        System.exit(0);
    }
}
