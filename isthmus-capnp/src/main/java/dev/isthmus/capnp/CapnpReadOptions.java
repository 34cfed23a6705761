/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

/**
 * How a {@link CapnpCodec} reads what a peer sent. Immutable; start from {@link #defaults()} or
 * {@link #forPayloadsUpTo(long)}.
 *
 * <p><b>Traversal limit.</b> Cap'n Proto charges every struct, list, text and data a reader follows to a
 * budget of words, per received message; once it is spent, accessors throw Cap'n Proto's
 * {@link org.capnproto.DecodeException}. The budget is the same for every message the codec receives,
 * whatever the message says of its own size: a sender cannot raise it by declaring large segments, or by
 * naming the same memory twice. A message whose pointers share targets (the classic amplification attack)
 * therefore costs its reader at most this many words of work, however it is built. A reader that reads a
 * whole message once spends about the message's size; reading parts again spends more.
 *
 * <p><b>Copy on receive.</b> With {@link Backing#SESSION_SHM} the receiver reads the sender's memory in
 * place, and the sender can still write it: a sender that changes the message after the codec checked it
 * (its union tag, a pointer, a length) changes what the handler reads, within the bounds of the segments.
 * {@link #copyOnReceive()} copies the segments into this process's memory before anything is read, and
 * gives the blocks back at once: for peers not trusted to leave a message alone while it is read. It costs
 * one copy of the message and refuses messages larger than the traversal limit, which could not be read in
 * full anyway, so that the copy is bounded by the receiver's own setting, not by the sender's. It has no
 * effect on {@link Backing#HEAP}, whose payload is always this process's memory.
 *
 * @param traversalLimitWords the words a reader may traverse in one received message, at least 1
 * @param nestingLimit        how deep pointers may nest, at least 1
 * @param copyOnReceive       whether {@link Backing#SESSION_SHM} messages are copied into this process's
 *                            memory before they are read
 */
public record CapnpReadOptions(long traversalLimitWords, int nestingLimit, boolean copyOnReceive) {
    /**
     * The default traversal limit, in words: Cap'n Proto's own default, 8 Mi words (64 MiB).
     */
    public static final long DEFAULT_TRAVERSAL_LIMIT_WORDS = 8L << 20;
    /** The default nesting limit: Cap'n Proto's own default. */
    public static final int DEFAULT_NESTING_LIMIT = 64;
    /**
     * The largest traversal limit, in words: 2<sup>31</sup> words (16 GiB), four times the largest payload a
     * structured channel accepts by default.
     */
    public static final long MAX_TRAVERSAL_LIMIT_WORDS = 1L << 31;

    private static final CapnpReadOptions DEFAULTS =
        new CapnpReadOptions(DEFAULT_TRAVERSAL_LIMIT_WORDS, DEFAULT_NESTING_LIMIT, false);

    /**
     * Validates the options.
     *
     * @throws IllegalArgumentException if {@code traversalLimitWords} is outside
     *                                  [1, {@value #MAX_TRAVERSAL_LIMIT_WORDS}] or {@code nestingLimit} is
     *                                  less than 1
     */
    public CapnpReadOptions {
        if (traversalLimitWords < 1 || traversalLimitWords > MAX_TRAVERSAL_LIMIT_WORDS) {
            throw new IllegalArgumentException("traversalLimitWords=" + traversalLimitWords + " is outside [1, "
                + MAX_TRAVERSAL_LIMIT_WORDS + "]");
        }
        if (nestingLimit < 1) {
            throw new IllegalArgumentException("nestingLimit=" + nestingLimit + " must be >= 1");
        }
    }

    /**
     * {@return the defaults: a traversal limit of {@value #DEFAULT_TRAVERSAL_LIMIT_WORDS} words, a nesting
     * limit of {@value #DEFAULT_NESTING_LIMIT}, no copy on receive}
     */
    public static CapnpReadOptions defaults() {
        return DEFAULTS;
    }

    /**
     * {@return the defaults, with a traversal limit that lets a reader read once, in full, the largest
     * message a channel accepts}: {@code maxPayloadBytes} in words, at least
     * {@value #DEFAULT_TRAVERSAL_LIMIT_WORDS} and at most {@value #MAX_TRAVERSAL_LIMIT_WORDS}. What
     * {@link CapnpChannels} uses unless told otherwise, with the channel's
     * {@link dev.isthmus.struc.StructuredChannelOptions#maxPayloadBytes()}.
     *
     * @param maxPayloadBytes the largest message the receiver means to accept, at least 1
     * @throws IllegalArgumentException if {@code maxPayloadBytes} is less than 1
     */
    public static CapnpReadOptions forPayloadsUpTo(final long maxPayloadBytes) {
        if (maxPayloadBytes < 1) {
            throw new IllegalArgumentException("maxPayloadBytes=" + maxPayloadBytes + " must be >= 1");
        }
        final long words = maxPayloadBytes / CapnpDescriptor.BYTES_PER_WORD + 1;
        return DEFAULTS.withTraversalLimitWords(
            Math.min(MAX_TRAVERSAL_LIMIT_WORDS, Math.max(DEFAULT_TRAVERSAL_LIMIT_WORDS, words)));
    }

    /**
     * {@return these options with another traversal limit}
     *
     * @param words the words a reader may traverse in one message, in [1, {@value #MAX_TRAVERSAL_LIMIT_WORDS}]
     * @throws IllegalArgumentException if {@code words} is outside that range
     */
    public CapnpReadOptions withTraversalLimitWords(final long words) {
        return new CapnpReadOptions(words, nestingLimit, copyOnReceive);
    }

    /**
     * {@return these options with another nesting limit}
     *
     * @param limit how deep pointers may nest, at least 1
     * @throws IllegalArgumentException if {@code limit} is less than 1
     */
    public CapnpReadOptions withNestingLimit(final int limit) {
        return new CapnpReadOptions(traversalLimitWords, limit, copyOnReceive);
    }

    /**
     * {@return these options with copy on receive on or off}
     *
     * @param copy whether {@link Backing#SESSION_SHM} messages are copied before they are read
     */
    public CapnpReadOptions withCopyOnReceive(final boolean copy) {
        return new CapnpReadOptions(traversalLimitWords, nestingLimit, copy);
    }
}
