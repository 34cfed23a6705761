/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.internal.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * {@code mmap}, {@code munmap} and {@code madvise}: shared mappings of a file descriptor, returned as
 * bounds-checked {@link MemorySegment}s whose lifetime is that of an {@link Arena}.
 */
public final class Mmap {
    private static final int PROT_READ = 1;
    private static final int PROT_WRITE = 2;
    private static final int MAP_SHARED = 1;
    private static final int MAP_PRIVATE = 2;
    /** {@code MAP_ANONYMOUS}, the same on x86-64 and aarch64. */
    private static final int MAP_ANONYMOUS = 0x20;
    private static final int MADV_POPULATE_READ = 22;
    private static final int MADV_POPULATE_WRITE = 23;
    private static final long PAGE_SIZE = queryPageSize();

    private static final MethodHandle MMAP = Native.downcall("mmap",
        FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP =
        Native.downcall("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle MADVISE =
        Native.downcall("madvise", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));

    /** Where {@link #populateByReading} leaves what it read; never read back. */
    @SuppressWarnings("unused")
    private static volatile int populateSink;

    private Mmap() {
    }

    /**
     * Maps {@code length} bytes of a file from offset 0, shared with every other mapping of it.
     *
     * <p>The mapping is undone ({@code munmap}) when {@code arena} closes. Its length is exactly
     * {@code length}: every access through the returned segment is bounds-checked against it.
     *
     * @param fd       the descriptor, open for reading, and for writing if {@code writable}
     * @param length   the number of bytes, greater than 0
     * @param writable whether to map for writing; if not, the returned segment is also read-only
     * @param arena    the arena that owns the mapping
     * @param what     the file's name, for the error message
     * @return the mapping
     * @throws dev.isthmus.NativeException on failure
     */
    @SuppressWarnings("restricted")
    public static MemorySegment map(final int fd, final long length, final boolean writable, final Arena arena,
                                    final String what) {
        if (length <= 0) {
            throw new IllegalArgumentException("length=" + length + " must be > 0");
        }
        final Native.CallState state = Native.callState();
        final int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
        final MemorySegment address;
        try {
            address = (MemorySegment) MMAP.invokeExact(state.errnoSegment(), MemorySegment.NULL, length, prot,
                MAP_SHARED, fd, 0L);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (address.address() == -1L) {
            throw Errno.exception("mmap(" + what + ", " + length + " bytes)", state.errno());
        }
        final MemorySegment mapping = address.reinterpret(length, arena, segment -> unmap(segment, length));
        return writable ? mapping : mapping.asReadOnly();
    }

    /**
     * Maps {@code length} bytes of private anonymous memory: zeros that cost nothing until a page is first
     * touched, unlike an arena's allocation, which clears (and so commits) every byte at once. For large
     * buffers that may stay mostly unused, such as a socket channel's staging and receive buffers.
     *
     * <p>The mapping is undone when {@code arena} closes; it is page-aligned.
     *
     * @param length the number of bytes, greater than 0
     * @param arena  the arena that owns the mapping
     * @param what   what the memory is for, for the error message
     * @return the mapping, readable and writable
     * @throws dev.isthmus.NativeException on failure, e.g. {@code ENOMEM}
     */
    @SuppressWarnings("restricted")
    public static MemorySegment anonymous(final long length, final Arena arena, final String what) {
        if (length <= 0) {
            throw new IllegalArgumentException("length=" + length + " must be > 0");
        }
        final Native.CallState state = Native.callState();
        final MemorySegment address;
        try {
            address = (MemorySegment) MMAP.invokeExact(state.errnoSegment(), MemorySegment.NULL, length,
                PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0L);
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (address.address() == -1L) {
            throw Errno.exception("mmap(anonymous, " + length + " bytes, " + what + ")", state.errno());
        }
        return address.reinterpret(length, arena, segment -> unmap(segment, length));
    }

    private static void unmap(final MemorySegment address, final long length) {
        final Native.CallState state = Native.callState();
        try {
            final int rc = (int) MUNMAP.invokeExact(state.errnoSegment(), address, length);
            if (rc == -1) {
                // Called from Arena.close(): nothing sensible can be thrown, and the only failure
                // (EINVAL) would mean the address was never a mapping of ours.
                throw new AssertionError("munmap failed: " + Errno.name(state.errno()));
            }
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /**
     * Faults in every page of a mapping for reading now, for a read-only mapping ({@code madvise(
     * MADV_POPULATE_READ)}, Linux 5.14, else reading one byte of each page). Never a write.
     *
     * @param segment a mapping, or a page-aligned part of one
     * @param what    the file's name, for the error message
     * @throws dev.isthmus.NativeException if {@code madvise} fails other than with {@code EINVAL}
     */
    public static void populateRead(final MemorySegment segment, final String what) {
        if (segment.byteSize() == 0) {
            return;
        }
        if (!advise(segment, MADV_POPULATE_READ, "MADV_POPULATE_READ", what)) {
            populateByReading(segment);
        }
    }

    /**
     * Faults in every page of a shared mapping now, so that the first access to each page later costs
     * little, without ever writing to it: another process may be writing the same pages.
     *
     * <p>Uses {@code madvise(MADV_POPULATE_WRITE)} (Linux 5.14), which makes each page present and writable
     * without changing a byte. Where the kernel refuses it ({@code EINVAL}: an older kernel, or a range it
     * will not populate), falls back to {@code MADV_POPULATE_READ}, then to reading one byte of each page,
     * which leaves the first write to each page a cheap minor fault. Never a write: writing a value back
     * would race with the peer's writes and could undo them.
     *
     * @param segment a shared mapping, or a page-aligned part of one
     * @param what    the file's name, for the error message
     * @throws dev.isthmus.NativeException if {@code madvise} fails other than with {@code EINVAL}
     */
    public static void populateWrite(final MemorySegment segment, final String what) {
        final long length = segment.byteSize();
        if (length == 0) {
            return;
        }
        if (advise(segment, MADV_POPULATE_WRITE, "MADV_POPULATE_WRITE", what)
            || advise(segment, MADV_POPULATE_READ, "MADV_POPULATE_READ", what)) {
            return;
        }
        populateByReading(segment);
    }

    /**
     * Reads one byte of every page of {@code segment}, which faults it in; never writes. The fallback of
     * {@link #populateWrite} where {@code madvise} cannot populate.
     *
     * @param segment any readable segment, read-only ones included
     */
    static void populateByReading(final MemorySegment segment) {
        final long length = segment.byteSize();
        final long pageSize = PAGE_SIZE;
        // The bytes read are folded into a value the JIT must keep, so that it cannot drop the reads.
        int folded = 0;
        for (long offset = 0; offset < length; offset += pageSize) {
            folded += segment.get(JAVA_BYTE, offset);
        }
        populateSink = folded;
    }

    /** {@return whether {@code madvise} did it; false on {@code EINVAL} (unknown advice or unsuitable range)} */
    private static boolean advise(final MemorySegment segment, final int advice, final String adviceName,
                                  final String what) {
        final long length = segment.byteSize();
        final Native.CallState state = Native.callState();
        int rc;
        try {
            do {
                rc = (int) MADVISE.invokeExact(state.errnoSegment(), segment, length, advice);
            } while (rc == -1 && (state.errno() == Errno.EINTR || state.errno() == Errno.EAGAIN));
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
        if (rc == 0) {
            return true;
        }
        if (state.errno() != Errno.EINVAL) {
            throw Errno.exception("madvise(" + what + ", " + adviceName + ", " + length + " bytes)", state.errno());
        }
        return false;
    }

    /**
     * {@return the size of a memory page in bytes}
     */
    public static long pageSize() {
        return PAGE_SIZE;
    }

    private static long queryPageSize() {
        final MethodHandle getpagesize = Native.optionalDowncallWithoutErrno("getpagesize", JAVA_INT).orElseThrow();
        try {
            return (int) getpagesize.invokeExact();
        } catch (final Throwable t) {
            throw Native.rethrow(t);
        }
    }
}
