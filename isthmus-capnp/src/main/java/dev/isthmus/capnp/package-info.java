/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * Cap'n Proto messages over {@linkplain dev.isthmus.struc.StructuredChannel structured channels}:
 * {@link dev.isthmus.capnp.CapnpCodec} for a root struct with an anonymous union (the union's tag is the
 * message type), {@link dev.isthmus.capnp.CapnpChannels} to open a channel in one call.
 *
 * <p>Two {@linkplain dev.isthmus.capnp.Backing backings}, one switch: {@code HEAP} serializes with the
 * standard stream framing and copies through the channel (the classic way, and the baseline of the
 * zero-copy benchmark); {@code SESSION_SHM} builds message segments in the session's
 * {@linkplain dev.isthmus.arena.ShmArena arena}, sends only their handles, and reads them in place in the
 * peer's memory ({@link dev.isthmus.capnp.CapnpDescriptor} describes both payloads).
 *
 * <p>Conventions: schemas live in {@code src/main/capnp} (and {@code src/test/capnp}), import
 * {@code "/java.capnp"}, and are compiled during the Maven build (capnp-maven-plugin, runtime
 * {@code org.capnproto:runtime:0.1.16}); generated code is never committed. The cache demo's schema is
 * shipped as {@link dev.isthmus.capnp.demo.CacheDemo}.
 */
package dev.isthmus.capnp;
