/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

class ShmBlobChannelContractTest extends BlobChannelContractTest {
    @Override
    protected TransportFixture fixture() {
        return new ShmFixture();
    }
}
