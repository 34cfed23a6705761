/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.struc;

/**
 * Handles messages of one type: notifications, and requests (which it answers through the replier).
 *
 * @param <R> the root reader type
 * @param <B> the root builder type
 */
@FunctionalInterface
public interface MessageHandler<R, B> {
    /**
     * Handles one message. The message is closed when this returns, unless {@link Received#retain()} was
     * called. An exception fails a request with a {@link RemoteFailureException} on the requester's side,
     * and is reported to the channel's error handler; the channel goes on.
     *
     * @param message the message
     * @param replier answers it, if it is a request
     * @throws Exception anything
     */
    void onMessage(Received<R> message, Replier<B> replier) throws Exception;
}
