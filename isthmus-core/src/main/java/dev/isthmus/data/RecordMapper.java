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
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
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
 * that validates its arguments throws on a peer's bad data.
 *
 * <p>The mapper composes, once when it is made, a method handle that reads every member with an access of
 * its own type and calls the canonical constructor, and one that reads every component through its accessor
 * and stores it: nothing is boxed and no reflection runs per call. {@link #read} allocates the record and
 * what its components are made of: a nested record, an array, a {@link DataRef} (with its handle) each. For
 * components that are primitives, nested records and references, {@link #write} allocates nothing.
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
    /** {@code (long, long)long}: adds a member's offset to its struct's base. */
    private static final MethodHandle PLUS;
    /** {@code (Class, ValueLayout, long, MemorySegment, long)Object}: copies a fixed array out. */
    private static final MethodHandle READ_ARRAY;
    /** {@code (String, ValueLayout, long, MemorySegment, long, Object)void}: copies a fixed array in. */
    private static final MethodHandle WRITE_ARRAY;
    /** {@code (RefField, MemorySegment, long)DataRef}. */
    private static final MethodHandle READ_REF;
    /** {@code (RefField, MemorySegment, long, DataRef)void}. */
    private static final MethodHandle WRITE_REF;
    /** {@code (Object, String)Object}: {@link Objects#requireNonNull(Object, String)}. */
    private static final MethodHandle REQUIRE_NON_NULL;

    static {
        final MethodHandles.Lookup lookup = MethodHandles.lookup();
        try {
            PLUS = lookup.findStatic(RecordMapper.class, "plus", MethodType.methodType(long.class, long.class, long.class));
            READ_ARRAY = lookup.findStatic(RecordMapper.class, "readArray", MethodType.methodType(Object.class,
                Class.class, ValueLayout.class, long.class, MemorySegment.class, long.class));
            WRITE_ARRAY = lookup.findStatic(RecordMapper.class, "writeArray", MethodType.methodType(void.class,
                String.class, ValueLayout.class, long.class, MemorySegment.class, long.class, Object.class));
            READ_REF = lookup.findVirtual(RefField.class, "get", MethodType.methodType(DataRef.class,
                MemorySegment.class, long.class));
            WRITE_REF = lookup.findVirtual(RefField.class, "set", MethodType.methodType(void.class,
                MemorySegment.class, long.class, DataRef.class));
            REQUIRE_NON_NULL = lookup.findStatic(Objects.class, "requireNonNull", MethodType.methodType(Object.class,
                Object.class, String.class));
        } catch (final ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Class<R> type;
    private final StructType structType;
    /** {@code (MemorySegment memory, long base)Object}: reads the record at {@code base}. */
    private final MethodHandle reader;
    /** {@code (MemorySegment memory, long base, Object record)void}: writes the record at {@code base}. */
    private final MethodHandle writer;

    private RecordMapper(final Class<R> type, final StructType structType, final Handles root) {
        this.type = type;
        this.structType = structType;
        this.reader = root.reader().asType(MethodType.methodType(Object.class, MemorySegment.class, long.class));
        this.writer = root.writer().asType(MethodType.methodType(void.class, MemorySegment.class, long.class,
            Object.class));
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
        final Object record;
        try {
            record = (Object) reader.invokeExact(memory, 0L);
        } catch (final RuntimeException | Error e) {
            throw e;
        } catch (final Throwable e) {
            throw new IllegalStateException("the record's constructor threw", e);
        }
        return type.cast(record);
    }

    /**
     * Writes the record's components to the struct in {@code memory}.
     *
     * @param value  the record
     * @param memory the struct's memory, at least {@link StructType#byteSize()} bytes
     * @throws IllegalArgumentException  if an array component's length is not its sequence's, or the memory is
     *                                   read-only
     * @throws NullPointerException      if the record, or a component that is a record or an array, is null
     * @throws IndexOutOfBoundsException if the memory is shorter
     */
    public void write(final R value, final MemorySegment memory) {
        Objects.requireNonNull(value, "value");
        try {
            writer.invokeExact(memory, 0L, (Object) value);
        } catch (final RuntimeException | Error e) {
            throw e;
        } catch (final Throwable e) {
            throw new IllegalStateException("the record's accessor threw", e);
        }
    }

    /**
     * What one record class mapped to one struct, or one component mapped to one member, composes to: a reader
     * {@code (MemorySegment, long base)T} and a writer {@code (MemorySegment, long base, T)void}, {@code T} the
     * class of the record or of the component, exactly (a primitive stays primitive).
     */
    private record Handles(MethodHandle reader, MethodHandle writer) {
        /** {@return these handles moved {@code offset} bytes from the base they are given} */
        Handles at(final long offset) {
            if (offset == 0) {
                return this;
            }
            final MethodHandle plus = MethodHandles.insertArguments(PLUS, 1, offset);
            return new Handles(MethodHandles.filterArguments(reader, 1, plus),
                MethodHandles.filterArguments(writer, 1, plus));
        }
    }

    private static Handles node(final String path, final StructLayout layout, final Class<?> type) {
        if (!type.isRecord()) {
            throw new IllegalArgumentException(type.getName() + " (for " + path + ") is not a record class");
        }
        final RecordComponent[] components = type.getRecordComponents();
        final MethodHandle[] accessors = new MethodHandle[components.length];
        final Handles[] parts = new Handles[components.length];
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
            parts[i] = part(memberPath, member, component.getType(), component.getGenericType()).at(offset);
            try {
                final java.lang.reflect.Method accessor = component.getAccessor();
                accessor.setAccessible(true);
                accessors[i] = lookup.unreflect(accessor);
            } catch (final ReflectiveOperationException | RuntimeException e) {
                throw new IllegalArgumentException("cannot read component " + component.getName() + " of "
                    + type.getName() + ": make the record public in an exported or open package", e);
            }
        }
        final MethodHandle constructor;
        try {
            final Constructor<?> canonical = type.getDeclaredConstructor(parameterTypes);
            canonical.setAccessible(true);
            constructor = lookup.unreflectConstructor(canonical);
        } catch (final ReflectiveOperationException | RuntimeException e) {
            throw new IllegalArgumentException("cannot call the canonical constructor of " + type.getName()
                + ": make the record public in an exported or open package", e);
        }
        return new Handles(reader(constructor, parts), writer(type, accessors, parts));
    }

    /**
     * {@return {@code (MemorySegment, long base)R}: reads every component, first to last, and calls the
     * constructor on them}
     */
    private static MethodHandle reader(final MethodHandle constructor, final Handles[] parts) {
        final int n = parts.length;
        // (C0 .. Cn-1, MemorySegment, long)R; then component i's reader takes the place of Ci, from the last
        // component to the first, and its (MemorySegment, long) is merged with the trailing pair each time, so
        // the handle never holds more than one pair of them.
        MethodHandle handle = MethodHandles.dropArguments(constructor, n, MemorySegment.class, long.class);
        for (int i = n - 1; i >= 0; i--) {
            // (C0 .. Ci-1, MemorySegment, long, MemorySegment, long)R
            handle = MethodHandles.collectArguments(handle, i, parts[i].reader());
            final int[] reorder = new int[i + 4];
            for (int k = 0; k < i + 2; k++) {
                reorder[k] = k;
            }
            reorder[i + 2] = i;
            reorder[i + 3] = i + 1;
            handle = MethodHandles.permuteArguments(handle, handle.type().dropParameterTypes(i + 2, i + 4), reorder);
        }
        return handle;
    }

    /** {@return {@code (MemorySegment, long base, R)void}: writes every component, first to last} */
    private static MethodHandle writer(final Class<?> type, final MethodHandle[] accessors, final Handles[] parts) {
        MethodHandle handle = MethodHandles.empty(MethodType.methodType(void.class, MemorySegment.class, long.class,
            type));
        for (int i = parts.length - 1; i >= 0; i--) {
            // (MemorySegment, long, R)void: component i through its accessor into its member, then the rest.
            handle = MethodHandles.foldArguments(handle, MethodHandles.filterArguments(parts[i].writer(), 2,
                accessors[i]));
        }
        return handle;
    }

    /** {@return the handles of a component of class {@code type} in {@code member}, at base offset 0} */
    private static Handles part(final String path, final MemoryLayout member, final Class<?> type,
                                final java.lang.reflect.Type generic) {
        if (type == DataRef.class) {
            if (!(member instanceof StructLayout s) || !RefField.isRefLayout(s)) {
                throw mismatch(path, member, type);
            }
            final RefField field = new RefField(0);
            return new Handles(READ_REF.bindTo(field), WRITE_REF.bindTo(field));
        }
        if (type.isRecord()) {
            if (!(member instanceof StructLayout struct)) {
                throw mismatch(path, member, type);
            }
            final Handles node = node(path, struct, type);
            final MethodHandle requireNonNull = MethodHandles.insertArguments(REQUIRE_NON_NULL, 1, path)
                .asType(MethodType.methodType(type, type));
            return new Handles(node.reader(), MethodHandles.filterArguments(node.writer(), 2, requireNonNull));
        }
        if (type.isArray() && type.getComponentType().isPrimitive()) {
            if (!(member instanceof SequenceLayout sequence) || !(sequence.elementLayout() instanceof ValueLayout element)
                || element.carrier() != type.getComponentType()) {
                throw mismatch(path, member, type);
            }
            final long count = sequence.elementCount();
            return new Handles(
                MethodHandles.insertArguments(READ_ARRAY, 0, type.getComponentType(), element, count)
                    .asType(MethodType.methodType(type, MemorySegment.class, long.class)),
                MethodHandles.insertArguments(WRITE_ARRAY, 0, path, element, count)
                    .asType(MethodType.methodType(void.class, MemorySegment.class, long.class, type)));
        }
        if (type.isPrimitive()) {
            if (!(member instanceof ValueLayout value) || member instanceof java.lang.foreign.AddressLayout
                || value.carrier() != type) {
                throw mismatch(path, member, type);
            }
            // (MemorySegment, long)P and (MemorySegment, long, P)void: typed accesses, nothing boxed.
            final VarHandle handle = value.varHandle();
            return new Handles(handle.toMethodHandle(VarHandle.AccessMode.GET),
                handle.toMethodHandle(VarHandle.AccessMode.SET));
        }
        throw new IllegalArgumentException(path + ": a component of type " + generic.getTypeName()
            + " cannot be mapped (primitives, records, primitive arrays and DataRef can)");
    }

    private static long plus(final long base, final long offset) {
        return base + offset;
    }

    private static Object readArray(final Class<?> componentType, final ValueLayout element, final long count,
                                    final MemorySegment memory, final long at) {
        final Object array = Array.newInstance(componentType, Math.toIntExact(count));
        if (array instanceof boolean[] booleans) {
            // MemorySegment.copy takes no boolean arrays.
            final ValueLayout.OfBoolean layout = (ValueLayout.OfBoolean) element;
            for (int i = 0; i < booleans.length; i++) {
                booleans[i] = memory.get(layout, at + i);
            }
        } else {
            MemorySegment.copy(memory, element, at, array, 0, (int) count);
        }
        return array;
    }

    private static void writeArray(final String path, final ValueLayout element, final long count,
                                   final MemorySegment memory, final long at, final Object array) {
        final int length = Array.getLength(Objects.requireNonNull(array, path));
        if (length != count) {
            throw new IllegalArgumentException(path + " holds " + count + " elements, the record's array " + length);
        }
        if (array instanceof boolean[] booleans) {
            final ValueLayout.OfBoolean layout = (ValueLayout.OfBoolean) element;
            for (int i = 0; i < length; i++) {
                memory.set(layout, at + i, booleans[i]);
            }
        } else {
            MemorySegment.copy(array, 0, memory, element, at, length);
        }
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
