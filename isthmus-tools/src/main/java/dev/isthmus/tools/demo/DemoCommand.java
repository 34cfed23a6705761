/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.demo;

import dev.isthmus.capnp.Backing;
import dev.isthmus.capnp.CapnpChannels;
import dev.isthmus.capnp.demo.CacheDemo;
import dev.isthmus.session.ClientSession;
import dev.isthmus.session.Session;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.struc.Outgoing;
import dev.isthmus.struc.Received;
import dev.isthmus.struc.StructuredChannel;
import dev.isthmus.struc.StructuredChannelOptions;
import dev.isthmus.sync.ThreadAffinity;
import dev.isthmus.tools.bench.Json;
import dev.isthmus.tools.bench.Machine;
import dev.isthmus.tools.bench.Stats;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * {@code isthmus demo}: the cache perf demo. A cache client (this process) and a cache server (another
 * JVM) open two sessions: a classic one, where Cap'n Proto responses are serialized on the heap and copied
 * through a Unix socket, and a zero-copy one, where responses are built in the server's session arena and
 * read in place. For each file size the client times {@code GetCacheReq} to reading the response's root,
 * then verifies sizes and hashes, and prints a table, a PNG chart and optionally JSON.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = {"The cache perf demo: files of 100 KiB .. 1 GiB from a cache server in another JVM.",
        "Classic (Cap'n Proto copied through a Unix socket) against zero-copy (read in place in shared memory)."})
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--sizes", split = ",", paramLabel = "SIZE",
        description = "File sizes (default: 100K,1M,10M,100M,1G).")
    List<String> sizes = List.of("100K", "1M", "10M", "100M", "1G");

    @Option(names = "--requests", paramLabel = "N", description = "Timed classic requests per size (default: ${DEFAULT-VALUE}).")
    int requests = 7;

    @Option(names = "--zero-copy-requests", paramLabel = "N",
        description = "Timed zero-copy requests per size; they are cheap (default: ${DEFAULT-VALUE}).")
    int zeroCopyRequests = 201;

    @Option(names = "--warmup", paramLabel = "N", description = "Untimed requests per size and mode first (default: ${DEFAULT-VALUE}).")
    int warmup = 2;

    @Option(names = "--jit-warmup", paramLabel = "N", description = {"Untimed requests of the smallest file before the sweep, "
        + "so that the JIT has compiled the request path (default: ${DEFAULT-VALUE} zero-copy, a tenth of that classic)."})
    int jitWarmup = 20_000;

    @Option(names = "--chart", paramLabel = "FILE", description = "Where to write the PNG chart (default: ${DEFAULT-VALUE}).")
    Path chart = Path.of("isthmus-demo.png");

    @Option(names = "--no-chart", description = "Do not write the chart.")
    boolean noChart;

    @Option(names = "--json", description = "Print one JSON document with the raw figures instead of the table.")
    boolean json;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    private record Mode(String name, StructuredChannel<CacheDemo.Body.Reader, CacheDemo.Body.Builder> channel) {
    }

    @Override
    public Integer call() throws Exception {
        final PrintWriter out = spec.commandLine().getOut();
        final List<Long> bytes = sizes.stream().map(CacheFiles::parseSize).toList();
        final List<String> leftoversBefore = leftovers();
        final Process server = startServer(bytes);
        final BlockingQueue<String> serverLines = pumpLines(server);
        final List<Map<String, Object>> results = new ArrayList<>();
        try {
            awaitLine(serverLines, "LISTENING", Duration.ofSeconds(60));
            try (Session classic = ClientSession.connect(CacheApps.client(), CacheApps.server(),
                     CacheApps.sessionOptions(false));
                 Session zeroCopy = ClientSession.connect(CacheApps.client(), CacheApps.server(),
                     CacheApps.sessionOptions(true))) {
                final Mode classicMode = new Mode("classic", CapnpChannels.open(classic.initChannels().getFirst().blobs(),
                    CacheDemo.Body.factory, callerDriven("cache-client-classic", classic)));
                final Mode zeroCopyMode = new Mode("zero-copy", CapnpChannels.open(
                    zeroCopy.initChannels().getFirst().blobs(), CacheDemo.Body.factory, Backing.SESSION_SHM,
                    zeroCopy.arena(), zeroCopy.peerArena(), callerDriven("cache-client-zero-copy", zeroCopy)));
                if (!json) {
                    out.printf("cache server pid %d: preloading %d files and building their responses ...%n",
                        server.pid(), bytes.size());
                    out.flush();
                }
                final String ready = awaitLine(serverLines, "READY", Duration.ofMinutes(10));
                if (!json) {
                    out.println("cache server " + ready.substring("READY ".length()));
                    out.flush();
                }
                final MessageDigest digest = CacheFiles.sha256();
                // The requesting thread on one CPU, the server's receiving thread on another (see the server).
                ThreadAffinity.pinToAllowed(0);
                final long smallest = bytes.stream().mapToLong(Long::longValue).min().orElseThrow();
                // Each mode in a phase of its own, zero-copy first, so that neither measures the other's
                // garbage: classic responses of a gigabyte leave gigabytes for the collector.
                // The JIT compiles the request path in the background for many thousands of requests: on two
                // cores its threads would take turns with the two spinning ones. Warm up every size first.
                run(zeroCopyMode, smallest, digest, jitWarmup, 0);
                for (final long size : bytes) {
                    run(zeroCopyMode, size, digest, Math.max(warmup, zeroCopyRequests), 0);
                }
                final Map<Long, long[]> zeroCopyNs = new LinkedHashMap<>();
                for (final long size : bytes) {
                    zeroCopyNs.put(size, run(zeroCopyMode, size, digest, warmup, zeroCopyRequests));
                }
                run(classicMode, smallest, digest, Math.max(1, jitWarmup / 20), 0);
                for (final long size : bytes) {
                    System.gc();
                    final long[] classicNs = run(classicMode, size, digest, warmup, requests);
                    final Map<String, Object> result = result(size, classicNs, zeroCopyNs.get(size));
                    results.add(result);
                    if (!json) {
                        out.printf(Locale.ROOT, "  %-8s classic p50 %12s   zero-copy p50 %10s   %8.1fx   verified%n",
                            CacheFiles.humanSize(size), micros((Long) result.get("classic_p50_ns")),
                            micros((Long) result.get("zero_copy_p50_ns")), (Double) result.get("ratio"));
                        out.flush();
                    }
                }
                classicMode.channel.close();
                zeroCopyMode.channel.close();
            }
            awaitLine(serverLines, "DONE", Duration.ofSeconds(60));
            server.waitFor(30, TimeUnit.SECONDS);
        } finally {
            if (server.isAlive()) {
                server.destroyForcibly().waitFor();
            }
        }
        final List<String> leftovers = new ArrayList<>(leftovers());
        leftovers.removeAll(leftoversBefore);
        if (!noChart) {
            DemoChart.write(chart, results);
        }
        if (json) {
            final Map<String, Object> document = new LinkedHashMap<>();
            document.put("benchmark", "cache-demo");
            document.put("workload", Map.of("part_bytes", CacheFiles.PART_BYTES, "timed_classic_requests", requests,
                "timed_zero_copy_requests", zeroCopyRequests,
                "warmup_requests", warmup, "jit_warmup_requests", jitWarmup, "timing", "from building GetCacheReq to reading GetCacheRsp's root"));
            document.put("machine", Machine.describe());
            document.put("results", results);
            document.put("shared_memory_left_behind", leftovers);
            out.print(Json.write(document));
        } else {
            printTable(out, results, leftovers);
        }
        out.flush();
        return leftovers.isEmpty() ? 0 : 1;
    }

    private static StructuredChannelOptions callerDriven(final String name, final Session session) {
        // No driver thread: the requesting thread receives its response itself, with no hand-off between threads.
        return StructuredChannelOptions.builder().name(name).token(session.token()).driverThread(false).build();
    }

    private static long[] run(final Mode mode, final long size, final MessageDigest digest, final int untimed,
                              final int timed) {
        final long[] timings = new long[timed];
        for (int i = -untimed; i < timed; i++) {
            final long start = System.nanoTime();
            final Outgoing<CacheDemo.Body.Builder> request = mode.channel.newMessage();
            request.root().initGetCacheReq().setFileName(CacheFiles.name(size));
            try (Received<CacheDemo.Body.Reader> response = mode.channel.request(request, Duration.ofMinutes(2))) {
                final CacheDemo.GetCacheRsp.Reader root = response.root().getGetCacheRsp();
                final int parts = root.getFileParts().size();
                final long elapsed = System.nanoTime() - start;
                if (i >= 0) {
                    timings[i] = elapsed;
                }
                // Every part's size and a spread sample of hashes of every timed response, every hash of the
                // first one (files up to 10 MiB); untimed ones now and then.
                final String problem = i == 0 ? verify(root, parts, size, digest, true)
                    : i > 0 || i % 100 == 0 ? verify(root, parts, size, digest, false) : null;
                if (problem != null) {
                    throw new IllegalStateException(mode.name + " response for " + CacheFiles.name(size) + ": " + problem);
                }
            } finally {
                request.close();
            }
        }
        return timings;
    }

    /**
     * Checks a response: the number of parts, then every part's size and hash for files up to 10 MiB (when
     * {@code everyPart}), or a spread sample of 64 parts and the last one otherwise. Sampling keeps the
     * check of a 1 GiB response from creating a reader object per part, whose garbage would make the
     * collector take CPUs from the timed requests.
     */
    static String verify(final CacheDemo.GetCacheRsp.Reader root, final int parts, final long size,
                         final MessageDigest digest, final boolean everyPart) {
        final int expectedParts = (int) ((size + CacheFiles.PART_BYTES - 1) / CacheFiles.PART_BYTES);
        if (parts != expectedParts) {
            return parts + " parts, expected " + expectedParts;
        }
        final org.capnproto.StructList.Reader<CacheDemo.GetCacheRsp.FilePart.Reader> list = root.getFileParts();
        final int step = everyPart && size <= 10L << 20 ? 1 : Math.max(1, parts / 64);
        long checked = 0;
        for (int i = 0; i < parts; i += step) {
            final String problem = verifyPart(list.get(i), i, size, digest);
            if (problem != null) {
                return problem;
            }
            checked++;
        }
        if (step == 1 && checked != parts) {
            return "checked " + checked + " of " + parts + " parts";
        }
        return verifyPart(list.get(parts - 1), parts - 1, size, digest);
    }

    private static String verifyPart(final CacheDemo.GetCacheRsp.FilePart.Reader part, final int index, final long size,
                                     final MessageDigest digest) {
        final long expected = Math.min(CacheFiles.PART_BYTES, size - (long) index * CacheFiles.PART_BYTES);
        final long length = part.getData().size();
        if (length != expected || part.getDataSizeToVerify() != expected) {
            return "part " + index + " has " + length + " bytes and says " + part.getDataSizeToVerify() + ", expected "
                + expected;
        }
        return verifyHash(part, index, digest);
    }

    private static String verifyHash(final CacheDemo.GetCacheRsp.FilePart.Reader part, final int index,
                                     final MessageDigest digest) {
        final long[] hash = CacheFiles.hash(digest, part.getData().asByteBuffer());
        if (hash[0] != part.getDataHashToVerify().getHigh() || hash[1] != part.getDataHashToVerify().getLow()) {
            return "part " + index + " does not match its hash";
        }
        return null;
    }

    private Map<String, Object> result(final long size, final long[] classicNs, final long[] zeroCopyNs) {
        final double classicP50 = Stats.median(toDoubles(classicNs));
        final double zeroCopyP50 = Stats.median(toDoubles(zeroCopyNs));
        final Map<String, Object> result = new LinkedHashMap<>();
        result.put("size_bytes", size);
        result.put("classic_p50_ns", Math.round(classicP50));
        result.put("zero_copy_p50_ns", Math.round(zeroCopyP50));
        result.put("ratio", classicP50 / zeroCopyP50);
        result.put("verified", true);
        result.put("classic_ns", toList(classicNs));
        result.put("zero_copy_ns", toList(zeroCopyNs));
        return result;
    }

    private Process startServer(final List<Long> bytes) throws IOException {
        long total = 0;
        for (final long size : bytes) {
            total += size;
        }
        // The heap holds each file while its responses are built, every classic response, and the segments a
        // heap MessageBuilder over-allocates as it grows.
        final long heapMiB = Math.max(512, (5 * total >> 20) + 512);
        final List<String> command = new ArrayList<>(List.of(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "--enable-native-access=ALL-UNNAMED", "-Xmx" + heapMiB + "m", "-XX:+UseParallelGC",
            "-cp", System.getProperty("java.class.path"), CacheServerMain.class.getName()));
        bytes.forEach(size -> command.add(Long.toString(size)));
        return new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    private static BlockingQueue<String> pumpLines(final Process process) {
        final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread.ofPlatform().daemon().name("cache-server-output").start(() -> {
            try (BufferedReader reader = new BufferedReader(
                new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = reader.readLine()) != null) {
                    lines.add(line);
                }
            } catch (final IOException ignored) {
                // the process ended
            }
            lines.add("EOF");
        });
        return lines;
    }

    private static String awaitLine(final BlockingQueue<String> lines, final String prefix, final Duration timeout)
        throws InterruptedException {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            final String line = lines.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (line == null) {
                throw new IllegalStateException("the cache server did not print " + prefix + " within " + timeout);
            }
            if (line.startsWith(prefix)) {
                return line;
            }
            if (line.equals("EOF")) {
                throw new IllegalStateException("the cache server exited before printing " + prefix);
            }
        }
    }

    /** The demo's resources in the segment directory, to check that it leaves none. */
    private static List<String> leftovers() throws IOException {
        final String prefix = ResourceName.configuredPrefix() + ".";
        try (Stream<Path> entries = Files.list(SharedMemory.DEFAULT_DIRECTORY)) {
            return entries.map(path -> path.getFileName().toString())
                .filter(name -> name.startsWith(prefix + CacheApps.CLIENT + ".") || name.startsWith(prefix + CacheApps.SERVER + "."))
                .sorted().toList();
        }
    }

    private static void printTable(final PrintWriter out, final List<Map<String, Object>> results,
                                   final List<String> leftovers) {
        out.printf("%nround trip from building GetCacheReq to reading GetCacheRsp's root, two JVMs (median)%n%n");
        out.printf("%-8s  %14s  %14s  %10s  %s%n", "size", "classic p50", "zero-copy p50", "ratio", "verified");
        for (final Map<String, Object> r : results) {
            out.printf(Locale.ROOT, "%-8s  %14s  %14s  %9.1fx  %s%n", CacheFiles.humanSize((Long) r.get("size_bytes")),
                micros((Long) r.get("classic_p50_ns")), micros((Long) r.get("zero_copy_p50_ns")), (Double) r.get("ratio"),
                (Boolean) r.get("verified") ? "yes" : "NO");
        }
        out.println();
        out.println("shared memory left behind: " + (leftovers.isEmpty() ? "none" : leftovers));
    }

    static String micros(final long nanos) {
        return nanos >= 10_000_000 ? String.format(Locale.ROOT, "%,.1f ms", nanos / 1e6)
            : String.format(Locale.ROOT, "%,.1f µs", nanos / 1e3);
    }

    private static double[] toDoubles(final long[] values) {
        final double[] doubles = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            doubles[i] = values[i];
        }
        return doubles;
    }

    private static List<Long> toList(final long[] values) {
        final List<Long> list = new ArrayList<>();
        for (final long value : values) {
            list.add(value);
        }
        return list;
    }
}
