/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

import java.time.Duration;

/**
 * How the contract suite makes channels of one transport: pairs in this JVM, and an acceptor here with
 * the peer in a child JVM. Each implementation registers itself in {@link TransportFixtures#byId}, so
 * that the child ({@link BlobPeerMain}) can connect by the fixture's id and the acceptor's address.
 */
public interface TransportFixture {
    /**
     * {@return the id the child uses to find this fixture, e.g. {@code "shm"}}
     */
    String id();

    /**
     * Creates two connected ends in this JVM.
     *
     * @param small whether to use the smallest buffers the transport allows, with no growth, so that
     *              tests reach wrap-around and back-pressure quickly
     * @return the two ends
     */
    ChannelPair pair(boolean small);

    /**
     * Starts the end that waits for a peer in another process.
     *
     * @param small as for {@link #pair(boolean)}
     * @return the waiting end
     */
    Acceptor acceptor(boolean small);

    /**
     * Connects to an acceptor's address; called in the child JVM.
     *
     * @param address what {@link Acceptor#address()} returned
     * @param small   as for {@link #pair(boolean)}
     * @return the connected end
     */
    BlobChannel connect(String address, boolean small);

    /** The end that waits for a peer. */
    interface Acceptor extends AutoCloseable {
        /**
         * {@return a string the child passes to {@link #connect}}
         */
        String address();

        /**
         * {@return the channel to the peer, once the peer has connected (or may connect)}
         *
         * @param timeout the longest wait
         */
        BlobChannel accept(Duration timeout);

        /** Releases whatever the acceptor holds that the accepted channel does not. */
        @Override
        void close();
    }

    /**
     * Two connected ends.
     *
     * @param a one end
     * @param b the other end
     */
    record ChannelPair(BlobChannel a, BlobChannel b) implements AutoCloseable {
        @Override
        public void close() {
            try {
                a.close();
            } finally {
                b.close();
            }
        }
    }
}
