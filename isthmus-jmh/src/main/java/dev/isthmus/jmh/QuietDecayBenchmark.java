/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.jmh;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * The baseline for {@link ZeroCopyRequestBenchmark#sealedRequestInPlacePartsAfterQuiet}: plain Java work of
 * about the same size, with no inter-process communication, after the same {@link Quiet} spell. A walk of
 * 512 small objects linked in a shuffled order (about 16 KiB, each load waiting on the one before) costs, warm,
 * what its loads cost from L1 and L2; whatever a quiet spell adds to it is the machine's, not the code's.
 *
 * <p>{@code ./isthmus jmh '(QuietDecayBenchmark|ZeroCopyRequestBenchmark.sealedRequestInPlacePartsAfterQuiet)'
 * -p server=inPlace}
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
@State(Scope.Thread)
public class QuietDecayBenchmark {
    private static final int NODES = 512;

    private Node head;
    /** Keeps the spacers alive, so that a collection does not pack the nodes together. */
    private List<byte[]> spacers;

    /** One link of the walk. */
    static final class Node {
        Node next;
        long value;
    }

    /** Links the nodes in a shuffled order, allocated between other objects so that they spread out. */
    @Setup
    public void setUp() {
        final List<Node> nodes = new ArrayList<>(NODES);
        final List<byte[]> spacers = new ArrayList<>(NODES);
        for (int i = 0; i < NODES; i++) {
            nodes.add(new Node());
            spacers.add(new byte[64]);
        }
        Collections.shuffle(nodes, new Random(12));
        for (int i = 0; i < NODES - 1; i++) {
            nodes.get(i).next = nodes.get(i + 1);
            nodes.get(i).value = i;
        }
        head = nodes.getFirst();
        this.spacers = spacers;
    }

    /**
     * Walks the nodes after the quiet spell.
     *
     * @param quiet the spell, spun before each call
     * @return the sum of the values
     */
    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    public long pointerChaseAfterQuiet(final Quiet quiet) {
        long sum = 0;
        for (Node node = head; node != null; node = node.next) {
            sum += node.value;
        }
        return sum;
    }
}
