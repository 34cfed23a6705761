/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.PeerDeadException;
import dev.isthmus.internal.linux.Sockets;
import dev.isthmus.shm.NoSuchResourceException;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.test.AllocationProbe;
import dev.isthmus.test.SocketPeerMain;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class UnixSocketBlobChannelTest {
    private static final long SECONDS_10 = TimeUnit.SECONDS.toNanos(10);
    private static final AtomicInteger IDS = new AtomicInteger();

    private static UnixSocketOptions maxLength(final int bytes) {
        return UnixSocketOptions.builder().maxMessageLengthBytes(bytes).build();
    }

    private static String uniqueId() {
        return "t" + IDS.incrementAndGet();
    }

    @Test
    void shouldDeliverFramesInOrderWithExactBoundaries() {
        final int max = 4096;
        try (UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(maxLength(max))) {
            final int count = 3 * (max + 1);
            final Verifier verifier = new Verifier(max);
            final byte[] blob = new byte[max];
            for (int i = 0; i < count; i++) {
                final int length = SocketPeerMain.blobLength(i, max);
                fill(blob, i, length);
                while (!pair.first().offer(blob, 0, length)) {
                    pair.second().poll(verifier, 1000);
                }
                if (i % 16 == 0) {
                    pair.second().poll(verifier, 1000);
                }
            }
            while (verifier.count < count) {
                assertTrue(pair.second().poll(verifier, 1000, SECONDS_10) > 0, "blobs stopped at " + verifier.count);
            }
            assertEquals(0, pair.second().poll(verifier, 1000));
            assertEquals(count, verifier.count);
        }
    }

    @Test
    void shouldCarryEveryLengthFromZeroToMax() {
        final int max = 2048;
        try (UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(maxLength(max))) {
            final MemorySegment source = Arena.ofAuto().allocate(max);
            final List<Integer> lengths = new ArrayList<>();
            for (int length = 0; length <= max; length++) {
                source.asSlice(0, length).fill((byte) length);
                assertTrue(pair.first().offer(source, 0, length, SECONDS_10));
                pair.second().poll((buffer, offset, size) -> {
                    for (int i = 0; i < size; i++) {
                        assertEquals((byte) size, buffer.get(ValueLayout.JAVA_BYTE, offset + i));
                    }
                    lengths.add(size);
                }, 10, SECONDS_10);
            }
            for (int length = 0; length <= max; length++) {
                assertEquals(length, lengths.get(length));
            }
        }
    }

    @Test
    void shouldRejectOfferLongerThanMaxMessageLength() {
        try (UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(maxLength(1000))) {
            final IllegalArgumentException offered = assertThrows(IllegalArgumentException.class,
                () -> pair.first().offer(new byte[1001], 0, 1001));
            assertTrue(offered.getMessage().contains("length=1001") && offered.getMessage().contains("maxMessageLength=1000"),
                offered.getMessage());
            assertThrows(IllegalArgumentException.class, () -> pair.first().tryClaim(1001));
            assertThrows(IllegalArgumentException.class, () -> pair.first().offer(new byte[10], 5, 6));
            assertTrue(pair.first().offer(new byte[1000], 0, 1000), "max itself is fine");
        }
    }

    @Test
    void shouldRejectReceivedFrameLongerThanMaxMessageLength() {
        try (UnixSocketServer server = UnixSocketServer.bind("udstest", uniqueId(), maxLength(1000));
             UnixSocketBlobChannel client = UnixSocketBlobChannel.connect(server.address(), SECONDS_10, maxLength(4096));
             UnixSocketBlobChannel accepted = server.accept(SECONDS_10)) {
            assertTrue(client.offer(new byte[10], 0, 10));
            assertTrue(client.offer(new byte[1001], 0, 1001));
            assertEquals(1, accepted.poll((buffer, offset, length) -> assertEquals(10, length), 10, SECONDS_10));
            final CorruptDataException corrupt = assertThrows(CorruptDataException.class,
                () -> accepted.poll((buffer, offset, length) -> { }, 10, SECONDS_10));
            assertTrue(corrupt.getMessage().contains("1001") && corrupt.getMessage().contains("maxMessageLength=1000"),
                corrupt.getMessage());
            assertTrue(corrupt.getMessage().contains(server.address().toString()), corrupt.getMessage());
            assertTrue(corrupt.getMessage().contains("peer pid " + ProcessHandle.current().pid()), corrupt.getMessage());
            assertThrows(CorruptDataException.class, () -> accepted.poll((buffer, offset, length) -> { }, 10));
            assertFalse(accepted.isOpen());
            assertThrows(ChannelClosedException.class, () -> accepted.offer(new byte[1], 0, 1));
        }
    }

    @Test
    void shouldReportCorruptDataForAnImpossibleLengthWrittenRaw() throws IOException {
        try (UnixSocketServer server = UnixSocketServer.bind("udstest", uniqueId(), UnixSocketOptions.defaults());
             SocketChannel raw = SocketChannel.open(UnixDomainSocketAddress.of(server.address()));
             UnixSocketBlobChannel accepted = server.accept(SECONDS_10)) {
            raw.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(0x7FFF_FFF0).putInt(0).flip());
            final CorruptDataException corrupt = assertThrows(CorruptDataException.class,
                () -> accepted.poll((buffer, offset, length) -> { }, 10, SECONDS_10));
            assertTrue(corrupt.getMessage().contains("maxMessageLength=" + (1 << 20)), corrupt.getMessage());
        }
    }

    @Test
    void shouldReportPeerDeadWhenTheConnectionEndsInTheMiddleOfAFrame() throws IOException {
        try (UnixSocketServer server = UnixSocketServer.bind("udstest", uniqueId(), UnixSocketOptions.defaults());
             UnixSocketBlobChannel accepted = acceptRaw(server, raw -> {
                 final ByteBuffer frames = ByteBuffer.allocate(4 + 3 + 4 + 10).order(ByteOrder.LITTLE_ENDIAN);
                 frames.putInt(3).put(new byte[] {1, 2, 3}).putInt(100).put(new byte[10]).flip();
                 raw.write(frames);
             })) {
            final List<Integer> lengths = new ArrayList<>();
            final PeerDeadException dead = assertThrows(PeerDeadException.class, () -> {
                while (true) {
                    accepted.poll((buffer, offset, length) -> lengths.add(length), 10, SECONDS_10);
                }
            });
            assertEquals(List.of(3), lengths, "the complete frame first");
            assertTrue(dead.getMessage().contains("in the middle of a frame (14 of its 104 bytes received)"),
                dead.getMessage());
        }
    }

    @Test
    void shouldReportPeerDeadWhenTheConnectionEndsWithoutACloseFrame() throws IOException {
        try (UnixSocketServer server = UnixSocketServer.bind("udstest", uniqueId(), UnixSocketOptions.defaults());
             UnixSocketBlobChannel accepted = acceptRaw(server, raw -> {
                 raw.write(ByteBuffer.allocate(6).order(ByteOrder.LITTLE_ENDIAN).putInt(2).put((byte) 7).put((byte) 8).flip());
             })) {
            final List<Integer> lengths = new ArrayList<>();
            final PeerDeadException dead = assertThrows(PeerDeadException.class, () -> {
                while (true) {
                    accepted.poll((buffer, offset, length) -> lengths.add(length), 10, SECONDS_10);
                }
            });
            assertEquals(List.of(2), lengths);
            assertTrue(dead.getMessage().contains("without a close frame (end of file)"), dead.getMessage());
            assertFalse(dead.getMessage().contains("middle"), dead.getMessage());
        }
    }

    @Test
    void shouldDeliverEverythingBeforeTheCloseThenThrowChannelClosed() {
        try (UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(UnixSocketOptions.defaults())) {
            for (int i = 0; i < 100; i++) {
                assertTrue(pair.first().offer(new byte[] {(byte) i}, 0, 1));
            }
            pair.first().close();
            pair.first().close();
            assertFalse(pair.first().isOpen());
            // The send side finds the close through EPIPE before the receive side has seen the close frame.
            final ChannelClosedException refused = assertThrows(ChannelClosedException.class,
                () -> pair.second().offer(new byte[1], 0, 1));
            assertFalse(refused instanceof PeerDeadException, refused.toString());
            assertTrue(refused.getMessage().contains("the peer closed its end (sending failed with EPIPE)"),
                refused.getMessage());
            final List<Byte> received = new ArrayList<>();
            final ChannelClosedException closed = assertThrows(ChannelClosedException.class, () -> {
                while (true) {
                    pair.second().poll((buffer, offset, length) -> received.add(buffer.get(ValueLayout.JAVA_BYTE, offset)),
                        7, SECONDS_10);
                }
            });
            assertFalse(closed instanceof PeerDeadException, closed.toString());
            assertTrue(closed.getMessage().contains("the peer closed the channel"), closed.getMessage());
            assertEquals(100, received.size());
            for (int i = 0; i < 100; i++) {
                assertEquals((byte) i, received.get(i));
            }
            assertThrows(ChannelClosedException.class, () -> pair.second().offer(new byte[1], 0, 1));
            assertThrows(ChannelClosedException.class, () -> pair.second().tryClaim(1));
            assertFalse(pair.second().isOpen());
            assertThrows(ChannelClosedException.class, () -> pair.first().offer(new byte[1], 0, 1));
            assertThrows(ChannelClosedException.class, () -> pair.first().poll((buffer, offset, length) -> { }, 1));
        }
    }

    @Test
    void shouldWakeAPollBlockedInAnotherThreadWhenClosed() throws Exception {
        try (UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(UnixSocketOptions.defaults())) {
            final CompletableFuture<Throwable> outcome = CompletableFuture.supplyAsync(() -> {
                try {
                    pair.first().poll((buffer, offset, length) -> { }, 1, TimeUnit.SECONDS.toNanos(60));
                    return null;
                } catch (final Throwable t) {
                    return t;
                }
            });
            Thread.sleep(200);
            pair.first().close();
            final Throwable thrown = outcome.get(10, TimeUnit.SECONDS);
            assertTrue(thrown instanceof ChannelClosedException && !(thrown instanceof PeerDeadException), String.valueOf(thrown));
            assertTrue(thrown.getMessage().contains("this end is closed"), thrown.getMessage());
        }
    }

    @Test
    void shouldKeepAPartlySentFrameAndFinishItBeforeTheNextOne() {
        final int max = 1 << 20;
        final UnixSocketOptions options = UnixSocketOptions.builder().maxMessageLengthBytes(max)
            .socketSendBufferBytes(4096).socketReceiveBufferBytes(4096).build();
        try (UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(options)) {
            final UnixSocketBlobChannel sender = pair.first();
            final byte[] blob = new byte[max];
            final Verifier verifier = new Verifier(max);
            int sent = 0;
            int backPressured = 0;
            // One thread drives both ends: the sender's own poll must push its pending rest out.
            while (sent < 6) {
                final int length = SocketPeerMain.blobLength(sent, max);
                fill(blob, sent, length);
                if (sender.offer(blob, 0, length)) {
                    sent++;
                } else {
                    backPressured++;
                }
                sender.poll((buffer, offset, size) -> { }, 1);
                pair.second().poll(verifier, 10);
            }
            final long deadline = System.nanoTime() + SECONDS_10;
            while (verifier.count < sent && System.nanoTime() < deadline) {
                sender.poll((buffer, offset, size) -> { }, 1);
                pair.second().poll(verifier, 10);
            }
            assertEquals(sent, verifier.count);
            assertTrue(backPressured > 0, "a 1 MiB frame does not fit a 4 KiB socket buffer at once");
        }
    }

    @Test
    void shouldNeverCorruptFramesUnderPartialWritesWithConcurrentSenderAndReceiver() throws Exception {
        final int max = 1 << 20;
        final UnixSocketOptions options = UnixSocketOptions.builder().maxMessageLengthBytes(max)
            .socketSendBufferBytes(8192).build();
        final int count = 200;
        try (UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(options)) {
            final CompletableFuture<Void> sender = CompletableFuture.runAsync(() -> {
                final MemorySegment blob = Arena.ofAuto().allocate(max);
                for (int i = 0; i < count; i++) {
                    final int length = SocketPeerMain.blobLength(i, max);
                    for (int j = 0; j < length; j++) {
                        blob.set(ValueLayout.JAVA_BYTE, j, SocketPeerMain.blobByte(i, j));
                    }
                    if (!pair.first().offer(blob, 0, length, SECONDS_10)) {
                        throw new AssertionError("blob " + i + " not taken");
                    }
                }
                pair.first().close();
            });
            final Verifier verifier = new Verifier(max);
            assertThrows(ChannelClosedException.class, () -> {
                while (true) {
                    pair.second().poll(verifier, 100, SECONDS_10);
                }
            });
            sender.get(30, TimeUnit.SECONDS);
            assertEquals(count, verifier.count);
        }
    }

    @Test
    void shouldCommitAClaimedBlobWrittenInPlaceAndDropAnAbortedOne() {
        try (UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(maxLength(64))) {
            final long claim = pair.first().tryClaim(16);
            assertTrue(claim >= 0);
            assertThrows(IllegalStateException.class, () -> pair.first().tryClaim(1));
            assertThrows(IllegalStateException.class, () -> pair.first().offer(new byte[1], 0, 1));
            final MemorySegment buffer = pair.first().claimBuffer();
            buffer.set(ValueLayout.JAVA_LONG_UNALIGNED, claim, 42L);
            buffer.set(ValueLayout.JAVA_LONG_UNALIGNED, claim + 8, 43L);
            assertThrows(IllegalStateException.class, () -> pair.first().commit(claim + 1));
            pair.first().commit(claim);
            assertThrows(IllegalStateException.class, () -> pair.first().commit(claim));
            assertThrows(IllegalStateException.class, pair.first()::claimBuffer);

            final long aborted = pair.first().tryClaim(8);
            pair.first().claimBuffer().set(ValueLayout.JAVA_LONG_UNALIGNED, aborted, 99L);
            pair.first().abort(aborted);
            assertTrue(pair.first().offer(new byte[] {5}, 0, 1));

            final List<String> received = new ArrayList<>();
            while (received.size() < 2) {
                pair.second().poll((segment, offset, length) -> received.add(length == 16
                    ? segment.get(ValueLayout.JAVA_LONG_UNALIGNED, offset) + "," + segment.get(ValueLayout.JAVA_LONG_UNALIGNED, offset + 8)
                    : length + ":" + segment.get(ValueLayout.JAVA_BYTE, offset)), 10, SECONDS_10);
            }
            assertEquals(List.of("42,43", "1:5"), received);
        }
    }

    @Test
    void shouldOfferFromByteBufferWithoutMovingItsPosition() {
        try (UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(maxLength(64))) {
            final ByteBuffer heap = ByteBuffer.wrap("xxhello".getBytes(StandardCharsets.US_ASCII)).position(2);
            final ByteBuffer direct = ByteBuffer.allocateDirect(5).put("world".getBytes(StandardCharsets.US_ASCII)).flip();
            assertTrue(pair.first().offer(heap));
            assertTrue(pair.first().offer(direct));
            assertEquals(2, heap.position());
            assertEquals(0, direct.position());
            final List<String> received = new ArrayList<>();
            while (received.size() < 2) {
                pair.second().poll((segment, offset, length) -> received.add(new String(
                    segment.asSlice(offset, length).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.US_ASCII)), 10, SECONDS_10);
            }
            assertEquals(List.of("hello", "world"), received);
        }
    }

    @Test
    void shouldAllocateNothingPerMessageInSteadyState() {
        try (UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(maxLength(256))) {
            final MemorySegment native64 = Arena.ofAuto().allocate(64);
            final byte[] heap64 = new byte[64];
            final AtomicLong sum = new AtomicLong();
            final BlobHandler handler = (buffer, offset, length) -> sum.addAndGet(length);
            final Runnable round = () -> {
                for (int i = 0; i < 32; i++) {
                    pair.first().offer(native64, 0, 64);
                    pair.first().offer(heap64, 0, 64);
                }
                final long claim = pair.first().tryClaim(32);
                pair.first().commit(claim);
                while (pair.second().poll(handler, 1000) > 0) {
                    // drain
                }
            };
            AllocationProbe.assertNoAllocationPerOperation(round, 65, "messages");
            assertTrue(sum.get() > 0);
        }
    }

    @Test
    void shouldSetTheSocketFileModeToThePermissionLevelAndRemoveItOnClose() throws IOException {
        // A directory of its own: the wider levels widen their directory, which must not be the user's run directory.
        final Path base = Path.of(System.getProperty("isthmus.test.workdir", System.getProperty("java.io.tmpdir")));
        Files.createDirectories(base);
        final Path directory = Files.createTempDirectory(base, "sockmode");
        try {
            for (final PermissionLevel level : PermissionLevel.values()) {
                final UnixSocketOptions options = UnixSocketOptions.builder().permissions(level).directory(directory).build();
                final Path address;
                try (UnixSocketServer server = UnixSocketServer.bind("udstest", uniqueId(), options)) {
                    address = server.address();
                    assertEquals(directory.resolve(server.name().toString()), address);
                    assertEquals(PosixFilePermissions.fromString(level.symbolic()), Files.getPosixFilePermissions(address),
                        level.name());
                    assertEquals(UnixSocketServer.KIND, server.name().kind());
                }
                assertFalse(Files.exists(address), "close removes the socket file");
            }
            assertEquals(PosixFilePermissions.fromString("rwxr-xr-x"), Files.getPosixFilePermissions(directory),
                "others may reach an UNRESTRICTED socket, but never write the directory");
        } finally {
            Files.delete(directory);
        }
    }

    @Test
    @SuppressWarnings("try") // closes the server inside the try on purpose, then checks its use after close
    void shouldTimeOutAnAcceptWithoutConnection() {
        try (UnixSocketServer server = UnixSocketServer.bind("udstest", uniqueId(), UnixSocketOptions.defaults())) {
            final IsthmusTimeoutException timeout = assertThrows(IsthmusTimeoutException.class,
                () -> server.accept(TimeUnit.MILLISECONDS.toNanos(50)));
            assertTrue(timeout.getMessage().contains(server.address().toString()), timeout.getMessage());
            server.close();
            assertThrows(IllegalStateException.class, () -> server.accept(0));
        }
    }

    @Test
    void shouldExplainAConnectionToAMissingOrAbandonedSocket() throws IOException {
        final Path missing = Path.of("/tmp", "isthmus-no-such-dir-" + ProcessHandle.current().pid(), "sock");
        final NoSuchResourceException none = assertThrows(NoSuchResourceException.class,
            () -> UnixSocketBlobChannel.connect(missing, TimeUnit.MILLISECONDS.toNanos(30), UnixSocketOptions.defaults()));
        assertTrue(none.getMessage().contains(missing.toString()), none.getMessage());

        final ResourceName name = ResourceName.of("udstest", UnixSocketServer.KIND, uniqueId());
        final Path abandoned = dev.isthmus.shm.RunDirectory.ensure(PermissionLevel.USER_ACCESS).resolve(name.toString());
        final int fd = Sockets.socket();
        try {
            assertEquals(0, Sockets.bind(fd, abandoned.toString()));
        } finally {
            Sockets.close(fd);
        }
        try {
            final IsthmusException refused = assertThrows(IsthmusException.class,
                () -> UnixSocketBlobChannel.connect(abandoned, 0, UnixSocketOptions.defaults()));
            assertTrue(refused.getMessage().contains("ECONNREFUSED"), refused.getMessage());
            // A server of that name replaces the abandoned file.
            try (UnixSocketServer server = UnixSocketServer.bind(name, UnixSocketOptions.defaults());
                 UnixSocketBlobChannel client = UnixSocketBlobChannel.connect(abandoned, SECONDS_10, UnixSocketOptions.defaults());
                 UnixSocketBlobChannel accepted = server.accept(SECONDS_10)) {
                assertEquals(ProcessHandle.current().pid(), client.peerCredentials().pid());
                assertEquals(ProcessHandle.current().pid(), accepted.peerCredentials().pid());
                final IsthmusException twice = assertThrows(IsthmusException.class,
                    () -> UnixSocketServer.bind(name, UnixSocketOptions.defaults()));
                assertTrue(twice.getMessage().contains("a server listens on it"), twice.getMessage());
            }
        } finally {
            Files.deleteIfExists(abandoned);
        }
    }

    @Test
    void shouldListenAndConnectOnASocketPathLongerThanSunPath() throws IOException {
        final Path top = Files.createTempDirectory("isthmus-deep");
        final Path deep = Files.createDirectories(top.resolve("d".repeat(60)).resolve("e".repeat(60)));
        try {
            final UnixSocketOptions options = UnixSocketOptions.builder().directory(deep).build();
            final Path address;
            try (UnixSocketServer server = UnixSocketServer.bind("udstest", uniqueId(), options)) {
                address = server.address();
                assertTrue(address.toString().getBytes(StandardCharsets.UTF_8).length > Sockets.MAX_PATH_BYTES,
                    address + " must be too long for sun_path");
                try (UnixSocketBlobChannel client = UnixSocketBlobChannel.connect(address, SECONDS_10, options);
                     UnixSocketBlobChannel accepted = server.accept(SECONDS_10)) {
                    assertEquals(ProcessHandle.current().pid(), accepted.peerCredentials().pid());
                    assertTrue(client.offer(new byte[] {7, 8, 9}, 0, 3, SECONDS_10));
                    final byte[] got = new byte[3];
                    assertEquals(1, accepted.poll((segment, offset, length) ->
                        MemorySegment.copy(segment, ValueLayout.JAVA_BYTE, offset, got, 0, (int) length), 1, SECONDS_10));
                    assertArrayEquals(new byte[] {7, 8, 9}, got);
                }
            }
            assertFalse(Files.exists(address), "close removes the socket file");
            final NoSuchResourceException gone = assertThrows(NoSuchResourceException.class,
                () -> UnixSocketBlobChannel.connect(address, 0, options));
            assertTrue(gone.getMessage().contains(address.toString()), gone.getMessage());
        } finally {
            Files.delete(deep);
            Files.delete(deep.getParent());
            Files.delete(top);
        }
    }

    @Test
    void shouldRejectASocketFileNameTooLongForSunPath() {
        final Path tooLong = Path.of("/tmp/" + "x".repeat(103));
        final IllegalArgumentException rejected = assertThrows(IllegalArgumentException.class,
            () -> UnixSocketBlobChannel.connect(tooLong, 0, UnixSocketOptions.defaults()));
        assertTrue(rejected.getMessage().contains(tooLong.toString()) && rejected.getMessage().contains("at most 107 bytes")
            && rejected.getMessage().contains("file name is too long"), rejected.getMessage());
    }

    @Test
    void shouldPassAFileAndAMemfdInProcessAndCloseHandlesAPlainHandlerDoesNotTake() throws IOException {
        final Path file = Files.createTempFile("isthmus-handle", ".txt");
        try (UnixSocketBlobChannel.Pair pair = UnixSocketBlobChannel.pair(UnixSocketOptions.defaults());
             Arena arena = Arena.ofConfined()) {
            Files.writeString(file, "file content");
            try (NativeHandle opened = NativeHandle.open(file, false); NativeHandle memfd = NativeHandle.memfd("test", 4096)) {
                memfd.mapShared(4096, true, arena).setString(0, "memfd content");
                assertTrue(pair.first().offer(new byte[] {1}, 0, 1));
                assertTrue(pair.first().offerWithHandles(MemorySegment.ofArray(new byte[] {2, 3}), 0, 2, opened, memfd));
                assertTrue(pair.first().offerWithHandles(MemorySegment.ofArray(new byte[0]), 0, 0, opened));
            }
            final List<String> received = new ArrayList<>();
            while (received.size() < 2) {
                pair.second().pollWithHandles((buffer, offset, length, handles) -> {
                    final StringBuilder text = new StringBuilder(length + ":" + handles.size());
                    for (final NativeHandle handle : handles) {
                        try (handle; FileChannel channel = handle.openFileChannel(StandardOpenOption.READ)) {
                            final ByteBuffer bytes = ByteBuffer.allocate(13);
                            channel.read(bytes, 0);
                            text.append(':').append(new String(bytes.array(), StandardCharsets.UTF_8).replace("\0", ""));
                        } catch (final IOException e) {
                            throw new AssertionError(e);
                        }
                    }
                    received.add(text.toString());
                }, 1, SECONDS_10);
            }
            assertEquals(List.of("1:0", "2:2:file content:memfd content"), received);

            final List<Integer> plain = new ArrayList<>();
            assertEquals(1, pair.second().poll((buffer, offset, length) -> plain.add(length), 10, SECONDS_10));
            assertEquals(List.of(0), plain, "a plain handler gets the blob; the channel closes its handle");
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @Test
    void shouldReportCorruptDataWhenAFrameAnnouncesHandlesThatDidNotCome() throws IOException {
        try (UnixSocketServer server = UnixSocketServer.bind("udstest", uniqueId(), UnixSocketOptions.defaults());
             SocketChannel raw = SocketChannel.open(UnixDomainSocketAddress.of(server.address()));
             UnixSocketBlobChannel accepted = server.accept(SECONDS_10)) {
            raw.write(ByteBuffer.allocate(9).order(ByteOrder.LITTLE_ENDIAN).putInt(0x8000_0001).putInt(1).put((byte) 0).flip());
            final CorruptDataException corrupt = assertThrows(CorruptDataException.class,
                () -> accepted.poll((buffer, offset, length) -> { }, 10, SECONDS_10));
            assertTrue(corrupt.getMessage().contains("announces 1 handles, but no descriptors came with it"),
                corrupt.getMessage());
        }
    }

    /** Accepts a connection from a raw JDK client that writes what {@code writer} writes and closes. */
    private static UnixSocketBlobChannel acceptRaw(final UnixSocketServer server, final RawWriter writer) throws IOException {
        try (SocketChannel raw = SocketChannel.open(UnixDomainSocketAddress.of(server.address()))) {
            writer.write(raw);
            return server.accept(SECONDS_10);
        }
    }

    @FunctionalInterface
    private interface RawWriter {
        void write(SocketChannel raw) throws IOException;
    }

    private static void fill(final byte[] blob, final long index, final int length) {
        for (int j = 0; j < length; j++) {
            blob[j] = SocketPeerMain.blobByte(index, j);
        }
    }

    /** Checks that blob i has the length and content {@link SocketPeerMain} defines. */
    static final class Verifier implements BlobHandler {
        private final int max;
        long count;

        Verifier(final int max) {
            this.max = max;
        }

        @Override
        public void onBlob(final MemorySegment buffer, final long offset, final int length) {
            final int expected = SocketPeerMain.blobLength(count, max);
            if (length != expected) {
                throw new AssertionError("blob " + count + " has length " + length + ", expected " + expected);
            }
            for (int j = 0; j < length; j++) {
                if (buffer.get(ValueLayout.JAVA_BYTE, offset + j) != SocketPeerMain.blobByte(count, j)) {
                    throw new AssertionError("blob " + count + " differs at byte " + j);
                }
            }
            count++;
        }
    }
}
