/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.bench;

import dev.isthmus.sync.ThreadAffinity;
import org.HdrHistogram.Histogram;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.zip.DataFormatException;

/**
 * The benchmark's own side of one configuration, run in a fresh JVM: no configuration runs on code the JIT
 * compiled with another's profile (other channel classes and idle strategies at the same call sites), and a
 * transport that needs JVM options the benchmark process does not carry ({@link BenchTransport#jvmOptions()}:
 * Aeron's JDK-internal export) gets them.
 *
 * <p>The benchmark process starts this JVM with native access and the transport's options, and waits. This
 * JVM runs the same code for every transport: it listens, starts the
 * peer (a {@link BenchPeer}, with the same options), warms up and measures, then prints the raw figures as
 * one JSON line on its standard output (the round trips' histogram, or each run's seconds) and exits. The
 * benchmark process reads that line and reports the figures as it reports its own, in the same table. Any
 * other line on this JVM's standard output goes to the benchmark process's standard error; this JVM's own
 * standard error is the benchmark process's.
 *
 * <ul>
 *   <li>{@code latency <transport> <idle> <size> <warmup-seconds> <seconds>}: {@code {"histogram": <base64 of
 *       the compressed HdrHistogram>}};</li>
 *   <li>{@code queue <transport> <idle> <rounds> <warmup-runs> <runs>}: {@code {"run_seconds": [...]}}.</li>
 * </ul>
 */
public final class ForkedBench {
    private ForkedBench() {
    }

    /**
     * Measures round trips as {@link LatencyBench} does, in a JVM of the transport's own.
     *
     * @param transport     the transport
     * @param idle          the idle strategy name
     * @param size          the message size
     * @param warmupSeconds the warm-up
     * @param seconds       the measurement
     * @return the round trips, in nanoseconds
     * @throws IOException if the JVM cannot start or its result cannot be read
     */
    static Histogram latency(final BenchTransport transport, final String idle, final int size,
                             final double warmupSeconds, final double seconds) throws IOException {
        final Map<?, ?> result = run(transport, "latency", transport.alias(), idle, Integer.toString(size),
            Double.toString(warmupSeconds), Double.toString(seconds));
        if (!(result.get("histogram") instanceof String encoded)) {
            throw new IllegalStateException(transport.alias() + ": its own JVM sent no histogram: " + result);
        }
        return decode(encoded);
    }

    /**
     * {@return a histogram as text: Base64 of HdrHistogram's compressed encoding, every count in it}
     *
     * @param histogram the histogram
     */
    static String encode(final Histogram histogram) {
        final ByteBuffer buffer = ByteBuffer.allocate(histogram.getNeededByteBufferCapacity());
        final int length = histogram.encodeIntoCompressedByteBuffer(buffer);
        return Base64.getEncoder().encodeToString(Arrays.copyOf(buffer.array(), length));
    }

    /**
     * {@return the histogram {@link #encode} wrote}
     *
     * @param encoded its text
     * @throws IllegalStateException if the text is not one
     */
    static Histogram decode(final String encoded) {
        try {
            return Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(Base64.getDecoder().decode(encoded)), 0);
        } catch (final DataFormatException | IllegalArgumentException e) {
            throw new IllegalStateException("not a histogram from ForkedBench.encode", e);
        }
    }

    /**
     * Runs the queue workload as {@link QueueBench} does, in a JVM of the transport's own.
     *
     * @param transport the transport
     * @param idle      the idle strategy name
     * @param rounds    rounds of messages per run
     * @param warmup    warm-up runs
     * @param runs      measured runs
     * @return the seconds of each measured run
     * @throws IOException if the JVM cannot start or its result cannot be read
     */
    static double[] queue(final BenchTransport transport, final String idle, final int rounds, final int warmup,
                          final int runs) throws IOException {
        final Map<?, ?> result = run(transport, "queue", transport.alias(), idle, Integer.toString(rounds),
            Integer.toString(warmup), Integer.toString(runs));
        if (!(result.get("run_seconds") instanceof List<?> list) || list.size() != runs
            || !list.stream().allMatch(Double.class::isInstance)) {
            throw new IllegalStateException(transport.alias() + ": its own JVM sent no " + runs
                + " run times: " + result);
        }
        return list.stream().mapToDouble(Double.class::cast).toArray();
    }

    /**
     * {@return the command line of the JVM for {@code transport}: a JVM like this one, with native access and
     * the transport's own options}
     *
     * @param transport the transport
     * @param args      the mode and its arguments
     */
    static List<String> command(final BenchTransport transport, final String... args) {
        return BenchPeer.javaCommand(transport, List.of(), ForkedBench.class, List.of(args));
    }

    /** Starts the JVM, waits for it, and returns the object it printed. */
    private static Map<?, ?> run(final BenchTransport transport, final String... args) throws IOException {
        // The JVM must not inherit a pinned affinity: it pins its benchmark thread and its peer's itself.
        ThreadAffinity.unpin();
        final Process process = new ProcessBuilder(command(transport, args))
            .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try {
            process.getOutputStream().close();
            String result = null;
            try (BufferedReader reader = new BufferedReader(
                new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = reader.readLine()) != null) {
                    if (line.startsWith("{")) {
                        result = line;
                    } else {
                        System.err.println(line);
                    }
                }
            }
            final int exit = process.waitFor();
            if (exit != 0 || result == null) {
                throw new IllegalStateException(transport.alias() + ": its own JVM exited with " + exit
                    + (result == null ? " and no result" : "") + " (its errors are above)");
            }
            if (!(Json.parse(result) instanceof Map<?, ?> map)) {
                throw new IllegalStateException(transport.alias() + ": its own JVM printed " + result);
            }
            return map;
        } catch (final InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while " + transport.alias() + "'s own JVM ran", e);
        } finally {
            if (process.isAlive()) {
                process.destroyForcibly();
            }
        }
    }

    /**
     * Runs one benchmark configuration, prints its raw figures as one JSON line and exits: with 0, or with 1
     * after printing the failure to standard error.
     *
     * @param args the mode and its arguments
     */
    public static void main(final String[] args) {
        // Only the result goes to standard output: whatever else this JVM's code prints goes with its errors.
        final PrintStream result = System.out;
        System.setOut(System.err);
        int status = 1;
        try {
            result.println(measure(args));
            result.flush();
            status = 0;
        } catch (final Exception | Error e) {
            e.printStackTrace();
        }
        // As the peer does: threads Aeron's client may have left must not keep this JVM alive.
        System.exit(status);
    }

    private static String measure(final String[] args) throws Exception {
        final BenchTransport transport = BenchTransport.byAlias(args[1]);
        final String idle = args[2];
        return switch (args[0]) {
            case "latency" -> {
                final Histogram histogram = LatencyBench.roundTrips(transport, idle, Integer.parseInt(args[3]),
                    Double.parseDouble(args[4]), Double.parseDouble(args[5]));
                yield Json.writeLine(Map.of("histogram", encode(histogram)));
            }
            case "queue" -> {
                final double[] seconds = QueueBench.runSeconds(transport, idle, Integer.parseInt(args[3]),
                    Integer.parseInt(args[4]), Integer.parseInt(args[5]));
                final List<Double> list = new ArrayList<>();
                for (final double s : seconds) {
                    list.add(s);
                }
                yield Json.writeLine(Map.of("run_seconds", list));
            }
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        };
    }
}
