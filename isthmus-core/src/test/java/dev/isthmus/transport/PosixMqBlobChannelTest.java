/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.IsthmusException;
import dev.isthmus.shm.NoSuchResourceException;
import dev.isthmus.shm.PermissionLevel;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.Resources;
import dev.isthmus.test.AllocationProbe;
import dev.isthmus.test.NoMessageQueueLeftovers;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Both ends in this process (the kernel does not care), for what does not need a second process.
 * Cross-process behaviour is in {@link PosixMqBlobChannelCrossProcessTest}.
 */
class PosixMqBlobChannelTest {
    private static final AtomicInteger IDS = new AtomicInteger();
    private static final long SECOND_NS = TimeUnit.SECONDS.toNanos(1);

    /** A fresh channel name whose queues {@link NoMessageQueueLeftovers} checks at the end of the class. */
    static ResourceName newBase(final String what) {
        final ResourceName base = ResourceName.of("mqtest", "mq", what + IDS.incrementAndGet());
        NoMessageQueueLeftovers.track(PosixMqBlobChannel.upQueueName(base));
        NoMessageQueueLeftovers.track(PosixMqBlobChannel.downQueueName(base));
        return base;
    }

    @Test
    void shouldDeliverBlobsInOrderWithExactBoundariesBothWays() {
        final ResourceName base = newBase("order");
        try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base, PosixMqOptions.defaults());
             PosixMqBlobChannel opener = PosixMqBlobChannel.open(base, PosixMqOptions.defaults())) {
            assertEquals(8192, creator.maxMessageLength());
            assertEquals(8192, opener.maxMessageLength());
            assertEquals(10, opener.capacity());
            assertEquals(ProcessIdentity.current(), opener.peer().orElseThrow());
            final byte[][] blobs = {new byte[0], "a".getBytes(), new byte[8192], "hello".getBytes(), new byte[0],
                new byte[100], new byte[1], "xyz".getBytes()};
            for (int i = 0; i < blobs.length; i++) {
                for (int j = 0; j < blobs[i].length; j++) {
                    blobs[i][j] = (byte) (i * 13 + j);
                }
            }
            for (final byte[] blob : blobs) {
                assertTrue(creator.offer(blob, 0, blob.length));
                assertTrue(opener.offer(MemorySegment.ofArray(blob)));
            }
            assertReceives(opener, blobs);
            assertReceives(creator, blobs);
            assertEquals(ProcessIdentity.current(), creator.peer().orElseThrow());
        }
    }

    private static void assertReceives(final BlobChannel channel, final byte[][] expected) {
        final List<byte[]> received = new ArrayList<>();
        while (received.size() < expected.length) {
            channel.poll((buffer, offset, length) -> received.add(buffer.asSlice(offset, length).toArray(JAVA_BYTE)),
                3, SECOND_NS);
        }
        for (int i = 0; i < expected.length; i++) {
            assertArrayEquals(expected[i], received.get(i), "blob " + i);
        }
        assertEquals(0, channel.poll((buffer, offset, length) -> received.add(null), 10));
    }

    @Test
    void shouldCarryEverySizeFromZeroToMaxMessageLength() {
        final ResourceName base = newBase("sizes");
        try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base, PosixMqOptions.defaults());
             PosixMqBlobChannel opener = PosixMqBlobChannel.open(base, PosixMqOptions.defaults());
             Arena arena = Arena.ofConfined()) {
            final int max = creator.maxMessageLength();
            final MemorySegment source = arena.allocate(max);
            final AtomicReference<String> wrong = new AtomicReference<>();
            for (int length = 0; length <= max; length++) {
                final int expected = length;
                Blobs.fill(source, 0, length, length);
                assertTrue(creator.offer(source, 0, length));
                assertEquals(1, opener.poll((buffer, offset, got) -> {
                    final String problem = Blobs.check(buffer, offset, got, expected, expected);
                    if (problem != null) {
                        wrong.compareAndSet(null, problem);
                    }
                }, 1, SECOND_NS));
            }
            assertNull(wrong.get());
        }
    }

    @Test
    void shouldRejectBlobLongerThanMaxMessageLengthNamingBoth() {
        final ResourceName base = newBase("toolong");
        try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base, PosixMqOptions.defaults())) {
            final byte[] blob = new byte[creator.maxMessageLength() + 1];
            final IllegalArgumentException offer = assertThrows(IllegalArgumentException.class,
                () -> creator.offer(blob, 0, blob.length));
            assertTrue(offer.getMessage().contains("length=8193") && offer.getMessage().contains("maxMessageLength=8192"),
                offer.getMessage());
            final IllegalArgumentException claim = assertThrows(IllegalArgumentException.class,
                () -> creator.tryClaim(8193));
            assertTrue(claim.getMessage().contains("maxMessageLength=8192"), claim.getMessage());
            assertThrows(IllegalArgumentException.class, () -> creator.offer(ByteBuffer.allocate(8193)));
            assertThrows(IllegalArgumentException.class, () -> creator.offer(blob, 10, blob.length - 10 + 1));
        }
    }

    @Test
    void shouldRefuseMoreMessagesThanTheKernelAllowsBeforeCreatingAnything() {
        final PosixMqLimits limits = PosixMqLimits.current();
        final long tooMany = limits.allowedMaxMessages() + 1;
        final ResourceName base = newBase("toomany");
        final IsthmusException e = assertThrows(IsthmusException.class, () -> PosixMqBlobChannel.create(base,
            PosixMqOptions.builder().maxMessages((int) tooMany).build()));
        assertTrue(e.getMessage().contains("maxMessages=" + tooMany), e.getMessage());
        if (!limits.capSysResource()) {
            assertTrue(e.getMessage().contains("msg_max=" + limits.msgMax()), e.getMessage());
            assertTrue(e.getMessage().contains("/proc/sys/fs/mqueue/msg_max"), e.getMessage());
            assertTrue(e.getMessage().contains("CAP_SYS_RESOURCE"), e.getMessage());
        }
        assertFalse(NoMessageQueueLeftovers.exists(PosixMqBlobChannel.upQueueName(base)));
    }

    @Test
    void shouldRefuseBiggerMessagesThanTheKernelAllowsBeforeCreatingAnything() {
        final PosixMqLimits limits = PosixMqLimits.current();
        final long tooBig = limits.allowedMessageSize() + 1;
        final ResourceName base = newBase("toobig");
        final IsthmusException e = assertThrows(IsthmusException.class, () -> PosixMqBlobChannel.create(base,
            PosixMqOptions.builder().maxMessageLengthBytes((int) tooBig).build()));
        assertTrue(e.getMessage().contains("messageSize=" + tooBig), e.getMessage());
        if (!limits.capSysResource()) {
            assertTrue(e.getMessage().contains("msgsize_max=" + limits.msgsizeMax()), e.getMessage());
            assertTrue(e.getMessage().contains("/proc/sys/fs/mqueue/msgsize_max"), e.getMessage());
            assertTrue(e.getMessage().contains("CAP_SYS_RESOURCE"), e.getMessage());
        }
        assertFalse(NoMessageQueueLeftovers.exists(PosixMqBlobChannel.upQueueName(base)));
    }

    @Test
    void shouldExplainRlimitMsgqueueWhenTheUsersQueueMemoryRunsOut() {
        final PosixMqLimits limits = PosixMqLimits.current();
        final long perChannel = 2 * PosixMqLimits.accountedBytes(10, 8192);
        assumeTrue(limits.rlimitMsgqueueBytes() / perChannel < 20,
            "RLIMIT_MSGQUEUE=" + limits.rlimitMsgqueueBytes() + " admits too many channels to exhaust it here");
        final List<PosixMqBlobChannel> channels = new ArrayList<>();
        try {
            IsthmusException refused = null;
            for (int i = 0; i < 21 && refused == null; i++) {
                try {
                    channels.add(PosixMqBlobChannel.create(newBase("rlimit"), PosixMqOptions.defaults()));
                } catch (final IsthmusException e) {
                    refused = e;
                }
            }
            assertTrue(refused != null, "RLIMIT_MSGQUEUE was never reached");
            assertTrue(channels.size() <= limits.rlimitMsgqueueBytes() / perChannel, channels.size() + " channels");
            assertTrue(refused.getMessage().contains("RLIMIT_MSGQUEUE=" + limits.rlimitMsgqueueBytes()),
                refused.getMessage());
            assertTrue(refused.getMessage().contains("ulimit -q"), refused.getMessage());
            assertTrue(refused.getMessage().contains(Long.toString(PosixMqLimits.accountedBytes(10, 8192))),
                refused.getMessage());
        } finally {
            channels.forEach(PosixMqBlobChannel::close);
        }
    }

    @Test
    void shouldBackPressureWhenTheQueueIsFullAndRecoverAfterDraining() {
        final ResourceName base = newBase("full");
        try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base, PosixMqOptions.defaults());
             PosixMqBlobChannel opener = PosixMqBlobChannel.open(base, PosixMqOptions.defaults())) {
            final byte[] blob = {1, 2, 3};
            int sent = 0;
            while (creator.offer(blob, 0, blob.length)) {
                sent++;
                assertTrue(sent <= 10, "more than the queue's capacity accepted");
            }
            assertEquals(creator.capacity(), sent);
            assertFalse(creator.offer(MemorySegment.ofArray(blob), 0, 3, TimeUnit.MILLISECONDS.toNanos(50)));
            assertEquals(BlobChannel.BACK_PRESSURED, creator.tryClaim(3));
            assertTrue(creator.isOpen());

            final AtomicInteger received = new AtomicInteger();
            assertEquals(4, opener.poll((buffer, offset, length) -> received.incrementAndGet(), 4));
            for (int i = 0; i < 4; i++) {
                assertTrue(creator.offer(blob, 0, blob.length));
            }
            assertFalse(creator.offer(blob, 0, blob.length));
            // A waiting offer succeeds as soon as the receiver makes room.
            final CompletableFuture<Integer> drain = CompletableFuture.supplyAsync(() -> {
                sleep(100);
                return opener.poll((buffer, offset, length) -> received.incrementAndGet(), 100);
            });
            assertTrue(creator.offer(MemorySegment.ofArray(blob), 0, 3, TimeUnit.SECONDS.toNanos(30)));
            // The drain takes the 10 queued blobs, and the waiting one too if it was queued in time.
            final int drained = drain.join();
            assertTrue(drained == 10 || drained == 11, "drained " + drained);
            opener.poll((buffer, offset, length) -> received.incrementAndGet(), 100);
            assertEquals(15, received.get());
        }
    }

    @Test
    void shouldStageAClaimAndSendItOnCommitOnly() {
        final ResourceName base = newBase("claim");
        try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base, PosixMqOptions.defaults());
             PosixMqBlobChannel opener = PosixMqBlobChannel.open(base, PosixMqOptions.defaults())) {
            final long claim = creator.tryClaim(16);
            assertTrue(claim >= 0);
            assertThrows(IllegalStateException.class, () -> creator.tryClaim(1));
            assertThrows(IllegalStateException.class, () -> creator.offer(new byte[1], 0, 1));
            creator.claimBuffer().set(JAVA_LONG_UNALIGNED, claim, 42L);
            creator.claimBuffer().set(JAVA_LONG_UNALIGNED, claim + 8, 7L);
            assertEquals(0, opener.poll((buffer, offset, length) -> { }, 1), "nothing before the commit");
            creator.commit(claim);
            assertThrows(IllegalStateException.class, () -> creator.commit(claim));
            assertThrows(IllegalStateException.class, creator::claimBuffer);

            final long aborted = creator.tryClaim(8);
            creator.claimBuffer().set(JAVA_LONG_UNALIGNED, aborted, -1L);
            creator.abort(aborted);
            final long empty = creator.tryClaim(0);
            creator.commit(empty);

            final List<long[]> received = new ArrayList<>();
            while (received.size() < 2) {
                opener.poll((buffer, offset, length) -> received.add(length == 16
                    ? new long[] {buffer.get(JAVA_LONG_UNALIGNED, offset), buffer.get(JAVA_LONG_UNALIGNED, offset + 8)}
                    : new long[length]), 10, SECOND_NS);
            }
            assertArrayEquals(new long[] {42, 7}, received.get(0));
            assertArrayEquals(new long[0], received.get(1), "the aborted claim is never sent; the empty one is");
            assertEquals(0, opener.poll((buffer, offset, length) -> received.add(null), 10));
        }
    }

    @Test
    @SuppressWarnings("try") // closing one end inside the try is what is tested
    void shouldDeliverCloseAfterEveryBlobSentBefore() {
        final ResourceName base = newBase("close");
        try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base, PosixMqOptions.defaults());
             PosixMqBlobChannel opener = PosixMqBlobChannel.open(base, PosixMqOptions.defaults())) {
            for (int i = 0; i < 5; i++) {
                assertTrue(opener.offer(new byte[] {(byte) i}, 0, 1));
            }
            opener.close();
            opener.close();
            assertFalse(opener.isOpen());
            assertThrows(ChannelClosedException.class, () -> opener.offer(new byte[1], 0, 1));
            assertThrows(ChannelClosedException.class, () -> opener.poll((buffer, offset, length) -> { }, 1));

            final List<Byte> received = new ArrayList<>();
            final ChannelClosedException closed = assertThrows(ChannelClosedException.class, () -> {
                while (true) {
                    creator.poll((buffer, offset, length) -> received.add(buffer.get(JAVA_BYTE, offset)), 2, SECOND_NS);
                }
            });
            assertEquals(List.of((byte) 0, (byte) 1, (byte) 2, (byte) 3, (byte) 4), received);
            assertTrue(closed.getMessage().contains("closed by its peer"), closed.getMessage());
            assertFalse(creator.isOpen());
            assertThrows(ChannelClosedException.class, () -> creator.offer(new byte[1], 0, 1));
        }
    }

    @Test
    @SuppressWarnings("try") // closing one end inside the try is what is tested
    void shouldSeeTheCloseAfterAllBlobsEvenWhenTheQueueWasFullAtClose() {
        final ResourceName base = newBase("fullclose");
        try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base, PosixMqOptions.defaults());
             PosixMqBlobChannel opener = PosixMqBlobChannel.open(base, PosixMqOptions.defaults())) {
            int sent = 0;
            while (creator.offer(new byte[] {(byte) sent}, 0, 1)) {
                sent++;
            }
            creator.close();
            final AtomicInteger received = new AtomicInteger();
            final long start = System.nanoTime();
            assertThrows(ChannelClosedException.class, () -> {
                while (true) {
                    opener.poll((buffer, offset, length) -> {
                        assertEquals(received.getAndIncrement(), buffer.get(JAVA_BYTE, offset));
                    }, 3, TimeUnit.SECONDS.toNanos(30));
                    assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(20), "the close was never seen");
                }
            });
            assertEquals(sent, received.get());
        }
    }

    @Test
    @SuppressWarnings("try") // closing one end inside the try is what is tested
    void shouldTellAWaitingSenderThatThePeerClosed() {
        final ResourceName base = newBase("sendclosed");
        try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base, PosixMqOptions.defaults());
             PosixMqBlobChannel opener = PosixMqBlobChannel.open(base, PosixMqOptions.defaults())) {
            while (opener.offer(new byte[1], 0, 1)) {
                // fill the queue the creator reads
            }
            creator.close();
            final long start = System.nanoTime();
            final ChannelClosedException e = assertThrows(ChannelClosedException.class,
                () -> opener.offer(MemorySegment.ofArray(new byte[1]), 0, 1, TimeUnit.SECONDS.toNanos(30)));
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(20), "the sender waited for the timeout");
            assertTrue(e.getMessage().contains("reads no more"), e.getMessage());
        }
    }

    @Test
    @SuppressWarnings("try") // closing one end inside the try is what is tested
    void shouldStopAWaitingPollWhenClosedFromAnotherThread() {
        final ResourceName base = newBase("closewait");
        try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base, PosixMqOptions.defaults());
             PosixMqBlobChannel opener = PosixMqBlobChannel.open(base, PosixMqOptions.defaults())) {
            final CompletableFuture<Integer> poll = CompletableFuture.supplyAsync(
                () -> opener.poll((buffer, offset, length) -> { }, 1, TimeUnit.SECONDS.toNanos(60)));
            sleep(200);
            opener.close();
            final Throwable failure = assertThrows(Exception.class, poll::join).getCause();
            assertTrue(failure instanceof ChannelClosedException, String.valueOf(failure));
            assertTrue(failure.getMessage().contains("this end"), failure.getMessage());
            assertThrows(ChannelClosedException.class, () -> creator.poll((buffer, offset, length) -> { }, 1, SECOND_NS));
        }
    }

    @Test
    @SuppressWarnings("try") // closing one end inside the try is what is tested
    void shouldCloseFromAHandlerAfterThePollReturns() {
        final ResourceName base = newBase("handlerclose");
        try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base, PosixMqOptions.defaults());
             PosixMqBlobChannel opener = PosixMqBlobChannel.open(base, PosixMqOptions.defaults())) {
            for (int i = 0; i < 3; i++) {
                assertTrue(creator.offer(new byte[] {(byte) i}, 0, 1));
            }
            final AtomicInteger handled = new AtomicInteger();
            assertEquals(1, opener.poll((buffer, offset, length) -> {
                handled.incrementAndGet();
                opener.close();
            }, 10));
            assertEquals(1, handled.get());
            assertFalse(opener.isOpen());
            assertThrows(ChannelClosedException.class, () -> opener.poll((buffer, offset, length) -> { }, 1));
            assertThrows(ChannelClosedException.class, () -> creator.poll((buffer, offset, length) -> { }, 1, SECOND_NS));
        }
    }

    @Test
    void shouldCarryBlobsBetweenASenderThreadAndAReceiverThread() throws Exception {
        final ResourceName base = newBase("threads");
        final int count = 50_000;
        try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base, PosixMqOptions.defaults());
             PosixMqBlobChannel opener = PosixMqBlobChannel.open(base, PosixMqOptions.defaults())) {
            final int max = creator.maxMessageLength();
            final Thread sender = Thread.ofPlatform().name("mq-sender").start(() -> {
                try (Arena arena = Arena.ofConfined()) {
                    final MemorySegment source = arena.allocate(max);
                    for (int seq = 0; seq < count; seq++) {
                        final int length = Blobs.lengthOf(seq, max) % 512;
                        Blobs.fill(source, 0, seq, length);
                        if (!creator.offer(source, 0, length, TimeUnit.SECONDS.toNanos(30))) {
                            throw new IllegalStateException("no room for " + seq);
                        }
                    }
                }
            });
            final AtomicLong next = new AtomicLong();
            final AtomicReference<String> wrong = new AtomicReference<>();
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (next.get() < count && System.nanoTime() < deadline) {
                opener.poll((buffer, offset, length) -> {
                    final long seq = next.getAndIncrement();
                    final String problem = Blobs.check(buffer, offset, length, seq, Blobs.lengthOf(seq, max) % 512);
                    if (problem != null) {
                        wrong.compareAndSet(null, problem);
                    }
                }, 64, SECOND_NS);
            }
            sender.join(30_000);
            assertNull(wrong.get());
            assertEquals(count, next.get());
        }
    }

    @Test
    void shouldNotAllocateOnTheHeapPerBlobInSteadyState() {
        final ResourceName base = newBase("alloc");
        try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base, PosixMqOptions.defaults());
             PosixMqBlobChannel opener = PosixMqBlobChannel.open(base, PosixMqOptions.defaults());
             Arena arena = Arena.ofConfined()) {
            final MemorySegment source = arena.allocate(256);
            final byte[] array = new byte[256];
            final ByteBuffer direct = ByteBuffer.allocateDirect(256);
            final long[] sum = {0};
            final BlobHandler handler = (buffer, offset, length) -> sum[0] += length + buffer.get(JAVA_BYTE, offset);
            final int[] next = {0};
            AllocationProbe.assertNoAllocationPerOperation(
                () -> exchange(creator, opener, source, array, direct, handler, next[0]++), 1, 20_000, "round trips");
            assertTrue(sum[0] > 0);
        }
    }

    @Test
    void shouldNotAllocatePerAttemptWhileBackPressuredOrIdle() {
        final ResourceName base = newBase("idlealloc");
        final PosixMqOptions options = PosixMqOptions.builder()
            .livenessCheckIntervalNs(TimeUnit.MILLISECONDS.toNanos(1)).build();
        try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base, options);
             PosixMqBlobChannel opener = PosixMqBlobChannel.open(base, options)) {
            final byte[] blob = new byte[8];
            while (creator.offer(blob, 0, blob.length)) {
                // fill the queue: from here on every offer is back-pressured
            }
            final BlobHandler none = (buffer, offset, length) -> { };
            final com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long attempts = 0;
            long allocated = 0;
            for (int round = 0; round < 3; round++) {
                attempts = 0;
                final long before = threads.getCurrentThreadAllocatedBytes();
                // 200 ms of failed offers and empty polls, each side checking liveness and the close mark every
                // millisecond. Those checks allocate nothing once compiled, but at one per millisecond they
                // stay interpreted here for a while, where calls into native code allocate a little.
                final long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200);
                while (System.nanoTime() < end) {
                    check(!creator.offer(blob, 0, blob.length));
                    check(creator.poll(none, 1) == 0);
                    attempts += 2;
                }
                allocated = threads.getCurrentThreadAllocatedBytes() - before;
            }
            // Any allocation per attempt would be at least 16 bytes each.
            assertTrue(allocated < attempts, allocated + " bytes allocated in " + attempts + " attempts");
            assertTrue(opener.isOpen() && creator.isOpen());
        }
    }

    private static void exchange(final PosixMqBlobChannel creator, final PosixMqBlobChannel opener,
                                 final MemorySegment source, final byte[] array, final ByteBuffer direct,
                                 final BlobHandler handler, final int i) {
        final int length = 1 + i % 255;
        switch (i % 3) {
            case 0 -> check(creator.offer(source, 0, length));
            case 1 -> check(creator.offer(array, 0, length));
            default -> check(creator.offer(direct));
        }
        check(opener.poll(handler, 1) == 1);
        final long claim = opener.tryClaim(length);
        opener.claimBuffer().set(JAVA_BYTE, claim, (byte) i);
        opener.commit(claim);
        check(creator.poll(handler, 1) == 1);
    }

    private static void check(final boolean condition) {
        if (!condition) {
            throw new AssertionError("a send or receive failed");
        }
    }

    @Test
    void shouldCreateTheQueuesWithExactlyThePermissionLevelsMode() throws Exception {
        for (final PermissionLevel level : PermissionLevel.values()) {
            final ResourceName base = newBase("mode");
            try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base,
                PosixMqOptions.builder().permissions(level).build())) {
                assertEquals(level.fileMode(), creator.queueMode(true), level + ": mode of the outgoing queue");
                assertEquals(level.fileMode(), creator.queueMode(false), level + ": mode of the incoming queue");
                if (Resources.isMqueueMounted(Resources.DEFAULT_MQUEUE_DIRECTORY)) {
                    final Path up = Resources.DEFAULT_MQUEUE_DIRECTORY.resolve(
                        PosixMqBlobChannel.upQueueName(base).substring(1));
                    assertEquals(level.symbolic(), PosixFilePermissions.toString(Files.getPosixFilePermissions(up)));
                }
            }
        }
    }

    @Test
    void shouldRemoveTheQueueNamesOnceTheOpenerHasAttached() {
        final ResourceName base = newBase("unlink");
        try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base, PosixMqOptions.defaults())) {
            assertTrue(NoMessageQueueLeftovers.exists(PosixMqBlobChannel.upQueueName(base)));
            assertTrue(NoMessageQueueLeftovers.exists(PosixMqBlobChannel.downQueueName(base)));
            try (PosixMqBlobChannel opener = PosixMqBlobChannel.open(base, PosixMqOptions.defaults())) {
                assertFalse(NoMessageQueueLeftovers.exists(PosixMqBlobChannel.upQueueName(base)));
                assertFalse(NoMessageQueueLeftovers.exists(PosixMqBlobChannel.downQueueName(base)));
                assertTrue(opener.offer(new byte[] {9}, 0, 1));
                assertEquals(1, creator.poll((buffer, offset, length) -> { }, 1, SECOND_NS));
                final NoSuchResourceException second = assertThrows(NoSuchResourceException.class,
                    () -> PosixMqBlobChannel.open(base, PosixMqOptions.defaults()));
                assertTrue(second.getMessage().contains(PosixMqBlobChannel.downQueueName(base)), second.getMessage());
            }
        }
    }

    @Test
    void shouldRemoveTheQueueNamesOnCloseWhenNobodyAttached() {
        final ResourceName base = newBase("nobody");
        final PosixMqBlobChannel creator = PosixMqBlobChannel.create(base, PosixMqOptions.defaults());
        assertTrue(creator.offer(new byte[] {1}, 0, 1));
        assertEquals(0, creator.poll((buffer, offset, length) -> { }, 1, TimeUnit.MILLISECONDS.toNanos(20)));
        creator.close();
        assertFalse(NoMessageQueueLeftovers.exists(PosixMqBlobChannel.upQueueName(base)));
        assertFalse(NoMessageQueueLeftovers.exists(PosixMqBlobChannel.downQueueName(base)));
        assertThrows(NoSuchResourceException.class, () -> PosixMqBlobChannel.open(base, PosixMqOptions.defaults()));
    }

    @Test
    void shouldRejectACreatorNameOfAnotherProcess() {
        final ResourceName foreign = new ResourceName(ResourceName.configuredPrefix(), "mqtest",
            ProcessHandle.current().pid() + 1, "mq", "x");
        final IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> PosixMqBlobChannel.create(foreign, PosixMqOptions.defaults()));
        assertTrue(e.getMessage().contains("base.pid="), e.getMessage());
    }

    @Test
    void shouldRaiseATinyMessageSizeToFitControlMessages() {
        final ResourceName base = newBase("tiny");
        try (PosixMqBlobChannel creator = PosixMqBlobChannel.create(base,
            PosixMqOptions.builder().maxMessageLengthBytes(1).maxMessages(3).build());
             PosixMqBlobChannel opener = PosixMqBlobChannel.open(base, PosixMqOptions.defaults())) {
            assertEquals(PosixMqDescriptor.CONTROL_LENGTH, opener.maxMessageLength());
            assertEquals(3, opener.capacity());
            assertTrue(creator.offer(new byte[PosixMqDescriptor.CONTROL_LENGTH], 0, PosixMqDescriptor.CONTROL_LENGTH));
            assertEquals(1, opener.poll((buffer, offset, length) -> assertEquals(PosixMqDescriptor.CONTROL_LENGTH, length),
                1, SECOND_NS));
        }
    }

    private static void sleep(final long millis) {
        try {
            Thread.sleep(millis);
        } catch (final InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
