/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.session;

import dev.isthmus.ChannelClosedException;
import dev.isthmus.CorruptDataException;
import dev.isthmus.IsthmusTimeoutException;
import dev.isthmus.transport.NativeHandle;
import dev.isthmus.transport.UnixSocketBlobChannel;
import dev.isthmus.transport.UnixSocketOptions;

import java.lang.foreign.MemorySegment;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * The control messages of a session, on its Unix socket.
 *
 * <pre>
 *   0   +-------------------------------+-------+-------+---------------+
 *       | magic "ISSN" (4)              | ver(1)| type  | reserved (2)  |
 *   8   | session token (16): zero in HELLO and REJECT                  |
 *  24   | correlation id (8): a request's, repeated in its answer       |
 *  32   | body ...                                                      |
 *       +---------------------------------------------------------------+
 * </pre>
 * Bodies are little-endian; a string is a 2-byte length and UTF-8 bytes, a byte string a 4-byte length
 * and bytes. Channel descriptions travel with the descriptors of their Unix sockets (SCM_RIGHTS), one
 * per channel, in order.
 */
final class SessionProtocol {
    static final int MAGIC = 0x4e535349;
    /** 2: WELCOME and READY carry three arena descriptors (the second, peer-writable pool is new). */
    static final byte VERSION = 2;
    static final int HEADER_LENGTH = 32;
    static final int MAX_MESSAGE = 64 * 1024;

    static final byte HELLO = 1;
    static final byte WELCOME = 2;
    static final byte REJECT = 3;
    static final byte READY = 4;
    static final byte OPEN = 5;
    static final byte OPEN_OK = 6;
    static final byte OPEN_REFUSED = 7;
    static final byte PING = 8;
    static final byte PONG = 9;
    static final byte BYE = 10;

    private SessionProtocol() {
    }

    /** What a channel is made of, as its opener describes it to the other side. */
    record ChannelSpec(String id, ChannelTransport transport, String resource) {
    }

    record Hello(String clientApp, int uid, int gid, long pid, long startTime, int initChannels,
                 ChannelTransport transport, boolean zeroCopy, byte[] metadata) {
    }

    record Welcome(String sessionId, String serverApp, long serverPid, long serverStartTime, int permissionLevel,
                   List<ChannelSpec> channels, byte[] metadata) {
    }

    /** A decoded control message. */
    record Message(byte type, UUID token, long correlation, ByteBuffer body) {
    }

    static final class Writer {
        private final ByteBuffer buffer = ByteBuffer.allocate(MAX_MESSAGE).order(ByteOrder.LITTLE_ENDIAN);

        Writer(final byte type, final UUID token, final long correlation) {
            buffer.putInt(MAGIC).put(VERSION).put(type).putShort((short) 0)
                .putLong(token.getMostSignificantBits()).putLong(token.getLeastSignificantBits()).putLong(correlation);
        }

        Writer putString(final String value) {
            final byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
            if (bytes.length > 0xffff) {
                throw new IllegalArgumentException("string of " + bytes.length + " bytes is too long for a control message");
            }
            buffer.putShort((short) bytes.length).put(bytes);
            return this;
        }

        Writer putBytes(final byte[] value) {
            buffer.putInt(value.length).put(value);
            return this;
        }

        Writer putInt(final int value) {
            buffer.putInt(value);
            return this;
        }

        Writer putLong(final long value) {
            buffer.putLong(value);
            return this;
        }

        Writer putByte(final int value) {
            buffer.put((byte) value);
            return this;
        }

        Writer putSpec(final ChannelSpec spec) {
            return putString(spec.id()).putByte(spec.transport().ordinal()).putString(spec.resource());
        }

        byte[] toArray() {
            final byte[] bytes = new byte[buffer.position()];
            buffer.flip().get(bytes);
            return bytes;
        }
    }

    static Message parse(final byte[] bytes) {
        final ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < HEADER_LENGTH || buffer.getInt() != MAGIC || buffer.get() != VERSION) {
            throw new CorruptDataException("a " + bytes.length + "-byte control message is not a session message of"
                + " version " + VERSION);
        }
        final byte type = buffer.get();
        buffer.getShort();
        final UUID token = new UUID(buffer.getLong(), buffer.getLong());
        final long correlation = buffer.getLong();
        return new Message(type, token, correlation, buffer.slice().order(ByteOrder.LITTLE_ENDIAN));
    }

    static String getString(final ByteBuffer body) {
        final int length = Short.toUnsignedInt(body.getShort());
        final byte[] bytes = new byte[length];
        body.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /** REJECT: who the client is was refused (an authentication failure). */
    static final byte REJECT_AUTHENTICATION = 0;
    /** REJECT: the server refused the session for a reason of its own (a limit, closing). */
    static final byte REJECT_SERVER = 1;

    /** {@return a REJECT: the reason, then the kind} */
    static byte[] encodeReject(final String reason, final byte kind) {
        return new Writer(REJECT, new UUID(0, 0), 0).putString(reason).putByte(kind).toArray();
    }

    /** A decoded REJECT. */
    record Rejection(String reason, byte kind) {
    }

    /** {@return a REJECT's reason and kind; a truncated or garbled one still decodes, saying so} */
    static Rejection rejection(final ByteBuffer body) {
        try {
            final String reason = getString(body);
            return new Rejection(reason, body.hasRemaining() ? body.get() : REJECT_AUTHENTICATION);
        } catch (final BufferUnderflowException e) {
            return new Rejection("(the server's reason is truncated)", REJECT_AUTHENTICATION);
        }
    }

    /** {@return a string that may be truncated, as in OPEN_REFUSED: decoded as far as it goes} */
    static String getStringLeniently(final ByteBuffer body) {
        try {
            return getString(body);
        } catch (final BufferUnderflowException e) {
            return "(the peer's reason is truncated)";
        }
    }

    static byte[] getBytes(final ByteBuffer body, final int max) {
        final int length = body.getInt();
        if (length < 0 || length > max) {
            throw new CorruptDataException("a control message carries " + length + " bytes of metadata, at most " + max
                + " allowed");
        }
        final byte[] bytes = new byte[length];
        body.get(bytes);
        return bytes;
    }

    static ChannelSpec getSpec(final ByteBuffer body) {
        final String id = getString(body);
        final int transport = body.get();
        if (transport < 0 || transport >= ChannelTransport.values().length) {
            throw new CorruptDataException("a control message names unknown channel transport " + transport);
        }
        return new ChannelSpec(id, ChannelTransport.values()[transport], getString(body));
    }

    static Hello hello(final ByteBuffer body) {
        try {
            final String app = getString(body);
            final int uid = body.getInt();
            final int gid = body.getInt();
            final long pid = body.getLong();
            final long startTime = body.getLong();
            final int initChannels = body.getInt();
            final int transport = body.get();
            final boolean zeroCopy = body.get() != 0;
            final byte[] metadata = getBytes(body, MAX_MESSAGE);
            if (initChannels < 0 || initChannels > 200 || transport < 0 || transport >= ChannelTransport.values().length) {
                throw new CorruptDataException("a HELLO asks for " + initChannels + " channels of transport " + transport);
            }
            return new Hello(app, uid, gid, pid, startTime, initChannels, ChannelTransport.values()[transport], zeroCopy,
                metadata);
        } catch (final BufferUnderflowException e) {
            throw new CorruptDataException("a HELLO is truncated");
        }
    }

    static byte[] encodeHello(final Hello hello) {
        return new Writer(HELLO, new UUID(0, 0), 0).putString(hello.clientApp()).putInt(hello.uid()).putInt(hello.gid())
            .putLong(hello.pid()).putLong(hello.startTime()).putInt(hello.initChannels())
            .putByte(hello.transport().ordinal()).putByte(hello.zeroCopy() ? 1 : 0).putBytes(hello.metadata()).toArray();
    }

    static Welcome welcome(final ByteBuffer body) {
        try {
            final String sessionId = getString(body);
            final String serverApp = getString(body);
            final long pid = body.getLong();
            final long startTime = body.getLong();
            final int level = body.get();
            final int count = body.getInt();
            if (count < 0 || count > 200) {
                throw new CorruptDataException("a WELCOME lists " + count + " channels");
            }
            final List<ChannelSpec> channels = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                channels.add(getSpec(body));
            }
            return new Welcome(sessionId, serverApp, pid, startTime, level, channels, getBytes(body, MAX_MESSAGE));
        } catch (final BufferUnderflowException e) {
            throw new CorruptDataException("a WELCOME is truncated");
        }
    }

    static byte[] encodeWelcome(final UUID token, final Welcome welcome) {
        final Writer writer = new Writer(WELCOME, token, 0).putString(welcome.sessionId()).putString(welcome.serverApp())
            .putLong(welcome.serverPid()).putLong(welcome.serverStartTime()).putByte(welcome.permissionLevel())
            .putInt(welcome.channels().size());
        welcome.channels().forEach(writer::putSpec);
        return writer.putBytes(welcome.metadata()).toArray();
    }

    static UnixSocketOptions controlOptions() {
        return UnixSocketOptions.builder().maxMessageLengthBytes(MAX_MESSAGE).build();
    }

    /** A control message with the descriptors that came with it, which the receiver then owns. */
    record Reply(Message message, List<NativeHandle> handles) {
        void closeHandles() {
            handles.forEach(NativeHandle::close);
        }
    }

    /**
     * Waits for the next control message of a handshake.
     *
     * @param control the session's socket
     * @param timeout how long to wait
     * @return the message and its descriptors; a message that does not parse has its descriptors closed
     * @throws IsthmusTimeoutException if none came in time
     * @throws ChannelClosedException  if the other side closed
     * @throws CorruptDataException    if the message is not a session message
     */
    static Reply awaitReply(final UnixSocketBlobChannel control, final Duration timeout) {
        final List<Reply> replies = new ArrayList<>(1);
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (replies.isEmpty()) {
            final long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                throw new IsthmusTimeoutException("no answer on " + control + " within " + timeout);
            }
            try {
                control.pollWithHandles((MemorySegment buffer, long offset, int length, List<NativeHandle> handles) -> {
                    try {
                        replies.add(new Reply(parse(buffer.asSlice(offset, length).toArray(JAVA_BYTE)),
                            List.copyOf(handles)));
                    } catch (final RuntimeException e) {
                        handles.forEach(NativeHandle::close);
                        throw e;
                    }
                }, 1, remaining);
            } catch (final ChannelClosedException e) {
                throw new ChannelClosedException("the other side of " + control + " closed during the handshake: "
                    + e.getMessage(), e);
            }
        }
        return replies.getFirst();
    }
}
