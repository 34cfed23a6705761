/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

/**
 * The contract with batched publication: everything flushed, refused for back-pressure or closed arrives.
 */
class ShmBatchedBlobChannelContractTest extends BlobChannelContractTest {
    @Override
    protected TransportFixture fixture() {
        return new ShmFixture(true);
    }
}
