/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.shm.ResourceName;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * The other process of the POSIX MQ cross-process tests. Arguments: {@code create <app> <id> [permission]}
 * or {@code open <base>}, then a script of steps run in order:
 * <ul>
 *   <li>{@code send:N}: sends blobs 0 to N-1 (see {@link Blobs}), waiting for room; prints {@code SENT N};</li>
 *   <li>{@code expect:N}: receives and checks blobs 0 to N-1; prints {@code RECEIVED N};</li>
 *   <li>{@code echo}: sends every blob back until the peer closes; prints {@code SAW CLOSE <count>};</li>
 *   <li>{@code expectclose}: waits for the peer's close, with no blob before it; prints {@code SAW CLOSE};</li>
 *   <li>{@code fill}: offers blobs until back-pressured; prints {@code FULL <count>};</li>
 *   <li>{@code wait}: waits for a line on stdin;</li>
 *   <li>{@code close}: closes its end; prints {@code CLOSED};</li>
 *   <li>{@code hang}: prints {@code HANGING} and sleeps until killed.</li>
 * </ul>
 * Prints {@code READY <base>} once attached or created.
 */
public final class PosixMqPeerMain {
    private static final long WAIT_NS = TimeUnit.SECONDS.toNanos(60);

    private PosixMqPeerMain() {
    }

    /**
     * Runs the script.
     *
     * @param args the role, the name, the steps
     * @throws Exception on any failure, which makes the exit code 1
     */
    public static void main(final String[] args) throws Exception {
        final PosixMqBlobChannel channel;
        final int firstStep;
        if ("create".equals(args[0])) {
            final boolean levelGiven = args.length > 3 && isLevel(args[3]);
            final PermissionLevel permissions = levelGiven ? PermissionLevel.valueOf(args[3]) : PermissionLevel.USER_ACCESS;
            final ResourceName base = ResourceName.of(args[1], "mq", args[2]);
            channel = PosixMqBlobChannel.create(base, PosixMqOptions.builder().permissions(permissions).build());
            System.out.println("READY " + base);
            firstStep = levelGiven ? 4 : 3;
        } else {
            final ResourceName base = ResourceName.parse(args[1]).orElseThrow();
            channel = PosixMqBlobChannel.open(base, PosixMqOptions.defaults());
            System.out.println("READY " + base);
            firstStep = 2;
        }
        final BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        final MemorySegment scratch = Arena.ofAuto().allocate(channel.maxMessageLength());
        final int max = channel.maxMessageLength();
        for (int i = firstStep; i < args.length; i++) {
            final String step = args[i];
            if (step.startsWith("send:")) {
                final int count = Integer.parseInt(step.substring(5));
                for (int seq = 0; seq < count; seq++) {
                    final int length = Blobs.lengthOf(seq, max);
                    Blobs.fill(scratch, 0, seq, length);
                    if (!channel.offer(scratch, 0, length, WAIT_NS)) {
                        throw new IllegalStateException("no room for blob " + seq + " within 60 s");
                    }
                }
                System.out.println("SENT " + count);
            } else if (step.startsWith("expect:")) {
                final int count = Integer.parseInt(step.substring(7));
                final long[] next = {0};
                while (next[0] < count) {
                    channel.poll((buffer, offset, length) -> {
                        final String wrong = Blobs.check(buffer, offset, length, next[0], Blobs.lengthOf(next[0], max));
                        if (wrong != null) {
                            throw new IllegalStateException(wrong);
                        }
                        next[0]++;
                    }, count - (int) next[0], WAIT_NS);
                }
                System.out.println("RECEIVED " + count);
            } else if ("echo".equals(step)) {
                final long[] echoed = {0};
                try {
                    while (true) {
                        channel.poll((buffer, offset, length) -> {
                            if (!channel.offer(buffer, offset, length, WAIT_NS)) {
                                throw new IllegalStateException("no room to echo within 60 s");
                            }
                            echoed[0]++;
                        }, 16, WAIT_NS);
                    }
                } catch (final ChannelClosedException e) {
                    System.out.println("SAW CLOSE " + echoed[0] + " " + e.getMessage());
                }
            } else if ("expectclose".equals(step)) {
                try {
                    final int count = channel.poll((buffer, offset, length) -> {
                        throw new IllegalStateException("unexpected blob of " + length + " bytes");
                    }, 1, WAIT_NS);
                    throw new IllegalStateException("no close within 60 s (" + count + ")");
                } catch (final ChannelClosedException e) {
                    System.out.println("SAW CLOSE " + e.getMessage());
                }
            } else if ("fill".equals(step)) {
                int count = 0;
                while (channel.offer(scratch, 0, 1)) {
                    count++;
                }
                System.out.println("FULL " + count);
            } else if ("wait".equals(step)) {
                stdin.readLine();
            } else if ("close".equals(step)) {
                channel.close();
                System.out.println("CLOSED");
            } else if ("hang".equals(step)) {
                System.out.println("HANGING");
                Thread.sleep(600_000);
            } else {
                throw new IllegalArgumentException("unknown step " + step);
            }
        }
        channel.close();
        System.out.println("DONE");
    }

    private static boolean isLevel(final String text) {
        for (final PermissionLevel level : PermissionLevel.values()) {
            if (level.name().equals(text)) {
                return true;
            }
        }
        return false;
    }
}
