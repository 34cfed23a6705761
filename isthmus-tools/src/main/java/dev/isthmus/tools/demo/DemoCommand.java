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
 * through a Unix socket (into a receive buffer the client reuses), and a zero-copy one, where responses are
 * built once in the server's session arena and read in place. The zero-copy session has two channels: one
 * served by a spinning thread, one by a thread that sleeps on a futex whenever it has nothing to do.
 *
 * <p>For each file size the client times {@code GetCacheReq} to reading the response's root, in five
 * modes: classic; zero-copy with the server spinning, the client verifying each response between requests
 * (sizes and a sample of hashes, about 0.6 ms from 1 MiB up); the same with the client idle instead, spinning
 * on the clock for as long as it verified in the same sweep and touching nothing; the same back to back;
 * and zero-copy with the server asleep between requests. What the idle client pays over back to back is
 * what time alone takes from both CPUs' caches on the machine, which no code on the path prevents; what
 * verifying pays over idle is the client's own verification evicting them. The zero-copy modes run in several sweeps over all
 * sizes, interleaved, and report the p50 and p99 of every request and the spread of the sweeps' p50s. The
 * server-asleep figures come with their baseline from the same sweeps: right after each size's requests, as
 * many futex wake-ups of a thread that has slept as long as the server did between them.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = {"The cache perf demo: files of 100 KiB .. 1 GiB from a cache server in another JVM.",
        "Classic (Cap'n Proto copied through a Unix socket) against zero-copy (read in place in shared memory),",
        "the zero-copy server spinning or asleep, with p50, p99 and the spread of repeated sweeps."})
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--sizes", split = ",", paramLabel = "SIZE",
        description = "File sizes (default: 100K,1M,10M,100M,1G).")
    List<String> sizes = List.of("100K", "1M", "10M", "100M", "1G");

    @Option(names = "--requests", paramLabel = "N", description = "Timed classic requests per size (default: ${DEFAULT-VALUE}).")
    int requests = 7;

    @Option(names = "--zero-copy-requests", paramLabel = "N",
        description = "Timed zero-copy requests per size, mode and sweep; they are cheap (default: ${DEFAULT-VALUE}).")
    int zeroCopyRequests = 101;

    @Option(names = "--sweeps", paramLabel = "N",
        description = "Zero-copy sweeps over every size, whose p50s give the spread (default: ${DEFAULT-VALUE}).")
    int sweeps = 5;

    @Option(names = "--warmup", paramLabel = "N", description = "Untimed requests per size and mode first (default: ${DEFAULT-VALUE}).")
    int warmup = 2;

    @Option(names = "--jit-warmup", paramLabel = "N", description = {"Untimed requests of the smallest file before the sweeps, "
        + "so that the JIT has compiled every request path (default: ${DEFAULT-VALUE} per zero-copy mode, a tenth of that classic)."})
    int jitWarmup = 20_000;

    @Option(names = "--chart", paramLabel = "FILE", description = "Where to write the PNG chart (default: ${DEFAULT-VALUE}).")
    Path chart = Path.of("isthmus-demo.png");

    @Option(names = "--no-chart", description = "Do not write the chart.")
    boolean noChart;

    @Option(names = "--json", description = "Print one JSON document with the raw figures instead of the table.")
    boolean json;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    /** How a mode's client waits between requests. */
    private enum Between {
        /** Verifies each response (sizes, a sample of hashes) before the next request. */
        VERIFY,
        /**
         * Spins on the clock, touching nothing, for as long as the verifying client took between requests of
         * the size in the same sweep; then as {@link #BACK_TO_BACK}.
         */
        IDLE,
        /** Sends the next request at once: only the first timed response is verified. */
        BACK_TO_BACK
    }

    private record Mode(String key, String title, StructuredChannel<CacheDemo.Body.Reader, CacheDemo.Body.Builder> channel,
                        Between between) {
    }

    /** Pause between modes: longer than a spinning thread's spin budget, so that the one measured next is alone. */
    private static final long QUIET_MS = 2 * TimeUnit.NANOSECONDS.toMillis(CacheApps.SPIN_BUDGET_NS);

    @Override
    public Integer call() throws Exception {
        final PrintWriter out = spec.commandLine().getOut();
        if (sweeps < 1 || zeroCopyRequests < 1 || requests < 1) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                "--sweeps, --requests and --zero-copy-requests must be at least 1");
        }
        final List<Long> bytes = sizes.stream().map(CacheFiles::parseSize).toList();
        final List<String> leftoversBefore = leftovers();
        final Process server = startServer(bytes);
        final BlockingQueue<String> serverLines = pumpLines(server);
        final List<Map<String, Object>> results = new ArrayList<>();
        final Map<String, Object> machine = new LinkedHashMap<>();
        // Before this thread is pinned: the CPUs it sees are the process's.
        final Map<String, Object> machineBeforePinning = Machine.describe();
        try {
            awaitLine(serverLines, "LISTENING", Duration.ofSeconds(60));
            try (Session classic = ClientSession.connect(CacheApps.client(), CacheApps.server(),
                     CacheApps.sessionOptions(false));
                 Session zeroCopy = ClientSession.connect(CacheApps.client(), CacheApps.server(),
                     CacheApps.sessionOptions(true))) {
                // The classic client as a competent engineer writes it: one receive buffer, used again for
                // every response once the last one is closed, not a fresh gigabyte array per request.
                final Mode classicMode = new Mode("classic", "classic", CapnpChannels.open(
                    classic.initChannels().getFirst().blobs(), CacheDemo.Body.factory,
                    callerDriven("cache-client-classic", classic, true)), Between.VERIFY);
                final StructuredChannel<CacheDemo.Body.Reader, CacheDemo.Body.Builder> spinning = CapnpChannels.open(
                    zeroCopy.initChannels().getFirst().blobs(), CacheDemo.Body.factory, Backing.SESSION_SHM,
                    zeroCopy.arena(), zeroCopy.peerArena(), callerDriven("cache-client-zero-copy", zeroCopy, false));
                final StructuredChannel<CacheDemo.Body.Reader, CacheDemo.Body.Builder> asleep = CapnpChannels.open(
                    zeroCopy.initChannels().get(1).blobs(), CacheDemo.Body.factory, Backing.SESSION_SHM,
                    zeroCopy.arena(), zeroCopy.peerArena(), callerDriven("cache-client-zero-copy-asleep", zeroCopy, false));
                final List<Mode> zeroCopyModes = List.of(
                    new Mode("zero_copy", "zero-copy", spinning, Between.VERIFY),
                    new Mode("zero_copy_client_idle", "client idle", spinning, Between.IDLE),
                    new Mode("zero_copy_back_to_back", "back to back", spinning, Between.BACK_TO_BACK),
                    new Mode("zero_copy_server_asleep", "server asleep", asleep, Between.VERIFY));
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
                // The requesting thread on one CPU, the server's receiving threads on another (see the server),
                // ahead of this JVM's compiler and collector threads if the process may say so.
                ThreadAffinity.pinToAllowed(0);
                machine.put("requesting_thread_priority_raised", ThreadAffinity.raiseCurrentThreadPriority());
                final long smallest = bytes.stream().mapToLong(Long::longValue).min().orElseThrow();
                final long[] wakeUps = FutexWakeProbe.measure(2_000, TimeUnit.MICROSECONDS.toNanos(300));
                machine.put("futex_wake_up_p50_ns", Math.round(Stats.median(toDoubles(wakeUps))));
                machine.put("futex_wake_up_p99_ns", Math.round(Stats.percentile(99, toDoubles(wakeUps))));
                // Each mode in a phase of its own, zero-copy first, so that neither measures the other's
                // garbage. The JIT compiles the request paths in the background for many thousands of requests:
                // on two cores its threads would take turns with the spinning ones. Warm up every path first.
                for (final Mode mode : zeroCopyModes) {
                    run(mode, smallest, digest, jitWarmup, 0, null, warmUpIdleNs(mode));
                    for (final long size : bytes) {
                        run(mode, size, digest, Math.max(warmup, zeroCopyRequests), 0, null, warmUpIdleNs(mode));
                    }
                    quiet();
                }
                final Map<String, Map<Long, long[][]>> zeroCopyNs = new LinkedHashMap<>();
                for (final Mode mode : zeroCopyModes) {
                    zeroCopyNs.put(mode.key, new LinkedHashMap<>());
                    for (final long size : bytes) {
                        zeroCopyNs.get(mode.key).put(size, new long[sweeps][]);
                    }
                }
                // The asleep server's baseline: futex wake-ups after as long a quiet as that server had between
                // requests of the size, measured right after them in every sweep.
                final Mode asleepMode = zeroCopyModes.getLast();
                final Map<Long, WakeUps> wakeUpsAfterSameQuiet = new LinkedHashMap<>();
                // The idle client's spell: per size, per sweep, the verifying client's median time between
                // requests (from reading a response to sending the next) in that sweep.
                final Map<Long, long[]> verifyingGaps = new LinkedHashMap<>();
                for (final long size : bytes) {
                    wakeUpsAfterSameQuiet.put(size, new WakeUps(new long[sweeps], new long[sweeps][]));
                    verifyingGaps.put(size, new long[sweeps]);
                }
                // Every page the request paths allocate on from now on has been touched once (see HeapWarmup),
                // then one whole sweep untimed: what the collection and the last compilations leave running
                // settles before the first timed request.
                HeapWarmup.touchYoungGeneration(2, 32L << 30);
                for (final Mode mode : zeroCopyModes) {
                    for (final long size : bytes) {
                        run(mode, size, digest, warmup + zeroCopyRequests, 0, null, warmUpIdleNs(mode));
                    }
                    quiet();
                }
                for (int sweep = 0; sweep < sweeps; sweep++) {
                    for (final Mode mode : zeroCopyModes) {
                        for (final long size : bytes) {
                            final long[] gaps = new long[zeroCopyRequests];
                            final long idleNs = mode.between == Between.IDLE ? verifyingGaps.get(size)[sweep] : 0;
                            zeroCopyNs.get(mode.key).get(size)[sweep] =
                                run(mode, size, digest, warmup, zeroCopyRequests, gaps, idleNs);
                            if (mode.between == Between.VERIFY && mode != asleepMode) {
                                verifyingGaps.get(size)[sweep] = median(gaps);
                            }
                            if (mode == asleepMode) {
                                final long quiet = median(gaps);
                                wakeUpsAfterSameQuiet.get(size).quietNs[sweep] = quiet;
                                wakeUpsAfterSameQuiet.get(size).ns[sweep] = FutexWakeProbe.measure(zeroCopyRequests, quiet);
                            }
                        }
                        quiet();
                    }
                    if (!json) {
                        out.printf("  zero-copy sweep %d of %d done%n", sweep + 1, sweeps);
                        out.flush();
                    }
                }
                run(classicMode, smallest, digest, Math.max(1, jitWarmup / 10), 0, null, 0);
                for (final long size : bytes) {
                    System.gc();
                    final long[] classicNs = run(classicMode, size, digest, warmup, requests, null, 0);
                    final Map<String, Object> result = result(size, classicNs, zeroCopyModes, zeroCopyNs,
                        wakeUpsAfterSameQuiet.get(size), verifyingGaps.get(size));
                    results.add(result);
                    if (!json) {
                        out.printf(Locale.ROOT, "  %-8s classic p50 %12s   zero-copy p50 %10s   %10.1fx   verified%n",
                            CacheFiles.humanSize(size), micros((Long) result.get("classic_p50_ns")),
                            micros((Long) result.get("zero_copy_p50_ns")), (Double) result.get("ratio"));
                        out.flush();
                    }
                }
                classicMode.channel.close();
                spinning.close();
                asleep.close();
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
        final Map<String, Object> described = new LinkedHashMap<>(machineBeforePinning);
        described.putAll(machine);
        if (!noChart) {
            DemoChart.write(chart, results);
        }
        if (json) {
            final Map<String, Object> document = new LinkedHashMap<>();
            document.put("benchmark", "cache-demo");
            document.put("workload", Map.of("part_bytes", CacheFiles.PART_BYTES, "timed_classic_requests", requests,
                "timed_zero_copy_requests_per_sweep", zeroCopyRequests, "sweeps", sweeps,
                "warmup_requests", warmup, "jit_warmup_requests", jitWarmup,
                "timing", "from building GetCacheReq to reading GetCacheRsp's root",
                "percentiles", "nearest rank over every timed request of the mode and size; spread = max/min of the"
                    + " sweeps' p50s"));
            document.put("machine", described);
            document.put("results", results);
            document.put("shared_memory_left_behind", leftovers);
            out.print(Json.write(document));
        } else {
            printTable(out, results, leftovers, described);
        }
        out.flush();
        return leftovers.isEmpty() ? 0 : 1;
    }

    /**
     * {@return the idle client's spell while warming up} A microsecond: the spell's loop runs, so that the JIT
     * compiles the request loop with it rather than recompiling it in the first timed sweep.
     */
    private static long warmUpIdleNs(final Mode mode) {
        return mode.between == Between.IDLE ? TimeUnit.MICROSECONDS.toNanos(1) : 0;
    }

    /** Lets every spinning thread of the last mode run out of its spin budget and go to sleep. */
    private static void quiet() throws InterruptedException {
        Thread.sleep(QUIET_MS);
    }

    private static StructuredChannelOptions callerDriven(final String name, final Session session, final boolean reuse) {
        // No driver thread: the requesting thread receives its response itself, with no hand-off between threads.
        return StructuredChannelOptions.builder().name(name).token(session.token()).driverThread(false)
            .reuseReceiveBuffer(reuse).build();
    }

    /**
     * Runs {@code untimed} then {@code timed} requests of a file.
     *
     * @param gaps   null, or where to put, for each timed request, how long after the last response was read it
     *               was sent, or 0 for the first request of the run
     * @param idleNs how long to spin on the clock before each request but the first, in the {@link Between#IDLE}
     *               mode
     * @return each timed request's round trip in nanoseconds
     */
    private static long[] run(final Mode mode, final long size, final MessageDigest digest, final int untimed,
                              final int timed, final long[] gaps, final long idleNs) {
        final long[] timings = new long[timed];
        final boolean verifyEach = mode.between == Between.VERIFY;
        final TimedRead read = new TimedRead(size, digest);
        for (int i = -untimed; i < timed; i++) {
            if (idleNs > 0 && i > -untimed) {
                // Nothing but the clock: no memory of this process is touched while the machine runs on.
                final long end = read.readAt + idleNs;
                while (System.nanoTime() - end < 0) {
                    Thread.onSpinWait();
                }
            }
            read.start = System.nanoTime();
            if (gaps != null && i >= 0) {
                gaps[i] = i > -untimed ? read.start - read.readAt : 0;
            }
            // Every part's size and a spread sample of hashes of every timed response (back to back: of the
            // first), every hash of the first one (files up to 10 MiB); untimed ones now and then.
            read.check = i == 0 ? TimedRead.EVERY_PART : i > 0 && verifyEach || i % 100 == 0 ? TimedRead.SAMPLE
                : TimedRead.NONE;
            final Outgoing<CacheDemo.Body.Builder> request = mode.channel.newMessage();
            request.root().initGetCacheReq().setFileName(CacheFiles.name(size));
            try {
                // Read within the call, and closed when it returns (zero-copy: the codec then recycles it).
                mode.channel.request(request, Duration.ofMinutes(2), read);
            } finally {
                request.close();
            }
            if (i >= 0) {
                timings[i] = read.elapsed;
            }
            if (read.problem != null) {
                throw new IllegalStateException(mode.title + " response for " + CacheFiles.name(size) + ": " + read.problem);
            }
        }
        return timings;
    }

    /**
     * Reads one response in place: its number of parts, the time since {@link #start} once that is read, then
     * the check asked for. One per run, reused for every request, so that reading allocates nothing of its own.
     */
    private static final class TimedRead implements java.util.function.Function<CacheDemo.Body.Reader, Void> {
        static final int NONE = 0;
        static final int SAMPLE = 1;
        static final int EVERY_PART = 2;
        private final long size;
        private final MessageDigest digest;
        long start;
        int check;
        long elapsed;
        long readAt;
        String problem;

        TimedRead(final long size, final MessageDigest digest) {
            this.size = size;
            this.digest = digest;
        }

        @Override
        public Void apply(final CacheDemo.Body.Reader response) {
            final CacheDemo.GetCacheRsp.Reader root = response.getGetCacheRsp();
            final int parts = root.getFileParts().size();
            readAt = System.nanoTime();
            elapsed = readAt - start;
            problem = check == NONE ? null : verify(root, parts, size, digest, check == EVERY_PART);
            return null;
        }
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

    /**
     * Futex wake-ups measured after each sweep's server-asleep requests of one size.
     *
     * @param quietNs per sweep, the quiet before each wake-up: the median time between a response read and
     *                the next request in that sweep
     * @param ns      per sweep, the wake-ups
     */
    private record WakeUps(long[] quietNs, long[][] ns) {
    }

    /** {@return the median of the values that are not 0, or 0 if all are} */
    private static long median(final long[] values) {
        final long[] gaps = java.util.Arrays.stream(values).filter(v -> v != 0).toArray();
        return gaps.length == 0 ? 0 : Math.round(Stats.median(toDoubles(gaps)));
    }

    private Map<String, Object> result(final long size, final long[] classicNs, final List<Mode> zeroCopyModes,
                                       final Map<String, Map<Long, long[][]>> zeroCopyNs, final WakeUps wakeUps,
                                       final long[] verifyingGaps) {
        final Map<String, Object> result = new LinkedHashMap<>();
        result.put("size_bytes", size);
        final double classicP50 = Stats.median(toDoubles(classicNs));
        result.put("classic_p50_ns", Math.round(classicP50));
        result.put("classic_p99_ns", Math.round(Stats.percentile(99, toDoubles(classicNs))));
        for (final Mode mode : zeroCopyModes) {
            final long[][] bySweep = zeroCopyNs.get(mode.key).get(size);
            final double[] all = toDoubles(java.util.Arrays.stream(bySweep).flatMapToLong(java.util.Arrays::stream).toArray());
            final List<Long> sweepP50s = new ArrayList<>();
            for (final long[] sweep : bySweep) {
                sweepP50s.add(Math.round(Stats.median(toDoubles(sweep))));
            }
            final double spread = (double) java.util.Collections.max(sweepP50s) / Math.max(1, java.util.Collections.min(sweepP50s));
            result.put(mode.key + "_p50_ns", Math.round(Stats.median(all)));
            result.put(mode.key + "_p99_ns", Math.round(Stats.percentile(99, all)));
            result.put(mode.key + "_sweep_p50_ns", sweepP50s);
            result.put(mode.key + "_spread", spread);
        }
        final long zeroCopyP50 = (Long) result.get("zero_copy_p50_ns");
        result.put("ratio", classicP50 / Math.max(1, zeroCopyP50));
        // What the server's sleep costs: asleep minus spinning, both verifying between requests.
        result.put("wake_up_estimate_ns", (Long) result.get("zero_copy_server_asleep_p50_ns") - zeroCopyP50);
        // The futex wake-up after as much quiet as the asleep server had, and what the server costs above it.
        final double[] wakeAll = toDoubles(java.util.Arrays.stream(wakeUps.ns).flatMapToLong(java.util.Arrays::stream).toArray());
        final long wakeP50 = Math.round(Stats.median(wakeAll));
        final List<Long> wakeSweepP50s = new ArrayList<>();
        for (final long[] sweep : wakeUps.ns) {
            wakeSweepP50s.add(Math.round(Stats.median(toDoubles(sweep))));
        }
        result.put("server_asleep_quiet_ns", Math.round(Stats.median(toDoubles(wakeUps.quietNs))));
        result.put("futex_wake_up_same_quiet_p50_ns", wakeP50);
        result.put("futex_wake_up_same_quiet_p99_ns", Math.round(Stats.percentile(99, wakeAll)));
        result.put("futex_wake_up_same_quiet_sweep_p50_ns", wakeSweepP50s);
        // Paired by sweep, so that what drifts between sweeps (the virtual CPUs' placement) cancels out.
        result.put("server_asleep_over_wake_up_ns", pairedMedian(result, "zero_copy_server_asleep", "futex_wake_up_same_quiet"));
        // The idle client's spell, and what time alone and the verification each add to back to back.
        result.put("client_idle_ns", Math.round(Stats.median(toDoubles(verifyingGaps))));
        result.put("client_idle_over_back_to_back_ns", pairedMedian(result, "zero_copy_client_idle", "zero_copy_back_to_back"));
        result.put("verifying_over_client_idle_ns", pairedMedian(result, "zero_copy", "zero_copy_client_idle"));
        result.put("verified", true);
        result.put("classic_ns", toList(classicNs));
        for (final Mode mode : zeroCopyModes) {
            final List<List<Long>> sweeps = new ArrayList<>();
            for (final long[] sweep : zeroCopyNs.get(mode.key).get(size)) {
                sweeps.add(toList(sweep));
            }
            result.put(mode.key + "_ns", sweeps);
        }
        return result;
    }

    /** {@return the median over the sweeps of one mode's p50 minus another's in the same sweep} */
    @SuppressWarnings("unchecked")
    private static long pairedMedian(final Map<String, Object> result, final String mode, final String baseline) {
        final List<Long> modeP50s = (List<Long>) result.get(mode + "_sweep_p50_ns");
        final List<Long> baselineP50s = (List<Long>) result.get(baseline + "_sweep_p50_ns");
        final double[] over = new double[modeP50s.size()];
        for (int sweep = 0; sweep < over.length; sweep++) {
            over[sweep] = modeP50s.get(sweep) - baselineP50s.get(sweep);
        }
        return Math.round(Stats.median(over));
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
                                   final List<String> leftovers, final Map<String, Object> machine) {
        out.printf("%nround trip from building GetCacheReq to reading GetCacheRsp's root, two JVMs%n");
        out.printf("p50 / p99 of every timed request; zero-copy spread = max/min of the sweeps' p50s%n%n");
        out.printf("%-8s  %23s  %29s  %29s  %29s  %10s%n", "", "classic", "zero-copy (server spinning)",
            "zero-copy back to back", "zero-copy (server asleep)", "");
        out.printf("%-8s  %11s %11s  %11s %11s %5s  %11s %11s %5s  %11s %11s %5s  %10s  %s%n", "size", "p50", "p99",
            "p50", "p99", "sprd", "p50", "p99", "sprd", "p50", "p99", "sprd", "ratio", "verified");
        for (final Map<String, Object> r : results) {
            out.printf(Locale.ROOT, "%-8s  %11s %11s  %11s %11s %5.2f  %11s %11s %5.2f  %11s %11s %5.2f  %9.0fx  %s%n",
                CacheFiles.humanSize((Long) r.get("size_bytes")),
                micros((Long) r.get("classic_p50_ns")), micros((Long) r.get("classic_p99_ns")),
                micros((Long) r.get("zero_copy_p50_ns")), micros((Long) r.get("zero_copy_p99_ns")),
                (Double) r.get("zero_copy_spread"),
                micros((Long) r.get("zero_copy_back_to_back_p50_ns")), micros((Long) r.get("zero_copy_back_to_back_p99_ns")),
                (Double) r.get("zero_copy_back_to_back_spread"),
                micros((Long) r.get("zero_copy_server_asleep_p50_ns")), micros((Long) r.get("zero_copy_server_asleep_p99_ns")),
                (Double) r.get("zero_copy_server_asleep_spread"),
                (Double) r.get("ratio"), (Boolean) r.get("verified") ? "yes" : "NO");
        }
        out.println();
        out.println("ratio: classic p50 / zero-copy (server spinning) p50");
        out.printf("%nthe server asleep against a futex wake-up after as long a quiet, measured after each sweep's requests;%n");
        out.printf("asleep - wake: the median over the sweeps of the asleep p50 minus the wake-up p50 of the same sweep%n");
        out.printf("%-8s  %11s  %23s  %11s  %13s%n", "size", "quiet", "futex wake-up p50 / p99", "asleep p50",
            "asleep - wake");
        for (final Map<String, Object> r : results) {
            out.printf(Locale.ROOT, "%-8s  %11s  %11s %11s  %11s  %13s%n", CacheFiles.humanSize((Long) r.get("size_bytes")),
                micros((Long) r.get("server_asleep_quiet_ns")), micros((Long) r.get("futex_wake_up_same_quiet_p50_ns")),
                micros((Long) r.get("futex_wake_up_same_quiet_p99_ns")), micros((Long) r.get("zero_copy_server_asleep_p50_ns")),
                micros((Long) r.get("server_asleep_over_wake_up_ns")));
        }
        out.printf("%nthe client between requests (server spinning): verifying each response; idle, spinning on the clock%n");
        out.printf("for as long as it verified in the same sweep, touching nothing; back to back. idle - b2b is time alone%n");
        out.printf("on this machine, verifying - idle the verification's own eviction (medians of same-sweep differences)%n");
        out.printf("%-8s  %11s  %11s  %11s  %11s  %11s  %13s%n", "size", "idle for", "verifying", "idle", "back to back",
            "idle - b2b", "verif. - idle");
        for (final Map<String, Object> r : results) {
            out.printf(Locale.ROOT, "%-8s  %11s  %11s  %11s  %11s  %11s  %13s%n", CacheFiles.humanSize((Long) r.get("size_bytes")),
                micros((Long) r.get("client_idle_ns")), micros((Long) r.get("zero_copy_p50_ns")),
                micros((Long) r.get("zero_copy_client_idle_p50_ns")), micros((Long) r.get("zero_copy_back_to_back_p50_ns")),
                micros((Long) r.get("client_idle_over_back_to_back_ns")), micros((Long) r.get("verifying_over_client_idle_ns")));
        }
        out.printf("%na futex wake-up after 300 µs of quiet, before the sweeps: p50 %s, p99 %s%n",
            micros((Long) machine.get("futex_wake_up_p50_ns")), micros((Long) machine.get("futex_wake_up_p99_ns")));
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
