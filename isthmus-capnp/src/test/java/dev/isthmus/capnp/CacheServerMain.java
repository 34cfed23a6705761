/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.capnp;

import dev.isthmus.arena.ArenaOptions;
import dev.isthmus.arena.ArenaView;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.capnp.demo.CacheDemo.Body;
import dev.isthmus.shm.ProcessIdentity;
import dev.isthmus.shm.ResourceName;
import dev.isthmus.struc.Outgoing;
import dev.isthmus.struc.StructuredChannel;
import dev.isthmus.struc.StructuredChannelOptions;
import dev.isthmus.transport.ShmBlobChannel;
import dev.isthmus.transport.ShmQueueOptions;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

/**
 * The cache server of {@link CrossProcessTest}, in a child JVM: answers {@code GetCacheReq "cached"} with a
 * response pre-built once, and any other file name with one built for the request.
 *
 * <p>Arguments: {@code <backing> <queue name> <client pid> <client start time> <group> <group tag> <parts>
 * <part bytes>}. Its arena and the client's share the group; each names its pools after its own pid. Prints
 * {@code READY <bytes allocated by the pre-built response>}; then, on stdin, {@code stats} prints
 * {@code ALLOCATED <bytes>} and {@code quit} closes everything, prints {@code DONE} and exits 0.
 */
public final class CacheServerMain {
    /** The seed of the pre-built response's content. */
    static final long CACHED_SEED = 1000;
    /** The seed of responses built per request. */
    static final long FRESH_SEED = 2000;

    private CacheServerMain() {
    }

    /**
     * Runs the server.
     *
     * @param args see the class description
     * @throws Exception on failure, which the test sees as a non-zero exit
     */
    public static void main(final String[] args) throws Exception {
        final Backing backing = Backing.valueOf(args[0]);
        final ResourceName queue = ResourceName.parse(args[1]).orElseThrow();
        final ProcessIdentity client = new ProcessIdentity(Long.parseLong(args[2]), Long.parseLong(args[3]));
        final String group = args[4];
        final long groupTag = Long.parseLong(args[5]);
        final int parts = Integer.parseInt(args[6]);
        final int partBytes = Integer.parseInt(args[7]);
        try (ShmArena arena = ShmArena.create(Endpoints.APP, group, groupTag, ArenaOptions.defaults());
             ArenaView clientArena = ArenaView.of(Endpoints.APP, client, group, groupTag, ArenaOptions.defaults());
             StructuredChannel<Body.Reader, Body.Builder> channel = CapnpChannels.open(
                 ShmBlobChannel.open(queue, ShmQueueOptions.defaults()), Body.factory, backing, arena, clientArena,
                 StructuredChannelOptions.builder().name("cache-server")
                     .errorHandler(e -> System.out.println("ERROR " + e)).build())) {
            final CapnpOutgoing<Body.Builder> cached = CapnpOutgoing.of(channel.newMessage());
            CacheMessages.response(cached.root(), CACHED_SEED, parts, partBytes);
            cached.seal();
            channel.onMessage(Body.Which.GET_CACHE_REQ, (request, replier) -> {
                if ("cached".contentEquals(request.root().getGetCacheReq().getFileName().toString())) {
                    replier.reply(cached);
                } else {
                    try (Outgoing<Body.Builder> fresh = channel.newMessage()) {
                        CacheMessages.response(fresh.root(), FRESH_SEED, parts, partBytes);
                        replier.reply(fresh);
                    }
                }
            });
            System.out.println("READY " + arena.allocatedBytes());
            final BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = stdin.readLine()) != null && !line.equals("quit")) {
                if (line.equals("stats")) {
                    System.out.println("ALLOCATED " + arena.allocatedBytes());
                }
            }
            cached.close();
        }
        System.out.println("DONE");
        System.exit(0);
    }
}
