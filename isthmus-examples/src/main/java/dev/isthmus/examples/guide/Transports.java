/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.examples.guide;

import dev.isthmus.session.Channel;
import dev.isthmus.session.ChannelTransport;
import dev.isthmus.session.SessionOptions;
import dev.isthmus.sync.FutexIdleStrategy;
import dev.isthmus.sync.IdleStrategies;
import dev.isthmus.sync.YieldingIdleStrategy;
import dev.isthmus.transport.BlobChannel;
import dev.isthmus.transport.ShmBlobChannel;
import dev.isthmus.transport.ShmQueueOptions;

import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The guide's choice of transport and idle strategy: session options for each, and a channel whose receiver
 * waits differently from the rest.
 */
public final class Transports {
    // guide:transports:begin
    // The default: a shared-memory queue per direction.
    static final SessionOptions QUEUES = SessionOptions.defaults().initChannels(1);
    // The channel's Unix socket carries the blobs: a system call per message.
    static final SessionOptions SOCKETS = QUEUES.transport(ChannelTransport.UNIX_SOCKET);
    // Two POSIX message queues per channel, within the kernel's limits (fs.mqueue.*).
    static final SessionOptions MESSAGE_QUEUES = QUEUES.transport(ChannelTransport.POSIX_MQ);
    // guide:transports:end

    // guide:idle-strategies:begin
    // Spin while waiting: the lowest latency, a CPU per waiting thread.
    static final SessionOptions SPINNING = QUEUES.queueOptions(ShmQueueOptions.builder()
        .idleStrategy(IdleStrategies.byName("busy-spin")).build());
    // Give the CPU away between checks.
    static final SessionOptions YIELDING = QUEUES.queueOptions(ShmQueueOptions.builder()
        .idleStrategy(YieldingIdleStrategy::new).build());
    // Spin for 50 ms after the last message (the default spins for 0.5 ms), then sleep on a futex.
    static final SessionOptions PATIENT = QUEUES.queueOptions(ShmQueueOptions.builder()
        .idleStrategy(() -> IdleStrategies.spinThenFutex(TimeUnit.MILLISECONDS.toNanos(50))).build());
    // Sleep on a futex at once: no CPU while idle, a kernel wake-up per hand-off.
    static final SessionOptions SLEEPING = QUEUES.queueOptions(ShmQueueOptions.builder()
        .idleStrategy(FutexIdleStrategy::new).build());
    // guide:idle-strategies:end

    // guide:batched-options:begin
    // Messages become visible to the receiver 16 KiB at a time, or at flush().
    static final SessionOptions BATCHED = QUEUES.queueOptions(ShmQueueOptions.builder()
        .publishBatchBytes(16 * 1024).build());
    // guide:batched-options:end

    private Transports() {
    }

    /** {@return every option set of this class, by name, for the tests} */
    static List<Named> all() {
        return List.of(new Named("QUEUES", QUEUES), new Named("SOCKETS", SOCKETS),
            new Named("MESSAGE_QUEUES", MESSAGE_QUEUES), new Named("SPINNING", SPINNING), new Named("YIELDING", YIELDING),
            new Named("PATIENT", PATIENT), new Named("SLEEPING", SLEEPING));
    }

    /**
     * Session options with a name.
     *
     * @param name    the constant's name
     * @param options the options
     */
    record Named(String name, SessionOptions options) {
        @Override
        public String toString() {
            return name;
        }
    }

    /**
     * Sends a burst of messages over a channel that may publish in batches, and publishes what is left.
     *
     * @param blobs the channel
     * @param burst the messages
     * @return how many were sent
     */
    public static int sendBurst(final BlobChannel blobs, final List<byte[]> burst) {
        // guide:batched-burst:begin
        int sent = 0;
        for (byte[] message : burst) {
            if (blobs.offer(message, 0, message.length, TimeUnit.SECONDS.toNanos(1))) {
                sent++;
            }
        }
        blobs.flush();           // the rest of the burst becomes visible now; a no-op unless batched
        // guide:batched-burst:end
        return sent;
    }

    /**
     * Makes one channel's receiver sleep at once, whatever the session's options say.
     *
     * @param channel a channel of a session over shared-memory queues
     */
    public static void sleepWhenIdle(final Channel channel) {
        // guide:channel-idle:begin
        if (channel.blobs() instanceof ShmBlobChannel queues) {
            queues.receiveIdleStrategy(new FutexIdleStrategy());   // call it from the receiving thread
        }
        // guide:channel-idle:end
    }
}
