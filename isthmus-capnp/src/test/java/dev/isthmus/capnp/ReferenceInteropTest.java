/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.capnp.demo.CacheDemo.GetCacheRsp;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.struc.StructuredChannel;
import dev.isthmus.struc.StructuredChannelOptions;
import dev.isthmus.transport.ShmBlobChannel;
import dev.isthmus.transport.ShmQueueOptions;
import org.capnproto.StructList;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Interoperability with the reference implementation: the {@code capnp} tool (Debian package
 * {@code capnproto}) encodes a message that a {@link Backing#HEAP} channel reads, and decodes one that it
 * sent. Skipped, saying why, where {@code capnp} is not installed.
 */
class ReferenceInteropTest {
    private static final AtomicInteger IDS = new AtomicInteger();
    private Path schema;
    private Path imports;

    @BeforeEach
    void findTheTool() {
        assumeTrue(capnpAvailable(), "the capnp tool is not on PATH: install it with apt-get install capnproto");
        schema = Path.of(System.getProperty("isthmus.capnp.schemas", "src/main/capnp"), "cache_demo.capnp");
        imports = Path.of(System.getProperty("isthmus.capnp.imports", "target/capnp-work/main"));
        assumeTrue(Files.isRegularFile(schema) && Files.isRegularFile(imports.resolve("java.capnp")),
            "the schema or the java.capnp the build unpacked is missing: " + schema + ", " + imports);
    }

    @Test
    void shouldReadAMessageEncodedByTheReferenceImplementation() throws Exception {
        final byte[] binary = {0, 1, 2, (byte) 0xff, 0x7f, (byte) 0x80};
        final byte[] text = "hello, capnp".getBytes(StandardCharsets.US_ASCII);
        final String message = "(getCacheRsp = (fileParts = [" + part("0x\"0001 02ff 7f80\"", binary) + ", "
            + part("\"hello, capnp\"", text) + "]))";
        final byte[] encoded = capnp(message.getBytes(StandardCharsets.UTF_8), "encode");

        try (Pair pair = new Pair()) {
            final CompletableFuture<List<byte[]>> received = new CompletableFuture<>();
            pair.isthmus.onMessage(Body.Which.GET_CACHE_RSP, (msg, replier) -> {
                try {
                    final StructList.Reader<GetCacheRsp.FilePart.Reader> parts = msg.root().getGetCacheRsp().getFileParts();
                    final List<byte[]> data = new ArrayList<>();
                    for (int i = 0; i < parts.size(); i++) {
                        final GetCacheRsp.FilePart.Reader part = parts.get(i);
                        final byte[] bytes = part.getData().toArray();
                        assertEquals(bytes.length, part.getDataSizeToVerify());
                        final long[] hash = CacheMessages.hash(ByteBuffer.wrap(bytes));
                        assertEquals(hash[0], part.getDataHashToVerify().getHigh());
                        assertEquals(hash[1], part.getDataHashToVerify().getLow());
                        data.add(bytes);
                    }
                    received.complete(data);
                } catch (final Throwable e) {
                    received.completeExceptionally(e);
                }
            });
            pair.raw.send(RawCodec.message(encoded, Body.Which.GET_CACHE_RSP.ordinal()));
            final List<byte[]> data = received.get(30, TimeUnit.SECONDS);
            assertEquals(2, data.size());
            assertArrayEquals(binary, data.get(0));
            assertArrayEquals(text, data.get(1));
        }
    }

    @Test
    void shouldWriteAMessageTheReferenceImplementationDecodes() throws Exception {
        try (Pair pair = new Pair()) {
            final CompletableFuture<byte[]> captured = new CompletableFuture<>();
            pair.raw.onMessage(Body.Which.GET_CACHE_RSP.ordinal(), (msg, replier) -> captured.complete(msg.root()));
            final StringBuilder expected = new StringBuilder("(getCacheRsp = (fileParts = [");
            try (CapnpOutgoing<Body.Builder> message = CapnpCodec.heap(Body.factory).newMessage()) {
                // Printable parts large enough for several segments: the stream framing's table is exercised.
                final StructList.Builder<GetCacheRsp.FilePart.Builder> parts = message.root().initGetCacheRsp().initFileParts(3);
                for (int i = 0; i < 3; i++) {
                    final byte[] bytes = String.valueOf((char) ('a' + i)).repeat(6000 + i).getBytes(StandardCharsets.US_ASCII);
                    final GetCacheRsp.FilePart.Builder part = parts.get(i);
                    part.setData(new org.capnproto.Data.Reader(bytes));
                    part.setDataSizeToVerify(bytes.length);
                    final long[] hash = CacheMessages.hash(ByteBuffer.wrap(bytes));
                    part.initDataHashToVerify().setHigh(hash[0]);
                    part.getDataHashToVerify().setLow(hash[1]);
                    expected.append(i == 0 ? "" : ", ").append(part("\"" + new String(bytes, StandardCharsets.US_ASCII) + "\"", bytes));
                }
                expected.append("]))");
                assertTrue(message.segmentCount() > 1, "segments=" + message.segmentCount());
                pair.isthmus.send(message);
            }
            final byte[] payload = captured.get(30, TimeUnit.SECONDS);
            final String decoded = new String(capnp(payload, "decode", "--short"), StandardCharsets.UTF_8).strip();
            assertEquals(expected.toString(), decoded);
        }
    }

    /** A part in the text format, with the size and hash of {@code bytes}. */
    private static String part(final String dataLiteral, final byte[] bytes) {
        final long[] hash = CacheMessages.hash(ByteBuffer.wrap(bytes));
        return "(data = " + dataLiteral + ", dataSizeToVerify = " + bytes.length + ", dataHashToVerify = (high = "
            + Long.toUnsignedString(hash[0]) + ", low = " + Long.toUnsignedString(hash[1]) + "))";
    }

    /** A raw channel (bytes as they cross) connected to an Isthmus {@link Backing#HEAP} channel. */
    private static final class Pair implements AutoCloseable {
        final StructuredChannel<byte[], RawCodec.Raw> raw;
        final StructuredChannel<Body.Reader, Body.Builder> isthmus;

        Pair() {
            final ResourceName name = ResourceName.of(Endpoints.APP, "queue", "i" + IDS.incrementAndGet());
            raw = StructuredChannel.open(ShmBlobChannel.create(name, ShmQueueOptions.defaults()), new RawCodec(),
                StructuredChannelOptions.defaults());
            isthmus = CapnpChannels.open(ShmBlobChannel.open(name, ShmQueueOptions.defaults()), Body.factory,
                StructuredChannelOptions.defaults());
        }

        @Override
        public void close() {
            isthmus.close();
            raw.close();
        }
    }

    private static boolean capnpAvailable() {
        for (final String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "capnp"))) {
                return true;
            }
        }
        return false;
    }

    /** Runs {@code capnp <command> [options] -I<imports> <schema> Body}, feeding {@code input}. */
    private byte[] capnp(final byte[] input, final String command, final String... options) throws Exception {
        final List<String> line = new ArrayList<>(List.of("capnp", command));
        line.addAll(List.of(options));
        line.addAll(List.of("-I" + imports, schema.toString(), "Body"));
        final Process process = new ProcessBuilder(line).start();
        try {
            final CompletableFuture<byte[]> stdout = CompletableFuture.supplyAsync(() -> readAll(process.getInputStream()));
            final CompletableFuture<byte[]> stderr = CompletableFuture.supplyAsync(() -> readAll(process.getErrorStream()));
            try (OutputStream stdin = process.getOutputStream()) {
                stdin.write(input);
            }
            assertTrue(process.waitFor(30, TimeUnit.SECONDS), "capnp " + command + " did not finish within 30 s");
            final byte[] out = stdout.get(10, TimeUnit.SECONDS);
            assertEquals(0, process.exitValue(), () -> line + " failed: "
                + new String(stderr.join(), StandardCharsets.UTF_8));
            return out;
        } finally {
            process.destroyForcibly();
        }
    }

    private static byte[] readAll(final InputStream in) {
        try (in; ByteArrayOutputStream out = new ByteArrayOutputStream()) {
            in.transferTo(out);
            return out.toByteArray();
        } catch (final IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
