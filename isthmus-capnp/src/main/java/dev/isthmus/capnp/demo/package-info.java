/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */

/**
 * The cache demo's messages, generated during the build from {@code src/main/capnp/cache_demo.capnp}
 * into {@code CacheDemo}: {@code Body} (the root; its union's tag is the message type) holds a
 * {@code GetCacheReq} (a file name) or a {@code GetCacheRsp} (the file's parts, each with its data, size
 * and 128-bit {@code Hash}).
 */
package dev.isthmus.capnp.demo;
