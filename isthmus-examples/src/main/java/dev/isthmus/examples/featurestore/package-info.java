/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * A shared feature store: a server fills a {@link dev.isthmus.data.ShmMap} and keeps updating it; clients in
 * other JVMs borrow it read-only over a session and look users up in place, concurrently, without locks.
 */
package dev.isthmus.examples.featurestore;
