/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.shm;

import dev.isthmus.IsthmusException;
import dev.isthmus.internal.linux.Credentials;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import dev.isthmus.test.RootOnly;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RunDirectoryTest {
    /** An unprivileged uid that is not ours: {@code nobody}. */
    private static final int OTHER_UID = 65534;

    private Path scratch;

    @BeforeEach
    void createScratch() throws IOException {
        final Path base = Path.of(System.getProperty("isthmus.test.workdir", System.getProperty("java.io.tmpdir")));
        Files.createDirectories(base);
        scratch = Files.createTempDirectory(base, "rundir");
    }

    @AfterEach
    void deleteScratch() throws IOException {
        try (Stream<Path> paths = Files.walk(scratch)) {
            for (final Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }

    @Test
    void shouldCreateTheDirectoryOwnerOnlyForUserAccess() throws IOException {
        final Path dir = scratch.resolve("a").resolve("isthmus");
        assertEquals(dir, RunDirectory.ensure(dir, PermissionLevel.USER_ACCESS));
        assertEquals(PosixFilePermissions.fromString("rwx------"), Files.getPosixFilePermissions(dir));
        assertEquals(Credentials.effectiveUid(), Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS));
        // Ensuring again accepts what is there.
        assertEquals(dir, RunDirectory.ensure(dir, PermissionLevel.NO_ACCESS));
        assertEquals(PosixFilePermissions.fromString("rwx------"), Files.getPosixFilePermissions(dir));
    }

    @Test
    void shouldAddSearchBitsForWiderLevelsButNeverWrite() throws IOException {
        final Path dir = scratch.resolve("isthmus");
        RunDirectory.ensure(dir, PermissionLevel.USER_ACCESS);
        RunDirectory.ensure(dir, PermissionLevel.GROUP_ACCESS);
        assertEquals(PosixFilePermissions.fromString("rwxr-x---"), Files.getPosixFilePermissions(dir));
        RunDirectory.ensure(dir, PermissionLevel.UNRESTRICTED);
        assertEquals(PosixFilePermissions.fromString("rwxr-xr-x"), Files.getPosixFilePermissions(dir));
    }

    @Test
    void shouldRefuseASymbolicLink() throws IOException {
        final Path target = Files.createDirectory(scratch.resolve("target"));
        final Path link = Files.createSymbolicLink(scratch.resolve("link"), target);
        final IsthmusException refused = assertThrows(IsthmusException.class,
            () -> RunDirectory.ensure(link, PermissionLevel.USER_ACCESS));
        assertTrue(refused.getMessage().contains("symbolic link"), refused.getMessage());
    }

    @Test
    @RootOnly("chowns a directory to another user to play the squatter")
    void shouldRefuseADirectoryOwnedByAnotherUser() throws IOException {
        final Path squatted = Files.createDirectory(scratch.resolve("isthmus-squatted"));
        Files.setAttribute(squatted, "unix:uid", OTHER_UID);
        final IsthmusException refused = assertThrows(IsthmusException.class,
            () -> RunDirectory.ensure(squatted, PermissionLevel.USER_ACCESS));
        assertTrue(refused.getMessage().contains("owned by uid " + OTHER_UID), refused.getMessage());
        assertTrue(refused.getMessage().contains(squatted.toString()), refused.getMessage());
    }

    @Test
    void shouldPreferThePropertyThenFallBackToTmpWithTheUid() {
        final String saved = System.getProperty(RunDirectory.PROPERTY);
        try {
            System.setProperty(RunDirectory.PROPERTY, scratch.resolve("configured").toString());
            assertEquals(scratch.resolve("configured"), RunDirectory.path());
            System.clearProperty(RunDirectory.PROPERTY);
            Assumptions.assumeTrue(System.getenv("XDG_RUNTIME_DIR") == null, "XDG_RUNTIME_DIR is set here");
            assertEquals(Path.of("/tmp/isthmus-" + Credentials.effectiveUid()), RunDirectory.path());
        } finally {
            if (saved == null) {
                System.clearProperty(RunDirectory.PROPERTY);
            } else {
                System.setProperty(RunDirectory.PROPERTY, saved);
            }
        }
    }
}
