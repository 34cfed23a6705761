/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.examples.guide;

import dev.isthmus.capnp.Backing;
import dev.isthmus.capnp.CapnpChannels;
import dev.isthmus.capnp.CapnpCodec;
import dev.isthmus.capnp.CapnpOutgoing;
import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.capnp.demo.CacheDemo.GetCacheRsp;
import dev.isthmus.session.Session;
import dev.isthmus.session.SessionOptions;
import dev.isthmus.struc.Outgoing;
import dev.isthmus.struc.Received;
import dev.isthmus.struc.StructuredChannel;
import dev.isthmus.struc.StructuredChannelOptions;
import org.capnproto.StructList;

import java.nio.ByteBuffer;
import java.time.Duration;

/**
 * The guide's zero-copy cache, on the Cap'n Proto schema shipped with {@code isthmus-capnp}: the server builds
 * a file's response once in its session arena and lends it to every request; the client reads it in place.
 */
public final class ZeroCopyCache {
    // guide:capnp-options:begin
    static final SessionOptions ZERO_COPY = SessionOptions.zeroCopy().initChannels(1);
    // guide:capnp-options:end

    private ZeroCopyCache() {
    }

    /**
     * Serves one file on a session's first channel until the channel is closed.
     *
     * @param session  a session opened with {@link #ZERO_COPY}
     * @param fileName the file's name
     * @param content  the file's content
     * @return the structured channel and the pre-built response, for the caller to close, in that order
     */
    public static AutoCloseable serve(final Session session, final String fileName, final byte[] content) {
        // guide:capnp-server:begin
        CapnpCodec<Body.Reader, Body.Builder> codec =
            CapnpCodec.sessionShm(Body.factory, session.arena(), session.peerArena());
        StructuredChannel<Body.Reader, Body.Builder> cache = StructuredChannel.open(
            session.initChannels().getFirst().blobs(), codec,
            StructuredChannelOptions.builder().name("cache-server").token(session.token()).build());

        // Built once in this side's arena, as one segment, and sealed: every request is answered with the
        // same blocks, lent to the client; nothing is copied or serialized per request.
        CapnpOutgoing<Body.Builder> file = codec.newMessage(content.length);
        GetCacheRsp.FilePart.Builder part = file.root().initGetCacheRsp().initFileParts(1).get(0);
        part.initData(content.length).asByteBuffer().put(content);
        part.setDataSizeToVerify(content.length);
        file.seal();

        // Answered within the call, the request read in place: nothing is allocated per request for it.
        cache.onMessageInPlace(Body.Which.GET_CACHE_REQ, CapnpChannels.guardedInPlace((request, replier) -> {
            String name = request.getGetCacheReq().getFileName().toString();
            if (name.equals(fileName)) {
                replier.reply(file);
            } else {
                replier.fail("no file named " + name);
            }
        }));
        // guide:capnp-server:end
        return () -> {
            cache.close();
            file.close();
        };
    }

    /**
     * Asks the server of a session's first channel for a file.
     *
     * @param session  a session opened with {@link #ZERO_COPY}
     * @param fileName the file's name
     * @return the file's content, copied out of the server's arena
     */
    public static byte[] fetch(final Session session, final String fileName) {
        // guide:capnp-client:begin
        try (StructuredChannel<Body.Reader, Body.Builder> cache = CapnpChannels.open(
                 session.initChannels().getFirst().blobs(), Body.factory, Backing.SESSION_SHM,
                 session.arena(), session.peerArena(),
                 StructuredChannelOptions.builder().name("cache-client").token(session.token()).build());
             Outgoing<Body.Builder> request = cache.newMessage()) {
            request.root().initGetCacheReq().setFileName(fileName);   // small: travels inline, no arena block
            try (Received<Body.Reader> response = cache.request(request, Duration.ofSeconds(5))) {
                StructList.Reader<GetCacheRsp.FilePart.Reader> parts = response.root().getGetCacheRsp().getFileParts();
                ByteBuffer data = parts.get(0).getData().asByteBuffer();   // the server's memory, read in place
                byte[] copy = new byte[data.remaining()];
                data.get(copy);
                return copy;
            }                                                  // closing the response returns the blocks
        }
        // guide:capnp-client:end
    }

    /**
     * Asks for a file over an open channel and reads only its size, in place.
     *
     * @param cache    a zero-copy structured channel to the server of {@link #serve}
     * @param fileName the file's name
     * @return the size the server's response gives
     */
    public static long sizeOf(final StructuredChannel<Body.Reader, Body.Builder> cache, final String fileName) {
        // guide:capnp-in-place:begin
        try (Outgoing<Body.Builder> request = cache.newMessage()) {
            request.root().initGetCacheReq().setFileName(fileName);
            // Read within the call and closed when it returns: the channel and the codec recycle what they
            // made for it, and allocate nothing for the round trip.
            return cache.request(request, Duration.ofSeconds(5),
                response -> response.getGetCacheRsp().getFileParts().get(0).getDataSizeToVerify());
        }
        // guide:capnp-in-place:end
    }
}
