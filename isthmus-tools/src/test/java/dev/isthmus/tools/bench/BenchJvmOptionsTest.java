/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.bench;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The options of every JVM the {@code isthmus} command starts: native access only for Isthmus's (the
 * command itself, both sides of Isthmus's transports and of the kernel's), and Aeron's export only for the
 * two JVMs of the Aeron baseline. The built JAR's manifest is checked by {@code ToolsJarTest}.
 */
class BenchJvmOptionsTest {
    private static final String NATIVE_ACCESS = "--enable-native-access=ALL-UNNAMED";

    /** The one export Aeron's JVMs get (Agrona's buffers reach the JDK's internal Unsafe); Isthmus's get none. */
    private static final String AERON_EXPORT = "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED";

    @Test
    void shouldStartBothSidesOfIsthmusAndOfTheKernelWithNativeAccessOnly() {
        for (final BenchTransport transport : BenchTransport.values()) {
            if (transport == BenchTransport.AERON_IPC || transport == BenchTransport.AERON_IPC_STANDALONE) {
                continue;
            }
            assertEquals(List.of(), transport.jvmOptions(), transport.alias());
            final List<String> benchSide = ForkedBench.command(transport, "latency", transport.alias(), "busy-spin", "64",
                "2.0", "4.0");
            assertEquals(List.of(NATIVE_ACCESS), moduleOptions(benchSide), benchSide.toString());
            for (final String mode : List.of("echo", "queue")) {
                final List<String> command = BenchPeer.command(mode, transport.alias(), "address", "busy-spin", "1");
                assertEquals(List.of(NATIVE_ACCESS), moduleOptions(command), command.toString());
            }
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = BenchTransport.class, names = {"AERON_IPC", "AERON_IPC_STANDALONE"})
    void shouldStartBothSidesOfTheAeronBaselineInJvmsOfTheirOwnWithAeronsExport(final BenchTransport aeron) {
        // Written out here, not taken from the product: a widened option (an --add-opens, more packages) fails.
        assertEquals(List.of(AERON_EXPORT), aeron.jvmOptions());
        final List<String> expected = List.of(NATIVE_ACCESS, AERON_EXPORT);
        final List<String> benchSide = ForkedBench.command(aeron, "latency", aeron.alias(), "busy-spin", "64", "2.0", "4.0");
        assertEquals(expected, moduleOptions(benchSide), benchSide.toString());
        assertEquals(ForkedBench.class.getName(), benchSide.get(benchSide.indexOf("-cp") + 2), benchSide.toString());
        final List<String> peer = BenchPeer.command("echo", aeron.alias(), "/dev/shm/driver", "busy-spin");
        assertEquals(expected, moduleOptions(peer), peer.toString());
    }

    @Test
    void shouldStartEveryCommandOfTheLauncherWithNativeAccessOnly() throws IOException {
        final Path launcher = Path.of(System.getProperty("basedir", ".")).toAbsolutePath().resolveSibling("isthmus");
        final String script = Files.readString(launcher);
        final List<String> execs = script.lines().map(String::strip)
            .filter(line -> line.startsWith("exec ") && line.contains("java")).toList();
        assertEquals(2, execs.size(), "the tools and the JMH benchmarks\n" + script);
        for (final String exec : execs) {
            assertTrue(exec.startsWith("exec \"$jdk/bin/java\" " + NATIVE_ACCESS + " -jar "), exec);
        }
        assertFalse(script.contains("--add-"), script);
        assertFalse(script.contains("JDK_JAVA_OPTIONS") || script.contains("JAVA_TOOL_OPTIONS"), script);
    }

    /** The options of a java command line that widen what code may do: native access, exports, opens, reads. */
    private static List<String> moduleOptions(final List<String> command) {
        return command.subList(0, command.indexOf("-cp")).stream()
            .filter(option -> option.startsWith("--enable-native-access") || option.startsWith("--add-")
                || option.startsWith("--illegal-access") || option.startsWith("--permit-illegal-access"))
            .toList();
    }
}
