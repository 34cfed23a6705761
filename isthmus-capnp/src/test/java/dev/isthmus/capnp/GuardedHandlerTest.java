/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.CorruptDataException;
import dev.isthmus.capnp.test.TestMessages.Envelope;
import dev.isthmus.struc.MessageHandler;
import dev.isthmus.struc.Received;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link CapnpChannels#guarded}: what capnp-java's accessors throw on a hostile message reaches the error
 * handler as a {@link CorruptDataException}; the handler's own exceptions pass unchanged.
 */
class GuardedHandlerTest {
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int TEXT = Envelope.Which.TEXT.ordinal();

    /**
     * A stream-framed message whose root and union tag are fine (decode accepts it) but whose text pointer
     * points 2^20 words past its 3-word segment.
     */
    private static MemorySegment textPointingOutside() {
        final MemorySegment payload = MemorySegment.ofArray(new byte[8 + 3 * 8]);
        payload.set(INT_LE, 0, 0);          // one segment
        payload.set(INT_LE, 4, 3);          // of 3 words
        payload.set(LONG_LE, 8, 1L << 32 | 1L << 48);                                  // root: 1 data word, 1 pointer
        payload.set(LONG_LE, 16, TEXT);                                                // union tag: text
        payload.set(LONG_LE, 24, (1L << 20) << 2 | 1 | 2L << 32 | 10L << 35);          // list of 10 bytes, far away
        return payload;
    }

    @Test
    void shouldReportWhatCapnpThrowsOnAHostileMessageAsCorruptData() throws Exception {
        final CapnpCodec<Envelope.Reader, Envelope.Builder> codec = CapnpCodec.heap(Envelope.factory);
        try (Received<Envelope.Reader> received = codec.decode(textPointingOutside(), TEXT, 5, false)) {
            assertThrows(IndexOutOfBoundsException.class, () -> received.root().getText(), "capnp-java's own exception");
            final MessageHandler<Envelope.Reader, Envelope.Builder> guarded =
                CapnpChannels.guarded((message, replier) -> message.root().getText());
            final CorruptDataException e = assertThrows(CorruptDataException.class, () -> guarded.onMessage(received, null));
            assertTrue(e.getMessage().contains("message 5"), e.getMessage());
            assertInstanceOf(IndexOutOfBoundsException.class, e.getCause());
        }
    }

    @Test
    void shouldPassTheHandlersOwnExceptionsUnchanged() {
        final CapnpCodec<Envelope.Reader, Envelope.Builder> codec = CapnpCodec.heap(Envelope.factory);
        final IllegalArgumentException own = new IllegalArgumentException("the handler's own check");
        try (Received<Envelope.Reader> received = codec.decode(textPointingOutside(), TEXT, 6, false)) {
            final MessageHandler<Envelope.Reader, Envelope.Builder> guarded =
                CapnpChannels.guarded((message, replier) -> {
                    throw own;
                });
            assertSame(own, assertThrows(IllegalArgumentException.class, () -> guarded.onMessage(received, null)));
            assertEquals(TEXT, received.type());
        }
    }

    @Test
    void shouldReportWhatCapnpThrowsOnAHostileMessageReadInPlaceAsCorruptDataAndPassTheRest() throws Exception {
        final CapnpCodec<Envelope.Reader, Envelope.Builder> codec = CapnpCodec.heap(Envelope.factory);
        try (Received<Envelope.Reader> received = codec.decode(textPointingOutside(), TEXT, 7, false)) {
            final dev.isthmus.struc.InPlaceHandler<Envelope.Reader, Envelope.Builder> guarded =
                CapnpChannels.guardedInPlace((root, replier) -> root.getText());
            final CorruptDataException e = assertThrows(CorruptDataException.class,
                () -> guarded.onMessage(received.root(), null));
            assertTrue(e.getMessage().contains("read in place"), e.getMessage());
            assertInstanceOf(IndexOutOfBoundsException.class, e.getCause());
            final IllegalArgumentException own = new IllegalArgumentException("the handler's own check");
            final dev.isthmus.struc.InPlaceHandler<Envelope.Reader, Envelope.Builder> throwing =
                CapnpChannels.guardedInPlace((root, replier) -> {
                    throw own;
                });
            assertSame(own, assertThrows(IllegalArgumentException.class, () -> throwing.onMessage(received.root(), null)));
        }
    }
}
