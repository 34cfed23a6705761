/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.arena.ArenaView;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.struc.StructuredChannel;
import dev.isthmus.struc.StructuredChannelOptions;
import dev.isthmus.transport.BlobChannel;
import org.capnproto.StructFactory;
import org.capnproto.StructReader;

/**
 * Opens Cap'n Proto structured channels in one call.
 *
 * {@snippet :
 * StructuredChannel<Body.Reader, Body.Builder> ch = CapnpChannels.open(blobChannel, Body.factory,
 *     Backing.SESSION_SHM, myArena, viewOfPeersArena, StructuredChannelOptions.defaults());
 * Outgoing<Body.Builder> req = ch.newMessage();
 * req.root().initGetCacheReq().setFileName("huge-file.bin");
 * try (Received<Body.Reader> rsp = ch.request(req, Duration.ofSeconds(5))) {
 *     var parts = rsp.root().getGetCacheRsp().getFileParts();     // read in place, in shared memory
 * }
 * }
 *
 * <p>Thread safety: thread-safe (no state).
 */
public final class CapnpChannels {
    private CapnpChannels() {
    }

    /**
     * Opens a structured channel of Cap'n Proto messages over a blob channel, which it then owns.
     *
     * @param channel   the blob channel
     * @param factory   the root struct's generated factory, e.g. {@code Body.factory}
     * @param backing   where messages live
     * @param arena     this process's arena; required by {@link Backing#SESSION_SHM}, ignored (may be
     *                  {@code null}) for {@link Backing#HEAP}; the caller keeps owning it
     * @param peerArena the view of the peer's arena; likewise
     * @param options   driving, session token, limits
     * @param <R>       the root reader type
     * @param <B>       the root builder type
     * @return the channel; {@link StructuredChannel#codec()} is a {@link CapnpCodec}, whose
     *         {@link CapnpCodec#newMessage()} gives messages that can be {@linkplain CapnpOutgoing#seal() sealed}
     * @throws IllegalArgumentException if the root struct has no anonymous union
     */
    public static <R extends StructReader, B> StructuredChannel<R, B> open(final BlobChannel channel,
                                                                           final StructFactory<B, R> factory,
                                                                           final Backing backing, final ShmArena arena,
                                                                           final ArenaView peerArena,
                                                                           final StructuredChannelOptions options) {
        return StructuredChannel.open(channel, CapnpCodec.create(factory, backing, arena, peerArena), options);
    }

    /**
     * Opens a structured channel of Cap'n Proto messages on the heap ({@link Backing#HEAP}).
     *
     * @param channel the blob channel, which the structured channel then owns
     * @param factory the root struct's generated factory
     * @param options driving, session token, limits
     * @param <R>     the root reader type
     * @param <B>     the root builder type
     * @return the channel
     * @throws IllegalArgumentException if the root struct has no anonymous union
     */
    public static <R extends StructReader, B> StructuredChannel<R, B> open(final BlobChannel channel,
                                                                           final StructFactory<B, R> factory,
                                                                           final StructuredChannelOptions options) {
        return StructuredChannel.open(channel, CapnpCodec.heap(factory), options);
    }
}
