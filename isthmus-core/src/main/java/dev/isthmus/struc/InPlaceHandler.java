/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

/**
 * Handles messages of one type read in place, within the call: registered with
 * {@link StructuredChannel#onMessageInPlace(int, InPlaceHandler)}. Nothing of the message outlives the call,
 * so the channel and its codec recycle what they made for it, and a request answered within the call costs
 * no allocation of theirs.
 *
 * {@snippet :
 * channel.onMessageInPlace(Body.Which.GET_CACHE_REQ, (request, replier) -> replier.reply(lookUp(request)));
 * }
 *
 * <p>The root reader, and every reader taken from it, is valid only during the call: the memory it reads
 * goes back to the sender (or is reused for the next message) when the call returns. The replier is valid
 * only during the call too: answering after it returns throws {@link IllegalStateException}. A handler that
 * must answer later, or keep the message, is a {@link MessageHandler}.
 *
 * @param <R> the root reader type
 * @param <B> the root builder type
 */
@FunctionalInterface
public interface InPlaceHandler<R, B> {
    /**
     * Handles one message. An exception fails a request with a {@link RemoteFailureException} on the
     * requester's side, and is reported to the channel's error handler; the channel goes on.
     *
     * @param root    the message's root, valid during this call only
     * @param replier answers it, if it is a request; valid during this call only
     * @throws Exception anything
     */
    void onMessage(R root, Replier<B> replier) throws Exception;
}
