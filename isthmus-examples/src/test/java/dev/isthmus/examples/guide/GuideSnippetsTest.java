/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.examples.guide;

import dev.isthmus.capnp.Backing;
import dev.isthmus.capnp.CapnpChannels;
import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.data.SharedData;
import dev.isthmus.data.SharedStruct;
import dev.isthmus.data.ShmMap;
import dev.isthmus.internal.linux.Sockets;
import dev.isthmus.session.ClientApp;
import dev.isthmus.session.ClientSession;
import dev.isthmus.session.ServerApp;
import dev.isthmus.session.Session;
import dev.isthmus.session.SessionOptions;
import dev.isthmus.session.SessionRefusedException;
import dev.isthmus.session.SessionServer;
import dev.isthmus.shm.NoSuchResourceException;
import dev.isthmus.struc.RemoteFailureException;
import dev.isthmus.struc.StructuredChannel;
import dev.isthmus.struc.StructuredChannelOptions;
import dev.isthmus.transport.NativeHandle;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The user guide shows the code of this module as it is, and that code runs.
 *
 * <p>Every Java block of {@code docs/guide.md} is preceded by {@code <!-- snippet: name -->} and must equal,
 * once common indentation is stripped, the region of {@code src/main/java/dev/isthmus/examples/guide} between
 * {@code // guide:name:begin} and {@code // guide:name:end}; every such region must be shown in the guide. The
 * other tests run the snippets, both ends of each session in this JVM, in a temporary run directory.
 */
class GuideSnippetsTest {
    private static final Path GUIDE = Path.of("..", "docs", "guide.md");
    private static final Path SOURCES = Path.of("src", "main", "java", "dev", "isthmus", "examples", "guide");
    private static final Pattern SOURCE_MARKER = Pattern.compile("^\\s*// guide:([a-z0-9-]+):(begin|end)\\s*$");
    private static final Pattern GUIDE_MARKER = Pattern.compile("^\\s*<!--\\s*snippet:\\s*([a-z0-9-]+)\\s*-->\\s*$");
    private static final Duration LONG = Duration.ofSeconds(60);
    private static final AtomicInteger NAMES = new AtomicInteger();

    @TempDir
    Path runDirectory;

    // ---- the guide shows the code ----

    /** A region of a source file between its markers. */
    private record Snippet(String name, String where, List<String> lines) {
    }

    /** A fenced block of the guide, with the snippet its marker names (or null). */
    private record Block(String name, int line, String language, List<String> lines) {
    }

    private static Map<String, Snippet> snippets(final List<String> problems) throws IOException {
        final Map<String, Snippet> found = new LinkedHashMap<>();
        final List<Path> files;
        try (Stream<Path> walk = Files.walk(SOURCES)) {
            files = walk.filter(path -> path.toString().endsWith(".java")).sorted().toList();
        }
        for (final Path file : files) {
            final List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            final Map<String, Integer> open = new LinkedHashMap<>();
            for (int i = 0; i < lines.size(); i++) {
                final Matcher marker = SOURCE_MARKER.matcher(lines.get(i));
                if (!marker.matches()) {
                    continue;
                }
                final String name = marker.group(1);
                final String where = file.getFileName() + ":" + (i + 1);
                if (marker.group(2).equals("begin")) {
                    if (open.containsKey(name) || found.containsKey(name)) {
                        problems.add(where + ": snippet " + name + " begins twice");
                    }
                    open.put(name, i);
                } else {
                    final Integer begin = open.remove(name);
                    if (begin == null) {
                        problems.add(where + ": snippet " + name + " ends without beginning");
                        continue;
                    }
                    // Markers of snippets nested in this one are not part of it.
                    final List<String> body = lines.subList(begin + 1, i).stream()
                        .filter(line -> !SOURCE_MARKER.matcher(line).matches()).toList();
                    found.put(name, new Snippet(name, file.getFileName() + ":" + (begin + 1), body));
                }
            }
            open.forEach((name, begin) -> problems.add(file.getFileName() + ":" + (begin + 1) + ": snippet " + name
                + " never ends"));
        }
        return found;
    }

    private static List<Block> blocks(final List<String> problems) throws IOException {
        final List<String> lines = Files.readAllLines(GUIDE, StandardCharsets.UTF_8);
        final List<Block> blocks = new ArrayList<>();
        String pendingName = null;
        int pendingLine = 0;
        for (int i = 0; i < lines.size(); i++) {
            final String line = lines.get(i);
            final Matcher marker = GUIDE_MARKER.matcher(line);
            if (marker.matches()) {
                if (pendingName != null) {
                    problems.add("guide.md:" + pendingLine + ": <!-- snippet: " + pendingName + " --> precedes no block");
                }
                pendingName = marker.group(1);
                pendingLine = i + 1;
                continue;
            }
            if (line.strip().startsWith("```")) {
                final String language = line.strip().substring(3).strip();
                final int start = i;
                final List<String> body = new ArrayList<>();
                for (i++; i < lines.size() && !lines.get(i).strip().equals("```"); i++) {
                    body.add(lines.get(i));
                }
                if (i == lines.size()) {
                    problems.add("guide.md:" + (start + 1) + ": a code block never ends");
                }
                blocks.add(new Block(pendingName, start + 1, language, body));
                if (pendingName != null && !language.equals("java")) {
                    problems.add("guide.md:" + pendingLine + ": <!-- snippet: " + pendingName + " --> precedes a "
                        + (language.isEmpty() ? "plain" : language) + " block, not a java one");
                }
                pendingName = null;
                continue;
            }
            if (!line.isBlank() && pendingName != null) {
                problems.add("guide.md:" + pendingLine + ": <!-- snippet: " + pendingName + " --> is followed by text,"
                    + " not by its block");
                pendingName = null;
            }
        }
        if (pendingName != null) {
            problems.add("guide.md:" + pendingLine + ": <!-- snippet: " + pendingName + " --> precedes no block");
        }
        return blocks;
    }

    /** The lines without trailing blanks, leading and trailing empty lines, and the indentation they share. */
    static String normalize(final List<String> lines) {
        final List<String> trimmed = new ArrayList<>(lines.stream().map(String::stripTrailing).toList());
        while (!trimmed.isEmpty() && trimmed.getFirst().isEmpty()) {
            trimmed.removeFirst();
        }
        while (!trimmed.isEmpty() && trimmed.getLast().isEmpty()) {
            trimmed.removeLast();
        }
        final int indent = trimmed.stream().filter(line -> !line.isEmpty())
            .mapToInt(line -> line.length() - line.stripLeading().length()).min().orElse(0);
        return String.join("\n", trimmed.stream().map(line -> line.isEmpty() ? line : line.substring(indent)).toList());
    }

    @Test
    void shouldShowEveryJavaSampleAsTheCompiledSnippetItNames() throws IOException {
        final List<String> problems = new ArrayList<>();
        final Map<String, Snippet> snippets = snippets(problems);
        final List<Block> blocks = blocks(problems);
        int checked = 0;
        for (final Block block : blocks) {
            if (!block.language().equals("java")) {
                continue;
            }
            if (block.name() == null) {
                problems.add("guide.md:" + block.line() + ": a java block without <!-- snippet: name --> before it");
                continue;
            }
            final Snippet snippet = snippets.get(block.name());
            if (snippet == null) {
                problems.add("guide.md:" + block.line() + ": snippet " + block.name() + " exists in no source of "
                    + SOURCES);
                continue;
            }
            final String shown = normalize(block.lines());
            final String compiled = normalize(snippet.lines());
            if (!shown.equals(compiled)) {
                problems.add("guide.md:" + block.line() + ": snippet " + block.name() + " differs from " + snippet.where()
                    + firstDifference(shown, compiled) + "\n--- the guide shows:\n" + shown + "\n--- the source has:\n"
                    + compiled);
            }
            checked++;
        }
        if (!problems.isEmpty()) {
            fail(problems.size() + " problem(s):\n" + String.join("\n\n", problems));
        }
        assertTrue(checked >= snippets.size(), "checked " + checked + " blocks of " + snippets.size() + " snippets");
    }

    private static String firstDifference(final String shown, final String compiled) {
        final String[] a = shown.split("\n", -1);
        final String[] b = compiled.split("\n", -1);
        for (int i = 0; i < Math.max(a.length, b.length); i++) {
            final String left = i < a.length ? a[i] : "<end>";
            final String right = i < b.length ? b[i] : "<end>";
            if (!left.equals(right)) {
                return " at its line " + (i + 1) + ": \"" + left + "\" against \"" + right + "\"";
            }
        }
        return "";
    }

    @Test
    void shouldShowEverySnippetOfTheSourcesInTheGuide() throws IOException {
        final List<String> problems = new ArrayList<>();
        final Map<String, Snippet> snippets = snippets(problems);
        final List<String> shown = blocks(problems).stream().map(Block::name).toList();
        for (final Snippet snippet : snippets.values()) {
            if (!shown.contains(snippet.name())) {
                problems.add(snippet.where() + ": snippet " + snippet.name() + " is not shown in the guide");
            }
        }
        if (!problems.isEmpty()) {
            fail(problems.size() + " problem(s):\n" + String.join("\n", problems));
        }
    }

    @Test
    void shouldCompareSnippetsWithoutTheirCommonIndentation() {
        assertEquals("a\n  b\n\nc", normalize(List.of("", "    a  ", "      b", "", "    c", "")));
    }

    // ---- the code runs ----

    /** Applications as the guide defines them, but unchecked by main class and in the test's run directory. */
    private record Universe(ClientApp client, ServerApp server) {
    }

    private Universe universe() {
        final int n = NAMES.incrementAndGet();
        final ClientApp client = ClientApp.builder("gfeed" + n).build();
        return new Universe(client, ServerApp.builder("gpricer" + n).allowedClients(client)
            .runDirectory(runDirectory).build());
    }

    /** A server, a client's session and the session the server accepted, closed in reverse. */
    private record Pair(SessionServer server, Session client, Session accepted) implements AutoCloseable {
        @Override
        public void close() {
            try {
                accepted.close();
                client.close();
            } finally {
                server.close();
            }
        }
    }

    private static Pair pair(final Universe universe, final SessionOptions options) {
        final SessionServer server = SessionServer.start(universe.server(), options);
        try {
            final Session client = ClientSession.connect(universe.client(), universe.server(), options);
            return new Pair(server, client, server.accept(LONG));
        } catch (final RuntimeException | Error e) {
            server.close();
            throw e;
        }
    }

    private static <T> T join(final CompletableFuture<T> future) {
        try {
            return future.get(LONG.toSeconds(), TimeUnit.SECONDS);
        } catch (final Exception e) {
            throw new AssertionError(e);
        }
    }

    static List<Transports.Named> transports() {
        return Transports.all();
    }

    @ParameterizedTest
    @MethodSource("transports")
    void shouldRunTheFirstSessionOverEveryTransportAndIdleStrategy(final Transports.Named options) throws Exception {
        final Universe universe = universe();
        final CompletableFuture<Void> pricer = CompletableFuture.runAsync(() -> {
            try {
                FirstSession.pricer(universe.server(), options.options());
            } catch (final InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        String answers = null;
        final long deadline = System.nanoTime() + LONG.toNanos();
        while (answers == null) {
            try {
                answers = FirstSession.feed(universe.client(), universe.server(), options.options());
            } catch (final NoSuchResourceException notYet) {
                assertTrue(System.nanoTime() < deadline && !pricer.isDone(),
                    "the pricer did not start: " + notYet);
                Thread.sleep(20);
            }
        }
        assertEquals("XLON 101.25XLON 101.25", answers, "the init channel's answer, then the opened channel's");
        join(pricer);
    }

    @Test
    void shouldDefineTheGuidesApplications() {
        assertEquals("pricer", FirstSession.PRICER.name());
        assertTrue(FirstSession.PRICER.allowedClients().containsKey("feed"));
        assertEquals(1, FirstSession.OPTIONS.initChannels());
        assertEquals(3, Daemon.PRICER.allowedClients().size());
        assertTrue(Deployment.PRICER.otherPidNamespaces());
        assertEquals(Path.of("/run/pricer"), Deployment.PRICER.runDirectory().orElseThrow());
    }

    @Test
    void shouldDeliverABatchedBurstOnceFlushed() {
        try (Pair pair = pair(universe(), Transports.BATCHED)) {
            final List<byte[]> burst = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                burst.add(("message " + i).getBytes(StandardCharsets.UTF_8));
            }
            assertEquals(100, Transports.sendBurst(pair.client().initChannels().getFirst().blobs(), burst));
            final List<String> received = new ArrayList<>();
            final long deadline = System.nanoTime() + LONG.toNanos();
            while (received.size() < 100 && System.nanoTime() < deadline) {
                pair.accepted().initChannels().getFirst().blobs().poll((buffer, offset, length) -> received.add(
                    new String(buffer.asSlice(offset, length).toArray(JAVA_BYTE), StandardCharsets.UTF_8)),
                    64, TimeUnit.SECONDS.toNanos(1));
            }
            assertEquals(100, received.size());
            assertEquals("message 99", received.getLast());
        }
    }

    @Test
    void shouldLetOneChannelSleepAtOnce() {
        try (Pair pair = pair(universe(), Transports.QUEUES)) {
            Transports.sleepWhenIdle(pair.accepted().initChannels().getFirst());
            final byte[] ping = {1, 2, 3};
            assertTrue(pair.client().initChannels().getFirst().blobs().offer(ping, 0, ping.length, TimeUnit.SECONDS.toNanos(5)));
            assertEquals(1, pair.accepted().initChannels().getFirst().blobs().poll((buffer, offset, length) -> { },
                1, TimeUnit.SECONDS.toNanos(30)));
        }
    }

    @Test
    void shouldServeAFileInPlaceOverZeroCopyCapnp() throws Exception {
        final byte[] content = new byte[1 << 20];
        new SplittableRandom(7).nextBytes(content);
        try (Pair pair = pair(universe(), ZeroCopyCache.ZERO_COPY)) {
            final AutoCloseable served = ZeroCopyCache.serve(pair.accepted(), "greeting.txt", content);
            try {
                assertArrayEquals(content, ZeroCopyCache.fetch(pair.client(), "greeting.txt"));
            } finally {
                served.close();
            }
        }
    }

    @Test
    void shouldReadAResponseInPlaceWithinTheCall() throws Exception {
        final byte[] content = new byte[100_000];
        new SplittableRandom(8).nextBytes(content);
        try (Pair pair = pair(universe(), ZeroCopyCache.ZERO_COPY)) {
            final AutoCloseable served = ZeroCopyCache.serve(pair.accepted(), "sized.bin", content);
            final Session client = pair.client();
            try (StructuredChannel<Body.Reader, Body.Builder> cache = CapnpChannels.open(
                client.initChannels().getFirst().blobs(), Body.factory, Backing.SESSION_SHM, client.arena(),
                client.peerArena(), StructuredChannelOptions.builder().name("sizes").token(client.token()).build())) {
                for (int i = 0; i < 3; i++) {
                    assertEquals(content.length, ZeroCopyCache.sizeOf(cache, "sized.bin"));
                }
                final RemoteFailureException missing = assertThrows(RemoteFailureException.class,
                    () -> ZeroCopyCache.sizeOf(cache, "missing.bin"));
                assertTrue(missing.getMessage().contains("no file named missing.bin"), missing.getMessage());
            } finally {
                served.close();
            }
        }
    }

    @Test
    void shouldHandAnAcceptedTcpConnectionToAWorker() throws Exception {
        // The connection is accepted with the library's internals: the public API takes descriptors, it does not
        // accept TCP connections, and a java.net socket does not give its descriptor away.
        final int[] listener = Sockets.listenTcpLoopback();
        try (NativeHandle listening = NativeHandle.adopt(listener[0]);
             Pair pair = pair(universe(), SessionOptions.defaults().initChannels(1))) {
            final CompletableFuture<String> response = CompletableFuture.supplyAsync(() -> {
                try (Socket socket = new Socket("127.0.0.1", listener[1])) {
                    final OutputStream out = socket.getOutputStream();
                    out.write("GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    final InputStream in = socket.getInputStream();
                    return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
                } catch (final IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            int connection;
            final long deadline = System.nanoTime() + LONG.toNanos();
            while ((connection = Sockets.accept(listening.fd(), "127.0.0.1:" + listener[1])) < 0) {
                assertTrue(System.nanoTime() < deadline, "no TCP connection came");
                Sockets.poll(listening.fd(), Sockets.POLLIN, TimeUnit.MILLISECONDS.toNanos(100));
            }
            assertTrue(SocketHandOff.handOff(pair.client().initChannels().getFirst(), NativeHandle.adopt(connection)));
            assertEquals(1, SocketHandOff.serve(pair.accepted().initChannels().getFirst(), LONG));
            final String answer = join(response);
            assertTrue(answer.startsWith("HTTP/1.0 200 OK\r\n\r\nread 18 bytes in pid "
                + ProcessHandle.current().pid()), answer);
        }
    }

    @Test
    void shouldServeSeveralClientAppsAndRefuseOneBeyondItsSessionLimit() {
        final int n = NAMES.incrementAndGet();
        final ClientApp feed = ClientApp.builder("gfeed" + n).build();
        final ClientApp risk = ClientApp.builder("grisk" + n).build();
        final ServerApp pricer = ServerApp.builder("gpricer" + n).allowedClients(feed, risk)
            .runDirectory(runDirectory).build();
        final SessionOptions options = SessionOptions.defaults().initChannels(1);
        final List<Session> sessions = new ArrayList<>();
        final SessionServer server = Daemon.start(pricer);
        try {
            for (final ClientApp client : List.of(feed, risk, feed, feed, feed)) {
                final Session session = ClientSession.connect(client, pricer, options);
                sessions.add(session);
                final byte[] hello = {42};
                assertTrue(session.initChannels().getFirst().blobs().offer(hello, 0, 1, TimeUnit.SECONDS.toNanos(5)));
                final String[] greeting = new String[1];
                assertEquals(1, session.initChannels().getFirst().blobs().poll((buffer, offset, length) -> greeting[0] =
                    new String(buffer.asSlice(offset, length).toArray(JAVA_BYTE), StandardCharsets.UTF_8),
                    1, TimeUnit.SECONDS.toNanos(30)));
                assertEquals("hello " + client.name(), greeting[0]);
            }
            final SessionRefusedException refused = assertThrows(SessionRefusedException.class,
                () -> ClientSession.connect(feed, pricer, options).close());
            assertTrue(refused.getMessage().contains("maxSessionsPerClient"), refused.getMessage());
        } finally {
            // The clients go first: each serving thread then ends as its client closes.
            try {
                sessions.forEach(Session::close);
            } finally {
                server.close();
            }
        }
    }

    @Test
    void shouldLendAQuoteAnOrderAndAMapThatThePeerUsesInPlace() {
        try (Pair pair = pair(universe(), SessionOptions.zeroCopy().initChannels(1))) {
            try (SharedStructures.QuotePublisher publisher = new SharedStructures.QuotePublisher(pair.client())) {
                assertTrue(publisher.publish(pair.client().initChannels().getFirst(), 42, 101_25));
                assertEquals("XLON 42 10125",
                    SharedStructures.borrowQuote(pair.accepted(), pair.accepted().initChannels().getFirst()));
            }
            try (SharedStruct order = SharedStructures.lendOrder(SharedData.of(pair.client()),
                pair.client().initChannels().getFirst())) {
                assertTrue(SharedStructures.fillOrder(pair.accepted(), pair.accepted().initChannels().getFirst()));
                assertEquals(1, SharedStructures.DONE.getAcquire(order.segment()));
                assertEquals(500, SharedStructures.FILLED.get(order.segment()), "filled in place by the peer");
            }
            try (ShmMap lent = SharedStructures.lendMap(pair.accepted().initChannels().getFirst())) {
                assertEquals(10125, SharedStructures.borrowMap(pair.client().initChannels().getFirst()));
                assertEquals(1, lent.size());
            }
        }
    }

    @Test
    void shouldCountMessagesAndListSessionsAsIsthmusStatDoes() {
        try (Pair pair = pair(universe(), SessionOptions.defaults().initChannels(1))) {
            final byte[] ping = {1};
            assertTrue(pair.client().initChannels().getFirst().blobs().offer(ping, 0, 1, TimeUnit.SECONDS.toNanos(5)));
            assertEquals(1, Counters.messagesSent(pair.client().initChannels().getFirst()));
            final List<String> sessions = Counters.sessions(ProcessHandle.current().pid());
            assertTrue(sessions.stream().anyMatch(line -> line.startsWith(pair.client().id() + " ")
                && line.endsWith("channels_open=1")), sessions.toString());
        }
    }

    @Test
    void shouldWaitForTheServerAndHearThatThePeerClosedTheSession() throws Exception {
        final Universe universe = universe();
        final SessionOptions options = SessionOptions.defaults();
        final CompletableFuture<Session> connecting = CompletableFuture.supplyAsync(() -> {
            try {
                return Failures.connectWhenUp(universe.client(), universe.server(), options, LONG);
            } catch (final InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(300);
        try (SessionServer server = SessionServer.start(universe.server(), options);
             Session client = join(connecting)) {
            final CompletableFuture<String> heard = new CompletableFuture<>();
            Failures.watch(client, heard::complete);
            server.accept(LONG).close();
            final String report = join(heard);
            assertTrue(report.startsWith("the peer closed the session: ") && report.contains("closed the session"),
                report);
        }
    }
}
