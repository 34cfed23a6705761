/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.PaddingLayout;
import java.lang.foreign.SequenceLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.UnionLayout;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * The type of a record in shared memory: a named {@link StructLayout} whose every member is at its natural
 * alignment, with its padding written out, so that both processes agree on every byte.
 *
 * <p>A type is identified across processes by its {@linkplain #typeTag() tag}, a 64-bit hash of its name and
 * of its layout's shape (member names, kinds, sizes, offsets, alignment), checked whenever a peer's object is
 * borrowed or a reference followed: an object of another type, or of an older version of this one, is refused.
 *
 * <p>Fields are reached through flyweights made once, usually kept in {@code static final} fields:
 * {@snippet :
 * static final StructType QUOTE = StructType.of("Quote", MemoryLayout.structLayout(
 *         ValueLayout.JAVA_LONG.withName("instrument"),
 *         ValueLayout.JAVA_LONG.withName("bid"),
 *         ValueLayout.JAVA_LONG.withName("ask"),
 *         ValueLayout.JAVA_INT.withName("size"),
 *         MemoryLayout.paddingLayout(4)));
 * static final LongField BID = QUOTE.longField("bid");
 *
 * long bid = BID.get(quote.segment());              // in place, no allocation
 * BID.setRelease(quote.segment(), 101_25L);         // for a reader that uses getAcquire
 * }
 *
 * <p>Allowed members: {@code byte}, {@code boolean}, {@code short}, {@code char}, {@code int}, {@code float},
 * {@code long} and {@code double} values in native byte order; padding; nested structs; fixed-length sequences
 * of any of those; and {@link RefField#LAYOUT references} to other objects. Addresses (pointers) are refused:
 * an address means nothing in another process. Every member must be named (except padding), at an offset that
 * is a multiple of its alignment, and the struct's size a multiple of its own alignment, at most 8.
 *
 * <p>Thread safety: immutable.
 */
public final class StructType {
    /** The largest alignment a member may ask for: what an object's payload start in shared memory guarantees. */
    static final long MAX_ALIGNMENT = 8;

    private final String name;
    private final StructLayout layout;
    private final long typeTag;

    private StructType(final String name, final StructLayout layout, final long typeTag) {
        this.name = name;
        this.layout = layout;
        this.typeTag = typeTag;
    }

    /**
     * Checks a layout and makes it a type.
     *
     * @param name   the type's name, part of its tag: two types with the same layout but other names are distinct
     * @param layout the struct: named members at their natural alignment, padding explicit
     * @return the type
     * @throws IllegalArgumentException naming the member at fault, if a member is unnamed, misaligned, an
     *                                  address, a union, not in native byte order, or the struct's size is
     *                                  not a multiple of its alignment or its alignment is beyond 8
     */
    public static StructType of(final String name, final StructLayout layout) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(layout, "layout");
        if (name.isEmpty()) {
            throw new IllegalArgumentException("a struct type needs a name");
        }
        final StringBuilder shape = new StringBuilder(name).append('{');
        check(name, layout, shape);
        shape.append('}');
        return new StructType(name, layout, tag(shape.toString()));
    }

    private static void check(final String path, final GroupLayout group, final StringBuilder shape) {
        if (group instanceof UnionLayout) {
            throw new IllegalArgumentException(path + " is a union: only structs can be shared");
        }
        if (group.byteAlignment() > MAX_ALIGNMENT) {
            throw new IllegalArgumentException(path + " asks for " + group.byteAlignment() + "-byte alignment, beyond "
                + MAX_ALIGNMENT);
        }
        if (group.byteSize() % group.byteAlignment() != 0) {
            throw new IllegalArgumentException(path + " is " + group.byteSize() + " bytes, not a multiple of its "
                + group.byteAlignment() + "-byte alignment: add trailing padding so that arrays of it stay aligned");
        }
        if (group.byteSize() == 0) {
            throw new IllegalArgumentException(path + " is empty");
        }
        long offset = 0;
        for (final MemoryLayout member : group.memberLayouts()) {
            final String memberPath = path + "." + member.name().orElse("<padding>");
            if (member instanceof PaddingLayout) {
                shape.append('x').append(member.byteSize()).append(';');
                offset += member.byteSize();
                continue;
            }
            if (member.name().isEmpty()) {
                throw new IllegalArgumentException("a member of " + path + " at offset " + offset + " has no name:"
                    + " name it, or make it padding");
            }
            if (offset % member.byteAlignment() != 0) {
                throw new IllegalArgumentException(memberPath + " is at offset " + offset + ", not a multiple of its "
                    + member.byteAlignment() + "-byte alignment: add padding before it");
            }
            shape.append(member.name().get()).append('@').append(offset).append(':');
            describe(memberPath, member, shape);
            shape.append(';');
            offset += member.byteSize();
        }
    }

    private static void describe(final String path, final MemoryLayout member, final StringBuilder shape) {
        switch (member) {
            case AddressLayout a -> throw new IllegalArgumentException(path + " is an address: a pointer means"
                + " nothing in another process; use a reference (RefField.LAYOUT) instead");
            case ValueLayout value -> {
                if (value.order() != ByteOrder.nativeOrder()) {
                    throw new IllegalArgumentException(path + " is in " + value.order() + " byte order; shared"
                        + " structs use the native order");
                }
                if (value.byteAlignment() != value.byteSize()) {
                    throw new IllegalArgumentException(path + " is not naturally aligned (" + value.byteAlignment()
                        + " for a " + value.byteSize() + "-byte value)");
                }
                shape.append(value.carrier().getName()).append(value.byteSize());
            }
            case SequenceLayout sequence -> {
                shape.append('[').append(sequence.elementCount()).append(']');
                describe(path + "[]", sequence.elementLayout(), shape);
            }
            case StructLayout struct -> {
                shape.append('{');
                check(path, struct, shape);
                shape.append('}');
            }
            case UnionLayout union -> throw new IllegalArgumentException(path + " is a union: only structs can be shared");
            case PaddingLayout padding -> shape.append('x').append(padding.byteSize());
            default -> throw new IllegalArgumentException(path + ": unsupported layout " + member);
        }
    }

    /** FNV-1a, 64 bits, over the UTF-8 of the shape: the same in every JVM. */
    static long tag(final String shape) {
        long hash = 0xcbf29ce484222325L;
        for (final byte b : shape.getBytes(StandardCharsets.UTF_8)) {
            hash = (hash ^ (b & 0xff)) * 0x100000001b3L;
        }
        return hash == 0 ? 1 : hash;
    }

    /** {@return the type's name} */
    public String name() {
        return name;
    }

    /** {@return the layout} */
    public StructLayout layout() {
        return layout;
    }

    /** {@return the bytes one record takes, and the stride of an array of them} */
    public long byteSize() {
        return layout.byteSize();
    }

    /** {@return the tag that identifies this type in shared memory, the same in every process} */
    public long typeTag() {
        return typeTag;
    }

    /**
     * {@return the offset of a member within a record}
     *
     * @param path member names from the outermost struct in, e.g. {@code "price", "mantissa"}
     * @throws IllegalArgumentException if no such member exists
     */
    public long offset(final String... path) {
        return member(path).offset;
    }

    /**
     * {@return a flyweight for a {@code long} member}
     *
     * @param path member names from the outermost struct in
     * @throws IllegalArgumentException if the member does not exist or is not a {@code long}
     */
    public LongField longField(final String... path) {
        return new LongField(value(path, ValueLayout.JAVA_LONG));
    }

    /**
     * {@return a flyweight for an {@code int} member}
     *
     * @param path member names from the outermost struct in
     * @throws IllegalArgumentException if the member does not exist or is not an {@code int}
     */
    public IntField intField(final String... path) {
        return new IntField(value(path, ValueLayout.JAVA_INT));
    }

    /**
     * {@return a flyweight for a {@code double} member}
     *
     * @param path member names from the outermost struct in
     * @throws IllegalArgumentException if the member does not exist or is not a {@code double}
     */
    public DoubleField doubleField(final String... path) {
        return new DoubleField(value(path, ValueLayout.JAVA_DOUBLE));
    }

    /**
     * {@return a flyweight for a {@code byte} member}
     *
     * @param path member names from the outermost struct in
     * @throws IllegalArgumentException if the member does not exist or is not a {@code byte}
     */
    public ByteField byteField(final String... path) {
        return new ByteField(value(path, ValueLayout.JAVA_BYTE));
    }

    /**
     * {@return a flyweight for a reference member, whose layout is {@link RefField#LAYOUT}}
     *
     * @param path member names from the outermost struct in
     * @throws IllegalArgumentException if the member does not exist or is not a reference
     */
    public RefField refField(final String... path) {
        final Member member = member(path);
        if (!(member.layout instanceof StructLayout s) || !RefField.isRefLayout(s)) {
            throw new IllegalArgumentException(name + "." + String.join(".", path) + " is " + member.layout
                + ", not a reference (RefField.LAYOUT)");
        }
        return new RefField(member.offset);
    }

    /**
     * {@return a slice of a record holding one of its members, e.g. a nested struct or a fixed array}
     *
     * @param record the record's memory, at least {@link #byteSize()} bytes
     * @param path   member names from the outermost struct in
     */
    public MemorySegment slice(final MemorySegment record, final String... path) {
        final Member member = member(path);
        return record.asSlice(member.offset, member.layout.byteSize());
    }

    /**
     * {@return a mapper that copies records of this type to and from instances of a Java {@code record}}
     *
     * @param type a record class whose components match members by name and type (see {@link RecordMapper})
     * @param <R>  the record class
     * @throws IllegalArgumentException naming the component at fault if they do not match
     */
    public <R extends Record> RecordMapper<R> mapper(final Class<R> type) {
        return RecordMapper.of(this, type);
    }

    private long value(final String[] path, final ValueLayout expected) {
        final Member member = member(path);
        if (!(member.layout instanceof ValueLayout v) || v instanceof AddressLayout || v.carrier() != expected.carrier()) {
            throw new IllegalArgumentException(name + "." + String.join(".", path) + " is " + member.layout + ", not a "
                + expected.carrier().getName());
        }
        return member.offset;
    }

    record Member(MemoryLayout layout, long offset) {
    }

    Member member(final String... path) {
        if (path.length == 0) {
            throw new IllegalArgumentException("an empty member path");
        }
        MemoryLayout current = layout;
        long offset = 0;
        for (final String step : path) {
            if (!(current instanceof GroupLayout group)) {
                throw new IllegalArgumentException(name + "." + String.join(".", path) + ": " + step + " is not in a struct");
            }
            MemoryLayout found = null;
            long at = 0;
            for (final MemoryLayout m : group.memberLayouts()) {
                if (m.name().isPresent() && m.name().get().equals(step)) {
                    found = m;
                    break;
                }
                at += m.byteSize();
            }
            if (found == null) {
                throw new IllegalArgumentException(name + " has no member " + String.join(".", path) + " (no " + step + ")");
            }
            current = found;
            offset += at;
        }
        return new Member(current, offset);
    }

    @Override
    public boolean equals(final Object other) {
        return other instanceof StructType t && t.typeTag == typeTag && t.name.equals(name) && t.layout.equals(layout);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(typeTag);
    }

    @Override
    public String toString() {
        return "StructType[" + name + ", " + layout.byteSize() + " bytes, tag " + Long.toHexString(typeTag) + "]";
    }
}
