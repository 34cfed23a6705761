/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.bench;

import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;

import java.io.IOException;

/**
 * A standalone Aeron media driver for the {@code aeron-ipc-standalone} baseline: the driver in a JVM of its
 * own, as Aeron's production deployments run it, rather than embedded in a benchmark process.
 *
 * <p>Argument: the driver directory (under {@code /dev/shm}, created fresh). Prints {@code READY} once the
 * driver runs, and runs until its standard input ends (the benchmark closes it, or dies); it then stops
 * the driver, which deletes its directory. One conductor thread ({@code ThreadingMode.SHARED}, Aeron's
 * default backoff idle strategy): on a 2-core machine the two hot threads of the benchmark take the cores,
 * and the driver is off the data path of {@code aeron:ipc} in any case.
 */
public final class AeronDriverMain {
    private AeronDriverMain() {
    }

    /**
     * Runs the driver.
     *
     * @param args the driver directory
     * @throws IOException if standard input fails
     */
    public static void main(final String[] args) throws IOException {
        try (MediaDriver driver = MediaDriver.launch(new MediaDriver.Context()
            .aeronDirectoryName(args[0])
            .threadingMode(ThreadingMode.SHARED)
            .dirDeleteOnStart(true)
            .dirDeleteOnShutdown(true))) {
            System.out.println("READY " + driver.aeronDirectoryName());
            System.out.flush();
            while (System.in.read() >= 0) {
                // until the benchmark closes our input
            }
        }
        System.exit(0);
    }
}
