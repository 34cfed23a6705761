/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.CorruptDataException;
import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.data.DataRef;
import dev.isthmus.data.LongField;
import dev.isthmus.data.SharedArray;
import dev.isthmus.data.SharedData;
import dev.isthmus.data.SharedStruct;
import dev.isthmus.data.StructType;
import dev.isthmus.data.RefField;
import dev.isthmus.struc.Received;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.time.Duration;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A Cap'n Proto message carrying a reference to a shared record, in a {@code Data} field: the record is lent
 * with the message and borrowed in place by the receiver.
 */
class SharedDataInMessageTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final StructType BOOK = StructType.of("Book", MemoryLayout.structLayout(
        JAVA_LONG.withName("instrument"), RefField.LAYOUT.withName("levels")));
    private static final LongField INSTRUMENT = BOOK.longField("instrument");
    private static final RefField LEVELS = BOOK.refField("levels");

    @Test
    void shouldCarryASharedRecordInAMessageAndBorrowItOnTheOtherSide() {
        try (Endpoints endpoints = Endpoints.open(Backing.SESSION_SHM)) {
            final SharedData server = SharedData.of(endpoints.arenaB, endpoints.viewOfA);
            final SharedData client = SharedData.of(endpoints.arenaA, endpoints.viewOfB);
            final SharedStruct book = server.allocate(BOOK);
            final SharedArray levels = server.allocateArray(JAVA_LONG, 10_000);
            for (int i = 0; i < levels.length(); i++) {
                levels.setLong(i, 7L * i);
            }
            INSTRUMENT.set(book.segment(), 77);
            book.set(LEVELS, levels);
            endpoints.b.onMessage(Body.Which.GET_CACHE_REQ, (request, replier) -> {
                try (CapnpOutgoing<Body.Builder> response = endpoints.codecB().newMessage()) {
                    final DataRef ref = server.lend(book);
                    response.root().initGetCacheRsp().initFileParts(1).get(0).setData(ref.toBytes());
                    replier.reply(response);
                }
            });
            for (int round = 0; round < 3; round++) {
                try (CapnpOutgoing<Body.Builder> request = endpoints.codecA().newMessage()) {
                    CacheMessages.request(request.root(), "book");
                    try (Received<Body.Reader> response = endpoints.a.request(request, TIMEOUT)) {
                        final ByteBuffer bytes = response.root().getGetCacheRsp().getFileParts().get(0).getData()
                            .asByteBuffer();
                        final DataRef ref = DataRef.readFrom(MemorySegment.ofBuffer(bytes), 0);
                        assertThrows(CorruptDataException.class, () -> client.borrowArray(ref, JAVA_LONG),
                            "the reference is to a Book");
                        try (SharedStruct borrowed = client.borrowStruct(ref, BOOK)) {
                            assertEquals(77, INSTRUMENT.get(borrowed.segment()));
                            final SharedArray read = borrowed.followArray(LEVELS, JAVA_LONG);
                            long sum = 0;
                            for (int i = 0; i < read.length(); i++) {
                                sum += read.getLong(i);
                            }
                            assertEquals(7L * 9_999 * 10_000 / 2, sum);
                            assertTrue(borrowed.isReadOnly());
                        }
                    }
                }
            }
            book.close();
            levels.close();
            Endpoints.awaitAllocatedBytes(endpoints.arenaB, 0);
        }
    }
}
