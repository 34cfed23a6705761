/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.jmh;

import dev.isthmus.shm.ResourceName;
import dev.isthmus.shm.SharedMemory;
import dev.isthmus.sync.Doorbell;
import dev.isthmus.sync.FutexWord;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * The cost of the futex primitives in one process, with nobody asleep: what a waker pays when it
 * rings a doorbell nobody sleeps on (a fence and a load) versus an unconditional {@code FUTEX_WAKE}
 * (a system call), and what a sleeper pays when the value changed before it slept.
 *
 * <p>{@code java -jar isthmus-jmh/target/benchmarks.jar FutexBenchmark}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@State(Scope.Thread)
public class FutexBenchmark {
    private SharedMemory memory;
    private FutexWord word;
    private Doorbell doorbell;

    /** Creates the segment holding the word and the doorbell. */
    @Setup
    public void setUp() {
        memory = SharedMemory.builder(ResourceName.of("jmh", "seg", "futex")).lengthBytes(4096).create();
        word = new FutexWord(memory.segment(), 0);
        doorbell = new Doorbell(memory.segment(), 128);
        word.putRelease(1);
    }

    /** Removes the segment. */
    @TearDown
    public void tearDown() {
        memory.unlink();
        memory.close();
    }

    /**
     * {@return woken count} A {@code FUTEX_WAKE} system call with no sleeper.
     */
    @Benchmark
    public int futexWakeNobody() {
        return word.wakeAll();
    }

    /**
     * {@return the wait result} A {@code FUTEX_WAIT} that returns at once because the value differs.
     */
    @Benchmark
    public int futexWaitValueChanged() {
        return word.await(0, 1_000_000L);
    }

    /**
     * {@return whether a sleeper was announced} Ringing a doorbell nobody sleeps on.
     */
    @Benchmark
    public boolean doorbellRingNobody() {
        return doorbell.ring();
    }
}
