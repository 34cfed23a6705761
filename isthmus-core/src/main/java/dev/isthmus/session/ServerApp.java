/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.shm.PermissionLevel;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * An application that accepts sessions from {@link ClientApp}s. Both programs define the same
 * {@code ServerApp}.
 *
 * {@snippet :
 * static final ServerApp CACHE_SRV = ServerApp.builder("cacheSrv")
 *     .user(1000, 1000)
 *     .mainClass("com.acme.cache.CacheServer")
 *     .allowedClients(CACHE_CLI)
 *     .permissions(PermissionLevel.GROUP_ACCESS)
 *     .build();
 * }
 *
 * @param name           the application's name
 * @param uid            the user id it runs as
 * @param gid            the group id it runs as
 * @param mainClass      the main class it runs, if any
 * @param jar            the jar it runs, if any
 * @param executable     the executable it runs, if any
 * @param allowedClients the clients it accepts, by name
 * @param permissions    the permission level of every resource its sessions create
 * @param runDirectory   where its socket and pid file live; empty for the default per-user run directory
 * @param otherPidNamespaces whether its sessions may join processes in different pid namespaces (a sidecar
 *                       container sharing the run directory and {@code /dev/shm}); see
 *                       {@link Builder#acceptOtherPidNamespaces()}
 */
public record ServerApp(String name, int uid, int gid, Optional<String> mainClass, Optional<Path> jar,
                        Optional<Path> executable, Map<String, ClientApp> allowedClients, PermissionLevel permissions,
                        Optional<Path> runDirectory, boolean otherPidNamespaces) implements App {
    /**
     * Validates the description.
     *
     * @throws IllegalArgumentException if the name is not a valid resource-name part
     */
    public ServerApp {
        AppBuilderSupport.checkName(name);
        allowedClients = Map.copyOf(allowedClients);
        Objects.requireNonNull(permissions, "permissions");
        Objects.requireNonNull(runDirectory, "runDirectory");
    }

    /**
     * {@return a builder, with the current user and group, no allowed client, {@link PermissionLevel#USER_ACCESS}}
     *
     * @param name the application's name: 1-48 of {@code [A-Za-z0-9_-]}
     */
    public static Builder builder(final String name) {
        return new Builder(AppBuilderSupport.checkName(name));
    }

    /** Builds a {@link ServerApp}. */
    public static final class Builder {
        private final String name;
        private int uid = AppBuilderSupport.currentUid();
        private int gid = AppBuilderSupport.currentGid();
        private String mainClass;
        private Path jar;
        private Path executable;
        private final Map<String, ClientApp> allowedClients = new LinkedHashMap<>();
        private PermissionLevel permissions = PermissionLevel.USER_ACCESS;
        private Path runDirectory;
        private boolean otherPidNamespaces;

        private Builder(final String name) {
            this.name = name;
        }

        /**
         * Sets the user and group the server runs as.
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
         * Sets the main class the server runs.
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
         * Sets the jar the server runs.
         *
         * @param jar the jar's path
         * @return this builder
         */
        public Builder jar(final Path jar) {
            this.jar = Objects.requireNonNull(jar, "jar");
            return this;
        }

        /**
         * Sets the executable the server runs.
         *
         * @param executable the executable's path
         * @return this builder
         */
        public Builder executable(final Path executable) {
            this.executable = Objects.requireNonNull(executable, "executable");
            return this;
        }

        /**
         * Adds clients the server accepts.
         *
         * @param clients the clients
         * @return this builder
         * @throws IllegalArgumentException if two clients share a name
         */
        public Builder allowedClients(final ClientApp... clients) {
            for (final ClientApp client : List.of(clients)) {
                if (allowedClients.putIfAbsent(client.name(), client) != null) {
                    throw new IllegalArgumentException("client name=" + client.name() + " is allowed twice");
                }
            }
            return this;
        }

        /**
         * Sets the permission level of the resources of the server's sessions.
         *
         * @param permissions the level
         * @return this builder
         */
        public Builder permissions(final PermissionLevel permissions) {
            this.permissions = Objects.requireNonNull(permissions, "permissions");
            return this;
        }

        /**
         * Sets the run directory instead of the default per-user one.
         *
         * @param runDirectory the directory
         * @return this builder
         */
        public Builder runDirectory(final Path runDirectory) {
            this.runDirectory = Objects.requireNonNull(runDirectory, "runDirectory");
            return this;
        }

        /**
         * Lets the server's sessions join processes in other pid namespaces: a client in a sidecar container
         * that shares the run directory and {@code /dev/shm} with the server, or a server in a container a
         * client on the host reaches. Without it such a peer is refused, saying why.
         *
         * <p>Across pid namespaces the peer is identified by its kernel credentials (uid and gid, which is
         * what gives security anyway) and bound to its process through {@code SO_PEERPIDFD}, which also
         * tells of its death within the liveness interval. What needs the peer's {@code /proc} entry is
         * impossible where that entry is not visible (a sibling container): a client app defined with a
         * main class, jar or executable is then refused, since that check cannot be made. A process in a
         * nested namespace (a container this host started) is still visible and checked in full. Both
         * programs set this in their shared definition of the server app.
         *
         * @return this builder
         */
        public Builder acceptOtherPidNamespaces() {
            this.otherPidNamespaces = true;
            return this;
        }

        /**
         * {@return the server application}
         */
        public ServerApp build() {
            return new ServerApp(name, uid, gid, Optional.ofNullable(mainClass), Optional.ofNullable(jar),
                Optional.ofNullable(executable), allowedClients, permissions, Optional.ofNullable(runDirectory),
                otherPidNamespaces);
        }
    }
}
