/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.CorruptDataException;
import dev.isthmus.arena.ArenaView;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.struc.InPlaceHandler;
import dev.isthmus.struc.MessageHandler;
import dev.isthmus.struc.StructuredChannel;
import dev.isthmus.struc.StructuredChannelOptions;
import dev.isthmus.transport.BlobChannel;
import org.capnproto.DecodeException;
import org.capnproto.StructFactory;
import org.capnproto.StructReader;

import java.util.Objects;

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
 * <p>Unless given {@link CapnpReadOptions}, a channel reads with
 * {@link CapnpReadOptions#forPayloadsUpTo CapnpReadOptions.forPayloadsUpTo}{@code (options.maxPayloadBytes())}:
 * a traversal limit of one full read of the largest payload the channel accepts (512 Mi words with the
 * default 4 GiB), the same for every message, whatever the sender declares.
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
        return open(channel, factory, backing, arena, peerArena,
            CapnpReadOptions.forPayloadsUpTo(options.maxPayloadBytes()), options);
    }

    /**
     * Opens a structured channel of Cap'n Proto messages over a blob channel, which it then owns, reading
     * what the peer sends as {@code readOptions} say (a traversal limit of one's own, copy on receive).
     *
     * @param channel     the blob channel
     * @param factory     the root struct's generated factory, e.g. {@code Body.factory}
     * @param backing     where messages live
     * @param arena       this process's arena; required by {@link Backing#SESSION_SHM}, ignored (may be
     *                    {@code null}) for {@link Backing#HEAP}; the caller keeps owning it
     * @param peerArena   the view of the peer's arena; likewise
     * @param readOptions traversal and nesting limits, copy on receive
     * @param options     driving, session token, limits
     * @param <R>         the root reader type
     * @param <B>         the root builder type
     * @return the channel
     * @throws IllegalArgumentException if the root struct has no anonymous union
     */
    public static <R extends StructReader, B> StructuredChannel<R, B> open(final BlobChannel channel,
                                                                           final StructFactory<B, R> factory,
                                                                           final Backing backing, final ShmArena arena,
                                                                           final ArenaView peerArena,
                                                                           final CapnpReadOptions readOptions,
                                                                           final StructuredChannelOptions options) {
        return StructuredChannel.open(channel, CapnpCodec.create(factory, backing, arena, peerArena, readOptions),
            options);
    }

    /**
     * {@return a handler that runs {@code handler} and reports what capnp-java throws on a malformed message
     * as a {@link CorruptDataException}}
     *
     * <p>Cap'n Proto readers check lazily: on hostile data an accessor throws
     * {@link org.capnproto.DecodeException}, {@link IndexOutOfBoundsException} or
     * {@link IllegalArgumentException} (see {@link CapnpCodec}). This wrapper rethrows those of them that
     * were thrown by capnp-java's own code (the first frame of their stack outside the JDK is in
     * {@code org.capnproto}) as a {@code CorruptDataException} naming the message, with the original as its
     * cause, so that the channel's error handler, and a requester through its
     * {@link dev.isthmus.struc.RemoteFailureException}, are told the peer's message was corrupt rather than
     * that the handler has a bug. Anything else the handler throws passes unchanged.
     *
     * {@snippet :
     * channel.onMessage(Body.Which.GET_CACHE_REQ, CapnpChannels.guarded((request, replier) -> {
     *     String name = request.root().getGetCacheReq().getFileName().toString();
     *     // ...
     * }));
     * }
     *
     * @param handler the handler
     * @param <R>     the root reader type
     * @param <B>     the root builder type
     */
    public static <R, B> MessageHandler<R, B> guarded(final MessageHandler<R, B> handler) {
        Objects.requireNonNull(handler, "handler");
        return (message, replier) -> {
            try {
                handler.onMessage(message, replier);
            } catch (final DecodeException | IndexOutOfBoundsException | IllegalArgumentException e) {
                if (!thrownByCapnp(e)) {
                    throw e;
                }
                final CorruptDataException corrupt = new CorruptDataException("Cap'n Proto message " + message.id()
                    + " (type " + message.type() + ") cannot be read: " + e);
                corrupt.initCause(e);
                throw corrupt;
            }
        };
    }

    /**
     * {@return {@link #guarded(MessageHandler)} for a handler that reads its messages in place}: what capnp-java
     * throws on a malformed message becomes a {@link CorruptDataException}, anything else passes unchanged.
     *
     * {@snippet :
     * channel.onMessageInPlace(Body.Which.GET_CACHE_REQ, CapnpChannels.guardedInPlace((request, replier) -> {
     *     String name = request.getGetCacheReq().getFileName().toString();
     *     // ...
     * }));
     * }
     *
     * @param handler the handler
     * @param <R>     the root reader type
     * @param <B>     the root builder type
     */
    public static <R, B> InPlaceHandler<R, B> guardedInPlace(final InPlaceHandler<R, B> handler) {
        Objects.requireNonNull(handler, "handler");
        return (root, replier) -> {
            try {
                handler.onMessage(root, replier);
            } catch (final DecodeException | IndexOutOfBoundsException | IllegalArgumentException e) {
                if (!thrownByCapnp(e)) {
                    throw e;
                }
                final CorruptDataException corrupt = new CorruptDataException("a Cap'n Proto message read in place"
                    + " cannot be read: " + e);
                corrupt.initCause(e);
                throw corrupt;
            }
        };
    }

    /** Whether the first frame of {@code e}'s stack outside the JDK is capnp-java's. */
    static boolean thrownByCapnp(final Throwable e) {
        for (final StackTraceElement frame : e.getStackTrace()) {
            final String name = frame.getClassName();
            if (name.startsWith("java.") || name.startsWith("jdk.") || name.startsWith("sun.")) {
                continue;
            }
            return name.startsWith("org.capnproto.");
        }
        return false;
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
