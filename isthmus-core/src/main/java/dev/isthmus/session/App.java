/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import java.nio.file.Path;
import java.util.Optional;

/**
 * What both ends of a session know about an application: its name, the user and group it runs as, and
 * what it runs, so that a server can check a connecting process against it.
 *
 * <p>Every JVM's executable is {@code .../bin/java}, so a Java application is identified by its main class
 * or its jar, as {@code /proc/<pid>/cmdline} shows them; other programs by their executable.
 */
public sealed interface App permits ClientApp, ServerApp {
    /**
     * {@return the application's name, unique in its universe; it names every resource it owns}
     */
    String name();

    /**
     * {@return the user id it runs as}
     */
    int uid();

    /**
     * {@return the group id it runs as}
     */
    int gid();

    /**
     * {@return the main class it runs, if it is a Java application started with a main class}
     */
    Optional<String> mainClass();

    /**
     * {@return the jar it runs, if it is a Java application started with {@code -jar}}
     */
    Optional<Path> jar();

    /**
     * {@return the executable it runs, if it is checked by executable}
     */
    Optional<Path> executable();
}
