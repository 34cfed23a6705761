/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.data;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SequenceLayout;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.reflect.Array;
import java.lang.reflect.Constructor;
import java.lang.reflect.RecordComponent;
import java.util.Objects;

/**
 * Copies records of a {@link StructType} to and from instances of a Java {@code record} whose components
 * match members by name: for convenience at the edges, where an object on the heap is wanted; the hot path
 * reads fields in place with the flyweights.
 *
 * <p>A component of a primitive type matches a value member of the same carrier; a component whose type is
 * another record matches a nested struct, recursively; a primitive array matches a fixed-length sequence of
 * that primitive (written arrays must have exactly its length); a {@link DataRef} matches a
 * {@link RefField#LAYOUT reference} (null for a null reference). Members without a component are left
 * alone on write and ignored on read.
 *
 * <p>{@link #read} reads the members one by one: a record another process writes meanwhile can be read half
 * old, half new; publish whole records (lend them once written, or guard them with a version field read
 * with acquire semantics before and after). The record's canonical constructor runs on the values read: one
 * that validates its arguments throws on a peer's bad data. Each call allocates the record and boxes its
 * components, as reflection does.
 *
 * {@snippet :
 * record Quote(long instrument, long bid, long ask, int size) { }
 * static final RecordMapper<Quote> QUOTES = QUOTE.mapper(Quote.class);
 *
 * QUOTES.write(new Quote(7, 101_25, 101_30, 500), struct.segment());
 * Quote copy = QUOTES.read(struct.segment());
 * }
 *
 * <p>Thread safety: immutable.
 *
 * @param <R> the record class
 */
public final class RecordMapper<R extends Record> {
    private final Class<R> type;
    private final StructType structType;
    private final Node root;

    private RecordMapper(final Class<R> type, final StructType structType, final Node root) {
        this.type = type;
        this.structType = structType;
        this.root = root;
    }

    static <R extends Record> RecordMapper<R> of(final StructType structType, final Class<R> type) {
        return new RecordMapper<>(type, structType, node(structType.name(), structType.layout(), type));
    }

    /** {@return the record class} */
    public Class<R> recordType() {
        return type;
    }

    /** {@return the struct type} */
    public StructType structType() {
        return structType;
    }

    /**
     * {@return a new record holding the values of the struct in {@code memory}}
     *
     * @param memory the struct's memory, at least {@link StructType#byteSize()} bytes
     * @throws IndexOutOfBoundsException if it is shorter
     */
    public R read(final MemorySegment memory) {
        return type.cast(root.read(memory, 0));
    }

    /**
     * Writes the record's components to the struct in {@code memory}.
     *
     * @param value  the record
     * @param memory the struct's memory, at least {@link StructType#byteSize()} bytes
     * @throws IllegalArgumentException      if an array component's length is not its sequence's
     * @throws UnsupportedOperationException if the memory is read-only
     */
    public void write(final R value, final MemorySegment memory) {
        Objects.requireNonNull(value, "value");
        root.write(value, memory, 0);
    }

    /** One component mapped to one member. */
    private interface Part {
        Object read(MemorySegment memory, long base);

        void write(Object value, MemorySegment memory, long base);
    }

    /** A record mapped to a struct. */
    private record Node(MethodHandle constructor, MethodHandle[] accessors, Part[] parts) implements Part {
        @Override
        public Object read(final MemorySegment memory, final long base) {
            final Object[] args = new Object[parts.length];
            for (int i = 0; i < parts.length; i++) {
                args[i] = parts[i].read(memory, base);
            }
            try {
                return constructor.invokeWithArguments(args);
            } catch (final RuntimeException | Error e) {
                throw e;
            } catch (final Throwable e) {
                throw new IllegalStateException("the record's constructor threw", e);
            }
        }

        @Override
        public void write(final Object value, final MemorySegment memory, final long base) {
            for (int i = 0; i < parts.length; i++) {
                final Object component;
                try {
                    component = accessors[i].invoke(value);
                } catch (final RuntimeException | Error e) {
                    throw e;
                } catch (final Throwable e) {
                    throw new IllegalStateException("the record's accessor threw", e);
                }
                parts[i].write(component, memory, base);
            }
        }
    }

    private static Node node(final String path, final StructLayout layout, final Class<?> type) {
        if (!type.isRecord()) {
            throw new IllegalArgumentException(type.getName() + " (for " + path + ") is not a record class");
        }
        final RecordComponent[] components = type.getRecordComponents();
        final MethodHandle[] accessors = new MethodHandle[components.length];
        final Part[] parts = new Part[components.length];
        final Class<?>[] parameterTypes = new Class<?>[components.length];
        final MethodHandles.Lookup lookup = MethodHandles.lookup();
        for (int i = 0; i < components.length; i++) {
            final RecordComponent component = components[i];
            parameterTypes[i] = component.getType();
            final String memberPath = path + "." + component.getName();
            long offset = 0;
            MemoryLayout member = null;
            for (final MemoryLayout m : layout.memberLayouts()) {
                if (m.name().isPresent() && m.name().get().equals(component.getName())) {
                    member = m;
                    break;
                }
                offset += m.byteSize();
            }
            if (member == null) {
                throw new IllegalArgumentException("component " + component.getName() + " of " + type.getName()
                    + " has no member " + memberPath + " in the layout");
            }
            parts[i] = part(memberPath, member, offset, component.getType(), component.getGenericType());
            try {
                final java.lang.reflect.Method accessor = component.getAccessor();
                accessor.setAccessible(true);
                accessors[i] = lookup.unreflect(accessor);
            } catch (final ReflectiveOperationException | RuntimeException e) {
                throw new IllegalArgumentException("cannot read component " + component.getName() + " of "
                    + type.getName() + ": make the record public in an exported or open package", e);
            }
        }
        try {
            final Constructor<?> constructor = type.getDeclaredConstructor(parameterTypes);
            constructor.setAccessible(true);
            return new Node(lookup.unreflectConstructor(constructor), accessors, parts);
        } catch (final ReflectiveOperationException | RuntimeException e) {
            throw new IllegalArgumentException("cannot call the canonical constructor of " + type.getName()
                + ": make the record public in an exported or open package", e);
        }
    }

    private static Part part(final String path, final MemoryLayout member, final long offset, final Class<?> type,
                             final java.lang.reflect.Type generic) {
        if (type == DataRef.class) {
            if (!(member instanceof StructLayout s) || !RefField.isRefLayout(s)) {
                throw mismatch(path, member, type);
            }
            final RefField field = new RefField(offset);
            return new Part() {
                @Override
                public Object read(final MemorySegment memory, final long base) {
                    return field.get(memory.asSlice(base));
                }

                @Override
                public void write(final Object value, final MemorySegment memory, final long base) {
                    field.set(memory.asSlice(base), (DataRef) value);
                }
            };
        }
        if (type.isRecord()) {
            if (!(member instanceof StructLayout struct)) {
                throw mismatch(path, member, type);
            }
            final Node node = node(path, struct, type);
            return new Part() {
                @Override
                public Object read(final MemorySegment memory, final long base) {
                    return node.read(memory, base + offset);
                }

                @Override
                public void write(final Object value, final MemorySegment memory, final long base) {
                    node.write(Objects.requireNonNull(value, path), memory, base + offset);
                }
            };
        }
        if (type.isArray() && type.getComponentType().isPrimitive()) {
            if (!(member instanceof SequenceLayout sequence) || !(sequence.elementLayout() instanceof ValueLayout element)
                || element.carrier() != type.getComponentType()) {
                throw mismatch(path, member, type);
            }
            final long count = sequence.elementCount();
            return new Part() {
                @Override
                public Object read(final MemorySegment memory, final long base) {
                    final Object array = Array.newInstance(type.getComponentType(), Math.toIntExact(count));
                    MemorySegment.copy(memory, element, base + offset, array, 0, (int) count);
                    return array;
                }

                @Override
                public void write(final Object value, final MemorySegment memory, final long base) {
                    final int length = Array.getLength(Objects.requireNonNull(value, path));
                    if (length != count) {
                        throw new IllegalArgumentException(path + " holds " + count + " elements, the record's array "
                            + length);
                    }
                    MemorySegment.copy(value, 0, memory, element, base + offset, length);
                }
            };
        }
        if (type.isPrimitive()) {
            if (!(member instanceof ValueLayout value) || member instanceof java.lang.foreign.AddressLayout
                || value.carrier() != type) {
                throw mismatch(path, member, type);
            }
            final java.lang.invoke.VarHandle handle = value.varHandle();
            return new Part() {
                @Override
                public Object read(final MemorySegment memory, final long base) {
                    return handle.get(memory, base + offset);
                }

                @Override
                public void write(final Object v, final MemorySegment memory, final long base) {
                    handle.set(memory, base + offset, v);
                }
            };
        }
        throw new IllegalArgumentException(path + ": a component of type " + generic.getTypeName()
            + " cannot be mapped (primitives, records, primitive arrays and DataRef can)");
    }

    private static IllegalArgumentException mismatch(final String path, final MemoryLayout member, final Class<?> type) {
        return new IllegalArgumentException(path + " is " + member + " in the layout, which a " + type.getSimpleName()
            + " component cannot hold");
    }

    @Override
    public String toString() {
        return "RecordMapper[" + type.getName() + " <-> " + structType.name() + "]";
    }
}
