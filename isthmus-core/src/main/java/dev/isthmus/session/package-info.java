/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * Sessions between named applications: {@link dev.isthmus.session.ClientApp} and
 * {@link dev.isthmus.session.ServerApp} describe the universe both programs share;
 * {@link dev.isthmus.session.SessionServer} accepts, {@link dev.isthmus.session.ClientSession} connects,
 * and a {@link dev.isthmus.session.Session} opens {@link dev.isthmus.session.Channel}s without naming
 * anything.
 *
 * <p>Conventions: resources of a session are named {@code <prefix>.<owner app>.<owner pid>.<kind>.<session id>-...};
 * the session's Unix socket is its liveness signal; the server app's permission level applies to every
 * resource; the client is authenticated by the kernel's credentials and {@code /proc}, never by what it says.
 */
package dev.isthmus.session;
