/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.examples.guide;

import dev.isthmus.session.Channel;
import dev.isthmus.transport.NativeHandle;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * The guide's hand-off of a connection: a front process passes an accepted socket to a worker over a channel's
 * handle pipe, and the worker answers on it.
 */
public final class SocketHandOff {
    private SocketHandOff() {
    }

    /**
     * Passes a connection to the worker at the other end of a channel, and closes this process's descriptor.
     *
     * @param worker     the channel to the worker
     * @param connection the connection, owned by this method
     * @return whether it was sent ({@code false}: the worker's pipe is full)
     */
    public static boolean handOff(final Channel worker, final NativeHandle connection) {
        // guide:pass-socket-front:begin
        byte[] what = "http".getBytes(StandardCharsets.US_ASCII);          // tells the worker what comes with it
        try (connection) {                  // sending does not give the descriptor away: close this one
            return worker.handles().offerWithHandles(MemorySegment.ofArray(what), 0, what.length, connection);
        }
        // guide:pass-socket-front:end
    }

    /**
     * Takes the connections the front has passed, and answers a request on each.
     *
     * @param front    the channel to the front process
     * @param patience how long to wait for the first connection
     * @return how many connections it served
     */
    public static int serve(final Channel front, final Duration patience) {
        // guide:pass-socket-worker:begin
        List<NativeHandle> connections = new ArrayList<>();
        front.handles().pollWithHandles((buffer, offset, length, handles) ->
            connections.addAll(handles), 16, patience.toNanos());      // new descriptors, this process's to close
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment request = arena.allocate(4096);
            for (NativeHandle connection : connections) {
                try (connection) {
                    long read = connection.read(request, TimeUnit.SECONDS.toNanos(5));   // -1: nothing in time
                    String answer = "HTTP/1.0 200 OK\r\n\r\nread " + read + " bytes in pid "
                        + ProcessHandle.current().pid() + "\n";
                    connection.write(arena.allocateFrom(JAVA_BYTE, answer.getBytes(StandardCharsets.US_ASCII)),
                        TimeUnit.SECONDS.toNanos(5));
                }
            }
        }
        // guide:pass-socket-worker:end
        return connections.size();
    }
}
