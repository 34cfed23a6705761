/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus;

import dev.isthmus.test.ChildJvm;
import dev.isthmus.test.ModulePathMain;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The library as a named module: native access granted to {@code dev.isthmus.core} alone, with illegal
 * native access denied, and only exported packages visible to the application.
 */
class ModulePathTest {
    @Test
    void shouldWorkOnTheModulePathWithNativeAccessForTheModuleOnly() {
        final String[] entries = System.getProperty("java.class.path").split(File.pathSeparator);
        final String core = Arrays.stream(entries)
            .filter(entry -> entry.endsWith(Path.of("isthmus-core", "target", "classes").toString()))
            .findFirst().orElse(null);
        Assumptions.assumeTrue(core != null && Files.isRegularFile(Path.of(core, "module-info.class")),
            "the core classes are not on this class path as a directory with module-info.class");
        final String rest = Arrays.stream(entries).filter(entry -> !entry.equals(core))
            .collect(Collectors.joining(File.pathSeparator));
        final List<String> command = List.of(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "--module-path", core, "--add-modules", "dev.isthmus.core",
            "--enable-native-access=dev.isthmus.core", "--illegal-native-access=deny",
            "-cp", rest, ModulePathMain.class.getName());
        try (ChildJvm child = ChildJvm.startCommand("module-path", command)) {
            child.awaitLine("OK", Duration.ofSeconds(60));
            child.assertExit(0, Duration.ofSeconds(30));
        }
    }
}
