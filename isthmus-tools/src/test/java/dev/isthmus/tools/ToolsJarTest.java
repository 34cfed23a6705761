/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools;

import dev.isthmus.test.ChildJvm;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The built {@code isthmus-tools} JAR, as the {@code isthmus} launcher runs it: its manifest gives native
 * access and nothing else, and run with native access only it runs the Aeron baseline of {@code bench} (in
 * JVMs of Aeron's own) next to Isthmus's queue.
 *
 * <p>Runs in {@code mvn verify}'s integration-test phase, once the JAR and its {@code lib/} exist (the
 * {@code tools-jar} execution in this module's POM passes the JAR's path); earlier it skips.
 */
class ToolsJarTest {
    private static final String JAR_PROPERTY = "isthmus.tools.jar";

    private static Path jar;

    @BeforeAll
    static void findJar() {
        final String path = System.getProperty(JAR_PROPERTY);
        assumeTrue(path != null, "the tools JAR is built in the package phase; this test runs after it (mvn verify)");
        jar = Path.of(path);
        assertTrue(Files.isRegularFile(jar), jar + " is missing");
    }

    @Test
    void shouldGiveNativeAccessAndNoExportsOrOpensInTheManifest() throws IOException {
        try (JarFile file = new JarFile(jar.toFile())) {
            final Manifest manifest = file.getManifest();
            final Attributes main = manifest.getMainAttributes();
            assertEquals("ALL-UNNAMED", main.getValue("Enable-Native-Access"));
            assertNull(main.getValue("Add-Exports"), "Add-Exports");
            assertNull(main.getValue("Add-Opens"), "Add-Opens");
            assertNull(main.getValue("Launcher-Agent-Class"), "Launcher-Agent-Class");
            assertEquals(Main.class.getName(), main.getValue(Attributes.Name.MAIN_CLASS));
        }
    }

    @Test
    void shouldRunTheAeronBaselineNextToIsthmussQueueFromTheJarWithNativeAccessOnly() {
        final List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "--enable-native-access=ALL-UNNAMED", "-jar", jar.toString(), "bench", "latency",
            "--transport=shm-queue,aeron-ipc", "--idle=busy-spin", "--sizes=64", "--warmup-seconds=0.1", "--seconds=0.2");
        try (ChildJvm bench = ChildJvm.startCommand("isthmus-bench", command)) {
            final Duration timeout = Duration.ofMinutes(1);
            bench.awaitLine(line -> line.matches("shm-queue +busy-spin +64 +[\\d,]+ +[\\d,]+ .*"), "the shm-queue row",
                timeout);
            bench.awaitLine(line -> line.matches("aeron-ipc +busy-spin +64 +[\\d,]+ +[\\d,]+ .*"), "the aeron-ipc row",
                timeout);
            bench.awaitLine("64 bytes: aeron-ipc p50 / shm-queue busy-spin p50 = ", timeout);
            bench.assertExit(0, timeout);
            assertFalse(bench.output().contains("WARNING"), "no JVM warning (restricted methods, Unsafe)\n"
                + bench.output());
        }
    }
}
