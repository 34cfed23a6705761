/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.bench;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.IsthmusException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.transport.BlobChannel;
import dev.isthmus.transport.BlobHandler;
import io.aeron.Aeron;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.FragmentHandler;
import io.aeron.logbuffer.Header;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * The {@link BlobChannel} contract over Aeron IPC ({@code aeron:ipc}): the peer the benchmarks compare
 * Isthmus with, side by side. One publication per direction, each read by one subscription, through a
 * media driver embedded in the listening process ({@link Driver}) or standalone in a JVM of its own
 * ({@link StandaloneDriver}), in a directory of its own under {@code /dev/shm} that is deleted on close. The driver runs one thread ({@code ThreadingMode.SHARED}: two hot threads already
 * take a 2-core machine) with Aeron's default backoff idle strategy and 64 MiB IPC terms; the driver is
 * off the data path of {@code aeron:ipc}, which publication and subscription share directly.
 *
 * <p>Blobs are sent unfragmented ({@link Publication#offer} and {@link Publication#tryClaim}), so the
 * largest is the publication's {@link Publication#maxPayloadLength()} (1376 bytes with the default MTU);
 * receiving hands each fragment to the handler in place, with no copy and no allocation. Waiting spins, as
 * Aeron's low-latency configuration does ({@code BusySpinIdleStrategy}).
 *
 * <p>Aeron does not tell a closed peer from a dead one: both are seen when the driver removes the peer's
 * image (for a dead process, after Aeron's client liveness timeout, 10 s by default), and reported as
 * {@link ChannelClosedException}. Aeron's Agrona buffers need the JDK-internal export in
 * {@link #JVM_OPTIONS}; Isthmus needs none, and only the processes that run Aeron get it.
 */
final class AeronIpcChannel implements BlobChannel {
    /** What a JVM running Aeron needs (Agrona reaches the JDK's internal Unsafe); the one place it is written. */
    static final List<String> JVM_OPTIONS = List.of("--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED");
    /** The spin loops read the clock once per this many spins. */
    private static final int SPINS_PER_CLOCK_READ = 64;
    private static final int LISTENER_STREAM = 1001;
    private static final int CONNECTOR_STREAM = 1002;
    private static final AtomicInteger IDS = new AtomicInteger();

    private final Aeron aeron;
    private final Publication publication;
    private final Subscription subscription;
    private final int maxMessageLength;
    private final UnsafeBuffer sendBuffer = new UnsafeBuffer(0, 0);
    private final Arena arena = Arena.ofShared();
    /** Heap sources are copied here first: Aeron offers from one contiguous buffer. */
    private final MemorySegment staging;
    private final BufferClaim bufferClaim = new BufferClaim();
    private final FragmentHandler fragmentHandler = this::onFragment;
    /** Segments over the term buffers seen so far, by address: three terms for each of the two logs. */
    private final long[] termAddresses = new long[8];
    private final MemorySegment[] termSegments = new MemorySegment[8];
    private BlobHandler pollHandler;
    private MemorySegment claimSegment;
    private long pendingClaim = -1;
    private boolean wasConnected;
    private boolean closed;

    private AeronIpcChannel(final String directory, final int publishStream, final int subscribeStream) {
        this.aeron = Aeron.connect(new Aeron.Context().aeronDirectoryName(directory));
        try {
            this.publication = aeron.addExclusivePublication("aeron:ipc", publishStream);
            this.subscription = aeron.addSubscription("aeron:ipc", subscribeStream);
        } catch (final RuntimeException e) {
            aeron.close();
            throw e;
        }
        this.maxMessageLength = publication.maxPayloadLength();
        this.staging = arena.allocate(maxMessageLength);
    }

    /**
     * The listening side: a media driver embedded in this process, in a new directory under
     * {@code /dev/shm} that closing deletes. It outlives the channels it accepts, so that the peer sees
     * their close as Aeron reports it.
     */
    static final class Driver implements AutoCloseable {
        private final MediaDriver mediaDriver;

        private Driver() {
            final Path directory = Path.of("/dev/shm", "isthmus-bench-aeron-" + ProcessHandle.current().pid() + "-"
                + IDS.incrementAndGet());
            this.mediaDriver = MediaDriver.launchEmbedded(new MediaDriver.Context()
                .aeronDirectoryName(directory.toString())
                .threadingMode(ThreadingMode.SHARED)
                .dirDeleteOnStart(true)
                .dirDeleteOnShutdown(true));
        }

        /**
         * {@return a started driver}
         */
        static Driver start() {
            return new Driver();
        }

        /**
         * {@return the driver's directory, what the peer connects to}
         */
        String directory() {
            return mediaDriver.aeronDirectoryName();
        }

        /**
         * Opens this side's end and waits for the peer's.
         *
         * @param timeoutNs the longest wait for the peer
         * @return the connected end
         * @throws IsthmusTimeoutException if the peer did not connect in time
         */
        AeronIpcChannel accept(final long timeoutNs) {
            return new AeronIpcChannel(directory(), LISTENER_STREAM, CONNECTOR_STREAM).awaitPeer(timeoutNs);
        }

        @Override
        public void close() {
            mediaDriver.close();
        }
    }

    /**
     * The listening side with a standalone media driver: an {@link AeronDriverMain} in a JVM of its own,
     * stopped (and its directory deleted) on close.
     */
    static final class StandaloneDriver implements AutoCloseable {
        private static final long START_TIMEOUT_NS = TimeUnit.SECONDS.toNanos(30);

        private final Path directory;
        private final Process process;

        private StandaloneDriver() {
            this.directory = Path.of("/dev/shm", "isthmus-bench-aeron-" + ProcessHandle.current().pid() + "-"
                + IDS.incrementAndGet());
            try {
                this.process = new ProcessBuilder(BenchPeer.javaCommand(BenchTransport.AERON_IPC_STANDALONE, List.of(),
                    AeronDriverMain.class, List.of(directory.toString())))
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            } catch (final IOException e) {
                throw new IsthmusException("cannot start the standalone Aeron media driver: " + e, e);
            }
            try {
                awaitReady();
            } catch (final RuntimeException e) {
                close();
                throw e;
            }
        }

        private void awaitReady() {
            final CompletableFuture<String> ready = CompletableFuture.supplyAsync(
                () -> {
                    try {
                        final BufferedReader reader = new BufferedReader(new InputStreamReader(
                            process.getInputStream(), StandardCharsets.UTF_8));
                        for (String line; (line = reader.readLine()) != null; ) {
                            if (line.startsWith("READY")) {
                                return line;
                            }
                            System.err.println(line);
                        }
                        return null;
                    } catch (final IOException e) {
                        return null;
                    }
                });
            final String line;
            try {
                line = ready.get(START_TIMEOUT_NS, TimeUnit.NANOSECONDS);
            } catch (final TimeoutException e) {
                throw new IsthmusTimeoutException("the standalone Aeron media driver did not start within "
                    + TimeUnit.NANOSECONDS.toSeconds(START_TIMEOUT_NS) + " s");
            } catch (final InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IsthmusException("interrupted while the Aeron media driver started", e);
            } catch (final ExecutionException e) {
                throw new IsthmusException("the standalone Aeron media driver failed: " + e.getCause(), e.getCause());
            }
            if (line == null) {
                throw new IsthmusException("the standalone Aeron media driver exited before it was ready (its errors are"
                    + " above)");
            }
        }

        /**
         * {@return a standalone driver, running}
         */
        static StandaloneDriver start() {
            return new StandaloneDriver();
        }

        /**
         * {@return the driver's directory, what the peer connects to}
         */
        String directory() {
            return directory.toString();
        }

        /**
         * Opens this side's end and waits for the peer's.
         *
         * @param timeoutNs the longest wait for the peer
         * @return the connected end
         * @throws IsthmusTimeoutException if the peer did not connect in time
         */
        AeronIpcChannel accept(final long timeoutNs) {
            return new AeronIpcChannel(directory(), LISTENER_STREAM, CONNECTOR_STREAM).awaitPeer(timeoutNs);
        }

        /** Stops the driver: its input ends, it closes and deletes its directory; killed if it takes too long. */
        @Override
        public void close() {
            try {
                process.getOutputStream().close();
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            } catch (final IOException e) {
                process.destroyForcibly();
            } catch (final InterruptedException e) {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
            }
            // A driver killed before its shutdown leaves its directory: removed here.
            if (Files.isDirectory(directory)) {
                try (Stream<Path> entries = Files.walk(directory)) {
                    for (final Path entry : entries.sorted(Comparator.reverseOrder()).toList()) {
                        Files.deleteIfExists(entry);
                    }
                } catch (final IOException e) {
                    System.err.println("cannot remove " + directory + ": " + e);
                }
            }
        }
    }

    /**
     * Connects to a listening side through its media driver.
     *
     * @param directory the listener's {@link Driver#directory()}
     * @param timeoutNs how long to wait for both directions to connect
     * @return the connected end
     * @throws IsthmusTimeoutException if the listener does not connect in time
     */
    static AeronIpcChannel connect(final String directory, final long timeoutNs) {
        if (!Files.isDirectory(Path.of(directory))) {
            throw new IsthmusException("no Aeron media driver directory " + directory);
        }
        return new AeronIpcChannel(directory, CONNECTOR_STREAM, LISTENER_STREAM).awaitPeer(timeoutNs);
    }

    /** Waits until the peer's publication and subscription are both connected to this end's. */
    private AeronIpcChannel awaitPeer(final long timeoutNs) {
        final long deadline = System.nanoTime() + timeoutNs;
        while (!publication.isConnected() || !subscription.isConnected()) {
            if (System.nanoTime() - deadline >= 0) {
                close();
                throw new IsthmusTimeoutException("no Aeron IPC peer within " + TimeUnit.NANOSECONDS.toMillis(timeoutNs)
                    + " ms");
            }
            Thread.onSpinWait();
        }
        wasConnected = true;
        return this;
    }

    @Override
    public int maxMessageLength() {
        return maxMessageLength;
    }

    @Override
    public boolean offer(final MemorySegment source, final long offset, final int length) {
        checkLength(length);
        Objects.checkFromIndexSize(offset, length, source.byteSize());
        if (source.isNative()) {
            sendBuffer.wrap(source.address() + offset, length);
        } else {
            MemorySegment.copy(source, offset, staging, 0, length);
            sendBuffer.wrap(staging.address(), length);
        }
        return accepted(publication.offer(sendBuffer, 0, length));
    }

    @Override
    public boolean offer(final MemorySegment source, final long offset, final int length, final long timeoutNs) {
        if (offer(source, offset, length)) {
            return true;
        }
        final long deadline = System.nanoTime() + timeoutNs;
        for (int spins = 1; ; spins++) {
            Thread.onSpinWait();
            if (offer(source, offset, length)) {
                return true;
            }
            if (spins % SPINS_PER_CLOCK_READ == 0 && System.nanoTime() - deadline >= 0) {
                return false;
            }
        }
    }

    @Override
    public long tryClaim(final int length) {
        checkLength(length);
        if (pendingClaim >= 0) {
            throw new IllegalStateException("a claim is already pending at offset " + pendingClaim);
        }
        if (!accepted(publication.tryClaim(length, bufferClaim))) {
            return BACK_PRESSURED;
        }
        claimSegment = termSegment(bufferClaim.buffer());
        pendingClaim = bufferClaim.offset();
        return pendingClaim;
    }

    @Override
    public MemorySegment claimBuffer() {
        if (pendingClaim < 0) {
            throw new IllegalStateException("no claim is pending");
        }
        return claimSegment;
    }

    @Override
    public void commit(final long claim) {
        checkPending(claim);
        pendingClaim = -1;
        bufferClaim.commit();
    }

    @Override
    public void abort(final long claim) {
        checkPending(claim);
        pendingClaim = -1;
        bufferClaim.abort();
    }

    @Override
    public int poll(final BlobHandler handler, final int limit) {
        if (closed) {
            throw new ChannelClosedException("this Aeron IPC channel is closed");
        }
        pollHandler = handler;
        final int count = subscription.poll(fragmentHandler, limit);
        if (count == 0 && wasConnected && !subscription.isConnected()) {
            throw new ChannelClosedException("the Aeron IPC peer closed or died (its image is gone)");
        }
        return count;
    }

    @Override
    public int poll(final BlobHandler handler, final int limit, final long timeoutNs) {
        int count = poll(handler, limit);
        if (count > 0) {
            return count;
        }
        final long deadline = System.nanoTime() + timeoutNs;
        for (int spins = 1; ; spins++) {
            Thread.onSpinWait();
            count = poll(handler, limit);
            if (count > 0 || (spins % SPINS_PER_CLOCK_READ == 0 && System.nanoTime() - deadline >= 0)) {
                return count;
            }
        }
    }

    @Override
    public boolean isOpen() {
        return !closed && (!wasConnected || subscription.isConnected());
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            aeron.close();
        } finally {
            arena.close();
        }
    }

    private void onFragment(final DirectBuffer buffer, final int offset, final int length, final Header header) {
        pollHandler.onBlob(termSegment(buffer), offset, length);
    }

    /** A segment over a term buffer of a log, made once per term. */
    private MemorySegment termSegment(final DirectBuffer buffer) {
        final long address = buffer.addressOffset();
        for (int i = 0; i < termAddresses.length; i++) {
            if (termAddresses[i] == address && termSegments[i] != null) {
                return termSegments[i];
            }
        }
        final MemorySegment segment = MemorySegment.ofAddress(address).reinterpret(buffer.capacity());
        System.arraycopy(termAddresses, 0, termAddresses, 1, termAddresses.length - 1);
        System.arraycopy(termSegments, 0, termSegments, 1, termSegments.length - 1);
        termAddresses[0] = address;
        termSegments[0] = segment;
        return segment;
    }

    /** Whether Aeron took the blob; {@code false} on back-pressure; an exception when the peer is gone. */
    private boolean accepted(final long position) {
        if (position > 0) {
            return true;
        }
        if (closed) {
            throw new ChannelClosedException("this Aeron IPC channel is closed");
        }
        if (position == Publication.BACK_PRESSURED || position == Publication.ADMIN_ACTION) {
            return false;
        }
        if (position == Publication.NOT_CONNECTED) {
            if (wasConnected) {
                throw new ChannelClosedException("the Aeron IPC peer closed or died (not connected)");
            }
            return false;
        }
        throw new IsthmusException(position == Publication.CLOSED ? "the Aeron publication is closed"
            : "the Aeron publication reached its maximum position");
    }

    private void checkLength(final int length) {
        if (length < 0 || length > maxMessageLength) {
            throw new IllegalArgumentException("length=" + length + " is outside 0.." + maxMessageLength
                + " (Aeron's maximum unfragmented payload)");
        }
    }

    private void checkPending(final long claim) {
        if (pendingClaim < 0 || claim != pendingClaim) {
            throw new IllegalStateException("claim=" + claim + " is not the pending claim (" + pendingClaim + ")");
        }
    }
}
