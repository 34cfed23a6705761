/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/**
 * A child JVM for cross-process tests: same class path and native access as the test JVM, output
 * (stdout and stderr, merged) copied to a log file and kept for failure messages, a timeout on every
 * wait, and {@code destroyForcibly} on {@link #close()}.
 *
 * {@snippet :
 * try (ChildJvm child = ChildJvm.start(EchoMain.class, "arg")) {
 *     child.awaitLine("READY", Duration.ofSeconds(30));
 *     child.send("ping");
 *     child.awaitLine("pong", Duration.ofSeconds(5));
 *     child.assertExit(0, Duration.ofSeconds(10));
 * }
 * }
 *
 * <p>Children talk to the test through lines: the test writes to the child's stdin with {@link #send},
 * and waits for lines the child prints. Every failure message includes the child's whole output.
 */
public final class ChildJvm implements AutoCloseable {
    private static final AtomicInteger COUNTER = new AtomicInteger();
    /** Every child this JVM started: their resources are this test run's, for {@link NoLeftovers}. */
    private static final Set<Long> STARTED_PIDS = ConcurrentHashMap.newKeySet();
    private static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(60);

    private final String name;
    private final Process process;
    private final Path log;
    private final Writer stdin;
    private final Thread pump;
    private final List<String> lines = new ArrayList<>();
    private int consumed;
    private boolean eof;

    private ChildJvm(final String name, final Process process, final Path log) {
        this.name = name;
        this.process = process;
        this.log = log;
        this.stdin = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        this.pump = Thread.ofPlatform().daemon().name("child-output-" + name).start(this::pumpOutput);
    }

    /**
     * Starts a child JVM running {@code mainClass}.
     *
     * @param mainClass a class with a {@code main} method, on the test class path
     * @param args      its arguments
     * @return the running child
     */
    public static ChildJvm start(final Class<?> mainClass, final String... args) {
        return start(List.of(), mainClass, args);
    }

    /**
     * Starts a child JVM with extra JVM options (system properties, for example).
     *
     * @param jvmOptions options placed before the main class, e.g. {@code -Dkey=value}
     * @param mainClass  a class with a {@code main} method, on the test class path
     * @param args       its arguments
     * @return the running child
     */
    public static ChildJvm start(final List<String> jvmOptions, final Class<?> mainClass, final String... args) {
        return startCommand(mainClass.getSimpleName(), command(jvmOptions, mainClass.getName(), args));
    }

    /**
     * {@return the command line that runs {@code mainClass} in a JVM like this one}
     *
     * @param jvmOptions options placed before the main class
     * @param mainClass  the fully qualified main class
     * @param args       its arguments
     */
    public static List<String> command(final List<String> jvmOptions, final String mainClass, final String... args) {
        final List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("--enable-native-access=ALL-UNNAMED");
        // One GC thread: these machines have two cores, shared by the test JVM and its children.
        command.add("-XX:+UseSerialGC");
        for (final String property : List.of("isthmus.prefix", "isthmus.shm.dir", "isthmus.run.dir")) {
            final String value = System.getProperty(property);
            if (value != null) {
                command.add("-D" + property + "=" + value);
            }
        }
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(mainClass);
        command.addAll(Arrays.asList(args));
        return command;
    }

    /**
     * Starts a child process from a full command line, with the same output handling.
     *
     * @param name    a short name for the log file
     * @param command the command line
     * @return the running child
     */
    public static ChildJvm startCommand(final String name, final List<String> command) {
        final String unique = name + "-" + ProcessHandle.current().pid() + "-" + COUNTER.incrementAndGet();
        final Path dir = Path.of(System.getProperty("isthmus.test.workdir", System.getProperty("java.io.tmpdir")),
            "children");
        try {
            Files.createDirectories(dir);
            final Path log = dir.resolve(unique + ".log");
            Files.writeString(log, String.join(" ", command) + System.lineSeparator(), StandardCharsets.UTF_8);
            final Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            STARTED_PIDS.add(process.pid());
            return new ChildJvm(unique, process, log);
        } catch (final IOException e) {
            throw new UncheckedIOException("cannot start " + command, e);
        }
    }

    private void pumpOutput() {
        try (BufferedReader reader = new BufferedReader(
            new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
             Writer out = Files.newBufferedWriter(log, StandardCharsets.UTF_8, StandardOpenOption.APPEND)) {
            String line;
            while ((line = reader.readLine()) != null) {
                out.write(line);
                out.write(System.lineSeparator());
                out.flush();
                synchronized (this) {
                    lines.add(line);
                    notifyAll();
                }
            }
        } catch (final IOException e) {
            synchronized (this) {
                lines.add("[output pump failed: " + e + "]");
            }
        } finally {
            synchronized (this) {
                eof = true;
                notifyAll();
            }
        }
    }

    /**
     * {@return the process ids of every child this JVM has started so far, running or not}
     */
    public static Set<Long> startedPids() {
        return Collections.unmodifiableSet(STARTED_PIDS);
    }

    /**
     * {@return the child's process id}
     */
    public long pid() {
        return process.pid();
    }

    /**
     * {@return the underlying process}
     */
    public Process process() {
        return process;
    }

    /**
     * Writes a line to the child's stdin.
     *
     * @param line the line, without terminator
     */
    public void send(final String line) {
        try {
            stdin.write(line);
            stdin.write('\n');
            stdin.flush();
        } catch (final IOException e) {
            throw new AssertionError("cannot write to child " + name + ": " + e + "\n" + output(), e);
        }
    }

    /**
     * Waits for the next line (after those already consumed) that starts with {@code prefix}.
     *
     * @param prefix  the beginning of the line
     * @param timeout the longest wait
     * @return the whole line
     * @throws AssertionError with the child's output if the line does not come in time
     */
    public String awaitLine(final String prefix, final Duration timeout) {
        return awaitLine(line -> line.startsWith(prefix), "a line starting with \"" + prefix + "\"", timeout);
    }

    /**
     * {@return the next line matching {@code predicate}; {@link #awaitLine(String, Duration)} with a predicate}
     *
     * @param predicate   which line
     * @param description what the line is, for the failure message
     * @param timeout     the longest wait
     */
    public synchronized String awaitLine(final Predicate<String> predicate, final String description,
                                         final Duration timeout) {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            while (consumed < lines.size()) {
                final String line = lines.get(consumed++);
                if (predicate.test(line)) {
                    return line;
                }
            }
            final long remainingMs = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (eof) {
                throw new AssertionError("child " + name + " ended its output before printing " + description
                    + exitDescription() + "\n" + output());
            }
            if (remainingMs <= 0) {
                throw new AssertionError("child " + name + " did not print " + description + " within " + timeout
                    + "\n" + output());
            }
            try {
                wait(remainingMs);
            } catch (final InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            }
        }
    }

    /**
     * Waits for a {@code READY} line, as test mains print once they are set up.
     *
     * @return the line, which may carry values after {@code READY}
     */
    public String awaitReady() {
        return awaitLine("READY", DEFAULT_START_TIMEOUT);
    }

    /**
     * Waits for the child to exit.
     *
     * @param timeout the longest wait
     * @return the exit code
     * @throws AssertionError with the child's output if it does not exit in time
     */
    public int awaitExit(final Duration timeout) {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new AssertionError("child " + name + " did not exit within " + timeout + "\n" + output());
            }
            pump.join(5_000);
            return process.exitValue();
        } catch (final InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    /**
     * Waits for the child to exit with the expected code.
     *
     * @param expected the exit code
     * @param timeout  the longest wait
     * @throws AssertionError with the child's output otherwise
     */
    public void assertExit(final int expected, final Duration timeout) {
        final int code = awaitExit(timeout);
        if (code != expected) {
            throw new AssertionError("child " + name + " exited with " + code + ", expected " + expected + "\n" + output());
        }
    }

    /**
     * Kills the child with {@code SIGKILL}, as {@code kill -9} does, and waits until it is gone and reaped.
     */
    public void kill9() {
        process.destroyForcibly();
        try {
            process.waitFor(30, TimeUnit.SECONDS);
        } catch (final InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * {@return everything the child printed so far, framed for a failure message}
     */
    public synchronized String output() {
        return "----- output of child " + name + " (" + log + ") -----\n" + String.join("\n", lines)
            + "\n----- end of output -----";
    }

    private String exitDescription() {
        return process.isAlive() ? "" : " (exit code " + process.exitValue() + ")";
    }

    /**
     * Kills the child if it still runs. Idempotent.
     */
    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
        }
        try {
            process.waitFor(30, TimeUnit.SECONDS);
            pump.join(5_000);
        } catch (final InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
