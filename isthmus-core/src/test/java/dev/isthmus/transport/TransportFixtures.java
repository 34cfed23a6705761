/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.transport;

/**
 * The registry of transport fixtures, by id, for child JVMs.
 */
public final class TransportFixtures {
    private TransportFixtures() {
    }

    /**
     * {@return the fixture with this id}
     *
     * @param id a fixture id
     */
    public static TransportFixture byId(final String id) {
        return switch (id) {
            case ShmFixture.ID -> new ShmFixture();
            case ShmFixture.BATCHED_ID -> new ShmFixture(true);
            case UdsFixture.ID -> new UdsFixture();
            case MqFixture.ID -> new MqFixture();
            default -> throw new IllegalArgumentException("no transport fixture \"" + id + "\"");
        };
    }
}
