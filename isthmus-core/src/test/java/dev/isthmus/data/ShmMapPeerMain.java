/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;


import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.nio.charset.StandardCharsets;

/**
 * A child process writing into a parent's {@link ShmMap}, which it opens through
 * {@code /proc/<parent>/fd/<fd>}, and the checksummed values that let a reader tell a whole value from a
 * torn one.
 *
 * <p>Commands: {@code loop <path> <keys>} puts ever newer values into keys {@code 0..keys-1} until its
 * stdin says {@code stop} (printing {@code WROTE <n>} every 10,000 puts and {@code DONE <n>} at the end);
 * {@code halt <path> <key>} waits for {@code go} and replaces the key's value, which halts the JVM half-way
 * when {@code isthmus.test.shmmap.haltMidUpdate} is set.
 */
public final class ShmMapPeerMain {
    /** The length of a checksummed value. */
    static final int VALUE_BYTES = 64;
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int CHECKSUM_OFFSET = VALUE_BYTES - Long.BYTES;

    private ShmMapPeerMain() {
    }

    /** Fills the first {@link #VALUE_BYTES} bytes of {@code value} with the value of version {@code counter} of {@code key}. */
    static void fill(final MemorySegment value, final long key, final long counter) {
        value.set(LONG_LE, 0, counter);
        value.set(LONG_LE, 8, key);
        for (int i = 16; i < CHECKSUM_OFFSET; i++) {
            value.set(ValueLayout.JAVA_BYTE, i, derived(key, counter, i));
        }
        value.set(LONG_LE, CHECKSUM_OFFSET, checksum(value));
    }

    /**
     * {@return the counter of a whole value of {@code key}}
     *
     * @throws AssertionError if the value is torn, of another key, or of the wrong length
     */
    static long check(final MemorySegment value, final long length, final long key) {
        if (length != VALUE_BYTES) {
            throw new AssertionError("value of key " + key + " has length " + length);
        }
        final long counter = value.get(LONG_LE, 0);
        if (value.get(LONG_LE, 8) != key) {
            throw new AssertionError("value of key " + key + " names key " + value.get(LONG_LE, 8));
        }
        for (int i = 16; i < CHECKSUM_OFFSET; i++) {
            if (value.get(ValueLayout.JAVA_BYTE, i) != derived(key, counter, i)) {
                throw new AssertionError("torn value of key " + key + " (counter " + counter + ") at byte " + i);
            }
        }
        if (value.get(LONG_LE, CHECKSUM_OFFSET) != checksum(value)) {
            throw new AssertionError("torn value of key " + key + " (counter " + counter + "): checksum");
        }
        return counter;
    }

    private static byte derived(final long key, final long counter, final int i) {
        return (byte) ((counter >>> (i % 8 * 8)) ^ key * 31 ^ i * 0x5b);
    }

    private static long checksum(final MemorySegment value) {
        long h = 0xcbf29ce484222325L;
        for (int i = 0; i < CHECKSUM_OFFSET; i++) {
            h = (h ^ (value.get(ValueLayout.JAVA_BYTE, i) & 0xff)) * 0x100000001b3L;
        }
        return h;
    }

    /**
     * Runs a command.
     *
     * @param args the command, the socket the parent lends the map over, and its argument
     * @throws Exception if the child fails
     */
    public static void main(final String[] args) throws Exception {
        final ShmMap borrowed;
        try (dev.isthmus.transport.UnixSocketBlobChannel channel = dev.isthmus.transport.UnixSocketBlobChannel.connect(
            Path.of(args[1]), java.util.concurrent.TimeUnit.SECONDS.toNanos(30),
            dev.isthmus.transport.UnixSocketOptions.defaults())) {
            borrowed = ShmMap.borrow(channel, java.util.concurrent.TimeUnit.SECONDS.toNanos(30));
        }
        final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (ShmMap map = borrowed; Arena arena = Arena.ofConfined()) {
            final MemorySegment value = arena.allocate(VALUE_BYTES, 8);
            switch (args[0]) {
                case "loop" -> {
                    final int keys = Integer.parseInt(args[2]);
                    final Thread reader = Thread.ofPlatform().daemon().start(() -> {
                        try {
                            while (!"stop".equals(in.readLine())) {
                                Thread.onSpinWait();
                            }
                        } catch (final java.io.IOException ignored) {
                            // the parent is gone: stop
                        }
                    });
                    System.out.println("READY");
                    long counter = 0;
                    while (reader.isAlive()) {
                        counter++;
                        final long key = counter % keys;
                        fill(value, key, counter);
                        if (!map.put(key, value)) {
                            throw new AssertionError("stripe full at key " + key);
                        }
                        if (counter % 10_000 == 0) {
                            System.out.println("WROTE " + counter);
                        }
                    }
                    System.out.println("DONE " + counter);
                }
                case "halt" -> {
                    final long key = Long.parseLong(args[2]);
                    System.out.println("READY");
                    if (!"go".equals(in.readLine())) {
                        throw new AssertionError("expected go");
                    }
                    fill(value, key, 999_999);
                    map.put(key, value);
                    System.out.println("NOT HALTED");
                }
                default -> throw new IllegalArgumentException("unknown command " + args[0]);
            }
        }
        System.out.flush();
    }
}
