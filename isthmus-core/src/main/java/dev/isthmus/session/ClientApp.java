/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * An application that connects to a {@link ServerApp}. Both programs define the same {@code ClientApp}.
 *
 * {@snippet :
 * static final ClientApp CACHE_CLI = ClientApp.builder("cacheCli")
 *     .user(1000, 1000)
 *     .mainClass("com.acme.cache.CacheClient")
 *     .build();
 * }
 *
 * @param name       the application's name
 * @param uid        the user id it must run as
 * @param gid        the group id it must run as
 * @param mainClass  the main class a Java client runs, if checked by main class
 * @param jar        the jar a Java client runs, if checked by jar
 * @param executable the executable a client runs, if checked by executable
 */
public record ClientApp(String name, int uid, int gid, Optional<String> mainClass, Optional<Path> jar,
                        Optional<Path> executable) implements App {
    /**
     * Validates the description.
     *
     * @throws IllegalArgumentException if the name is not a valid resource-name part
     */
    public ClientApp {
        AppBuilderSupport.checkName(name);
        Objects.requireNonNull(mainClass, "mainClass");
        Objects.requireNonNull(jar, "jar");
        Objects.requireNonNull(executable, "executable");
    }

    /**
     * {@return a builder, with the current process's user and group as defaults}
     *
     * @param name the application's name: 1-48 of {@code [A-Za-z0-9_-]}
     */
    public static Builder builder(final String name) {
        return new Builder(AppBuilderSupport.checkName(name));
    }

    /** Builds a {@link ClientApp}. */
    public static final class Builder {
        private final String name;
        private int uid = AppBuilderSupport.currentUid();
        private int gid = AppBuilderSupport.currentGid();
        private String mainClass;
        private Path jar;
        private Path executable;

        private Builder(final String name) {
            this.name = name;
        }

        /**
         * Sets the user and group the client must run as.
         *
         * @param uid the user id
         * @param gid the group id
         * @return this builder
         */
        public Builder user(final int uid, final int gid) {
            this.uid = uid;
            this.gid = gid;
            return this;
        }

        /**
         * Sets the main class a Java client runs.
         *
         * @param mainClass the fully qualified name
         * @return this builder
         */
        public Builder mainClass(final String mainClass) {
            this.mainClass = Objects.requireNonNull(mainClass, "mainClass");
            return this;
        }

        /**
         * Sets the main class from a class.
         *
         * @param mainClass the class
         * @return this builder
         */
        public Builder mainClass(final Class<?> mainClass) {
            return mainClass(mainClass.getName());
        }

        /**
         * Sets the jar a Java client runs with {@code java -jar}.
         *
         * @param jar the jar's path
         * @return this builder
         */
        public Builder jar(final Path jar) {
            this.jar = Objects.requireNonNull(jar, "jar");
            return this;
        }

        /**
         * Sets the executable a (non-Java) client runs.
         *
         * @param executable the executable's absolute path
         * @return this builder
         */
        public Builder executable(final Path executable) {
            this.executable = Objects.requireNonNull(executable, "executable");
            return this;
        }

        /**
         * {@return the client application}
         */
        public ClientApp build() {
            return new ClientApp(name, uid, gid, Optional.ofNullable(mainClass), Optional.ofNullable(jar),
                Optional.ofNullable(executable));
        }
    }
}
