/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.demo;

import dev.isthmus.capnp.demo.CacheDemo;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The demo's files, their names and parts, and the hash each part carries: the first 128 bits of its
 * SHA-256.
 */
final class CacheFiles {
    /** The size of a file part, as Flow-IPC's perf demo uses: 16 KiB. */
    static final int PART_BYTES = 16 * 1024;

    private CacheFiles() {
    }

    /**
     * {@return the name of the file of {@code size} bytes, e.g. {@code file-100KiB.bin}}
     *
     * @param size the size in bytes
     */
    static String name(final long size) {
        return "file-" + humanSize(size) + ".bin";
    }

    /**
     * {@return a size as people write it: 100 KiB, 1 MiB, 1 GiB}
     *
     * @param size bytes
     */
    static String humanSize(final long size) {
        if (size >= 1L << 30 && size % (1L << 30) == 0) {
            return size / (1L << 30) + "GiB";
        }
        if (size >= 1L << 20 && size % (1L << 20) == 0) {
            return size / (1L << 20) + "MiB";
        }
        if (size >= 1L << 10 && size % (1L << 10) == 0) {
            return size / (1L << 10) + "KiB";
        }
        return size + "B";
    }

    /**
     * {@return a size parsed from {@code 100K}, {@code 1M}, {@code 1G}, {@code 100KiB} or a number of bytes}
     *
     * @param text the size
     */
    static long parseSize(final String text) {
        final String value = text.trim().toUpperCase(Locale.ROOT).replace("IB", "").replace("B", "");
        final long multiplier = switch (value.charAt(value.length() - 1)) {
            case 'K' -> 1L << 10;
            case 'M' -> 1L << 20;
            case 'G' -> 1L << 30;
            default -> 1;
        };
        final String digits = multiplier == 1 ? value : value.substring(0, value.length() - 1);
        return Long.parseLong(digits) * multiplier;
    }

    /**
     * Fills a file's content: pseudo-random bytes, different for every size.
     *
     * @param size the file's size
     * @return the content
     */
    static byte[] content(final long size) {
        if (size > Integer.MAX_VALUE - 64) {
            throw new IllegalArgumentException("size=" + size + " exceeds what the demo preloads in one array");
        }
        final byte[] data = new byte[(int) size];
        final SplittableRandom random = new SplittableRandom(size);
        final ByteBuffer longs = ByteBuffer.wrap(data);
        while (longs.remaining() >= 8) {
            longs.putLong(random.nextLong());
        }
        while (longs.hasRemaining()) {
            longs.put((byte) random.nextInt());
        }
        return data;
    }

    /**
     * {@return the first 128 bits of the SHA-256 of a range, as {@code {high, low}}}
     *
     * @param digest a SHA-256 digest to reuse
     * @param data   the bytes
     * @param offset where the range starts
     * @param length its length
     */
    static long[] hash(final MessageDigest digest, final byte[] data, final int offset, final int length) {
        digest.reset();
        digest.update(data, offset, length);
        final ByteBuffer sum = ByteBuffer.wrap(digest.digest());
        return new long[] {sum.getLong(), sum.getLong()};
    }

    /**
     * {@return the first 128 bits of the SHA-256 of a buffer's remaining bytes}
     *
     * @param digest a SHA-256 digest to reuse
     * @param data   the bytes; its position is not changed
     */
    static long[] hash(final MessageDigest digest, final ByteBuffer data) {
        digest.reset();
        digest.update(data.duplicate());
        final ByteBuffer sum = ByteBuffer.wrap(digest.digest());
        return new long[] {sum.getLong(), sum.getLong()};
    }

    /**
     * {@return a new SHA-256 digest}
     */
    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (final NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }

    /**
     * {@return the hashes of a file's parts, in order}
     *
     * @param data the file's content
     */
    static long[][] partHashes(final byte[] data) {
        final MessageDigest digest = sha256();
        final int parts = (data.length + PART_BYTES - 1) / PART_BYTES;
        final long[][] hashes = new long[parts][];
        for (int i = 0; i < parts; i++) {
            final int offset = i * PART_BYTES;
            hashes[i] = hash(digest, data, offset, Math.min(PART_BYTES, data.length - offset));
        }
        return hashes;
    }

    /**
     * Fills a response with a file's parts.
     *
     * @param response the response to fill
     * @param data     the file's content
     * @param hashes   the parts' hashes, from {@link #partHashes}
     */
    static void fill(final CacheDemo.GetCacheRsp.Builder response, final byte[] data, final long[][] hashes) {
        final int parts = hashes.length;
        final org.capnproto.StructList.Builder<CacheDemo.GetCacheRsp.FilePart.Builder> list = response.initFileParts(parts);
        for (int i = 0; i < parts; i++) {
            final int offset = i * PART_BYTES;
            final int length = Math.min(PART_BYTES, data.length - offset);
            final CacheDemo.GetCacheRsp.FilePart.Builder part = list.get(i);
            part.initData(length).asByteBuffer().put(data, offset, length);
            part.setDataSizeToVerify(length);
            final long[] hash = hashes[i];
            final CacheDemo.Hash.Builder digestOut = part.initDataHashToVerify();
            digestOut.setHigh(hash[0]);
            digestOut.setLow(hash[1]);
        }
    }
}
