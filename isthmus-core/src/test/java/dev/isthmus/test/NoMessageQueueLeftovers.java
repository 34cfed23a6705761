/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.test;

import dev.isthmus.internal.linux.Errno;
import dev.isthmus.internal.linux.PosixMq;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.Resources;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Fails a test class that leaves POSIX message queues behind, and removes them, so that one leak does
 * not fail every later class (nor eat the user's {@code RLIMIT_MSGQUEUE}, which allows only a few queues).
 *
 * <p>Queues have no directory unless the {@code mqueue} file system is mounted. Where it is mounted
 * ({@link Resources#DEFAULT_MQUEUE_DIRECTORY}), every Isthmus queue that appeared during the class is a
 * leak, unless the pid in its name is a running process other than this JVM and its descendants (another
 * test run on the same machine). In any case, every queue name a test announced with {@link #track} must
 * be gone at the end of the class: this is checked by trying to open it.
 *
 * <p>Registered for every test class, like {@link NoLeftovers}, through JUnit's extension auto-detection.
 */
public final class NoMessageQueueLeftovers implements BeforeAllCallback, AfterAllCallback {
    private static final ExtensionContext.Namespace NAMESPACE =
        ExtensionContext.Namespace.create(NoMessageQueueLeftovers.class);
    private static final Set<String> TRACKED = ConcurrentHashMap.newKeySet();

    /**
     * Announces a queue name that a test (or its child process) creates and that must be gone when the test
     * class ends.
     *
     * @param queueName the name, starting with {@code '/'}
     */
    public static void track(final String queueName) {
        TRACKED.add(queueName);
    }

    /**
     * {@return whether a queue of this name exists now}
     *
     * @param queueName the name, starting with {@code '/'}
     */
    public static boolean exists(final String queueName) {
        final int mqd = PosixMq.open(queueName);
        if (mqd >= 0) {
            PosixMq.close(mqd, queueName);
            return true;
        }
        // EACCES: it exists, with a mode that excludes us.
        return mqd == -Errno.EACCES;
    }

    /**
     * {@return the Isthmus queues the mounted {@code mqueue} file system shows now, as names starting
     * with {@code '/'}; empty if it is not mounted}
     */
    public static Set<String> snapshot() {
        final Set<String> found = new TreeSet<>();
        final Path dir = Resources.DEFAULT_MQUEUE_DIRECTORY;
        if (!Resources.isMqueueMounted(dir)) {
            return found;
        }
        final String prefix = System.getProperty("isthmus.prefix", "isthmus") + ".";
        try (Stream<Path> entries = Files.list(dir)) {
            entries.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(prefix)).forEach(n -> found.add("/" + n));
        } catch (final IOException e) {
            throw new UncheckedIOException(e);
        }
        return found;
    }

    private static boolean belongsToAnotherLiveProcess(final String queueName) {
        final Optional<ResourceName> name = ResourceName.parse(queueName.substring(1));
        if (name.isEmpty()) {
            return false;
        }
        final Optional<ProcessHandle> owner = ProcessHandle.of(name.get().pid());
        if (owner.isEmpty() || !owner.get().isAlive()) {
            return false;
        }
        final ProcessHandle self = ProcessHandle.current();
        for (Optional<ProcessHandle> p = owner; p.isPresent(); p = p.get().parent()) {
            if (p.get().pid() == self.pid()) {
                return false;
            }
        }
        return true;
    }

    @Override
    public void beforeAll(final ExtensionContext context) {
        TRACKED.clear();
        context.getStore(NAMESPACE).put("before", snapshot());
    }

    @Override
    public void afterAll(final ExtensionContext context) {
        @SuppressWarnings("unchecked") final Set<String> before = (Set<String>) context.getStore(NAMESPACE).get("before");
        final Set<String> leaked = new TreeSet<>(snapshot());
        leaked.removeAll(before);
        leaked.removeIf(NoMessageQueueLeftovers::belongsToAnotherLiveProcess);
        for (final String name : TRACKED) {
            if (exists(name)) {
                leaked.add(name);
            }
        }
        TRACKED.clear();
        if (leaked.isEmpty()) {
            return;
        }
        for (final String name : leaked) {
            PosixMq.unlink(name);
        }
        throw new AssertionError(context.getDisplayName() + " left POSIX message queues behind (now removed): " + leaked);
    }
}
