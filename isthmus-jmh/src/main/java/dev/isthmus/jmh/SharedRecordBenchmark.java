/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.jmh;

import dev.isthmus.arena.ArenaOptions;
import dev.isthmus.arena.ShmArena;
import dev.isthmus.data.LongField;
import dev.isthmus.data.SharedArray;
import dev.isthmus.data.SharedData;
import dev.isthmus.data.SharedStruct;
import dev.isthmus.data.StructType;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A field of a record in shared memory read in place through a {@link LongField} flyweight, beside the same
 * field of a heap object: one field, a whole record (four members), and a scan of {@value #COUNT} records (a
 * {@link SharedArray} against an array of heap objects). Both sides read the same values; neither allocates.
 *
 * <p>Two baselines say where the cost of one isolated read comes from: {@code ffmField} reads a segment of
 * plain native memory ({@code Arena.ofShared()}) with the JDK's own accessor, which is what any access through
 * a segment the JIT cannot see costs (liveness, bounds, the base address: three loads from the segment);
 * {@code sharedFieldConstantSegment} reads the same shared record through a segment held in a
 * {@code static final} field, which the JIT folds, so that only the read remains.
 *
 * <p>{@code ./isthmus jmh SharedRecordBenchmark -prof gc}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Benchmark)
public class SharedRecordBenchmark {
    static final int COUNT = 1024;
    static final StructType QUOTE = StructType.of("BenchQuote", MemoryLayout.structLayout(
        JAVA_LONG.withName("instrument"), JAVA_LONG.withName("bid"), JAVA_LONG.withName("ask"),
        JAVA_INT.withName("size"), MemoryLayout.paddingLayout(4)));
    static final LongField INSTRUMENT = QUOTE.longField("instrument");
    static final LongField BID = QUOTE.longField("bid");
    static final LongField ASK = QUOTE.longField("ask");
    static final dev.isthmus.data.IntField SIZE = QUOTE.intField("size");
    /** The record size as a constant: a loop whose stride the JIT knows is a counted loop, its checks hoisted. */
    static final long STRIDE = QUOTE.byteSize();

    /** A Java record with {@link #QUOTE}'s members, for {@link #mapperRead}. */
    public record Quote(long instrument, long bid, long ask, int size) {
    }

    static final dev.isthmus.data.RecordMapper<Quote> QUOTES = QUOTE.mapper(Quote.class);

    /** The heap twin of {@link #QUOTE}. */
    static final class HeapQuote {
        long instrument;
        long bid;
        long ask;
        int size;
    }

    private ShmArena arena;
    private SharedStruct one;
    private SharedArray many;
    private MemorySegment oneSegment;
    private MemorySegment manySegment;
    private HeapQuote heapOne;
    private HeapQuote[] heapMany;
    private java.lang.foreign.Arena plainArena;
    private MemorySegment plainSegment;

    /** The record's segment before {@link ConstantSegment} is first touched, which makes it a constant. */
    private static volatile MemorySegment constantSegmentToBe;

    /** Holds the record's segment in a {@code static final}: initialized by the first benchmark call, after setup. */
    private static final class ConstantSegment {
        static final MemorySegment SEGMENT = constantSegmentToBe;
    }

    @Setup(Level.Trial)
    public void setUp() {
        final long pid = ProcessHandle.current().pid();
        arena = ShmArena.createSealed("recordbench", "b" + pid, pid, ArenaOptions.defaults().withSealedPoolBytes(4L << 20));
        final SharedData data = SharedData.of(arena, null);
        one = data.allocate(QUOTE);
        many = data.allocateArray(QUOTE, COUNT);
        oneSegment = one.segment();
        manySegment = many.segment();
        heapOne = new HeapQuote();
        heapMany = new HeapQuote[COUNT];
        INSTRUMENT.set(oneSegment, 7);
        BID.set(oneSegment, 10_125);
        ASK.set(oneSegment, 10_130);
        SIZE.set(oneSegment, 500);
        heapOne.instrument = 7;
        heapOne.bid = 10_125;
        heapOne.ask = 10_130;
        heapOne.size = 500;
        constantSegmentToBe = oneSegment;
        plainArena = java.lang.foreign.Arena.ofShared();
        plainSegment = plainArena.allocate(QUOTE.layout());
        MemorySegment.copy(oneSegment, 0, plainSegment, 0, QUOTE.byteSize());
        for (int i = 0; i < COUNT; i++) {
            BID.set(manySegment, many.elementOffset(i), i * 7L);
            heapMany[i] = new HeapQuote();
            heapMany[i].bid = i * 7L;
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        one.close();
        many.close();
        arena.close();
        plainArena.close();
    }

    @Benchmark
    public long sharedField() {
        return BID.get(oneSegment);
    }

    @Benchmark
    public long heapField() {
        return heapOne.bid;
    }

    @Benchmark
    public long ffmField() {
        return plainSegment.get(JAVA_LONG, 8);
    }

    @Benchmark
    public long sharedFieldConstantSegment() {
        return BID.get(ConstantSegment.SEGMENT);
    }

    @Benchmark
    public long sharedRecord() {
        final MemorySegment quote = oneSegment;
        return INSTRUMENT.get(quote) + BID.get(quote) + ASK.get(quote) + SIZE.get(quote);
    }

    /** {@return a copy of the record on the heap}: allocates the record, nothing else. */
    @Benchmark
    public Quote mapperRead() {
        return QUOTES.read(oneSegment);
    }

    @Benchmark
    public long heapRecord() {
        final HeapQuote quote = heapOne;
        return quote.instrument + quote.bid + quote.ask + quote.size;
    }

    @Benchmark
    public long sharedScan() {
        final MemorySegment segment = manySegment;
        long sum = 0;
        for (int i = 0; i < COUNT; i++) {
            sum += BID.get(segment, i * STRIDE);
        }
        return sum;
    }

    @Benchmark
    public long heapScan() {
        final HeapQuote[] quotes = heapMany;
        long sum = 0;
        for (final HeapQuote quote : quotes) {
            sum += quote.bid;
        }
        return sum;
    }
}
