/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

/**
 * Answers one request: with one response, a stream of them, or an error.
 *
 * <p>A replier may be kept and used after the handler returns, from any thread.
 *
 * @param <B> the root builder type
 */
public interface Replier<B> {
    /**
     * Sends the final (or only) response. The message may be sent again elsewhere, or closed.
     *
     * @param response the response
     * @throws IllegalStateException if the request was answered already (or another thread is sending its
     *                               answer), or was a notification
     * @throws dev.isthmus.IsthmusTimeoutException if the channel had no room for it within
     *                                             {@link StructuredChannelOptions#sendTimeout()} (the requester is
     *                                             not reading). If that was the first fragment, nothing was sent and
     *                                             the request is still unanswered, for another try or a
     *                                             {@link #fail}; if a later fragment of a large response, the channel
     *                                             has failed and further tries throw {@link
     *                                             dev.isthmus.ChannelClosedException}
     */
    void reply(Outgoing<B> response);

    /**
     * Sends one response of a stream; more follow, and {@link #reply} sends the last.
     *
     * @param response a response
     */
    void replyMore(Outgoing<B> response);

    /**
     * Fails the request: the requester's call fails with a {@link RemoteFailureException} carrying the text.
     *
     * @param message what went wrong
     * @throws IllegalStateException if the request was answered already (or another thread is sending its
     *                               answer), or was a notification
     * @throws dev.isthmus.IsthmusTimeoutException if the channel had no room for it within the send timeout: the
     *                                             request is still unanswered
     */
    void fail(String message);

    /**
     * {@return whether the message being answered expects a response}
     */
    boolean expectsResponse();
}
