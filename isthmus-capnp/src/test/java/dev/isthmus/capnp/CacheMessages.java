/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.capnp.demo.CacheDemo.GetCacheRsp;
import dev.isthmus.capnp.demo.CacheDemo.Hash;
import org.capnproto.Data;
import org.capnproto.StructList;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Cache demo messages for tests: responses whose parts have deterministic content and carry their size
 * and hash (the first 128 bits of SHA-256), and the check a client makes.
 */
final class CacheMessages {
    private CacheMessages() {
    }

    /** Fills a request for {@code fileName}. */
    static void request(final Body.Builder root, final String fileName) {
        root.initGetCacheReq().setFileName(fileName);
    }

    /** Fills a response of {@code partCount} parts of {@code partBytes} each, whose content follows {@code seed}. */
    static void response(final Body.Builder root, final long seed, final int partCount, final int partBytes) {
        final StructList.Builder<GetCacheRsp.FilePart.Builder> parts = root.initGetCacheRsp().initFileParts(partCount);
        for (int i = 0; i < partCount; i++) {
            // Sizes vary a little, so that a part's bytes cannot be mistaken for its neighbour's.
            final int size = Math.max(0, partBytes - (i % 3) * 8 - (i % 2));
            final GetCacheRsp.FilePart.Builder part = parts.get(i);
            final Data.Builder data = part.initData(size);
            fill(data.asByteBuffer(), seed + i);
            part.setDataSizeToVerify(size);
            final long[] hash = hash(data.asByteBuffer());
            final Hash.Builder digest = part.initDataHashToVerify();
            digest.setHigh(hash[0]);
            digest.setLow(hash[1]);
        }
    }

    /**
     * Sets only some fields of a response: its second part's 8 bytes of data, the first of them 7. Every
     * other word must read zero, not the bytes of a message built before in the same memory.
     */
    static void fillSparse(final Body.Builder root) {
        root.initGetCacheRsp().initFileParts(2).get(1).initData(8).asByteBuffer().put(0, (byte) 7);
    }

    /** Checks a response {@link #fillSparse} built: what it set, and zero everywhere else. */
    static void verifySparse(final Body.Reader root) {
        final StructList.Reader<GetCacheRsp.FilePart.Reader> parts = root.getGetCacheRsp().getFileParts();
        assertEquals(2, parts.size());
        for (int i = 0; i < 2; i++) {
            assertEquals(0, parts.get(i).getDataSizeToVerify(), "part " + i + " size word is zero");
            assertEquals(0, parts.get(i).getDataHashToVerify().getHigh(), "part " + i + " hash is zero");
            assertEquals(0, parts.get(i).getDataHashToVerify().getLow(), "part " + i + " hash is zero");
        }
        assertEquals(0, parts.get(0).getData().size(), "part 0 has no data");
        assertEquals(8, parts.get(1).getData().size());
        assertEquals(7, parts.get(1).getData().asByteBuffer().get(0));
    }

    /**
     * Checks every part of a response as the demo's client does (size and hash), and that its content
     * follows {@code seed}.
     *
     * @return the data bytes checked
     */
    static long verify(final Body.Reader root, final long seed, final int partCount) {
        assertEquals(Body.Which.GET_CACHE_RSP, root.which());
        final StructList.Reader<GetCacheRsp.FilePart.Reader> parts = root.getGetCacheRsp().getFileParts();
        assertEquals(partCount, parts.size());
        long total = 0;
        for (int i = 0; i < parts.size(); i++) {
            final GetCacheRsp.FilePart.Reader part = parts.get(i);
            final ByteBuffer data = part.getData().asByteBuffer();
            assertEquals(part.getDataSizeToVerify(), data.remaining(), "size of part " + i);
            final long[] hash = hash(data.duplicate());
            assertEquals(part.getDataHashToVerify().getHigh(), hash[0], "hash of part " + i);
            assertEquals(part.getDataHashToVerify().getLow(), hash[1], "hash of part " + i);
            final ByteBuffer expected = ByteBuffer.allocate(data.remaining());
            fill(expected, seed + i);
            assertEquals(expected.rewind(), data.duplicate(), "content of part " + i);
            total += data.remaining();
        }
        return total;
    }

    /** Writes a xorshift sequence seeded by {@code seed} into the buffer's remaining bytes. */
    static void fill(final ByteBuffer target, final long seed) {
        final ByteBuffer out = target.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long x = seed * 0x9E3779B97F4A7C15L + 1;
        while (out.remaining() >= 8) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            out.putLong(x);
        }
        while (out.hasRemaining()) {
            out.put((byte) seed);
        }
    }

    /** {@return the first 128 bits of the SHA-256 of the buffer's remaining bytes, as two big-endian longs} */
    static long[] hash(final ByteBuffer data) {
        try {
            final MessageDigest digest = MessageDigest.getInstance("SHA-256");
            digest.update(data.duplicate());
            final ByteBuffer result = ByteBuffer.wrap(digest.digest());
            return new long[] {result.getLong(), result.getLong()};
        } catch (final NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
